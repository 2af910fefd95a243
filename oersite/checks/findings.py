"""What every check returns: ``Finding``s, and the site's pages they are about.

A check is a plain function of the course and the built site that returns
findings; ``oersite.checks.check_site`` runs them all.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path

from oersite.messages import plural

ERROR = "error"
WARNING = "warning"
NOTE = "note"  # what the operator may want to know, neither wrong nor doubtful


@dataclass(frozen=True)
class Finding:
    """One problem: on which page, with what, and why it matters or what to do."""

    page: str
    what: str
    why: str
    severity: str = ERROR

    def line(self) -> str:
        return f"{self.severity}: {self.page}: {self.what}: {self.why}"


@dataclass(frozen=True)
class CheckReport:
    """All findings, and how long each check took (for the summary and for tests)."""

    site: Path
    pages: int
    findings: list[Finding]
    seconds: dict[str, float] = field(default_factory=dict)

    @property
    def errors(self) -> list[Finding]:
        return [finding for finding in self.findings if finding.severity == ERROR]

    @property
    def warnings(self) -> list[Finding]:
        return [finding for finding in self.findings if finding.severity == WARNING]


def summary(report: CheckReport) -> str:
    """The line that ends every check: pages, time, errors and warnings."""
    took = sum(report.seconds.values())
    return (
        f"Checked {plural(report.pages, 'page')} in {took:.1f} s: "
        f"{plural(len(report.errors), 'error')}, {plural(len(report.warnings), 'warning')}"
    )


def site_pages(site: Path) -> list[str]:
    """The site's HTML pages (not the libraries' files under ``_static``), relative to its root."""
    return sorted(
        path.relative_to(site).as_posix()
        for path in site.rglob("*.html")
        if path.relative_to(site).parts[0] not in ("_static", "_sources")
    )


class LinkCollector(HTMLParser):
    """A page's link targets and the anchors it offers (``id``s, and ``name``s of ``<a>``)."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.hrefs: list[str] = []
        self.ids: set[str] = set()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        for name, value in attrs:
            if value and (name == "id" or (tag == "a" and name == "name")):
                self.ids.add(value)
            elif value and tag in ("a", "area") and name == "href":
                self.hrefs.append(value)


#: A redirect stub's refresh: ``<meta http-equiv="refresh" content="0; url=new.html">``.
_REFRESH = re.compile(
    r"<meta\b(?=[^>]*\bhttp-equiv\s*=\s*[\"']?refresh)[^>]*\bcontent\s*=\s*[\"']\s*\d+\s*;\s*url=(?P<url>[^\"']+)",
    re.IGNORECASE,
)


def redirect_target(text: str) -> str | None:
    """Where a redirect stub sends its reader, or None for a page of the course.

    sphinxext-rediraffe writes a stub at a moved page's old address (a meta refresh, and a
    script for readers with JavaScript), and Jupyter Book one at ``index.html`` when the
    course's first page has another name. A stub has no content, licence or record of its own:
    the checks judge the page it leads to. A page with a ``<body>`` of content is never one.
    """
    match = _REFRESH.search(text)
    if match is None or len(text) > 4096:
        return None
    return match.group("url").strip()
