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
:meth:`RunningHubs.stop` ends everything this package started, quickly.

A module per concern: ``supervisor`` (the processes, their ports, waiting for
them and stopping them), ``accounts`` (who the servers run as, and their
folders), ``hub_configs`` (each hub's generated ``jupyterhub_config.py`` and the
servers' Jupyter files), ``apache_site`` (Apache and the sign-on in front of the
persistent hub) and ``git_daemon`` (the course repository for servers of another
account).
"""

from __future__ import annotations

import os
import signal
import time
from dataclasses import replace
from pathlib import Path

from oersite.config import Course
from oersite.errors import HubError
from oersite.hub import sign_on
from oersite.hub.course_settings import hub_settings
from oersite.hub.installed import PROXY_VERSION, require_hub_extra, require_program
from oersite.hub.serve.accounts import prepare_server_account
from oersite.hub.serve.apache_site import APACHE, users_file_for, write_apache_config
from oersite.hub.serve.git_daemon import serve_repository
from oersite.hub.serve.hub_configs import PROXY, private_database, write_hub_config
from oersite.hub.serve.supervisor import JUPYTERHUB, STATE_MARKER, RunningHubs, launch, pick_ports, wait_until_ready
from oersite.hub.settings import MELLON_PATH, PROXY_SECRET_VARIABLE, SETTINGS_FILE, url_port
from oersite.messages import shown


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
    ports = pick_ports(
        persistent_port if persistent_port is not None else url_port(settings.persistent_url),
        ephemeral_port if ephemeral_port is not None else url_port(settings.ephemeral_url),
    )
    state.chmod(0o700)  # databases, cookie and proxy secrets, logs: the hubs' alone
    account = prepare_server_account(course, state, announce)
    secret = sign_on.kept_secret(state / "proxy-secret")
    users = users_file_for(course, state, users_file, announce) if settings.sso.protocol == "basic" else None
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
        servers_environment = serve_repository(running, settings.repository, account)
        # The sign-on first: a missing client secret or an unreachable IdP stops it before anything starts.
        apache_conf = write_apache_config(running, course, users, settings)
        for kind in ("persistent", "ephemeral"):
            config = write_hub_config(kind, state, settings_path, account, ports, servers_environment)
            private_database(config.parent)
            launch(running, f"{kind}-hub", [*JUPYTERHUB, "-f", str(config)], config.parent, environment)
        apache = [APACHE, "-f", str(apache_conf), "-DFOREGROUND"]
        launch(running, "apache", apache, state / "apache", {**environment, **running.apache_environment})
        wait_until_ready(running, ports, ready_timeout)
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
