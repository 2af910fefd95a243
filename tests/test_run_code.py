"""The Run code button, end to end on `oersite hub serve`: a reader's page runs its cells on a Try-now server.

One copy of the sample course whose site is served on 127.0.0.1 at the address
``html.baseurl`` names (so the hubs let its pages in), its hubs started in this
process as in test_warm_pool.py, with a warm pool of two.  The reader is Debian's
Chromium with every request off 127.0.0.1 refused; the hand-out's guarantees are
checked with plain HTTP, as another site or a script would try them.  Requests that
should count as different readers say so in ``X-Forwarded-For``, as a proxy in front
of the hub would (the hub's own proxy appends 127.0.0.1, which the hub skips).
"""

from __future__ import annotations

import contextlib
import functools
import itertools
import json
import re
import shutil
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

import pytest
import requests
from support.browser import Traffic, chromium, offline_context
from support.hub_clients import free_port, write_users
from support.journey_lab import USERS, course_on_ports

from oersite.config import load_course
from oersite.hub.pool import STATUS_PATH
from oersite.hub.serve import start_hubs
from oersite.serve import QuietHandler, serve_on_loopback

pytestmark = pytest.mark.slow

POOL = 2
PER_MINUTE = 2
ACTIVE_LIMIT = 12
PAGE = "notebooks/bokeh/scatter.html"
NOTEBOOK = "course/notebooks/bokeh/scatter.ipynb"
SETTINGS = f"""
  hub:
    ephemeral:
      pool: {POOL}
      cull_idle_seconds: 600
      concurrent_spawn_limit: 3
      active_server_limit: {ACTIVE_LIMIT}
      run_code_per_minute: {PER_MINUTE}
"""
FULL_SENTENCE = "The Try-now hub is full right now"
STARTUP_SECONDS = 120


@pytest.fixture(scope="module")
def course_site(sample_course):
    """The sample course, launch links on free ports, published (html.baseurl) at a loopback address; built."""
    folder = Path(tempfile.mkdtemp(prefix="oersite-run-code-"))
    folder.chmod(0o755)
    ports = {"hub": free_port(), "try": free_port(), "site": free_port()}
    course = course_on_ports(
        sample_course,
        folder,
        ports["hub"],
        ports["try"],
        SETTINGS,
        site_port=ports["site"],
        before_build=add_a_lesson_with_hidden_set_up,
    )
    yield course, ports
    shutil.rmtree(folder, ignore_errors=True)


HIDDEN_PAGE = "notebooks/bokeh/hidden_set_up.html"


def add_a_lesson_with_hidden_set_up(course: Path) -> None:
    """A lesson as Jupyter Book authors write them: set-up code left off the page, and thebe-init cells."""
    import nbformat

    cells = [
        nbformat.v4.new_markdown_cell("# Hidden set-up"),
        nbformat.v4.new_code_cell("FACTOR = 6", metadata={"tags": ["remove-input"]}),
        nbformat.v4.new_code_cell(
            "import os\nSTARTED_IN = os.getcwd()", metadata={"tags": ["remove-cell", "thebe-init"]}
        ),
        nbformat.v4.new_code_cell("print('answer', FACTOR * 7)"),
        nbformat.v4.new_code_cell("AT_START = 'ran when the kernel started'", metadata={"tags": ["thebe-init"]}),
    ]
    notebook = nbformat.v4.new_notebook(
        cells=cells, metadata={"kernelspec": {"name": "python3", "display_name": "Python 3"}}
    )
    nbformat.write(notebook, course / "notebooks/bokeh/hidden_set_up.ipynb")
    toc = course / "book/_toc.yml"
    text = toc.read_text(encoding="utf-8")
    toc.write_text(
        text.replace(
            "      - file: notebooks/bokeh/binary_tree\n",
            "      - file: notebooks/bokeh/binary_tree\n      - file: notebooks/bokeh/hidden_set_up\n",
        ),
        encoding="utf-8",
    )


@pytest.fixture(scope="module")
def site(course_site):
    course, ports = course_site
    server = serve_on_loopback(
        functools.partial(QuietHandler, directory=str(course / "_build" / "html")), ports["site"]
    )
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{ports['site']}"
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="module")
def hubs(course_site):
    course, ports = course_site
    running = start_hubs(
        load_course(course),
        persistent_port=ports["hub"],
        ephemeral_port=ports["try"],
        users_file=write_users(course.parent / "users.htpasswd", USERS),
        announce=lambda _: None,
    )
    yield running
    running.stop()
    if running.account.name:
        shutil.rmtree(running.account.area, ignore_errors=True)


def pool_status(hubs) -> dict:
    with urllib.request.urlopen(f"{hubs.ephemeral_url}{STATUS_PATH}", timeout=10) as response:
        return json.loads(response.read())


def full_pool(hubs, seconds: float = STARTUP_SECONDS) -> None:
    deadline = time.monotonic() + seconds
    while (status := pool_status(hubs))["ready"] < POOL:
        assert time.monotonic() < deadline, f"the pool did not fill within {seconds} s: {status}"
        time.sleep(1)


def ask(hubs, site: str, reader: str, *, origin: str | None = None) -> requests.Response:
    """What the page's button asks the hub, as reader ``reader`` (an address) from ``origin`` (the site's)."""
    headers = {"Origin": origin or site, "X-Forwarded-For": reader}
    return requests.post(f"{hubs.ephemeral_url}/hub/run-code", headers=headers, timeout=STARTUP_SECONDS)


def server_url(hubs, answer: dict) -> str:
    return f"{hubs.ephemeral_url}{answer['server']}"


READERS = itertools.count(1)


@contextlib.contextmanager
def reader_page(site: str, traffic: Traffic | None = None, page_path: str = PAGE):
    """The notebook page in a browser of its own: a reader with nothing remembered, at an address of its own.

    The address is what a proxy in front of the hub would add (``X-Forwarded-For``),
    so that this module's readers, all on 127.0.0.1, do not share one rate limit.
    """
    address = f"10.8.0.{next(READERS)}"
    with chromium() as browser:
        context = offline_context(browser, traffic or Traffic())

        def as_reader(route, request) -> None:
            route.continue_(headers={**request.headers, "x-forwarded-for": address})

        context.route("**/hub/run-code", as_reader)
        page = context.new_page()
        page.on("console", lambda message: message.type == "error" and print("console:", message.text[:300]))
        page.goto(f"{site}/{page_path}")
        yield page
        context.close()


def press_run_code(page, seconds: float = STARTUP_SECONDS) -> None:
    page.get_by_role("button", name="Run code").click()
    page.get_by_role("status").filter(has_text="Ready").wait_for(timeout=seconds * 1000)


def cell(page, number: int):
    return page.locator("div.cell").filter(has=page.get_by_role("textbox", name=f"Code of cell {number}", exact=True))


def run_in_cell(page, number: int, code: str) -> None:
    editor = page.get_by_role("textbox", name=f"Code of cell {number}", exact=True)
    editor.fill(code)
    editor.press("Shift+Enter")
    page.get_by_role("status").filter(has_text=re.compile(rf"Cell {number} (ran|raised)")).wait_for(timeout=90_000)


def test_a_reader_edits_a_cell_runs_it_and_sees_its_new_output_in_place(hubs, site):
    full_pool(hubs)
    traffic = Traffic()
    with reader_page(site, traffic) as page:
        started = time.monotonic()
        press_run_code(page)
        print(f"Run code, pool full: ready in {time.monotonic() - started:.1f} s")
        run_in_cell(page, 2, "import os\nprint(6 * 7, os.getcwd(), bool(os.environ.get('COURSE_DATA')))")
        output = cell(page, 2).locator("div.cell_output")
        text = output.inner_text()
        assert text.startswith("42 "), text
        assert text.rstrip().endswith("/course/notebooks/bokeh True"), text  # the notebook's own folder, with data
        assert cell(page, 2).locator("div.cell_output").count() == 1  # in place of the stored output
        # An error is shown as one, and the page says so.
        run_in_cell(page, 3, "1 / 0")
        assert "ZeroDivisionError" in cell(page, 3).locator("div.cell_output").inner_text()
        assert "Cell 3 raised ZeroDivisionError" in page.get_by_role("status").inner_text()
    assert not traffic.loaded_from_outside(), traffic.blocked


def test_a_bokeh_plot_from_a_live_run_draws_with_the_pages_bokehjs(hubs, site):
    full_pool(hubs)
    with reader_page(site) as page:
        press_run_code(page)
        run_in_cell(
            page,
            2,
            "from bokeh.io import output_notebook, show\nfrom bokeh.plotting import figure\noutput_notebook()\n"
            "live = figure(title='Drawn live', width=300, height=200)\nlive.line([1, 2, 3], [3, 1, 2])\nshow(live)",
        )
        # Drawn by the BokehJS the page loaded: the live output's own inline copy was left out.
        cell(page, 2).locator(".oersite-live-output canvas").first.wait_for(timeout=30_000)
        assert page.locator("script[data-oersite-bokehjs]").count() >= 1


def test_a_folium_map_from_a_live_run_draws_with_the_servers_libraries(hubs, site):
    full_pool(hubs)
    traffic = Traffic()
    with reader_page(site, traffic, "notebooks/folium/markers.html") as page:
        press_run_code(page)
        run_in_cell(page, 1, "import folium\nfolium.Map(location=[52.5, 13.4], zoom_start=5)")
        frame = cell(page, 1).locator(".oersite-live-output iframe").first
        assert frame.get_attribute("title")  # named, as the book's maps are
        drawn = frame.element_handle().content_frame()
        drawn.wait_for_function("() => typeof L !== 'undefined' && document.querySelector('.leaflet-container')")
    # Leaflet came from the reader's server; only map tiles were refused (they are not code).
    assert not traffic.loaded_from_outside(), traffic.blocked


def test_a_reload_keeps_the_readers_server_and_its_kernel(hubs, site):
    full_pool(hubs)
    with reader_page(site) as page:
        press_run_code(page)
        first = page.evaluate("() => JSON.parse(sessionStorage.getItem('oersite-run-code')).user")
        run_in_cell(page, 2, "kept = 'still here'")
        page.reload()
        press_run_code(page, seconds=30)
        assert page.evaluate("() => JSON.parse(sessionStorage.getItem('oersite-run-code')).user") == first
        run_in_cell(page, 2, "print(kept)")
        assert cell(page, 2).locator("div.cell_output").inner_text().strip() == "still here"
        # Open in JupyterLab: the same server, the same notebook.
        with page.context.expect_page() as opened:
            page.get_by_role("button", name="Open in JupyterLab").click()
        lab = opened.value
        lab.wait_for_url(re.compile(rf"/user/{re.escape(first)}/lab/tree/{re.escape(NOTEBOOK)}"), timeout=60_000)


def test_set_up_the_page_leaves_out_runs_with_run_all_above_and_thebe_init_cells_at_start(hubs, site):
    full_pool(hubs)
    with reader_page(site, page_path=HIDDEN_PAGE) as page:
        assert "FACTOR = 6" not in page.inner_text("article")  # the page leaves the set-up out
        press_run_code(page)
        # The thebe-init cells ran as the kernel started: the page's own, and the one it leaves out.
        run_in_cell(page, 2, "print(AT_START, '|', STARTED_IN)")
        printed = cell(page, 2).locator("div.cell_output").inner_text()
        assert printed.startswith("ran when the kernel started | "), printed
        assert printed.rstrip().endswith("/course/notebooks/bokeh"), printed
        # A cell that needs set-up the page does not show: alone it fails, as in JupyterLab...
        run_in_cell(page, 1, "print('answer', FACTOR * 7)")
        assert "NameError" in cell(page, 1).locator("div.cell_output").inner_text()
        # ...and "Run all above" the next cell runs the hidden set-up first, then the cell.
        cell(page, 2).get_by_role("button", name="Run the cells above cell 2").click()
        page.get_by_role("status").filter(has_text="Cell 1 ran").wait_for(timeout=90_000)
        assert cell(page, 1).locator("div.cell_output").inner_text().strip() == "answer 42"


def test_two_readers_at_once_get_two_servers_and_a_third_ask_is_told_to_wait(hubs, site):
    full_pool(hubs)
    answers: list = [None, None]

    def reader(index: int) -> None:
        answers[index] = ask(hubs, site, "10.0.0.2")

    threads = [threading.Thread(target=reader, args=(index,)) for index in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert [answer.status_code for answer in answers] == [200, 200], [answer.text for answer in answers]
    users = {answer.json()["user"] for answer in answers}
    assert len(users) == 2, users
    assert all(answer.headers["Access-Control-Allow-Origin"] == site for answer in answers)
    # The same address a third time within the minute: 429, with when to come back.
    third = ask(hubs, site, "10.0.0.2")
    assert third.status_code == 429
    assert 1 <= int(third.headers["Retry-After"]) <= 61


def test_a_token_opens_its_own_server_and_nothing_else(hubs, site):
    full_pool(hubs)
    mine, other = (ask(hubs, site, f"10.0.1.{number}").json() for number in (1, 2))
    token = {"Authorization": f"token {mine['token']}"}
    assert requests.get(f"{server_url(hubs, mine)}api/status", headers=token, timeout=30).status_code == 200
    # Not another reader's server, not the hub's API (users, servers, tokens), not as an admin.
    assert requests.get(f"{server_url(hubs, other)}api/status", headers=token, timeout=30).status_code == 403
    hub_api = f"{hubs.ephemeral_url}/hub/api"
    assert requests.get(f"{hub_api}/users", headers=token, timeout=30).status_code == 403
    assert requests.post(f"{hub_api}/users/{other['user']}/server", headers=token, timeout=30).status_code == 403
    assert requests.post(f"{hub_api}/users/{mine['user']}/tokens", headers=token, timeout=30).status_code == 403
    assert requests.get(f"{hub_api}/user", headers=token, timeout=30).json().get("admin") in (None, False)


def test_other_sites_are_refused_by_the_hub_and_by_the_servers(hubs, site):
    full_pool(hubs)
    elsewhere = "https://elsewhere.example"
    refused = ask(hubs, site, "10.0.2.1", origin=elsewhere)
    assert refused.status_code == 403
    assert "Access-Control-Allow-Origin" not in refused.headers
    preflight = requests.options(
        f"{hubs.ephemeral_url}/hub/run-code",
        headers={"Origin": elsewhere, "Access-Control-Request-Method": "POST"},
        timeout=30,
    )
    assert preflight.status_code == 403 and "Access-Control-Allow-Origin" not in preflight.headers
    mine = ask(hubs, site, "10.0.2.2").json()
    token = {"Authorization": f"token {mine['token']}"}
    status = f"{server_url(hubs, mine)}api/status"
    # The course's site gets in, with the CORS header its page needs; another site's page does not.
    allowed = requests.get(status, headers={**token, "Origin": site}, timeout=30)
    assert allowed.status_code == 200 and allowed.headers["Access-Control-Allow-Origin"] == site
    assert requests.get(status, headers={**token, "Origin": elsewhere}, timeout=30).status_code == 403
    assert requests.options(status, headers={"Origin": elsewhere}, timeout=30).status_code == 403
    # The author's preview, on whichever port oersite serve was given, gets in like the site.
    preview = "http://localhost:9123"
    assert (
        requests.get(status, headers={**token, "Origin": preview}, timeout=30).headers.get(
            "Access-Control-Allow-Origin"
        )
        == preview
    )
    asked = ask(hubs, site, "10.0.2.3", origin=preview)
    assert asked.status_code == 200 and asked.headers["Access-Control-Allow-Origin"] == preview


def test_a_full_hub_is_one_sentence_and_the_stored_outputs_stay(hubs, site):
    # Ask, each time as another reader, until the hub says it is full and the pool has nothing left.
    deadline = time.monotonic() + 240
    number = 0
    while True:
        assert time.monotonic() < deadline, pool_status(hubs)
        number += 1
        answer = ask(hubs, site, f"10.0.3.{number}")
        status = pool_status(hubs)
        if answer.status_code == 429 and status["ready"] == 0 and status["starting"] == 0:
            break
    with reader_page(site) as page:
        stored = page.locator("div.cell_output").all_inner_texts()
        page.get_by_role("button", name="Run code").click()
        page.get_by_role("status").filter(has_text=FULL_SENTENCE).wait_for(timeout=30_000)
        assert page.locator("div.cell_output").all_inner_texts() == stored
        assert page.get_by_role("textbox").count() == 0  # nothing made editable: the page is as it was
