"""The processes of ``oersite hub serve``: their ports, starting them in groups of their own, waiting
until they answer, stopping them and whatever they left behind.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from oersite.errors import HubError
from oersite.hub.serve.accounts import ServerAccount
from oersite.hub.settings import MELLON_PATH, SETTINGS_FILE

#: The hubs run on this Python, the one oersite and its hub extra are installed in.
JUPYTERHUB = (sys.executable, "-m", "jupyterhub")


#: Marks every process a hub of this state folder starts, so stop() can find stray servers.
STATE_MARKER = "OERSITE_HUB_STATE"


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
            kill_marked(self.state)
            for folder in self.private_dirs:
                shutil.rmtree(folder, ignore_errors=True)

    def restart_hub(self, kind: str) -> None:
        """Stop and start one hub ("persistent" or "ephemeral"): students' files must survive it."""
        name = f"{kind}-hub"
        self.stop(name)
        config = self.state / kind / "jupyterhub_config.py"
        launch(self, name, [*JUPYTERHUB, "-f", str(config)], config.parent, self.environment)
        wait_until_ready(self, self.ports, self.ready_timeout)

    def sync_users(self) -> None:
        """Copy the users file to Apache's copy when it changed, so added users can sign in at once."""
        source, copy = self.users_file, self.users_for_apache
        if source and copy and copy != source and source.stat().st_mtime_ns != copy.stat().st_mtime_ns:
            copy_keeping_mode(source, copy)

    def log_tail(self, name: str, lines: int = 15) -> str:
        path = self.logs.get(name)
        if not path or not path.exists():
            return ""
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


def pick_ports(persistent: int, ephemeral: int) -> HubPorts:
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


def launch(running: RunningHubs, name: str, command: list[str], cwd: Path, environment: dict) -> None:
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


def kill_marked(state: Path) -> None:
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


def wait_until_ready(running: RunningHubs, ports: HubPorts, timeout: float) -> None:
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


def copy_keeping_mode(source: Path, copy: Path) -> None:
    """Contents and modification time, but the copy's own owner and mode (readable by Apache's workers)."""
    shutil.copyfile(source, copy)
    status = source.stat()
    os.utime(copy, ns=(status.st_atime_ns, status.st_mtime_ns))
