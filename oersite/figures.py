"""Accessible figures, before Sphinx: which outputs are figures, their text alternatives, their markup.

A Bokeh plot is a canvas and a Folium map an iframe of script-drawn shapes: a screen
reader gets nothing from either, a printed page shows a blank box (or a map cut at the
page's edge), and a reader without JavaScript sees nothing at all.  This module gives
each figure its text; ``oersite.figure_images`` gives it an image, after Sphinx.

Authors give a figure's text in the code cell's metadata, as
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

The class names here are stable: ``oersite.figure_images``, ``static/figures.css``
and the PDF printer rely on them.
"""

from __future__ import annotations

import copy
import hashlib
import html
import json
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from oersite.saved_maps import is_old_frame_map

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
MISSING_ALT = 'an interactive figure with no text alternative; give the cell an "alt" in its metadata'
#: What the image of a figure without ``alt`` says (the build warned about it).
NO_ALT_GIVEN = "An interactive figure (its author has not described it yet)"
#: Cells whose outputs the page does not show (Jupyter Book's tags).
HIDDEN_OUTPUT_TAGS = {"remove-cell", "remove-output"}

_BOKEH_ROOT = re.compile(r'\bdata-root-id="(?P<id>[^"]+)"')
#: Bokeh's plot models, as ``docs_json`` names them.
_PLOT_MODEL = re.compile(r'"name":"(?:Figure|Plot|GMap|GridPlot)"')
_MAP_FRAME = re.compile(r"<iframe\b[^>]*\bsrcdoc=\"[^\"]*leaflet", re.IGNORECASE)
_FIRST_IFRAME = re.compile(r"<iframe\b(?![^>]*\btitle=)", re.IGNORECASE)
_TRUST_NOTE = re.compile(r"<span\b(?=[^>]*>\s*Make this Notebook Trusted)")


@dataclass(frozen=True)
class FigureCell:
    """A code cell whose output is a Bokeh plot or a Folium map, as its page renders it."""

    docname: str
    cell_index: int  # in the notebook as it is now (what the page shows, with the executed outputs)
    kind: str  # "plot" or "map"
    alt: str | None
    where: str  # "notebooks/bokeh/heatmap.ipynb, cell 14", as the author finds the cell
    #: The cell as its page renders it (outputs Sphinx wraps): what the image stage draws ahead of Sphinx.
    cell: dict[str, Any] | None = field(default=None, compare=False, repr=False)


def figure_kind(output: dict[str, Any], cell: dict[str, Any]) -> str | None:
    """The kind of figure an output of ``cell`` is: "plot" (Bokeh), "map" (Folium), or None.

    A Bokeh output is the root's ``<div data-root-id>``; what the root holds, its script says
    (the cell's ``application/javascript`` output, whose ``docs_json`` lists the models). A
    root of widgets alone (a slider) is a control, not a figure.
    """
    markup = output_text(output.get("data", {}).get("text/html", ""))
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
            script = output_text(output.get("data", {}).get(mime_type, ""))
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
    from oersite.sphinx_ext import without_bokeh_notebook_outputs

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
                    cell=without_bokeh_notebook_outputs({"cells": [copy.deepcopy(cell)]})["cells"][0],
                )
            )
    return found


#: What a notebook's code names when it may draw a Bokeh plot or a Folium map.
_FIGURE_LIBRARY = re.compile(r"\b(?:bokeh|folium)\b")
_BOKEH = re.compile(r"\bbokeh\b")


def draws_figures(notebook: nbformat.NotebookNode) -> bool:
    """Whether running ``notebook`` may make a figure: its code names Bokeh or Folium (a guess, made before it runs)."""
    return any(cell.cell_type == "code" and _FIGURE_LIBRARY.search(cell.source) for cell in notebook.cells)


def draws_plots(notebook: nbformat.NotebookNode) -> bool:
    """Whether running ``notebook`` may make a Bokeh plot: its code names Bokeh (a guess, as ``draws_figures``)."""
    return any(cell.cell_type == "code" and _BOKEH.search(cell.source) for cell in notebook.cells)


def may_draw_anew(notebook: nbformat.NotebookNode, previous: dict[str, Any] | None) -> bool:
    """Whether running ``notebook`` again may change its figures, against ``previous``, its last executed copy.

    A guess made before it runs, for when Chromium starts: beside the kernel (the figures
    are drawn as soon as it has run) or only once a figure without an image turns up.
    Chromium's start costs about a second of CPU, which an edit that leaves the figures as
    they were (``drawn_form``: a cell added after the last plot) would take from the
    kernel and Sphinx.  Yes for a first run, for code that is the same as before (a data
    file or the environment changed), and for any change up to the last cell that drew a
    figure; no when only cells after it changed.
    """
    if not draws_figures(notebook):
        return False
    if previous is None:
        return True
    before = [cell for cell in previous.get("cells", []) if cell.get("cell_type") == "code"]
    drew = [
        index
        for index, cell in enumerate(before)
        if any(figure_kind(output, cell) for output in cell.get("outputs", []))
    ]
    code_before = [output_text(cell.get("source", "")) for cell in before]
    code_now = [cell.source for cell in notebook.cells if cell.cell_type == "code"]
    if not drew or code_before == code_now:
        return True
    last = drew[-1] + 1
    return code_before[:last] != code_now[:last]


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


def figure_outputs(cell: dict[str, Any]) -> list[tuple[int, str, str]]:
    """(output number, kind, source) of each figure output of a cell as its page renders it.

    ``source`` names the figure by what the cell shows (``drawn_form``): the page's markup
    carries it, and the image stage finds an image by it (with how figures are drawn,
    ``FigureImages``).
    """
    outputs = cell.get("outputs", [])
    found = [(number, figure_kind(output, cell)) for number, output in enumerate(outputs)]
    if all(kind is None for _number, kind in found):
        return []
    shown = drawn_form(outputs)
    return [(number, kind, short_digest([shown, str(number)])) for number, kind in found if kind is not None]


#: The names Bokeh and Folium make up afresh on every run: Bokeh's documents and their
#: elements (uuid4s), Folium's JavaScript variables and elements (``map_``, ``tile_layer_``,
#: ``geo_json_`` and so on, then 32 hex digits).
_RANDOM_NAME = re.compile(
    r"(?<![0-9a-f-])[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}(?![0-9a-f-])"
    r"|(?<=[A-Za-z]_)[0-9a-f]{32}(?![0-9a-f])"
)


def drawn_form(outputs: list[dict[str, Any]]) -> str:
    """A cell's outputs as they draw: what stays the same when the cell is run again and draws the same.

    Each run of a notebook gives its plots and maps new random names, and its results new
    execution counts and memory addresses in their plain-text form (``<folium.folium.Map at
    0x7f...>``), which a page shows only where nothing richer is given.  Without them (the
    random names numbered in the order they appear, so the form still tells which output
    refers to which), a notebook run again after an edit that does not touch its figures
    keeps their images, and the build needs no Chromium for them.
    """
    kept = []
    for output in outputs:
        entry = {key: value for key, value in output.items() if key != "execution_count"}
        data = entry.get("data")
        if isinstance(data, dict) and "text/plain" in data and len(data) > 1:
            entry["data"] = {mime: value for mime, value in data.items() if mime != "text/plain"}
        kept.append(entry)
    names: dict[str, str] = {}
    return _RANDOM_NAME.sub(
        lambda match: names.setdefault(match.group(0), f"oersite-name-{len(names)}"), json.dumps(kept, sort_keys=True)
    )


def wrap_figure_outputs(notebook: dict[str, Any], cells: dict[str, dict[str, str]]) -> dict[str, Any]:
    """Wrap each figure output of the given cells in oersite's figure markup, in place."""
    for index, figure in cells.items():
        cell = notebook["cells"][int(index)]
        for number, kind, source in figure_outputs(cell):
            output = cell["outputs"][number]
            markup = output_text(output["data"]["text/html"])
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


def output_text(value: str | list[str]) -> str:
    return value if isinstance(value, str) else "".join(value)


def short_digest(parts: list[str]) -> str:
    hasher = hashlib.sha256()
    for part in parts:
        hasher.update(part.encode("utf-8"))
        hasher.update(b"\0")
    return hasher.hexdigest()[:32]
