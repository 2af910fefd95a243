"""``oersite build --pdf``: the whole course as one PDF, printed from the built site.

Jupyter Book's own ``pdfhtml`` builder prints with pyppeteer, which downloads a
Chromium of its own and so fails on a machine without the internet.  oersite
prints with Debian's Chromium (``oersite.chromium``) instead, from the site it has
just built, served on 127.0.0.1 with every request to another host refused: the
PDF shows what the site ships, figures included (the static images that print
CSS puts in place of the live Bokeh plots and Folium maps).

Chromium prints each page of the table of contents by itself, once its fonts,
MathJax and images are ready, and pypdf joins the printouts behind a title and
contents page, with a bookmark per page.  The footers (course title, page number)
are CSS page-margin boxes that the PDF step adds to each page before it is printed,
with the page counter starting where the previous page ended; so every word of the
PDF, footers and contents included, is text a reader can search and copy.

The contents pages are numbered i, ii, … (in their footers and as PDF page labels,
which viewers show) and the course from 1, so the numbers the contents give never
depend on the contents' own length.  A PDF made from the same site, by the same
oersite and libraries, is reused.
"""

from __future__ import annotations

import html
import io
import json
import re
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from oersite.build_layout import BuildLayout
from oersite.chromium import first_line, in_own_thread, site_context
from oersite.config import Course
from oersite.errors import PdfError
from oersite.files import write_atomically
from oersite.messages import plural, shown
from oersite.serve import serving
from oersite.toc import Page, read_pages
from oersite.uptodate import source_fingerprint

#: Paper, margins and footer of every page, as CSS (Chromium 131 and later print page-margin
#: boxes); ``{title}`` and ``{number}`` are filled in per printout.  A4, as Jupyter Book's pdfhtml.
PAGE_STYLE = """@page {{
  size: A4; margin: 16mm 16mm 20mm;
  @bottom-left {{ content: {title}; font: 9pt system-ui, sans-serif; color: #333; }}
  @bottom-right {{ content: counter(page{number}); font: 9pt system-ui, sans-serif; color: #333; }}
}}"""
#: How long a page may take to load and get ready for print.
PAGE_TIMEOUT_MS = 60_000

#: Run in each page before it is printed: waits for what a printout needs, and
#: returns what did not come.  Images first load "eager" (print CSS may show images that
#: were lazy or hidden on screen, such as the figures' static images); MathJax has typeset
#: once its startup promise resolves; fonts last, as MathJax's own arrive with its output.
WAIT_UNTIL_READY = """async () => {
  const images = [...document.images];
  for (const image of images) image.loading = "eager";
  await Promise.all(images.map((image) => image.decode().catch(() => null)));
  if (window.MathJax && MathJax.startup && MathJax.startup.promise) await MathJax.startup.promise;
  await document.fonts.ready;
  const shown = (element) => element.getClientRects().length > 0;
  return images.filter((image) => shown(image) && !(image.complete && image.naturalWidth > 0))
    .map((image) => image.currentSrc || image.src);
}"""

#: The page's title as a reader sees it (its first heading, without Sphinx's "#" link),
#: and the language the site is written in.
PAGE_FACTS = """() => {
  const heading = document.querySelector("main h1, h1");
  let title = document.title;
  if (heading) {
    const copy = heading.cloneNode(true);
    copy.querySelectorAll(".headerlink").forEach((link) => link.remove());
    title = copy.textContent.trim();
  }
  return {title: title.replace(/\\s+/g, " "), lang: document.documentElement.lang || ""};
}"""

#: Links into the site would point at the loopback server, gone once the PDF is made: they
#: point at the published site when the course says where that is (``html.baseurl``), and
#: become text otherwise.  Links to a heading of the page itself stay, as PDF links: Chromium
#: names their destinations after the headings' ids, which pages share ("exercise"), so each
#: target's id gets the page's prefix first, or pypdf's join would send them to one page.
POINT_LINKS_AWAY_FROM_LOOPBACK = """([siteRoot, baseUrl, prefix]) => {
  const renamed = new Map();
  for (const link of document.querySelectorAll("a[href]")) {
    const target = new URL(link.href, location.href);
    if (target.origin !== location.origin) continue;
    if (target.pathname === location.pathname && target.hash) {
      const id = decodeURIComponent(target.hash.slice(1));
      const element = renamed.has(id) ? null : document.getElementById(id);
      if (element && element.closest("article")) {
        renamed.set(id, prefix + id);
        element.id = prefix + id;
      }
      if (renamed.has(id)) {
        link.setAttribute("href", "#" + renamed.get(id));
        continue;
      }
    }
    if (baseUrl) link.href = baseUrl + target.pathname.slice(siteRoot.length) + target.hash;
    else link.replaceWith(...link.childNodes);
  }
}"""


@dataclass(frozen=True)
class PrintedPage:
    """One page of the course in the PDF: its title and where it starts (its footer's number)."""

    docname: str
    title: str
    first_page: int  # the number in the footer of its first page; the course starts at 1
    page_count: int


@dataclass(frozen=True)
class PdfReport:
    """What the PDF step made: for the summary line and for tests."""

    path: Path
    pages: list[PrintedPage]
    front_pages: int  # title and contents, numbered i, ii, … before the course's page 1
    total_pages: int
    refused: list[str]  # requests the pages made to other hosts, refused
    warnings: list[str]
    seconds: float
    reused: bool = False  # the site and the PDF did not change since it was made


def pdf_path(course: Course) -> Path:
    """``_build/pdf/<the course's title>.pdf``, named as a reader would save it: lower case, words joined by '-'."""
    name = re.sub(r"[^\w]+", "-", course.title.lower()).strip("-") or "course"
    return BuildLayout(course.root).pdf / f"{name}.pdf"


def make_course_pdf(
    course: Course, site: Path, *, strict: bool = False, progress: Callable[[str], None] = lambda line: None
) -> PdfReport:
    """Print every page of the built ``site`` in table-of-contents order into one PDF (``pdf_path``).

    A record in ``_build/.oersite/last-pdf.json`` remembers the last PDF: when the site, the environment
    and that PDF are as they were, it is reused and Chromium is not started.  ``strict``:
    a page printed without one of its images stops the step, and no PDF is written.
    """
    started = time.perf_counter()
    pages = read_pages(course)
    path = pdf_path(course)
    record = BuildLayout(course.root).last_pdf
    fingerprint = source_fingerprint(
        site, path.parent, {"site": str(site.resolve()), "pdf": str(path), "pages": [page.docname for page in pages]}
    )
    previous = _previous_pdf(record, fingerprint, path)
    if previous is not None:
        _stop_on_warnings(previous["warnings"], strict)
        return _report_from_json(previous, path, seconds=time.perf_counter() - started)

    printed = in_own_thread("oersite-pdf", _print_course, course, site, pages, path, progress)
    _stop_on_warnings(printed.warnings, strict)
    write_atomically(path, join_pdf(course, printed.front, printed.printouts, printed.entries))
    report = PdfReport(
        path=path,
        pages=printed.entries,
        front_pages=len(printed.front.pages),
        total_pages=len(printed.front.pages) + sum(entry.page_count for entry in printed.entries),
        refused=printed.refused,
        warnings=printed.warnings,
        seconds=time.perf_counter() - started,
    )
    stat = path.stat()
    write_atomically(
        record,
        json.dumps({"fingerprint": fingerprint, "pdf": [stat.st_size, stat.st_mtime_ns], "report": _to_json(report)}),
    )
    return report


@dataclass
class _Printouts:
    """What Chromium printed: the contents and each page (``PdfReader``s), and what it met on the way."""

    entries: list[PrintedPage] = field(default_factory=list)
    printouts: list = field(default_factory=list)
    front: Any = None
    refused: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def _print_course(course: Course, site: Path, pages: list[Page], path: Path, progress) -> _Printouts:
    """Every page printed in turn, each numbered on from the last, then the contents that list them."""
    from oersite.chromium import headless_chromium

    printed = _Printouts()
    with serving(site) as url, headless_chromium() as browser:
        progress(f"Printing {plural(len(pages), 'page')} into {shown(path)}")
        context = _offline_context(browser, printed.refused, url)
        try:
            number, lang = 1, ""
            for page in pages:
                progress(f"  printing {course.relative(page.path)}")
                facts, printout = _print_page(context, url, site, page, course, number, printed.warnings)
                printed.entries.append(PrintedPage(page.docname, facts["title"], number, len(printout.pages)))
                printed.printouts.append(printout)
                number += len(printout.pages)
                lang = lang or facts["lang"]
            printed.front = _print_contents(context, contents_html(course, printed.entries, lang))
        finally:
            context.close()
    return printed


def _stop_on_warnings(warnings: list[str], strict: bool) -> None:
    if strict and warnings:
        raise PdfError("pages printed with something missing (--strict), no PDF written:\n" + "\n".join(warnings))


def pdf_lines(report: PdfReport) -> list[tuple[str, str]]:
    """What the PDF step tells the user, as (kind, line): "warning", "done"."""
    lines = [("warning", warning) for warning in report.warnings]
    where = shown(report.path)
    if report.reused:
        lines.append(("done", f"PDF up to date (the site did not change): {where}"))
    else:
        lines.append(
            (
                "done",
                f"Printed {plural(len(report.pages), 'page')} into {plural(report.total_pages, 'PDF page')} "
                f"in {report.seconds:.1f} s: {where}",
            )
        )
    return lines


def join_pdf(course: Course, front, printouts: list, entries: list[PrintedPage]) -> bytes:
    """The title and contents, then each page's printout with its bookmark, the pages labelled as numbered."""
    from pypdf import PdfWriter

    writer = PdfWriter()
    writer.append(front)
    for entry, printout in zip(entries, printouts, strict=True):
        start = len(writer.pages)
        writer.append(printout, import_outline=False)
        writer.add_outline_item(title=entry.title, page_number=start)
    course_start = len(front.pages)
    writer.set_page_label(0, course_start - 1, style="/r")
    if len(writer.pages) > course_start:
        writer.set_page_label(course_start, len(writer.pages) - 1, style="/D", start=1)
    writer.add_metadata({"/Title": course.title, "/Creator": "oersite"})
    writer.page_mode = "/UseOutlines"  # viewers open with the bookmarks shown
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def page_style(course: Course, *, first_page: int | None) -> str:
    """The ``@page`` rules of one printout: a course page's footer counts on from ``first_page``;
    the contents' (``first_page=None``) in roman numerals from i."""
    if first_page is None:
        return PAGE_STYLE.format(title=_css_string(course.title), number=", lower-roman")
    # Chromium counts the first page of a printout as the root's page counter plus one.
    restart = f"\nhtml {{ counter-reset: page {first_page - 1}; }}"
    return PAGE_STYLE.format(title=_css_string(course.title), number="") + restart


def contents_html(course: Course, entries: list[PrintedPage], lang: str) -> str:
    """The title and contents pages: every page's title and the number its footer carries."""
    rows = "\n".join(
        f'<li><span class="title">{html.escape(entry.title)}</span><span class="leader"></span>'
        f'<span class="number">{entry.first_page}</span></li>'
        for entry in entries
    )
    where = f'<p class="where">{html.escape(course.base_url)}</p>' if course.base_url else ""
    license_ = course.license
    if license_ is not None:  # the printed copy says what its readers may do with it, as every page does
        where += (
            f'<p class="where">By {html.escape(course.attribution)}, licensed under {html.escape(license_.name)} '
            f"({html.escape(license_.badge)}): {html.escape(license_.url)}</p>"
        )
    return f"""<!DOCTYPE html>
<html lang="{html.escape(lang)}"><head><meta charset="utf-8"><title>{html.escape(course.title)}</title>
<style>
  {page_style(course, first_page=None)}
  body {{ font-family: system-ui, sans-serif; font-size: 11pt; line-height: 1.5; color: #000; margin: 0;
    font-variant-ligatures: no-common-ligatures; }}
  h1 {{ font-size: 26pt; line-height: 1.2; margin: 30mm 0 4mm; }}
  .where {{ margin: 0 0 4mm; }}
  h2 {{ font-size: 15pt; margin: 14mm 0 4mm; }}
  ol {{ list-style: none; padding: 0; margin: 0; }}
  li {{ display: flex; align-items: baseline; break-inside: avoid; margin: 0 0 2mm; }}
  .leader {{ flex: 1; border-bottom: 1px dotted #666; margin: 0 2mm; min-width: 8mm; }}
  .number {{ font-variant-numeric: tabular-nums; }}
</style></head>
<body><h1>{html.escape(course.title)}</h1>{where}<h2>Contents</h2><ol>
{rows}
</ol></body></html>"""


def _print_page(context, url: str, site: Path, page: Page, course: Course, first_page: int, warnings: list[str]):
    """One page printed, its footers numbered from ``first_page``: its facts (title, language) and the printout."""
    from playwright.sync_api import Error
    from pypdf import PdfReader

    where = course.relative(page.path)
    address = f"{url}{page.docname}.html"
    tab = context.new_page()
    try:
        tab.emulate_media(media="print")
        try:
            response = tab.goto(address, wait_until="load", timeout=PAGE_TIMEOUT_MS)
        except Error as exc:
            raise PdfError(
                f"{where}: its page {page.docname}.html did not load for printing ({first_line(exc)})"
            ) from None
        if response is None or not response.ok:
            status = f"HTTP {response.status}" if response is not None else "no answer"
            raise PdfError(
                f"{where}: its page {page.docname}.html did not load for printing ({status}); "
                f"remove the site ({shown(site)}) and build it again with --pdf"
            )
        try:
            missing = tab.evaluate(WAIT_UNTIL_READY)
            facts = tab.evaluate(PAGE_FACTS)
            prefix = re.sub(r"\W", "-", page.docname) + "--"
            tab.evaluate(POINT_LINKS_AWAY_FROM_LOOPBACK, [urlsplit(url).path, course.base_url or "", prefix])
            tab.add_style_tag(content=page_style(course, first_page=first_page))
            printout = tab.pdf(prefer_css_page_size=True, print_background=True)
        except Error as exc:
            raise PdfError(f"{where}: its page {page.docname}.html could not be printed ({first_line(exc)})") from None
        warnings += [f"{where}: printed without the image {source}, which did not load" for source in missing]
        return facts, PdfReader(io.BytesIO(printout))
    finally:
        tab.close()


def _print_contents(context, document: str):
    """The title and contents pages (``contents_html``), printed."""
    from pypdf import PdfReader

    tab = context.new_page()
    try:
        tab.set_content(document, wait_until="load")
        tab.evaluate("document.fonts.ready.then(() => true)")
        return PdfReader(io.BytesIO(tab.pdf(prefer_css_page_size=True)))
    finally:
        tab.close()


def _css_string(text: str) -> str:
    """``text`` as a CSS string: letters and digits as they are, anything else as a CSS escape."""
    return '"' + "".join(c if c.isalnum() or c == " " else f"\\{ord(c):x} " for c in text) + '"'


def _offline_context(browser, refused: list[str], origin: str):
    """A browser context in which only the site's server answers; any other request is refused, and listed."""
    return site_context(browser, origin, lambda request: refused.append(request.url))


def _previous_pdf(record: Path, fingerprint: str, path: Path) -> dict | None:
    """The last PDF's report when it was made from the same site and is still the file it wrote."""
    try:
        saved = json.loads(record.read_text(encoding="utf-8"))
        stat = path.stat()
    except (OSError, ValueError):
        return None
    if saved.get("fingerprint") != fingerprint or saved.get("pdf") != [stat.st_size, stat.st_mtime_ns]:
        return None
    return saved["report"]


def _to_json(report: PdfReport) -> dict:
    saved = asdict(report)
    saved.pop("path")
    saved.pop("seconds")
    saved.pop("reused")
    return saved


def _report_from_json(saved: dict, path: Path, *, seconds: float) -> PdfReport:
    pages = [PrintedPage(**page) for page in saved.pop("pages")]
    return PdfReport(path=path, pages=pages, seconds=seconds, reused=True, **saved)
