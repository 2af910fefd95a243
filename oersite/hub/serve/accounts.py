"""Who the local servers run as (never root), and the folders they may write to and read."""

from __future__ import annotations

import hashlib
import os
import pwd
import shutil
import stat
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from oersite.config import Course
from oersite.course_files import is_the_courses
from oersite.errors import HubError
from oersite.hub.installed import require_program


@dataclass(frozen=True)
class ServerAccount:
    """Who the local servers run as, and the folder their files are in.

    Started as root, ``oersite hub serve`` runs every server as an unprivileged
    system account (``oersite.hub.local_account``), with the homes, a read-only
    copy of the course data and the Jupyter config in a folder below
    ``/var/lib/oersite`` that root owns all the way down but for each home: the
    account can change nothing that root later writes to or hands over.  The
    hubs' own state (databases, cookie and proxy secrets, logs) stays in the
    state folder, which the account cannot read.  Started as anyone else, the servers run
    as that user, with everything in the state folder.
    """

    name: str  # "" when the servers run as the hub's own (unprivileged) user
    area: Path  # homes/<kind>/<user>, course-data, jupyter-config; root's when name is set
    data_dir: Path  # what COURSE_DATA points at on these servers

    def homes(self, kind: str) -> Path:
        return self.area / "homes" / kind


def prepare_server_account(course: Course, state: Path, announce=print) -> ServerAccount:
    """Who the servers run as (never root), with their folder ready: see ``ServerAccount``."""
    if os.geteuid() != 0:
        return ServerAccount("", state, course.data_dir)
    name = course.settings.hub.local_account
    _ensure_account(name, announce)
    _check_account_runs_servers(name)
    area = server_area(state)
    for folder in (SERVER_AREAS, area, area / "homes"):
        folder.mkdir(mode=0o755, exist_ok=True)
        _require_roots_own(folder)
    data = area / "course-data"
    _read_only_copy(course.data_dir, data)
    return ServerAccount(name, area, data)


#: Where the servers' folders are when hub serve runs as root (one per state folder).
SERVER_AREAS = Path("/var/lib/oersite")


def server_area(state: Path) -> Path:
    """The servers' folder for the hubs of ``state``, when they run as another account."""
    key = hashlib.sha256(str(state.resolve()).encode()).hexdigest()[:12]
    return SERVER_AREAS / f"hubs-{key}"


def _require_roots_own(folder: Path) -> None:
    """``folder`` is a real folder of root's that no one else may change: else root must not write below it."""
    status = os.lstat(folder)
    if not stat.S_ISDIR(status.st_mode) or status.st_uid != 0 or status.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
        raise HubError(
            f"{folder}: expected a folder owned by root that only root may change; remove it and start again"
        )


def _ensure_account(name: str, announce) -> None:
    try:
        pwd.getpwnam(name)
        return
    except KeyError:
        pass
    useradd = require_program("useradd", "apt-get install passwd")
    created = subprocess.run(
        [useradd, "--system", "--create-home", "--home-dir", f"/var/lib/{name}", "--shell", "/usr/sbin/nologin", name],
        capture_output=True,
        text=True,
    )
    if created.returncode != 0:
        raise HubError(f"cannot create the servers' account {name}: {created.stderr.strip()}")
    announce(f"Created the system account {name}, which runs the servers (oersite.hub.local_account)")


def _check_account_runs_servers(name: str) -> None:
    """The account must be able to run this Python and import the server: say why not, and what to do."""
    runuser = require_program("runuser", "apt-get install util-linux")
    probe = subprocess.run(
        [runuser, "-u", name, "--", sys.executable, "-c", "import oersite.hub.singleuser, jupyterhub.singleuser"],
        capture_output=True,
        text=True,
        cwd="/",
        env={"PATH": os.environ.get("PATH", ""), "HOME": "/"},
    )
    if probe.returncode == 0:
        return
    private = next((str(p) for p in Path(sys.executable).parents if p != p.parent and not _others_may_enter(p)), None)
    why = f" ({private} is private to its owner)" if private else ""
    raise HubError(
        f"the servers run as the unprivileged account {name}, which cannot run {sys.executable}{why}; install "
        "oersite in a Python every account can use (python3 -m venv /opt/oersite; /opt/oersite/bin/pip install "
        "-e '.[hub]'), or start oersite hub serve as a normal user"
    )


def _others_may_enter(folder: Path) -> bool:
    return bool(folder.stat().st_mode & stat.S_IXOTH)


def _read_only_copy(source: Path, target: Path) -> None:
    """The course data as the servers see it: a fresh copy they can read and not change (the hubs mount it so)."""
    if target.exists():
        shutil.rmtree(target)
    if source.is_dir():
        shutil.copytree(source, target, ignore=lambda _, names: [name for name in names if not is_the_courses(name)])
    else:
        target.mkdir()
    for folder, _, files in os.walk(target):
        os.chmod(folder, 0o755)
        for name in files:
            os.chmod(os.path.join(folder, name), 0o644)
