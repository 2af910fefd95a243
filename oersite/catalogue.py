"""What a page says about itself: its licence and credits, its catalogue record, the sitemap.

An OER is reusable when a reader can tell what they may do with it and whom to credit, and
findable when catalogues harvest it. From the Course (``oersite.license``,
``oersite.catalogue``, the data manifest, Jupyter Book's ``html.baseurl``) the build makes:

- ``page_metadata``: a plain dict handed to Sphinx (``oersite_page_metadata``), from which
  ``oersite.sphinx_ext`` adds to every page its credits (``credits_html``: the licence with
  its name, link and badge, marked up with Creative Commons' RDFa properties, and the
  datasets its notebook reads, each under its own licence) and its JSON-LD record
  (``page_record``): schema.org's LearningResource as the AMB profile describes it, the
  vocabulary the OERSI catalogue harvests. The course's first page describes the course.
- ``write_sitemap``: ``sitemap.xml`` of every page, when the site's address is known.
"""

from __future__ import annotations

import html
import json
import posixpath
from pathlib import Path
from typing import Any
from urllib.parse import quote
from xml.sax.saxutils import escape

from oersite.config import HCRT_TYPES, Course
from oersite.datasets import data_files_without_entry, datasets_read_by
from oersite.files import write_atomically
from oersite.toc import Page

AMB_CONTEXT = "https://w3id.org/kim/amb/context.jsonld"
HCRT = "https://w3id.org/kim/hcrt/"
SITEMAP = "sitemap.xml"
#: The fields ``oersite check`` requires of every page's record (AMB's required ones, and
#: what a reader of a catalogue needs to reuse the page: its licence and its course).
REQUIRED_FIELDS = ("@context", "id", "type", "name", "license", "mainEntityOfPage")
#: And of every page but the course's first, which stands for the course.
REQUIRED_OF_PARTS = ("isPartOf",)


def metadata_warnings(course: Course) -> list[str]:
    """What the build warns about before it starts: data without a manifest entry, no site address."""
    warnings = [
        f"{course.relative(course.data_dir / name)}: a data file with no entry in "
        f"{course.relative(course.manifest_path)}; add its title, source, license and attribution there"
        for name in data_files_without_entry(course.data_dir, course.manifest_path, course.datasets)
    ]
    if course.base_url is None:
        warnings.append(
            f"{course.relative(course.config_path)}: html.baseurl is not set, so there is no sitemap.xml and "
            "catalogues cannot link the pages; set it to the address the site is published at"
        )
    return warnings


def page_metadata(course: Course, pages: list[Page], notebook_code: dict[str, str]) -> dict[str, Any]:
    """Everything the pages' credits and records need, as plain JSON-able data for Sphinx.

    ``notebook_code`` is each notebook page's code cells joined, by docname: a page credits
    the datasets its code names (``oersite.datasets.datasets_read_by``).
    """
    course_license = course.license
    catalogue = course.settings.catalogue
    creator = {"type": "Organization" if course.settings.license.attribution else "Person", "name": course.attribution}
    if course.settings.license.attribution_url:
        creator["id"] = course.settings.license.attribution_url
    return {
        "base_url": course.base_url,
        "root": pages[0].docname if pages else "index",
        "title": course.title,
        "license": course_license
        and {
            "url": course_license.url,
            "name": course_license.name,
            "badge": course_license.badge,
            "spdx": course_license.spdx,
        },
        "attribution": course.attribution,
        "attribution_url": course.settings.license.attribution_url,
        "creator": creator,
        "description": catalogue.description,
        "language": catalogue.language,
        "educational_level": list(catalogue.educational_level),
        "subjects": list(catalogue.subjects),
        "keywords": list(catalogue.keywords),
        "course_type": list(catalogue.course_type),
        "page_type": list(catalogue.page_type),
        "pages": [page.docname for page in pages],
        "datasets": {
            docname: [
                {
                    "title": dataset.title,
                    "source": dataset.source,
                    "attribution": dataset.attribution,
                    "license_name": dataset.license.name,
                    "license_url": dataset.license.url,
                    "license_badge": dataset.license.badge,
                }
                for dataset in datasets_read_by(code, course.datasets)
            ]
            for docname, code in notebook_code.items()
        },
    }


def page_address(meta: dict[str, Any], docname: str, from_docname: str) -> str:
    """The address of page ``docname``: absolute with the site's base URL, else relative to ``from_docname``."""
    target = quote(f"{docname}.html")
    if meta["base_url"]:
        return meta["base_url"] + target
    return posixpath.relpath(target, posixpath.dirname(f"{from_docname}.html") or ".")


def _concepts(ids: list[str]) -> list[dict[str, Any]]:
    return [{"id": uri} for uri in ids]


def _resource_types(kinds: list[str]) -> list[dict[str, Any]]:
    return [{"id": HCRT + kind, "prefLabel": {"en": HCRT_TYPES[kind]}} for kind in kinds]


def page_record(meta: dict[str, Any], docname: str, title: str, description: str | None) -> dict[str, Any]:
    """The page's JSON-LD: a schema.org LearningResource in the AMB profile.

    The course's first page stands for the whole course: its record is the course's, with
    every page as a part; every other page is a part of it.
    """
    is_course = docname == meta["root"]
    url = page_address(meta, docname, docname)
    course_url = page_address(meta, meta["root"], docname)
    record: dict[str, Any] = {
        "@context": [AMB_CONTEXT, {"@language": meta["language"]}],
        "id": url,
        "type": ["LearningResource", "Course"] if is_course else ["LearningResource"],
        "name": meta["title"] if is_course else title,
        "inLanguage": [meta["language"]],
        "creator": [meta["creator"]],
        "learningResourceType": _resource_types(meta["course_type"] if is_course else meta["page_type"]),
        "isAccessibleForFree": True,
        "mainEntityOfPage": [{"id": url}],
    }
    description = (meta["description"] if is_course else None) or description
    if description:
        record["description"] = description
    if meta["license"]:
        record["license"] = {"id": meta["license"]["url"]}
        record["conditionsOfAccess"] = {"id": "http://w3id.org/kim/conditionsOfAccess/no_login"}
    if meta["educational_level"]:
        record["educationalLevel"] = _concepts(meta["educational_level"])
    if meta["subjects"]:
        record["about"] = _concepts(meta["subjects"])
    if meta["keywords"]:
        record["keywords"] = meta["keywords"]
    if is_course:
        record["hasPart"] = [{"id": page_address(meta, page, docname)} for page in meta["pages"] if page != docname]
    else:
        record["isPartOf"] = [{"id": course_url, "type": ["LearningResource", "Course"], "name": meta["title"]}]
    return record


def record_script(record: dict[str, Any]) -> str:
    """The record as a ``<script type="application/ld+json">``, safe inside HTML."""
    # No "<", ">" or "&" reaches the HTML parser: "<!--" or "</script" in a page's title would
    # end or hide the script early. JSON's \u escapes keep the record the same.
    text = json.dumps(record, ensure_ascii=False, indent=1)
    text = text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    return f'<script type="application/ld+json" class="oersite-record">\n{text}\n</script>\n'


def credits_html(meta: dict[str, Any], docname: str, title: str) -> str:
    """The end of every page: its licence (RDFa, as Creative Commons' licence chooser marks it) and data credits."""
    e = html.escape
    parts = []
    license_ = meta["license"]
    if license_:
        credit = e(meta["attribution"])
        if meta["attribution_url"]:
            credit = (
                f'<a property="cc:attributionName" rel="cc:attributionURL" href="{e(meta["attribution_url"])}">'
                f"{credit}</a>"
            )
        else:
            credit = f'<span property="cc:attributionName">{credit}</span>'
        course = e(meta["title"])
        work = f'“<span property="dct:title">{e(title)}</span>”'
        of_course = "" if docname == meta["root"] or title == meta["title"] else f" from {course}"
        parts.append(
            f'<p class="oersite-license">{work}{of_course} by {credit} is licensed under '
            f'<a rel="license" href="{e(license_["url"])}"><span class="oersite-license-badge">{e(license_["badge"])}'
            f"</span> {e(license_['name'])}</a>.</p>"
        )
    datasets = meta["datasets"].get(docname, [])
    if datasets:
        items = "".join(
            f"<li><cite>{e(dataset['title'])}</cite>: {e(dataset['attribution'])}{_source(dataset['source'])} "
            f'<a href="{e(dataset["license_url"])}"><span class="oersite-license-badge">'
            f"{e(dataset['license_badge'])}</span> {e(dataset['license_name'])}</a>.</li>"
            for dataset in datasets
        )
        parts.append(f'<p class="oersite-data-heading">Data on this page</p><ul class="oersite-datasets">{items}</ul>')
    if not parts:
        return ""
    prefix = "cc: http://creativecommons.org/ns# dct: http://purl.org/dc/terms/"
    return f'<footer class="oersite-credits" prefix="{prefix}">{"".join(parts)}</footer>'


def page_url(course: Course, docname: str) -> str:
    """A page's address on the published site (the course has ``html.baseurl``)."""
    return f"{course.base_url}{quote(docname + '.html')}"


def _source(source: str) -> str:
    """Where a dataset comes from, after its credit: a link when it is an address, else the citation."""
    if source.startswith(("http://", "https://")):
        return f'. <a href="{html.escape(source)}">Source</a>;'
    return f" ({html.escape(source)})."


def write_sitemap(course: Course, pages: list[Page], output_dir: Path) -> Path | None:
    """``sitemap.xml`` (sitemaps.org 0.9) of every page; None, and no file, without the site's address."""
    sitemap = output_dir / SITEMAP
    if course.base_url is None:
        sitemap.unlink(missing_ok=True)
        return None
    urls = "".join(f"  <url><loc>{escape(page_url(course, page.docname))}</loc></url>\n" for page in pages)
    write_atomically(
        sitemap,
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f'<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">\n{urls}</urlset>\n',
    )
    return sitemap
