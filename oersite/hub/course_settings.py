"""The hubs' settings of a course: ``_config.yml``'s hub sections and what both hubs share, in one value.

``oersite.hub.settings`` describes the value and reads it back inside a hub
(standard library only); making it needs the Course and the launch links
(``oersite.launch``), so it happens here, where the course is built, and never
in a module the hub images carry.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from oersite.config import Course
from oersite.errors import HubError
from oersite.hub.settings import DEFAULT_URLS, PREVIEW_ORIGINS, HubBundleSettings
from oersite.launch import SERVER_GIT_PULL, git_pull_query


def hub_settings(course: Course, *, local: bool = False) -> HubBundleSettings:
    """The hubs' settings for ``course``: the launch buttons' values and ``oersite.hub``.

    ``local``: for hubs on this machine, which can pull from a ``file://``
    repository; containers cannot, so the bundle leaves such a repository out
    (the launch links still carry it) and keeps no path of this machine.
    """
    target = course.launch
    if target is None:
        raise HubError(
            f"{course.relative(course.config_path)}: oersite.launch is off, so no buttons point at a hub; "
            "add an oersite.launch section (hub_url, try_url) to configure the hubs"
        )
    hub = course.settings.hub
    repository: str | None = target.repository
    interfaces = {"persistent": target.interface, "ephemeral": target.try_interface}
    if repository.startswith("file://") and not local:
        repository = None
    # What a server opens without a deep link (someone at the hub's own address): the course
    # folder, pulled with nbgitpuller when the hub can reach the repository, in each hub's interface.
    default_urls = {hub_kind: DEFAULT_URLS[interface] for hub_kind, interface in interfaces.items()}
    pull_query = ""
    if repository:
        queries = {
            hub_kind: git_pull_query(
                repository=repository,
                branch=target.branch,
                clone_folder=target.clone_folder,
                notebook=target.path_in_repository or ".",
                interface=interface,
            )
            for hub_kind, interface in interfaces.items()
        }
        default_urls = {hub_kind: f"{SERVER_GIT_PULL}?{query}" for hub_kind, query in queries.items()}
        pull_query = queries["ephemeral"]
    return HubBundleSettings(
        course_title=course.title,
        repository=repository,
        branch=target.branch,
        clone_folder=target.clone_folder,
        persistent_interface=interfaces["persistent"],
        ephemeral_interface=interfaces["ephemeral"],
        data_path=course.settings.data.hub_path,
        persistent_default_url=default_urls["persistent"],
        ephemeral_default_url=default_urls["ephemeral"],
        pull_query=pull_query,
        image=hub.in_registry(hub.image),
        persistent_url=target.hub_url,
        ephemeral_url=target.try_url,
        run_code_origins=run_code_origins(course),
        persistent=hub.persistent,
        ephemeral=hub.ephemeral,
        sso=hub.sso,
    )


def run_code_origins(course: Course) -> tuple[str, ...]:
    """The pages whose Run code button may ask the Try-now hub: the published site's and the preview's.

    Empty when the course turned Run code off (``oersite.launch.run_code: false``).
    """
    if course.launch is None or not course.settings.launch.run_code:
        return ()
    origins = []
    if course.base_url:
        # As a browser sends it: the host in lower case, no default port, no user name.
        parts = urlsplit(course.base_url)
        host = parts.hostname or ""
        host = f"[{host}]" if ":" in host else host
        port = "" if parts.port in (None, {"http": 80, "https": 443}.get(parts.scheme)) else f":{parts.port}"
        origins.append(f"{parts.scheme}://{host}{port}")
    return tuple(dict.fromkeys([*origins, *PREVIEW_ORIGINS]))
