"""Scripts, stylesheets and fonts that pages load from other hosts, and plots their BokehJS cannot draw.

Also where linkchecker does not look (Folium's ``iframe srcdoc``, inline
scripts): ``oersite.assets.remote_references`` finds them.
"""

from __future__ import annotations

import re
from pathlib import Path

from oersite.assets import BOKEH_DOC_VERSION, BOKEH_EMBED, SHARED, THEBE_URL, remote_references
from oersite.checks.findings import ERROR, WARNING, Finding, site_pages

#: The BokehJS a built page loads from the site.
_SHIPPED_BOKEH = re.compile(rf"{SHARED}/bokeh/bokeh-(?P<version>[0-9][\w.]*?)\.min\.js")


def check_remote_files(site: Path, *, thebe: bool = False) -> list[Finding]:
    """Scripts, stylesheets and fonts that pages (or their stylesheets, or maps in them) load from elsewhere.

    sphinx-thebe names its script on every page but loads it only when the
    "Live code" button is pressed: it counts only when the course turned thebe on.
    """
    findings = []
    files = [site / page for page in site_pages(site)] + sorted(site.rglob("*.css"))
    for path in files:
        text = path.read_text(encoding="utf-8", errors="replace")
        for url in sorted(remote_references(text)):
            if not thebe and THEBE_URL.match(url):
                continue
            findings.append(
                Finding(
                    path.relative_to(site).as_posix(),
                    url,
                    "loaded from another host: offline or behind a firewall the page breaks; "
                    "ship the file with the site (oersite build does this for Bokeh, Folium and MathJax)",
                )
            )
    return findings


def check_bokeh_versions(site: Path) -> list[Finding]:
    """Plots made by another Bokeh than the BokehJS their page loads.

    BokehJS draws only documents of its own major version (a Bokeh 2 plot stays empty under
    BokehJS 3): an error; another minor version usually draws, and is a warning, as in the build.
    """
    findings = []
    for page in site_pages(site):
        text = (site / page).read_text(encoding="utf-8", errors="replace")
        if not BOKEH_EMBED.search(text):
            continue
        shipped = {match.group("version") for match in _SHIPPED_BOKEH.finditer(text)}
        made = {match.group("version") for match in BOKEH_DOC_VERSION.finditer(text)}
        if len(shipped) != 1:
            continue  # the remote files check names a page whose BokehJS is not the site's
        (loaded,) = shipped
        for version in sorted(made - shipped):
            same_major = version.split(".")[0] == loaded.split(".")[0]
            findings.append(
                Finding(
                    page,
                    f"plots made with Bokeh {version}",
                    f"the page loads BokehJS {loaded}"
                    + (
                        ", which usually draws them; execute the notebook again with the installed bokeh"
                        if same_major
                        else ", which cannot draw them; execute the notebook again with the installed bokeh"
                    ),
                    WARNING if same_major else ERROR,
                )
            )
    return findings
