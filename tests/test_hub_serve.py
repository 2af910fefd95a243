"""Both hubs as real processes on 127.0.0.1: Apache with Basic auth in front of the persistent hub,
the ephemeral hub's proxy on its own port, SimpleLocalProcessSpawner, nbgitpuller and the culler.

One pair of hubs serves the whole module (started once, stopped after, also on failure).
"""

from __future__ import annotations

import errno
import json
import os
import re
import shutil
import signal
import socket
import sqlite3
import stat
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
import requests
from support.cli import oersite
from support.hub_clients import (
    browser_session,
    follow,
    free_port,
    open_own_lab,
    pull_then_sessions,
    run_code,
    server_prefix,
    write_users,
    xsrf,
)
from support.journey_lab import EPHEMERAL_CULL_SECONDS, USERS, hub_course

from oersite.config import load_course
from oersite.hub.serve import start_hubs
from oersite.hub.serve.accounts import server_area
from oersite.hub.serve.supervisor import STATE_MARKER
from oersite.launch import git_pull_url, launch_url

pytestmark = pytest.mark.slow

NOTEBOOK = "notebooks/bokeh/scatter.ipynb"


@pytest.fixture(scope="module")
def hubs(sample_course):
    # Not below pytest's own temporary folder, which only root may enter: the servers' account
    # must be kept out of the hubs' state and the course by hub serve itself.
    folder = Path(tempfile.mkdtemp(prefix="oersite-hubs-"))
    folder.chmod(0o755)
    course = load_course(hub_course(sample_course, folder))
    users = write_users(folder / "users.htpasswd", USERS)
    started = time.monotonic()
    running = start_hubs(
        course, persistent_port=free_port(), ephemeral_port=free_port(), users_file=users, announce=lambda _: None
    )
    print(f"hubs ready in {time.monotonic() - started:.1f} s")
    running.course = course
    yield running
    stopping = time.monotonic()
    running.stop()
    print(f"hubs stopped in {time.monotonic() - stopping:.1f} s")
    shutil.rmtree(folder, ignore_errors=True)
    if running.account.name:  # the servers' homes, outside the course as root keeps them
        shutil.rmtree(running.account.area, ignore_errors=True)


@pytest.fixture(scope="module")
def alice(hubs):
    """Alice, signed in through Apache, her server running."""
    session = browser_session("alice", USERS["alice"])
    open_own_lab(session, hubs.persistent_url)
    return session


def deep_link(hubs, hub_url: str) -> str:
    return launch_url(hubs.course.launch, hub_url, NOTEBOOK)


# The persistent hub, behind Apache.


def test_without_credentials_apache_answers_401(hubs):
    response = requests.get(f"{hubs.persistent_url}/hub/", timeout=10)
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith("Basic")


def test_deep_link_lands_alice_in_her_jupyterlab_with_the_notebook_pulled(hubs):
    from support.browser import chromium

    link = deep_link(hubs, hubs.persistent_url)
    with chromium() as browser:
        context = browser.new_context(http_credentials={"username": "alice", "password": USERS["alice"]})
        context.route("**/*", _only_this_machine)
        page = context.new_page()
        page.goto(link)
        page.wait_for_url(re.compile(rf"/user/alice/lab/tree/course/{re.escape(NOTEBOOK)}$"), timeout=90_000)
        page.locator(".lm-TabBar-tab.jp-mod-current", has_text="scatter.ipynb").wait_for(timeout=60_000)
        # The notebook's kernel started: JupyterLab's API calls and websockets pass Apache.
        page.get_by_text(re.compile(r"Python 3 \(ipykernel\) \| Idle")).first.wait_for(timeout=60_000)
        assert page.locator("text=official Jupyter news").count() == 0  # the news pop-up is off
        context.close()
    pulled = hubs.account.homes("persistent") / "alice" / "course" / NOTEBOOK
    assert pulled.is_file(), f"nbgitpuller did not clone the course into alice's home: {pulled}"


def test_a_first_launch_starts_the_notebooks_kernel_once_the_clone_has_it(hubs):
    # A clone folder no launch has made yet: the notebook arrives with the pull, and its kernel then.
    link = git_pull_url(
        hubs.persistent_url,
        repository=hubs.course.launch.repository,
        branch=hubs.course.launch.branch,
        clone_folder="first-launch",
        notebook=NOTEBOOK,
    )
    session = browser_session("bob", USERS["bob"])
    landed = follow(session, link, lambda r: r.status_code == 200 and "/user/bob/git-pull" in r.url)
    assert not (hubs.account.homes("persistent") / "bob" / "first-launch").exists()
    sessions = pull_then_sessions(session, landed)
    assert [(started["path"], started["kernel"]["name"]) for started in sessions] == [
        (f"first-launch/{NOTEBOOK}", "python3")
    ]
    prefix = server_prefix(landed)
    session.delete(f"{hubs.persistent_url}{prefix}api/sessions/{sessions[0]['id']}", headers=xsrf(session, prefix))


def _only_this_machine(route, request) -> None:
    if request.url.startswith(("http://127.0.0.1:", "ws://127.0.0.1:")):
        route.continue_()
    else:
        route.abort()


def test_a_kernel_runs_code_over_the_websocket_through_apache(hubs, alice):
    lab = open_own_lab(alice, hubs.persistent_url)
    assert server_prefix(lab) == "/user/alice/"
    code = (
        "import os, yaml; data = os.environ['COURSE_DATA']; "
        "print(6 * 7, data, len(yaml.safe_load(open(data + '/datasets.yml'))))"
    )
    output = run_code(alice, hubs.persistent_url, "/user/alice/", code)
    # The data manifest travels with the data: the student's kernel reads the datasets' credits.
    assert output.split() == ["42", str(hubs.account.data_dir), "6"]
    assert (hubs.account.data_dir / "airports.csv").read_bytes() == (hubs.course.data_dir / "airports.csv").read_bytes()


def test_a_user_header_sent_by_the_browser_is_ignored(hubs):
    bob = browser_session("bob", USERS["bob"])
    bob.get(f"{hubs.persistent_url}/hub/login", headers={"X-Remote-User": "alice"}, allow_redirects=False)
    who = bob.get(f"{hubs.persistent_url}/hub/api/user", headers={"X-Remote-User": "alice"}, timeout=10)
    assert who.status_code == 200
    assert who.json()["name"] == "bob"


def test_a_request_that_bypasses_apache_without_the_secret_gets_403(hubs):
    behind_apache = f"http://127.0.0.1:{hubs.ports.persistent_proxy}"
    forged = {"X-Remote-User": "alice"}
    response = requests.get(f"{behind_apache}/hub/login", headers=forged, allow_redirects=False, timeout=10)
    assert response.status_code == 403
    forged["X-Oersite-Proxy-Secret"] = "a guess"
    response = requests.get(f"{behind_apache}/hub/login", headers=forged, allow_redirects=False, timeout=10)
    assert response.status_code == 403
    assert "jupyterhub-hub-login" not in response.headers.get("Set-Cookie", "")


def test_the_hubs_databases_are_readable_by_the_hubs_alone(hubs, alice):
    for kind in ("persistent", "ephemeral"):
        database = hubs.state / kind / "jupyterhub.sqlite"
        assert database.stat().st_size > 0, "the hub uses the file made for it"
        assert stat.S_IMODE(database.stat().st_mode) == 0o600, (database, oct(database.stat().st_mode))


def test_a_request_through_the_proxy_without_a_user_gets_401(hubs):
    secret = (hubs.state / "proxy-secret").read_text().strip()
    behind_apache = f"http://127.0.0.1:{hubs.ports.persistent_proxy}"
    response = requests.get(
        f"{behind_apache}/hub/login", headers={"X-Oersite-Proxy-Secret": secret}, allow_redirects=False, timeout=10
    )
    assert response.status_code == 401


def test_when_the_proxy_says_someone_else_the_browser_is_signed_in_as_them(hubs):
    shared_browser = browser_session("bob", USERS["bob"])
    assert shared_browser.get(f"{hubs.persistent_url}/hub/api/user", timeout=10).status_code == 403
    shared_browser.get(f"{hubs.persistent_url}/hub/home", timeout=10)
    assert shared_browser.get(f"{hubs.persistent_url}/hub/api/user", timeout=10).json()["name"] == "bob"
    shared_browser.auth = ("alice", USERS["alice"])  # single sign-on now says alice, bob's cookie remains
    time.sleep(6)  # the authenticator compares header and cookie every auth_refresh_age (5 s)
    shared_browser.get(f"{hubs.persistent_url}/hub/home", timeout=10)
    assert shared_browser.get(f"{hubs.persistent_url}/hub/api/user", timeout=10).json()["name"] == "alice"


def test_a_user_added_to_the_users_file_can_sign_in(hubs):
    carol = browser_session("carol", "carol-password")
    assert carol.get(f"{hubs.persistent_url}/hub/home", timeout=10).status_code == 401
    subprocess.run(["htpasswd", "-bB", str(hubs.users_file), "carol", "carol-password"], check=True)
    hubs.sync_users()  # what oersite hub serve does every second
    response = carol.get(f"{hubs.persistent_url}/hub/home", timeout=10)
    assert response.status_code == 200
    assert carol.get(f"{hubs.persistent_url}/hub/api/user", timeout=10).json()["name"] == "carol"


def test_a_blocked_user_signed_in_by_the_proxy_is_refused(hubs):
    mallory = browser_session("mallory", USERS["mallory"])
    response = mallory.get(f"{hubs.persistent_url}/hub/login", allow_redirects=False, timeout=10)
    assert response.status_code == 403
    assert "may not use this hub" in response.text


@pytest.mark.parametrize("elsewhere", ["http://evil.example/steal", "//evil.example/steal", "https://evil.example"])
def test_next_pointing_at_another_host_is_refused(hubs, elsewhere):
    bob = browser_session("bob", USERS["bob"])
    response = bob.get(f"{hubs.persistent_url}/hub/login", params={"next": elsewhere}, allow_redirects=False)
    assert response.status_code == 302
    location = response.headers["Location"]
    assert "evil.example" not in location
    # Where JupyterHub sends a signed-in user by default: the hub, or bob's own server if it runs.
    assert location.startswith(("/hub/", "/user/bob/")), location


def test_bob_cannot_see_alices_server(hubs, alice):
    open_own_lab(alice, hubs.persistent_url)  # alice's server is running
    bob = browser_session("bob", USERS["bob"])
    bob.get(f"{hubs.persistent_url}/hub/login", timeout=30)
    for path in ("/user/alice/lab", "/user/alice/api/contents/course"):
        response = bob.get(f"{hubs.persistent_url}{path}", timeout=30)
        assert response.status_code in (403, 404), (path, response.status_code, response.url)
        assert "/user/bob/" not in response.url
    assert bob.get(f"{hubs.persistent_url}/hub/api/users/alice", timeout=10).status_code in (403, 404)


def test_alices_file_survives_a_server_restart_and_a_hub_restart(hubs, alice):
    hub = hubs.persistent_url
    open_own_lab(alice, hub)
    saved = alice.put(
        f"{hub}/user/alice/api/contents/notes.md",
        headers=xsrf(alice, "/user/alice/"),
        json={"type": "file", "format": "text", "content": "my notes"},
    )
    assert saved.status_code in (200, 201), saved.text

    def read_notes() -> str:
        open_own_lab(alice, hub)
        # As JupyterLab's text editor asks (with jupytext on the servers, a .md asked for
        # without a type comes back as a notebook: jupytext's documented default).
        response = alice.get(
            f"{hub}/user/alice/api/contents/notes.md", params={"type": "file", "format": "text"}, timeout=30
        )
        assert response.status_code == 200, response.text
        return response.json()["content"]

    alice.get(f"{hub}/hub/home", timeout=30)  # the hub's _xsrf cookie, as the home page's Stop button uses it
    stopped = alice.delete(f"{hub}/hub/api/users/alice/server", headers=xsrf(alice, "/hub/"))
    assert stopped.status_code in (202, 204), stopped.text
    follow(alice, f"{hub}/hub/api/user", lambda r: r.status_code == 200 and not r.json()["servers"], seconds=30)
    assert read_notes() == "my notes"

    hubs.restart_hub("persistent")
    assert read_notes() == "my notes"


# The ephemeral "Try now" hub.


def ephemeral_users(hubs) -> list[str]:
    with sqlite3.connect(hubs.state / "ephemeral" / "jupyterhub.sqlite") as database:
        return [name for (name,) in database.execute("select name from users")]


def ephemeral_homes(hubs) -> list[str]:
    return sorted(path.name for path in hubs.account.homes("ephemeral").iterdir())


#: What a visitor's kernel tries: who it is, and reading or writing what is not theirs.
REACH = """
import json, os, pathlib
tried = {"uid": os.getuid()}
for name, path in json.loads(os.environ["REACH"]).items():
    try:
        pathlib.Path(path).read_bytes() if name.startswith("read") else pathlib.Path(path).write_text("x")
        tried[name] = "allowed"
    except OSError as error:
        tried[name] = error.errno
print(json.dumps(tried))
"""


def test_visitors_get_their_own_servers_as_an_unprivileged_account_until_they_are_culled(hubs):
    link = deep_link(hubs, hubs.ephemeral_url)
    visitors = []
    for _ in range(2):
        session = browser_session()
        landed = follow(session, link, lambda r: r.status_code == 200 and "/user/" in r.url and "/hub/" not in r.url)
        visitors.append((session, server_prefix(landed)))
    names = [prefix.split("/")[2] for _, prefix in visitors]
    assert len(set(names)) == 2
    assert set(names) <= set(ephemeral_users(hubs))
    assert sorted(names) == ephemeral_homes(hubs)
    # pool: 0 is the hub without a warm pool: no service, no user of its own, every visitor spawned on arrival.
    assert not any(name.startswith("pool-") for name in names + ephemeral_users(hubs))
    assert requests.get(f"{hubs.ephemeral_url}/services/oersite-pool/status", timeout=10).status_code == 404

    # A visitor's kernel is not root, and reaches none of the hubs' secrets, the course or its data.
    assert os.geteuid() == 0, "run the tests as root (as CI does): hub serve then switches servers to an account"
    assert stat.S_IMODE(hubs.state.stat().st_mode) == 0o700
    assert stat.S_IMODE((hubs.state / "proxy-secret").stat().st_mode) == 0o600
    assert hubs.course.root.parent.stat().st_mode & stat.S_IXOTH  # so it is hub serve that keeps them out
    session, prefix = visitors[0]
    reach = {
        "read the hub's database": hubs.state / "ephemeral" / "jupyterhub.sqlite",
        "read the cookie secret": hubs.state / "persistent" / "jupyterhub_cookie_secret",
        "read the proxy secret": hubs.state / "proxy-secret",
        "write the course": hubs.course.root / "intro-by-a-visitor.md",
        "write the data": hubs.account.data_dir / "airports.csv",
        "write the hub state": hubs.state / "by-a-visitor",
    }
    code = f"import os; os.environ['REACH'] = {json.dumps({k: str(v) for k, v in reach.items()})!r}\n{REACH}"
    tried = json.loads(run_code(session, hubs.ephemeral_url, prefix, code))
    assert tried.pop("uid") != 0
    assert tried == dict.fromkeys(reach, errno.EACCES)

    # Both places taken (active_server_limit 2): the next visitor sees the friendly page.
    response = browser_session().get(link, timeout=30)
    assert response.status_code == 429
    assert "is full right now" in response.text and "try again" in response.text

    # They leave: after the cull timeout their servers, users and homes are gone.
    deadline = time.monotonic() + EPHEMERAL_CULL_SECONDS * 4
    while time.monotonic() < deadline and (ephemeral_users(hubs) or ephemeral_homes(hubs)):
        time.sleep(1)
    assert ephemeral_users(hubs) == []
    assert ephemeral_homes(hubs) == []
    response = requests.get(f"{hubs.ephemeral_url}{prefix}api/status", timeout=10)
    assert response.status_code != 200  # no server answers there any more


# The command.


def test_oersite_hub_serve_prints_both_urls_and_ctrl_c_stops_everything(sample_course, tmp_path):
    course = hub_course(sample_course, tmp_path)
    state = course / "_build" / "hub"
    users = write_users(tmp_path / "users.htpasswd", USERS)
    persistent, ephemeral = free_port(), free_port()
    command = [sys.executable, "-m", "oersite", "hub", "serve", str(course), "--users", str(users)]
    command += ["--persistent-port", str(persistent), "--ephemeral-port", str(ephemeral)]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        lines = []
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline and not any("Ctrl-C" in line for line in lines):
            line = process.stdout.readline()
            if not line:
                break
            lines.append(line)
        output = "".join(lines)
        assert f"http://127.0.0.1:{persistent}" in output, output
        assert f"http://127.0.0.1:{ephemeral}" in output, output
        assert requests.get(f"http://127.0.0.1:{persistent}/hub/", timeout=10).status_code == 401
        assert requests.get(f"http://127.0.0.1:{ephemeral}/hub/health", timeout=10).status_code == 200
        # Started as root, it says who the servers run as, and that they are not isolated.
        assert "Servers run as oersite-hub, not root" in output and "not isolated from each other" in output
        process.send_signal(signal.SIGINT)
        process.wait(30)
        assert process.returncode == 0, process.stdout.read()
    finally:
        if process.poll() is None:  # the test failed before Ctrl-C: stop it all the same
            process.terminate()
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        leftovers = _processes_of(state)
        for pid in leftovers:
            os.kill(pid, signal.SIGKILL)
        shutil.rmtree(server_area(state), ignore_errors=True)
    assert not leftovers, "processes of this hub outlived Ctrl-C"
    for port in (persistent, ephemeral):
        with pytest.raises(requests.ConnectionError):
            requests.get(f"http://127.0.0.1:{port}/", timeout=5)


def _processes_of(state: Path) -> list[int]:
    """Processes whose environment or command line names this state folder."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            environ = (entry / "environ").read_bytes()
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        if f"{STATE_MARKER}={state}".encode() in environ or str(state).encode() in cmdline:
            found.append(int(entry.name))
    return found


def test_a_port_in_use_is_named_with_the_option_that_moves_it(sample_course, tmp_path):
    course = hub_course(sample_course, tmp_path)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = oersite("hub", "serve", str(course), "--persistent-port", str(port))
    assert result.exit_code == 1
    assert f"127.0.0.1:{port} is in use" in result.output
    assert "--persistent-port" in result.output
    assert "Traceback" not in result.output
