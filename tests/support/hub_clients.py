"""What a student's browser does with the hubs, as small functions over requests and websocket-client."""

from __future__ import annotations

import base64
import json
import socket
import subprocess
import time
import uuid
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import requests
import websocket

#: Every wait is bounded; a single-user server starts in 5-8 s on two cores, slower under load.
SPAWN_SECONDS = 90


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def write_users(path: Path, users: dict[str, str]) -> Path:
    """An htpasswd file (bcrypt) with these users and passwords, the way an operator makes one."""
    for number, (name, password) in enumerate(users.items()):
        flags = "-cbB" if number == 0 else "-bB"
        subprocess.run(["htpasswd", flags, str(path), name, password], check=True, capture_output=True)
    return path


def browser_session(
    user: str | None = None, password: str | None = None, *, trust: Path | None = None
) -> requests.Session:
    """A browser's cookie jar (and Basic credentials); ``trust``: the one certificate to trust, for HTTPS.

    With ``trust`` the session ignores the environment (REQUESTS_CA_BUNDLE would
    otherwise replace the certificate given here).
    """
    session = requests.Session()
    if user:
        session.auth = (user, password)
    if trust is not None:
        session.trust_env = False
        session.verify = str(trust)
    return session


def follow(session: requests.Session, url: str, arrived, *, seconds: float = SPAWN_SECONDS) -> requests.Response:
    """GET ``url`` and keep reloading (as the spawn-pending page does) until ``arrived(response)``."""
    deadline = time.monotonic() + seconds
    response = session.get(url, timeout=30)
    while not arrived(response):
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up after {seconds} s at {response.status_code} {response.url}")
        time.sleep(0.5)
        response = session.get(response.url, timeout=30)
    return response


def open_own_lab(session: requests.Session, hub_url: str) -> requests.Response:
    """Open JupyterLab through the hub (starting the server if needed); return the lab page."""
    return follow(
        session,
        f"{hub_url}/hub/user-redirect/lab",
        lambda r: r.status_code == 200 and "/user/" in r.url and r.url.split("?")[0].endswith("/lab"),
    )


def server_prefix(response: requests.Response) -> str:
    """``/user/<name>/`` of the server a response came from."""
    path = response.url.split("://", 1)[1].split("/", 1)[1]
    parts = path.split("/")
    return f"/{parts[0]}/{parts[1]}/"


def server_url(response: requests.Response) -> str:
    """``http://host:port/user/<name>/``: the server a response came from."""
    parts = urlsplit(response.url)
    return f"{parts.scheme}://{parts.netloc}{server_prefix(response)}"


def xsrf(session: requests.Session, path: str) -> dict[str, str]:
    return {"X-XSRFToken": session.cookies.get("_xsrf", path=path) or ""}


def run_code(
    session: requests.Session, hub_url: str, prefix: str, code: str, *, seconds: float = 60, kernel: str | None = None
) -> str:
    """Run ``code`` over the kernel websocket, as JupyterLab does; return its stdout.

    In a kernel started for it and shut down after, or in the running ``kernel`` (an id), left running.
    """
    started = kernel is None
    if started:
        created = session.post(f"{hub_url}{prefix}api/kernels", headers=xsrf(session, prefix), json={"name": "python3"})
        assert created.status_code == 201, created.text
        kernel = created.json()["id"]
    headers = ["Cookie: " + "; ".join(f"{c.name}={c.value}" for c in session.cookies)]
    if session.auth:
        token = base64.b64encode(":".join(session.auth).encode()).decode()
        headers.append(f"Authorization: Basic {token}")
    ws_url = (
        hub_url.replace("https://", "wss://").replace("http://", "ws://") + f"{prefix}api/kernels/{kernel}/channels"
    )
    tls = {"ca_certs": session.verify} if isinstance(session.verify, str) else {}
    connection = websocket.create_connection(ws_url, header=headers, origin=hub_url, timeout=seconds, sslopt=tls)
    message_id = uuid.uuid4().hex
    try:
        connection.send(
            json.dumps(
                {
                    "header": {
                        "msg_id": message_id,
                        "username": "test",
                        "session": uuid.uuid4().hex,
                        "msg_type": "execute_request",
                        "version": "5.3",
                        "date": "",
                    },
                    "parent_header": {},
                    "metadata": {},
                    "content": {"code": code, "silent": False, "store_history": False, "allow_stdin": False},
                    "channel": "shell",
                    "buffers": [],
                }
            )
        )
        # The reply (shell channel) can overtake the output (iopub): the output is complete
        # when iopub reports the kernel idle for this request, as Jupyter's protocol says.
        output = []
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            message = json.loads(connection.recv())
            if message.get("parent_header", {}).get("msg_id") != message_id:
                continue
            if message["msg_type"] == "stream":
                output.append(message["content"]["text"])
            if message["msg_type"] == "status" and message["content"]["execution_state"] == "idle":
                return "".join(output)
        raise AssertionError(f"no reply from the kernel within {seconds} s")
    finally:
        connection.close()
        if started:
            session.delete(f"{hub_url}{prefix}api/kernels/{kernel}", headers=xsrf(session, prefix))


def pull_then_sessions(session: requests.Session, landed: requests.Response, *, seconds: float = 30) -> list[dict]:
    """Where the link landed (``landed``): pull as nbgitpuller's page does (unless the notebook opened at once,
    with nothing to pull), then the server's sessions, once it has one.

    Nobody asks for a session here; an empty list after ``seconds`` fails.
    """
    server = server_url(landed)
    if "/git-pull" in landed.url:
        query = parse_qs(urlsplit(landed.url).query)
        pull = {key: query[key][0] for key in ("repo", "branch", "targetpath")}
        with session.get(f"{server}git-pull/api", params=pull, stream=True, timeout=120) as stream:
            assert '"phase": "finished"' in "".join(stream.iter_lines(decode_unicode=True))
    deadline = time.monotonic() + seconds
    while True:
        listed = session.get(f"{server}api/sessions", timeout=30)
        assert listed.status_code == 200, f"no session was started for the linked notebook: {listed.text}"
        if listed.json():
            return listed.json()
        assert time.monotonic() < deadline, "no session was started for the linked notebook"
        time.sleep(0.5)
