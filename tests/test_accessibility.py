"""Accessibility (WCAG 2.1 A and AA) of the built pages, in Debian's Chromium.

axe-core's audit (``oersite check --accessibility``) over every page of the sample course, and
on a page made to fail it; the launch buttons used with the keyboard alone, as axe cannot.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from playwright.sync_api import expect
from support.browser import Traffic, chromium, offline_context, served
from support.cli import oersite
from support.coursehelpers import make_course

from oersite.checks.accessibility import AXE_SCRIPT, check_accessibility, violation_findings
from oersite.checks.findings import ERROR, WARNING
from oersite.launch import OPEN_IN_HUB, TRY_NOW

#: A 1x1 PNG, so the image is there and only its missing text alternative is wrong.
PIXEL = "data:image/png;base64," + (
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=="
)
INACCESSIBLE_PAGE = f"""# Hard to perceive

<p style="color: #c8c8c8">Light grey on white: too faint to read for many.</p>

<img src="{PIXEL}" width="40" height="40">
"""
#: A notebook page of the sample course, with both launch buttons.
NOTEBOOK_PAGE = "notebooks/bokeh/scatter.html"
#: Tab presses within which a reader must reach the launch buttons (the sidebar's links come first).
MOST_TABS = 40
FOCUS_RING = """element => {
  const style = getComputedStyle(element);
  const outline = style.outlineStyle !== "none" && parseFloat(style.outlineWidth) > 0;
  return [outline ? `outline ${style.outlineStyle} ${style.outlineWidth} ${style.outlineColor}` : null,
          style.boxShadow !== "none" ? `box-shadow ${style.boxShadow}` : null].filter(Boolean).join(", ");
}"""


@pytest.mark.slow  # builds the sample course and opens every page in Chromium
def test_no_page_of_the_sample_course_has_a_serious_or_critical_wcag_violation(built_sample):
    site, _ = built_sample
    findings = check_accessibility(site)
    errors = [finding for finding in findings if finding.severity == ERROR]
    assert not errors, "axe-core found on the sample course:\n" + "\n".join(finding.line() for finding in findings)


@pytest.mark.slow  # builds the sample course
def test_axe_core_stays_with_the_checker_and_out_of_the_site(built_sample):
    site, _ = built_sample
    assert AXE_SCRIPT.is_file()
    assert [path.relative_to(site).as_posix() for path in site.rglob("*axe*")] == []


@pytest.fixture(scope="module")
def inaccessible_course(tmp_path_factory) -> Path:
    """A built course with a good introduction and a page of faint text and an image without alt text."""
    course = make_course(tmp_path_factory.mktemp("a11y") / "course", notebooks={}, extra_chapters=["faint"])
    (course / "faint.md").write_text(INACCESSIBLE_PAGE, encoding="utf-8")
    result = oersite("build", str(course), "--strict")
    assert result.exit_code == 0, result.output
    return course


@pytest.mark.slow  # builds a course and opens its pages in Chromium
def test_faint_text_and_an_image_without_alt_text_fail_the_accessibility_check(inaccessible_course):
    result = oersite("check", str(inaccessible_course), "--accessibility")
    assert result.exit_code == 1, result.output
    lines = result.output.splitlines()
    assert any(line.startswith("error: faint.html: image-alt (") for line in lines), result.output
    contrast = [line for line in lines if line.startswith("error: faint.html: color-contrast (")]
    assert contrast and "insufficient color contrast" in contrast[0], result.output
    assert not any(line.startswith("error: intro.html") for line in lines), result.output
    assert "Traceback" not in result.output


def test_an_axe_violation_becomes_one_finding_graded_by_its_impact():
    violations = [
        {
            "id": "aria-command-name",
            "impact": "serious",
            "help": "ARIA commands must have an accessible name",
            "helpUrl": "https://dequeuniversity.com/rules/axe/4.14/aria-command-name",
            "nodes": [
                {"target": ["iframe", ".marker:nth-child(1)"], "any": [{"message": "Element has no  title"}]},
                {"target": ["iframe", ".marker:nth-child(2)"]},
            ],
        },
        {"id": "region", "impact": "moderate", "help": "All page content should be contained by landmarks",
         "helpUrl": "https://dequeuniversity.com/rules/axe/4.14/region", "nodes": [{"target": ["#notice"]}]},
    ]  # fmt: skip
    serious, moderate = violation_findings("maps.html", violations)
    assert serious.line() == (
        "error: maps.html: aria-command-name (ARIA commands must have an accessible name): serious, "
        "at iframe >>> .marker:nth-child(1) and 1 more: Element has no title; "
        "see https://dequeuniversity.com/rules/axe/4.14/aria-command-name"
    )
    assert (moderate.severity, moderate.what) == (WARNING, "region (All page content should be contained by landmarks)")


REFRESHING = (
    '<!DOCTYPE html><html lang="en"><head><title>{title}</title>'
    '<meta http-equiv="Refresh" content="{delay}; url=lesson.html" /></head><body></body></html>'
)
LESSON = (
    '<!DOCTYPE html><html lang="en"><head><title>A lesson</title></head>'
    "<body><main><h1>A lesson</h1><p>Read on.</p></main></body></html>"
)


@pytest.mark.slow  # opens pages in Chromium
def test_a_page_that_sends_the_reader_on_is_left_to_the_page_it_leads_to(tmp_path):
    # Jupyter Book's index.html refreshes at once; a busy machine starts the refresh at any moment after
    # the load, in the middle of the audit. Neither page may come out as "not audited".
    (tmp_path / "index.html").write_text(REFRESHING.format(title="Course", delay=0))
    (tmp_path / "later.html").write_text(REFRESHING.format(title="Moved", delay=0.3))
    (tmp_path / "lesson.html").write_text(LESSON)
    for _ in range(3):
        assert check_accessibility(tmp_path) == []
    (tmp_path / "lesson.html").write_text(LESSON.replace(' lang="en"', ""))
    assert [(finding.page, finding.what.split()[0]) for finding in check_accessibility(tmp_path)] == [
        ("lesson.html", "html-has-lang")
    ]


@pytest.mark.slow  # builds the sample course
def test_without_chromium_the_accessibility_check_is_one_line(built_sample, tmp_path):
    """Only python and git on the PATH: no chromium to find."""
    site, _ = built_sample
    bin_folder = tmp_path / "bin"
    bin_folder.mkdir()
    for program, path in (("python", sys.executable), ("git", subprocess.check_output(["which", "git"], text=True))):
        (bin_folder / program).symlink_to(path.strip())
    environment = {**os.environ, "PATH": str(bin_folder), "PYTHONPATH": str(Path(__file__).parent.parent)}
    completed = subprocess.run(
        [sys.executable, "-m", "oersite", "check", str(site.parent.parent), "--accessibility"],
        capture_output=True,
        text=True,
        env=environment,
        timeout=120,
    )
    assert completed.returncode == 1, completed.stdout + completed.stderr
    assert completed.stdout == ""
    assert completed.stderr.strip().splitlines() == [
        "Error: no chromium on the PATH; install Debian's chromium (apt-get install chromium)"
    ]


@pytest.mark.slow  # builds the sample course and drives Chromium
@pytest.mark.parametrize(
    ("name", "says", "hub"),
    [
        (OPEN_IN_HUB, "saved copy", "http://127.0.0.1:8000"),
        (TRY_NOW, "temporary copy", "http://127.0.0.1:8001"),
    ],
)
def test_a_launch_button_is_reached_by_tab_shows_its_focus_and_follows_enter(built_sample, name, says, hub):
    site, _ = built_sample
    traffic = Traffic()
    opened: list[str] = []
    with served(site) as url, chromium() as browser:
        context = offline_context(browser, traffic)

        def answer_for_the_hub(route):
            opened.append(route.request.url)
            route.fulfill(status=200, body="the hub")

        # The hubs are not running: what Enter asks of one is answered here (routed after the
        # offline routing, so asked first).
        context.route(f"{hub}/**", answer_for_the_hub)
        page = context.new_page()
        page.goto(url + NOTEBOOK_PAGE, wait_until="load")
        button = page.get_by_role("link", name=name, exact=True)
        expect(button).to_have_count(1)
        href = button.get_attribute("href")
        assert href.startswith(f"{hub}/hub/user-redirect/git-pull?")
        unfocused_ring = button.evaluate(FOCUS_RING)

        presses = 0
        while not button.evaluate("element => element === document.activeElement"):
            assert presses < MOST_TABS, f"{name!r} not reached in {MOST_TABS} presses of Tab"
            page.keyboard.press("Tab")
            presses += 1
        focused_ring = button.evaluate(FOCUS_RING)
        assert focused_ring, f"{name!r} shows no outline or shadow when focused (after {presses} Tabs)"
        assert focused_ring != unfocused_ring, f"{name!r} looks the same focused as not: {focused_ring}"
        # What the button does, said while it has the focus (Bootstrap's tooltip of its title).
        expect(button).to_have_accessible_description(re.compile(says))

        with context.expect_page() as new_tab:
            page.keyboard.press("Enter")
        new_tab.value.wait_for_load_state()
        assert opened == [href]
        context.close()
    assert traffic.loaded_from_outside() == []


@pytest.mark.slow  # builds the sample course and drives Chromium
def test_run_code_is_reached_by_tab_and_its_status_says_when_the_hub_is_full(built_sample):
    site, _ = built_sample
    traffic = Traffic()
    with served(site) as url, chromium() as browser:
        context = offline_context(browser, traffic)
        # No hub runs here: the Try-now hub's answer is "full" (429), as a busy hub's would be.
        context.route(
            "http://127.0.0.1:8001/hub/run-code",
            lambda route: route.fulfill(status=429, headers={"Access-Control-Allow-Origin": "*"}, body="{}"),
        )
        page = context.new_page()
        page.goto(url + NOTEBOOK_PAGE, wait_until="load")
        stored = page.locator("div.cell_output").all_inner_texts()
        button = page.get_by_role("button", name="Run code", exact=True)
        expect(button).to_have_count(1)
        presses = 0
        while not button.evaluate("element => element === document.activeElement"):
            assert presses < MOST_TABS, f"Run code not reached in {MOST_TABS} presses of Tab"
            page.keyboard.press("Tab")
            presses += 1
        assert button.evaluate(FOCUS_RING), "Run code shows no outline or shadow when focused"
        expect(button).to_have_accessible_description(re.compile("temporary server"))
        page.keyboard.press("Enter")
        # One sentence in a live region (read out by screen readers), the stored outputs as they were.
        expect(page.get_by_role("status")).to_contain_text("The Try-now hub is full right now")
        assert page.locator("div.cell_output").all_inner_texts() == stored
        assert page.locator("textarea").count() == 0

        # Without JavaScript the page is as it was: no button.
        still = browser.new_context(java_script_enabled=False)
        plain = still.new_page()
        plain.goto(url + NOTEBOOK_PAGE, wait_until="load")
        assert plain.get_by_role("button", name="Run code").count() == 0
        still.close()
        context.close()
    assert traffic.loaded_from_outside() == []
