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

from oersite.figures import figure_kind, figure_outputs, wrap_figure_outputs

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


#: A kernel's run of a notebook with a plot and a map, in a process of its own (as each run is).
A_RUN = """
import json, sys
import folium
from bokeh.embed.notebook import notebook_content
from bokeh.plotting import figure

title = sys.argv[1]
made = figure(width=300, height=200, title=title)
made.line([1, 2, 3, 4], [1, 4, 9, 16])
script, div, _document = notebook_content(made)
plot_outputs = [
    {"output_type": "display_data", "data": {"text/html": div}, "metadata": {}},
    {"output_type": "display_data", "data": {"application/javascript": script}, "metadata": {}},
]
found_map = folium.Map(location=[48.2, 16.37], zoom_start=5, tiles=None)
folium.GeoJson({"type": "Point", "coordinates": [16.37, 48.2]}, tooltip=title).add_to(found_map)
map_outputs = [{
    "output_type": "execute_result",
    "execution_count": int(sys.argv[2]),
    "metadata": {},
    "data": {"text/html": found_map._repr_html_(), "text/plain": repr(found_map)},
}]
print(json.dumps([plot_outputs, map_outputs]))
"""


def figure_names_of_a_run(title: str, execution_count: int = 3) -> list[list[tuple[int, str, str]]]:
    import json
    import subprocess
    import sys

    made = subprocess.run(
        [sys.executable, "-c", A_RUN, title, str(execution_count)], capture_output=True, text=True, check=True
    )
    return [figure_outputs({"cell_type": "code", "outputs": outputs}) for outputs in json.loads(made.stdout)]


def test_a_cell_run_again_that_draws_the_same_keeps_its_figures_names():
    """New random names, execution counts and addresses each run; the same picture keeps its image."""
    first, again = figure_names_of_a_run("Squares"), figure_names_of_a_run("Squares", execution_count=7)
    assert [kind for names in first for _number, kind, _source in names] == ["plot", "map"]
    assert first == again


def test_a_cell_run_again_that_draws_something_else_gets_new_names():
    first, changed = figure_names_of_a_run("Squares"), figure_names_of_a_run("Squares of 1 to 4")
    assert first[0] != changed[0]  # the plot's title
    assert first[1] != changed[1]  # the map's tooltip


def notebook_of(*sources: str):
    import nbformat

    return nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(source) for source in sources])


def executed(notebook, drew_at: int) -> dict:
    """``notebook`` as its last run left it: the cell at ``drew_at`` shows a plot."""
    cells = [{"cell_type": "code", "source": cell.source, "metadata": {}, "outputs": []} for cell in notebook.cells]
    cells[drew_at] = {**bokeh_cell(plot()), "source": notebook.cells[drew_at].source}
    return {"cells": cells}


def test_chromium_starts_beside_the_kernel_only_when_a_run_may_change_a_figure():
    from oersite.figures import may_draw_anew

    before = notebook_of("import bokeh", "show(plot)", "print('done')")
    last_run = executed(before, drew_at=1)
    assert may_draw_anew(before, None)  # never run: its figures are new
    assert may_draw_anew(before, last_run)  # the same code run again: a data file or the environment changed
    assert may_draw_anew(notebook_of("import bokeh", "show(other_plot)", "print('done')"), last_run)
    assert may_draw_anew(notebook_of("import bokeh; x = 2", "show(plot)", "print('done')"), last_run)
    assert not may_draw_anew(notebook_of("import bokeh", "show(plot)", "print('all done')"), last_run)
    assert not may_draw_anew(notebook_of("import bokeh", "show(plot)", "print('done')", "x = 1"), last_run)
    assert not may_draw_anew(notebook_of("print(1)"), None)  # names neither Bokeh nor Folium
