"""The Docker bundle end to end: ``oersite hub config``'s output, deployed with hub/README.md's commands.

A real Docker engine (the tests' own, see dockerhelpers.py), the bundle's three
images built from a debootstrapped Debian, Apache over TLS in front of both
hubs, DockerSpawner starting a container per student and per visitor, and
Debian's Chromium clicking the buttons of the built course site.  All traffic
stays on 127.0.0.1: every container uses the host's network.

The deployment is shared by the tests of this module (building and starting it
is most of the time); each test uses students and visitors of its own, and the
one that restarts the stack leaves it running again.
"""

from __future__ import annotations

import errno
import functools
import json
import subprocess
import time
import uuid
from datetime import datetime

import pytest
import requests
from conftest import REPOSITORY
from support.browser import served
from support.docker_deployment import STUDENTS, deploy, readme_commands, undeploy
from support.hub_clients import follow, open_own_lab, run_code, server_prefix, xsrf
from support.journey_lab import (
    Network,
    click_launch_button,
    commit_all,
    error_outputs,
    keep_screenshot,
    loopback_context,
    run_all_cells,
    save,
    type_into_last_cell,
    user_prefix,
    wait_for_notebook,
)

from oersite.hub import layout

pytestmark = pytest.mark.slow

SCREENSHOTS = REPOSITORY / "_build" / "test-artifacts" / "docker-bundle"
CLONE = "course"
BOKEH_NOTEBOOK = "notebooks/bokeh/scatter.ipynb"
SECRET_VARIABLES = ("OERSITE_PROXY_SECRET", "CONFIGPROXY_AUTH_TOKEN", "PERSISTENT_PROXY_TOKEN", "EPHEMERAL_PROXY_TOKEN")


@pytest.fixture(scope="module")
def deployment(docker_engine, sample_course, built_sample, tmp_path_factory):
    started = time.monotonic()
    running = deploy(docker_engine, sample_course, tmp_path_factory.mktemp("docker-bundle"))
    print(f"bundle built and up in {time.monotonic() - started:.0f} s")
    for command, seconds in running.commands_run:
        print(f"{seconds:6.1f} s  {command}")
    yield running
    undeploy(running)


@pytest.fixture(scope="module")
def site_url(deployment):
    with served(deployment.course / "_build" / "html") as url:
        yield url


screenshot = functools.partial(keep_screenshot, folder=SCREENSHOTS)


def container(deployment, kind: str, user: str) -> dict | None:
    """What ``docker inspect`` says of a user's server container (None when there is none)."""
    prefix = {"persistent": "oersite-student", "ephemeral": "oersite-visitor"}[kind]
    names = [name for name in deployment.engine.names() if name.startswith(f"{prefix}-")]
    for name in names:
        found = deployment.engine.inspect("container", name)
        settings = (found or {}).get("Config") or {}  # None while Docker removes the container
        environment = dict(line.split("=", 1) for line in settings.get("Env") or [])
        if environment.get("JUPYTERHUB_USER") == user:
            return found
    return None


def wait_for(condition, seconds: float, what: str):
    deadline = time.monotonic() + seconds
    while not (result := condition()):
        assert time.monotonic() < deadline, f"{what}: not within {seconds} s"
        time.sleep(1)
    return result


def pooled_containers(deployment) -> list[str]:
    return [name for name in deployment.engine.names() if name.startswith("oersite-visitor-pool-")]


def pool_status(deployment, url: str) -> dict | None:
    """The warm pool's numbers, as the operator reads them; None while the hub restarts."""
    try:
        response = deployment.session().get(url, timeout=10)
    except requests.RequestException:
        return None
    return response.json() if response.status_code == 200 else None


def wait_for_room(deployment, visitors: int = 0, seconds: float = 150) -> None:
    """Until at most ``visitors`` visitors' containers run (others' leave when the culler takes them)."""
    wait_for(
        lambda: len([n for n in deployment.engine.names() if n.startswith("oersite-visitor-")]) <= visitors,
        seconds,
        f"at most {visitors} visitors on the ephemeral hub",
    )


def stop_own_server(session, hub_url: str, user: str) -> None:
    """What "Hub Control Panel → Stop My Server" does."""
    session.get(f"{hub_url}/hub/home", timeout=30)  # sets the hub's xsrf cookie
    response = session.delete(f"{hub_url}/hub/api/users/{user}/server", headers=xsrf(session, "/hub/"), timeout=60)
    assert response.status_code in (202, 204), response.text


def write_file(session, hub_url: str, prefix: str, path: str, text: str) -> None:
    response = session.put(
        f"{hub_url}{prefix}api/contents/{path}",
        headers=xsrf(session, prefix),
        json={"type": "file", "format": "text", "content": text},
        timeout=30,
    )
    assert response.status_code in (200, 201), response.text


def read_file(session, hub_url: str, prefix: str, path: str) -> str:
    response = session.get(f"{hub_url}{prefix}api/contents/{path}?content=1", timeout=30)
    assert response.status_code == 200, (response.status_code, response.text[:300])
    return response.json()["content"]


# The engine and the stack.


def test_the_stack_runs_on_loopback_without_a_docker_bridge(deployment):
    networks = deployment.engine.docker("network", "ls", "--format", "{{.Name}} {{.Driver}}").stdout.split("\n")
    assert sorted(line for line in networks if line) == ["host host", "none null"]
    links = subprocess.run(["ip", "-o", "link"], capture_output=True, text=True, check=True).stdout
    assert "docker0" not in links and " br-" not in links
    for service in ("apache", "persistent-hub", "persistent-proxy", "ephemeral-hub", "ephemeral-proxy"):
        found = deployment.engine.inspect("container", f"oersite_{service}_1")
        assert found["State"]["Running"], service
        assert found["HostConfig"]["NetworkMode"] == "host", service
    listening = subprocess.run(["ss", "-Hltn"], capture_output=True, text=True, check=True).stdout
    for hub in layout.HUBS.values():
        for port in (hub.proxy, hub.proxy_api, hub.hub):  # (the pool's service runs only with a pool)
            assert f"127.0.0.1:{port} " in listening, port
    for port in sorted(layout.internal_ports()):
        assert f"0.0.0.0:{port} " not in listening and f"*:{port} " not in listening, port


def test_apache_answers_over_tls_and_decides_who_the_user_is(deployment):
    hub = deployment.persistent_url
    anonymous = deployment.session()
    assert anonymous.get(f"{hub}/hub/api/user", timeout=30).status_code == 401
    spoofed = anonymous.get(f"{hub}/hub/login", headers={"X-Remote-User": "ada"}, timeout=30)
    assert spoofed.status_code == 401  # no credentials: the header alone is nothing
    with pytest.raises(requests.exceptions.SSLError):
        requests.Session().get(f"{hub}/hub/health", timeout=30, verify=True)  # self-signed: browsers are warned
    plain = requests.get(f"{hub.replace('https://', 'http://')}/hub/health", timeout=30)
    assert plain.status_code == 400  # plain HTTP on the TLS port

    bob = deployment.session("bob")
    bob.headers.update({"X-Remote-User": "ada", "X-Oersite-Proxy-Secret": "guessed"})
    bob.get(f"{hub}/hub/login", timeout=30)
    assert bob.get(f"{hub}/hub/api/user", timeout=30).json()["name"] == "bob"

    # Around Apache, straight to the hub on the server's loopback: refused without Apache's secret.
    around = requests.get(f"{layout.PERSISTENT.hub_url}/hub/login", headers={"X-Remote-User": "ada"}, timeout=30)
    assert around.status_code == 403


def test_open_in_hub_runs_the_notebook_in_the_students_own_container(deployment, site_url, browser, cdn):
    network = Network()
    context = loopback_context(
        browser,
        network,
        cdn,
        http_credentials={"username": "ada", "password": STUDENTS["ada"]},
        ignore_https_errors=True,
    )
    try:
        page = context.new_page()
        page.goto(f"{site_url}{BOKEH_NOTEBOOK.removesuffix('.ipynb')}.html", wait_until="load")
        lab = click_launch_button(page, "Open in hub")
        wait_for_notebook(lab, f"{CLONE}/{BOKEH_NOTEBOOK}")
        assert user_prefix(lab) == "/user/ada/"
        run_all_cells(lab)
        assert error_outputs(lab) == []
        plot = lab.locator(".jp-OutputArea-output div[data-root-id]").first
        plot.locator("canvas").first.wait_for(state="attached", timeout=30_000)
        plot.scroll_into_view_if_needed()
        screenshot(lab, "open-in-hub-ran")
        assert lab.evaluate("() => window.Bokeh.version") == cdn.bokeh_version
        assert network.refused_code() == []
        marker = f"# ada's note {uuid.uuid4().hex[:8]}"
        type_into_last_cell(lab, marker)
        save(lab, "scatter.ipynb")
    finally:
        context.close()

    server = container(deployment, "persistent", "ada")
    assert (
        server is not None
        and server["Config"]["Image"] == json.loads((deployment.hub / "hub-settings.json").read_text())["image"]
    )
    assert server["HostConfig"]["Memory"] == 768 * 1024 * 1024
    assert server["HostConfig"]["CpuQuota"] / server["HostConfig"]["CpuPeriod"] == 0.5
    home = next(mount for mount in server["Mounts"] if mount["Destination"] == layout.IMAGE_HOME)
    assert (home["Type"], home["Name"]) == ("volume", "oersite-home-ada")

    # The course data at the hub path: readable, not writable; the clone holds the saved edit.
    session = deployment.session("ada")
    open_own_lab(session, deployment.persistent_url)
    code = (
        "import os, pathlib\n"
        "data = pathlib.Path(os.environ['COURSE_DATA'])\n"
        "print(data, os.getuid(), (data / 'airports.csv').stat().st_size > 0, (data / 'datasets.yml').is_file())\n"
        "try:\n    (data / 'mine.txt').write_text('x')\nexcept OSError as error:\n    print('refused', error.errno)\n"
        f"print({marker!r} in pathlib.Path('{CLONE}/{BOKEH_NOTEBOOK}').read_text())"
    )
    output = run_code(session, deployment.persistent_url, "/user/ada/", code).split()
    # The data manifest is in the mount with the data; 30: EROFS.
    assert output == ["/srv/course-data", "1000", "True", "True", "refused", "30", "True"]


def test_a_students_files_survive_container_stack_and_image_changes(deployment):
    hub = deployment.persistent_url
    session = deployment.session("bob")
    prefix = server_prefix(open_own_lab(session, hub))
    note = f"bob's work {uuid.uuid4().hex}"
    write_file(session, hub, prefix, "notes.txt", note)

    # The student's container is removed (as by an operator, or a crash): the next start has the file.
    deployment.engine.docker("rm", "--force", container(deployment, "persistent", "bob")["Name"].strip("/"))
    # Once JupyterHub notices (it polls its servers), it shows "your server is not running" (424)
    # with a button to start it again: press it.
    wait_for(lambda: session.get(f"{hub}/user/bob/lab", timeout=30).status_code == 424, 90, "the hub noticed")
    follow(session, f"{hub}/hub/spawn/bob", lambda r: r.status_code == 200 and "/user/bob/" in r.url)
    assert read_file(session, hub, prefix, "notes.txt") == note

    # The whole stack restarted, then taken down (no -v) and brought up again.
    deployment.compose("restart")
    deployment.wait_until_up()
    assert read_file(session, hub, prefix, "notes.txt") == note
    deployment.compose("down")
    deployment.compose("up", "-d")
    deployment.wait_until_up()
    open_own_lab(session, hub)
    assert read_file(session, hub, prefix, "notes.txt") == note

    # A new package under a new tag: hub/README.md's upgrade commands; the next server runs the new image.
    config = deployment.course / "_config.yml"
    settings = json.loads((deployment.hub / "hub-settings.json").read_text())
    new_image = settings["image"] + "-2"  # as the hubs name it: in the course's registry (oersite.hub.registry)
    image = new_image.rsplit("/", 1)[-1]
    config.write_text(
        config.read_text().replace("  hub:\n", f"  hub:\n    image: {image}\n    packages: [tabulate==0.9.0]\n", 1)
    )
    for command in readme_commands("### Changing the students' environment"):
        deployment.run(command)
    deployment.wait_until_up()
    stop_own_server(session, hub, "bob")
    wait_for(lambda: container(deployment, "persistent", "bob") is None, 60, "bob's old container gone")
    open_own_lab(session, hub)
    assert container(deployment, "persistent", "bob")["Config"]["Image"] == new_image
    assert read_file(session, hub, prefix, "notes.txt") == note
    output = run_code(session, hub, prefix, "import tabulate; print(tabulate.__version__)")
    assert output.strip() == "0.9.0"


def test_try_now_gives_each_visitor_a_container_that_goes_when_they_do(deployment, site_url, browser, cdn):
    hub = deployment.ephemeral_url
    wait_for_room(deployment, visitors=0)
    network = Network()
    context = loopback_context(browser, network, cdn, ignore_https_errors=True)
    try:
        page = context.new_page()
        page.goto(f"{site_url}{BOKEH_NOTEBOOK.removesuffix('.ipynb')}.html", wait_until="load")
        lab = click_launch_button(page, "Try now")
        wait_for_notebook(lab, f"{CLONE}/{BOKEH_NOTEBOOK}")
        run_all_cells(lab)
        assert error_outputs(lab) == []
        lab.locator(".jp-OutputArea-output div[data-root-id] canvas").first.wait_for(state="attached", timeout=30_000)
        screenshot(lab, "try-now-ran")
        first_prefix = user_prefix(lab)
        first = first_prefix.split("/")[2]
        marker = f"# first visitor {uuid.uuid4().hex[:8]}"
        type_into_last_cell(lab, marker)
        save(lab, "scatter.ipynb")
        assert container(deployment, "ephemeral", first) is not None

        # A second visitor: a container of their own, without the first one's files or server.
        second_session = deployment.session()
        second_prefix = server_prefix(open_own_lab(second_session, hub))
        second = second_prefix.split("/")[2]
        assert second != first
        listing = run_code(second_session, hub, second_prefix, "import os; print(sorted(os.listdir('/home')))")
        assert listing.strip() == "['jovyan']"
        assert marker not in second_session.get(f"{hub}{second_prefix}api/contents/{CLONE}/{BOKEH_NOTEBOOK}").text
        intruding = second_session.get(f"{hub}{first_prefix}api/contents/{CLONE}/{BOKEH_NOTEBOOK}", timeout=30)
        assert intruding.status_code in (403, 404) and marker not in intruding.text

        # Both places taken (active_server_limit 2): the next visitor sees the "full" page.
        third = follow(deployment.session(), f"{hub}/hub/user-redirect/lab", lambda r: r.status_code == 429, seconds=60)
        assert "is full right now" in third.text

        # The first visitor logs out: their container goes at once.
        lab.goto(f"{hub}/hub/logout")
        wait_for(lambda: container(deployment, "ephemeral", first) is None, 30, "first visitor's container removed")
    finally:
        context.close()

    # The second visitor just leaves: after cull_idle_seconds (30 s), container and user are gone.
    wait_for(lambda: container(deployment, "ephemeral", second) is None, 120, "second visitor's container culled")
    wait_for(lambda: second not in deployment.hub_users("ephemeral"), 60, "second visitor's user deleted")
    assert not [
        name
        for name in deployment.engine.names("volume")
        if name.startswith("oersite-home-") and (first in name or second in name)
    ]
    # And the hub has room again.
    assert server_prefix(open_own_lab(deployment.session(), hub)).startswith("/user/")


def test_servers_get_no_docker_socket_no_hub_secret_and_no_other_home(deployment):
    wait_for_room(deployment, visitors=1)
    for kind, hub, user in (
        ("persistent", deployment.persistent_url, "ada"),
        ("ephemeral", deployment.ephemeral_url, None),
    ):
        session = deployment.session(user)
        prefix = server_prefix(open_own_lab(session, hub))
        name = user or prefix.split("/")[2]
        server = container(deployment, kind, name)
        environment = dict(line.split("=", 1) for line in server["Config"]["Env"])
        assert not set(SECRET_VARIABLES) & set(environment), kind
        mounts = {mount["Destination"]: mount for mount in server["Mounts"]}
        assert "/var/run/docker.sock" not in mounts and "/run/docker.sock" not in mounts, kind
        homes = [
            mount.get("Name", "") for mount in mounts.values() if mount.get("Name", "").startswith("oersite-home-")
        ]
        assert homes == ([f"oersite-home-{user}"] if user else []), kind
        assert server["Config"]["User"] == f"{layout.IMAGE_UID}:{layout.IMAGE_GID}", kind
        seen = run_code(
            session,
            hub,
            prefix,
            "import os; print(os.getuid(), os.path.exists('/var/run/docker.sock'), "
            f"any(k in os.environ for k in {SECRET_VARIABLES!r}))",
        )
        assert seen.split() == ["1000", "False", "False"], kind
        # What a student's code on the shared network could try: take a hub's port (root's: below
        # 1024), listen to another kernel (kernels use Unix sockets), raise its privileges.
        tried = json.loads(run_code(session, hub, prefix, PROBE_FROM_A_KERNEL.format(port=layout.PERSISTENT.hub)))
        assert tried == {
            "bind a hub port": errno.EACCES,
            "kernel transport": "ipc",
            "capabilities": 0,
            "no new privileges": 1,
        }, kind


#: What a kernel finds out about itself, as JSON.
PROBE_FROM_A_KERNEL = """
import errno, json, socket
from ipykernel.connect import get_connection_info
tried = {{}}
try:
    socket.create_server(("127.0.0.1", {port})).close()
    tried["bind a hub port"] = "bound"
except OSError as error:
    tried["bind a hub port"] = error.errno
tried["kernel transport"] = json.loads(get_connection_info())["transport"]
status = dict(line.split(":", 1) for line in open("/proc/self/status").read().splitlines() if ":" in line)
tried["capabilities"] = int(status["CapEff"].strip(), 16)
tried["no new privileges"] = int(status["NoNewPrivs"].strip())
print(json.dumps(tried))
"""


def test_students_servers_listen_on_the_loopback_only(deployment):
    session = deployment.session("bob")
    open_own_lab(session, deployment.persistent_url)
    listening = subprocess.run(["ss", "-Hltn"], capture_output=True, text=True, check=True).stdout.split("\n")
    servers = [
        line.split()[3] for line in listening if line and layout.in_server_range(int(line.split()[3].rsplit(":", 1)[1]))
    ]
    assert servers, "no server listening in the servers' port ranges"
    assert all(address.startswith("127.0.0.1:") for address in servers), servers


def test_nbgitpuller_brings_a_new_commit_into_the_students_clone(deployment):
    hub = deployment.persistent_url
    session = deployment.session("ada")
    open_own_lab(session, hub)
    (deployment.course / "book" / "later.md").write_text("# Added later\n", encoding="utf-8")
    commit_all(deployment.course, "A page added later")
    # What the page behind a launch link does in the browser: ask nbgitpuller's API to pull, and wait.
    settings = json.loads((deployment.hub / "hub-settings.json").read_text())
    pulled = session.get(f"{hub}/user/ada/git-pull/api?{settings['pull_query']}", timeout=120)
    assert pulled.status_code == 200, pulled.text[:300]
    assert '"phase": "finished"' in pulled.text, pulled.text[-500:]
    listing = session.get(f"{hub}/user/ada/api/contents/{CLONE}/book", timeout=30).json()
    assert "later.md" in [entry["name"] for entry in listing["content"]]


def test_the_notebook_image_serves_the_maps_libraries_and_opens_markdown_notebooks(deployment):
    """Issue 15 in the image: Folium's libraries from the server itself (no CDN), jupytext for .md notebooks."""
    hub = deployment.persistent_url
    session = deployment.session("ada")
    prefix = server_prefix(open_own_lab(session, hub))
    seen = json.loads(
        run_code(
            session,
            hub,
            prefix,
            "import json, folium, jupytext\nprint(json.dumps({name: url for name, url in folium.Map.default_js}))",
        )
    )
    assert seen, "folium.Map has no default scripts"
    assert all(url.startswith(f"{prefix}oersite-libraries/") for url in seen.values()), seen
    leaflet = session.get(f"{hub}{seen['leaflet']}", timeout=30)
    assert leaflet.status_code == 200 and b"Leaflet" in leaflet.content[:2000]


def test_run_code_hands_a_reader_a_container_and_a_token_for_it_alone(deployment):
    """The site's Run code button, as its page asks, through Apache over TLS: the course site's origin only."""
    wait_for_room(deployment, visitors=0)
    hub = deployment.ephemeral_url
    site, elsewhere = "https://oersite.example.org", "https://elsewhere.example"  # html.baseurl's origin, another
    asked = deployment.session().post(f"{hub}/hub/run-code", headers={"Origin": site}, timeout=180)
    assert asked.status_code == 200, asked.text
    assert asked.headers["Access-Control-Allow-Origin"] == site
    reader = asked.json()
    assert container(deployment, "ephemeral", reader["user"]) is not None  # a container of its own
    server, token = f"{hub}{reader['server']}", {"Authorization": f"token {reader['token']}"}
    status = deployment.session().get(f"{server}api/status", headers={**token, "Origin": site}, timeout=30)
    assert status.status_code == 200 and status.headers["Access-Control-Allow-Origin"] == site
    # Another site's page is refused by the container's server and by the hub; the token opens no hub API.
    refused = deployment.session().get(f"{server}api/status", headers={**token, "Origin": elsewhere}, timeout=30)
    assert refused.status_code == 403
    other_site = deployment.session().post(f"{hub}/hub/run-code", headers={"Origin": elsewhere}, timeout=30)
    assert other_site.status_code == 403
    assert deployment.session().get(f"{hub}/hub/api/users", headers=token, timeout=30).status_code == 403


def test_the_warm_pool_hands_a_visitor_a_container_started_before_the_click(deployment):
    """oersite.hub.ephemeral.pool on, as an operator turns it on: _config.yml, hub config, a hub restart.

    The module's last test: it leaves the ephemeral hub with a pool, and the deployment ends after it.
    """
    wait_for_room(deployment, visitors=0)
    config = deployment.course / "_config.yml"
    original = config.read_text()
    restart = "docker-compose -f hub/docker-compose.yml restart ephemeral-hub"
    config.write_text(original.replace("      pool: 0\n", "      pool: 1\n"))
    try:
        deployment.run("oersite hub config")
        deployment.run(restart)
        deployment.wait_until_up()
        status_url = f"{deployment.ephemeral_url}/services/oersite-pool/status"
        status = wait_for(
            lambda: (answer := pool_status(deployment, status_url)) and answer["ready"] >= 1 and answer,
            180,
            "a pooled server ready, in the pool's status",
        )
        assert status["size"] == 1, status
        # One container waits; one the pool let go of just after the restart (a start the hub
        # refused while it came up) may still be stopping.

        def one_waiting() -> list[str] | None:
            names = pooled_containers(deployment)
            return names if len(names) == 1 else None

        try:
            pooled = wait_for(one_waiting, 60, "exactly one pooled container")
        except AssertionError as failure:
            # Seen once in five full runs here, not understood yet: say what there was, for the diagnosis.
            log = deployment.run("docker-compose -f hub/docker-compose.yml logs --tail 60 ephemeral-hub")
            seen = f"pooled containers: {pooled_containers(deployment)}; status: {pool_status(deployment, status_url)}"
            raise AssertionError(f"{failure}\n{seen}\nthe ephemeral hub's last lines:\n{log}") from None
        waiting_since = deployment.engine.inspect("container", pooled[0])["State"]["StartedAt"]
        clicked = time.time()
        session = deployment.session()
        prefix = server_prefix(open_own_lab(session, deployment.ephemeral_url))
        assert prefix.startswith("/user/pool-"), prefix
        server = container(deployment, "ephemeral", prefix.split("/")[2])
        assert server["State"]["StartedAt"] == waiting_since  # the container that was waiting
        started = datetime.fromisoformat(waiting_since[:26] + "+00:00")  # Docker's nanoseconds cut to micro
        assert started.timestamp() < clicked
        # The course was cloned into it before the visitor came.
        cloned = run_code(
            session, deployment.ephemeral_url, prefix, "import os; print(os.path.isdir('course/notebooks'))"
        )
        assert cloned.strip() == "True"

        # A hub restart (the operator changed _config.yml, say) lets go of the server waiting in the
        # pool, which was made under the old settings, and starts another.
        waiting = wait_for(
            lambda: [name for name in pooled_containers(deployment) if name != pooled[0]],
            180,
            "the pool refilled after the hand-out",
        )
        deployment.run(restart)
        deployment.wait_until_up()
        wait_for(
            lambda: (answer := pool_status(deployment, status_url)) and answer["ready"] >= 1,
            180,
            "the pool ready again after the restart",
        )
        wait_for(lambda: waiting[0] not in pooled_containers(deployment), 120, "the old waiting container removed")
        assert pooled_containers(deployment), "no server waits in the pool after the restart"
    finally:
        config.write_text(original)  # the stack itself goes with the module's deployment
