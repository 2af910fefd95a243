"""Accessible figures, during and after Sphinx: a PNG of each figure, drawn in Chromium.

Which outputs are figures, and their markup, is ``oersite.figures``' part.

``FigureImages`` draws the figures in headless Chromium (``oersite.chromium``), offline,
with every other host refused, and shoots each figure's element into
``_static/oersite/figures/<digest>.png``. Chromium starts beside the kernels, as soon as a
notebook whose figures may change is about to run (``oersite.figures.may_draw_anew``; in a
first build, as soon as the notebooks are read), with the server and the tab figures are
drawn in (which loads BokehJS at once when a notebook names Bokeh); as soon as the notebooks
have run, while Sphinx starts, reads and writes the pages, the figures that have no image
yet are drawn from the executed outputs, on one page of their own served on 127.0.0.1 (the
figures' markup and scripts, the libraries at the site's paths, in a column as wide as the
theme's), not on the site's pages, which do not exist yet. It waits until each figure has
drawn (Bokeh documents idle; maps' frames loaded, fonts ready; map tiles never load offline,
which is expected). After ``oersite.assets`` it puts an ``<img
class="oersite-figure-image">`` with the same alt beside each live figure of the built
pages; a figure the pages show that was not drawn ahead is shot on its site page then, in
the same browser. ``figures.css`` shows the image when the page is printed and to readers
without JavaScript (a head script marks ``<html>`` as ``oersite-scripted``); the page's
first image is its ``og:image`` when the course has ``html.baseurl``.

An image is named by a digest of what it draws: the cell's outputs as they draw
(``oersite.figures.drawn_form``: without the names each run makes up afresh), the libraries
that draw figures (the installed BokehJS, the vendored map libraries), the tile settings and
how figures are shot. A figure whose digest has an image already is not shot again, pages
Sphinx did not rewrite are not read again (``_build/.oersite/figures.json``), and Chromium
starts only when some figure needs shooting.
"""

from __future__ import annotations

import contextlib
import hashlib
import html
import json
import re
import struct
import tempfile
import threading
import time
from collections import deque
from concurrent.futures import Future
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from oersite.assets import SHARED, TileSettings, rewrite_page
from oersite.chromium import BrowserThread, ChromiumMissing, first_line, site_context
from oersite.figures import (
    FIGURE_CLASS,
    FIGURE_IMAGE_CLASS,
    NO_ALT_GIVEN,
    SCRIPTED_CLASS,
    FigureCell,
    figure_markup,
    figure_outputs,
    output_text,
    short_digest,
)
from oersite.files import write_atomically
from oersite.hub.notebook_server import VENDOR_DIR
from oersite.saved_maps import modernised
from oersite.serve import QuietHandler, serving

#: Where the images go in the site.
IMAGES = f"{SHARED}/figures"
STYLESHEET = Path(__file__).parent / "static" / "figures.css"

#: How figures are shot: a change here makes every image again.
#: ``column``: the width a figure is drawn in, sphinx-book-theme's content column in that viewport.
SHOT = {"viewport": {"width": 1280, "height": 900}, "device_scale_factor": 2, "column": 688, "version": 2}
#: How many pages load at once while one is shot.
TABS = 3
#: How long a page's figures may take to draw, in milliseconds.
DRAW_TIMEOUT = 30_000
_FIGURE = re.compile(
    rf'<div class="{FIGURE_CLASS}" data-oersite-figure="(?P<source>[0-9a-f]+)" data-oersite-kind="(?P<kind>plot|map)"'
    r' data-oersite-alt="(?P<alt>[^"]*)" data-oersite-where="(?P<where>[^"]*)">'
    rf'(?P<image>\s*<img class="{FIGURE_IMAGE_CLASS}"[^>]*>)?'
)
_HEAD_MARK = "data-oersite-figures"
_OG_IMAGE = re.compile(r'<meta property="og:image(?::alt)?" content="[^"]*" data-oersite-figures>\n?')


@dataclass(frozen=True)
class FiguresReport:
    """What the image stage did: for the build summary."""

    made: int = 0
    reused: int = 0
    warnings: list[str] = field(default_factory=list)
    #: Seconds Chromium spent on the images (its start included), mostly beside the kernels and Sphinx...
    drawing: float = 0.0
    #: ...and seconds the build spent on them after the other stages (waiting, putting them on pages).
    after: float = 0.0
    #: The pages the images were put on (their names in the site), written again after ``oersite.assets`` read them.
    rewritten: list[str] = field(default_factory=list)


class FigureImages:
    """The image stage of one build: figures drawn while Sphinx writes the pages, then put on them.

    A build makes one before Sphinx runs (``with FigureImages(...) as images``).
    ``draw_ahead`` gets the course's figures as soon as the notebooks have run: those with
    no image yet are drawn, all on one small page of their own (the cells' outputs, the
    libraries the site ships, nothing of the theme: BokehJS loads once) in a browser thread,
    while Sphinx reads and writes.  ``finish`` (after ``oersite.assets``) waits for them, shoots on the
    built pages what they show that was not drawn ahead (a page whose outputs Sphinx was
    given otherwise), and puts each image on its pages.  One Chromium serves both, started
    only when some figure needs drawing.

    An image is named by the figure's source (its cell's outputs, ``figure_outputs``) and how
    figures are drawn: ``SHOT``, the map tiles, and the libraries that draw them (the
    installed BokehJS, the vendored map libraries).
    """

    def __init__(
        self, output_dir: Path, record_path: Path, *, base_url: str | None = None, tiles: TileSettings | None = None
    ) -> None:
        self.output_dir, self.record_path, self.base_url, self.tiles = output_dir, record_path, base_url, tiles
        # What an image looks like depends on how it is shot, the tiles and the libraries; what a
        # page holds around it also on the site's address and the stylesheet: a change of those
        # re-reads every page, but shoots no figure again.
        self.shot = json.dumps([SHOT, asdict(tiles) if tiles else None, library_fingerprint()])
        self.record = _load_record(record_path, json.dumps([self.shot, base_url, STYLESHEET.read_text("utf-8")]))
        self.images_dir = output_dir / IMAGES
        self._browser = BrowserThread("oersite-figures")
        self._session: _DrawingSession | None = None  # made and used in the browser's thread only
        # Figures drawn ahead: queued by draw_ahead (any thread), drawn in rounds in the browser's.
        self._lock = threading.Lock()
        self._queued: set[str] = set()  # digests
        self._pending: list[tuple[FigureCell, list[dict[str, str]]]] = []
        self._drawing = False  # a round is queued or running
        self._rounds: list[Future] = []
        self._drawn: dict[str, dict] = {}
        self._warnings: list[str] = []
        self._page_number = 0

    def __enter__(self) -> FigureImages:
        return self

    def __exit__(self, *_exception) -> None:
        self.close()

    def close(self) -> None:
        """Stop the browser (if one was started): once the build's figures are drawn, or it stopped."""
        self._browser.close(before=self._end_session)

    def start_browser(self, *, plots: bool = False) -> None:
        """Start Chromium now, in the browser's thread (returns at once): notebooks that may draw figures run.

        Its start (Playwright's driver, then the browser) then overlaps the kernels' instead of
        delaying the first drawing; it happens once per build in any case (``BrowserThread``).
        With ``plots`` (a notebook names Bokeh) the tab figures are drawn in loads BokehJS at once,
        on a page of no figures: the first round's plots are then put in a page that has it
        (``_put_in``) instead of one that loads and starts BokehJS after the notebooks have run
        (measured: 0.1-0.2 s of a build with one notebook edited, or of a stored book's first).
        """
        self._browser.submit(self._drawing_session, plots)

    def _drawing_session(self, browser, plots: bool = False) -> _DrawingSession:
        """The figures page's server and tab, made on first use (in the browser's thread)."""
        if self._session is None:
            self._session = _DrawingSession(browser)
            if plots:
                self._page_number += 1
                name = f"figures-{self._page_number}.html"
                Path(self._session.folder, name).write_text(_library_page(self.tiles), encoding="utf-8")
                try:
                    self._session.tab.goto(self._session.url + name, wait_until="load")
                except _playwright_error():
                    self._page_number = 0  # (the first round opens a page of its own)
        return self._session

    def _end_session(self) -> None:
        if self._session is not None:
            session, self._session = self._session, None
            try:
                session.close()
            except Exception:  # noqa: BLE001,S110 (Chromium already gone, as after Ctrl-C: nothing left to close)
                pass

    def made_before(self) -> bool:
        """Whether an earlier build made images here (else every figure found will need drawing)."""
        return bool(self.record["images"]) and self.images_dir.is_dir()

    def image_name(self, source: str) -> str:
        return short_digest([self.shot, source])

    def _has_image(self, digest: str) -> bool:
        return digest in self.record["images"] and (self.images_dir / f"{digest}.png").is_file()

    def draw_ahead(self, cells: list[FigureCell]) -> None:
        """Queue the figures of ``cells`` that have no image and are not queued yet; returns at once.

        The build calls it as each notebook has run, and once more with every figure of the
        course.  Chromium draws in rounds: each round draws, on one page, every figure that
        waited while the round before was drawn, so figures are drawn while later notebooks
        run and few are left when the last one has.
        """
        with self._lock:
            for cell in cells:
                if cell.cell is None:
                    continue
                figures = []
                for _number, _kind, source in figure_outputs(cell.cell):
                    digest = self.image_name(source)
                    if digest in self._queued or self._has_image(digest):
                        continue
                    self._queued.add(digest)
                    figures.append({"source": source, "digest": digest, "where": cell.where})
                if figures:
                    self._pending.append((cell, figures))
            if self._pending and not self._drawing:
                self._drawing = True
                self._rounds.append(self._browser.submit(self._draw_rounds))

    def _draw_rounds(self, browser) -> None:
        """Draw what waits, round after round, until nothing does (in the browser's thread)."""
        try:
            session = self._drawing_session(browser)
            while True:
                with self._lock:
                    waiting, self._pending = self._pending, []
                    if not waiting:
                        self._drawing = False
                        return
                cells = list(dict.fromkeys(cell for cell, _figures in waiting))
                figures = [figure for _cell, cell_figures in waiting for figure in cell_figures]
                page = standalone_page(cells, self.tiles)
                if self._page_number and _put_in(session.tab, page):
                    drawn, warnings = _shoot_put_in(session.tab, figures, self.images_dir)
                else:
                    self._page_number += 1
                    name = f"figures-{self._page_number}.html"
                    Path(session.folder, name).write_text(page, encoding="utf-8")
                    drawn, warnings = _shoot_pages(
                        session.context, session.url, {name: figures}, self.images_dir, first_tab=session.tab
                    )
                self._drawn.update(drawn)
                self._warnings += warnings
        except BaseException:
            with self._lock:
                self._drawing = False
            raise

    def finish(self) -> FiguresReport:
        """Give every figure of the built site its image; report how many were made and reused.

        A missing Chromium is one warning (``ChromiumMissing``'s message, which names what to
        install); the site is complete without the images, and the next build makes them (a
        build with figure warnings is not recorded as up to date).
        """
        started = time.perf_counter()
        output_dir, record = self.output_dir, self.record
        made, warnings, shot_now = 0, [], set()
        if self._rounds:
            failures = []
            for job in self._rounds:
                unmade = len(self._queued) - len(self._drawn)
                _drawn, failed = self._outcome(job, unmade)
                failures += failed
            drawn = dict(self._drawn)
            warnings = [*self._warnings, *dict.fromkeys(failures)]
            self._rounds = []
            record["images"].update(drawn)
            made, shot_now = len(drawn), set(drawn)

        figures_by_page: dict[str, list[dict[str, str]]] = {}
        unchanged: dict[str, list[str]] = {}
        for page in sorted(output_dir.rglob("*.html")):
            name = page.relative_to(output_dir).as_posix()
            previous = record["pages"].get(name)
            if (
                previous
                and previous["stamp"] == page.stat().st_mtime_ns
                and all(self._has_image(digest) for digest in previous["images"])
            ):
                unchanged[name] = previous["images"]
                continue
            text = page.read_text(encoding="utf-8")
            figures = [match.groupdict() for match in _FIGURE.finditer(text)]
            if not figures:
                record["pages"][name] = {"stamp": page.stat().st_mtime_ns, "images": []}
                continue
            for figure in figures:
                figure["digest"] = self.image_name(figure["source"])
            figures_by_page[name] = figures

        for digest in [digest for digest in record["images"] if not (self.images_dir / f"{digest}.png").is_file()]:
            del record["images"][digest]  # deleted from the site: shot again, never pointed at
        to_shoot: dict[str, list[dict[str, str]]] = {}
        for name, figures in figures_by_page.items():
            missing = [figure for figure in figures if figure["digest"] not in record["images"]]
            if missing and not self._browser.missing:  # (without Chromium, one warning said so)
                to_shoot[name] = missing
        if to_shoot:
            count = sum(len(figures) for figures in to_shoot.values())
            drawn, more = self._outcome(self._browser.submit(_draw_site_pages, output_dir, to_shoot), count)
            warnings += more
            record["images"].update(drawn)
            made += len(drawn)
            shot_now |= set(drawn)
        # Chromium's part is done: it closes while the images are put on the pages.
        self._browser.close(before=self._end_session, wait=False)

        reused = sum(len(images) for images in unchanged.values())
        rewritten = []
        for name, figures in figures_by_page.items():
            page = output_dir / name
            text = page.read_text(encoding="utf-8")
            with_images = _with_images(text, figures, record["images"], _prefix(name), self.base_url)
            if with_images != text:
                write_atomically(page, with_images)
                rewritten.append(name)
            images = [figure["digest"] for figure in figures if figure["digest"] in record["images"]]
            reused += sum(1 for digest in images if digest not in shot_now)
            if len(images) == len(figures):  # else the next build tries again
                record["pages"][name] = {"stamp": page.stat().st_mtime_ns, "images": images}
        built = {page.relative_to(output_dir).as_posix() for page in output_dir.rglob("*.html")}
        for name in set(record["pages"]) - built:
            del record["pages"][name]

        if figures_by_page or unchanged:
            stylesheet = output_dir / SHARED / "figures.css"
            if not stylesheet.is_file() or stylesheet.read_bytes() != STYLESHEET.read_bytes():
                write_atomically(stylesheet, STYLESHEET.read_bytes())
        _forget_unused_images(self.images_dir, record, figures_by_page)
        write_atomically(self.record_path, json.dumps(record))
        after = time.perf_counter() - started
        return FiguresReport(made, reused, warnings, drawing=self._browser.busy, after=after, rewritten=rewritten)

    @staticmethod
    def _outcome(job: Future, count: int) -> tuple[dict[str, dict], list[str]]:
        """What a drawing job made, and its warnings (one line when Chromium could not start)."""
        unmade = f"no images of {count} figure(s) for print and readers without JavaScript"
        try:
            return job.result() or ({}, [])
        except ChromiumMissing as missing:
            return {}, [f"{unmade}: {missing.message}"]
        except _playwright_error() as error:
            return {}, [f"{unmade}: {first_line(error)}"]


def make_figure_images(
    output_dir: Path,
    record_path: Path,
    *,
    base_url: str | None = None,
    tiles: TileSettings | None = None,
) -> FiguresReport:
    """Give every figure of a built site its image, shot on the site's pages (``FigureImages.finish``)."""
    with FigureImages(output_dir, record_path, base_url=base_url, tiles=tiles) as images:
        return images.finish()


def library_fingerprint() -> str:
    """The libraries that draw figures: the installed BokehJS and every vendored file, by content."""
    import bokeh

    hasher = hashlib.sha256(bokeh.__version__.encode())
    for path in sorted(VENDOR_DIR.rglob("*")):
        if path.is_file():
            hasher.update(path.relative_to(VENDOR_DIR).as_posix().encode() + b"\0" + path.read_bytes())
    return hasher.hexdigest()[:32]


def standalone_page(cells: list[FigureCell], tiles: TileSettings | None = None) -> str:
    """A page of the given cells' figures, drawn as on the site but without the site around them.

    Each figure in the markup its site page gives it, in a column as wide as the theme's
    (``SHOT["column"]``: a map fills its column), with the scripts of its cell (a Bokeh plot's
    own); the libraries where the site ships them (``oersite.assets.rewrite_page``).
    """
    import bokeh

    parts = []
    for figure_cell in cells:
        cell = figure_cell.cell or {}
        wanted = {number: (kind, source) for number, kind, source in figure_outputs(cell)}
        for number, output in enumerate(cell.get("outputs", [])):
            data = output.get("data", {})
            markup = modernised(output_text(data.get("text/html", "")))  # as the site page shows an old map
            if number in wanted:
                kind, source = wanted[number]
                texts = {"alt": figure_cell.alt or NO_ALT_GIVEN, "where": figure_cell.where}
                parts.append(figure_markup(markup, kind, source, texts))
            elif "application/javascript" in data:
                script = output_text(data["application/javascript"])
                parts.append(f'<script type="application/javascript">{script}</script>')
            elif "<script" in markup:
                parts.append(markup)
    page = (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>Figures</title>'
        f"<style>body {{ margin: 0; padding: 8px; width: {SHOT['column']}px; }}"
        f" .{FIGURE_CLASS} {{ margin-bottom: 16px; }}</style></head>\n<body>\n"
        + "\n".join(parts)
        + "\n</body></html>\n"
    )
    return rewrite_page(page, "", bokeh.__version__, tiles)[0]


def _library_page(tiles: TileSettings | None) -> str:
    """A ``standalone_page`` of no figures, with the BokehJS bundles every page of plots loads."""
    import bokeh

    from oersite.assets import with_bokehjs_in_head

    return with_bokehjs_in_head(standalone_page([], tiles), "", bokeh.__version__, set())


class _DrawingSession:
    """Where figures are drawn ahead: a folder for their pages, served on 127.0.0.1 with the libraries
    (``_LibrariesHandler``), an offline browser context on it and its first tab.

    Made once per build, as soon as Chromium starts (``FigureImages.start_browser``): the
    server, the context and the tab's renderer are then ready when the notebooks have run.
    """

    def __init__(self, browser) -> None:
        self._stack = contextlib.ExitStack()
        try:
            self.folder = Path(self._stack.enter_context(tempfile.TemporaryDirectory(prefix="oersite-figures-")))
            self.url = self._stack.enter_context(serving(self.folder, _LibrariesHandler))
            self.context = _drawing_context(browser, self.url)
            self._stack.callback(self.context.close)
            self.tab = self.context.new_page()
        except BaseException:
            self._stack.close()
            raise

    def close(self) -> None:
        self._stack.close()


class _LibrariesHandler(QuietHandler):
    """Serves the standalone pages' folder, and the libraries at the paths the site has them."""

    def translate_path(self, path: str) -> str:
        import bokeh

        route = urlsplit(path).path
        vendor, bokeh_js = f"/{SHARED}/vendor/", f"/{SHARED}/bokeh/"
        if route.startswith(vendor):
            return self._inside(VENDOR_DIR, route[len(vendor) :])
        if route.startswith(bokeh_js):
            name = route[len(bokeh_js) :].replace(f"-{bokeh.__version__}.min.js", ".min.js")
            return self._inside(Path(bokeh.__file__).resolve().parent / "server" / "static" / "js", name)
        return super().translate_path(path)

    @staticmethod
    def _inside(folder: Path, name: str) -> str:
        file = (folder / unquote(name)).resolve()
        return str(file) if file.is_relative_to(folder.resolve()) else str(folder / "missing")


def _draw_site_pages(
    browser, output_dir: Path, to_shoot: dict[str, list[dict[str, str]]]
) -> tuple[dict[str, dict], list[str]]:
    """Draw the built site's pages in Chromium, offline, and shoot the figures that have no image yet."""
    with serving(output_dir) as site_url:
        context = _drawing_context(browser, site_url)
        try:
            return _shoot_pages(context, site_url, to_shoot, output_dir / IMAGES)
        finally:
            context.close()


def _drawing_context(browser, origin: str):
    # An offline reader's view: map tiles fail, as they would; no other server is reached.
    context = site_context(
        browser,
        origin,
        viewport=SHOT["viewport"],
        device_scale_factor=SHOT["device_scale_factor"],
        reduced_motion="reduce",
    )
    context.set_default_timeout(DRAW_TIMEOUT)
    return context


def _shoot_pages(
    context, origin: str, to_shoot: dict[str, list[dict[str, str]]], images_dir: Path, *, first_tab=None
) -> tuple[dict[str, dict], list[str]]:
    """Open the pages (a few at once: one loads while another is shot) and shoot their figures.

    Returns each image made (digest -> size in CSS pixels) and a warning per figure that did not draw.
    """
    from playwright.sync_api import Error

    images: dict[str, dict] = {}
    warnings: list[str] = []

    def failed(figures: list[dict[str, str]], error: Exception) -> None:
        first = first_line(error)
        warnings.extend(
            f"{figure['where']}: no image made, the figure did not draw in Chromium ({first})"
            for figure in figures
            if figure["digest"] not in images
        )

    waiting = deque(to_shoot.items())
    loading: deque = deque()

    def open_next(tab) -> None:
        while waiting:
            name, figures = waiting.popleft()
            try:
                tab.goto(origin + name, wait_until="commit")
            except Error as error:
                failed(figures, error)
                continue
            loading.append((tab, name, figures))
            return

    for number in range(min(TABS, len(waiting))):
        open_next(first_tab if number == 0 and first_tab is not None else context.new_page())
    while loading:
        tab, name, figures = loading.popleft()
        try:
            tab.wait_for_load_state("load")
            _shoot_drawn(tab, figures, images, images_dir)
        except Error as error:
            failed(figures, error)
        open_next(tab)
    return images, warnings


def _shoot_put_in(tab, figures: list[dict[str, str]], images_dir: Path) -> tuple[dict[str, dict], list[str]]:
    """``_shoot_drawn`` on the page figures were put in, its failure a warning per figure, as ``_shoot_pages``'."""
    from playwright.sync_api import Error

    images: dict[str, dict] = {}
    try:
        _shoot_drawn(tab, figures, images, images_dir)
    except Error as error:
        return images, [
            f"{figure['where']}: no image made, the figure did not draw in Chromium ({first_line(error)})"
            for figure in figures
            if figure["digest"] not in images
        ]
    return images, []


def _shoot_drawn(tab, figures: list[dict[str, str]], images: dict[str, dict], images_dir: Path) -> None:
    """Shoot ``figures`` of the page in ``tab`` once they have drawn; each image's size into ``images``."""
    drawn = _wait_until_drawn(tab)
    for figure in figures:
        shot = drawn[figure["source"]].screenshot(animations="disabled")
        write_atomically(images_dir / f"{figure['digest']}.png", shot)
        # The size in CSS pixels, from the PNG's header (IHDR: width, height after 16 bytes)
        pixels = struct.unpack(">II", shot[16:24])
        width, height = (round(size / SHOT["device_scale_factor"]) for size in pixels)
        images[figure["digest"]] = {"width": width, "height": height}


#: A later round's figures put in the page the first round loaded: the libraries it lacks
#: loaded (in order), the figures in place of the last round's, their scripts run in order.
_PUT_IN = """async ([libraries, body]) => {
  for (const library of libraries) {
    if ([...document.scripts].some((script) => script.getAttribute('src') === library)) continue;
    await new Promise((loaded, failed) => {
      const script = document.createElement('script');
      script.src = library;
      script.onload = loaded;
      script.onerror = () => failed(new Error(`${library} did not load`));
      document.head.append(script);
    });
  }
  if (window.Bokeh) Bokeh.documents.splice(0);  // the last round's plots, shot and gone
  document.body.innerHTML = body;
  for (const written of [...document.body.querySelectorAll('script')]) {
    const script = document.createElement('script');
    for (const {name, value} of written.attributes) script.setAttribute(name, value);
    script.text = written.text;
    written.replaceWith(script);  // runs now: inline, in the order written
  }
}"""
_HEAD_LIBRARY = re.compile(r'<script data-oersite-bokehjs src="([^"]+)"></script>')
_BODY = re.compile(r"<body>\n(?P<body>.*)\n</body>", re.DOTALL)


def _put_in(tab, page: str) -> bool:
    """Put the figures of ``page`` (a ``standalone_page``) in the page open in ``tab``, if they can be.

    BokehJS then loads and starts once per build, not once a round.  A page whose outputs
    load scripts by URL (they would run out of order) is not put in: the caller opens it.
    """
    body = _BODY.search(page)
    if body is None or re.search(r"<script\b[^>]*\bsrc=", body["body"]):
        return False
    from playwright.sync_api import Error

    libraries = _HEAD_LIBRARY.findall(page.split("</head>", 1)[0])
    try:
        tab.evaluate(_PUT_IN, [libraries, body["body"]])
    except Error:
        return False  # (opened afresh instead)
    return True


def _with_images(
    text: str, figures: list[dict[str, str]], images: dict[str, dict], prefix: str, base_url: str | None
) -> str:
    """The page with each figure's ``<img>``, the head's script and stylesheet, and its og:image."""
    by_source = iter(figures)

    def with_image(match: re.Match) -> str:
        figure = next(by_source)
        opening = match.group(0)[: match.start("image") - match.start()] if match.group("image") else match.group(0)
        image = images.get(figure["digest"])
        if image is None:
            return opening
        return (
            f'{opening}<img class="{FIGURE_IMAGE_CLASS}" src="{prefix}{IMAGES}/{figure["digest"]}.png"'
            f' alt="{figure["alt"]}" width="{image["width"]}" height="{image["height"]}">'
        )

    text = _FIGURE.sub(with_image, text)
    text = _OG_IMAGE.sub("", text)
    head = [
        f'<script {_HEAD_MARK}>document.documentElement.classList.add("{SCRIPTED_CLASS}")</script>\n',
        f'<link rel="stylesheet" href="{prefix}{SHARED}/figures.css" {_HEAD_MARK}>\n',
    ]
    first = next((figure for figure in figures if figure["digest"] in images), None)
    if base_url and first:
        image_url = f"{html.escape(base_url)}{IMAGES}/{first['digest']}.png"
        head += [
            f'<meta property="og:image" content="{image_url}" {_HEAD_MARK}>\n',
            f'<meta property="og:image:alt" content="{first["alt"]}" {_HEAD_MARK}>\n',
        ]
    if f"<script {_HEAD_MARK}>" in text:
        return text.replace("</head>", "".join(head[2:]) + "</head>", 1)
    return text.replace("</head>", "".join(head) + "</head>", 1)


def _playwright_error() -> type[Exception]:
    """Playwright's error class; without Playwright, one nothing raises (``ChromiumMissing`` says it is missing)."""
    try:
        from playwright.sync_api import Error
    except ImportError:
        return ChromiumMissing
    return Error


#: Every map of the page drawn: its frame loaded, Leaflet's map in it, its fonts ready, its zoom
#: buttons hidden. One call for all maps (each step a round trip to the page took 0.1 s a map).
_MAPS_DRAWN = """async (timeout) => {
  const deadline = performance.now() + timeout;
  const maps = [...document.querySelectorAll('.FIGURE_CLASS[data-oersite-kind=map]')];
  await Promise.all(maps.map(async (figure) => {
    const frame = figure.querySelector('iframe');
    const drawn = () => {
      const page = frame.contentDocument;
      return page && page.readyState === 'complete' && frame.contentWindow.L !== undefined
        && page.querySelector('.leaflet-container');
    };
    while (!drawn()) {
      if (performance.now() > deadline) throw new Error(`a map did not draw in ${timeout} ms`);
      await new Promise((done) => setTimeout(done, 20));
    }
    const style = frame.contentDocument.createElement('style');
    style.textContent = '.leaflet-control-zoom { display: none !important; }';
    frame.contentDocument.head.append(style);
    await frame.contentDocument.fonts.ready;
  }));
}""".replace("FIGURE_CLASS", FIGURE_CLASS)


def _wait_until_drawn(tab) -> dict[str, Any]:
    """Each figure's element to shoot, once it has drawn; without toolbars and zoom buttons.

    Bokeh: every document on the page idle (how Bokeh's own ``export_png`` waits,
    ``bokeh/io/export.py``), after the toolbars are taken off (a printed toolbar has nothing
    to press).  Folium: the map's frame loaded (Leaflet ran and added its layers), its
    fonts ready (marker icons are glyphs), the zoom buttons hidden.
    """
    plots = tab.locator(f".{FIGURE_CLASS}[data-oersite-kind=plot]").count()
    if plots:
        tab.wait_for_function(f"() => window.Bokeh && Bokeh.documents.length >= {plots}")
        tab.evaluate(
            """() => { for (const doc of Bokeh.documents) for (const root of doc.roots())
                 if ('toolbar_location' in root) root.toolbar_location = null }"""
        )
        tab.wait_for_function("() => Bokeh.documents.every((doc) => doc.is_idle)")
    tab.evaluate(_MAPS_DRAWN, DRAW_TIMEOUT)
    drawn = {}
    figures = tab.locator(f".{FIGURE_CLASS}")
    kinds = figures.evaluate_all("(figures) => figures.map((f) => [f.dataset.oersiteFigure, f.dataset.oersiteKind])")
    for index, (source, kind) in enumerate(kinds):
        if kind == "plot":
            element = figures.nth(index).locator("[data-root-id] > *").first
            element.wait_for(state="visible")
        else:
            element = figures.nth(index).locator("iframe").first
        drawn[source] = element
    # Two frames: whatever the last changes asked for is on the screen.
    tab.evaluate("() => new Promise((done) => requestAnimationFrame(() => requestAnimationFrame(done)))")
    return drawn


def _forget_unused_images(images_dir: Path, record: dict, figures_by_page: dict[str, list[dict[str, str]]]) -> None:
    """Delete images no page shows any more, from the site and from the record."""
    used = {digest for page in record["pages"].values() for digest in page["images"]}
    used |= {figure["digest"] for figures in figures_by_page.values() for figure in figures}
    for digest in set(record["images"]) - used:
        del record["images"][digest]
    if images_dir.is_dir():
        for image in images_dir.glob("*.png"):
            if image.stem not in used:
                image.unlink()


def _load_record(path: Path, rules: str) -> dict:
    """The previous run's pages and images; pages are read again when the rules changed."""
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        record = {}
    if record.get("rules") != rules:
        record = {"rules": rules, "pages": {}, "images": record.get("images", {})}
    return record


def _prefix(page_name: str) -> str:
    return "../" * page_name.count("/")
