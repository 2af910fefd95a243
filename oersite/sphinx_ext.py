"""The Sphinx extension oersite adds to Jupyter Book's configuration.

It connects the executor's results to myst-nb: when Sphinx reads a notebook
(``.ipynb``, or MyST Markdown, which myst-nb is then told to read as ``.ipynb``),
the ``source-read`` handler swaps in the executed copy (with myst-nb's own
execution switched off for that file) and removes the output types that only
JupyterLab's Bokeh extension understands, rewrites maps an older Folium saved as base64
frames the way a new Folium writes them (``oersite.saved_maps``), and wraps each Bokeh plot and Folium map in
the markup that gives it its text alternative (``oersite.figures``) and, later, its image
(``oersite.figure_images``).  Sphinx re-reads a page when its
source file changed; ``env-get-outdated`` also re-reads pages whose executed
outputs changed although the file did not (say, an edited data file).

It also places the launch buttons that ``oersite.launch`` computed into the
page header that sphinx-book-theme renders, and ends every page with its credits and
gives it its catalogue record (``oersite.catalogue``).

The build passes ``oersite_executed``: docname -> [executed notebook path,
cache key], ``oersite_figures``: docname -> cell index -> alt text and where, and
``oersite_launch_buttons``: docname -> buttons, ``oersite_run_code``: docname -> the Run code
button's settings (``oersite.launch.RunCode``); and ``app.oersite_page_ready`` (docname ->
that page's figures), which returns once the page's notebook has run: Sphinx reads each
notebook page while later notebooks still run.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jinja2
import jinja2.bccache
from sphinx.application import Sphinx
from sphinx.environment import BuildEnvironment

from oersite.saved_maps import modernise_notebook

#: Output types of Bokeh's notebook integration.  They tell JupyterLab's
#: Bokeh extension to load BokehJS and run a plot; the same output also holds
#: plain ``application/javascript`` that does both in a static page, so the
#: page loses nothing without them (and myst-nb would warn about each).
BOKEH_NOTEBOOK_MIME_TYPES = (
    "application/vnd.bokehjs_load.v0+json",
    "application/vnd.bokehjs_exec.v0+json",
)


#: The version of what this extension puts in the pages' doctrees, above all the names figures are
#: found by (``oersite.figures.figure_outputs``): raised when that changes, it makes Sphinx drop
#: its environment and read every page again (as for a new Sphinx), so no page left from an
#: earlier build names figures by a rule the image stage no longer follows; and when what it records
#: of each page in the environment changes (3: which pages number nothing).
ENV_VERSION = 3


def setup(app: Sphinx) -> dict[str, Any]:
    # rebuild="" : a change of executed outputs is handled per page below,
    # not by Sphinx re-reading the whole site.
    app.add_config_value("oersite_executed", {}, rebuild="", types=(dict,))
    # docname -> cell index -> alt and where (oersite.figures.cells_for_sphinx); like the
    # executed outputs, read with the page (a changed alt is a changed notebook file).
    app.add_config_value("oersite_figures", {}, rebuild="", types=(dict,))
    app.connect("env-before-read-docs", read_executed_markdown_notebooks_as_json)
    app.connect("source-read", swap_in_executed_notebook)
    app.connect("env-get-outdated", pages_with_new_outputs)
    app.connect("env-purge-doc", forget_page)
    app.connect("env-merge-info", merge_output_keys)
    app.add_config_value("oersite_myst_nb_output_folder", "", rebuild="", types=(str,))
    # After myst-nb made its configuration on the same event (priority 500).
    app.connect("builder-inited", keep_myst_nb_output_in_the_build_layout, priority=501)
    app.add_config_value("oersite_launch_buttons", {}, rebuild="html", types=(dict,))
    app.add_config_value("oersite_run_code", {}, rebuild="html", types=(dict,))
    app.add_config_value("oersite_page_metadata", {}, rebuild="html", types=(dict,))
    app.connect("html-page-context", add_credits_and_record)
    app.connect("html-page-context", add_source_digest)
    # After sphinx-book-theme has prepared its header buttons (priority 501).
    app.connect("html-page-context", add_launch_buttons, priority=502)
    app.connect("builder-inited", reuse_compiled_templates)
    app.connect("doctree-read", note_whether_numbered, priority=900)  # after what others add to the page
    app.connect("builder-inited", number_figures_reading_only_pages_that_number)
    return {"parallel_read_safe": True, "parallel_write_safe": True, "version": "1", "env_version": ENV_VERSION}


class CompiledTemplates(jinja2.BytecodeCache):
    """The theme's templates as Jinja compiled them, kept by this process from one build to the next.

    Each build is a new Sphinx application with a new Jinja environment, which compiles every
    template again; the preview builds in one process on every save (measured: 0.1-0.2 s of a
    rebuild on the sample course's theme).  A template is taken from here only if its source is
    the same (Jinja's checksum) and the environment compiles with the same settings.
    """

    def __init__(self) -> None:
        self.codes: dict[str, tuple[str, Any]] = {}

    def get_bucket(self, environment, name, filename, source):  # noqa: ANN001 (Jinja's signature)
        bucket = jinja2.bccache.Bucket(
            environment,
            f"{self.get_cache_key(name, filename)} {_compiled_with(environment)}",
            self.get_source_checksum(source),
        )
        self.load_bytecode(bucket)
        return bucket

    def load_bytecode(self, bucket: jinja2.bccache.Bucket) -> None:
        checksum, code = self.codes.get(bucket.key, (None, None))
        if checksum == bucket.checksum:
            bucket.code = code

    def dump_bytecode(self, bucket: jinja2.bccache.Bucket) -> None:
        self.codes[bucket.key] = (bucket.checksum, bucket.code)


def _compiled_with(environment: jinja2.Environment) -> str:
    """The settings Jinja compiles a template with (its code depends on them, not only on its source)."""
    settings = [
        sorted(environment.extensions),
        environment.autoescape if isinstance(environment.autoescape, bool) else id(environment.autoescape),
        environment.optimized,
        *(
            getattr(environment, name)
            for name in (
                "block_start_string", "block_end_string", "variable_start_string", "variable_end_string",
                "comment_start_string", "comment_end_string", "line_statement_prefix", "line_comment_prefix",
                "trim_blocks", "lstrip_blocks", "newline_sequence", "keep_trailing_newline",
            )
        ),
        getattr(environment, "newstyle_gettext", None),
    ]  # fmt: skip
    return repr(settings)


COMPILED_TEMPLATES = CompiledTemplates()


def reuse_compiled_templates(app: Sphinx) -> None:
    environment = getattr(getattr(app.builder, "templates", None), "environment", None)
    if isinstance(environment, jinja2.Environment):
        environment.bytecode_cache = COMPILED_TEMPLATES


def keep_myst_nb_output_in_the_build_layout(app: Sphinx) -> None:
    """Have myst-nb write the output files it extracts (images) where the build keeps its own files.

    myst-nb writes them beside the output folder (``<output>/../jupyter_execute``): beside
    ``_build/html`` that is outside ``_build/.oersite``, and beside ``--output DIR`` outside
    the course.  Sphinx copies what the pages use into the site either way.
    """
    folder = app.config.oersite_myst_nb_output_folder
    if folder:
        app.env.mystnb_config = app.env.mystnb_config.copy(output_folder=folder)


def read_executed_markdown_notebooks_as_json(app: Sphinx, env: BuildEnvironment, docnames: list[str]) -> None:
    """Have myst-nb read the executed copy that stands in for a MyST Markdown notebook.

    myst-nb picks a reader by the document's path: a ``.md`` is read as MyST Markdown. A
    ``nb_custom_formats`` entry whose "suffix" is the whole path of one such page makes it
    read that page's text, the executed copy swapped in below, as ``.ipynb`` JSON instead.
    Set before reading (the executor's results arrive after ``builder-inited``, when myst-nb
    made its configuration); Sphinx's parallel readers inherit it.
    """
    markdown_pages = {
        str(env.doc2path(docname)): ("myst_nb.core.read.standard_nb_read", {}, False)
        for docname in app.config.oersite_executed
        if docname in env.found_docs and str(env.doc2path(docname)).endswith(".md")
    }
    if markdown_pages:
        config = env.mystnb_config
        env.mystnb_config = config.copy(custom_formats={**config.custom_formats, **markdown_pages})


def swap_in_executed_notebook(app: Sphinx, docname: str, source: list[str]) -> None:
    """Give myst-nb the page's notebook: the file as it is now, with the executor's outputs.

    The build read every notebook (repairing in memory what nbformat's schema refuses,
    ``oersite.execute.read_notebook``) and hands them over as ``app.oersite_notebooks``;
    the executed copy lends only its outputs (``oersite.execute.with_outputs``), so an
    edit of prose, tags or metadata shows without executing anything again.
    """
    from oersite.execute import with_outputs

    path = str(app.env.doc2path(docname))
    executed = app.config.oersite_executed.get(docname)
    current = getattr(app, "oersite_notebooks", {}).get(docname)
    page_ready = getattr(app, "oersite_page_ready", None)
    # Reading goes on while later notebooks still run: this page's own has run (and its figures
    # are known) when this returns.
    figures = page_ready(docname) if page_ready is not None and current is not None else None
    if path.endswith(".md") and executed:
        pass  # a MyST Markdown notebook that oersite executed: its page shows the executed copy
    elif not path.endswith(".ipynb"):
        return
    if executed:
        path, key = executed
        notebook = json.loads(Path(path).read_text(encoding="utf-8"))
        if current is not None:
            notebook = with_outputs(current, notebook)
        notebook.setdefault("metadata", {}).setdefault("mystnb", {})["execution_mode"] = "off"
        _output_keys(app.env)[docname] = key
    elif current is not None:
        notebook = json.loads(json.dumps(current))  # as read (and repaired) for this build, outputs saved in it
    else:
        try:
            notebook = json.loads(source[0])
        except ValueError:
            return  # not ours to judge here; the executor reports unreadable notebooks
    without_bokeh_notebook_outputs(notebook)
    if figures is None:
        figures = app.config.oersite_figures.get(docname)
    if figures:
        from oersite.figures import wrap_figure_outputs

        wrap_figure_outputs(notebook, figures)
    # Maps an older Folium saved as base64 frames, written as a new Folium writes them: their
    # libraries become the site's own in oersite.assets, like a new map's (oersite.saved_maps).
    # After the wrapping, whose digest of the outputs as saved names the figure's image.
    modernise_notebook(notebook)
    source[0] = json.dumps(notebook)


def without_bokeh_notebook_outputs(notebook: dict[str, Any]) -> dict[str, Any]:
    """Drop Bokeh's JupyterLab-only output types from every output, in place."""
    for cell in notebook.get("cells", []):
        for output in cell.get("outputs", []):
            for mime_type in BOKEH_NOTEBOOK_MIME_TYPES:
                output.get("data", {}).pop(mime_type, None)
                output.get("metadata", {}).pop(mime_type, None)
    return notebook


def pages_with_new_outputs(
    app: Sphinx, env: BuildEnvironment, added: set[str], changed: set[str], removed: set[str]
) -> list[str]:
    seen = _output_keys(env)
    return [
        docname
        for docname, (_path, key) in app.config.oersite_executed.items()
        if docname in env.found_docs and docname not in added and seen.get(docname) != key
    ]


def forget_page(app: Sphinx, env: BuildEnvironment, docname: str) -> None:
    _output_keys(env).pop(docname, None)
    _pages_that_number_nothing(env).discard(docname)


def merge_output_keys(app: Sphinx, env: BuildEnvironment, docnames: set[str], other: BuildEnvironment) -> None:
    """Parallel reading: keep the output keys, and which pages number nothing, as the worker that read ``docnames``."""
    theirs = _output_keys(other)
    _output_keys(env).update({docname: theirs[docname] for docname in docnames if docname in theirs})
    _pages_that_number_nothing(env).update(docnames & _pages_that_number_nothing(other))


def note_whether_numbered(app: Sphinx, doctree: Any) -> None:
    """Remember a page read now that holds nothing Sphinx numbers (``numfig``) and no toctree."""
    from docutils import nodes
    from sphinx import addnodes

    domains = list(app.env.domains.values())

    def numbered(node: nodes.Element) -> bool:
        # As the numbering itself tells (``get_figtype`` in Sphinx's toctree collector): a node some
        # domain enumerates, the standard domain's only with a caption; sections are walked into.
        if isinstance(node, addnodes.toctree):
            return True
        if isinstance(node, nodes.section):
            return False
        return any(
            domain.get_enumerable_node_type(node) and (domain.name != "std" or domain.get_numfig_title(node))
            for domain in domains
        )

    numbers = any(map(numbered, doctree.findall(nodes.Element)))
    plain = _pages_that_number_nothing(app.env)
    if numbers:
        plain.discard(app.env.docname)
    else:
        plain.add(app.env.docname)


def number_figures_reading_only_pages_that_number(app: Sphinx) -> None:
    """Sphinx numbers figures after every build's reading by unpickling every page's doctree.

    Its toctree collector walks the whole toctree for figures, tables and code blocks (with
    ``numfig``, which Jupyter Book turns on), loading each page: 0.2 s of every preview rebuild of
    a 30-notebook course, where the notebooks hold nothing it numbers.  Here it is handed, for a
    page known to hold nothing numbered and no toctree (``note_whether_numbered``, as the page
    was read), an empty document in place of the page's: what it finds there is the same,
    nothing.  Every other page it reads as before.  (Left as Sphinx has it if its collector is
    not where Sphinx 7 keeps it.)
    """
    import functools

    from sphinx.environment.collectors.toctree import TocTreeCollector

    for listener in getattr(app.events, "listeners", {}).get("env-get-updated", []):
        collector = getattr(getattr(listener, "handler", None), "__self__", None)
        if isinstance(collector, TocTreeCollector):
            collector.assign_figure_numbers = functools.partial(_numbered_without_plain_pages, collector)


def _numbered_without_plain_pages(collector: Any, env: BuildEnvironment) -> list[str]:
    from docutils import nodes

    plain = _pages_that_number_nothing(env)
    read = env.get_doctree
    env.get_doctree = lambda docname: nodes.Element() if docname in plain else read(docname)
    try:
        return type(collector).assign_figure_numbers(collector, env)
    finally:
        del env.get_doctree  # the environment is pickled next: Sphinx's own method again


def _pages_that_number_nothing(env: BuildEnvironment) -> set[str]:
    """Pages read with nothing Sphinx numbers in them and no toctree (kept in Sphinx's pickled env)."""
    if not hasattr(env, "oersite_pages_that_number_nothing"):
        env.oersite_pages_that_number_nothing = set()
    return env.oersite_pages_that_number_nothing


def _output_keys(env: BuildEnvironment) -> dict[str, str]:
    """Cache keys of the outputs each page was last read with (kept in Sphinx's pickled env)."""
    if not hasattr(env, "oersite_output_keys"):
        env.oersite_output_keys = {}
    return env.oersite_output_keys


def add_credits_and_record(app: Sphinx, pagename: str, templatename: str, context: dict, doctree: Any) -> None:
    """Every course page ends with its licence and data credits and carries its JSON-LD record."""
    from docutils import nodes

    from oersite.catalogue import credits_html, page_record, record_script

    meta = app.config.oersite_page_metadata
    if not meta or doctree is None or pagename not in meta["pages"]:
        return
    title_node = next(iter(doctree.findall(nodes.title)), None)
    title = title_node.astext() if title_node is not None else pagename
    description = _first_paragraph(doctree)
    context["body"] = context.get("body", "") + credits_html(meta, pagename, title)
    context["metatags"] = context.get("metatags", "") + record_script(page_record(meta, pagename, title, description))


#: The ``<meta name>`` that holds a digest of the source a page was built from (``oersite check`` compares).
SOURCE_DIGEST_META = "oersite-source-sha256"


def add_source_digest(app: Sphinx, pagename: str, templatename: str, context: dict, doctree: Any) -> None:
    """Every page of a source file says which version of it the page was built from.

    ``oersite check`` compares the digest with the file as it is now: a page built from an
    older version is found whatever the files' times say (a checkout, a copy that kept them).
    """
    if doctree is None or pagename not in app.env.all_docs:
        return
    import hashlib

    try:
        digest = hashlib.sha256(Path(app.env.doc2path(pagename)).read_bytes()).hexdigest()
    except OSError:
        return
    context["metatags"] = context.get("metatags", "") + f'\n<meta name="{SOURCE_DIGEST_META}" content="{digest}">'


def _first_paragraph(doctree: Any, limit: int = 300) -> str | None:
    """The page's first paragraph of prose (not a cell's output), shortened at a word: its description."""
    from docutils import nodes

    for paragraph in doctree.findall(nodes.paragraph):
        if any(isinstance(parent, nodes.container) for parent in _ancestors(paragraph)):
            continue
        text = " ".join(paragraph.astext().split())
        if text:
            return text if len(text) <= limit else text[:limit].rsplit(" ", 1)[0] + "…"
    return None


def _ancestors(node: Any):
    while node.parent is not None:
        node = node.parent
        yield node


#: The Run code button's client (assets/run-code, bundled into the vendored libraries), below ``_static``:
#: named by a page, the site ships it (``oersite.assets``).
RUN_CODE_SCRIPT = "oersite/vendor/run-code/run-code.js"


def add_launch_buttons(app: Sphinx, pagename: str, templatename: str, context: dict, doctree: Any) -> None:
    run_code = app.config.oersite_run_code.get(pagename)
    if run_code:
        # The script places the button beside the launch buttons: without JavaScript the page is as it was.
        attributes = {f"data-{key.replace('_', '-')}": value for key, value in run_code.items() if value}
        app.add_js_file(RUN_CODE_SCRIPT, loading_method="defer", id="oersite-run-code", **attributes)
    buttons = app.config.oersite_launch_buttons.get(pagename)
    if not buttons or "header_buttons" not in context:
        return
    for button in buttons:
        context["header_buttons"].append(
            {
                "type": "link",
                "url": button["url"],
                "text": button["text"],
                "tooltip": button["title"],
                "icon": "fas fa-rocket" if button["css_class"] == "oersite-open-in-hub" else "fas fa-flask",
                "label": button["css_class"],
            }
        )
