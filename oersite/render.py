"""Render the course into HTML with Sphinx, configured the way Jupyter Book does.

Jupyter Book 1 turns ``_config.yml`` into a Sphinx configuration
(``jupyter_book.config.get_final_config``); we use that unchanged so any
Jupyter Book keeps building as it did, then add oersite's extension and run
Sphinx ourselves to control its output: its chatter goes to a log file,
its warnings are collected and shown, and a crash becomes one line.
"""

from __future__ import annotations

import copy
import dataclasses
import io
import json
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from oersite.assets import MATHJAX_PATH
from oersite.build_layout import BUILD_FOLDER, BuildLayout
from oersite.config import Course
from oersite.errors import BuildError
from oersite.execute import NotebookResult
from oersite.launch import LaunchButton, RunCode

#: Templates that stand in for the theme's own components of the same name.
TEMPLATES = Path(__file__).resolve().parent / "templates"
#: oersite's stylesheet for the theme's pages (``oersite.css``), copied into every site's ``_static``.
THEME_STATIC = Path(__file__).resolve().parent / "static" / "theme"


@dataclass(frozen=True)
class RenderResult:
    """What Sphinx said: its warnings, and where its full log is."""

    warnings: list[str]
    log_path: Path


def render_site(
    course: Course,
    executed: Callable[[], list[NotebookResult]],
    buttons: dict[str, list[LaunchButton]],
    metadata: dict,
    output_dir: Path,
    layout: BuildLayout,
    *,
    figures: Callable[[], dict[str, dict]] = dict,
    page_ready: Callable[[str], dict] | None = None,
    notebooks: dict[str, Any] | None = None,
    warnings_are_errors: bool = False,
    run_code: dict[str, RunCode] | None = None,
) -> RenderResult:
    """Run Sphinx's HTML builder over the course; incremental across builds.

    ``executed`` returns the executor's results, waiting for them if need be:
    Sphinx spends over a second starting up (importing and setting up its
    extensions), which the build overlaps with notebook execution, and needs
    the results only once it starts reading pages.  ``figures``, called after them, says
    which cells' outputs are figures and their text alternatives (``oersite.figures``).
    With ``page_ready`` (docname -> that page's figures, once its notebook has run),
    ``executed`` may name executed copies still being made: Sphinx reads each notebook page
    as soon as its notebook has run, while later ones run.

    ``metadata`` is ``oersite.catalogue.page_metadata``: the pages' credits and records.
    ``notebooks`` (docname -> notebook as read for this build) is what each notebook page
    shows, with the executed outputs (``oersite.sphinx_ext.swap_in_executed_notebook``).

    ``layout.doctrees`` keeps Sphinx's memory of the previous build,
    so a rebuild re-reads only pages whose source or outputs changed.
    """
    from jupyter_book.config import get_final_config
    from sphinx.application import Sphinx
    from sphinx.errors import SphinxError
    from sphinx.util.docutils import docutils_namespace, patch_docutils

    overrides = {
        "external_toc_path": course.toc_path.relative_to(course.root).as_posix(),
        "latex_individualpages": False,
        # The site is the table of contents: a page left out of it is not built (Jupyter Book 1
        # builds it unless only_build_toc_files is set, an orphan no reader finds from the book).
        "external_toc_exclude_missing": True,
    }
    sphinx_config, _meta = get_final_config(
        user_yaml=course.config_path,
        cli_config=overrides,
        sourcedir=course.root,
        validate=False,  # done once, in oersite.config
    )
    # sphinx-book-theme appends to templates_path, and Sphinx's default for it is one list
    # shared by every Sphinx of the process: without a list of this build's own, each build in
    # one process (oersite serve) would see a longer one, a new configuration hash, and Sphinx
    # would write every page again.
    sphinx_config = copy.deepcopy(sphinx_config)
    sphinx_config["templates_path"] = list(sphinx_config.get("templates_path") or [])
    # oersite's copies of two theme components, accessible (see each file): after the course's own
    # templates, before the themes' components (which the themes append when they are set up).
    sphinx_config["templates_path"].append(str(TEMPLATES))
    sphinx_config["extensions"] = [*sphinx_config["extensions"], "oersite.sphinx_ext"]
    sphinx_config["oersite_myst_nb_output_folder"] = str(layout.myst_nb_output.resolve())
    sphinx_config["oersite_launch_buttons"] = {
        docname: [dataclasses.asdict(button) for button in page_buttons] for docname, page_buttons in buttons.items()
    }
    # Each notebook page's Run code button (oersite.launch.RunCode), placed by its script in the page.
    sphinx_config["oersite_run_code"] = {
        docname: dataclasses.asdict(settings) for docname, settings in (run_code or {}).items()
    }
    # What each page says about itself: licence, credits, catalogue record (oersite.catalogue).
    sphinx_config["oersite_page_metadata"] = metadata
    # The pages' language (<html lang>) is the one the catalogue records give, unless the course set Sphinx's.
    sphinx_config.setdefault("language", course.settings.catalogue.language)
    # pydata-sphinx-theme 0.17 fills the header's persistent slot with a search field unless the
    # theme options name that slot, which sphinx-book-theme's theme.conf does not count as naming:
    # every page opened with a near-empty top bar holding a second "Search" above the sidebar's
    # (https://github.com/executablebooks/sphinx-book-theme/issues/986). An empty slot brings back
    # the page of sphinx-book-theme 1.2; a course that names the slot keeps its own choice.
    sphinx_config.setdefault("html_theme_options", {}).setdefault("navbar_persistent", [])
    # Set here, not by the extension at run time: a change of them makes Sphinx write every page again.
    sphinx_config["html_static_path"] = [*sphinx_config.get("html_static_path", []), str(THEME_STATIC)]
    sphinx_config["html_css_files"] = [*sphinx_config.get("html_css_files", []), "oersite.css"]
    # MathJax from the site itself, not from a CDN (unless the course chose one).
    sphinx_config.setdefault("mathjax_path", MATHJAX_PATH)
    # Excluding the build folders keeps Sphinx from reading its own output
    # when --output points inside the course.
    # Hidden folders (.git, .pytest_cache, ...) never hold pages.
    sphinx_config["exclude_patterns"] = [*sphinx_config.get("exclude_patterns", []), BUILD_FOLDER, ".*", "**/.*"]
    if _is_inside(output_dir, course.root):
        sphinx_config["exclude_patterns"].append(output_dir.relative_to(course.root).as_posix())

    log_path = layout.sphinx_log
    log_path.parent.mkdir(parents=True, exist_ok=True)
    warnings = io.StringIO()
    with log_path.open("w", encoding="utf-8") as status:
        try:
            with patch_docutils(str(course.root)), docutils_namespace():
                app = Sphinx(
                    srcdir=str(course.root),
                    confdir=None,
                    outdir=str(output_dir),
                    doctreedir=str(layout.doctrees),
                    buildername="html",
                    confoverrides=sphinx_config,
                    status=status,
                    warning=warnings,
                    freshenv=False,
                    warningiserror=False,
                    keep_going=True,
                )
                app.config.oersite_executed = {
                    result.page.docname: [str(result.executed_path), result.cache_key]
                    for result in executed()
                    if result.executed_path is not None
                }
                app.config.oersite_figures = figures() if page_ready is None else {}
                app.oersite_page_ready = page_ready
                # Not a config value: Sphinx would pickle every notebook with its environment.
                app.oersite_notebooks = notebooks or {}
                app.connect("html-page-context", _escaped_course_text)
                building_since = time.time() - 1  # a file's time may lag the clock a little

                # Once every page is read (a notebook that fails stops the build before: the last
                # good site stays whole), before anything is written.
                def removed_once_read(app: Any, _env: Any) -> None:
                    # env-updated's handlers return docnames to write: this one returns none.
                    remove_pages_outside_the_toc(app, output_dir)

                app.connect("env-updated", removed_once_read)
                app.build()
                remove_leftovers(app, output_dir, building_since)
        except (SphinxError, OSError) as exc:
            raise BuildError(f"Sphinx stopped: {exc}; see {course.relative(log_path)} for details") from None
    found = [line.strip() for line in warnings.getvalue().splitlines() if line.strip()]
    # Sphinx repeats a warning for each toctree that meets the same problem.
    found = list(dict.fromkeys(_relative_location(_ANSI_CODES.sub("", line), course.root) for line in found))
    if warnings_are_errors and found:
        raise BuildError(f"{len(found)} warning(s), treated as errors (--strict):\n" + "\n".join(found))
    return RenderResult(found, log_path)


def remove_leftovers(app: Any, output_dir: Path, building_since: float) -> list[Path]:
    """Delete what earlier builds left in the site that no page of this one has or uses.

    Sphinx builds incrementally into the same folder and never deletes: a page taken out of
    the table of contents (or deleted) keeps its HTML, its ``_sources`` copy and its images,
    and ``oersite publish`` would ship them.  Kept: each page of the table of contents
    (``env.found_docs``) and its source copy, the images and downloads Sphinx's environment
    lists for them, ``_static`` (the theme's and oersite's files; the figure stage forgets
    its own images), and whatever this build wrote (Sphinx's own pages, redirects).
    Returns what was removed.
    """
    env = app.env
    pages = set(env.found_docs) | _redirected_docnames(output_dir)
    extra_folders = [Path(app.confdir or app.srcdir, folder) for folder in app.config.html_extra_path]
    used = {
        "_images": {name for _docnames, name in env.images.values()},
        "_downloads": {name for _docnames, name in env.dlfiles.values()},
    }
    removed = []
    for path in sorted(output_dir.rglob("*")):
        if not path.is_file() or path.stat().st_mtime >= building_since:
            continue
        relative = path.relative_to(output_dir)
        top = relative.parts[0]
        if any((folder / relative).is_file() for folder in extra_folders):
            leftover = False  # html_extra_path's files, which Sphinx copies only when they changed
        elif top in used:
            leftover = relative.relative_to(top).as_posix() not in used[top]
        elif top == "_sources":
            leftover = _source_docname(relative.relative_to(top).as_posix()) not in pages
        elif top.startswith("_") or path.suffix != ".html":
            leftover = False
        else:
            leftover = relative.with_suffix("").as_posix() not in pages
        if leftover:
            path.unlink()
            removed.append(relative)
    # Folders emptied by it go too (a removed chapter's folder), never the site itself.
    for folder in sorted({parent for relative in removed for parent in relative.parents}, reverse=True):
        if folder.parts and not any((output_dir / folder).iterdir()):
            (output_dir / folder).rmdir()
    return removed


def remove_pages_outside_the_toc(app: Any, output_dir: Path) -> list[Path]:
    """Before Sphinx writes: delete the HTML of pages the table of contents no longer has.

    Done before the build, not only after it (``remove_leftovers``): extensions write some
    pages only where none is: sphinxext-rediraffe a removed page's redirect (and each of its
    redirects again once deleted), sphinx-external-toc the ``index.html`` that leads to the
    first page (written anew, so it leads to this table of contents' first page). Sphinx
    writes its own pages (``genindex``, ``search``) each build.
    """
    toc_pages = set(app.config.external_site_map.keys()) if app.config.external_site_map else None
    if toc_pages is None or not output_dir.is_dir():
        return []
    extra_folders = [Path(app.confdir or app.srcdir, folder) for folder in app.config.html_extra_path]
    removed = []
    for path in output_dir.rglob("*.html"):
        relative = path.relative_to(output_dir)
        docname = relative.with_suffix("").as_posix()
        if (
            relative.parts[0].startswith("_")
            or docname in toc_pages
            or any((folder / relative).is_file() for folder in extra_folders)
        ):
            continue
        path.unlink()
        removed.append(relative)
    return removed


def _redirected_docnames(output_dir: Path) -> set[str]:
    """Pages sphinxext-rediraffe made redirects of (written once, listed in its record in the site)."""
    try:
        record = json.loads((output_dir / "_rediraffe_redirected.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return set()
    names = {_source_docname(source) for source in record if isinstance(source, str)}
    return names | {f"{name}/index" for name in names}


def _source_docname(name: str) -> str:
    """``lessons/a.ipynb`` or ``intro.md.txt`` (Sphinx's source copies) -> the page's docname."""
    if name.endswith(".txt"):
        name = name[: -len(".txt")]
    return name.rsplit(".", 1)[0] if "." in name.rsplit("/", 1)[-1] else name


def _escaped_course_text(app, pagename, templatename, context, doctree) -> None:
    """The course's title and author (Sphinx's ``docstitle`` and ``author``) as escaped Markup in every page.

    Sphinx's templates take them as HTML: most escape them, but pydata-sphinx-theme's logo
    title and search page ``<title>`` print the title as they find it, and sphinx-book-theme's
    footer the author, so a ``<`` or ``&`` would be markup there. As Markup they print escaped
    where a template does not escape, and are not escaped twice where one does.
    """
    import markupsafe

    for name in ("docstitle", "author"):
        text = context.get(name)
        if isinstance(text, str) and not isinstance(text, markupsafe.Markup):
            context[name] = markupsafe.escape(text)


_ANSI_CODES = re.compile(r"\x1b\[[0-9;]*m")


def _is_inside(path: Path, folder: Path) -> bool:
    try:
        path.resolve().relative_to(folder.resolve())
    except ValueError:
        return False
    return True


def _relative_location(line: str, root: Path) -> str:
    """Sphinx prints absolute paths; users know their files by course-relative ones."""
    return re.sub(re.escape(str(root)) + r"/?", "", line)
