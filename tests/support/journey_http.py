"""The launch-button journey over plain HTTP: what the browser's page does, without a browser.

For crowds too large for one Chromium on two cores.  Same requests as a
browser after the click: follow the nbgitpuller link through the hub (sign-in,
spawn-pending page, reloaded until the server answers), let nbgitpuller pull
(the ``git-pull/api`` event stream its page reads), load the page the link
opens (JupyterLab, or the notebook on a page of its own) and the notebook,
start the notebook's session, and wait on the kernel's websocket for the
reply to ``kernel_info_request``: the moment the page shows the kernel idle.
"""

from __future__ import annotations

import base64
import json
import time
import uuid
from dataclasses import dataclass
from urllib.parse import parse_qs, urlsplit

import requests
import websocket

from support.hub_clients import server_url

SECONDS = 300


class SpawnFailed(Exception):
    """The hub answered with an error instead of a server: the visitor sees a failure page."""


@dataclass
class Arrival:
    seconds: float
    user: str
    full_pages: int  # times the hub answered 429 ("full") before the visitor got in
    pulled: bool  # nbgitpuller's page ran (False: the clone was current, the notebook opened at once)


def journey(link: str, notebook: str, auth: tuple[str, str] | None = None, *, seconds: float = SECONDS) -> Arrival:
    """Follow a launch ``link`` until ``notebook`` (a path below the server root) has an idle kernel."""
    started = time.monotonic()
    deadline = started + seconds
    session = requests.Session()
    session.auth = auth
    full_pages = 0
    response = session.get(link, timeout=60)
    while not (response.status_code == 200 and "/user/" in response.url and "/hub/" not in response.url):
        if time.monotonic() > deadline:
            raise TimeoutError(f"no server after {seconds} s: {response.status_code} {response.url}")
        if response.status_code == 429:  # the friendly "full" page: wait as it asks, then try the link again
            full_pages += 1
            time.sleep(min(float(response.headers.get("Retry-After", 5)), max(0.0, deadline - time.monotonic())))
            response = session.get(link, timeout=60)
            continue
        if response.status_code >= 500:  # the hub gave up on this server (JupyterHub's "Spawn failed" page)
            raise SpawnFailed(f"{response.status_code} at {response.url.split('?')[0]}")
        time.sleep(0.5)
        response = session.get(response.url, timeout=60)
    server = server_url(response)
    prefix = urlsplit(server).path
    query = parse_qs(urlsplit(link).query)
    # nbgitpuller's page, whose script pulls and then opens the notebook; or, with nothing to
    # pull, the notebook's page itself (oersite.hub.notebook_server.OpenAtOnce).
    pulled = "/git-pull" in response.url
    if pulled:
        pull = {key: query[key][0] for key in ("repo", "branch", "targetpath")}
        with session.get(f"{server}git-pull/api", params=pull, stream=True, timeout=120) as stream:
            for line in stream.iter_lines(decode_unicode=True):
                if line and line.startswith("data:") and json.loads(line[5:]).get("phase") in ("finished", "error"):
                    assert json.loads(line[5:])["phase"] == "finished", line
                    break
        opened = session.get(f"{server}{query['urlpath'][0]}", timeout=60)  # lab/tree/… or notebooks/…
        assert opened.status_code == 200, opened.status_code
    headers = {"X-XSRFToken": session.cookies.get("_xsrf", path=prefix) or ""}
    assert session.get(f"{server}api/contents/{notebook}", timeout=60).status_code == 200
    created = session.post(
        f"{server}api/sessions",
        headers=headers,
        json={"path": notebook, "name": notebook.rsplit("/", 1)[-1], "type": "notebook", "kernel": {"name": "python3"}},
        timeout=60,
    )
    assert created.status_code == 201, created.text
    kernel = created.json()["kernel"]["id"]
    _kernel_info(session, server, kernel, auth, deadline)
    return Arrival(time.monotonic() - started, prefix.strip("/").split("/")[1], full_pages, pulled)


def _kernel_info(session: requests.Session, server: str, kernel: str, auth, deadline: float) -> None:
    """Connect to the kernel's channels and wait for its kernel_info_reply, as JupyterLab does."""
    cookies = "; ".join(f"{c.name}={c.value}" for c in session.cookies)
    headers = [f"Cookie: {cookies}"]
    if auth:
        headers.append("Authorization: Basic " + base64.b64encode(":".join(auth).encode()).decode())
    origin = f"{urlsplit(server).scheme}://{urlsplit(server).netloc}"
    url = server.replace("http://", "ws://") + f"api/kernels/{kernel}/channels"
    connection = websocket.create_connection(
        url, header=headers, origin=origin, timeout=max(1, deadline - time.monotonic())
    )
    try:
        message_id = uuid.uuid4().hex
        header = {"msg_id": message_id, "username": "visitor", "session": uuid.uuid4().hex, "date": ""}
        connection.send(
            json.dumps(
                {
                    "header": {**header, "msg_type": "kernel_info_request", "version": "5.3"},
                    "parent_header": {},
                    "metadata": {},
                    "content": {},
                    "channel": "shell",
                    "buffers": [],
                }
            )
        )
        while time.monotonic() < deadline:
            message = json.loads(connection.recv())
            if (
                message.get("parent_header", {}).get("msg_id") == message_id
                and message["msg_type"] == "kernel_info_reply"
            ):
                return
        raise TimeoutError("no kernel_info_reply")
    finally:
        connection.close()
