"""Every interactive figure has a text alternative and an image for print and readers without JavaScript.

The sample course (built once per session, --strict) is read for the markup and the
images; Debian's Chromium shows what a printed page and a page without JavaScript
show. A small course of its own goes through the builds an author meets: a figure
cell without ``alt`` (a warning, an error with --strict), a rebuild that changes no
figure (no image made again), and a machine without Chromium.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from PIL import Image, ImageStat
from support.browser import Quiet, Traffic, offline_context, served
from support.cli import oersite
from support.coursehelpers import make_course
from support.sample_site import BOKEH_PAGES, FOLIUM_PAGES, NOTEBOOK_PAGES, soup

from oersite.build import build_course
from oersite.checks.accessibility import AXE_SCRIPT as AXE  # the axe-core oersite check runs
from oersite.config import load_course
from oersite.figure_images import IMAGES
from oersite.figures import MISSING_ALT

pytestmark = pytest.mark.slow  # builds sites and drives Chromium

FIGURE_SUMMARY = "figure images for print and readers without JavaScript"


def notebook_alts(course: Path, docname: str) -> list[str]:
    """The ``alt`` of each code cell that has one, in notebook order (as an author wrote them)."""
    notebook = json.loads((course / f"{docname}.ipynb").read_text(encoding="utf-8"))
    return [cell["metadata"]["alt"] for cell in notebook["cells"] if "alt" in cell.get("metadata", {})]


def image_file(site: Path, docname: str, image) -> Path:
    return ((site / docname).parent / image["src"]).resolve()


def assert_not_blank(path: Path) -> None:
    with Image.open(path) as image:
        spread = ImageStat.Stat(image.convert("L")).stddev[0]
    assert spread > 10, f"{path.name} is (nearly) one colour: standard deviation {spread:.1f}"


# The sample course's markup and images.


def test_the_build_summary_counts_the_figure_images(built_sample):
    _site, output = built_sample
    assert f"8 {FIGURE_SUMMARY}: 8 made, 0 reused" in output


@pytest.mark.parametrize("docname", NOTEBOOK_PAGES)
def test_every_figure_has_an_image_with_its_cells_alt(built_sample, sample_course, docname):
    site, _ = built_sample
    page = soup(site, docname)
    figures = page.select(".oersite-figure")
    live = len(page.select("div[data-root-id]")) + len(page.select("iframe[srcdoc]"))
    assert live >= 1 and len(figures) == live, "every plot and map is wrapped as a figure"
    images = [figure.select_one(":scope > img.oersite-figure-image") for figure in figures]
    assert all(images), "a figure without its image"
    assert [image["alt"] for image in images] == notebook_alts(sample_course, docname)
    for image in images:
        path = image_file(site, docname, image)
        assert path.is_file() and path.parent == (site / IMAGES).resolve()
        with Image.open(path) as png:  # shot at twice the CSS size, for print
            assert abs(png.width - 2 * int(image["width"])) <= 1 and abs(png.height - 2 * int(image["height"])) <= 1
        assert_not_blank(path)


@pytest.mark.parametrize("docname", BOKEH_PAGES)
def test_a_plot_is_one_image_named_by_its_alt_for_a_screen_reader(built_sample, sample_course, docname):
    page = soup(built_sample[0], docname)
    named = [live["aria-label"] for live in page.select(".oersite-live-figure[role=figure]")]
    assert named == notebook_alts(sample_course, docname)
    for live in page.select(".oersite-live-figure"):
        assert live.select_one("div[data-root-id]"), "the plot itself is inside the named figure"


@pytest.mark.parametrize("docname", FOLIUM_PAGES)
def test_a_maps_frame_is_titled_by_its_alt(built_sample, sample_course, docname):
    page = soup(built_sample[0], docname)
    assert [frame["title"] for frame in page.select("iframe[srcdoc]")] == notebook_alts(sample_course, docname)
    for note in page.select(".oersite-live-figure span"):  # Folium's line behind the map
        if "Trusted" in note.get_text():
            assert note["aria-hidden"] == "true"


def test_a_figures_page_previews_its_first_figure_at_the_sites_address(built_sample):
    site, _ = built_sample
    for docname in NOTEBOOK_PAGES:
        page = soup(site, docname)
        preview = page.select_one('meta[property="og:image"]')
        first = page.select_one("img.oersite-figure-image")
        assert preview["content"] == "https://oersite.example.org/data-analysis/" + first["src"].lstrip("./"), docname
        assert page.select_one('meta[property="og:image:alt"]')["content"] == first["alt"]


# What readers see, in Chromium.


@pytest.fixture(scope="module")
def site_url(built_sample):
    with served(built_sample[0]) as url:
        yield url


def open_page(browser, url, **options):
    context = offline_context(browser, Traffic(), **options)
    page = context.new_page()
    quiet = Quiet(page)
    page.goto(url, wait_until="load")
    quiet.wait(page)
    return context, page


def images_loaded(page) -> list[bool]:
    loaded = "images => images.map((image) => image.complete && image.naturalWidth > 0)"
    return page.eval_on_selector_all(".oersite-figure-image", loaded)


def visible(page, selector) -> list[bool]:
    found = page.locator(selector)
    return [found.nth(index).is_visible() for index in range(found.count())]


@pytest.mark.parametrize("docname", ["notebooks/bokeh/heatmap", "notebooks/folium/choropleth"])
def test_the_screen_shows_the_live_figure_and_print_shows_the_image(browser, site_url, docname):
    context, page = open_page(browser, f"{site_url}{docname}.html")
    try:
        assert visible(page, ".oersite-live-figure") and all(visible(page, ".oersite-live-figure"))
        assert not any(visible(page, ".oersite-figure-image"))
        page.emulate_media(media="print")
        assert all(visible(page, ".oersite-figure-image")) and all(images_loaded(page))
        assert not any(visible(page, ".oersite-live-figure"))
        for box in page.eval_on_selector_all(".oersite-figure-image", "images => images.map(i => i.width)"):
            assert box > 100, "the printed image has a size"
    finally:
        context.close()


@pytest.mark.parametrize("docname", ["notebooks/bokeh/scatter", "notebooks/folium/markers"])
def test_a_reader_without_javascript_sees_the_image(browser, site_url, docname):
    context, page = open_page(browser, f"{site_url}{docname}.html", java_script_enabled=False)
    try:
        assert visible(page, ".oersite-figure-image") and all(visible(page, ".oersite-figure-image"))
        assert all(images_loaded(page))
        assert not any(visible(page, ".oersite-live-figure"))
    finally:
        context.close()


#: axe-core's rules about what names a figure: frames, images, and ARIA on the wrappers.
FIGURE_RULES = [
    "frame-title",
    "frame-title-unique",
    "role-img-alt",
    "image-alt",
    "nested-interactive",
    "aria-allowed-attr",
    "aria-prohibited-attr",
    "aria-allowed-role",
    "presentation-role-conflict",
]


@pytest.mark.parametrize("docname", NOTEBOOK_PAGES)
def test_axe_finds_nothing_wrong_with_the_figures(browser, site_url, docname):
    context, page = open_page(browser, f"{site_url}{docname}.html")
    try:
        page.add_script_tag(path=str(AXE))
        results = page.evaluate(
            """(rules) => axe.run({include: [[".oersite-figure"]]},
                                  {runOnly: {type: "rule", values: rules}, iframes: false})""",
            FIGURE_RULES,
        )
        assert [(violation["id"], violation["help"]) for violation in results["violations"]] == []
        checked = {rule["id"] for rule in results["passes"]}
        assert "aria-allowed-role" in checked if docname in BOKEH_PAGES else "frame-title" in checked
    finally:
        context.close()


# A small course, through the builds an author meets.

BASE_URL = "https://course.example.org/data-analysis/"
PLOT = (
    "from bokeh.io import output_notebook, show\n"
    "from bokeh.plotting import figure\n"
    "output_notebook(hide_banner=True)\n"
    "plot = figure(width=300, height=200, title='Squares')\n"
    "plot.line([1, 2, 3, 4], [1, 4, 9, 16], line_width=3)\n"
    "show(plot)"
)
PLOT_ALT = "Line chart of the squares of 1 to 4, rising from 1 to 16."
MAP = "import folium\nfolium.Map(location=[48.2, 16.37], zoom_start=5)"
MYST_ALT = "The same squares, from a MyST Markdown notebook."
TABLE = "import pandas as pd\npd.DataFrame({'n': [1, 2, 3], 'square': [1, 4, 9]})"
SLIDER = (
    "from bokeh.io import output_notebook, show\n"
    "from bokeh.models import Slider\n"
    "output_notebook(hide_banner=True)\n"
    "show(Slider(start=1, end=4, value=2, step=1, title='n'))"
)
WARNING = f"lessons/figures.ipynb, cell 3: {MISSING_ALT}"


def build(course: Path, *options: str):
    return oersite("build", str(course), *options)


def image_stamps(site: Path) -> dict[str, tuple[int, int]]:
    return {path.name: (path.stat().st_ino, path.stat().st_mtime_ns) for path in (site / IMAGES).glob("*.png")}


@pytest.fixture(scope="module")
def small_course_builds(tmp_path_factory) -> dict:
    """One course, built as an author would: --strict, then without, then again with nothing changed for its figures."""
    course = make_course(
        tmp_path_factory.mktemp("figures") / "course",
        {
            "lessons/figures.ipynb": [(PLOT, {"alt": PLOT_ALT}), MAP],
            # Drawn otherwise than the notebook's plot: the same figure twice would share one image.
            "lessons/squares.md": [(PLOT.replace("'Squares'", "'Squares, from MyST'"), {"alt": MYST_ALT})],
            "lessons/outputs.ipynb": [TABLE, SLIDER],
        },
        config={"html": {"baseurl": BASE_URL}},
    )
    site = course / "_build" / "html"
    builds: dict = {"course": course, "site": site}
    builds["strict"] = build(course, "--strict")
    builds["page after strict"] = (site / "lessons" / "figures.html").exists()
    builds["first"] = build(course)
    builds["images after first"] = image_stamps(site)
    notebook = course / "lessons" / "figures.ipynb"
    os.utime(notebook)  # saved again, unchanged: Sphinx writes the page again, the figures are the same
    builds["again"] = build(course)
    builds["images after again"] = image_stamps(site)
    os.utime(notebook)
    builds["preview"] = build_course(load_course(course), figure_images=False)  # as oersite serve builds
    builds["page in preview"] = soup(site, "lessons/figures")
    builds["after preview"] = build(course)
    return builds


def test_a_figure_without_alt_stops_a_strict_build_before_any_page_is_written(small_course_builds):
    result = small_course_builds["strict"]
    assert result.exit_code == 1
    assert result.output.strip().splitlines()[-1] == f"Error: {WARNING}"
    assert "Traceback" not in result.output
    assert not small_course_builds["page after strict"]


def test_a_figure_without_alt_is_a_warning_naming_notebook_and_cell(small_course_builds):
    result = small_course_builds["first"]
    assert result.exit_code == 0, result.output
    assert [line for line in result.output.splitlines() if "warning" in line] == [f"warning: {WARNING}"]
    assert f"3 {FIGURE_SUMMARY}: 3 made, 0 reused" in result.output


def test_a_myst_markdown_notebook_gives_alt_as_a_cell_option(small_course_builds):
    page = soup(small_course_builds["site"], "lessons/squares")
    assert page.select_one("img.oersite-figure-image")["alt"] == MYST_ALT
    assert page.select_one(".oersite-live-figure")["aria-label"] == MYST_ALT


def test_outputs_that_are_not_figures_get_no_image(small_course_builds):
    """A table and a lone slider are outputs a reader sees, not figures: no image, no figure markup, no preview."""
    html = (small_course_builds["site"] / "lessons" / "outputs.html").read_text(encoding="utf-8")
    page = soup(small_course_builds["site"], "lessons/outputs")
    assert page.select(".cell_output table") and '"Slider"' in html, "the page shows both outputs"
    assert not page.select("[data-oersite-figures], .oersite-figure, img.oersite-figure-image")
    assert not page.select('meta[property="og:image"]')
    site = small_course_builds["site"]
    shown = {
        Path(image["src"]).name
        for docname in ("lessons/figures", "lessons/squares")
        for image in soup(site, docname).select("img.oersite-figure-image")
    }
    assert set(image_stamps(site)) == shown  # no image made for the table or the slider


def test_the_first_figure_is_the_pages_preview_image_at_the_base_url(small_course_builds):
    site = small_course_builds["site"]
    page = soup(site, "lessons/figures")
    (preview,) = page.select('meta[property="og:image"]')
    first = page.select_one("img.oersite-figure-image")
    assert preview["content"] == BASE_URL + f"{IMAGES}/{Path(first['src']).name}"
    assert page.select_one('meta[property="og:image:alt"]')["content"] == PLOT_ALT == first["alt"]
    assert (site / IMAGES / Path(first["src"]).name).is_file()


def test_without_the_sites_address_a_page_has_no_preview_image(tmp_path):
    """og:image must be absolute (the Open Graph protocol); with no html.baseurl there is none to give."""
    course = make_course(
        tmp_path / "course", {"lessons/plot.ipynb": [(PLOT, {"alt": PLOT_ALT})]}, config={"html": {"baseurl": None}}
    )
    assert build(course).exit_code == 0
    page = soup(course / "_build" / "html", "lessons/plot")
    assert page.select("img.oersite-figure-image") and not page.select('meta[property="og:image"]')


def test_a_rebuild_that_changes_no_figure_makes_no_image(small_course_builds):
    again = small_course_builds["again"]
    assert again.exit_code == 0, again.output
    assert "Nothing changed" not in again.output  # the page was written again...
    assert f"3 {FIGURE_SUMMARY}: 0 made, 3 reused" in again.output
    # ...and the images are the very files of the first build.
    assert small_course_builds["images after again"] == small_course_builds["images after first"]
    assert len(small_course_builds["images after first"]) == 3
    record = json.loads((small_course_builds["course"] / "_build/.oersite/figures.json").read_text())
    assert sorted(record["images"]) == sorted(Path(name).stem for name in small_course_builds["images after first"])


def add_code_cell(notebook: Path, source: str) -> None:
    data = json.loads(notebook.read_text(encoding="utf-8"))
    cell_id = f"added-{len(data['cells'])}"
    data["cells"].append({"cell_type": "code", "id": cell_id, "metadata": {}, "source": source, "outputs": []})
    data["cells"][-1]["execution_count"] = None
    notebook.write_text(json.dumps(data, indent=1), encoding="utf-8")


def test_a_notebook_run_again_whose_plot_is_the_same_keeps_its_image_and_starts_no_chromium(tmp_path):
    """Each run names a plot afresh; an edit after the plot draws nothing new, an edit of the plot does."""
    course = make_course(tmp_path / "course", {"lessons/plot.ipynb": [(PLOT, {"alt": PLOT_ALT})]})
    site = course / "_build" / "html"
    notebook = course / "lessons" / "plot.ipynb"
    first = build(course)
    one_figure = "1 figure image for print and readers without JavaScript"
    assert f"{one_figure}: 1 made, 0 reused" in first.output, first.output
    images = image_stamps(site)
    # The pages given images after oersite.assets read them are known to it as they are now:
    # the next build reads again only the pages Sphinx writes again.
    assets = json.loads((course / "_build/.oersite/assets.json").read_text())
    assert {name: page["stamp"] for name, page in assets["pages"].items()} == {
        page.relative_to(site).as_posix(): page.stat().st_mtime_ns for page in site.rglob("*.html")
    }

    add_code_cell(notebook, "print('a cell after the plot')")
    after_the_plot = build(course)
    assert "1 executed" in after_the_plot.output, after_the_plot.output
    assert f"{one_figure}: 0 made, 1 reused\n" in after_the_plot.output  # no "Chromium drew for"
    assert image_stamps(site) == images
    assert soup(site, "lessons/plot").select("img.oersite-figure-image")

    notebook.write_text(notebook.read_text(encoding="utf-8").replace("'Squares'", "'Squares of 1 to 4'"))
    plot_edited = build(course)
    assert f"{one_figure}: 1 made, 0 reused" in plot_edited.output, plot_edited.output
    assert set(image_stamps(site)) != set(images)


def test_the_preview_makes_no_image_and_the_next_build_puts_them_back(small_course_builds):
    preview = small_course_builds["preview"]
    assert (preview.figures.made, preview.figures.reused, preview.figures.warnings) == (0, 0, [])
    page = small_course_builds["page in preview"]
    assert page.select(".oersite-live-figure") and not page.select(".oersite-figure-image")
    after = small_course_builds["after preview"]
    assert after.exit_code == 0, after.output
    assert f"3 {FIGURE_SUMMARY}: 0 made, 3 reused" in after.output
    assert len(soup(small_course_builds["site"], "lessons/figures").select(".oersite-figure-image")) == 2


@pytest.fixture
def no_chromium(tmp_path, monkeypatch):
    """A PATH with every program of this one but Chromium (a build machine without it)."""
    programs = tmp_path / "bin"
    programs.mkdir()
    for folder in os.environ["PATH"].split(os.pathsep):
        if not os.path.isdir(folder):
            continue
        for name in os.listdir(folder):
            if name not in ("chromium", "chromium-browser") and not (programs / name).exists():
                (programs / name).symlink_to(Path(folder, name))
    monkeypatch.setenv("PATH", str(programs))


def test_without_chromium_the_site_is_built_with_one_warning_and_strict_fails(
    small_course_builds, no_chromium, monkeypatch
):
    course, site = small_course_builds["course"], small_course_builds["site"]
    for image in (site / IMAGES).glob("*.png"):
        image.unlink()  # the images are gone, and this machine cannot make them
    notebook_path = course / "lessons" / "figures.ipynb"
    notebook = json.loads(notebook_path.read_text(encoding="utf-8"))
    notebook["cells"][2]["metadata"]["alt"] = "A map of central Europe around Vienna."  # nothing else to warn of
    notebook_path.write_text(json.dumps(notebook), encoding="utf-8")

    result = build(course)
    assert result.exit_code == 0, result.output
    assert "Traceback" not in result.output
    missing = [line for line in result.output.splitlines() if "chromium" in line.lower()]
    assert len(missing) == 1 and missing[0].startswith("warning: ")
    assert "apt-get install chromium" in missing[0]
    assert (site / "lessons" / "figures.html").is_file()
    page = soup(site, "lessons/figures")
    assert page.select(".oersite-live-figure") and not page.select(".oersite-figure-image"), "no image, no <img>"
    checked = oersite("check", str(course))
    assert "warning: lessons/figures.html: 2 of its 2 figure(s) have no image" in checked.output, checked.output

    strict = build(course, "--strict")
    assert strict.exit_code == 1
    assert "Traceback" not in strict.output
    assert "apt-get install chromium" in strict.output

    # Chromium installed: the next build makes the images, although no course file changed.
    monkeypatch.undo()
    again = build(course)
    assert again.exit_code == 0 and "Nothing changed" not in again.output, again.output
    assert soup(site, "lessons/figures").select(".oersite-figure-image")
