"""Licence, attribution, data credits, catalogue records and the sitemap: what a reuser and a catalogue read."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ElementTree

import pytest
import yaml
from bs4 import BeautifulSoup
from support.cli import assert_one_line_error, oersite
from support.coursehelpers import make_course, tree_digest
from support.publish_courses import LAUNCH, git_course

SAMPLE_PAGES = [
    "book/intro",
    "book/students",
    "notebooks/bokeh/heatmap",
    "notebooks/bokeh/scatter",
    "notebooks/bokeh/timeseries",
    "notebooks/bokeh/binary_tree",
    "notebooks/folium/markers",
    "notebooks/folium/choropleth",
    "notebooks/folium/voronoi",
]
BASE = "https://oersite.example.org/data-analysis/"
CC_BY = "https://creativecommons.org/licenses/by/4.0/"
PUBLIC_DOMAIN_MARK = "https://creativecommons.org/publicdomain/mark/1.0/"


def page(site, docname) -> BeautifulSoup:
    return BeautifulSoup((site / f"{docname}.html").read_text(), "html.parser")


def record(soup: BeautifulSoup) -> dict:
    scripts = soup.find_all("script", type="application/ld+json")
    assert len(scripts) == 1
    return json.loads(scripts[0].string)


def text_course(root, config=None):
    """A course of two Markdown pages: quick to build."""
    course = make_course(root, {}, config=config, extra_chapters=["more"])
    (course / "more.md").write_text("# More\n\nAnother page of the course.\n")
    return course


# The sample course.


@pytest.mark.slow
@pytest.mark.parametrize("docname", SAMPLE_PAGES)
def test_every_page_names_the_licence_and_whom_to_credit_for_machines_too(built_sample, docname):
    site, _ = built_sample
    soup = page(site, docname)
    credits = soup.find("footer", class_="oersite-credits")
    licence = credits.find("a", rel="license")
    assert licence["href"] == CC_BY
    assert "Creative Commons Attribution 4.0 International" in licence.get_text()
    assert licence.find(class_="oersite-license-badge").get_text() == "CC BY 4.0"
    assert credits.find(property="cc:attributionName").get_text() == "The oersite sample course authors"
    assert "cc: http://creativecommons.org/ns#" in credits["prefix"]
    assert credits.find(property="dct:title").get_text() == soup.find("h1").get_text().strip("#¶ ")


@pytest.mark.slow
def test_a_page_credits_the_datasets_its_notebook_reads_under_their_own_licences(built_sample):
    site, _ = built_sample

    def credited(docname):
        datasets = page(site, docname).find("ul", class_="oersite-datasets")
        return {} if datasets is None else {item.cite.get_text(): item for item in datasets.find_all("li")}

    voronoi = credited("notebooks/folium/voronoi")
    assert set(voronoi) == {
        "Airports of the 48 contiguous US states",
        "Boundaries of the 48 contiguous US states and Washington, D.C. (simplified)",
    }
    airports = voronoi["Airports of the 48 contiguous US states"]
    assert "OurAirports contributors" in airports.get_text()
    assert {a["href"] for a in airports.find_all("a")} == {"https://ourairports.com/data/", PUBLIC_DOMAIN_MARK}
    # A dataset's licence link is not the page's licence.
    assert airports.find("a", rel="license") is None
    penguins = credited("notebooks/bokeh/scatter")["Palmer penguins"]  # imported from bokeh.sampledata
    assert "https://creativecommons.org/publicdomain/zero/1.0/" in {a["href"] for a in penguins.find_all("a")}
    assert set(credited("notebooks/folium/choropleth")) == {
        "Unemployment by US state, 2009",
        "Boundaries of the 48 contiguous US states and Washington, D.C. (simplified)",
    }
    assert credited("book/students") == {} and credited("notebooks/bokeh/binary_tree") == {}


@pytest.mark.slow
@pytest.mark.parametrize("docname", SAMPLE_PAGES[1:])
def test_every_page_carries_a_learning_resource_record_a_catalogue_harvests(built_sample, docname):
    site, _ = built_sample
    soup = page(site, docname)
    data = record(soup)
    assert data["@context"][0] == "https://w3id.org/kim/amb/context.jsonld"
    assert data["id"] == BASE + f"{docname}.html" == data["mainEntityOfPage"][0]["id"]
    assert data["type"] == ["LearningResource"]
    assert data["name"] == soup.find("h1").get_text().strip("#¶ ")
    assert len(data["description"]) > 40
    assert data["license"] == {"id": CC_BY}
    assert data["creator"] == [{"type": "Organization", "name": "The oersite sample course authors"}]
    assert data["inLanguage"] == ["en"] and soup.html["lang"] == "en"
    assert data["learningResourceType"][0]["id"] == "https://w3id.org/kim/hcrt/text"
    assert data["educationalLevel"] == [{"id": "https://w3id.org/kim/educationalLevel/level_06"}]
    assert data["about"] == [{"id": "http://www.wikidata.org/entity/Q1988917"}]
    assert data["isPartOf"][0]["id"] == BASE + "book/intro.html"
    assert data["isPartOf"][0]["name"] == "Data analysis for everyone"


@pytest.mark.slow
def test_the_course_index_describes_the_whole_course(built_sample):
    site, _ = built_sample
    data = record(page(site, "book/intro"))
    config = yaml.safe_load((site.parents[1] / "_config.yml").read_text())
    assert "Course" in data["type"] and "LearningResource" in data["type"]
    assert data["name"] == "Data analysis for everyone"
    assert data["description"] == config["oersite"]["catalogue"]["description"]
    assert data["learningResourceType"][0]["id"] == "https://w3id.org/kim/hcrt/course"
    assert [part["id"] for part in data["hasPart"]] == [BASE + f"{name}.html" for name in SAMPLE_PAGES[1:]]
    assert "Bokeh" in data["keywords"]


@pytest.mark.slow
def test_the_sitemap_lists_every_page_at_the_sites_address(built_sample):
    site, _ = built_sample
    root = ElementTree.parse(site / "sitemap.xml").getroot()
    assert root.tag == "{http://www.sitemaps.org/schemas/sitemap/0.9}urlset"
    assert [loc.text for loc in root.iter("{http://www.sitemaps.org/schemas/sitemap/0.9}loc")] == [
        BASE + f"{name}.html" for name in SAMPLE_PAGES
    ]


# What oersite check finds.


def check_findings(course):
    result = oersite("check", course)
    return result, [line for line in result.output.splitlines() if line.startswith(("error:", "warning:"))]


@pytest.mark.slow
def test_check_finds_a_page_without_its_licence_a_broken_record_and_a_page_missing_from_the_sitemap(tmp_path):
    course = git_course(tmp_path / "c", {}, pages={"more": "# More\n\nAnother page of the course.\n"})
    assert oersite("build", course).exit_code == 0
    result, findings = check_findings(course)
    assert result.exit_code == 0 and findings == [], result.output

    site = course / "_build/html"
    intro = site / "intro.html"
    intro.write_text(intro.read_text().replace('rel="license"', ""))
    more = site / "more.html"
    text = more.read_text()
    start = text.index('<script type="application/ld+json"')
    more.write_text(text[: start + 60] + "{not json" + text[start + 60 :])
    sitemap = site / "sitemap.xml"
    sitemap.write_text("\n".join(line for line in sitemap.read_text().splitlines() if "more.html" not in line))
    result, findings = check_findings(course)
    assert result.exit_code == 1
    assert "error: intro.html: no link to CC-BY-4.0 marked rel=license: rebuild it with oersite build" in findings
    assert any(line.startswith("error: more.html: its JSON-LD record does not parse") for line in findings)
    assert "error: sitemap.xml: does not list more.html: rebuild the site with oersite build" in findings


@pytest.mark.slow
def test_publish_refuses_a_course_without_a_licence_unless_forced_and_then_says_so_loudly(tmp_path):
    course = git_course(
        tmp_path / "c", {}, pages={"more": "# More\n"}, config={"oersite": {"launch": dict(LAUNCH), "license": None}}
    )
    assert oersite("build", course).exit_code == 0
    before = tree_digest(course)
    target = tmp_path / "www"
    refused = oersite("publish", course, "--to-dir", target)
    assert_one_line_error(refused, "_config.yml: oersite.license.id is not set", "--force")
    assert len(refused.output.strip().splitlines()) == 1
    assert not target.exists() and tree_digest(course) == before
    checked = oersite("check", course)
    assert "error: _config.yml: oersite.license.id is not set" in checked.output

    forced = oersite("publish", str(course), "--to-dir", str(target), "--force")
    assert forced.exit_code == 0, forced.output
    assert "PUBLISHING WITHOUT A LICENCE (--force)" in forced.stderr
    assert (target / "intro.html").is_file()


# Misconfiguration: one line each, exit 1, nothing written.


def test_an_unknown_licence_is_one_line_with_the_identifier_it_meant(tmp_path):
    course = text_course(tmp_path / "c", config={"oersite": {"license": {"id": "CC-BY-4"}}})
    assert_one_line_error(
        oersite("build", course),
        "_config.yml: oersite.license.id: 'CC-BY-4' is not an SPDX licence identifier; did you mean 'CC-BY-4.0'?",
    )
    assert not (course / "_build").exists()


def test_a_manifest_entry_with_an_unknown_licence_or_a_missing_file_names_the_manifest_and_the_entry(tmp_path):
    course = text_course(tmp_path / "c")
    (course / "data").mkdir()
    (course / "data/trees.csv").write_text("species,height\noak,20\n")
    (course / "data/datasets.yml").write_text(
        "- file: trees.csv\n  title: Trees\n  source: https://example.org/trees\n  license: cc-by-sa-4.0\n"
        "- file: birds.csv\n  title: Birds\n  source: https://example.org/birds\n  license: CC0-1.0\n"
    )
    result = oersite("build", course)
    assert_one_line_error(
        result,
        "data/datasets.yml: dataset 1 (trees.csv) license: 'cc-by-sa-4.0' is not an SPDX licence identifier; "
        "did you mean 'CC-BY-SA-4.0'?",
        "data/datasets.yml: dataset 2 (file): birds.csv is not a file in data/",
    )
    assert not (course / "_build").exists()


@pytest.mark.slow
def test_a_data_file_without_a_manifest_entry_is_a_warning_and_an_error_with_strict(tmp_path):
    course = text_course(tmp_path / "c")
    (course / "data").mkdir()
    (course / "data/trees.csv").write_text("species,height\noak,20\n")
    (course / "data/README.md").write_text("About the data.\n")  # not data
    expected = (
        "data/trees.csv: a data file with no entry in data/datasets.yml; "
        "add its title, source, license and attribution there"
    )
    strict = oersite("build", course, "--strict")
    assert_one_line_error(strict, expected)
    assert not (course / "_build/html").exists()
    built = oersite("build", course)
    assert built.exit_code == 0 and expected in built.output


@pytest.mark.slow
def test_without_a_base_url_the_build_warns_and_writes_no_sitemap(tmp_path):
    course = text_course(tmp_path / "c", config={"html": {"baseurl": None}})
    built = oersite("build", course)
    assert built.exit_code == 0
    assert "_config.yml: html.baseurl is not set, so there is no sitemap.xml" in built.output
    site = course / "_build/html"
    assert not (site / "sitemap.xml").exists()
    # The records are still there, with addresses relative to the page.
    assert record(page(site, "intro"))["id"] == "intro.html"
    assert_one_line_error(oersite("build", course, "--strict"), "html.baseurl is not set")


def test_a_base_url_that_is_not_an_address_is_refused(tmp_path):
    course = text_course(tmp_path / "c", config={"html": {"baseurl": "course.example.org"}})
    assert_one_line_error(
        oersite("build", course), "_config.yml: html.baseurl: expected the address the site is published at"
    )


def test_catalogue_values_are_checked_by_key(tmp_path):
    course = text_course(
        tmp_path / "c",
        config={"oersite": {"catalogue": {"course_type": ["cours"], "subjects": ["data analysis"], "language": "?"}}},
    )
    result = oersite("build", course)
    assert_one_line_error(
        result,
        "oersite.catalogue.course_type[0]: 'cours' is not an HCRT type; did you mean 'course'?",
        "oersite.catalogue.subjects[0]: expected a URI (https://...), found 'data analysis'",
        "oersite.catalogue.language: expected a BCP 47 tag",
    )
