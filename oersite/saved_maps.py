"""Maps saved by older Folium: drawn with the site's own libraries, or named for re-execution.

A Folium map in a notebook's output is a whole HTML page inside an ``<iframe>``.  How that
page is carried depends on the branca that saved it:

- ``<iframe srcdoc="…">``, the HTML escaped into the attribute (folium 0.14 and later, and
  some of the earliest);
- ``<iframe src="about:blank" data-html=BASE64 onload="…atob…">``, the page base64-encoded
  and written into the frame by an ``onload`` script (folium 0.11 to 0.13, for notebooks
  larger than a ``data:`` URL may be);
- ``<iframe src="data:text/html;charset=utf-8;base64,BASE64">`` (before that).

The last two hide their page from anything that reads HTML: a real book's maps made 142
requests to CDNs that neither the build's list of remote files nor ``oersite check`` named.
And older pages load older libraries: Leaflet 1.2, jQuery 1.11, Bootstrap 3, Font Awesome
4, from hosts the site's table (``oersite.hub.notebook_server.CDN_FILES``) does not know.

So, before Sphinx renders a page (``oersite.sphinx_ext``), ``modernised`` rewrites each such
frame as a new Folium would write it, a ``srcdoc`` (the notebook on disk is never changed),
and ``oersite.assets`` points its libraries at the site's copies through ``STAND_INS``:
for each library the site ships, the older versions the site's copy can stand in for.  They
are the moves folium itself made from 0.13 to 0.14 (Leaflet 1.x to 1.9.3, jQuery 1.12 to
3.7, Bootstrap 3 to 5 with Bootstrap 3's glyphicons beside it, Font Awesome 4 to 6) with
its map templates unchanged, plus patch releases of the plugins.  Leaflet 0.7 (before
Leaflet's 1.0 API), d3 after 3.x and any plugin the site does not ship have no stand-in:
``saved_map_notes`` says which notebook to execute again.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import html
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from oersite.hub.notebook_server import CDN_FILES, LIBRARIES_ROUTE

if TYPE_CHECKING:
    import nbformat

    from oersite.config import Course
    from oersite.execute import NotebookResult
    from oersite.toc import Page


@dataclass(frozen=True)
class StandIn:
    """Older versions of a library (``pattern``, the end of their URL) and the site's copy."""

    library: str
    pattern: str  # a regular expression for the URL's path; a group "version"
    vendored: str  # file in oersite/static/vendor ("{ext}" for the matched extension)


#: Every library a saved Folium map may load that the site ships, in the versions it can stand
#: in for.  Any host: the library is named by its path (npm, cdnjs and the others name it so).
STAND_INS = (
    StandIn(
        "Leaflet",
        r"/leaflet[@/]v?(?P<version>1\.\d+(?:\.\d+)?)/(?:dist/)?leaflet(?:-src)?\.(?P<ext>js|css)",
        "leaflet/leaflet.{ext}",
    ),
    StandIn(
        "jQuery",
        r"/jquery[-@/](?P<version>[123]\.\d+(?:\.\d+)?)(?:(?:\.min)?\.js|(?:/dist)?/jquery(?:\.min)?\.js)",
        "jquery/jquery.min.js",
    ),
    StandIn(
        "Bootstrap",
        r"/(?:bootstrap|twitter-bootstrap)[@/](?P<version>[345]\.\d+\.\d+)/(?:dist/)?js/bootstrap(?:\.bundle)?(?:\.min)?\.js",
        "bootstrap/js/bootstrap.bundle.min.js",
    ),
    StandIn(
        "Bootstrap",
        r"/(?:bootstrap|twitter-bootstrap)[@/](?P<version>[345]\.\d+\.\d+)/(?:dist/)?css/bootstrap(?:\.min)?\.css",
        "bootstrap/css/bootstrap.min.css",
    ),
    # Bootstrap 3's theme stylesheet: where folium 0.14 put Bootstrap 3's glyphicons beside Bootstrap 5.
    StandIn(
        "Bootstrap theme",
        r"/(?:bootstrap|twitter-bootstrap)[@/](?P<version>3\.\d+\.\d+)/(?:dist/)?css/bootstrap-theme(?:\.min)?\.css",
        "glyphicons/css/glyphicons.min.css",
    ),
    StandIn(
        "Bootstrap glyphicons",
        r"/bootstrap/(?P<version>3\.\d+\.\d+)/css/bootstrap-glyphicons(?:\.min)?\.css",
        "glyphicons/css/glyphicons.min.css",
    ),
    StandIn(
        "Font Awesome",
        r"/font-awesome/(?P<version>4\.\d+\.\d+)/css/font-awesome(?:\.min)?\.css",
        "fontawesome/css/all.min.css",
    ),
    StandIn(
        "Font Awesome",
        r"/(?:@fortawesome/fontawesome-free@|font-awesome/|releases/v)(?P<version>[56]\.\d+\.\d+)/css/all(?:\.min)?\.css",
        "fontawesome/css/all.min.css",
    ),
    StandIn(
        "Leaflet.awesome-markers",
        r"/leaflet\.awesome-markers[@/](?P<version>2\.0\.\d+)/(?:dist/)?leaflet\.awesome-markers(?:\.min)?\.(?P<ext>js|css)",
        "leaflet.awesome-markers/leaflet.awesome-markers.{ext}",
    ),
    StandIn(
        "Folium's rotated markers",
        r"/python-visualization/folium/(?:(?P<version>[\w.-]+)/)?folium/templates/leaflet\.awesome\.rotate(?:\.min)?\.css",
        "folium/leaflet.awesome.rotate.min.css",
    ),
    StandIn("d3", r"/d3[@/](?P<version>3\.\d+\.\d+)/d3(?:\.min)?\.js", "d3/d3.min.js"),
    StandIn("d3", r"/d3\.v(?P<version>3)(?:\.min)?\.js", "d3/d3.min.js"),
)

#: Each pattern, anchored at the URL's end (a library is named by the end of its URL's path).
_COMPILED = [(stand_in, re.compile(rf"{stand_in.pattern}\Z", re.IGNORECASE)) for stand_in in STAND_INS]
#: A URL as it stands in a page (also HTML-escaped in a ``srcdoc``, where ``&quot;`` ends it), up
#: to its query: one linear pass finds them, and only these are matched against ``STAND_INS``.
_URL = re.compile(r"(?:https?:)?//[\w.-]+/[^\s\"'<>()&?#]+")

#: An old map's frame: its page in ``data-html`` (quoted or not), or in a base64 ``data:`` URL.
_OLD_FRAME = re.compile(
    r"<iframe\b(?P<attributes>[^>]*?\b(?:data-html\s*=\s*[\"']?[A-Za-z0-9+/=]+"
    r"|src\s*=\s*[\"']data:text/html;[^\"',]*base64,[A-Za-z0-9+/=]+)[^>]*)>",
    re.IGNORECASE,
)
_DATA_HTML = re.compile(r"\bdata-html\s*=\s*[\"']?(?P<data>[A-Za-z0-9+/=]+)[\"']?", re.IGNORECASE)
_DATA_URL = re.compile(r"\bsrc\s*=\s*[\"']data:text/html;[^\"',]*base64,(?P<data>[A-Za-z0-9+/=]+)[\"']", re.IGNORECASE)
_SRC = re.compile(r"\bsrc\s*=\s*(?:\"[^\"]*\"|'[^']*'|[^\s>]+)", re.IGNORECASE)
_ONLOAD = re.compile(r"\bonload\s*=\s*(?:\"[^\"]*\"|'[^']*')", re.IGNORECASE)
_SRCDOC = re.compile(r"<iframe\b[^>]*\bsrcdoc=\"(?P<document>[^\"]*)\"", re.IGNORECASE)
#: What a map's page loads: scripts and stylesheets.
_LOADED = re.compile(
    r"<script\b[^>]*\bsrc\s*=\s*[\"'](?P<script>[^\"']+)[\"']|<link\b[^>]*\bhref\s*=\s*[\"'](?P<link>[^\"']+)[\"']",
    re.IGNORECASE,
)


def _decoded(data: str) -> str | None:
    try:
        return base64.b64decode(data, validate=True).decode("utf-8")
    except (binascii.Error, ValueError):
        return None


def old_frame_documents(markup: str) -> list[str]:
    """The pages of the old-style (base64) map frames in ``markup``."""
    if not _may_hold(markup, "data-html", "data:text/html"):
        return []
    documents = []
    for frame in _OLD_FRAME.finditer(markup):
        found = _DATA_HTML.search(frame.group(0)) or _DATA_URL.search(frame.group(0))
        document = _decoded(found.group("data")) if found else None
        if document is not None:
            documents.append(document)
    return documents


def map_documents(markup: str, old_frames: list[str] | None = None) -> list[str]:
    """Every map page in ``markup``: old-style frames decoded (``old_frames``, if known), ``srcdoc`` ones unescaped."""
    srcdocs = (
        [html.unescape(match.group("document")) for match in _SRCDOC.finditer(markup)]
        if _may_hold(markup, "srcdoc")
        else []
    )
    if old_frames is None:
        old_frames = old_frame_documents(markup)
    return [document for document in old_frames + srcdocs if "leaflet" in document.lower()]


def _may_hold(markup: str, *words: str) -> bool:
    """Whether any of ``words`` (lowercase ASCII) is in ``markup``, in any case: a pattern that needs one can match.

    One pass of C over the text, where the case-insensitive patterns try every ``<`` of it: most
    outputs (a plot, a table, a megabyte of a map's data) hold no old frame, and the build asks
    of every output of the course (measured: 0.3 s of a 30-notebook build, after Sphinx).
    """
    lowered = markup.lower()
    return any(word in lowered for word in words)


def is_old_frame_map(markup: str) -> bool:
    """Whether ``markup`` holds a map saved as a base64 frame."""
    return any("leaflet" in document.lower() for document in old_frame_documents(markup))


def modernised(markup: str) -> str:
    """``markup`` with each base64 map frame written as a ``srcdoc`` frame, as folium writes it now.

    The frame keeps its other attributes (style, size, title); ``src``, ``data-html`` and the
    ``onload`` that wrote the page are dropped.  The page is decoded as UTF-8, as it was
    encoded (the old ``atob`` showed its accented letters as Latin-1).
    """

    if not _may_hold(markup, "data-html", "data:text/html"):
        return markup

    def rewritten(frame: re.Match) -> str:
        found = _DATA_HTML.search(frame.group(0)) or _DATA_URL.search(frame.group(0))
        document = _decoded(found.group("data")) if found else None
        if document is None:
            return frame.group(0)
        attributes = _DATA_HTML.sub("", frame.group("attributes"))
        attributes = _ONLOAD.sub("", _SRC.sub("", attributes))
        attributes = re.sub(r"\s+", " ", attributes).rstrip()
        return f'<iframe srcdoc="{html.escape(document, quote=True)}"{attributes}>'

    return _OLD_FRAME.sub(rewritten, markup)


def modernise_notebook(notebook: dict[str, Any]) -> dict[str, Any]:
    """Every base64 map frame of the notebook's outputs as a ``srcdoc`` frame, in place."""
    for cell in notebook.get("cells", []):
        for output in cell.get("outputs", []):
            data = output.get("data", {})
            markup = data.get("text/html")
            if markup is None:
                continue
            text = markup if isinstance(markup, str) else "".join(markup)
            if _may_hold(text, "data-html", "data:text/html") and _OLD_FRAME.search(text):
                data["text/html"] = modernised(text)
    return notebook


def stand_in(url: str) -> tuple[str, str, str] | None:
    """(library, version, vendored file) of the site's copy that can load in place of ``url``."""
    if not url.startswith(("//", "http://", "https://")) or len(url) > 300:
        return None
    for candidate, pattern in _COMPILED:
        match = pattern.search(url)
        if match:
            ext = match.groupdict().get("ext") or ""
            return candidate.library, match.group("version") or "", candidate.vendored.format(ext=ext.lower())
    return None


def with_stand_ins(text: str, vendor_prefix: str) -> str:
    """``text`` with every older library URL that has a stand-in pointing at the site's copy."""

    def local(match: re.Match) -> str:
        found = stand_in(match.group(0))
        return vendor_prefix + found[2] if found else match.group(0)

    return _URL.sub(local, text)


@dataclass(frozen=True)
class SavedMap:
    """A map output that an older Folium saved: where it is, and what it loads from where."""

    where: str  # "notebooks/maps.ipynb, cell 4"
    notebook: str
    base64_frame: bool
    libraries: list[str] = field(default_factory=list)  # "Leaflet 1.2.0"
    hosts: list[str] = field(default_factory=list)
    without_copy: list[str] = field(default_factory=list)  # URLs the site has no copy for

    def line(self) -> str:
        """What the build says about it."""
        saved = "a map saved by an older Folium" + (" (a base64 frame)" if self.base64_frame else "")
        loads = f"loads {', '.join(self.libraries)} from {', '.join(self.hosts)}" if self.libraries else "loads"
        if self.without_copy:
            return (
                f"{self.where}: {saved} {loads}; the site has no copy of {', '.join(self.without_copy)}: "
                f"execute {self.notebook} again with the installed folium to save a map that draws offline"
            )
        return f"{self.where}: {saved} {loads}; the site draws it offline with its own copies"


def saved_map(markup: str, where: str, notebook: str) -> SavedMap | None:
    """What a map output loads, if an older Folium saved it (base64, or libraries the site's table lacks)."""
    digest = hashlib.sha1(markup.encode("utf-8", "surrogatepass")).digest()  # noqa: S324 (a key, not a secret)
    if digest not in _OLD_MAP_LOADS:
        if len(_OLD_MAP_LOADS) > OLD_MAP_LOADS_KEPT:
            _OLD_MAP_LOADS.clear()
        _OLD_MAP_LOADS[digest] = _old_map_loads(markup)
    loads = _OLD_MAP_LOADS[digest]
    if loads is None:
        return None
    base64_frame, libraries, hosts, without_copy = loads
    return SavedMap(where, notebook, base64_frame, list(libraries), list(hosts), list(without_copy))


#: What ``_old_map_loads`` found, by a digest of the output: the preview asks again of every notebook on
#: every save, and reading the maps' documents was most of a rebuild's time after Sphinx (0.15 s of 30
#: notebooks).  Keyed by digest, not by the output, which can be megabytes of map or plot data.
_OLD_MAP_LOADS: dict[bytes, tuple[bool, tuple[str, ...], tuple[str, ...], tuple[str, ...]] | None] = {}
#: Outputs remembered before the memo starts again (each entry is a digest and a small tuple).
OLD_MAP_LOADS_KEPT = 20_000


def _old_map_loads(markup: str) -> tuple[bool, tuple[str, ...], tuple[str, ...], tuple[str, ...]] | None:
    """``SavedMap``'s own fields for an output, or None."""
    old_frames = old_frame_documents(markup)
    documents = map_documents(markup, old_frames)
    if not documents:
        return None
    libraries: dict[str, None] = {}
    hosts: dict[str, None] = {}
    without_copy: dict[str, None] = {}
    old = False
    for document in documents:
        for match in _LOADED.finditer(document):
            url = match.group("script") or match.group("link")
            host = urlsplit(url if not url.startswith("//") else "https:" + url).hostname
            if not host or f"/{LIBRARIES_ROUTE}/" in url:
                continue
            hosts[host] = None
            known = stand_in(url)
            if url in CDN_FILES:
                libraries[url.rsplit("/", 1)[-1] if known is None else " ".join(filter(None, known[:2]))] = None
                continue
            old = True
            if known is None:
                without_copy[url] = None
                libraries[url.rsplit("/", 1)[-1]] = None
            else:
                libraries[" ".join(filter(None, known[:2]))] = None
    base64_frame = bool(old_frames)
    if not (old or base64_frame):
        return None
    return base64_frame, tuple(libraries), tuple(hosts), tuple(without_copy)


def saved_maps(
    course: Course, notebooks: dict[Page, nbformat.NotebookNode], results: list[NotebookResult]
) -> list[SavedMap]:
    """Every map of the course's pages that an older Folium saved, by notebook and cell."""
    import json

    from oersite.execute import cell_location

    found = []
    for result in results:
        notebook = notebooks[result.page]
        rendered = (
            json.loads(result.executed_path.read_text(encoding="utf-8"))
            if result.executed_path is not None
            else notebook
        )
        name = course.relative(result.page.path)
        # The executed copy and the notebook have the same code cells in the same order (the
        # executor's key): the author finds a cell by its place in the notebook.
        source_code_cells = [index for index, cell in enumerate(notebook.cells) if cell.cell_type == "code"]
        rendered_code_cells = [cell for cell in rendered["cells"] if cell["cell_type"] == "code"]
        for source_index, cell in zip(source_code_cells, rendered_code_cells, strict=False):
            for output in cell.get("outputs", []):
                markup = output.get("data", {}).get("text/html")
                if markup is None:
                    continue
                where = f"{name}, {cell_location(notebook, source_index)}"
                found_map = saved_map(markup if isinstance(markup, str) else "".join(markup), where, name)
                if found_map is not None:
                    found.append(found_map)
    return found
