"""The warm pool of the "Try now" hub: servers started ahead, each handed to one visitor on arrival.

tmpnb, which "Try now" stands for, kept notebook servers running before anyone
asked; a plain JupyterHub starts one on the click, and the visitor waits for it.
This module brings the pool back with JupyterHub's own extension points, no
patch:

- a **hub-managed service** (``python -m oersite.hub.pool``) keeps ``size``
  users ``pool-…`` with a running server, each with the course already cloned
  (it asks the server's nbgitpuller to pull, as a visitor's link would), and
  reports the pool at ``/services/oersite-pool/status`` and in the hub's log.
  A server that is starting belongs to the group ``oersite-pool-starting``; once
  it answers and has the course, to ``oersite-pool``.  The service marks the
  waiting servers active (so the idle culler leaves them), replaces any that
  waited longer than ``max_wait`` seconds, and refills the pool as servers are
  handed out; when the hub says it is full or busy (429) it waits.
- an **authenticator**, ``oersite.hub.authenticator.PooledTemporaryAuthenticator`` (tmpauthenticator's,
  for every visitor a new user), signs a new visitor in *as* a waiting pool
  user, taking it out of ``oersite-pool`` in the same step: the hub runs one
  event loop, and the choice and the removal happen with no ``await`` between
  them, so one server goes to exactly one visitor however many arrive at once.
  The visitor's launch link then runs nbgitpuller on that server, which merges
  whatever the course repository gained since.  With the pool empty the visitor
  gets a new user and a new server, as without a pool; the group's properties
  count how often that happened, and how many servers were handed out.

Handed out, a pool user is a visitor like any other: culled and deleted when
idle.  This module is the service, and the names both sides share: standard
library only.
"""

from __future__ import annotations

import datetime
import json
import logging
import os
import sys
import threading
import time
import urllib.error
import urllib.request
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

#: Waiting servers that have the course: the ones the authenticator hands out.
READY_GROUP = "oersite-pool"
#: Servers the service started that are not ready yet.
STARTING_GROUP = "oersite-pool-starting"
#: Pool users handed to a visitor (so the service never takes one back).
HANDED_OUT_GROUP = "oersite-pool-handed-out"
GROUPS = (READY_GROUP, STARTING_GROUP, HANDED_OUT_GROUP)
#: Pool users' names start with this; visitors see it in their server's URL.
USER_PREFIX = "pool-"
SERVICE_NAME = "oersite-pool"
#: Where the hub's proxy serves the pool's numbers, below the hub's URL.
STATUS_PATH = f"/services/{SERVICE_NAME}/status"
#: The service's settings, from its environment (see configurer.update_warm_pool).
SIZE_VARIABLE = "OERSITE_POOL_SIZE"
PULL_VARIABLE = "OERSITE_POOL_PULL"  # the nbgitpuller query every server is given on arrival
PROXY_VARIABLE = "OERSITE_POOL_PROXY"  # where the service reaches the servers: the hub's proxy
MAX_WAIT_VARIABLE = "OERSITE_POOL_MAX_WAIT"
INTERVAL_VARIABLE = "OERSITE_POOL_INTERVAL"
LISTEN_VARIABLE = "OERSITE_POOL_LISTEN"  # the status's address, when not its URL's host (in a pod)

#: Seconds a server may take to start and get the course before the pool lets it go.
STARTING_LIMIT = 600
#: Servers the pool starts at once: the rest of concurrent_spawn_limit stays the visitors'.
STARTS_AT_ONCE = 2
#: Seconds to wait after the hub refused to start a server (429), and between pulls that failed.
REFUSED_PAUSE = 10
PULL_PAUSE = 10
#: Seconds after a hand-out before the pool refills: the arriving visitors' first seconds
#: (JupyterLab, their kernel) are what they wait for; a refill then would compete with them.
REFILL_DELAY = 8

log = logging.getLogger("oersite.hub.pool")


# The service.


class HubApi:
    """The few REST calls the service makes, with its own token (JupyterHub's API, /hub/api)."""

    def __init__(self, url: str, token: str) -> None:
        self.url = url.rstrip("/")
        self.token = token

    def call(
        self,
        method: str,
        path: str,
        body: dict | None = None,
        *,
        base: str | None = None,
        token: str | None = None,
        timeout: float = 60,
    ):
        request = urllib.request.Request(
            (base or self.url) + path,
            method=method,
            data=json.dumps(body).encode() if body is not None else None,
            headers={"Authorization": f"token {token or self.token}", "Content-Type": "application/json"},
        )
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                text = response.read().decode("utf-8", "replace")
                return response.status, (json.loads(text) if text.strip().startswith(("{", "[")) else text)
        except urllib.error.HTTPError as error:
            return error.code, error.read().decode("utf-8", "replace")


class Pool:
    """One round of keeping the pool full (``keep``), and what it looks like (``last``)."""

    def __init__(self, api: HubApi, *, size: int, pull_query: str, proxy: str, max_wait: float) -> None:
        self.api = api
        self.size = size
        self.pull_query = pull_query
        self.proxy = proxy.rstrip("/")
        self.max_wait = max_wait
        self.started_at: dict[str, float] = {}
        self.busy: set[str] = set()  # pool users whose start, pull or removal runs in a thread
        self.next_pull: dict[str, float] = {}  # when a pull that failed may be tried again
        self.tokens: dict[str, str] = {}  # each starting user's token for its own server
        self.refused_until = 0.0  # the hub said 429: no new server before then
        self.calm_from = 0.0  # servers were just handed out: no new one before then
        self.handed_out_seen: int | None = None  # the hand-outs counted last round (None: not yet this run)
        self.lock = threading.Lock()
        self.last = {"size": size, "ready": 0, "starting": 0, "handed_out": 0, "found_empty": 0}

    def members(self, group: str) -> tuple[list[str], dict]:
        status, answer = self.api.call("GET", f"/groups/{group}")
        if status != 200 or not isinstance(answer, dict):
            return [], {}
        return list(answer.get("users", [])), dict(answer.get("properties") or {})

    def is_busy(self, name: str) -> bool:
        """Whether a thread of this service is starting, pulling or removing ``name``'s server now."""
        with self.lock:
            return name in self.busy

    def user(self, name: str) -> dict | None:
        status, answer = self.api.call("GET", f"/users/{name}")
        return answer if status == 200 and isinstance(answer, dict) else None

    def keep(self) -> dict:
        """One round: move servers that are ready into the pool, check the waiting ones, start what is missing.

        Starting a server, pulling the course into it and stopping one take
        seconds, so they run in threads of their own; the round, and the numbers
        it reports, never wait for them.
        """
        # STARTING before READY: prepare() joins READY before it leaves STARTING, so a server it
        # moves between the two reads is in at least one of the lists, never in neither (a second start).
        starting, _ = self.members(STARTING_GROUP)
        ready, properties = self.members(READY_GROUP)
        now = time.monotonic()
        for name in starting:
            if self.is_busy(name):  # its start, pull or removal is under way
                continue
            user = self.user(name)
            if user is None or STARTING_GROUP not in user.get("groups", []):
                continue  # gone, or moved on since the list was read
            server = (user.get("servers") or {}).get("")
            if now - self.started_at.setdefault(name, now) > STARTING_LIMIT or not server:
                self.retire(name, STARTING_GROUP)  # it failed to start, stopped, or never got the course
            elif server.get("ready") and now >= self.next_pull.get(name, 0):
                self.in_background(name, self.prepare)
        waiting = []
        moving = set()  # in READY while prepare() still runs: a place taken, not one to fill
        for name in ready:
            if self.is_busy(name):
                moving.add(name)
                continue
            if now - self.started_at.setdefault(name, now) > self.max_wait:
                self.retire(name)  # replaced by a fresh one (unless a visitor took it just now)
                continue
            user = self.user(name)
            if user is None or READY_GROUP not in user.get("groups", []):
                continue  # a visitor took it since the list was read
            if not ((user.get("servers") or {}).get("") or {}).get("ready"):
                self.retire(name)  # its server died while it waited
                continue
            waiting.append(name)
            self.keep_active(name)
        self.last = {
            "size": self.size,
            "ready": len(waiting),
            "starting": len(starting),
            "handed_out": int(properties.get("handed_out", 0)),
            "found_empty": int(properties.get("found_empty", 0)),
        }
        if self.handed_out_seen is not None and self.last["handed_out"] > self.handed_out_seen:
            # Visitors are arriving: their JupyterLab and kernels need the CPU now; refill once it is calm.
            self.calm_from = now + REFILL_DELAY
        self.handed_out_seen = self.last["handed_out"]
        missing = self.size - len(set(waiting) | set(starting) | moving)
        if time.monotonic() >= max(self.refused_until, self.calm_from):
            for _ in range(max(0, min(missing, STARTS_AT_ONCE - len(starting)))):
                name = self.create()
                if name is None:
                    break
                self.in_background(name, self.spawn)
        return self.last

    def in_background(self, name: str, work) -> None:
        with self.lock:
            self.busy.add(name)

        def run() -> None:
            try:
                work(name)
            except Exception:  # noqa: BLE001 (a thread's failure is logged, and the next round tries again)
                log.exception("Warm pool: %s failed for %s", work.__name__, name)
            finally:
                with self.lock:
                    self.busy.discard(name)

        threading.Thread(target=run, name=f"pool-{work.__name__}", daemon=True).start()

    def retire(self, name: str, group: str = READY_GROUP) -> bool:
        """Let go of a waiting server (waited too long, died, or left from before), unless a visitor took it.

        Out of its group first, so no visitor can take it from then on; then it
        is the pool's to remove only if the hub says, for sure, that it is not
        among the handed out.
        """
        self.api.call("DELETE", f"/groups/{group}/users", {"users": [name]})
        user = self.user(name)
        if user is None or HANDED_OUT_GROUP in user.get("groups", []):
            return False
        self.started_at.pop(name, None)
        self.next_pull.pop(name, None)
        self.tokens.pop(name, None)
        self.in_background(name, self.remove)
        return True

    def remove(self, name: str, seconds: float = 120) -> None:
        """Stop a pool user's server, then delete the user (JupyterHub refuses to delete one with a server up)."""
        self.api.call("DELETE", f"/users/{name}/server", timeout=seconds)
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            user = self.user(name)
            if user is None:
                return
            if not (user.get("servers") or {}):
                break
            time.sleep(0.5)
        deleted, answer = self.api.call("DELETE", f"/users/{name}")
        if deleted not in (204, 404):
            log.warning("Warm pool: could not delete %s (%s %s)", name, deleted, str(answer)[:200])

    def start_afresh(self) -> int:
        """Let go of every waiting server a previous run of the service left; how many there were.

        They were started, and given the course, under the settings of that run
        (a repository, an image, limits the operator may since have changed in
        ``_config.yml``), so a visitor must not get one: the pool refills in seconds.
        """
        retired = 0
        for group in (READY_GROUP, STARTING_GROUP):
            names, _ = self.members(group)
            for name in names:
                retired += self.retire(name, group)
        return retired

    def create(self) -> str | None:
        """A new pool user, counted as starting from now on; None when the hub refuses."""
        name = f"{USER_PREFIX}{uuid.uuid4().hex[:12]}"
        created, _ = self.api.call("POST", f"/users/{name}")
        if created not in (200, 201):
            return None
        self.api.call("POST", f"/groups/{STARTING_GROUP}/users", {"users": [name]})
        self.started_at[name] = time.monotonic()
        return name

    def spawn(self, name: str) -> None:
        """Start the pool user's server; when the hub says no (full, or busy starting others), wait and let it go."""
        spawned, _ = self.api.call("POST", f"/users/{name}/server", timeout=300)
        if spawned not in (201, 202):
            log.info("Warm pool: the hub does not start a server now (%s); trying again later", spawned)
            self.refused_until = time.monotonic() + REFUSED_PAUSE
            self.api.call("DELETE", f"/groups/{STARTING_GROUP}/users", {"users": [name]})
            self.remove(name)
            self.started_at.pop(name, None)

    def prepare(self, name: str) -> None:
        """A started server, once it has the course, joins the pool (from then on a visitor may get it)."""
        if not self.pull(name):
            self.next_pull[name] = time.monotonic() + PULL_PAUSE
            return
        user = self.user(name)  # still ours to hand out? (it may have been retired meanwhile)
        if user is None or STARTING_GROUP not in user.get("groups", []) or HANDED_OUT_GROUP in user["groups"]:
            return
        # Into READY first, out of STARTING second: keep() reads STARTING first, so it sees the server once.
        self.api.call("POST", f"/groups/{READY_GROUP}/users", {"users": [name]})
        self.api.call("DELETE", f"/groups/{STARTING_GROUP}/users", {"users": [name]})
        self.tokens.pop(name, None)
        self.next_pull.pop(name, None)

    def pull(self, name: str) -> bool:
        """The course into the server, as the launch link's nbgitpuller would (its API streams progress)."""
        if not self.pull_query:  # the hubs cannot reach the course repository: nothing to pull ahead
            return True
        token = self.tokens.get(name) or self.token_for(name)
        if token is None:
            return False
        status, answer = self.api.call(
            "GET", f"/user/{name}/git-pull/api?{self.pull_query}", base=self.proxy, token=token, timeout=300
        )
        finished = status == 200 and '"phase": "finished"' in str(answer)
        if not finished:
            log.warning("Warm pool: the course did not reach %s yet (%s)", name, status)
        return finished

    def token_for(self, name: str) -> str | None:
        """A short-lived token of the pool user's own, for its server alone.

        The service's role cannot reach servers: a single-user server cannot
        tell a group filter from a user's, so ``access:servers!group=`` is not
        honoured there.
        """
        made, token = self.api.call(
            "POST",
            f"/users/{name}/tokens",
            {"scopes": [f"access:servers!user={name}"], "expires_in": STARTING_LIMIT, "note": "warm pool: the course"},
        )
        if made not in (200, 201) or not isinstance(token, dict):
            log.warning("Warm pool: no token to reach %s (%s)", name, made)
            return None
        self.tokens[name] = token["token"]
        return token["token"]

    def keep_active(self, name: str) -> None:
        """Tell the hub the waiting server is in use, so that the idle culler leaves it alone."""
        now = datetime.datetime.now(datetime.UTC).isoformat().replace("+00:00", "Z")
        self.api.call("POST", f"/users/{name}/activity", {"servers": {"": {"last_activity": now}}})


class _StatusServer(ThreadingHTTPServer):
    """The status page's server: a request that fails is one line in the hub's log, not a traceback."""

    daemon_threads = True

    def handle_error(self, request, client_address) -> None:
        error = sys.exc_info()[1]
        if isinstance(error, ConnectionError):  # a visitor or a probe that left (reset, broken pipe)
            log.info("Warm pool: a status request from %s ended early (%s)", client_address[0], type(error).__name__)
        else:
            log.warning(
                "Warm pool: a status request from %s failed (%s: %s)", client_address[0], type(error).__name__, error
            )


def serve_status(pool: Pool, url: str) -> ThreadingHTTPServer:
    """``/services/oersite-pool/status``: the pool's numbers as JSON, for the operator and oersite check --live."""
    prefix = os.environ.get("JUPYTERHUB_SERVICE_PREFIX", f"/services/{SERVICE_NAME}/")

    class Status(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path.rstrip("/") != prefix + "status":
                self.send_error(404)
                return
            body = json.dumps(pool.last).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format, *args) -> None:  # noqa: A002
            pass

    parts = urlsplit(url)
    address = os.environ.get(LISTEN_VARIABLE) or parts.hostname or "127.0.0.1"
    server = _StatusServer((address, parts.port or 80), Status)
    threading.Thread(target=server.serve_forever, daemon=True, name="pool-status").start()
    return server


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="[%(levelname).1s %(asctime)s oersite-pool] %(message)s")
    environment = os.environ
    pool = Pool(
        HubApi(environment["JUPYTERHUB_API_URL"], environment["JUPYTERHUB_API_TOKEN"]),
        size=int(environment[SIZE_VARIABLE]),
        pull_query=environment[PULL_VARIABLE],
        proxy=environment[PROXY_VARIABLE],
        max_wait=float(environment.get(MAX_WAIT_VARIABLE, "900")),
    )
    if environment.get("JUPYTERHUB_SERVICE_URL"):
        serve_status(pool, environment["JUPYTERHUB_SERVICE_URL"])
    interval = float(environment.get(INTERVAL_VARIABLE, "2"))
    while True:
        try:
            retired = pool.start_afresh()
            break
        except OSError as error:  # the hub is still starting
            log.warning("Warm pool: cannot reach the hub yet (%s)", error)
            time.sleep(interval)
    if retired:
        log.info("Warm pool: let go of %d waiting servers from before the hub restarted", retired)
    shown = None
    while True:
        try:
            numbers = pool.keep()
        except (OSError, ValueError) as error:  # the hub restarting: try again next round
            log.warning("Warm pool: cannot reach the hub (%s)", error)
            numbers = pool.last
        if numbers != shown:
            log.info(
                "Warm pool: %(ready)d of %(size)d ready, %(starting)d starting; %(handed_out)d handed out, "
                "%(found_empty)d visitors found it empty",
                numbers,
            )
            shown = dict(numbers)
        time.sleep(interval)


if __name__ == "__main__":
    sys.exit(main())
