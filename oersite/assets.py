"""Make every built page load its scripts, stylesheets and fonts from the site.

Executed notebooks point at CDNs: Bokeh's loader fetches BokehJS from
cdn.bokeh.org, and each Folium map (a whole HTML document in an
``<iframe srcdoc>``) loads Leaflet, jQuery, Bootstrap, Font Awesome,
Leaflet.awesome-markers and d3 from four CDNs.  Offline (a campus network, an
exam room, an archived copy) the plots stay empty and the maps blank.

After Sphinx has written the pages, this stage rewrites each known CDN URL to
a path relative to the page (``srcdoc`` documents resolve URLs against their
parent page, so the same prefix serves both) and copies the library once into
``_static/oersite/``:

- BokehJS from the installed ``bokeh`` package, so its version is always the
  one that made the outputs (a page whose outputs were made by another Bokeh
  is reported), and only the bundles the page's plots need where that is safe
  to tell (MathJax and WebGL support are left out of pages without TeX or
  WebGL);
- Folium's libraries (also standing in for the older versions that maps saved by an older
  Folium name: ``oersite.saved_maps``) and MathJax from the pinned npm packages that were
  vendored into ``oersite/static/vendor`` when oersite was installed
  (``assets/package.json``).

Whatever else a page still loads from elsewhere is reported by page and URL.
Map tiles are map data, not code: they stay remote, and can be switched to
another provider in ``_config.yml``.
"""

from __future__ import annotations

import dataclasses
import functools
import html
import json
import re
import shutil
from dataclasses import asdict, dataclass, field
from pathlib import Path

from oersite.errors import BuildError
from oersite.files import write_atomically
from oersite.hub.notebook_server import CDN_FILES, LIBRARIES_ROUTE, VENDOR_DIR
from oersite.saved_maps import STAND_INS, old_frame_documents, with_stand_ins

#: Where shared libraries go in the site; one copy serves every page.
SHARED = "_static/oersite"

#: Vendored folders made by oersite itself (the Run code button's client, assets/run-code), not npm packages.
OERSITES_OWN = ("run-code",)

#: A library URL of a student's server: /user/<name>/oersite-libraries/<file> (any base URL).
_HUB_LIBRARY_URL = re.compile(rf"(?:/[\w.~%@+-]+)*/{LIBRARIES_ROUTE}/(?P<path>[\w.@-]+(?:/[\w.@-]+)*)")
#: Sphinx's MathJax, relative to ``_static`` (Sphinx's ``mathjax_path`` convention).
MATHJAX_PATH = "oersite/vendor/mathjax/tex-mml-chtml.js"

BOKEH_URL = re.compile(
    r"https?://cdn\.bokeh\.org/bokeh/(?:release|dev)/(?P<bundle>bokeh(?:-[a-z]+)?)-(?P<version>[0-9][\w.]*?)(?:\.min)?\.js"
)
THEBE_URL = re.compile(r"https://unpkg\.com/thebe@[\w.]+/lib/index\.js$")
#: A plot's own script: it draws with the BokehJS already on the page, and gives up after a
#: second without one ("BokehJS library is missing"; bokeh/core/_templates/try_run.js.jinja).
BOKEH_EMBED = re.compile(r"\bBokeh\.embed\.embed_items(?:_notebook)?\(")
#: The version of Bokeh that made a plot, in its ``docs_json``.
BOKEH_DOC_VERSION = re.compile(r'"version":"(?P<version>[0-9][\w.]*)","title":')
#: The bundles ``output_notebook()`` loads, in its order; the optional ones only where needed.
BOKEH_PAGE_BUNDLES = ("bokeh", "bokeh-gl", "bokeh-widgets", "bokeh-tables", "bokeh-mathjax")
#: The list of scripts in ``output_notebook()``'s loader, once it names the site's copies.
_BOKEH_LOADER_SCRIPTS = re.compile(r"(const js_urls = )\[(?:\s*\"[^\"]*_static/oersite/bokeh/[^\"]*\",?)+\s*\];")
#: Marks the page's own BokehJS scripts (so a page rewritten twice gets them once).
_BOKEH_HEAD_MARK = "data-oersite-bokehjs"
#: Bundles a page can do without, and what in its plots would need them (the widgets' and
#: tables' bundles: ``_model_bundles``).
OPTIONAL_BOKEH_BUNDLES = {
    "bokeh-mathjax": re.compile(r'"name":"(?:TeX|MathML|Ascii)"|\$\$|\\\\\[|\\\\\('),
    "bokeh-gl": re.compile(r'"output_backend":"webgl"'),
}
#: Bundles that hold models, needed by a page whose plots name one of their models.
MODEL_BUNDLES = ("bokeh-widgets", "bokeh-tables")

#: Remote references that load code, style or fonts (tiles and links to read are fine).
_LOADED_SUFFIX = r"\.(?:js|mjs|css|woff2?|ttf|otf|eot)(?:[?#][^\"'\s)]*)?"
_REMOTE = r"(?:https?:)?//[^\"'\s)<>]+?"
_REMOTE_PATTERNS = [
    re.compile(rf"<script\b[^>]*\bsrc\s*=\s*[\"']?({_REMOTE})[\"'\s>]", re.IGNORECASE),
    re.compile(rf"<link\b[^>]*\bhref\s*=\s*[\"']?({_REMOTE})[\"'\s>]", re.IGNORECASE),
    re.compile(rf"@import\s+(?:url\()?\s*[\"']?({_REMOTE})[\"')\s;]", re.IGNORECASE),
    re.compile(rf"url\(\s*[\"']?({_REMOTE}{_LOADED_SUFFIX})[\"']?\s*\)", re.IGNORECASE),
    re.compile(rf"[\"']({_REMOTE}{_LOADED_SUFFIX})[\"']", re.IGNORECASE),
]
_SHARED_REFERENCE = re.compile(rf"{SHARED}/(?:vendor/[\w.-]+|bokeh/[\w.-]+\.js)")
_LINK_TAG = re.compile(r"<link\b[^>]*>", re.IGNORECASE)
_NOT_LOADED_RELS = re.compile(r"\brel\s*=\s*[\"']?(?:canonical|alternate|author|license|me|next|prev)\b")


@dataclass(frozen=True)
class PageFindings:
    """What one page still needs from outside, and the Bokeh versions its outputs name."""

    remote: list[str] = field(default_factory=list)
    bokeh_versions: list[str] = field(default_factory=list)
    shared: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class AssetsReport:
    """Findings for the build summary: page -> remote URLs, and Bokeh version mismatches."""

    remote: dict[str, list[str]]
    bokeh_mismatches: dict[str, list[str]]
    shipped_bokeh: str


@dataclass(frozen=True)
class TileSettings:
    """A tile provider that replaces the one the notebooks chose (None: keep theirs)."""

    url: str
    attribution: str


def make_self_contained(
    output_dir: Path, state_path: Path, tiles: TileSettings | None = None, *, thebe: bool = False
) -> AssetsReport:
    """Rewrite the site's pages to load everything from the site; report what could not be.

    Pages that have not changed since the last run (Sphinx leaves unchanged
    pages alone) are not read again: their findings come from ``state_path``.

    ``thebe``: whether the course turned on Jupyter Book's "Live code" button.
    sphinx-thebe names its script (on unpkg, not on the npm registry we can
    reach) on every page but loads it only when that button is pressed, so it
    counts as remote only when the button exists.
    """
    import bokeh

    state = _load_state(state_path, tiles, thebe)
    findings: dict[str, PageFindings] = {}
    for page in sorted(output_dir.rglob("*.html")):
        name = page.relative_to(output_dir).as_posix()
        stamp = page.stat().st_mtime_ns
        previous = state["pages"].get(name)
        if previous and previous["stamp"] == stamp:
            findings[name] = PageFindings(**previous["findings"])
            continue
        text = page.read_text(encoding="utf-8")
        rewritten, found = rewrite_page(text, _prefix(name), bokeh.__version__, tiles)
        if not thebe:
            found = dataclasses.replace(found, remote=[url for url in found.remote if not THEBE_URL.match(url)])
        if rewritten != text:
            write_atomically(page, rewritten)
        findings[name] = found
        state["pages"][name] = {"stamp": page.stat().st_mtime_ns, "findings": asdict(found)}
    for name in set(state["pages"]) - set(findings):
        del state["pages"][name]

    _copy_shared(output_dir, {path for found in findings.values() for path in found.shared}, bokeh)
    write_atomically(state_path, json.dumps(state))
    return AssetsReport(
        remote={name: found.remote for name, found in findings.items() if found.remote},
        bokeh_mismatches={
            name: sorted(set(found.bokeh_versions) - {bokeh.__version__})
            for name, found in findings.items()
            if set(found.bokeh_versions) - {bokeh.__version__}
        },
        shipped_bokeh=bokeh.__version__,
    )


def keep_findings(output_dir: Path, state_path: Path, pages: list[str]) -> None:
    """Pages written again after ``make_self_contained`` read them, by a stage that adds nothing it looks for.

    The figure images' ``<img>`` and ``og:image`` load nothing from another host and name no
    library: the findings stand, and the page's new stamp is recorded with them.  Else every
    page given images would be read again by the next build (1.2 s of a 30-notebook course's
    first rebuild after a cold one).
    """
    if not pages:
        return
    try:
        state = json.loads(state_path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return  # nothing recorded: the next build reads every page anyway
    recorded = state.get("pages", {})
    for name in pages:
        if name in recorded:
            recorded[name]["stamp"] = (output_dir / name).stat().st_mtime_ns
    write_atomically(state_path, json.dumps(state))


def rewrite_page(
    text: str, prefix: str, bokeh_version: str, tiles: TileSettings | None = None
) -> tuple[str, PageFindings]:
    """Point a page's CDN references at the site's copies; pure, for testing.

    ``prefix`` leads from the page to the site's root (``../`` per folder).
    Returns the new text and what the page needs: shared files and anything
    still remote.
    """
    for url, vendored in CDN_FILES.items():
        text = text.replace(url, f"{prefix}{SHARED}/vendor/{vendored}")
    # Maps an older Folium saved load older versions, from other CDNs (oersite.saved_maps).
    text = with_stand_ins(text, f"{prefix}{SHARED}/vendor/")
    # Outputs saved on a hub name the student's server's copies (oersite.hub.notebook_server).
    if f"/{LIBRARIES_ROUTE}/" in text:  # (the pattern tries every "/": 0.1 s on a page of Bokeh plots)
        text = _HUB_LIBRARY_URL.sub(lambda match: f"{prefix}{SHARED}/vendor/{match.group('path')}", text)

    versions: set[str] = set()
    needed_bundles = _needed_bokeh_bundles(text)

    def local_bokeh(match: re.Match) -> str:
        versions.add(match.group("version"))
        return f"{prefix}{SHARED}/bokeh/{match.group('bundle')}-{bokeh_version}.min.js"

    text = _drop_unneeded_bokeh_bundles(text, needed_bundles)
    text = BOKEH_URL.sub(local_bokeh, text)
    if BOKEH_EMBED.search(text):
        versions.update(match.group("version") for match in BOKEH_DOC_VERSION.finditer(text))
        text = with_bokehjs_in_head(text, prefix, bokeh_version, needed_bundles)
    if tiles is not None:
        text = _replace_tiles(text, tiles)
    shared = set(_SHARED_REFERENCE.findall(text))
    return text, PageFindings(sorted(remote_references(text)), sorted(versions), sorted(shared))


def remote_references(text: str) -> set[str]:
    """Scripts, stylesheets and fonts a page (or a map inside it) loads from another host."""
    unescaped = html.unescape(text)  # srcdoc documents are HTML-escaped inside their attribute
    found: set[str] = set()
    # Maps an older Folium saved hide their page in base64 (oersite.saved_maps).
    for candidate in (text, unescaped, *old_frame_documents(text)):
        for pattern in _REMOTE_PATTERNS:
            for match in pattern.finditer(candidate):
                url = match.group(1)
                if pattern.pattern.startswith("<link") and _NOT_LOADED_RELS.search(
                    _LINK_TAG.match(candidate, match.start()).group(0)
                ):
                    continue
                found.add(url if not url.startswith("//") else "https:" + url)
    return found


def with_bokehjs_in_head(text: str, prefix: str, bokeh_version: str, needed: set[str]) -> str:
    """Load BokehJS in the head of a page with plots, whatever its notebook did.

    A plot draws only if BokehJS is on the page within a second of the plot's script.  The
    notebook's ``output_notebook()`` cell brings it, unless the author hid that cell
    (``remove-cell``, ``remove-output``: jupyter-book issue 1751), and its loader fetches the
    libraries without blocking, so a plot further down can still run first.  Scripts in the
    head have run before any plot's; the loader, if the page kept it, then loads nothing again
    (BokehJS twice on one page would make two Bokehs).
    """
    if _BOKEH_HEAD_MARK in text or "</head>" not in text:
        return text
    scripts = "".join(
        f'<script {_BOKEH_HEAD_MARK} src="{prefix}{SHARED}/bokeh/{bundle}-{bokeh_version}.min.js"></script>\n'
        for bundle in BOKEH_PAGE_BUNDLES
        if bundle not in _optional_bundles() or bundle in needed
    )
    text = _BOKEH_LOADER_SCRIPTS.sub(r"\g<1>[];", text)
    return text.replace("</head>", scripts + "</head>", 1)


def _needed_bokeh_bundles(text: str) -> set[str]:
    needed = {bundle for bundle, needs in _optional_bundles().items() if needs.search(text)}
    if "bokeh-tables" in needed:
        needed.add("bokeh-widgets")  # a table is a widget: Bokeh loads both (bokeh/embed/bundle.py)
    return needed


@functools.cache
def _optional_bundles() -> dict[str, re.Pattern]:
    """Every bundle a page can do without, and what in its plots would need it.

    The widgets' and tables' bundles (a third of BokehJS, parsed by every page that loads
    them) are needed by a plot whose document names a model they register: their names
    are read from the installed bundles (``__name__="Slider"``), so a new Bokeh's new
    widget counts too.  A document names a model as ``"name":"Slider"`` (``&quot;`` inside
    a ``srcdoc``).
    """
    import bokeh

    folder = Path(bokeh.__file__).resolve().parent / "server" / "static" / "js"
    bundles = dict(OPTIONAL_BOKEH_BUNDLES)
    for bundle in MODEL_BUNDLES:
        try:
            script = (folder / f"{bundle}.min.js").read_text(encoding="utf-8")
        except OSError:
            continue  # (not installed: nothing to load either)
        models = sorted({name for name in re.findall(r'__name__="([\w.]+)"', script) if not name.endswith("View")})
        if models:
            quote = r'(?:"|&quot;)'
            alternatives = "|".join(re.escape(name) for name in models)
            bundles[bundle] = re.compile(rf"{quote}name{quote}:{quote}(?:{alternatives}){quote}")
    return bundles


def _drop_unneeded_bokeh_bundles(text: str, needed: set[str]) -> str:
    """Remove optional bundles from Bokeh's loader list (``js_urls``) when no plot needs them."""
    for bundle in _optional_bundles():
        if bundle in needed:
            continue
        text = re.sub(
            rf",?\s*\"https?://cdn\.bokeh\.org/bokeh/(?:release|dev)/{bundle}-[0-9][\w.]*?(?:\.min)?\.js\"",
            "",
            text,
        )
    return text


_TILE_LAYER = re.compile(r"(L\.tileLayer\(\s*(?:&quot;|\"))([^\"&]*)((?:&quot;|\"))")
#: The attribution's JSON string, whose own quotes (Folium's default links to OpenStreetMap's
#: copyright page) are backslash-escaped: \" (or \&quot; inside a srcdoc) does not end it.
_TILE_ATTRIBUTION = re.compile(
    r"((?:&quot;|\")attribution(?:&quot;|\")\s*:\s*)((?:&quot;|\")(?:\\(?:&quot;|.)|(?!&quot;|\")[^\\])*(?:&quot;|\"))"
)


def _replace_tiles(text: str, tiles: TileSettings) -> str:
    def in_context(original_quote: str, value: str) -> str:
        quoted = json.dumps(value)
        return html.escape(quoted, quote=True) if original_quote == "&quot;" else quoted

    text = _TILE_LAYER.sub(lambda m: m.group(1) + tiles.url + m.group(3), text)
    return _TILE_ATTRIBUTION.sub(
        lambda m: m.group(1) + in_context("&quot;" if m.group(2).startswith("&quot;") else '"', tiles.attribution),
        text,
    )


def _copy_shared(output_dir: Path, shared: set[str], bokeh) -> None:
    """Copy each library a page uses, once: its whole vendor folder (CSS pulls in fonts and images)."""
    bokeh_js = Path(bokeh.__file__).resolve().parent / "server" / "static" / "js"
    libraries = {path.split("/")[3] for path in shared if path.startswith(f"{SHARED}/vendor/")}
    # (each vendor reference names its library's folder: _static/oersite/vendor/<library>)
    for library in sorted(libraries):
        source, target = VENDOR_DIR / library, output_dir / SHARED / "vendor" / library
        if not source.is_dir():
            raise BuildError(
                f"{source} is missing: oersite was installed without its browser libraries; "
                "reinstall it with: pip install -e . (needs npm)"
            )
        if not target.is_dir():
            shutil.copytree(source, target)
        elif library in OERSITES_OWN:  # changes with oersite, not with a pinned version: always this one's
            shutil.copytree(source, target, dirs_exist_ok=True)
    for path in sorted(p for p in shared if p.startswith(f"{SHARED}/bokeh/")):
        target = output_dir / path
        bundle = Path(path).name.removesuffix(f"-{bokeh.__version__}.min.js")
        if not target.is_file():
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(bokeh_js / f"{bundle}.min.js", target)


def _prefix(page_name: str) -> str:
    return "../" * page_name.count("/")


def _load_state(path: Path, tiles: TileSettings | None, thebe: bool) -> dict:
    """The previous run's findings, unless the rewriting rules changed since."""
    import bokeh

    rules = json.dumps(
        [
            sorted(CDN_FILES.items()),
            [asdict(stand_in) for stand_in in STAND_INS],
            bokeh.__version__,
            asdict(tiles) if tiles else None,
            thebe,
            _BOKEH_HEAD_MARK,
        ]
    )
    try:
        state = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        state = {}
    if state.get("rules") != rules:
        state = {"rules": rules, "pages": {}}
    return state
