"""The warm pool of the Try-now hub, on `oersite hub serve`: servers ready before anyone clicks.

Real hubs (as in test_hub_serve.py), the pool's service started by the
ephemeral hub, visitors as a browser's HTTP requests (journey_http.py).  Each
test waits for the pool to be full before it starts, so none depends on another.
"""

from __future__ import annotations

import json
import shutil
import sqlite3
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

import pytest
from conftest import REPOSITORY, git
from support.hub_clients import (
    browser_session,
    follow,
    free_port,
    pull_then_sessions,
    run_code,
    server_prefix,
    server_url,
    write_users,
    xsrf,
)
from support.journey_http import journey
from support.journey_lab import USERS, hub_course

from oersite.checks.hubs import pool_findings
from oersite.config import load_course
from oersite.hub.pool import READY_GROUP, STATUS_PATH, USER_PREFIX
from oersite.hub.serve import start_hubs
from oersite.launch import launch_url

pytestmark = pytest.mark.slow

POOL = 2
ARTIFACTS = REPOSITORY / "_build" / "test-artifacts" / "warm-pool"
CULL_SECONDS = 20
NOTEBOOK = "notebooks/bokeh/scatter.ipynb"
CLONE = "course"
POOL_SETTINGS = f"""
  hub:
    ephemeral:
      pool: {POOL}
      cull_idle_seconds: {CULL_SECONDS}
      concurrent_spawn_limit: 3
      active_server_limit: 8
"""


@pytest.fixture(scope="module")
def hubs(sample_course):
    folder = Path(tempfile.mkdtemp(prefix="oersite-pool-"))
    folder.chmod(0o755)
    course = hub_course(sample_course, folder, POOL_SETTINGS)
    loaded = load_course(course)
    running = start_hubs(
        loaded,
        persistent_port=free_port(),
        ephemeral_port=free_port(),
        users_file=write_users(folder / "users.htpasswd", USERS),
        announce=lambda _: None,
    )
    running.course = loaded
    yield running
    running.stop()
    shutil.rmtree(folder, ignore_errors=True)
    if running.account.name:
        shutil.rmtree(running.account.area, ignore_errors=True)


def pool_status(hubs) -> dict:
    with urllib.request.urlopen(f"{hubs.ephemeral_url}{STATUS_PATH}", timeout=10) as response:
        return json.loads(response.read())


def afterwards(hubs, *facts) -> str:
    """An assertion's message: its facts, the pool's status now, the end of the ephemeral hub's log.

    The pool's service and the idle culler write to that log too (hub-managed services inherit
    the hub's output): a culled waiting server, a service restart, a retirement show there.
    """
    try:
        status = pool_status(hubs)
    except (OSError, ValueError) as error:
        status = f"no status ({error!r})"
    log = hubs.logs.get("ephemeral-hub")
    # The hand-outs, sign-ins and removals of the whole run: the tail alone starts after them when spawns follow.
    words = ("Warm pool", "/hub/login", "/hub/tmplogin", "Culling", "culled", "DELETE /hub/api/users", "Deleting")
    try:
        text = Path(log).read_text(errors="replace")
        kept = ARTIFACTS / f"ephemeral-hub-{time.strftime('%H%M%S')}.log"  # the whole log, for a person to read
        kept.parent.mkdir(parents=True, exist_ok=True)
        kept.write_text(text, encoding="utf-8")
    except (OSError, TypeError) as error:
        text, kept = f"(no log: {error!r})", None
    lines = [line for line in text.splitlines() if any(word in line for word in words)]
    return (
        f"{facts}\nthe pool's status afterwards: {status}\nthe pool's and sign-ins' lines of {log}:\n"
        + "\n".join(lines[-150:])
        + f"\nthe end of {log} (all of it in {kept}):\n{hubs.log_tail('ephemeral-hub', 120)}"
    )


def full_pool(hubs, seconds: float = 120) -> dict:
    """Until every place of the pool has a ready server (the precondition of each test).

    The hub's own groups say so first: the service's status is from its last round (every
    2 s), so right after a test's hand-outs it still counts the servers just taken.
    """
    deadline = time.monotonic() + seconds
    while len(waiting_servers(hubs)) < POOL or (status := pool_status(hubs))["ready"] < POOL:
        assert time.monotonic() < deadline, f"the pool did not fill within {seconds} s: {pool_status(hubs)}"
        time.sleep(1)
    return status


def wait_for_status(hubs, condition, seconds: float = 15) -> dict:
    """Until the pool's status says ``condition`` (the service looks again every 2 s)."""
    deadline = time.monotonic() + seconds
    while not condition(status := pool_status(hubs)):
        assert time.monotonic() < deadline, f"the pool's status did not change: {status}"
        time.sleep(0.5)
    return status


def waiting_servers(hubs) -> list[str]:
    with sqlite3.connect(hubs.state / "ephemeral" / "jupyterhub.sqlite") as database:
        rows = database.execute(
            "select users.name from users join user_group_map on users.id = user_group_map.user_id "
            "join groups on groups.id = user_group_map.group_id where groups.name = ?",
            (READY_GROUP,),
        )
        return sorted(name for (name,) in rows)


def on_a_server(response) -> bool:
    """The visitor's browser has reached a server (nbgitpuller's page there)."""
    return response.status_code == 200 and "/user/" in response.url and "/hub/" not in response.url


def link(hubs) -> str:
    """The Try now button's link to the notebook, on this run's Try-now hub."""
    return launch_url(hubs.course.launch, hubs.ephemeral_url, NOTEBOOK, interface=hubs.course.launch.try_interface)


def test_two_visitors_at_once_each_get_a_waiting_server_of_their_own(hubs):
    before = full_pool(hubs)
    waiting = set(waiting_servers(hubs))
    arrivals: list = [None, None]

    def visit(index: int) -> None:
        arrivals[index] = journey(link(hubs), f"{CLONE}/{NOTEBOOK}", seconds=120)

    threads = [threading.Thread(target=visit, args=(index,)) for index in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    users = [arrival.user for arrival in arrivals]
    assert len(set(users)) == 2, users  # never the same server twice
    assert set(users) <= waiting, (users, waiting)  # both were waiting, started before the click
    counted = wait_for_status(hubs, lambda status: status["handed_out"] >= before["handed_out"] + 2)
    assert counted["handed_out"] == before["handed_out"] + 2
    print("two visitors at once, seconds to an idle kernel:", [round(arrival.seconds, 1) for arrival in arrivals])


def test_the_linked_notebooks_kernel_is_running_before_jupyterlab_asks_for_it(hubs):
    full_pool(hubs)
    session = browser_session()
    landed = follow(session, link(hubs), on_a_server)
    server = server_url(landed)
    # The waiting server got the course moments ago, so nothing is to pull: no nbgitpuller page, the notebook's own.
    assert landed.url == f"{server}notebooks/{CLONE}/{NOTEBOOK}", landed.url
    assert landed.history[-1].url.startswith(f"{server}git-pull?") and landed.history[-1].status_code == 302
    # Nobody has asked for a session: the server started the one JupyterLab is about to ask for.
    sessions = pull_then_sessions(session, landed)
    notebook = f"{CLONE}/{NOTEBOOK}"
    assert [(started["path"], started["type"], started["kernel"]["name"]) for started in sessions] == [
        (notebook, "notebook", "python3")
    ]
    # JupyterLab's own request for the notebook's session gets that kernel: no second one.
    created = session.post(
        f"{server}api/sessions",
        headers=xsrf(session, server_prefix(landed)),
        json={"path": notebook, "name": notebook.rsplit("/", 1)[-1], "type": "notebook", "kernel": {"name": "python3"}},
        timeout=60,
    )
    assert created.status_code == 201, created.text
    assert created.json()["kernel"]["id"] == sessions[0]["kernel"]["id"]
    assert [kernel["id"] for kernel in session.get(f"{server}api/kernels", timeout=30).json()] == [
        sessions[0]["kernel"]["id"]
    ]
    # It runs in the notebook's folder, as the kernel JupyterLab starts does.
    kernel = created.json()["kernel"]["id"]
    code = "import os; print(os.getcwd())"
    folder = run_code(session, hubs.ephemeral_url, server_prefix(landed), code, kernel=kernel)
    assert folder.strip().endswith(f"/{CLONE}/notebooks/bokeh"), folder


def test_a_visitor_who_comes_back_keeps_their_server(hubs):
    full_pool(hubs)
    session = browser_session()
    landed = follow(session, link(hubs), on_a_server)
    first = server_prefix(landed)
    assert first.startswith(f"/user/{USER_PREFIX}")
    again = follow(session, link(hubs), on_a_server)
    assert server_prefix(again) == first


def test_an_emptied_pool_refills_with_new_servers(hubs):
    full_pool(hubs)
    taken = set()
    for _ in range(POOL):
        session = browser_session()
        landed = follow(
            session, link(hubs), lambda r: r.status_code == 200 and "/user/" in r.url and "/hub/" not in r.url
        )
        taken.add(server_prefix(landed).split("/")[2])
    assert len(taken) == POOL
    full_pool(hubs)
    assert not taken & set(waiting_servers(hubs))  # new servers, not the ones handed out


def test_a_visitor_who_finds_the_pool_empty_gets_a_server_started_for_them(hubs):
    before = full_pool(hubs)
    visitors = [browser_session() for _ in range(POOL + 1)]
    names = []
    for session in visitors:  # one after another, faster than the pool refills
        landed = follow(
            session, link(hubs), lambda r: r.status_code == 200 and "/user/" in r.url and "/hub/" not in r.url
        )
        names.append(server_prefix(landed).split("/")[2])
    assert all(name.startswith(USER_PREFIX) for name in names[:POOL]), afterwards(hubs, names, before)
    assert not names[POOL].startswith(USER_PREFIX), afterwards(hubs, names, before)  # a user of its own
    wait_for_status(hubs, lambda status: status["found_empty"] >= before["found_empty"] + 1)


def test_the_pull_on_arrival_brings_what_was_committed_after_the_server_started(hubs):
    full_pool(hubs)
    course = hubs.course.root
    (course / "book" / "after-the-pool-started.md").write_text("# Later\n", encoding="utf-8")
    git(course, "add", "book")
    git(course, "-c", "user.name=Tests", "-c", "user.email=tests@oersite.invalid", "commit", "-q", "-m", "later")
    arrival = journey(link(hubs), f"{CLONE}/{NOTEBOOK}", seconds=120)
    assert arrival.user.startswith(USER_PREFIX)
    assert arrival.pulled  # something new upstream: nbgitpuller's page ran, as without a pool
    assert (hubs.account.homes("ephemeral") / arrival.user / CLONE / "book" / "after-the-pool-started.md").is_file()


def test_waiting_servers_outlive_the_cull_timeout(hubs):
    full_pool(hubs)
    waiting = waiting_servers(hubs)
    # Idle past the timeout (CULL_SECONDS), and then a look of the culler (every CULL_SECONDS / 2)
    # after that, with a few seconds to spare: a server the culler would take is gone by then.
    time.sleep(CULL_SECONDS * 1.5 + 5)
    assert set(waiting) <= set(waiting_servers(hubs))
    assert pool_status(hubs)["ready"] == POOL


def test_live_check_reports_the_pool(hubs):
    full_pool(hubs)
    (finding,) = pool_findings("index.html", f"hub {hubs.ephemeral_url}", hubs.ephemeral_url)
    assert finding.line().startswith(f"note: index.html: hub {hubs.ephemeral_url}: warm pool: {POOL} of {POOL}")
    assert pool_findings("index.html", "hub", hubs.persistent_url) == []  # no pool there (Apache asks to sign in)
