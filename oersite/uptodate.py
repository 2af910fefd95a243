"""Knowing when a build has nothing to do.

A rebuild with nothing changed should cost almost nothing, yet starting Sphinx
alone takes over a second (its extensions import half of Jupyter).  So the
build records a fingerprint of everything that can change the site: every
file of the course (path, size, modification time: a stat, no reading), the
installed packages, oersite's version and the build options.  When the next
build finds the same fingerprint and the site still in place, it reports the
previous build's results and stops.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from oersite import __version__
from oersite.course_files import course_files
from oersite.execute import environment_fingerprint
from oersite.files import write_atomically


def source_fingerprint(root: Path, output_dir: Path, options: dict[str, Any]) -> str:
    """A digest of the course's files, the environment and the options."""
    import hashlib

    hasher = hashlib.sha256()
    hasher.update(json.dumps([__version__, environment_fingerprint(), str(output_dir), options]).encode())
    for path in course_files(root, skip=frozenset({output_dir.resolve()})):
        try:
            status = os.stat(path)
        except OSError:
            continue
        hasher.update(f"{os.path.relpath(path, root)}\0{status.st_size}\0{status.st_mtime_ns}\n".encode())
    return hasher.hexdigest()


def previous_build(record: Path, fingerprint: str, output_dir: Path) -> dict[str, Any] | None:
    """The last build's report when it was made from the same fingerprint and its site is still there."""
    try:
        saved = json.loads(record.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if saved.get("fingerprint") != fingerprint or not (output_dir / "index.html").is_file():
        return None
    return saved["report"]


def remember_build(record: Path, fingerprint: str, report: dict[str, Any]) -> None:
    write_atomically(record, json.dumps({"fingerprint": fingerprint, "report": report}))
