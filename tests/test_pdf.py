"""``oersite build --pdf``: the course as one PDF, printed by Debian's Chromium and read back with pypdf.

The sample course (built once per session) is printed once for this module, after an
up-to-date build, as a user would ask for it; a small course of its own checks what
changes the PDF, what is refused, and the failures.
"""

from __future__ import annotations

import http.server
import itertools
import os
import re
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from bs4 import BeautifulSoup
from pypdf import PdfReader
from support.cli import oersite
from support.coursehelpers import make_course
from support.sample_site import BOKEH_PAGES, FOLIUM_PAGES

from oersite.config import load_course
from oersite.errors import PdfError
from oersite.pdf import make_course_pdf, pdf_path
from oersite.toc import read_pages

pytestmark = pytest.mark.slow  # builds courses and prints them in Chromium

#: Below this height (PDF points from the paper's bottom edge) is the footer: A4's 20 mm margin.
FOOTER_TOP = 20 / 25.4 * 72


def words(text: str) -> str:
    """Text with every run of white space as one space: pypdf breaks lines where the paper did."""
    return re.sub(r"\s+", " ", text).strip()


def page_title(site: Path, docname: str) -> str:
    """The page's title as the HTML has it: its first heading, without Sphinx's "#" link."""
    heading = BeautifulSoup((site / f"{docname}.html").read_text(encoding="utf-8"), "html.parser").select_one("main h1")
    for link in heading.select(".headerlink"):
        link.decompose()
    return words(heading.get_text())


def footer_text(page) -> list[str]:
    """The words pypdf finds in the page's bottom margin, sorted (pypdf finds the right corner's first)."""
    found: list[str] = []

    def visit(text, cm, tm, _font, _size):
        y = tm[4] * cm[1] + tm[5] * cm[3] + cm[5]
        if text.strip() and y < FOOTER_TOP:
            found.append(text.strip())

    page.extract_text(visitor_text=visit)
    return sorted(found)


@pytest.fixture(scope="module")
def sample_pdf(built_sample, sample_course):
    """The sample course printed by ``oersite build --strict --pdf`` after its session build; (site, reader, report).

    The report is what the PDF step recorded: asking again returns it without printing.
    """
    site, _output = built_sample
    result = oersite("build", str(sample_course), "--strict", "--pdf")
    assert result.exit_code == 0, result.output
    course = load_course(sample_course)
    report = make_course_pdf(course, site)
    assert report.reused, "the second request for the same site reuses the PDF"
    return site, PdfReader(report.path), report, result.output


def test_the_pdf_is_printed_after_an_up_to_date_build(sample_pdf, sample_course):
    _site, reader, report, output = sample_pdf
    assert "Nothing changed since the last build." in output
    assert f"Printed 9 pages into {len(reader.pages)} PDF pages" in output
    assert report.path == sample_course / "_build" / "pdf" / "data-analysis-for-everyone.pdf"
    assert reader.metadata.title == "Data analysis for everyone"


def test_the_pdf_has_a_page_at_least_for_every_course_page(sample_pdf, sample_course):
    _site, reader, _report, _output = sample_pdf
    assert len(reader.pages) >= len(read_pages(load_course(sample_course))) + 1  # and the contents


def test_the_outline_lists_every_page_title_in_toc_order(sample_pdf, sample_course):
    site, reader, _report, _output = sample_pdf
    titles = [page_title(site, page.docname) for page in read_pages(load_course(sample_course))]
    assert [item.title for item in reader.outline] == titles
    for item in reader.outline:  # each bookmark opens the page that shows that title
        assert item.title in words(reader.pages[reader.get_destination_page_number(item)].extract_text())


def test_the_contents_name_every_page_with_the_page_its_title_is_on(sample_pdf, sample_course):
    site, reader, _report, _output = sample_pdf
    labels = reader.page_labels
    front = [index for index, label in enumerate(labels) if not label.isdigit()]
    assert front == list(range(len(front))) and front, f"the contents come first, numbered i, ii…: {labels}"
    contents = words(" ".join(reader.pages[index].extract_text() for index in front))
    assert (
        "Data analysis for everyone https://oersite.example.org/data-analysis/ By The oersite sample course authors, "
        "licensed under Creative Commons Attribution 4.0 International (CC BY 4.0): "
        "https://creativecommons.org/licenses/by/4.0/ Contents"
    ) in contents
    for page in read_pages(load_course(sample_course)):
        title = page_title(site, page.docname)
        found = re.search(re.escape(title) + r" (\d+)\b", contents)
        assert found, f"the contents do not name {title!r}: {contents}"
        number = found.group(1)
        index = labels.index(number)
        assert title in words(reader.pages[index].extract_text()), f"{title!r} is not on page {number}"
        assert footer_text(reader.pages[index]) == sorted(["Data analysis for everyone", number])


def test_every_page_has_the_course_title_and_its_number_in_the_footer(sample_pdf):
    _site, reader, _report, _output = sample_pdf
    for page, label in zip(reader.pages, reader.page_labels, strict=True):
        assert footer_text(page) == sorted(["Data analysis for everyone", label])


def pages_of(reader: PdfReader, site: Path, docname: str) -> list:
    """The PDF pages a course page was printed on: from its bookmark to the next one."""
    starts = [reader.get_destination_page_number(item) for item in reader.outline] + [len(reader.pages)]
    titles = [item.title for item in reader.outline]
    at = titles.index(page_title(site, docname))
    return reader.pages[starts[at] : starts[at + 1]]


@pytest.mark.parametrize("docname", BOKEH_PAGES + FOLIUM_PAGES)
def test_figures_are_printed_as_their_static_images(sample_pdf, docname):
    """The figures' PNGs that the build puts beside each live plot and map (print CSS shows them)."""
    from PIL import Image

    site, reader, _report, _output = sample_pdf
    html = BeautifulSoup((site / f"{docname}.html").read_text(encoding="utf-8"), "html.parser")
    figure_images = html.select("img.oersite-figure-image")
    assert figure_images, f"{docname} has no static figure images (the build's figure PNGs)"
    sizes = set()
    for image in figure_images:
        with Image.open((site / docname).parent / image["src"]) as png:
            sizes.add(png.size)
    printed = [image.image.size for page in pages_of(reader, site, docname) for image in page.images]
    assert len([size for size in printed if size in sizes]) >= len(figure_images), (printed, sizes)


@pytest.mark.parametrize("docname", ["book/intro", *BOKEH_PAGES, *FOLIUM_PAGES])
def test_the_text_is_text_not_a_picture_of_it(sample_pdf, docname):
    site, reader, _report, _output = sample_pdf
    html = BeautifulSoup((site / f"{docname}.html").read_text(encoding="utf-8"), "html.parser")
    paragraphs = [words(p.get_text()) for p in html.select("main article p") if len(p.get_text()) > 80]
    printed = words(" ".join(page.extract_text() for page in pages_of(reader, site, docname)))
    assert paragraphs and all(paragraph[:80] in printed for paragraph in paragraphs[:3]), paragraphs[:3]


def test_links_go_to_their_own_pages_heading_or_off_the_loopback_server(sample_pdf):
    """A page's contents link to its own headings, though lessons share heading names ("Exercise");
    the server the pages were printed from is gone, so no link points at it."""
    _site, reader, _report, _output = sample_pdf
    starts = [reader.get_destination_page_number(item) for item in reader.outline] + [len(reader.pages)]
    destinations = {name: reader.get_destination_page_number(dest) for name, dest in reader.named_destinations.items()}
    in_page, addresses = 0, []
    for at, (first, end) in enumerate(itertools.pairwise(starts)):
        for page in reader.pages[first:end]:
            for annotation in page.get("/Annots") or []:
                annotation = annotation.get_object()
                if "/Dest" in annotation:
                    in_page += 1
                    assert first <= destinations[annotation["/Dest"]] < end, (reader.outline[at].title, annotation)
                elif "/A" in annotation and "/URI" in annotation["/A"]:
                    addresses.append(annotation["/A"]["/URI"])
    assert in_page > 9, "each lesson's contents link to its headings"
    assert addresses and not [address for address in addresses if "127.0.0.1" in address], addresses


def test_no_request_left_the_machine(sample_pdf):
    """The maps ask for OpenStreetMap's tiles; Chromium was refused every one."""
    _site, _reader, report, _output = sample_pdf
    assert report.refused, "the sample's maps ask for tiles: the refusal was not exercised"
    assert all(url.startswith("https://tile.openstreetmap.org/") for url in report.refused), report.refused


def test_the_page_chrome_is_left_off_paper_at_any_width(browser, built_sample):
    """Sidebars, search, header buttons, back-to-top, prev/next: shown on screen at 1280 px, not in print.

    The module's browser stays open while the tests below print: the PDF step prints in a
    thread of its own, as Playwright's sync API allows one running loop per thread.
    """
    from support.browser import Traffic, offline_context, served

    chrome = [
        ".bd-sidebar-primary",
        ".bd-sidebar-secondary",
        ".bd-header-article",
        ".prev-next-footer",
        ".search-button-field",
        ".theme-switch-button",
        ".btn-oersite-try-now",
    ]
    shown = "selector => [...document.querySelectorAll(selector)].some(e => e.getClientRects().length > 0)"
    with served(built_sample[0]) as url:
        context = offline_context(browser, Traffic())
        page = context.new_page()
        page.goto(f"{url}notebooks/bokeh/scatter.html", wait_until="load")
        assert {selector: page.evaluate(shown, selector) for selector in chrome} == dict.fromkeys(chrome, True)
        page.emulate_media(media="print")
        assert {selector: page.evaluate(shown, selector) for selector in chrome} == dict.fromkeys(chrome, False)
        context.close()


# A small course of its own: what changes the PDF, what is refused, and the failures.


class _Spy(http.server.BaseHTTPRequestHandler):
    """A server on this machine that counts what reaches it: an image the course loads from another port of it."""

    seen: list[str] = []

    def do_GET(self):  # noqa: N802 (the stdlib's name)
        self.seen.append(self.path)
        self.send_response(404)
        self.end_headers()

    def log_message(self, format, *args):  # noqa: A002
        pass


@pytest.fixture(scope="module")
def spy():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Spy)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="module")
def small_course(tmp_path_factory, spy):
    """Two pages; the introduction shows an image from another server of 127.0.0.1 than the site's."""
    course = make_course(tmp_path_factory.mktemp("pdf") / "course")
    remote = f"http://127.0.0.1:{spy.server_address[1]}/spy.png"
    (course / "intro.md").write_text(f'# Welcome\n\nAn introduction to printing.\n\n<img src="{remote}" alt="a spy">\n')
    result = oersite("build", str(course))
    assert result.exit_code == 0, result.output
    return course


def build_pdf(course: Path):
    result = oersite("build", str(course), "--pdf")
    assert result.exit_code == 0, result.output
    return result.output


def test_a_request_to_any_server_but_the_sites_is_refused_and_the_page_printed_without_it(small_course, spy):
    output = build_pdf(small_course)
    assert spy.RequestHandlerClass.seen == [], "Chromium reached a server other than the site's"
    remote = f"http://127.0.0.1:{spy.server_address[1]}/spy.png"
    assert f"warning: intro.md: printed without the image {remote}, which did not load" in output
    report = make_course_pdf(load_course(small_course), small_course / "_build" / "html")
    assert remote in report.refused


def test_the_pdf_is_reused_while_the_site_is_unchanged_and_printed_again_when_it_changes(small_course):
    build_pdf(small_course)
    path = pdf_path(load_course(small_course))
    before = path.stat().st_mtime_ns
    output = build_pdf(small_course)
    assert "PDF up to date (the site did not change)" in output
    assert path.stat().st_mtime_ns == before

    intro = small_course / "intro.md"
    intro.write_text(intro.read_text().replace("printing", "printing, edited"))
    output = build_pdf(small_course)
    assert "Printed 2 pages into" in output
    assert "printing, edited" in words(PdfReader(path).pages[1].extract_text())


def test_a_page_that_does_not_load_is_named(small_course, tmp_path):
    site = tmp_path / "html"
    shutil.copytree(small_course / "_build" / "html", site)
    (site / "lessons" / "first.html").unlink()
    with pytest.raises(PdfError, match=r"^lessons/first.ipynb: its page lessons/first.html did not load .*HTTP 404"):
        make_course_pdf(load_course(small_course), site)


def test_without_chromium_the_pdf_step_is_one_line_and_writes_no_pdf(small_course, tmp_path):
    build_pdf(small_course)  # a PDF from before, which the failure must leave alone…
    path = pdf_path(load_course(small_course))
    path.unlink()  # …or, gone, must not write
    (small_course / "_build" / ".oersite" / "last-pdf.json").unlink()
    programs = tmp_path / "bin"
    programs.mkdir()
    (programs / "git").symlink_to(shutil.which("git"))
    result = subprocess.run(
        [sys.executable, "-m", "oersite", "build", str(small_course), "--pdf"],
        capture_output=True,
        text=True,
        env={**os.environ, "PATH": str(programs)},
        timeout=300,
    )
    assert result.returncode == 1, result.stdout + result.stderr
    assert result.stderr.strip().splitlines() == [
        "Error: no chromium on the PATH; install Debian's chromium (apt-get install chromium)"
    ]
    assert "Traceback" not in result.stdout
    assert not path.parent.exists() or list(path.parent.iterdir()) == []
    assert (small_course / "_build" / "html" / "index.html").is_file()


def test_with_strict_a_page_printed_without_an_image_stops_before_the_pdf_is_written(small_course, spy):
    path = pdf_path(load_course(small_course))
    path.unlink(missing_ok=True)
    result = oersite("build", str(small_course), "--strict", "--pdf")
    assert result.exit_code == 1, result.output
    remote = f"http://127.0.0.1:{spy.server_address[1]}/spy.png"
    assert result.output.splitlines()[-2:] == [
        "Error: pages printed with something missing (--strict), no PDF written:",
        f"intro.md: printed without the image {remote}, which did not load",
    ]
    assert not path.exists()
