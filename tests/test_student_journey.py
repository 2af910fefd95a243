"""The student journey end to end: from a notebook page of the course site to that notebook running.

Real processes on 127.0.0.1 only: the built site, ``oersite hub serve`` (Apache
with Basic auth in front of the persistent hub, the ephemeral "Try now" hub),
and Debian's Chromium driven by Playwright.  A copy of the sample course is
built with its launch links pointing at two free ports, and the hubs are
started on those ports, so this module never needs 8000/8001.

Requests that would leave the machine are refused.  The Bokeh tests' contexts would
answer a request for BokehJS's CDN from this machine (see journey_lab.py; the hubs
embed BokehJS inline, so none comes); the maps' tests answer nothing: their libraries
come from the student's own server (oersite.hub.notebook_server).  Screenshots of
every landing go to _build/test-artifacts/student-journey/.
"""

from __future__ import annotations

import functools
import re
import subprocess
import sys
import uuid

import pytest
from conftest import REPOSITORY
from support.browser import served
from support.coursehelpers import write_myst_notebook
from support.journey_lab import (
    NO_CDN_FILES,
    Network,
    click_launch_button,
    commit_all,
    course_on_ports,
    error_outputs,
    free_port,
    hub_serve,
    keep_screenshot,
    kernel_idle,
    last_cell_text,
    loopback_context,
    notebook_source,
    notebook_tab,
    on_its_own_page,
    run_all_cells,
    save,
    shows_notebook,
    type_into_last_cell,
    user_prefix,
    wait_for_notebook,
    write_students,
)

pytestmark = pytest.mark.slow

SCREENSHOTS = REPOSITORY / "_build" / "test-artifacts" / "student-journey"
STUDENT, PASSWORD = "student1", "journey-password"
CLONE = "course"  # the sample course's oersite.launch.clone_folder

BOKEH_NOTEBOOK = "notebooks/bokeh/scatter.ipynb"
FOLIUM_NOTEBOOK = "notebooks/folium/markers.ipynb"


screenshot = functools.partial(keep_screenshot, folder=SCREENSHOTS)


def site_page(context, site_url: str, notebook: str):
    page = context.new_page()
    page.goto(f"{site_url}{notebook.removesuffix('.ipynb')}.html", wait_until="load")
    return page


@pytest.fixture(scope="module")
def hubs(sample_course, built_sample, tmp_path_factory):
    """``oersite hub serve`` on a built copy of the sample course, with one Basic-auth student."""
    folder = tmp_path_factory.mktemp("journey")
    hub_port, try_port = free_port(), free_port()
    course = course_on_ports(sample_course, folder, hub_port, try_port)
    users = write_students(folder / "users.htpasswd", {STUDENT: PASSWORD})
    with hub_serve(course, users, hub_port, try_port) as running:
        print(f"oersite hub serve answered in {running.started_in:.1f} s")
        yield running


@pytest.fixture(scope="module")
def site_url(hubs):
    with served(hubs.course / "_build" / "html") as url:
        yield url


@pytest.fixture(scope="module")
def first_visitor(browser, site_url, cdn):
    """A visitor who clicked Try now on the Bokeh page, ran all cells, typed a line and saved."""
    network = Network()
    context = loopback_context(browser, network, cdn)
    page = site_page(context, site_url, BOKEH_NOTEBOOK)
    screenshot(page, "1-site-bokeh-page")
    lab = click_launch_button(page, "Try now")
    wait_for_notebook(lab, f"{CLONE}/{BOKEH_NOTEBOOK}")
    screenshot(lab, "1-try-now-landing")
    run_all_cells(lab)
    plot = lab.locator(".jp-OutputArea-output div[data-root-id]").first
    plot.locator("canvas").first.wait_for(state="attached", timeout=30_000)
    plot.scroll_into_view_if_needed()
    screenshot(lab, "1-try-now-ran")
    marker = f"# first visitor {uuid.uuid4().hex[:8]}"
    type_into_last_cell(lab, marker)
    save(lab, "scatter.ipynb")
    yield {"context": context, "lab": lab, "network": network, "marker": marker, "prefix": user_prefix(lab)}
    context.close()


def test_try_now_opens_the_bokeh_notebook_and_its_plot_draws(first_visitor, cdn):
    lab, network = first_visitor["lab"], first_visitor["network"]
    # Try now opens the notebook on a page of its own (Notebook 7), with a way over to JupyterLab.
    assert on_its_own_page(lab) and shows_notebook(lab, f"{CLONE}/{BOKEH_NOTEBOOK}"), lab.url
    assert lab.title().startswith("scatter"), lab.title()
    assert lab.locator('.jp-NotebookPanel-toolbar jp-button[title="JupyterLab"]').count() == 1
    assert error_outputs(lab) == []
    plots = lab.locator(".jp-OutputArea-output div[data-root-id]")
    assert plots.count() >= 1
    assert plots.first.locator("canvas").count() >= 1
    # The BokehJS that drew it is the hub environment's own, the one the site ships too.
    assert lab.evaluate("() => window.Bokeh.version") == cdn.bokeh_version
    # (Embedded by the hub since BOKEH_RESOURCES=inline; a CDN request would have been answered from that Bokeh.)
    assert not [url for url in network.mirrored if "cdn.bokeh.org" in url and cdn.bokeh_version not in url]
    assert network.refused_code() == []


def test_open_in_hub_signs_in_runs_the_map_and_keeps_the_edit(browser, site_url, hubs):
    # No CDN stands in here: the map draws with the libraries the student's server serves.
    network = Network()
    context = loopback_context(
        browser, network, NO_CDN_FILES, http_credentials={"username": STUDENT, "password": PASSWORD}
    )
    try:
        page = site_page(context, site_url, FOLIUM_NOTEBOOK)
        screenshot(page, "2-site-folium-page")
        lab = click_launch_button(page, "Open in hub")
        wait_for_notebook(lab, f"{CLONE}/{FOLIUM_NOTEBOOK}")
        assert user_prefix(lab) == f"/user/{STUDENT}/"
        screenshot(lab, "2-open-in-hub-landing")
        run_all_cells(lab)
        assert error_outputs(lab) == []
        map_output = lab.locator(".jp-OutputArea-output iframe").first
        frame = map_output.content_frame
        frame.locator(".leaflet-container").wait_for(state="attached", timeout=30_000)
        frame.locator(".leaflet-marker-pane .awesome-marker").first.wait_for(state="attached", timeout=30_000)
        assert frame.locator(".leaflet-marker-pane .awesome-marker").count() >= 5
        # Leaflet, jQuery, Bootstrap, Font Awesome, the markers' plugin: from the student's own server.
        map_document = map_output.element_handle().content_frame()
        scripts = map_document.evaluate("() => [...document.scripts].map(s => s.getAttribute('src')).filter(Boolean)")
        assert f"/user/{STUDENT}/oersite-libraries/leaflet/leaflet.js" in scripts, scripts
        assert all(src.startswith(f"/user/{STUDENT}/oersite-libraries/") for src in scripts), scripts
        assert map_document.evaluate("() => typeof L.AwesomeMarkers") == "object"
        map_output.scroll_into_view_if_needed()
        screenshot(lab, "2-open-in-hub-ran")

        edit = f"# my own note {uuid.uuid4().hex[:8]}"
        type_into_last_cell(lab, edit)
        save(lab, "markers.ipynb")
        on_disk = hubs.home("persistent", STUDENT) / CLONE / FOLIUM_NOTEBOOK
        assert edit in notebook_source(on_disk)
        lab.close()

        # Later, the course moves on upstream, and the student clicks Open in hub again.
        (hubs.course / "book" / "later.md").write_text("# Added later\n", encoding="utf-8")
        commit_all(hubs.course, "A page added later")
        again = click_launch_button(page, "Open in hub")
        wait_for_notebook(again, f"{CLONE}/{FOLIUM_NOTEBOOK}")
        screenshot(again, "2-open-in-hub-again")
        assert edit in last_cell_text(again, edit)
        assert edit in notebook_source(on_disk)
        assert (hubs.home("persistent", STUDENT) / CLONE / "book" / "later.md").is_file()
        assert network.refused_code() == [] and network.mirrored == []
    finally:
        context.close()


def test_a_second_visitor_gets_another_server_without_the_first_visitors_files(browser, site_url, cdn, first_visitor):
    network = Network()
    context = loopback_context(browser, network, cdn)
    try:
        page = site_page(context, site_url, BOKEH_NOTEBOOK)
        lab = click_launch_button(page, "Try now")
        wait_for_notebook(lab, f"{CLONE}/{BOKEH_NOTEBOOK}")
        screenshot(lab, "3-second-visitor-landing")
        assert user_prefix(lab) != first_visitor["prefix"]
        assert first_visitor["marker"] not in last_cell_text(lab)
        kernel_idle(lab)
        # The first visitor's server refuses the second visitor.
        response = lab.goto(f"{lab.url.split('/user/')[0]}{first_visitor['prefix']}api/contents/{CLONE}")
        assert response.status in (403, 404), (response.status, response.url)
        assert first_visitor["marker"] not in response.text()
    finally:
        context.close()


def test_try_now_opens_a_myst_markdown_notebook_as_a_notebook_and_its_map_draws(browser, hubs):
    # A MyST Markdown lesson (jupytext front matter, {code-cell} blocks) added to the course.
    lesson = "notebooks/text/map_lesson.md"
    write_myst_notebook(
        hubs.course / lesson,
        "import folium",
        "folium.Map(location=[39.7, -105.0], zoom_start=6)",
        ("print('set up')", ["remove-input"]),
        title="A map lesson",
    )
    toc = hubs.course / "book" / "_toc.yml"
    toc.write_text(toc.read_text(encoding="utf-8") + f"      - file: {lesson.removesuffix('.md')}\n", encoding="utf-8")
    commit_all(hubs.course, "A MyST Markdown lesson")
    built = subprocess.run(
        [sys.executable, "-m", "oersite", "build", str(hubs.course)], capture_output=True, text=True, check=False
    )
    assert built.returncode == 0, built.stdout + built.stderr
    network = Network()
    context = loopback_context(browser, network, NO_CDN_FILES)
    try:
        with served(hubs.course / "_build" / "html") as url:
            page = site_page(context, url, lesson.removesuffix(".md"))
            lab = click_launch_button(page, "Try now")
            wait_for_notebook(lab, f"{CLONE}/{lesson}")
        screenshot(lab, "4-try-now-myst-markdown")
        # Open as a notebook (jupytext), not in the text editor: its cells are notebook cells.
        assert lab.locator(".jp-Notebook .jp-CodeCell").count() == 3
        assert lab.locator(".jp-FileEditor").count() == 0
        run_all_cells(lab)
        assert error_outputs(lab) == []
        frame = lab.locator(".jp-OutputArea-output iframe").first.content_frame
        frame.locator(".leaflet-container").wait_for(state="attached", timeout=30_000)
        frame.locator(".leaflet-control-zoom").wait_for(state="visible", timeout=30_000)
        screenshot(lab, "4-try-now-myst-markdown-ran")
        assert network.refused_code() == [] and network.mirrored == []
    finally:
        context.close()


def doubled_clone_404s(responses: list[tuple[int, str]], log: str) -> list[str]:
    """404s for a path with the clone folder twice (course/course/…): in the browser or in the hubs' log."""
    doubled = f"/{CLONE}/{CLONE}/"
    seen = [url for status, url in responses if status == 404 and doubled in url.replace("%2F", "/")]
    return seen + [line for line in log.splitlines() if " 404 " in line and doubled in line.replace("%2F", "/")]


def error_dialogs(lab) -> list[str]:
    """JupyterLab's dialogs open now ("Cannot open", "File Load Error", …), by their text."""
    return lab.locator(".jp-Dialog").all_inner_texts()


def server_logs(hubs) -> str:
    """What both hubs and their servers logged (``oersite hub serve`` keeps it in its state folder)."""
    return "\n".join(path.read_text(errors="replace") for path in sorted(hubs.state.glob("*/*-hub.log")))


@pytest.mark.parametrize(
    ("button", "credentials", "first"),
    [
        ("Open in hub", {"username": STUDENT, "password": PASSWORD}, "button"),
        ("Open in hub", {"username": STUDENT, "password": PASSWORD}, "hub home"),
    ],
)
def test_a_returning_student_lands_on_the_notebook_again_with_no_error(
    browser, site_url, hubs, button, credentials, first
):
    """Follow the same button again: the landing is as clean as the first (no "Cannot open:
    Could not find path: course/course/…" dialog, no 404 for a path with the clone folder twice).

    JupyterLab restores its workspace (open tabs, the file browser's folder) on a later visit,
    which is where a path taken relative to the wrong folder would show
    (jupyterlab/jupyterlab#12111). ``first``: the student's first visit, by the same button, or
    by signing in at the hub's own address (the server opens the course folder: its default URL).
    """
    network = Network()
    options = {"http_credentials": credentials} if credentials else {}
    context = loopback_context(browser, network, NO_CDN_FILES, **options)
    responses: list[tuple[int, str]] = []
    context.on("response", lambda response: responses.append((response.status, response.url)))
    name = f"5-{button.lower().replace(' ', '-')}-after-{first.replace(' ', '-')}"
    try:
        if first == "hub home":
            home = context.new_page()
            home.goto(f"{hubs.persistent_url}/hub/", wait_until="load")
            home.wait_for_url(re.compile(r"/user/[^/]+/lab(/|$)"), timeout=90_000)
            home.locator(".jp-DirListing-item").first.wait_for(timeout=60_000)
            screenshot(home, f"{name}-0")
            assert error_dialogs(home) == []
        page = site_page(context, site_url, FOLIUM_NOTEBOOK)
        for visit in (1, 2, 3):
            lab = click_launch_button(page, button)
            wait_for_notebook(lab, f"{CLONE}/{FOLIUM_NOTEBOOK}")
            lab.wait_for_timeout(2_000)  # a workspace's restored tabs open after the notebook's
            screenshot(lab, f"{name}-{visit}")
            assert error_dialogs(lab) == [], f"visit {visit}"
            assert notebook_tab(lab, f"{CLONE}/{FOLIUM_NOTEBOOK}").count() == 1
            assert lab.locator(f'#jp-main-dock-panel .lm-TabBar-tab[title*="Path: {CLONE}/{CLONE}/"]').count() == 0
            if visit == 1:
                lab.close()  # the student closed the tab; on visit 2 the one of visit 2 stays open
        # What JupyterLab restores next time (open tabs, the file browser's folder): the clone folder once.
        server = lab.url.split("/lab", 1)[0]
        workspaces = context.request.get(f"{server}/lab/api/workspaces").text()
        assert f"{CLONE}/{FOLIUM_NOTEBOOK}" in workspaces and f"{CLONE}/{CLONE}/" not in workspaces, workspaces
        assert doubled_clone_404s(responses, server_logs(hubs)) == []
    finally:
        context.close()


def test_in_the_classic_interface_a_returning_student_lands_on_the_notebook_again_with_no_error(
    browser, sample_course, built_sample, tmp_path
):
    """``interface: classic``: both buttons, followed twice each, open the notebook in Notebook 7 with no
    error dialog and no 404 for a path with the clone folder twice."""
    hub_port, try_port = free_port(), free_port()
    course = course_on_ports(sample_course, tmp_path, hub_port, try_port, interface="classic")
    users = write_students(tmp_path / "users.htpasswd", {STUDENT: PASSWORD})
    with hub_serve(course, users, hub_port, try_port) as hubs, served(course / "_build" / "html") as url:
        for button, credentials in (("Open in hub", {"username": STUDENT, "password": PASSWORD}), ("Try now", None)):
            network = Network()
            options = {"http_credentials": credentials} if credentials else {}
            context = loopback_context(browser, network, NO_CDN_FILES, **options)
            responses: list[tuple[int, str]] = []
            context.on("response", lambda response, seen=responses: seen.append((response.status, response.url)))
            try:
                page = site_page(context, url, FOLIUM_NOTEBOOK)
                for visit in (1, 2):
                    notebook = click_launch_button(page, button)
                    notebook.wait_for_url(
                        re.compile(rf"/user/[^/]+/notebooks/{CLONE}/{FOLIUM_NOTEBOOK}"), timeout=90_000
                    )
                    notebook.locator(".jp-Notebook .jp-Cell").first.wait_for(timeout=60_000)
                    notebook.wait_for_timeout(2_000)
                    screenshot(notebook, f"6-classic-{button.lower().replace(' ', '-')}-visit-{visit}")
                    assert error_dialogs(notebook) == [], f"{button}, visit {visit}"
                    assert notebook.title().startswith("markers"), notebook.title()
                    if visit == 1:
                        notebook.close()
                assert doubled_clone_404s(responses, server_logs(hubs)) == []
            finally:
                context.close()
