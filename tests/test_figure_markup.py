"""Which outputs are figures, and the markup that names them (pure functions of oersite.figures).

The outputs are made by Bokeh and Folium themselves, as a notebook's kernel makes them.
"""

from __future__ import annotations

import folium
from bokeh.embed.notebook import notebook_content
from bokeh.layouts import column
from bokeh.models import Slider
from bokeh.plotting import figure
from bs4 import BeautifulSoup

from oersite.figures import figure_kind, wrap_figure_outputs

FIGURE = {"alt": 'Squares "rising" from 1 to 16 & more', "where": "lessons/a.ipynb, cell 2"}


def bokeh_cell(model) -> dict:
    """A code cell as ``show(model)`` leaves it in a notebook: the root's div, then its script."""
    script, div, _document = notebook_content(model)
    return {
        "cell_type": "code",
        "metadata": {},
        "outputs": [
            {"output_type": "display_data", "data": {"text/html": div}, "metadata": {}},
            {"output_type": "display_data", "data": {"application/javascript": script}, "metadata": {}},
        ],
    }


def map_cell() -> dict:
    markup = folium.Map(location=[48.2, 16.37], zoom_start=5)._repr_html_()
    return {
        "cell_type": "code",
        "metadata": {},
        "outputs": [{"output_type": "execute_result", "data": {"text/html": markup}}],
    }


def plot():
    made = figure(width=300, height=200)
    made.line([1, 2, 3, 4], [1, 4, 9, 16])
    return made


def kinds(cell: dict) -> list[str | None]:
    return [figure_kind(output, cell) for output in cell["outputs"]]


def wrapped(cell: dict) -> BeautifulSoup:
    notebook = wrap_figure_outputs({"cells": [cell]}, {"0": FIGURE})
    return BeautifulSoup(notebook["cells"][0]["outputs"][0]["data"]["text/html"], "html.parser")


def test_a_plot_a_layout_with_a_plot_and_a_map_are_figures_and_a_slider_is_not():
    assert kinds(bokeh_cell(plot())) == ["plot", None]
    assert kinds(bokeh_cell(column(plot(), Slider(start=0, end=10, value=3, title="n")))) == ["plot", None]
    assert kinds(bokeh_cell(Slider(start=0, end=10, value=3, title="n"))) == [None, None]
    assert kinds(map_cell()) == ["map"]


def test_a_plot_is_one_figure_named_by_the_alt():
    markup = wrapped(bokeh_cell(plot()))
    outer = markup.select_one("div.oersite-figure")
    assert outer["data-oersite-alt"] == FIGURE["alt"] and outer["data-oersite-kind"] == "plot"
    live = outer.select_one(":scope > div.oersite-live-figure")
    assert live["role"] == "figure" and live["aria-label"] == FIGURE["alt"]
    assert live.select_one("div[data-root-id]")


def test_a_layout_is_a_named_group_so_its_widgets_stay_reachable():
    live = wrapped(bokeh_cell(column(plot(), Slider(start=0, end=10, value=3, title="n")))).select_one(
        ".oersite-live-figure"
    )
    assert live["role"] == "group" and live["aria-label"] == FIGURE["alt"]


def test_a_maps_frame_gets_the_alt_as_its_title_and_the_trust_note_is_hidden():
    markup = wrapped(map_cell())
    live = markup.select_one("div.oersite-figure > div.oersite-live-figure")
    assert not live.has_attr("role"), "the map's controls stay reachable"
    assert live.select_one("iframe")["title"] == FIGURE["alt"]
    (note,) = [span for span in live.select("span") if "Trusted" in span.get_text()]
    assert note["aria-hidden"] == "true"
