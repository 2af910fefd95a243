"""Scripts, stylesheets and fonts that pages load from other hosts.

Also where linkchecker does not look (Folium's ``iframe srcdoc``, inline
scripts): ``oersite.assets.remote_references`` finds them.
"""

from __future__ import annotations

from pathlib import Path

from oersite.assets import THEBE_URL, remote_references
from oersite.checks.findings import Finding, site_pages


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
