"""A real Docker engine of the tests' own, and the Debian base every image of the hub bundle builds on.

The engine is Debian's ``dockerd``, started so that it touches no network
setting of this machine: no docker0 bridge, no iptables rules, no forwarding
(``--bridge=none --iptables=false --ip-forward=false --ip-masq=false``); every
container the bundle runs uses the host's network and binds 127.0.0.1.  It keeps
its images in a folder that outlives the test run (``OERSITE_TEST_DOCKER_ROOT``,
default ``~/.cache/oersite-tests/docker``), so a second run reuses the layers of
the first; containers and volumes are removed when it starts and when it stops,
so no run sees another's students.

No registry can be reached here, so no image is pulled: the base is Debian
bookworm made with ``debootstrap`` and ``docker import``, with this machine's apt
sources (the bundle's Dockerfiles take it as ``BASE_IMAGE``).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ENGINE_ROOT = Path(os.environ.get("OERSITE_TEST_DOCKER_ROOT", Path.home() / ".cache" / "oersite-tests" / "docker"))
BASE_IMAGE = "oersite-test-base:bookworm"
#: Programs the Docker tests need, and the Debian package of each (tests/install-deps.sh installs them).
PROGRAMS = {
    "dockerd": "docker.io",
    "docker": "docker.io",
    "docker-compose": "docker-compose",
    "debootstrap": "debootstrap",
    "git": "git",
    "openssl": "openssl",
}
APT_SOURCES = Path("/etc/apt/sources.list.d/debian.sources")
DEBIAN_MIRROR = "http://deb.debian.org/debian"


def require_programs() -> None:
    """Fail loudly (never skip) when this machine lacks what the Docker tests run."""
    missing = [f"{program} (Debian: {package})" for program, package in PROGRAMS.items() if not shutil.which(program)]
    assert not missing, f"the Docker tests need {', '.join(missing)}: run bash tests/install-deps.sh"
    assert os.geteuid() == 0, "the Docker tests start dockerd, which needs root: run them as root (as CI does)"


@dataclass
class DockerEngine:
    """A running ``dockerd`` and how to talk to it."""

    process: subprocess.Popen
    socket: Path
    runtime: Path
    log: Path

    @property
    def host(self) -> str:
        return f"unix://{self.socket}"

    @property
    def environment(self) -> dict[str, str]:
        """This process's environment, with the docker CLI and docker-compose pointed at this engine."""
        return {**os.environ, "DOCKER_HOST": self.host}

    def docker(self, *args: str, check: bool = True, timeout: float = 600) -> subprocess.CompletedProcess:
        result = subprocess.run(
            ["docker", *args], capture_output=True, text=True, env=self.environment, timeout=timeout
        )
        if check:
            assert result.returncode == 0, f"docker {' '.join(args)}: {result.stderr or result.stdout}"
        return result

    def inspect(self, kind: str, name: str) -> dict | None:
        """``docker KIND inspect NAME`` as data, or None when there is no such object."""
        result = self.docker(kind, "inspect", name, check=False)
        return json.loads(result.stdout)[0] if result.returncode == 0 else None

    def names(self, kind: str = "container") -> list[str]:
        """Names of every container (running or not) or volume."""
        if kind == "container":
            return self.docker("ps", "--all", "--format", "{{.Names}}").stdout.split()
        return self.docker("volume", "ls", "--format", "{{.Name}}").stdout.split()

    def tail(self, lines: int = 30) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])

    def remove_containers_and_volumes(self) -> None:
        containers = self.names("container")
        if containers:
            self.docker("rm", "--force", "--volumes", *containers)
        volumes = self.names("volume")
        if volumes:
            self.docker("volume", "rm", "--force", *volumes)


def start_engine(root: Path = ENGINE_ROOT, seconds: float = 60) -> DockerEngine:
    """Start dockerd with its own data root, exec root and socket; return once it answers."""
    require_programs()
    root.mkdir(parents=True, exist_ok=True)
    runtime = Path(tempfile.mkdtemp(prefix="oersite-dockerd-", dir="/tmp"))  # short: socket paths are limited
    log = runtime / "dockerd.log"
    command = [
        "dockerd",
        "--bridge=none",
        "--iptables=false",
        "--ip-forward=false",
        "--ip-masq=false",
        "--data-root",
        str(root),
        "--exec-root",
        str(runtime / "exec"),
        "--pidfile",
        str(runtime / "dockerd.pid"),
        "--host",
        f"unix://{runtime / 'docker.sock'}",
    ]
    with open(log, "wb") as output:
        process = subprocess.Popen(
            command, stdin=subprocess.DEVNULL, stdout=output, stderr=subprocess.STDOUT, start_new_session=True
        )
    engine = DockerEngine(process, runtime / "docker.sock", runtime, log)
    deadline = time.monotonic() + seconds
    while engine.docker("info", check=False, timeout=10).returncode != 0:
        if process.poll() is not None or time.monotonic() > deadline:
            stop_engine(engine)
            raise AssertionError(f"dockerd did not start (see {log}):\n{engine.tail()}")
        time.sleep(0.5)
    engine.remove_containers_and_volumes()  # left behind by a run that was killed
    return engine


def stop_engine(engine: DockerEngine, seconds: float = 60) -> None:
    """Remove every container and volume, stop dockerd (images stay for the next run)."""
    if engine.process.poll() is None:
        with contextlib.suppress(Exception):
            engine.remove_containers_and_volumes()
        engine.process.send_signal(signal.SIGTERM)
        try:
            engine.process.wait(seconds)
        except subprocess.TimeoutExpired:
            engine.process.kill()
            engine.process.wait(10)
    with contextlib.suppress(OSError):
        subprocess.run(["umount", "--recursive", "--lazy", str(engine.runtime / "exec")], capture_output=True)
    shutil.rmtree(engine.runtime, ignore_errors=True)


def ensure_base_image(engine: DockerEngine, name: str = BASE_IMAGE) -> str:
    """A Debian bookworm image with this machine's apt sources, made once with debootstrap."""
    if engine.inspect("image", name) is not None:
        return name
    with tempfile.TemporaryDirectory(prefix="oersite-rootfs-") as scratch:
        rootfs = Path(scratch) / "rootfs"
        made = subprocess.run(
            ["debootstrap", "--variant=minbase", "bookworm", str(rootfs), _mirror()],
            capture_output=True,
            text=True,
            timeout=900,
        )
        assert made.returncode == 0, f"debootstrap failed:\n{made.stdout[-2000:]}{made.stderr[-2000:]}"
        if APT_SOURCES.is_file():  # updates and security too, as the public debian images have
            shutil.copy(APT_SOURCES, rootfs / "etc/apt/sources.list.d/debian.sources")
            (rootfs / "etc/apt/sources.list").unlink(missing_ok=True)
        tar = subprocess.Popen(["tar", "-C", str(rootfs), "-c", "."], stdout=subprocess.PIPE)
        imported = subprocess.run(
            ["docker", "import", "-", name], stdin=tar.stdout, capture_output=True, text=True, env=engine.environment
        )
        tar.wait()
        assert imported.returncode == 0, f"docker import failed: {imported.stderr}"
    return name


def _mirror() -> str:
    """The Debian mirror this machine's apt uses (the one that answers here)."""
    if APT_SOURCES.is_file():
        for line in APT_SOURCES.read_text().splitlines():
            if line.startswith("URIs:") and "security" not in line:
                return line.split()[1]
    return DEBIAN_MIRROR
