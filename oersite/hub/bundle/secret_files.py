"""The bundle's secret files, made once and never committed: ``hub/.env`` (mode 0600) and Basic auth's users file."""

from __future__ import annotations

import os
import re
import secrets
from pathlib import Path

from oersite.config import Course
from oersite.errors import HubError
from oersite.files import write_atomically
from oersite.hub import layout
from oersite.hub.bundle.generated import GENERATED
from oersite.hub.configurer import DATA_HOST_VARIABLE
from oersite.hub.settings import PROXY_SECRET_VARIABLE
from oersite.schema import text_problem

#: Secrets written to .env for docker compose, generated once.
SECRET_VARIABLES = (PROXY_SECRET_VARIABLE, "PERSISTENT_PROXY_TOKEN", "EPHEMERAL_PROXY_TOKEN")

#: Basic auth's students and their password hashes (protocol basic; made empty with any): never committed.
USERS_FILE = "apache/users.htpasswd"


def env_text(course: Course) -> str:
    """``hub/.env`` as it is first written: settings the operator may change, and fresh secrets."""
    lines = [
        f"# Settings and secrets for docker-compose ({GENERATED.split(':')[0]}); keep private.",
        env_line("COMPOSE_PROJECT_NAME", "oersite"),
        "# The course's datasets on this server (an absolute path): mounted read-only into every server.",
        env_line(DATA_HOST_VARIABLE.removeprefix("OERSITE_"), str(course.data_dir)),
        "# The Docker engine's socket, mounted into the hub containers only:",
        "# DOCKER_SOCKET=/var/run/docker.sock",
        "# The image every image builds on (any Debian bookworm):",
        "# " + env_line("BASE_IMAGE", course.settings.hub.base_image),
        *(env_line(name, secrets.token_hex(32)) for name in SECRET_VARIABLES),
    ]
    return "\n".join(lines) + "\n"


def env_line(name: str, value: str) -> str:
    """``NAME=value`` as Compose reads ``.env``, whichever Compose: python-dotenv (Compose 1) or godotenv (2).

    A value of plain characters is written as it is, any other in single quotes,
    which both read as it is.  What no line can hold the same way for both is
    refused: a line break or control character (it would start a variable of its
    own), ``${`` (python-dotenv reads a variable there even in single quotes), a
    single quote or a backslash (the two read escapes differently).
    """
    problem = text_problem(value) or (
        f"no ' or \\ (Compose 1 and 2 read them differently), found {value!r}" if re.search(r"['\\]", value) else None
    )
    if problem:
        raise HubError(f"cannot write {name} into hub/.env: {problem}; write that line of hub/.env yourself")
    if re.fullmatch(r"[A-Za-z0-9_./:@+,-]*", value):
        return f"{name}={value}"
    return f"{name}='{value}'"


def set_in_env(env: Path, values: dict[str, str], keep: dict[str, str]) -> None:
    """``values`` into the .env file (replacing their lines), and ``keep``'s names where it has none yet."""
    lines = env.read_text(encoding="utf-8").splitlines()
    present = {line.split("=", 1)[0] for line in lines if "=" in line and not line.startswith("#")}
    lines = [line for line in lines if line.split("=", 1)[0] not in values]
    lines += [env_line(name, value) for name, value in values.items()]
    lines += [env_line(name, value) for name, value in keep.items() if name not in present]
    write_atomically(env, "\n".join(lines) + "\n", mode=0o600)


def make_users_file(path: Path) -> bool:
    """Basic auth's htpasswd file, made empty when missing: readable by Apache's workers' group alone.

    ``htpasswd -B FILE NAME`` keeps its mode and group when it adds a student.
    Returns False when the group could not be given (not root), which the operator then sets.
    """
    if path.exists():
        return True
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o640)
    os.close(descriptor)
    path.chmod(0o640)  # whatever the umask took away or left
    try:
        os.chown(path, -1, layout.APACHE_GROUP_ID)
    except PermissionError:
        return False
    return True
