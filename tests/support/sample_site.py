"""The sample course's pages, by kind, and a built page read as a reader's browser gets it."""

from __future__ import annotations

from pathlib import Path

from bs4 import BeautifulSoup

BOKEH_PAGES = [
    "notebooks/bokeh/heatmap",
    "notebooks/bokeh/scatter",
    "notebooks/bokeh/timeseries",
    "notebooks/bokeh/binary_tree",
]
FOLIUM_PAGES = ["notebooks/folium/markers", "notebooks/folium/choropleth", "notebooks/folium/voronoi"]
NOTEBOOK_PAGES = BOKEH_PAGES + FOLIUM_PAGES
TEXT_PAGES = ["book/intro", "book/students"]


def soup(site: Path, docname: str) -> BeautifulSoup:
    return BeautifulSoup((site / f"{docname}.html").read_text(encoding="utf-8"), "html.parser")
