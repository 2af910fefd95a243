"""Python modules installed for a test's processes alone: a user site of their own (``PYTHONUSERBASE``)."""

from __future__ import annotations

import os
import sysconfig
from pathlib import Path


def installed_module(folder: Path, name: str, source: str) -> dict[str, str]:
    """An environment in which ``name`` is installed with ``source``, in a user site below ``folder``.

    Installed, not beside a notebook: oersite's preview imports only installed modules ahead.
    Called again with the same ``folder``, it installs one more module into the same site.
    """
    user_base = folder / "user"
    site_packages = Path(sysconfig.get_path("purelib", f"{os.name}_user", vars={"userbase": str(user_base)}))
    site_packages.mkdir(parents=True, exist_ok=True)
    (site_packages / f"{name}.py").write_text(source)
    return {**os.environ, "PYTHONUSERBASE": str(user_base)}
