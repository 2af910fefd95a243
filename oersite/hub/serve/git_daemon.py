"""The course repository for servers of another account: ``git daemon`` on 127.0.0.1, read-only."""

from __future__ import annotations

import os
import pwd
import subprocess
import time
from urllib.parse import urlsplit
from urllib.request import url2pathname

from oersite.errors import HubError
from oersite.git import git_message
from oersite.hub.serve.accounts import ServerAccount
from oersite.hub.serve.supervisor import RunningHubs, launch


def serve_repository(running: RunningHubs, repository: str | None, account: ServerAccount) -> dict[str, str]:
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
    launch(running, "git-daemon", [*daemon, git_dir], running.state, running.environment)
    served = f"git://127.0.0.1:{port}{git_dir}"
    deadline = time.monotonic() + 10
    while subprocess.run(["git", "ls-remote", served], capture_output=True).returncode != 0:
        if time.monotonic() > deadline:
            raise HubError(f"git daemon did not serve {folder} within 10 s; see {running.logs['git-daemon']}")
        time.sleep(0.1)
    return {"GIT_CONFIG_COUNT": "1", "GIT_CONFIG_KEY_0": f"url.{served}.insteadOf", "GIT_CONFIG_VALUE_0": repository}
