"""Accessibility: axe-core's WCAG 2.0 and 2.1 A/AA rules on every page, in Chromium (``--accessibility``).

What a page is for a reader of a screen reader, a keyboard or low vision is only
known once a browser has laid it out and run its scripts (Bokeh draws its plots,
Folium its maps, the theme its header), so each page is opened in Debian's
Chromium (``oersite.chromium``), served on 127.0.0.1 with every request off this
machine refused, as a reader offline would see it.  axe-core (Deque's rules engine,
https://github.com/dequelabs/axe-core, pinned in ``assets/package.json`` and
vendored beside the pages' libraries, but never copied into a site) is injected
into the page and each of its frames (Folium's maps are ``iframe srcdoc``s) and run
with the WCAG 2.0/2.1 A and AA rules only; best practices beyond WCAG are left out.

Each violated rule on a page is one ``Finding``: the rule, its first offending
element, what axe says would fix it and where the rule is explained.  "Serious" and
"critical" violations are errors (they stop ``oersite publish``), "moderate" and
"minor" ones warnings.  What axe cannot decide alone ("incomplete") is not reported.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from oersite.checks.findings import ERROR, WARNING, Finding, site_pages
from oersite.errors import CheckError
from oersite.hub.notebook_server import VENDOR_DIR

if TYPE_CHECKING:
    from playwright.sync_api import BrowserContext

AXE_SCRIPT = VENDOR_DIR / "axe-core" / "axe.min.js"
#: axe-core's tags of the WCAG 2.0 and 2.1 success criteria at levels A and AA
#: (https://github.com/dequelabs/axe-core/blob/develop/doc/API.md#axe-core-tags).
WCAG_TAGS = ("wcag2a", "wcag2aa", "wcag21a", "wcag21aa")
SEVERITY_OF_IMPACT = {"critical": ERROR, "serious": ERROR, "moderate": WARNING, "minor": WARNING}
#: A laptop's window: what the theme lays out for most readers (its header buttons show their labels).
VIEWPORT = {"width": 1280, "height": 900}
#: Seconds a page may take to load everything it asks for before it is audited.
LOAD_TIMEOUT = 60

RUN_AXE = """tags => axe.run(document, {
  runOnly: {type: "tag", values: tags},
  resultTypes: ["violations"],
}).then(results => results.violations)"""


#: A page that sends the reader on by itself: ``<meta http-equiv="refresh" ...>``.
_SENDS_ON = re.compile(r"""<meta\s[^>]*http-equiv\s*=\s*["']?refresh""", re.IGNORECASE)


def sends_reader_on(page: Path) -> bool:
    """Whether the page's own file says it sends the reader on (Jupyter Book's ``index.html``, a meta refresh
    to the first page).  Known from the file, not the browser: its refresh may start any time after the load
    on a busy machine, and then neither axe nor the response's body can be had."""
    try:
        return bool(_SENDS_ON.search(page.read_text(encoding="utf-8", errors="replace")))
    except OSError:
        return False  # (the browser then says why it cannot be audited)


def check_accessibility(site: Path) -> list[Finding]:
    """axe-core's WCAG 2.0/2.1 A and AA violations on every page of ``site``, one finding per rule and page."""
    from oersite.chromium import headless_chromium, site_context
    from oersite.serve import serving

    if not AXE_SCRIPT.is_file():
        raise CheckError(
            f"{AXE_SCRIPT} is missing: oersite was installed without its browser libraries; "
            "reinstall it with: pip install -e . (needs npm)"
        )
    findings = []
    with serving(site) as base, headless_chromium() as browser:
        context = site_context(browser, base, viewport=VIEWPORT)
        for page in site_pages(site):
            if sends_reader_on(site / page):
                continue  # (where it leads is audited under its own name)
            try:
                violations = axe_violations(context, base + quote(page))
            except NotAudited as problem:
                findings.append(Finding(page, "accessibility audit", f"not audited: {problem}; try again"))
                continue
            findings.extend(violation_findings(page, violations))
        context.close()
    return findings


class NotAudited(Exception):
    """A page that did not load, or that axe could not run in (Playwright's one line says why)."""


def axe_violations(context: BrowserContext, url: str) -> list[dict[str, Any]]:
    """axe-core's violations on the page at ``url``, once it has loaded all it asks for (frames included).

    A page that went elsewhere by itself once loaded (a script's redirect) has no violations of its own.
    """
    from playwright.sync_api import Error

    from oersite.chromium import Quiet, first_line

    page = context.new_page()
    quiet = Quiet(page)
    try:
        page.goto(url, wait_until="load", timeout=LOAD_TIMEOUT * 1000)
        quiet.wait(page, quiet_for=0.3, timeout=LOAD_TIMEOUT)
        if page.url.partition("#")[0] != url:
            return []
        # axe asks each frame's own copy of axe about the frame's document (over postMessage).
        for frame in page.frames:
            frame.add_script_tag(path=AXE_SCRIPT)
        return page.evaluate(RUN_AXE, list(WCAG_TAGS))
    except (Error, TimeoutError) as problem:
        raise NotAudited(first_line(problem)) from None
    finally:
        page.close()


def violation_findings(page: str, violations: list[dict[str, Any]]) -> list[Finding]:
    """One finding per violated rule: rule and what it asks, its first element and how to fix it, its page."""
    findings = []
    for violation in violations:
        nodes = violation.get("nodes") or [{}]
        first = nodes[0]
        element = element_selector(first.get("target") or [])
        more = f" and {len(nodes) - 1} more" if len(nodes) > 1 else ""
        fix = first_fix(first)
        impact = violation.get("impact") or "minor"
        findings.append(
            Finding(
                page,
                f"{violation['id']} ({violation.get('help', '')})",
                f"{impact}, at {element}{more}{': ' + fix if fix else ''}; see {violation.get('helpUrl', '')}",
                SEVERITY_OF_IMPACT.get(impact, WARNING),
            )
        )
    return findings


def element_selector(target: list[Any]) -> str:
    """axe's target as one CSS-like path: a frame's element after the frame's (``iframe >>> #map``).

    axe names an element inside a frame (or a shadow root) by a list of selectors, one per document.
    """
    parts = [" >>> ".join(part) if isinstance(part, list) else str(part) for part in target]
    return " >>> ".join(parts) or "the page"


def first_fix(node: dict[str, Any]) -> str:
    """The first thing axe says would fix the element ("Element has insufficient color contrast of ...")."""
    for group in ("any", "all", "none"):
        for check in node.get(group) or []:
            if check.get("message"):
                return " ".join(check["message"].split())
    return ""
