"""A real CAS server for the tests: django-cas-server on 127.0.0.1, in a virtual environment of its own.

What a university's CAS does for the hub: its login page, service tickets for
the services it allows (the hub's URLs), CAS 2.0 ``serviceValidate``, and
``/logout`` ending its session and returning to the service.  One test user
(django-cas-server's ``TestAuthUser``).  ``tests/install-deps.sh`` makes the
environment (``tests/cas/.venv``, from ``tests/cas/requirements.txt``).
"""

from __future__ import annotations

import os
import re
import secrets
import tempfile
from dataclasses import dataclass
from pathlib import Path

from support.providers import ProviderProcess, free_port, launch, wait_until_answering

HERE = Path(__file__).resolve().parent.parent / "cas"
PYTHON = HERE / ".venv" / "bin" / "python"


@dataclass
class CasServer(ProviderProcess):
    url: str = ""  # .../cas


def start_cas_server(hub_url: str, user: str, password: str) -> CasServer:
    """The CAS server on a free port, allowing services below ``hub_url``; ``user`` signs in with ``password``."""
    if not PYTHON.exists():
        raise RuntimeError(f"{PYTHON} is missing: run tests/install-deps.sh (it makes the CAS server's environment)")
    port = free_port()
    folder = Path(tempfile.mkdtemp(prefix="oersite-cas-"))
    environment = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "settings",
        "PYTHONPATH": str(HERE),
        "CAS_TEST_SECRET": secrets.token_hex(24),
        "CAS_TEST_DATABASE": str(folder / "cas.sqlite3"),
        "CAS_TEST_USER": user,
        "CAS_TEST_PASSWORD": password,
    }
    command = [str(PYTHON), str(HERE / "serve.py"), str(port), f"^{re.escape(hub_url)}/"]
    process = launch(command, folder, cwd=HERE, env=environment)
    server = CasServer(process, folder, url=f"http://127.0.0.1:{port}/cas")
    return wait_until_answering(server, f"{server.url}/login", "the CAS server")
