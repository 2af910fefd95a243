"""``oersite check``: find what a reader of the built site would meet broken.

One module per check, each a plain function of the course and the built site
that returns ``Finding``s (page, what, why, severity); ``check_site`` runs them
all, and ``oersite publish`` refuses to publish while any finds an error:

- ``links``: internal links (linkchecker) and anchors;
- ``remote_files``: scripts, stylesheets and fonts loaded from other hosts (inside maps too,
  base64 ones included), and plots made by another Bokeh than the page's BokehJS;
- ``launch_links``: each launch link's notebook committed where it says, as ``_config.yml`` says;
- ``outputs``: error outputs and pages older than their notebook;
- ``metadata``: every page's licence and JSON-LD record, and the sitemap;
- ``hubs`` (``--live``): each hub answers and is set up as the links expect;
- ``accessibility`` (``--accessibility``): axe-core's WCAG 2.0/2.1 A and AA rules, in Chromium.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from oersite.checks.accessibility import check_accessibility
from oersite.checks.findings import ERROR, WARNING, CheckReport, Finding, site_pages, summary
from oersite.checks.hubs import check_hubs
from oersite.checks.launch_links import check_launch_links
from oersite.checks.links import check_links
from oersite.checks.metadata import check_metadata
from oersite.checks.outputs import check_notebook_outputs
from oersite.checks.remote_files import check_bokeh_versions, check_remote_files
from oersite.config import Course
from oersite.errors import CheckError

__all__ = ["ERROR", "WARNING", "CheckReport", "Finding", "check_site", "summary"]


def check_site(course: Course, site: Path, *, live: bool = False, accessibility: bool = False) -> CheckReport:
    """Run every check on the site built from ``course`` at ``site``.

    ``live`` asks the hubs; ``accessibility`` opens every page in Chromium (a missing
    Chromium is said before any check runs, not after the others took their time).
    """
    site = site.resolve()
    if not (site / "index.html").is_file():
        raise CheckError(f"{site}: no built site here; run first: oersite build {course.root}")
    thebe = course.thebe
    checks: dict[str, Callable[[], list[Finding]]] = {
        "links": lambda: check_links(site),
        "remote files": lambda: check_remote_files(site, thebe=thebe),
        "bokeh versions": lambda: check_bokeh_versions(site),
        "launch links": lambda: check_launch_links(course, site),
        "notebook outputs": lambda: check_notebook_outputs(course, site),
        "licence and catalogue metadata": lambda: check_metadata(course, site),
    }
    if live:
        checks["hubs"] = lambda: check_hubs(course, site)
    if accessibility:
        from oersite.chromium import chromium_path

        chromium_path()
        checks["accessibility"] = lambda: check_accessibility(site)
    findings: list[Finding] = []
    seconds: dict[str, float] = {}
    for name, run in checks.items():
        started = time.perf_counter()
        findings.extend(run())
        seconds[name] = time.perf_counter() - started
    return CheckReport(site, len(site_pages(site)), findings, seconds)
