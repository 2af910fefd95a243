"""``oersite check`` finds what a reader would meet broken, one line per finding, on real built sites."""

from __future__ import annotations

import dataclasses
import html
import json
import re
import shutil
import socket
import threading

import pytest
from support.cli import oersite
from support.publish_courses import LAUNCH, built, git, git_course
from test_launch import TARGET as LAUNCH_TARGET

from oersite.checks import check_site
from oersite.checks.hubs import check_hubs, hub_problem
from oersite.checks.launch_links import check_launch_links, interfaces_of, parse_launch_link
from oersite.checks.links import check_links
from oersite.checks.outputs import check_notebook_outputs
from oersite.config import load_course
from oersite.hub.course_settings import hub_settings
from oersite.serve import make_server, site_url

REMOTE_SCRIPT = "https://cdn.example.org/lib.js"
REMOTE_STYLE_IN_MAP = "https://cdn.example.org/map.css"
#: A page with every kind of problem a page can have by itself.
BROKEN_PAGE = f"""# Problems

<a href="nowhere.html">a page that does not exist</a>

<a href="intro.html#no-such-section">a section that does not exist</a>

<a href="intro.html#welcome">a section that exists</a>

<script src="{REMOTE_SCRIPT}"></script>

<iframe srcdoc="{{map}}"></iframe>
""".replace("{map}", html.escape(f'<html><head><link rel="stylesheet" href="{REMOTE_STYLE_IN_MAP}"></head></html>'))


@pytest.fixture(scope="module")
def broken_course(tmp_path_factory):
    """One built course with one of each problem (besides a good notebook); returns (course, check report)."""
    root = git_course(
        tmp_path_factory.mktemp("broken") / "course",
        {
            "lessons/good.ipynb": ["print('fine')"],
            "lessons/errors.ipynb": ["1 / 0", ("int('x')", ["raises-exception"])],
            "lessons/data.ipynb": ["import os\nprint(open(os.environ['COURSE_DATA'] + '/values.csv').read())"],
        },
        pages={"problems": BROKEN_PAGE},
        uncommitted={"lessons/uncommitted.ipynb": ["print('not pushed yet')"]},
        config={"execute": {"execute_notebooks": "cache", "allow_errors": True}},
    )
    (root / "data").mkdir()
    (root / "data" / "values.csv").write_text("a,b\n1,2\n")
    git(root, "add", "data")
    git(root, "commit", "--quiet", "-m", "data")
    site = built(root)
    return root, check_site(load_course(root), site)


def lines(report, page):
    return [finding for finding in report.findings if finding.page == page]


@pytest.mark.slow  # builds a site
def test_the_sample_course_passes_every_check(sample_course, built_sample):
    site, _ = built_sample
    assert check_links(site) == []  # (how fast: benchmarks/check.py)

    result = oersite("check", sample_course)
    assert result.exit_code == 0, result.output
    assert re.search(r"Checked \d+ pages in [\d.]+ s: 0 errors, 0 warnings", result.output), result.output


@pytest.mark.slow  # builds a site
def test_broken_link_and_missing_anchor_are_found(broken_course):
    _, report = broken_course
    found = {(finding.what, finding.why.split(";")[0]) for finding in lines(report, "problems.html")}
    assert ("link nowhere.html", "404 File not found") in found
    assert ("link intro.html#no-such-section", "no anchor #no-such-section on intro.html") in found
    assert not any("#welcome" in what for what, _ in found)


@pytest.mark.slow  # builds a site
def test_remote_script_is_found_also_inside_an_iframe_srcdoc(broken_course):
    _, report = broken_course
    remote = {finding.what for finding in lines(report, "problems.html") if "another host" in finding.why}
    assert remote == {REMOTE_SCRIPT, REMOTE_STYLE_IN_MAP}


@pytest.mark.slow  # builds a site
def test_launch_link_to_a_notebook_not_committed_is_found(broken_course):
    _, report = broken_course
    (launch,) = [finding for finding in report.findings if finding.what.startswith("launch link")]  # once, two buttons
    assert (launch.page, launch.what) == ("lessons/uncommitted.html", "launch link to lessons/uncommitted.ipynb")
    assert "not committed on branch main" in launch.why


@pytest.mark.slow  # builds a site
def test_error_output_is_found_unless_the_lesson_shows_it_on_purpose(broken_course):
    _, report = broken_course
    errors = lines(report, "lessons/errors.html")
    assert [(finding.what, finding.why.split(";")[0]) for finding in errors] == [
        ("cell 2", "shows an error (ZeroDivisionError: division by zero)")
    ]


@pytest.mark.slow  # builds a site
def test_the_cli_prints_one_line_per_finding_and_fails(broken_course):
    root, report = broken_course
    result = oersite("check", root)
    assert result.exit_code == 1
    assert "error: problems.html: link nowhere.html: 404 File not found" in result.output
    assert "error: lessons/errors.html: cell 2: shows an error (ZeroDivisionError: division by zero)" in result.output
    assert f"{len(report.errors)} errors" in result.output
    assert "Traceback" not in result.output


@pytest.mark.slow  # builds a site
def test_page_is_stale_when_its_notebook_or_its_data_changed_since_the_build(broken_course, tmp_path):
    shared, _ = broken_course
    root = tmp_path / "course"  # a copy (times kept): the other tests' course stays as built
    shutil.copytree(shared, root, symlinks=True)
    course = load_course(root)
    good, data = root / "lessons" / "good.ipynb", root / "data" / "values.csv"
    good.write_text(good.read_text().replace("print('fine')", "print('changed')"))
    data.write_text("a,b\n3,4\n")
    findings = check_notebook_outputs(course, root / "_build" / "html")
    stale = {(found.page, found.why.split(";")[0]) for found in findings if "run oersite build" in found.why}
    assert stale == {
        ("lessons/good.html", "built from an older version of lessons/good.ipynb"),
        (
            "lessons/data.html",
            "the page shows outputs made from other code, data or packages than the notebook has now",
        ),
    }


@pytest.mark.slow  # builds a site
def test_launch_links_to_a_missing_branch_or_repository_are_found(tmp_path):
    root = git_course(tmp_path / "course", config={})
    site = built(root)
    git(root, "branch", "--move", "main", "renamed")
    findings = check_launch_links(load_course(root), site)
    assert [finding.why for finding in findings] == [
        "the repository has no branch 'main'; push it, or fix oersite.launch.branch"
    ]
    git(root, "branch", "--move", "renamed", "main")
    (root / ".git").rename(root / "moved.git")
    findings = check_launch_links(load_course(root), site)
    assert len(findings) == 1 and findings[0].why.startswith("cannot read the repository (")


def test_a_launch_link_is_taken_apart_as_nbgitpuller_reads_it():
    link = parse_launch_link(
        "lessons/a.html",
        "http://hub.example.org/hub/user-redirect/git-pull?repo=https%3A%2F%2Fgit.example.org%2Fcourse"
        "&branch=main&targetpath=course&urlpath=lab%2Ftree%2Fcourse%2Flessons%2Fa%20b.ipynb",
    )
    assert (link.hub_url, link.repository, link.branch, link.clone_folder, link.interface, link.notebook) == (
        "http://hub.example.org",
        "https://git.example.org/course",
        "main",
        "course",
        "lab",
        "lessons/a b.ipynb",
    )


def test_live_check_says_why_a_hub_cannot_take_students(tmp_path):
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{probe.getsockname()[1]}"
    assert hub_problem(closed).startswith(f"{closed}/hub/api does not answer (")

    server = make_server(tmp_path, 0)  # a web server, but no JupyterHub
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        not_a_hub = site_url(server).rstrip("/")
        assert hub_problem(not_a_hub) == (
            f"{not_a_hub}/hub/api answered 404 File not found; is JupyterHub running at that URL?"
        )
    finally:
        server.shutdown()
        server.server_close()


def test_each_button_s_links_are_held_to_its_own_interface():
    target = dataclasses.replace(LAUNCH_TARGET, try_url="https://try.uni.edu/")  # hub_url https://hub.uni.edu
    assert (target.interface, target.try_interface) == ("lab", "classic")
    assert interfaces_of(target, "https://hub.uni.edu") == ("lab",)
    assert interfaces_of(target, "https://try.uni.edu") == ("classic",)
    # A hub a notebook names in its own metadata: either button's interface is what the course set.
    assert interfaces_of(target, "https://other.uni.edu") == ("lab", "classic")
    same_hub = dataclasses.replace(target, try_url="https://hub.uni.edu")
    assert interfaces_of(same_hub, "https://hub.uni.edu/") == ("lab", "classic")


@pytest.mark.slow  # builds a site
def test_live_check_compares_each_hub_with_the_links(tmp_path):
    ports = []
    for _ in range(2):
        with socket.socket() as probe:  # ports nothing listens on: hubs that are down
            probe.bind(("127.0.0.1", 0))
            ports.append(probe.getsockname()[1])
    hub_url, try_url = (f"http://127.0.0.1:{port}" for port in ports)
    root = git_course(
        tmp_path / "course", config={"oersite": {"launch": {**LAUNCH, "hub_url": hub_url, "try_url": try_url}}}
    )
    site = built(root)
    settings = json.loads(hub_settings(load_course(root), local=True).to_json())
    settings["ephemeral_url"] = "http://127.0.0.1:1"  # set up for another try hub
    settings["clone_folder"] = "elsewhere"
    state = root / "_build" / "hub"
    state.mkdir(parents=True)
    (state / "hub-settings.json").write_text(json.dumps(settings))

    findings = check_hubs(load_course(root), site)
    found = {(finding.what, finding.why.split(";")[0], finding.severity) for finding in findings}
    assert found == {
        (f"hub {hub_url}", f"{hub_url}/hub/api does not answer ([Errno 111] Connection refused)", "error"),
        (f"hub {try_url}", f"{try_url}/hub/api does not answer ([Errno 111] Connection refused)", "error"),
        (
            f"hub {hub_url}",
            "set up by _build/hub/hub-settings.json with clone folder 'elsewhere' where the links have 'course': "
            "students would find the course in two places",
            "error",
        ),
        (
            f"hub {try_url}",
            "no hub-settings.json here names this hub, so its clone folder and interface cannot be compared "
            "with the links",
            "warning",
        ),
    }
