"""Accessible figures: a text alternative for every interactive figure, and a PNG of it.

A Bokeh plot is a canvas and a Folium map an iframe of script-drawn shapes: a screen
reader gets nothing from either, a printed page shows a blank box (or a map cut at the
page's edge), and a reader without JavaScript sees nothing at all.  So:

- **Text alternatives.** Authors give a figure's text in the code cell's metadata, as
  ``alt``: the key nbconvert's own HTML template reads (``cell | get_metadata('alt')``,
  ``nbconvert/templates/classic/base.html.j2``), so the notebook carries it wherever it
  goes.  ``figure_cells`` finds every cell whose outputs are a Bokeh plot or a Folium map
  (before Sphinx reads a page, so ``--strict`` stops the build with nothing written);
  one without ``alt`` is a warning naming notebook and cell.  The Sphinx extension then
  wraps each such output (``wrap_figure_outputs``) in

      <div class="oersite-figure" data-oersite-figure="…" data-oersite-alt="…" …>
        <div class="oersite-live-figure" …>the output</div>
      </div>

  and names the live figure the way ARIA practice asks for its kind: a Bokeh plot's
  wrapper is ``role="figure"`` with the text as ``aria-label`` (not ``img``: an image's
  content is hidden from assistive technology, yet Bokeh's toolbar buttons inside it take
  keyboard focus, which axe-core's ``nested-interactive`` rightly refuses); a map's
  ``<iframe>`` gets it as ``title`` (axe-core's ``frame-title``), and keeps its role,
  because Leaflet's zoom buttons and markers inside are keyboard-usable; Folium's
  "Make this Notebook Trusted" line, hidden behind the map, is ``aria-hidden``.
- **Images.** ``make_figure_images`` runs after ``oersite.assets`` (so pages load their
  libraries from the site): it serves the built site on 127.0.0.1, opens each page with
  figures in headless Chromium (``oersite.chromium``) with every other host refused,
  waits until each figure has drawn (Bokeh documents idle; maps' frames loaded, fonts
  ready; map tiles never load offline, which is expected), shoots each figure's element
  into ``_static/oersite/figures/<digest>.png`` and puts an ``<img class=
  "oersite-figure-image">`` with the same alt beside the live figure.  ``figures.css``
  shows the image when the page is printed and to readers without JavaScript (a head
  script marks ``<html>`` as ``oersite-scripted``); the page's first image is its
  ``og:image`` when the course has ``html.baseurl``.

An image is named by a digest of what it draws: the cell's outputs, the library files
the page loads, the tile settings and how figures are shot.  A figure whose digest has
an image already is not shot again, pages Sphinx did not rewrite are not read again
(``_build/.oersite/figures.json``), and Chromium starts only when some figure needs
shooting.
"""

from __future__ import annotations

import hashlib
import html
import json
import re
import struct
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from oersite.assets import SHARED, TileSettings
from oersite.chromium import ChromiumMissing, first_line, headless_chromium, in_own_thread, site_context
from oersite.files import write_atomically
from oersite.saved_maps import is_old_frame_map
from oersite.serve import serving

if TYPE_CHECKING:
    import nbformat

    from oersite.config import Course
    from oersite.execute import NotebookResult
    from oersite.toc import Page

#: The stable class names (ARCHITECTURE.md; the PDF printer relies on them and on figures.css).
FIGURE_CLASS = "oersite-figure"
LIVE_FIGURE_CLASS = "oersite-live-figure"
FIGURE_IMAGE_CLASS = "oersite-figure-image"
SCRIPTED_CLASS = "oersite-scripted"
#: Where the images go in the site.
IMAGES = f"{SHARED}/figures"
STYLESHEET = Path(__file__).parent / "static" / "figures.css"
MISSING_ALT = 'an interactive figure with no text alternative; give the cell an "alt" in its metadata'
#: What the image of a figure without ``alt`` says (the build warned about it).
NO_ALT_GIVEN = "An interactive figure (its author has not described it yet)"
#: Cells whose outputs the page does not show (Jupyter Book's tags).
HIDDEN_OUTPUT_TAGS = {"remove-cell", "remove-output"}

#: How figures are shot: a change here makes every image again.
SHOT = {"viewport": {"width": 1280, "height": 900}, "device_scale_factor": 2, "version": 1}
#: How long a page's figures may take to draw, in milliseconds.
DRAW_TIMEOUT = 30_000

_BOKEH_ROOT = re.compile(r'\bdata-root-id="(?P<id>[^"]+)"')
#: Bokeh's plot models, as ``docs_json`` names them.
_PLOT_MODEL = re.compile(r'"name":"(?:Figure|Plot|GMap|GridPlot)"')
_MAP_FRAME = re.compile(r"<iframe\b[^>]*\bsrcdoc=\"[^\"]*leaflet", re.IGNORECASE)
_FIRST_IFRAME = re.compile(r"<iframe\b(?![^>]*\btitle=)", re.IGNORECASE)
_TRUST_NOTE = re.compile(r"<span\b(?=[^>]*>\s*Make this Notebook Trusted)")
_FIGURE = re.compile(
    rf'<div class="{FIGURE_CLASS}" data-oersite-figure="(?P<source>[0-9a-f]+)" data-oersite-kind="(?P<kind>plot|map)"'
    r' data-oersite-alt="(?P<alt>[^"]*)" data-oersite-where="(?P<where>[^"]*)">'
    rf'(?P<image>\s*<img class="{FIGURE_IMAGE_CLASS}"[^>]*>)?'
)
_HEAD_MARK = "data-oersite-figures"
_OG_IMAGE = re.compile(r'<meta property="og:image(?::alt)?" content="[^"]*" data-oersite-figures>\n?')
_LIBRARY_REFERENCE = re.compile(rf"{SHARED}/(?:vendor|bokeh)/[\w.@/-]+\.(?:js|css)")


@dataclass(frozen=True)
class FigureCell:
    """A code cell whose output is a Bokeh plot or a Folium map, as its page renders it."""

    docname: str
    cell_index: int  # in the notebook as it is now (what the page shows, with the executed outputs)
    kind: str  # "plot" or "map"
    alt: str | None
    where: str  # "notebooks/bokeh/heatmap.ipynb, cell 14", as the author finds the cell


@dataclass(frozen=True)
class FiguresReport:
    """What the image stage did: for the build summary."""

    made: int = 0
    reused: int = 0
    warnings: list[str] = field(default_factory=list)


def figure_kind(output: dict[str, Any], cell: dict[str, Any]) -> str | None:
    """The kind of figure an output of ``cell`` is: "plot" (Bokeh), "map" (Folium), or None.

    A Bokeh output is the root's ``<div data-root-id>``; what the root holds, its script says
    (the cell's ``application/javascript`` output, whose ``docs_json`` lists the models). A
    root of widgets alone (a slider) is a control, not a figure.
    """
    markup = _text(output.get("data", {}).get("text/html", ""))
    root = _BOKEH_ROOT.search(markup)
    if root:
        return "plot" if _PLOT_MODEL.search(_bokeh_document(cell, root.group("id"))) else None
    if _MAP_FRAME.search(markup) or is_old_frame_map(markup):
        return "map"
    return None


def _bokeh_document(cell: dict[str, Any], root_id: str) -> str:
    """The script in the cell's outputs (``docs_json`` and ``render_items``) that draws root ``root_id``."""
    for output in cell.get("outputs", []):
        for mime_type in ("application/javascript", "text/html"):
            script = _text(output.get("data", {}).get(mime_type, ""))
            if "docs_json" in script and f'"{root_id}"' in script:
                return script
    return ""


def _is_one_plot(cell: dict[str, Any], markup: str) -> bool:
    """Whether the output's root is a plot itself (not a layout, which may hold widgets)."""
    root_id = _BOKEH_ROOT.search(markup).group("id")
    one_plot = rf'"name":"(?:Figure|Plot|GMap)","id":"{re.escape(root_id)}"'
    return re.search(one_plot, _bokeh_document(cell, root_id)) is not None


def figure_cells(
    course: Course, notebooks: dict[Page, nbformat.NotebookNode], results: list[NotebookResult]
) -> list[FigureCell]:
    """Every shown figure of the course, with the ``alt`` of its cell as the notebook now says it.

    Figures are found in the executed copy's outputs, but a page shows the notebook as read
    for this build with those outputs (``oersite.execute.with_outputs``): the executor's cache
    is keyed on code, so a copy executed before an author wrote the ``alt`` still holds the old
    metadata.  Both have the same code cells in the same order (same key), so they are matched
    by code cell, and a figure is named by its index in the notebook as it is now.
    """
    from oersite.execute import cell_location

    found: list[FigureCell] = []
    for result in results:
        notebook = notebooks[result.page]
        if result.executed_path is not None:
            rendered = json.loads(result.executed_path.read_text(encoding="utf-8"))
        else:
            rendered = notebook
        source_code_cells = [index for index, cell in enumerate(notebook.cells) if cell.cell_type == "code"]
        rendered_code_cells = [index for index, cell in enumerate(rendered["cells"]) if cell["cell_type"] == "code"]
        for ordinal, index in enumerate(rendered_code_cells):
            cell = rendered["cells"][index]
            kinds = {figure_kind(output, cell) for output in cell.get("outputs", [])} - {None}
            if not kinds or ordinal >= len(source_code_cells):
                continue
            source_index = source_code_cells[ordinal]
            source_cell = notebook.cells[source_index]
            if HIDDEN_OUTPUT_TAGS & set(source_cell.get("metadata", {}).get("tags", [])):
                continue
            alt = source_cell.get("metadata", {}).get("alt")
            found.append(
                FigureCell(
                    docname=result.page.docname,
                    cell_index=source_index,
                    kind="plot" if "plot" in kinds else "map",
                    alt=alt.strip() if isinstance(alt, str) and alt.strip() else None,
                    where=f"{course.relative(result.page.path)}, {cell_location(notebook, source_index)}",
                )
            )
    return found


def missing_alt_warnings(cells: list[FigureCell]) -> list[str]:
    """One line per figure cell without a text alternative."""
    return [f"{cell.where}: {MISSING_ALT}" for cell in cells if cell.alt is None]


def cells_for_sphinx(cells: list[FigureCell]) -> dict[str, dict[str, dict[str, str]]]:
    """docname -> cell index -> alt and where: what ``oersite.sphinx_ext`` needs to wrap outputs."""
    pages: dict[str, dict[str, dict[str, str]]] = {}
    for cell in cells:
        pages.setdefault(cell.docname, {})[str(cell.cell_index)] = {
            "alt": cell.alt or NO_ALT_GIVEN,
            "where": cell.where,
        }
    return pages


def wrap_figure_outputs(notebook: dict[str, Any], cells: dict[str, dict[str, str]]) -> dict[str, Any]:
    """Wrap each figure output of the given cells in oersite's figure markup, in place."""
    for index, figure in cells.items():
        cell = notebook["cells"][int(index)]
        for number, output in enumerate(cell.get("outputs", [])):
            kind = figure_kind(output, cell)
            if kind is None:
                continue
            source = _digest([json.dumps(cell.get("outputs", []), sort_keys=True), str(number)])
            markup = _text(output["data"]["text/html"])
            role = "figure" if kind == "plot" and _is_one_plot(cell, markup) else "group"
            output["data"]["text/html"] = figure_markup(markup, kind, source, figure, plot_role=role)
    return notebook


def figure_markup(markup: str, kind: str, source: str, figure: dict[str, str], *, plot_role: str = "figure") -> str:
    """A figure output inside the wrappers the image stage and figures.css know.

    ``plot_role``: "figure" for one plot (a named figure whose toolbar stays reachable by
    keyboard), "group" for a layout, whose widgets must stay reachable inside the named group.
    """
    alt = html.escape(figure["alt"], quote=True)
    if kind == "plot":
        live = f'<div class="{LIVE_FIGURE_CLASS}" role="{plot_role}" aria-label="{alt}">'
    else:
        live = f'<div class="{LIVE_FIGURE_CLASS}">'
        markup = _FIRST_IFRAME.sub(f'<iframe title="{alt}"', markup, count=1)
        markup = _TRUST_NOTE.sub('<span aria-hidden="true"', markup, count=1)
    return (
        f'<div class="{FIGURE_CLASS}" data-oersite-figure="{source}" data-oersite-kind="{kind}"'
        f' data-oersite-alt="{alt}" data-oersite-where="{html.escape(figure["where"], quote=True)}">'
        f"{live}{markup}</div></div>"
    )


def make_figure_images(
    output_dir: Path,
    record_path: Path,
    *,
    base_url: str | None = None,
    tiles: TileSettings | None = None,
) -> FiguresReport:
    """Give every figure of the built site its image; report how many were made and reused.

    A missing Chromium is one warning (``ChromiumMissing``'s message, which names what to
    install); the site is complete without the images, and the next build makes them (a
    build with figure warnings is not recorded as up to date).
    """
    # What an image looks like depends on how it is shot and the map tiles; what a page holds
    # around it also on the site's address and the stylesheet: a change of those re-reads every
    # page, but shoots no figure again.
    shot = json.dumps([SHOT, asdict(tiles) if tiles else None])
    rules = json.dumps([shot, base_url, STYLESHEET.read_text(encoding="utf-8")])
    record = _load_record(record_path, rules)
    library_digests: dict[str, str] = {}
    figures_by_page: dict[str, list[dict[str, str]]] = {}
    unchanged: dict[str, list[str]] = {}
    for page in sorted(output_dir.rglob("*.html")):
        name = page.relative_to(output_dir).as_posix()
        previous = record["pages"].get(name)
        if (
            previous
            and previous["stamp"] == page.stat().st_mtime_ns
            and all((output_dir / IMAGES / f"{digest}.png").is_file() for digest in previous["images"])
        ):
            unchanged[name] = previous["images"]
            continue
        text = page.read_text(encoding="utf-8")
        figures = [match.groupdict() for match in _FIGURE.finditer(text)]
        if not figures:
            record["pages"][name] = {"stamp": page.stat().st_mtime_ns, "images": []}
            continue
        libraries = [_library_digest(output_dir, path, library_digests) for path in sorted(_library_paths(text))]
        for figure in figures:
            figure["digest"] = _digest([shot, figure["source"], *libraries])
        figures_by_page[name] = figures

    images_dir = output_dir / IMAGES
    for digest in [digest for digest in record["images"] if not (images_dir / f"{digest}.png").is_file()]:
        del record["images"][digest]  # deleted from the site: shot again, never pointed at
    to_shoot = {
        name: [figure for figure in figures if figure["digest"] not in record["images"]]
        for name, figures in figures_by_page.items()
    }
    to_shoot = {name: figures for name, figures in to_shoot.items() if figures}
    warnings: list[str] = []
    made = 0
    if to_shoot:
        unmade = f"no images of {sum(len(figures) for figures in to_shoot.values())} figure(s) for print and readers "
        unmade += "without JavaScript"
        try:
            made, warnings = in_own_thread("oersite-figures", _shoot, output_dir, to_shoot, record["images"])
        except ChromiumMissing as missing:
            warnings = [f"{unmade}: {missing.message}"]
        except _playwright_error() as error:
            warnings = [f"{unmade}: {first_line(error)}"]

    reused = sum(len(images) for images in unchanged.values())
    shot_now = {figure["digest"] for figures in to_shoot.values() for figure in figures}
    for name, figures in figures_by_page.items():
        page = output_dir / name
        text = page.read_text(encoding="utf-8")
        with_images = _with_images(text, figures, record["images"], _prefix(name), base_url)
        if with_images != text:
            write_atomically(page, with_images)
        images = [figure["digest"] for figure in figures if figure["digest"] in record["images"]]
        reused += sum(1 for digest in images if digest not in shot_now)
        if len(images) == len(figures):  # else the next build tries again
            record["pages"][name] = {"stamp": page.stat().st_mtime_ns, "images": images}
    for name in set(record["pages"]) - {page.relative_to(output_dir).as_posix() for page in output_dir.rglob("*.html")}:
        del record["pages"][name]

    if figures_by_page or unchanged:
        stylesheet = output_dir / SHARED / "figures.css"
        if not stylesheet.is_file() or stylesheet.read_bytes() != STYLESHEET.read_bytes():
            write_atomically(stylesheet, STYLESHEET.read_bytes())
    _forget_unused_images(images_dir, record, figures_by_page)
    write_atomically(record_path, json.dumps(record))
    return FiguresReport(made=made, reused=reused, warnings=warnings)


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


def _shoot(
    output_dir: Path, to_shoot: dict[str, list[dict[str, str]]], images: dict[str, dict]
) -> tuple[int, list[str]]:
    """Draw the pages in Chromium, offline, and shoot the figures that have no image yet."""
    from playwright.sync_api import Error

    warnings: list[str] = []
    made = 0
    with serving(output_dir) as site_url, headless_chromium() as browser:
        # An offline reader's view: map tiles fail, as they would; no other server is reached.
        context = site_context(
            browser,
            site_url,
            viewport=SHOT["viewport"],
            device_scale_factor=SHOT["device_scale_factor"],
            reduced_motion="reduce",
        )
        context.set_default_timeout(DRAW_TIMEOUT)
        tab = context.new_page()
        for name, figures in to_shoot.items():
            try:
                tab.goto(site_url + name, wait_until="load")
                drawn = _wait_until_drawn(tab)
                for figure in figures:
                    element = drawn[figure["source"]]
                    shot = element.screenshot(animations="disabled")
                    write_atomically(output_dir / IMAGES / f"{figure['digest']}.png", shot)
                    # The size in CSS pixels, from the PNG's header (IHDR: width, height after 16 bytes)
                    pixels = struct.unpack(">II", shot[16:24])
                    width, height = (round(size / SHOT["device_scale_factor"]) for size in pixels)
                    images[figure["digest"]] = {"width": width, "height": height}
                    made += 1
            except Error as error:
                first = first_line(error)
                warnings += [
                    f"{figure['where']}: no image made, the figure did not draw in Chromium ({first})"
                    for figure in figures
                    if figure["digest"] not in images
                ]
        context.close()
    return made, warnings


def _playwright_error() -> type[Exception]:
    """Playwright's error class; without Playwright, one nothing raises (``ChromiumMissing`` says it is missing)."""
    try:
        from playwright.sync_api import Error
    except ImportError:
        return ChromiumMissing
    return Error


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
    drawn = {}
    figures = tab.locator(f".{FIGURE_CLASS}")
    for index in range(figures.count()):
        figure = figures.nth(index)
        source = figure.get_attribute("data-oersite-figure")
        if figure.get_attribute("data-oersite-kind") == "plot":
            element = figure.locator("[data-root-id] > *").first
            element.wait_for(state="visible")
        else:
            element = figure.locator("iframe").first
            frame = element.element_handle().content_frame()
            frame.wait_for_load_state("load")
            frame.wait_for_function("() => window.L !== undefined && document.querySelector('.leaflet-container')")
            frame.add_style_tag(content=".leaflet-control-zoom { display: none !important; }")
            frame.evaluate("() => document.fonts.ready.then(() => undefined)")
        drawn[source] = element
    # Two frames: whatever the last changes asked for is on the screen.
    tab.evaluate("() => new Promise((done) => requestAnimationFrame(() => requestAnimationFrame(done)))")
    return drawn


def _library_paths(text: str) -> set[str]:
    return set(_LIBRARY_REFERENCE.findall(html.unescape(text)))


def _library_digest(output_dir: Path, path: str, known: dict[str, str]) -> str:
    if path not in known:
        try:
            known[path] = f"{path}:{hashlib.sha256((output_dir / path).read_bytes()).hexdigest()}"
        except OSError:
            known[path] = f"{path}:missing"
    return known[path]


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


def _text(value: str | list[str]) -> str:
    return value if isinstance(value, str) else "".join(value)


def _digest(parts: list[str]) -> str:
    hasher = hashlib.sha256()
    for part in parts:
        hasher.update(part.encode("utf-8"))
        hasher.update(b"\0")
    return hasher.hexdigest()[:32]
