"""Every Bokeh plot draws, wherever the author put (or hid) the cell that loads BokehJS.

Authors hide the set-up cell, ``output_notebook()``, with a tag, or call it once and plot
several cells later.  In plain Jupyter Book a plot whose loader cell is tagged ``remove-cell``
stays blank ("BokehJS library is missing", jupyter-book issue 1751).  A small real course
with one notebook per case is built and each page opened in Chromium with every request off
127.0.0.1 refused; screenshots are kept under _build/test-artifacts/bokeh-loaders/.
"""

from __future__ import annotations

import pytest
from conftest import REPOSITORY
from support.browser import Traffic, offline_context, served
from support.cli import oersite
from support.coursehelpers import make_course

pytestmark = pytest.mark.slow  # builds a course and drives Chromium

SCREENSHOTS = REPOSITORY / "_build" / "test-artifacts" / "bokeh-loaders"
HIDING_TAGS = ["remove-cell", "remove-output", "remove-input", "hide-output", "hide-cell"]
IMPORTS = "from bokeh.io import output_notebook, show\nfrom bokeh.plotting import figure"
PLOT = "plot = figure(width=300, height=200)\nplot.scatter([1, 2, 3], [3, 1, 2], size=10)\nshow(plot)"
PLOT_CELL = (PLOT, {"alt": "Scatter plot of three points."})
SLIDER = "from bokeh.models import Slider\nshow(Slider(start=0, end=10, value=3, title='n'))"
NOTEBOOKS = {
    **{
        f"bokeh/{tag.replace('-', '_')}.ipynb": [IMPORTS, ("output_notebook()", [tag]), PLOT_CELL]
        for tag in HIDING_TAGS
    },
    # Loaded at the top, shown four cells later; the widget needs BokehJS's widgets bundle too.
    "bokeh/shown_later.ipynb": [IMPORTS, "output_notebook()", "x = 1", "y = 2", PLOT_CELL, SLIDER],
}
#: What each kind of root draws into its shadow DOM: a figure's canvas, a slider's track.
DRAWN = "canvas, .noUi-target"


@pytest.fixture(scope="module")
def site_url(tmp_path_factory):
    course = make_course(tmp_path_factory.mktemp("bokeh") / "course", NOTEBOOKS)
    result = oersite("build", str(course), "--strict")
    assert result.exit_code == 0, result.output
    with served(course / "_build" / "html") as url:
        yield url


@pytest.mark.parametrize("notebook", sorted(NOTEBOOKS))
def test_every_plot_draws_whatever_hides_its_loader(browser, site_url, notebook):
    docname = notebook.removesuffix(".ipynb")
    traffic = Traffic()
    context = offline_context(browser, traffic)
    page = context.new_page()
    console: list[str] = []
    page.on("console", lambda message: console.append(message.text))
    try:
        page.goto(f"{site_url}{docname}.html", wait_until="load")
        roots = page.locator("div[data-root-id]")
        expected = 2 if "later" in notebook else 1
        assert roots.count() == expected
        for index in range(expected):
            roots.nth(index).locator(DRAWN).first.wait_for(state="attached", timeout=15_000)
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SCREENSHOTS / f"{docname.replace('/', '-')}.png"), full_page=True)
        assert page.evaluate("window.Bokeh.version") == __import__("bokeh").__version__
        assert not [line for line in console if "BokehJS" in line and ("missing" in line or "failed" in line)]
        assert traffic.loaded_from_outside() == [] and traffic.loads_that_failed() == []
    finally:
        context.close()
