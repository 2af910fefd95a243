"""What catalogues and reusers read: every page's licence, its JSON-LD record, the sitemap,
and the figures' images that printed copies and readers without JavaScript get."""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ElementTree
from html.parser import HTMLParser
from pathlib import Path

from oersite.catalogue import REQUIRED_FIELDS, REQUIRED_OF_PARTS, SITEMAP, page_url
from oersite.checks.findings import WARNING, Finding
from oersite.config import Course
from oersite.figures import FIGURE_CLASS, FIGURE_IMAGE_CLASS


class _PageMetadata(HTMLParser):
    """A page's ``rel="license"`` links and the text of its JSON-LD scripts."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.licenses: list[str] = []
        self.records: list[str] = []
        self.figures = 0
        self.figure_images = 0
        self._in_record = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if tag in ("a", "link") and "license" in (values.get("rel") or "").split():
            self.licenses.append(values.get("href") or "")
        classes = (values.get("class") or "").split()
        self.figures += tag == "div" and FIGURE_CLASS in classes
        self.figure_images += tag == "img" and FIGURE_IMAGE_CLASS in classes
        if tag == "script" and values.get("type") == "application/ld+json":
            self._in_record = True
            self.records.append("")

    def handle_data(self, data: str) -> None:
        if self._in_record:
            self.records[-1] += data

    def handle_endtag(self, tag: str) -> None:
        if tag == "script":
            self._in_record = False


def check_metadata(course: Course, site: Path) -> list[Finding]:
    """Each course page names the course's licence and has a complete record; the sitemap lists them all."""
    from oersite.toc import read_pages

    config = course.relative(course.config_path)
    license_ = course.license
    findings = []
    if license_ is None:
        findings.append(
            Finding(
                config,
                "oersite.license.id is not set",
                "readers cannot tell what they may do with the course; set an SPDX identifier such as CC-BY-4.0",
            )
        )
    pages = [f"{page.docname}.html" for page in read_pages(course)]
    for shown in pages:
        path = site / shown
        if not path.is_file():
            continue  # the outputs check reports pages that were not built
        parsed = _PageMetadata()
        parsed.feed(path.read_text(encoding="utf-8", errors="replace"))
        if license_ is not None and license_.url not in parsed.licenses:
            findings.append(
                Finding(shown, f"no link to {license_.spdx} marked rel=license", "rebuild it with oersite build")
            )
        is_course = shown == pages[0]
        if parsed.figure_images < parsed.figures:
            findings.append(
                Finding(
                    shown,
                    f"{parsed.figures - parsed.figure_images} of its {parsed.figures} figure(s) have no image",
                    "printed copies and readers without JavaScript see nothing there (a site built by "
                    "oersite serve, or without Chromium); run oersite build",
                    WARNING,
                )
            )
        findings += _record_findings(shown, parsed.records, license_.url if license_ else None, is_course=is_course)
    findings += _sitemap_findings(course, site, pages)
    return findings


def _record_findings(shown: str, records: list[str], license_url: str | None, *, is_course: bool) -> list[Finding]:
    rebuild = "rebuild it with oersite build"
    if not records:
        return [Finding(shown, "no JSON-LD record", f"catalogues cannot harvest the page; {rebuild}")]
    try:
        record = json.loads(records[0])
    except ValueError as exc:
        return [Finding(shown, "its JSON-LD record does not parse", f"{exc}; rebuild it with oersite build")]
    if not isinstance(record, dict):
        return [Finding(shown, "its JSON-LD record is not an object", "rebuild it with oersite build")]
    required = REQUIRED_FIELDS if is_course else (*REQUIRED_FIELDS, *REQUIRED_OF_PARTS)
    missing = [name for name in required if not record.get(name) and (name != "license" or license_url)]
    findings = []
    if missing:
        findings.append(Finding(shown, f"its JSON-LD record lacks {', '.join(missing)}", rebuild))
    if "LearningResource" not in (record.get("type") if isinstance(record.get("type"), list) else [record.get("type")]):
        findings.append(Finding(shown, "its JSON-LD record is not a LearningResource", "rebuild it with oersite build"))
    named = record.get("license")
    if license_url and named and (not isinstance(named, dict) or named.get("id") != license_url):
        findings.append(Finding(shown, "its JSON-LD record names another licence", "rebuild it with oersite build"))
    return findings


def _sitemap_findings(course: Course, site: Path, pages: list[str]) -> list[Finding]:
    sitemap = site / SITEMAP
    if course.base_url is None:
        return [
            Finding(
                course.relative(course.config_path),
                "html.baseurl is not set",
                "without the site's address there is no sitemap.xml for catalogues and search engines",
                WARNING,
            )
        ]
    if not sitemap.is_file():
        return [Finding(SITEMAP, "missing", "rebuild the site with oersite build")]
    try:
        root = ElementTree.parse(sitemap).getroot()
    except ElementTree.ParseError as exc:
        return [Finding(SITEMAP, "not valid XML", f"{exc}; rebuild the site with oersite build")]
    listed = {(element.text or "").strip() for element in root.iter() if re.sub(r"^\{.*\}", "", element.tag) == "loc"}
    return [
        Finding(SITEMAP, f"does not list {shown}", "rebuild the site with oersite build")
        for shown in pages
        if page_url(course, shown.removesuffix(".html")) not in listed
    ]
