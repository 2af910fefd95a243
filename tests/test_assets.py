"""Pages load their scripts, stylesheets and fonts from the site itself."""

from __future__ import annotations

import html
import json
import re

import bokeh
import pytest
from bs4 import BeautifulSoup
from support.cli import oersite
from support.coursehelpers import make_course
from support.sample_site import FOLIUM_PAGES, NOTEBOOK_PAGES

from oersite.assets import (
    CDN_FILES,
    SHARED,
    TileSettings,
    remote_references,
    rewrite_page,
)

LEAFLET = "https://cdn.jsdelivr.net/npm/leaflet@1.9.3/dist/leaflet.js"


def folium_page(inner: str) -> str:
    return f'<html><body><iframe srcdoc="{html.escape(inner, quote=True)}"></iframe></body></html>'


def test_cdn_urls_inside_a_maps_srcdoc_become_page_relative():
    page = folium_page(f'<script src="{LEAFLET}"></script><link rel="stylesheet" href="{LEAFLET[:-2]}css"/>')
    text, found = rewrite_page(page, "../../", "3.9.2")
    assert "cdn.jsdelivr" not in text
    assert html.escape(f'src="../../{SHARED}/vendor/leaflet/leaflet.js"', quote=True) in text
    assert found.remote == []
    assert f"{SHARED}/vendor/leaflet" in found.shared


BOKEH_LOADER = (
    'const js_urls = ["https://cdn.bokeh.org/bokeh/release/bokeh-{v}.min.js", '
    '"https://cdn.bokeh.org/bokeh/release/bokeh-gl-{v}.min.js", '
    '"https://cdn.bokeh.org/bokeh/release/bokeh-widgets-{v}.min.js", '
    '"https://cdn.bokeh.org/bokeh/release/bokeh-tables-{v}.min.js", '
    '"https://cdn.bokeh.org/bokeh/release/bokeh-mathjax-{v}.min.js"];'
)


def test_bokeh_loads_the_installed_bokehjs_and_only_the_bundles_plots_need():
    page = (
        "<script>"
        + BOKEH_LOADER.format(v="3.9.2")
        + '</script><script>const docs_json = \'{"name":"Figure"}\';</script>'
    )
    text, found = rewrite_page(page, "", bokeh.__version__)
    assert re.findall(r"_static/oersite/bokeh/([\w.-]+)", text) == [f"bokeh-{bokeh.__version__}.min.js"]
    assert found.bokeh_versions == ["3.9.2"]
    assert found.remote == []


@pytest.mark.parametrize(
    ("model", "bundles"),
    [("Slider", ["bokeh-widgets"]), ("Div", ["bokeh-widgets"]), ("DataTable", ["bokeh-widgets", "bokeh-tables"])],
)
def test_a_plot_with_widgets_or_tables_keeps_their_bundles(model, bundles):
    page = (
        "<script>"
        + BOKEH_LOADER.format(v="3.9.2")
        + f'</script><script>const docs_json = \'{{"name":"Figure"}},{{"name":"{model}"}}\';</script>'
    )
    text, _ = rewrite_page(page, "", bokeh.__version__)
    assert re.findall(r"_static/oersite/bokeh/([\w.-]+)", text) == [
        f"{bundle}-{bokeh.__version__}.min.js" for bundle in ["bokeh", *bundles]
    ]


def test_a_plot_with_tex_keeps_the_mathjax_bundle():
    page = "<script>" + BOKEH_LOADER.format(v="3.9.2") + '</script><script>x = \'{"name":"TeX"}\'</script>'
    text, _ = rewrite_page(page, "", bokeh.__version__)
    assert "bokeh-mathjax" in text
    assert "bokeh-gl" not in text


def test_outputs_of_another_bokeh_are_noticed():
    _, found = rewrite_page("<script>" + BOKEH_LOADER.format(v="3.4.0") + "</script>", "", "3.9.2")
    assert found.bokeh_versions == ["3.4.0"]


@pytest.mark.parametrize(
    "reference",
    [
        '<script src="https://cdn.example.org/lib.js"></script>',
        '<link rel="stylesheet" href="https://fonts.example.org/css?family=Roboto">',
        "<style>@import url('https://cdn.example.org/x.css');</style>",
        "<style>@font-face { src: url(https://cdn.example.org/f.woff2) }</style>",
        '<script>loader.load("https://cdn.example.org/late.js")</script>',
        '<script src="//cdn.example.org/lib.js"></script>',
    ],
)
def test_unknown_remote_scripts_styles_and_fonts_are_found_also_inside_srcdoc(reference):
    assert remote_references(reference)
    assert remote_references(folium_page(reference))


@pytest.mark.parametrize(
    "harmless",
    [
        '<a href="https://example.org/read-more">a link to read</a>',
        '<link rel="canonical" href="https://example.org/page.html">',
        '<script>L.tileLayer("https://tile.openstreetmap.org/{z}/{x}/{y}.png")</script>',
        '<img src="https://example.org/picture.png">',
    ],
)
def test_links_images_and_tiles_are_not_reported(harmless):
    assert remote_references(harmless) == set()


def test_the_tile_provider_can_be_replaced_inside_srcdoc():
    inner = (
        'L.tileLayer("https://tile.openstreetmap.org/{z}/{x}/{y}.png", '
        '{"attribution": "\\u0026copy; OpenStreetMap", "maxZoom": 19});'
    )
    tiles = TileSettings("https://tiles.uni.example/{z}/{x}/{y}.png", 'Tiles © "Uni" Maps')
    text, _ = rewrite_page(folium_page(f"<script>{inner}</script>"), "", "3.9.2", tiles)
    srcdoc = html.unescape(text)
    assert 'L.tileLayer("https://tiles.uni.example/{z}/{x}/{y}.png"' in srcdoc
    assert '"attribution": "Tiles \\u00a9 \\"Uni\\" Maps"' in srcdoc
    assert '"maxZoom": 19' in srcdoc


def test_every_known_cdn_file_is_vendored():
    from oersite.assets import VENDOR_DIR

    missing = [path for path in CDN_FILES.values() if not (VENDOR_DIR / path).is_file()]
    assert missing == [], "reinstall oersite (pip install -e .) to vendor the browser libraries"


@pytest.mark.slow
def test_the_sample_site_references_nothing_remote_and_shares_each_library_once(built_sample):
    site, output = built_sample
    assert "other hosts" not in output
    for docname in NOTEBOOK_PAGES:
        page = (site / f"{docname}.html").read_text(encoding="utf-8")
        assert remote_references(page) - {"https://unpkg.com/thebe@0.8.2/lib/index.js"} == set(), docname
        assert len(page) < 1_000_000, f"{docname} inlines something big"
    shared = site / SHARED
    assert (shared / f"bokeh/bokeh-{bokeh.__version__}.min.js").is_file()
    assert not (shared / f"bokeh/bokeh-mathjax-{bokeh.__version__}.min.js").exists()  # no plot needs it
    for library in ("leaflet", "jquery", "bootstrap", "fontawesome", "glyphicons", "leaflet.awesome-markers", "d3"):
        assert (shared / "vendor" / library).is_dir(), library
    for docname in FOLIUM_PAGES:
        # Each map is a page of its own inside an iframe's srcdoc, whose relative URLs resolve against this page.
        page = BeautifulSoup((site / f"{docname}.html").read_text(encoding="utf-8"), "html.parser")
        for frame in page.find_all("iframe", srcdoc=True):
            scripts = [
                script["src"] for script in BeautifulSoup(frame["srcdoc"], "html.parser").find_all("script", src=True)
            ]
            assert f"../../{SHARED}/vendor/leaflet/leaflet.js" in scripts, docname


@pytest.mark.slow
def test_a_remote_script_in_an_output_is_reported_and_strict_fails_on_it(tmp_path):
    course = make_course(
        tmp_path / "c",
        {
            "widget.ipynb": [
                "from IPython.display import HTML",
                "HTML('<script src=\"https://cdn.example.org/w.js\"></script>')",
            ]
        },
    )
    relaxed = oersite("build", str(course))
    assert relaxed.exit_code == 0, relaxed.output
    assert "widget.html: https://cdn.example.org/w.js" in relaxed.output
    strict = oersite("build", str(course), "--strict")
    assert strict.exit_code == 1
    assert "widget.html: https://cdn.example.org/w.js" in strict.output


@pytest.mark.slow
def test_a_page_with_another_bokehs_output_is_named_with_both_versions(tmp_path):
    course = make_course(tmp_path / "c", {"old.ipynb": []}, config={"execute": {"execute_notebooks": "off"}})
    notebook = json.loads((course / "old.ipynb").read_text())
    notebook["cells"].append(
        {
            "cell_type": "code",
            "execution_count": 1,
            "metadata": {},
            "source": "output_notebook()",
            "outputs": [
                {
                    "output_type": "display_data",
                    "metadata": {},
                    "data": {"application/javascript": BOKEH_LOADER.format(v="3.1.0")},
                }
            ],
        }
    )
    (course / "old.ipynb").write_text(json.dumps(notebook))
    result = oersite("build", str(course))
    assert result.exit_code == 0, result.output
    assert (
        f"old.html: its plots were made with Bokeh 3.1.0 but the site ships BokehJS {bokeh.__version__}"
        in result.output
    )


@pytest.mark.slow
def test_the_configured_tile_provider_reaches_every_map(tmp_path):
    course = make_course(
        tmp_path / "c",
        {
            "map.ipynb": [
                "import folium",
                ("folium.Map(location=[52.5, 13.4], zoom_start=5)", {"alt": "Map of Berlin."}),
            ]
        },
        config={
            "oersite": {
                "maps": {"tiles": "https://tiles.uni.example/{z}/{x}/{y}.png", "attribution": "Uni map service"}
            }
        },
    )
    result = oersite("build", str(course), "--strict")
    assert result.exit_code == 0, result.output
    srcdoc = html.unescape((course / "_build/html/map.html").read_text())
    assert re.search(r'L\.tileLayer\(\s*"https://tiles\.uni\.example/\{z\}/\{x\}/\{y\}\.png"', srcdoc)
    assert "tile.openstreetmap.org" not in srcdoc
    assert '"attribution": "Uni map service"' in srcdoc


def test_tiles_without_attribution_are_refused(tmp_path):
    course = make_course(tmp_path / "c", config={"oersite": {"maps": {"tiles": "https://t.example/{z}/{x}/{y}.png"}}})
    result = oersite("build", str(course))
    assert result.exit_code == 1
    assert "oersite.maps.attribution: required with oersite.maps.tiles" in result.output


PLOT_SCRIPT = (
    '<script type="application/javascript">const docs_json = {"1f":{"version":"3.9.2","title":"",'
    '"roots":[]}}; void root.Bokeh.embed.embed_items_notebook(docs_json, render_items);</script>'
)


def test_a_page_with_plots_loads_bokehjs_in_its_head_even_without_the_loader_cell():
    page = f"<html><head><title>t</title></head><body>{PLOT_SCRIPT}</body></html>"
    text, found = rewrite_page(page, "../", bokeh.__version__)
    head = text.split("</head>")[0]
    assert re.findall(r'src="\.\./_static/oersite/bokeh/([\w.-]+)"', head) == [f"bokeh-{bokeh.__version__}.min.js"]
    assert f"{SHARED}/bokeh/bokeh-{bokeh.__version__}.min.js" in found.shared
    assert found.bokeh_versions == ["3.9.2"]
    again, _ = rewrite_page(text, "../", bokeh.__version__)
    assert again == text, "a page rewritten twice gets BokehJS once"


def test_the_loader_cell_of_a_page_with_bokehjs_in_its_head_loads_nothing_again():
    page = f"<html><head></head><body><script>{BOKEH_LOADER.format(v='3.9.2')}</script>{PLOT_SCRIPT}</body></html>"
    text, _ = rewrite_page(page, "", bokeh.__version__)
    assert "const js_urls = [];" in text
    assert text.count(f"bokeh-{bokeh.__version__}.min.js") == 1


def test_plots_of_another_bokeh_are_noticed_without_a_loader():
    page = "<html><head></head><body>" + PLOT_SCRIPT.replace("3.9.2", "3.1.0") + "</body></html>"
    _, found = rewrite_page(page, "", "3.9.2")
    assert found.bokeh_versions == ["3.1.0"]


def test_a_real_plot_with_a_slider_loads_the_widgets_bundle_and_a_plot_alone_does_not():
    """Bokeh's own notebook output, as a kernel makes it: its document names the slider's model."""
    from bokeh.embed.notebook import notebook_content
    from bokeh.layouts import column
    from bokeh.models import Slider
    from bokeh.plotting import figure

    def page_of(model) -> str:
        script, div, _document = notebook_content(model)
        return f"<html><head></head><body>{div}<script>{script}</script></body></html>"

    plot = figure()
    plot.scatter([1, 2], [3, 4])
    slider = Slider(start=0, end=1, value=0, step=0.1)
    with_slider, _ = rewrite_page(page_of(column(slider, plot)), "", bokeh.__version__)
    alone, _ = rewrite_page(page_of(plot), "", bokeh.__version__)
    assert f"bokeh-widgets-{bokeh.__version__}.min.js" in with_slider
    assert "bokeh-widgets" not in alone and "bokeh-tables" not in alone
