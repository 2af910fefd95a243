"""The Docker bundle deployed as an operator deploys it, for the tests and the journey benchmark.

A built copy of the sample course whose buttons point at two HTTPS ports on
127.0.0.1 and whose notebooks are pulled from a ``git daemon`` on 127.0.0.1 (the
containers share the host's network, so they reach it); then the commands of
``hub/README.md`` ("Deploying with Docker"), run in the course folder against
the tests' own Docker engine (``dockerhelpers``).  The only thing added to what
an operator does is two lines in ``hub/.env``: ``BASE_IMAGE`` (the debootstrapped
Debian, as nothing can be pulled here) and ``DOCKER_SOCKET`` (the engine's).
"""

from __future__ import annotations

import contextlib
import re
import sqlite3
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from oersite.hub import layout
from oersite.hub.serve.supervisor import http_status
from support.dockerhelpers import BASE_IMAGE, DockerEngine, ensure_base_image
from support.hub_clients import browser_session, free_port
from support.journey_lab import course_on_ports

REPOSITORY = Path(__file__).resolve().parents[2]
HUB_README = REPOSITORY / "hub" / "README.md"
#: The machine's CA bundle: pip and npm in the image builds need it for the registries here.
SYSTEM_CA_BUNDLE = Path("/etc/ssl/certs/ca-certificates.crt")
STUDENTS = {"ada": "ada-password", "bob": "bob-password"}
COMPOSE_FILE = "hub/docker-compose.yml"
#: Short enough to watch the culler work; small enough limits to fill the ephemeral hub with two visitors;
#: no warm pool (test_docker_bundle.py turns it on for its own test).
TEST_SETTINGS = """  hub:
    persistent:
      memory_limit: 768M
      cpu_limit: 0.5
    ephemeral:
      memory_limit: 512M
      cpu_limit: 0.5
      cull_idle_seconds: 30
      active_server_limit: 2
      concurrent_spawn_limit: 2
      pool: 0
"""


def readme_commands(heading: str, readme: Path = HUB_README) -> list[str]:
    """The commands of the first ``sh`` block below ``heading`` in hub/README.md (backslash lines joined)."""
    text = readme.read_text(encoding="utf-8")
    section = text.split(f"\n{heading}\n", 1)[1]
    block = re.search(r"```sh\n(.*?)```", section, flags=re.S).group(1)
    return [line.strip() for line in block.replace("\\\n", " ").splitlines() if line.strip()]


@dataclass
class Deployment:
    """The bundle running on the tests' engine, and how a student, a visitor and the operator reach it."""

    engine: DockerEngine
    course: Path
    persistent_url: str
    ephemeral_url: str
    certificate: Path  # the self-signed certificate Apache serves; clients trust exactly this one
    git_daemon: subprocess.Popen
    commands_run: list[tuple[str, float]] = field(default_factory=list)  # and the seconds each took

    @property
    def hub(self) -> Path:
        return self.course / "hub"

    def run(self, command: str, *, stdin: str | None = None, timeout: float = 1800) -> str:
        """One operator command, in the course folder, against the tests' engine."""
        started = time.monotonic()
        result = subprocess.run(
            ["bash", "-c", command],
            cwd=self.course,
            input=stdin,
            capture_output=True,
            text=True,
            env=self.engine.environment,
            timeout=timeout,
        )
        self.commands_run.append((command, time.monotonic() - started))
        assert result.returncode == 0, f"{command}\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
        return result.stdout + result.stderr

    def compose(self, *args: str, timeout: float = 600) -> str:
        return self.run(" ".join(["docker-compose", "-f", COMPOSE_FILE, *args]), timeout=timeout)

    def session(self, student: str | None = None):
        return browser_session(student, STUDENTS.get(student or ""), trust=self.certificate)

    def logs(self, service: str, lines: int = 40) -> str:
        return self.compose("logs", "--no-color", f"--tail={lines}", service)

    def wait_until_up(self, seconds: float = 120) -> None:
        """Until Apache asks the persistent hub's visitors to sign in and the ephemeral hub answers through it.

        Basic auth asks with a 401; mod_auth_mellon (SAML) serves the hub's metadata once it is up.
        """
        deadline = time.monotonic() + seconds
        saml = "protocol: saml" in (self.course / "_config.yml").read_text(encoding="utf-8")
        sign_on_path, sign_on_status = ("/mellon/metadata", 200) if saml else ("/hub/health", 401)
        checks = {
            f"{self.persistent_url}{sign_on_path}": sign_on_status,
            f"{self.ephemeral_url}/hub/health": 200,
            f"{layout.PERSISTENT.proxy_url}/hub/health": 200,
        }
        while True:
            waiting = [url for url, status in checks.items() if _status(url, self.certificate) != status]
            if not waiting:
                return
            if time.monotonic() > deadline:
                raise AssertionError(f"no answer from {waiting} within {seconds} s:\n" + self.logs("persistent-hub"))
            time.sleep(0.5)

    def hub_users(self, kind: str) -> list[str]:
        """The users in a hub's database, as the operator would look them up (a copy of the sqlite file)."""
        container = self.compose("ps", "-q", f"{kind}-hub").strip()
        with tempfile.TemporaryDirectory() as scratch:
            copy = Path(scratch) / "jupyterhub.sqlite"
            self.engine.docker("cp", f"{container}:{layout.HUB_DATA}/jupyterhub.sqlite", str(copy))
            with contextlib.closing(sqlite3.connect(copy)) as database:
                return sorted(name for (name,) in database.execute("select name from users"))


def _status(url: str, certificate: Path) -> int | None:
    if url.startswith("http://"):
        return http_status(url)
    try:
        return browser_session(trust=certificate).get(url, timeout=5, allow_redirects=False).status_code
    except OSError:
        return None


def self_signed_certificate(folder: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 (as the IP address Apache's URLs name) and its key."""
    folder.mkdir(parents=True, exist_ok=True)
    certificate, key = folder / "fullchain.pem", folder / "privkey.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=127.0.0.1"]
        + ["-addext", "subjectAltName=IP:127.0.0.1", "-addext", "basicConstraints=critical,CA:FALSE"]
        + ["-keyout", str(key), "-out", str(certificate)],
        check=True,
        capture_output=True,
    )
    return certificate, key


def start_git_daemon(base: Path, port: int) -> subprocess.Popen:
    """``git daemon`` serving the repositories below ``base`` on 127.0.0.1 (read-only)."""
    process = subprocess.Popen(
        ["git", "daemon", f"--base-path={base}", "--export-all", "--reuseaddr"]
        + ["--listen=127.0.0.1", f"--port={port}", str(base)],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 10
    while subprocess.run(["git", "ls-remote", f"git://127.0.0.1:{port}/course"], capture_output=True).returncode:
        assert process.poll() is None and time.monotonic() < deadline, "git daemon did not start"
        time.sleep(0.2)
    return process


def deploy(engine: DockerEngine, sample_course: Path, folder: Path, settings: str = TEST_SETTINGS) -> Deployment:
    """Build the course for HTTPS hubs on free ports and bring the bundle up with hub/README.md's commands.

    ``settings``: lines appended to the course's ``oersite:`` section (the hubs' limits).
    """
    ensure_base_image(engine)
    hub_port, try_port, git_port = free_port(), free_port(), free_port()
    repository = f"git://127.0.0.1:{git_port}/course"
    course = course_on_ports(sample_course, folder, hub_port, try_port, settings, scheme="https", repository=repository)
    (course / "data").chmod(0o755)  # students (uid 1000) read it through the read-only mount
    certificate, key = self_signed_certificate(folder / "operator-files")
    deployment = Deployment(
        engine=engine,
        course=course,
        persistent_url=f"https://127.0.0.1:{hub_port}",
        ephemeral_url=f"https://127.0.0.1:{try_port}",
        certificate=certificate,
        git_daemon=start_git_daemon(folder, git_port),
    )
    operator_files = {
        "fullchain.pem privkey.pem": f"{certificate} {key}",
        "my-network-ca.crt": str(SYSTEM_CA_BUNDLE),
    }
    try:
        for command in readme_commands("## Deploying with Docker"):
            for placeholder, path in operator_files.items():
                command = command.replace(placeholder, path)
            student = re.match(r"htpasswd .* (\w+)$", command)
            stdin = f"{STUDENTS[student.group(1)]}\n" * 2 if student else None
            if command.startswith("docker-compose") and " --profile build build" in command:
                # What this machine needs that an operator's does not (see the module docstring).
                with open(deployment.hub / ".env", "a", encoding="utf-8") as env:
                    env.write(f"BASE_IMAGE={BASE_IMAGE}\nDOCKER_SOCKET={engine.socket}\n")
            deployment.run(command, stdin=stdin)
        deployment.wait_until_up()
    except BaseException:
        undeploy(deployment)
        raise
    return deployment


def undeploy(deployment: Deployment) -> None:
    """``docker-compose down`` (volumes too: the test is over), students' containers, the git daemon."""
    with contextlib.suppress(Exception):
        deployment.compose("down", "--volumes", "--timeout", "5")
    with contextlib.suppress(Exception):
        deployment.engine.remove_containers_and_volumes()
    deployment.git_daemon.terminate()
    with contextlib.suppress(subprocess.TimeoutExpired):
        deployment.git_daemon.wait(10)
