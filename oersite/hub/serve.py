"""``oersite hub serve``: both hubs on this machine, on 127.0.0.1 only.

The persistent hub runs behind a real Apache httpd (Debian's ``apache2`` in the
foreground with its own generated config, Basic auth standing in for single
sign-on); the ephemeral hub's proxy answers directly.  Both run servers as
local processes (``oersite.hub.local_spawner``: never as root, not isolated from
each other: test and preview only), with configurable-http-proxy, nbgitpuller
and the idle culler, as in production.  The hubs' databases, logs and secrets
live in the state folder, ``_build/hub`` by default, which only the hubs can
read; the servers' homes live where their account can write (``ServerAccount``).

Each process gets its own process group and default signal handlers (a hub
that inherits an ignored SIGINT makes its culler hang for 30-45 s on stop), so
:meth:`RunningHubs.stop` ends everything this module started, quickly.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import pwd
import secrets
import shutil
import signal
import socket
import stat
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field, replace
from pathlib import Path
from urllib.parse import urlsplit
from urllib.request import url2pathname

from oersite.config import Course
from oersite.errors import HubError
from oersite.git import git_message
from oersite.hub import notebook_server, sign_on
from oersite.hub.apache import OIDC_PASSPHRASE_VARIABLE, OIDC_SECRET_VARIABLE, ProxiedSite, httpd_conf, sign_on_conf
from oersite.hub.bundle import SAML_FOLDER
from oersite.hub.installed import PROXY_VERSION, require_hub_extra, require_program
from oersite.hub.layout import APACHE_SERVER_ROOT
from oersite.hub.settings import (
    MELLON_PATH,
    NEWS_PLUGIN,
    PROXY_SECRET_VARIABLE,
    SETTINGS_FILE,
    hub_settings,
    url_port,
)
from oersite.messages import shown

APACHE = "apache2"
PROXY = "configurable-http-proxy"
#: The hubs run on this Python, the one oersite and its hub extra are installed in.
JUPYTERHUB = (sys.executable, "-m", "jupyterhub")
#: Marks every process a hub of this state folder starts, so stop() can find stray servers.
STATE_MARKER = "OERSITE_HUB_STATE"
LOCAL_CONFIG = '''"""The {kind} hub of `oersite hub serve` (generated on each start; edit _config.yml instead)."""

from pathlib import Path

from oersite.hub.configurer import configure_local
from oersite.hub.settings import read_settings

configure_local(
    c,  # noqa: F821 (JupyterHub provides c)
    read_settings({settings!r}),
    kind={kind!r},
    state=Path({state!r}),
    homes=Path({homes!r}),
    account={account!r},
    data_dir=Path({data_dir!r}),
    public_port={public_port},
    hub_port={hub_port},
    proxy_api_port={proxy_api_port},
    proxy_command={proxy_command!r},
    pool_port={pool_port},
    environment={environment!r},
)
# Marks the servers and services this hub starts (each in a session of its own), so that
# stopping `oersite hub serve` can find any the hub leaves behind.
c.Spawner.environment[{marker!r}] = {state_root!r}  # noqa: F821
for service in c.JupyterHub.services:  # noqa: F821
    service.setdefault("environment", {{}})[{marker!r}] = {state_root!r}
# JupyterLab's news pop-up off, as in the image (labconfig/page_config.json there); the site's
# browser libraries served by each server and used by its kernels (oersite.hub.notebook_server).
c.Spawner.environment["JUPYTER_CONFIG_PATH"] = {jupyter_config!r}  # noqa: F821
c.Spawner.environment["JUPYTER_PATH"] = {jupyter_data!r}  # noqa: F821
# JupyterLab reads its settings defaults (overrides.json) from one folder, sys.prefix's unless told
# on the command line (a config file's LabApp section does not reach it): here, the servers' own,
# where jupytext's notebook is the viewer of MyST Markdown (LAB_SETTINGS_OVERRIDES).
c.Spawner.args.append("--LabApp.app_settings_dir=" + {lab_settings!r})  # noqa: F821
'''


@dataclass(frozen=True)
class HubPorts:
    """The ports of one run: the two public ones, and free ones picked for the rest."""

    persistent: int  # Apache
    ephemeral: int  # the ephemeral hub's proxy
    persistent_proxy: int
    persistent_proxy_api: int
    persistent_hub: int
    ephemeral_proxy_api: int
    ephemeral_hub: int
    git: int  # git daemon, when the servers reach the course repository through it
    pool: int  # the warm pool's status service


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


@dataclass
class RunningHubs:
    """The processes of one ``oersite hub serve``, and where to reach them."""

    persistent_url: str  # Apache, in front of the persistent hub
    ephemeral_url: str  # the ephemeral hub's proxy
    state: Path
    ports: HubPorts
    processes: dict[str, subprocess.Popen] = field(default_factory=dict)
    logs: dict[str, Path] = field(default_factory=dict)
    private_dirs: list[Path] = field(default_factory=list)
    environment: dict[str, str] = field(default_factory=dict, repr=False)  # holds the proxy secret
    apache_environment: dict[str, str] = field(default_factory=dict, repr=False)  # Apache's alone (OIDC secrets)
    users_file: Path | None = None  # the operator's htpasswd file
    users_for_apache: Path | None = None  # the copy Apache's workers read, when they cannot read that one
    ready_timeout: float = 90
    account: ServerAccount | None = None  # who the servers run as, and where their homes are
    saml_metadata: Path | None = None  # the SP metadata the IdP must trust (protocol saml)

    def stop(self, name: str | None = None, timeout: float = 15) -> None:
        """Stop one process (by name) or all, politely first; then any stray server of this state folder."""
        names = [name] if name else list(self.processes)
        for each in names:
            _signal_group(self.processes[each], signal.SIGTERM)
        deadline = time.monotonic() + timeout
        for each in names:
            process = self.processes[each]
            try:
                process.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                _signal_group(process, signal.SIGKILL)
                process.wait(5)
        if name is None:
            _kill_marked(self.state)
            for folder in self.private_dirs:
                shutil.rmtree(folder, ignore_errors=True)

    def restart_hub(self, kind: str) -> None:
        """Stop and start one hub ("persistent" or "ephemeral"): students' files must survive it."""
        name = f"{kind}-hub"
        self.stop(name)
        config = self.state / kind / "jupyterhub_config.py"
        _launch(self, name, [*JUPYTERHUB, "-f", str(config)], config.parent, self.environment)
        _wait_until_ready(self, self.ports, self.ready_timeout)

    def sync_users(self) -> None:
        """Copy the users file to Apache's copy when it changed, so added users can sign in at once."""
        source, copy = self.users_file, self.users_for_apache
        if source and copy and copy != source and source.stat().st_mtime_ns != copy.stat().st_mtime_ns:
            _copy_keeping_mode(source, copy)

    def log_tail(self, name: str, lines: int = 15) -> str:
        path = self.logs.get(name)
        if not path or not path.exists():
            return ""
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


def state_folder(course: Course) -> Path:
    return course.root / course.settings.hub.state_folder


def start_hubs(
    course: Course,
    *,
    persistent_port: int | None = None,
    ephemeral_port: int | None = None,
    users_file: Path | None = None,
    state: Path | None = None,
    ready_timeout: float = 90,
    announce=print,
) -> RunningHubs:
    """Start Apache and both hubs; return once all answer, or stop them all and raise HubError."""
    settings = hub_settings(course, local=True)
    if users_file is not None and settings.sso.protocol != "basic":
        raise HubError(
            f"--users is Basic auth's htpasswd file, but oersite.hub.sso.protocol is {settings.sso.protocol}; "
            "leave --users out (students sign in at the identity provider)"
        )
    _require_programs(settings.sso)
    state = (state or state_folder(course)).resolve()
    state.mkdir(parents=True, exist_ok=True)
    ports = _pick_ports(
        persistent_port if persistent_port is not None else url_port(settings.persistent_url),
        ephemeral_port if ephemeral_port is not None else url_port(settings.ephemeral_url),
    )
    state.chmod(0o700)  # databases, cookie and proxy secrets, logs: the hubs' alone
    account = prepare_server_account(course, state, announce)
    secret = sign_on.kept_secret(state / "proxy-secret")
    users = _users_file(course, state, users_file, announce) if settings.sso.protocol == "basic" else None
    # Where Apache listens here, which --persistent-port may have moved: the sign-on's logout comes back to it.
    settings = replace(settings, persistent_url=f"http://127.0.0.1:{ports.persistent}")
    settings_path = state / SETTINGS_FILE
    settings_path.write_text(settings.to_json(), encoding="utf-8")
    running = RunningHubs(
        persistent_url=f"http://127.0.0.1:{ports.persistent}",
        ephemeral_url=f"http://127.0.0.1:{ports.ephemeral}",
        state=state,
        ports=ports,
        environment={**os.environ, PROXY_SECRET_VARIABLE: secret, STATE_MARKER: str(state)},
        ready_timeout=ready_timeout,
        account=account,
    )
    environment = running.environment
    try:
        servers_environment = _serve_repository(running, settings.repository, account)
        # The sign-on first: a missing client secret or an unreachable IdP stops it before anything starts.
        apache_conf = _write_apache_config(running, course, users, settings)
        for kind in ("persistent", "ephemeral"):
            config = _write_hub_config(kind, state, settings_path, account, ports, servers_environment)
            _private_database(config.parent)
            _launch(running, f"{kind}-hub", [*JUPYTERHUB, "-f", str(config)], config.parent, environment)
        apache = [APACHE, "-f", str(apache_conf), "-DFOREGROUND"]
        _launch(running, "apache", apache, state / "apache", {**environment, **running.apache_environment})
        _wait_until_ready(running, ports, ready_timeout)
    except BaseException:
        running.stop()
        raise
    return running


def serve_hubs(course: Course, *, persistent_port=None, ephemeral_port=None, users_file=None, announce=print) -> None:
    """Run both hubs until Ctrl-C (or SIGTERM), then stop every process started."""
    running = start_hubs(
        course,
        persistent_port=persistent_port,
        ephemeral_port=ephemeral_port,
        users_file=users_file,
        announce=announce,
    )
    signal.signal(signal.SIGTERM, _interrupt)
    announce(f"Persistent hub (sign in through Apache): {running.persistent_url}")
    announce(f"Try-now hub (no sign-in):                {running.ephemeral_url}")
    if running.account and running.account.name:
        announce(
            f"Servers run as {running.account.name}, not root, homes in {running.account.area}; they are not "
            "isolated from each other (the Docker bundle isolates students: hub/README.md)."
        )
    if running.saml_metadata is not None:
        announce(
            f"SAML: the identity provider must trust {shown(running.saml_metadata)} "
            f"(also served at {running.persistent_url}{MELLON_PATH}/metadata)"
        )
    announce(f"State and logs in {running.state}. Ctrl-C stops everything.")
    try:
        while True:
            for name, process in running.processes.items():
                if process.poll() is not None:
                    raise HubError(f"{name} stopped unexpectedly (exit {process.returncode}); see {running.logs[name]}")
            running.sync_users()
            time.sleep(1)
    except KeyboardInterrupt:
        announce("Stopping the hubs...")
    finally:
        running.stop()


def _interrupt(signum, frame) -> None:
    """SIGTERM stops the hubs the way Ctrl-C does."""
    raise KeyboardInterrupt


def _require_programs(sso) -> None:
    require_program(APACHE)
    require_program(PROXY, f"npm install --global configurable-http-proxy@{PROXY_VERSION}")
    if sso.protocol == "basic":
        require_program("htpasswd")
    sign_on.require_module(sso)
    require_hub_extra(
        "jupyterhub", "nbgitpuller", "tmpauthenticator", "jupyterhub_idle_culler", "jupyterlab", "jupytext"
    )


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
        shutil.copytree(source, target, ignore=shutil.ignore_patterns("__pycache__", ".ipynb_checkpoints"))
    else:
        target.mkdir()
    for folder, _, files in os.walk(target):
        os.chmod(folder, 0o755)
        for name in files:
            os.chmod(os.path.join(folder, name), 0o644)


def _serve_repository(running: RunningHubs, repository: str | None, account: ServerAccount) -> dict[str, str]:
    """For servers of another account, the course repository through ``git daemon`` (read-only, this one only).

    The launch links pull from the course's own folder (``file://``), which the
    account may not read; a git daemon on 127.0.0.1 serves exactly that
    repository, and git's ``insteadOf`` (in the servers' environment) sends
    nbgitpuller there.  Returns that environment.
    """
    if not account.name or not repository or not repository.startswith("file://"):
        return {}
    folder = url2pathname(urlsplit(repository).path)
    # The folder may be an instructor's, not root's: git refuses other users' repositories unless told.
    found = subprocess.run(
        ["git", "-c", f"safe.directory={folder}", "-C", folder, "rev-parse", "--absolute-git-dir"],
        capture_output=True,
        text=True,
    )
    git_dir = found.stdout.strip()
    if found.returncode != 0 or not git_dir:
        raise HubError(
            f"{folder}: cannot serve it to the servers ({git_message(found.stderr)}); it must be a git repository"
        )
    port = running.ports.git
    daemon = ["git", "daemon", "--listen=127.0.0.1", f"--port={port}", "--export-all", "--reuseaddr", "--strict-paths"]
    owner = os.stat(git_dir).st_uid
    if owner != 0:
        try:
            # Served as its owner, not root: the daemon reads what its owner may, and git trusts it.
            daemon.append(f"--user={pwd.getpwuid(owner).pw_name}")
        except KeyError:  # an owner with no account: trust that one repository by name
            daemon[1:1] = ["-c", f"safe.directory={git_dir}"]
    _launch(running, "git-daemon", [*daemon, git_dir], running.state, running.environment)
    served = f"git://127.0.0.1:{port}{git_dir}"
    deadline = time.monotonic() + 10
    while subprocess.run(["git", "ls-remote", served], capture_output=True).returncode != 0:
        if time.monotonic() > deadline:
            raise HubError(f"git daemon did not serve {folder} within 10 s; see {running.logs['git-daemon']}")
        time.sleep(0.1)
    return {"GIT_CONFIG_COUNT": "1", "GIT_CONFIG_KEY_0": f"url.{served}.insteadOf", "GIT_CONFIG_VALUE_0": repository}


def _users_file(course: Course, state: Path, given: Path | None, announce) -> Path:
    configured = course.settings.hub.users_file
    path = given or (course.root / configured if configured else state / "users.htpasswd")
    if path.exists():
        return path.resolve()
    if given or configured:
        raise HubError(f"{path}: no such users file; create it with: htpasswd -cB {path} USER")
    password = secrets.token_urlsafe(9)
    subprocess.run(["htpasswd", "-cbB", str(path), "student", password], check=True, capture_output=True)
    path.chmod(0o600)
    announce(f"Created {path} with user 'student', password {password} (add users: htpasswd -B {path} NAME)")
    return path.resolve()


def _pick_ports(persistent: int, ephemeral: int) -> HubPorts:
    for port in (persistent, ephemeral):
        if port and not _port_free(port):
            raise HubError(
                f"127.0.0.1:{port} is in use (another oersite hub serve?); stop it or pass "
                "--persistent-port/--ephemeral-port"
            )
    chosen = [persistent or _free_port(), ephemeral or _free_port()]
    while len(chosen) < 9:
        port = _free_port()
        if port not in chosen:
            chosen.append(port)
    return HubPorts(*chosen)


def _port_free(port: int) -> bool:
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _write_hub_config(
    kind: str, state: Path, settings_path: Path, account: ServerAccount, ports: HubPorts, environment: dict
) -> Path:
    folder = state / kind
    folder.mkdir(exist_ok=True)
    account.homes(kind).mkdir(parents=True, exist_ok=True)
    public, api, hub = (
        (ports.persistent_proxy, ports.persistent_proxy_api, ports.persistent_hub)
        if kind == "persistent"
        else (ports.ephemeral, ports.ephemeral_proxy_api, ports.ephemeral_hub)
    )
    config = folder / "jupyterhub_config.py"
    config.write_text(
        LOCAL_CONFIG.format(
            kind=kind,
            settings=str(settings_path),
            state=str(folder),
            homes=str(account.homes(kind)),
            account=account.name,
            data_dir=str(account.data_dir),
            environment=environment,
            public_port=public,
            hub_port=hub,
            proxy_api_port=api,
            proxy_command=shutil.which(PROXY),
            pool_port=ports.pool,
            marker=STATE_MARKER,
            state_root=str(state),
            jupyter_config=str(_jupyter_config(account.area)),
            jupyter_data=str(_jupyter_data(account.area)),
            lab_settings=str(_jupyter_data(account.area) / "lab" / "settings"),
        ),
        encoding="utf-8",
    )
    return config


def _private_database(folder: Path) -> None:
    """The hub's database, the hub's alone from its first byte (0600, as JupyterHub makes its cookie secret).

    JupyterHub creates it with the umask's mode; SQLite keeps an existing file's mode, and
    gives its journal the same. An empty file is a new database to SQLite.
    """
    database = folder / "jupyterhub.sqlite"
    os.close(os.open(database, os.O_WRONLY | os.O_CREAT, 0o600))
    database.chmod(0o600)


def _jupyter_config(area: Path) -> Path:
    """The servers' Jupyter config folder: JupyterLab's news pop-up off (what labextension disable
    writes), and the server extension that serves the site's browser libraries on."""
    folder = area / "jupyter-config"
    (folder / "labconfig").mkdir(parents=True, exist_ok=True)
    (folder / "labconfig" / "page_config.json").write_text(
        json.dumps({"disabledExtensions": {NEWS_PLUGIN: True}}, indent=2) + "\n", encoding="utf-8"
    )
    _write_jupyter_files(folder, "etc/jupyter/")
    return folder


def _jupyter_data(area: Path) -> Path:
    """The servers' first Jupyter data folder: a ``python3`` kernel spec whose kernels point
    Folium at the server's copies of its libraries, and JupyterLab's settings defaults
    (``oersite.hub.notebook_server``)."""
    folder = area / "jupyter-data"
    _write_jupyter_files(folder, "share/jupyter/")
    return folder


def _write_jupyter_files(folder: Path, below: str) -> None:
    for relative, text in notebook_server.jupyter_files().items():
        if relative.startswith(below):
            target = folder / relative.removeprefix(below)
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text, encoding="utf-8")


def _write_apache_config(running: RunningHubs, course: Course, users: Path | None, settings) -> Path:
    """Apache's config for the persistent hub, with the sign-on ``oersite.hub.sso`` names and what it needs.

    As root, Apache's workers run as www-data and read the sign-on's files on
    requests (the htpasswd file, the IdP's metadata); the state folder is
    private (0700), so they get copies in a folder of their own.
    """
    state, ports, sso = running.state, running.ports, settings.sso
    folder = state / "apache"
    (folder / "logs").mkdir(parents=True, exist_ok=True)
    readable = folder
    user = f"#{os.getuid()}"
    if os.geteuid() == 0:
        user = "www-data"
        readable = Path(tempfile.mkdtemp(prefix="oersite-apache-"))
        running.private_dirs.append(readable)
        shutil.chown(readable, group=user)
        readable.chmod(0o750)
    public_url = running.persistent_url
    users_for_apache = readable / "users.htpasswd"
    if users is not None:
        if readable != folder:
            users_for_apache.touch(mode=0o640)
            shutil.chown(users_for_apache, group=user)
            _copy_keeping_mode(users, users_for_apache)
        else:
            users_for_apache = users
        running.users_file, running.users_for_apache = users, users_for_apache
    sso_files = folder / "saml"
    if sso.protocol == "saml":
        # The bundle's key when it is for this address: the one oersite hub config said to register.
        bundle = course.root / "hub" / SAML_FOLDER
        metadata = sign_on.prepare_saml(sso, course.root, sso_files, public_url, shared=bundle, prefer_shared=True)
        running.saml_metadata = metadata
        if readable != folder:
            for name in sign_on.SAML_FILES:
                _readable_copy(sso_files / name, readable / name, user)
            sso_files = readable
    if sso.protocol == "oidc":
        running.apache_environment[OIDC_SECRET_VARIABLE] = sign_on.oidc_client_secret(sso, course.root)
        running.apache_environment[OIDC_PASSPHRASE_VARIABLE] = sign_on.kept_secret(state / "oidc-passphrase")
    cas_cookies = readable / "cas-sessions"
    if sso.protocol == "cas":
        cas_cookies.mkdir(mode=0o700, exist_ok=True)
        if os.geteuid() == 0:
            shutil.chown(cas_cookies, user=user)
    include = folder / "sso.conf"
    include.write_text(
        sign_on_conf(
            sso,
            public_url=public_url,
            folder=str(sso_files),
            users_file=str(users_for_apache),
            title=settings.course_title,
            cas_cookies=str(cas_cookies),
        ),
        encoding="utf-8",
    )
    hub = settings.persistent
    site = ProxiedSite(
        server_name="127.0.0.1",
        port=ports.persistent,
        tls=False,
        backend=f"http://127.0.0.1:{ports.persistent_proxy}",
        sso_include=str(include),
        sso_protocol=sso.protocol,
        user_header=hub.user_header,
        secret_header=hub.secret_header,
    )
    conf = folder / "httpd.conf"
    conf.write_text(
        httpd_conf(
            [site],
            runtime_dir=str(folder),
            error_log=str(folder / "logs" / "error.log"),
            access_log=str(folder / "logs" / "access.log"),
            user=user,
            header="# oersite hub serve: Apache in front of the persistent hub (generated on each start)\n"
            f"ServerRoot {APACHE_SERVER_ROOT}",
        ),
        encoding="utf-8",
    )
    return conf


def _readable_copy(source: Path, copy: Path, group: str) -> None:
    """A copy of ``source`` that Apache's workers (``group``) may read, and no one else.

    A private key stays root's alone: mod_auth_mellon reads it with the config, as root.
    """
    shutil.copyfile(source, copy)
    if source.suffix == ".key":
        copy.chmod(0o600)
        return
    copy.chmod(0o640)
    shutil.chown(copy, group=group)


def _copy_keeping_mode(source: Path, copy: Path) -> None:
    """Contents and modification time, but the copy's own owner and mode (readable by Apache's workers)."""
    shutil.copyfile(source, copy)
    status = source.stat()
    os.utime(copy, ns=(status.st_atime_ns, status.st_mtime_ns))


def _launch(running: RunningHubs, name: str, command: list[str], cwd: Path, environment: dict) -> None:
    log = cwd / f"{name}.log"
    running.logs[name] = log
    with open(log, "ab") as output:
        running.processes[name] = subprocess.Popen(
            command,
            cwd=cwd,
            env=environment,
            stdin=subprocess.DEVNULL,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: stop() signals the whole group
            preexec_fn=_default_signals,
        )


def _default_signals() -> None:
    """In the child: SIGINT and SIGTERM as default, whatever the parent ignored."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)


def _signal_group(process: subprocess.Popen, signum: int) -> None:
    if process.poll() is None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, signum)


def _kill_marked(state: Path) -> None:
    """End what the hubs started in sessions of their own and left behind (after a hub was killed).

    Every process started here carries the state marker in its environment:
    hubs and Apache from their launch, each hub's configurable-http-proxy by
    inheritance, servers and services from the generated hub config.
    """
    marker = f"{STATE_MARKER}={state}".encode()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError):
            if marker in (entry / "environ").read_bytes().split(b"\0"):
                os.kill(int(entry.name), signal.SIGKILL)


def _wait_until_ready(running: RunningHubs, ports: HubPorts, timeout: float) -> None:
    """Until both hubs answer through their proxies and Apache's sign-on answers as it should.

    Basic auth asks for credentials (401); mod_auth_mellon serves the hub's SAML
    metadata; OpenID Connect and CAS send a browser to the provider (302, which
    for OpenID Connect means it read the provider's discovery document).
    """
    protocol = json.loads((running.state / SETTINGS_FILE).read_text())["sso"]["protocol"]
    apache = f"http://127.0.0.1:{ports.persistent}"
    checks = {
        "persistent-hub": (f"http://127.0.0.1:{ports.persistent_proxy}/hub/health", 200),
        "ephemeral-hub": (f"http://127.0.0.1:{ports.ephemeral}/hub/health", 200),
        "apache": {
            "basic": (f"{apache}/hub/health", 401),
            "saml": (f"{apache}{MELLON_PATH}/metadata", 200),
        }.get(protocol, (f"{apache}/hub/health", 302)),
    }
    deadline = time.monotonic() + timeout
    waiting = dict(checks)
    while waiting:
        for name in list(waiting):
            process = running.processes.get(name)
            if process is not None and process.poll() is not None:
                raise HubError(
                    f"{name} exited while starting (exit {process.returncode}); its log, {running.logs[name]}, "
                    f"ends with:\n{running.log_tail(name)}"
                )
            url, status = waiting[name]
            if http_status(url) == status:
                del waiting[name]
        if time.monotonic() > deadline:
            names = ", ".join(waiting)
            raise HubError(f"{names} did not answer within {timeout:.0f} s; see the logs in {running.state}")
        time.sleep(0.2)


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


_OPENER = urllib.request.build_opener(_NoRedirects)


def http_status(url: str) -> int | None:
    """The HTTP status ``url`` answers a browser with (a redirect's own, not followed); None when nothing answers.

    It asks as a browser does (``Accept: text/html``): mod_auth_openidc answers
    other clients 401 instead of sending them to the provider.
    """
    request = urllib.request.Request(url, headers={"Accept": "text/html,*/*;q=0.8"})
    try:
        with _OPENER.open(request, timeout=2) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code
    except OSError:
        return None
