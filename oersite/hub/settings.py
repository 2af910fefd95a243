"""The hubs' settings: derived once from the Course, written to JSON, read by the hubs.

Everything the hubs need that varies from course to course (repository,
branch, clone folder, interface and URLs from ``oersite.launch.launch_target``,
the data path from ``oersite.data``, limits from ``oersite.hub``) is gathered
here into one frozen value.  ``oersite hub config`` writes it as
``hub-settings.json`` beside the generated ``jupyterhub_config.py`` files, which
read it back with :func:`read_settings`; so nothing is typed twice.

This module runs inside the hub containers too: standard library only at import.
"""

from __future__ import annotations

import dataclasses
import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

if TYPE_CHECKING:
    from oersite.config import Course

SETTINGS_FILE = "hub-settings.json"
#: What each interface opens when a server starts without a deep link.
DEFAULT_URLS = {"lab": "/lab", "classic": "/tree"}
#: The environment variable notebooks read the data folder from (notebooks/course_data.py).
COURSE_DATA_VARIABLE = "COURSE_DATA"
#: Environment variable holding the shared secret between Apache and the persistent hub.
PROXY_SECRET_VARIABLE = "OERSITE_PROXY_SECRET"
#: JupyterLab's "get notified about official Jupyter news?" pop-up, turned off on both hubs.
NEWS_PLUGIN = "@jupyterlab/apputils-extension:announcements"


@dataclass(frozen=True)
class PersistentHub:
    """The persistent hub behind the single-sign-on proxy."""

    public_url: str
    memory_limit: str
    cpu_limit: float
    cull_idle_seconds: int
    user_header: str
    secret_header: str
    admin_users: tuple[str, ...]
    allowed_users: tuple[str, ...]
    blocked_users: tuple[str, ...]


@dataclass(frozen=True)
class EphemeralHub:
    """The ephemeral "Try now" hub."""

    public_url: str
    memory_limit: str
    cpu_limit: float
    cull_idle_seconds: int
    max_age_seconds: int
    concurrent_spawn_limit: int
    active_server_limit: int


@dataclass(frozen=True)
class HubBundleSettings:
    """What both hubs share, and each hub's own part."""

    course_title: str
    repository: str | None  # None when the hubs cannot reach it (a folder on the building machine)
    branch: str
    clone_folder: str
    interface: str
    data_path: str  # where the course data is mounted read-only on a hub
    default_url: str  # what a server opens without a deep link: the course, pulled, when reachable
    image: str
    persistent: PersistentHub
    ephemeral: EphemeralHub

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), indent=2, sort_keys=True) + "\n"


def hub_settings(course: Course, *, local: bool = False) -> HubBundleSettings:
    """The hubs' settings for ``course``: the launch buttons' values and ``oersite.hub``.

    ``local``: for hubs on this machine, which can pull from a ``file://``
    repository; containers cannot, so the bundle leaves such a repository out
    (the launch links still carry it) and keeps no path of this machine.
    """
    from oersite.errors import HubError
    from oersite.launch import git_pull_url, launch_target

    target = launch_target(course)
    if target is None:
        raise HubError(
            f"{course.relative(course.config_path)}: oersite.launch is off, so no buttons point at a hub; "
            "add an oersite.launch section (hub_url, try_url) to configure the hubs"
        )
    hub = course.settings.hub
    persistent, ephemeral = hub.persistent, hub.ephemeral
    repository: str | None = target.repository
    default_url = DEFAULT_URLS[target.interface]
    if repository.startswith("file://") and not local:
        repository = None
    if repository:
        # The course folder, pulled with nbgitpuller: the same link the buttons make, without the hub part.
        link = git_pull_url(
            "",
            repository=repository,
            branch=target.branch,
            clone_folder=target.clone_folder,
            notebook=target.path_in_repository or ".",
            interface=target.interface,
        )
        default_url = link.removeprefix("/hub/user-redirect")
    return HubBundleSettings(
        course_title=str(course.book.get("title") or course.root.name),
        repository=repository,
        branch=target.branch,
        clone_folder=target.clone_folder,
        interface=target.interface,
        data_path=course.settings.data.hub_path,
        default_url=default_url,
        image=hub.image,
        persistent=PersistentHub(
            public_url=target.hub_url.rstrip("/"),
            memory_limit=persistent.memory_limit,
            cpu_limit=float(persistent.cpu_limit),
            cull_idle_seconds=persistent.cull_idle_seconds,
            user_header=persistent.user_header,
            secret_header=persistent.secret_header,
            admin_users=tuple(persistent.admin_users),
            allowed_users=tuple(persistent.allowed_users),
            blocked_users=tuple(persistent.blocked_users),
        ),
        ephemeral=EphemeralHub(
            public_url=target.try_url.rstrip("/"),
            memory_limit=ephemeral.memory_limit,
            cpu_limit=float(ephemeral.cpu_limit),
            cull_idle_seconds=ephemeral.cull_idle_seconds,
            max_age_seconds=ephemeral.max_age_seconds,
            concurrent_spawn_limit=ephemeral.concurrent_spawn_limit,
            active_server_limit=ephemeral.active_server_limit,
        ),
    )


def read_settings(path: Path | str) -> HubBundleSettings:
    """The settings a ``jupyterhub_config.py`` finds beside it (``hub-settings.json``)."""
    raw: dict[str, Any] = json.loads(Path(path).read_text(encoding="utf-8"))
    raw["persistent"] = PersistentHub(**_tuples(raw["persistent"]))
    raw["ephemeral"] = EphemeralHub(**raw["ephemeral"])
    return HubBundleSettings(**raw)


def _tuples(section: dict[str, Any]) -> dict[str, Any]:
    return {key: tuple(value) if isinstance(value, list) else value for key, value in section.items()}


def url_port(url: str) -> int:
    parts = urlsplit(url)
    return parts.port or (443 if parts.scheme == "https" else 80)


def python_version() -> str:
    return f"{sys.version_info.major}.{sys.version_info.minor}"
