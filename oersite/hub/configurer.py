"""Small setters that put the hubs' settings into a traitlets ``Config``.

TLJH style (``tljh/configurer.py``): each ``update_x(c, ...)`` sets one
concern and nothing else, so a test applies it to a plain ``Config()`` and
checks the attributes.  What each hub is (``persistent_hub``,
``ephemeral_hub``) is described once, as a ``Hub`` value; ``configure_*`` at
the end, what the thin ``jupyterhub_config.py`` files call, apply it where it
runs (Docker in production, local processes for ``oersite hub serve``), and
``oersite.hub.bundle.helm`` writes the same value as the chart's values.

Runs inside the hub: imports only the standard library, traitlets and oersite's
settings module.
"""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from oersite.hub import layout, pool
from oersite.hub.settings import (
    COURSE_DATA_VARIABLE,
    RUN_CODE_ORIGINS_VARIABLE,
    EphemeralHubSettings,
    HubBundleSettings,
    PersistentHubSettings,
    SignOnSettings,
    sign_on_logout,
)

TEMPLATES = Path(__file__).resolve().parent / "templates"
#: Environment variable the hub container gets with the data folder's path on the Docker host.
DATA_HOST_VARIABLE = "OERSITE_COURSE_DATA_DIR"
#: What the data folder's path on the Docker host is when the operator sets none (hub/.env).
DEFAULT_DATA_HOST_DIR = "/srv/oersite/course-data"
#: Prefix of the server containers' names, per hub: ``docker ps`` tells students from visitors.
CONTAINER_PREFIXES = {"persistent": "oersite-student", "ephemeral": "oersite-visitor"}
#: Each student's home on the persistent hub: a named Docker volume, kept when their container goes.
HOME_VOLUME = "oersite-home-{username}"
#: What a server's container may do beyond its memory and CPU: no capabilities, no privilege gain
#: (setuid programs), at most this many processes and open files.
SERVER_CONTAINER_LIMITS = {
    "cap_drop": ["ALL"],
    "security_opt": ["no-new-privileges"],
    "pids_limit": 512,
    "ulimits": [{"name": "nofile", "soft": 4096, "hard": 4096}],
}


def singleuser_environment(data_path: str) -> dict[str, str]:
    """The environment of every student's server, on every spawner.

    COURSE_DATA: where notebooks find the course's datasets.  BOKEH_RESOURCES
    inline: ``output_notebook()`` embeds the BokehJS of the bokeh installed on
    the server (pinned to the version the site ships) instead of loading it
    from cdn.bokeh.org, so plots draw on networks without CDN access.  The
    price is BokehJS (about 4 MB) in the output of the cell that calls
    ``output_notebook()`` when a student saves the notebook.
    """
    return {COURSE_DATA_VARIABLE: data_path, "BOKEH_RESOURCES": "inline"}


def update_interface(c, settings: HubBundleSettings, hub_kind: str, *, data_dir: str | None = None) -> None:
    """What a server of the ``hub_kind`` hub opens first, and its environment (see ``singleuser_environment``)."""
    c.Spawner.default_url = settings.default_url_of(hub_kind)
    c.Spawner.environment = singleuser_environment(data_dir or settings.data_path)


def update_limits(c, *, memory: str, cpu: float) -> None:
    """Memory and CPU per server (enforced by DockerSpawner and KubeSpawner, not by local processes)."""
    c.Spawner.mem_limit = memory
    c.Spawner.cpu_limit = float(cpu)


def update_spawn_limits(c, hub: EphemeralHubSettings) -> None:
    """How many servers start and run at once; beyond that JupyterHub answers 429 (see 429.html)."""
    c.JupyterHub.concurrent_spawn_limit = hub.concurrent_spawn_limit
    c.JupyterHub.active_server_limit = hub.active_server_limit


def update_friendly_full_page(c, templates: str = str(TEMPLATES)) -> None:
    """Our templates first: 429.html explains that the hub is full instead of a bare error.

    ``templates``: where 429.html is on the hub (elsewhere than here on Kubernetes).
    """
    c.JupyterHub.template_paths = [templates]


def update_logout_ends_server(c) -> None:
    """A visitor who logs out of the ephemeral hub gets their server (and container) removed at once."""
    c.JupyterHub.shutdown_on_logout = True


def update_proxy_header_auth(c, hub: PersistentHubSettings) -> None:
    """The persistent hub trusts the single-sign-on proxy's user header, and only from the proxy."""
    c.JupyterHub.authenticator_class = "oersite.hub.authenticator.ProxyHeaderAuthenticator"
    c.ProxyHeaderAuthenticator.user_header = hub.user_header
    c.ProxyHeaderAuthenticator.secret_header = hub.secret_header
    c.Authenticator.admin_users = set(hub.admin_users)
    c.Authenticator.blocked_users = set(hub.blocked_users)
    if hub.allowed_users:
        c.Authenticator.allowed_users = set(hub.allowed_users)
        c.Authenticator.allow_all = False
    else:
        # JupyterHub 5+ refuses everyone unless told: the proxy decides who gets here.
        c.Authenticator.allow_all = True


def update_sign_on(c, sso: SignOnSettings, persistent_url: str) -> None:
    """The sign-on's user names (allowed domains) and its logout, which ends the sign-on session too."""
    c.ProxyHeaderAuthenticator.allowed_domains = list(sso.allowed_domains)
    if sso.attribute:  # named in the page that refuses a sign-in without it (basic and cas name the user)
        c.ProxyHeaderAuthenticator.user_attribute = sso.attribute_described
    logout_url, cookies = sign_on_logout(sso, persistent_url)
    c.ProxyHeaderAuthenticator.sign_on_logout_url = logout_url
    c.ProxyHeaderAuthenticator.sign_on_cookies = list(cookies)


def update_temporary_auth(c) -> None:
    """The ephemeral hub: every visitor becomes a new temporary user (tmpauthenticator)."""
    c.JupyterHub.authenticator_class = "tmp"
    c.Authenticator.allow_all = True  # required on JupyterHub 5+, else every login fails


def update_culler(c, *, timeout: int, cull_users: bool, max_age: int = 0, every: int = 0) -> None:
    """jupyterhub-idle-culler as a hub-managed service with only the scopes it needs.

    ``cull_users`` deletes the users too (the ephemeral hub); without it idle
    servers stop and students keep their accounts and files.
    """
    command = [sys.executable, "-m", "jupyterhub_idle_culler", f"--timeout={timeout}"]
    if every:
        command.append(f"--cull-every={every}")
    if max_age:
        command.append(f"--max-age={max_age}")
    scopes = ["list:users", "read:users:activity", "read:servers", "delete:servers"]
    if cull_users:
        command.append("--cull-users=True")  # the bare flag is refused by idle-culler 2
        scopes.append("admin:users")
    c.JupyterHub.services = [{"name": "idle-culler", "command": command}]
    c.JupyterHub.load_roles = [{"name": "idle-culler", "scopes": scopes, "services": ["idle-culler"]}]


def warm_pool_service(hub: EphemeralHubSettings, *, pull_query: str, proxy_url: str, status_url: str = ""):
    """The warm pool's hub-managed service and its role (see ``oersite.hub.pool``), as JupyterHub takes them.

    ``pull_query``: the nbgitpuller query each waiting server is pulled with;
    ``proxy_url``: where the service reaches the servers (the hub's proxy);
    ``status_url``: where it serves its numbers (proxied at
    /services/oersite-pool/status), empty for none.  Waiting servers are
    replaced after a quarter of ``max_age_seconds``, so the culler's maximum
    age still leaves a visitor most of it.
    """
    service = {
        "name": pool.SERVICE_NAME,
        "command": [sys.executable, "-m", "oersite.hub.pool"],
        "environment": {
            pool.SIZE_VARIABLE: str(hub.pool),
            pool.PULL_VARIABLE: pull_query,
            pool.PROXY_VARIABLE: proxy_url,
            pool.MAX_WAIT_VARIABLE: str(max(60, hub.max_age_seconds // 4)),
        },
    }
    if status_url:
        service["url"] = status_url
    moved = (pool.READY_GROUP, pool.STARTING_GROUP)  # the authenticator alone moves users to handed-out
    scopes = [
        "admin:users",  # create and delete the pool's users, see their groups, mark the waiting ones active
        "servers",  # start and stop their servers
        *(f"read:groups!group={name}" for name in moved),
        *(f"groups!group={name}" for name in moved),  # move users between the two
        f"tokens!group={pool.STARTING_GROUP}",  # a token to pull the course into each starting one
    ]
    return service, {"name": pool.SERVICE_NAME, "scopes": scopes, "services": [pool.SERVICE_NAME]}


def update_warm_pool(c, hub: EphemeralHubSettings, *, pull_query: str, proxy_url: str, status_url: str = "") -> None:
    """Servers started ahead for the next visitors (``oersite.hub.ephemeral.pool``; 0: none, as without)."""
    if not hub.pool:
        return
    c.JupyterHub.authenticator_class = "oersite.hub.authenticator.PooledTemporaryAuthenticator"
    c.JupyterHub.load_groups = {name: {} for name in pool.GROUPS}
    service, role = warm_pool_service(hub, pull_query=pull_query, proxy_url=proxy_url, status_url=status_url)
    c.JupyterHub.services = [*c.JupyterHub.get("services", []), service]
    c.JupyterHub.load_roles = [*c.JupyterHub.get("load_roles", []), role]


def update_run_code(c, settings: HubBundleSettings) -> None:
    """The site's Run code button: ``/hub/run-code`` hands its readers servers (``authenticator.RunCodeHandler``).

    Only the course's own pages may ask (``run_code_origins``), each client
    address ``run_code_per_minute`` times a minute; a token lasts as long as its
    server may (``max_age_seconds``).  Nothing when Run code is off.
    """
    if not settings.run_code_origins:
        return
    c.JupyterHub.authenticator_class = "oersite.hub.authenticator.PooledTemporaryAuthenticator"
    c.PooledTemporaryAuthenticator.run_code_origins = list(settings.run_code_origins)
    c.PooledTemporaryAuthenticator.run_code_per_minute = settings.ephemeral.run_code_per_minute
    c.PooledTemporaryAuthenticator.run_code_trusted_proxies = list(settings.ephemeral.run_code_trusted_proxies)
    c.PooledTemporaryAuthenticator.run_code_token_seconds = settings.ephemeral.max_age_seconds


def run_code_server_environment(settings: HubBundleSettings) -> dict[str, str]:
    """What a Try-now server needs for Run code: the origins its readers' pages come from (notebook_server)."""
    if not settings.run_code_origins:
        return {}
    return {RUN_CODE_ORIGINS_VARIABLE: " ".join(settings.run_code_origins)}


def update_docker_spawner(c, settings: HubBundleSettings, ports: layout.HubPorts, *, persistent_homes: bool) -> None:
    """Servers as containers of the course image on the host network, the course data mounted read-only.

    With ``persistent_homes`` each student gets a named volume
    ``oersite-home-{username}`` as home: containers are removed on stop
    (``remove``), volumes stay, so files survive server and hub restarts and
    image upgrades.  Without it a visitor's files go with their container.
    Containers get only what JupyterHub gives every server (its own API token
    and URLs) and the course environment: DockerSpawner passes none of the
    hub's environment (no proxy secret), and no Docker socket is mounted.  They
    run with no capabilities, cannot gain privileges, and have a cap on
    processes and open files, so one visitor cannot take the machine's (or the
    hubs' ports') from everyone else.
    """
    c.JupyterHub.spawner_class = "oersite.hub.spawner.LoopbackDockerSpawner"
    c.LoopbackDockerSpawner.port_range = ports.servers
    c.DockerSpawner.image = settings.image
    c.DockerSpawner.prefix = CONTAINER_PREFIXES[ports.kind]
    c.DockerSpawner.remove = True
    c.DockerSpawner.notebook_dir = layout.IMAGE_HOME
    volumes: dict = {}
    if persistent_homes:
        volumes[HOME_VOLUME] = layout.IMAGE_HOME
    data_on_host = os.environ.get(DATA_HOST_VARIABLE) or DEFAULT_DATA_HOST_DIR
    volumes[data_on_host] = {"bind": settings.data_path, "mode": "ro"}
    c.DockerSpawner.volumes = volumes
    # No image is ever pulled: the bundle builds them on this machine (docker-compose build).
    c.DockerSpawner.pull_policy = "never"
    c.DockerSpawner.extra_host_config = SERVER_CONTAINER_LIMITS


def update_servers_outlive_the_hub(c) -> None:
    """A hub restart (an upgrade, ``docker-compose restart``) leaves students' servers running.

    JupyterHub stops every server when it shuts down unless told otherwise;
    restarted, it finds them again in its database (as Zero to JupyterHub does).
    """
    c.JupyterHub.cleanup_servers = False


def update_docker_network(c, ports: layout.HubPorts) -> None:
    """The hub and its separate configurable-http-proxy on 127.0.0.1 (host networking, see layout).

    The proxy runs as its own service, so routes to running servers survive a
    hub restart; CONFIGPROXY_AUTH_TOKEN comes from the environment.
    """
    c.JupyterHub.bind_url = ports.proxy_url
    c.JupyterHub.hub_bind_url = ports.hub_url
    c.ConfigurableHTTPProxy.should_start = False
    c.ConfigurableHTTPProxy.api_url = ports.proxy_api_url


def update_hub_state(c, folder: str) -> None:
    """The hub's database and cookie secret in one folder (a volume in production)."""
    c.JupyterHub.db_url = f"sqlite:///{folder}/jupyterhub.sqlite"
    c.JupyterHub.cookie_secret_file = f"{folder}/jupyterhub_cookie_secret"


def update_local_spawner(c, *, homes: Path, account: str, delete_homes_on_stop: bool) -> None:
    """Servers as local processes of ``account``, never root (``oersite.hub.local_spawner``): for hub serve and tests.

    They are not isolated from each other and no limit is enforced; production
    uses DockerSpawner.  ``account`` empty: the hub's own user (not root).
    Homes are folders under ``homes``; the ephemeral hub deletes a visitor's
    folder when their server stops (deleting a user does not, on this spawner).
    """
    c.JupyterHub.spawner_class = "oersite.hub.local_spawner.AccountProcessSpawner"
    c.AccountProcessSpawner.account = account
    c.SimpleLocalProcessSpawner.home_dir_template = str(homes / "{username}")
    # jupyterhub-singleuser minus an avoidable 1.3 s import (see oersite.hub.singleuser)
    c.Spawner.cmd = [sys.executable, "-m", "oersite.hub.singleuser"]
    # Servers here start as local processes on the hub's own cores: when a class
    # clicks at once they queue for CPU, and JupyterHub's default 30 s wait for a
    # server to answer gave up on 19 of 20 (benchmarks/journey.py).  Wait longer.
    c.Spawner.http_timeout = 120
    c.Spawner.start_timeout = 120
    if delete_homes_on_stop:
        c.Spawner.post_stop_hook = _home_remover(homes)


def _home_remover(homes: Path):
    def remove_home(spawner) -> None:
        home = Path(spawner.home_dir).resolve()
        if home.parent == homes.resolve():  # never anything outside the homes folder
            shutil.rmtree(home, ignore_errors=True)

    return remove_home


def update_local_network(c, *, public_port: int, hub_port: int, proxy_api_port: int, proxy_command: str) -> None:
    """Everything on 127.0.0.1; the hub starts its own configurable-http-proxy."""
    c.JupyterHub.bind_url = f"http://127.0.0.1:{public_port}"
    c.JupyterHub.hub_bind_url = f"http://127.0.0.1:{hub_port}"
    c.ConfigurableHTTPProxy.api_url = f"http://127.0.0.1:{proxy_api_port}"
    c.ConfigurableHTTPProxy.command = [proxy_command]
    c.Spawner.ip = "127.0.0.1"


# What each hub is, wherever it runs: described once, as a value.


@dataclass(frozen=True)
class Culling:
    """When an idle server stops: jupyterhub-idle-culler's options, or the chart's ``cull`` values."""

    timeout: int  # seconds idle
    users: bool  # the user goes too (a visitor's account, with nothing to keep)
    max_age: int = 0  # seconds after which a server stops however busy; 0: never

    @property
    def every(self) -> int:
        """The culler's default is timeout/2 (minimum 1): named here for short test timeouts."""
        return max(1, self.timeout // 2)


@dataclass(frozen=True)
class Place:
    """Where a hub runs, as far as what it *is* needs to know: where its files and servers are."""

    templates: str  # where 429.html is on the hub
    proxy_url: str  # where the hub's services reach its servers (its proxy)
    pool_status_url: str  # where the warm pool serves its numbers; empty for nowhere


@dataclass(frozen=True)
class Hub:
    """One hub as students meet it: who gets in, what a server may use, when it stops, what is kept.

    ``configure`` sets what JupyterHub itself does (authentication, sign-on,
    spawn limits, the full page, the warm pool); limits and culling are values,
    because the chart takes them as values of its own (``singleuser``, ``cull``)
    where Docker and local hubs get them through ``update_limits`` and
    ``update_culler``.  Each place applies the same description: ``update_hub``
    for Docker and local processes, ``oersite.hub.bundle.helm`` for the chart.
    """

    kind: str  # "persistent" or "ephemeral"
    memory: str
    cpu: float
    culling: Culling
    keeps_homes: bool  # each student's files outlive their server (a volume); else they go with it
    configure: Callable[[object, Place], None]
    server_environment: dict[str, str] = field(default_factory=dict)  # more for every server (Run code's origins)


def persistent_hub(settings: HubBundleSettings) -> Hub:
    """Students signed in by the single-sign-on proxy; idle servers stop, accounts and files stay."""
    hub = settings.persistent

    def configure(c, place: Place) -> None:
        update_proxy_header_auth(c, hub)
        update_sign_on(c, settings.sso, settings.persistent_url)

    culling = Culling(timeout=hub.cull_idle_seconds, users=False)
    return Hub("persistent", hub.memory_limit, hub.cpu_limit, culling, keeps_homes=True, configure=configure)


def ephemeral_hub(settings: HubBundleSettings) -> Hub:
    """Anyone, as a new temporary user; limited servers at once; idle or old servers go with their user."""
    hub = settings.ephemeral

    def configure(c, place: Place) -> None:
        update_temporary_auth(c)
        update_logout_ends_server(c)
        update_spawn_limits(c, hub)
        update_friendly_full_page(c, place.templates)
        update_warm_pool(
            c, hub, pull_query=settings.pull_query, proxy_url=place.proxy_url, status_url=place.pool_status_url
        )
        update_run_code(c, settings)

    culling = Culling(timeout=hub.cull_idle_seconds, users=True, max_age=hub.max_age_seconds)
    return Hub(
        "ephemeral",
        hub.memory_limit,
        hub.cpu_limit,
        culling,
        keeps_homes=False,
        configure=configure,
        server_environment=run_code_server_environment(settings),
    )


HUBS = {"persistent": persistent_hub, "ephemeral": ephemeral_hub}


def update_hub(c, hub: Hub, place: Place) -> None:
    """A hub where JupyterHub itself enforces limits and runs the culler (Docker, local processes)."""
    update_limits(c, memory=hub.memory, cpu=hub.cpu)
    if hub.server_environment:  # after update_interface, which sets the environment every server has
        c.Spawner.environment = {**c.Spawner.environment, **hub.server_environment}
    culling = hub.culling
    update_culler(c, timeout=culling.timeout, max_age=culling.max_age, every=culling.every, cull_users=culling.users)
    hub.configure(c, place)  # after the culler: the warm pool's service joins its list


# Where each hub runs.


def configure_persistent_docker(c, settings: HubBundleSettings) -> None:
    _configure_docker(c, settings, persistent_hub(settings), layout.PERSISTENT)


def configure_ephemeral_docker(c, settings: HubBundleSettings) -> None:
    _configure_docker(c, settings, ephemeral_hub(settings), layout.EPHEMERAL)


def _configure_docker(c, settings: HubBundleSettings, hub: Hub, ports: layout.HubPorts) -> None:
    update_interface(c, settings, hub.kind)
    place = Place(str(TEMPLATES), ports.proxy_url, f"http://{layout.LOOPBACK}:{ports.pool}" if ports.pool else "")
    update_hub(c, hub, place)
    update_docker_spawner(c, settings, ports, persistent_homes=hub.keeps_homes)
    update_servers_outlive_the_hub(c)
    update_docker_network(c, ports)
    update_hub_state(c, layout.HUB_DATA)


def configure_local(
    c,
    settings: HubBundleSettings,
    *,
    kind: str,
    state: Path,
    homes: Path,
    account: str,
    data_dir: Path,
    public_port: int,
    hub_port: int,
    proxy_api_port: int,
    proxy_command: str,
    pool_port: int = 0,
    environment: dict[str, str] | None = None,
) -> None:
    """One hub of ``oersite hub serve``: ``kind`` is "persistent" or "ephemeral".

    ``environment``: more for every server (how it reaches the course repository).
    """
    update_interface(c, settings, kind, data_dir=str(data_dir))
    c.Spawner.environment.update(environment or {})
    update_local_network(
        c, public_port=public_port, hub_port=hub_port, proxy_api_port=proxy_api_port, proxy_command=proxy_command
    )
    update_hub_state(c, str(state))
    c.ConfigurableHTTPProxy.pid_file = str(state / "proxy.pid")
    hub = HUBS[kind](settings)
    pool_status_url = f"http://127.0.0.1:{pool_port}" if pool_port else ""
    place = Place(str(TEMPLATES), f"http://127.0.0.1:{public_port}", pool_status_url)
    update_hub(c, hub, place)
    update_local_spawner(c, homes=homes, account=account, delete_homes_on_stop=not hub.keeps_homes)
