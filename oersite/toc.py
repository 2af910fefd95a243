"""Read the table of contents into the list of pages the site will have.

Jupyter Book reads ``_toc.yml`` with sphinx-external-toc; we read it the same
way, before Sphinx starts, for two reasons: a page that names a missing file
should stop the build with one line naming ``_toc.yml`` and the entry (Sphinx
would only warn), and the executor needs the list of notebooks up front so
it can run them in parallel.
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass
from pathlib import Path

from oersite.build_layout import BUILD_FOLDER
from oersite.config import Course, read_yaml
from oersite.errors import ConfigError

#: Source suffixes Jupyter Book builds, in the order Sphinx would pick them.
PAGE_SUFFIXES = (".ipynb", ".md", ".rst", ".myst")


@dataclass(frozen=True)
class Page:
    """One page of the site and the file it is made from."""

    docname: str
    path: Path

    @property
    def is_ipynb(self) -> bool:
        return self.path.suffix == ".ipynb"

    @property
    def is_notebook(self) -> bool:
        """A ``.ipynb``, or a MyST Markdown notebook: a ``.md`` whose front matter says so.

        Jupyter Book (myst-nb) executes and renders those like ``.ipynb``; the test is
        myst-nb's own (jupytext's ``format_name: myst``, or ``file_format: mystnb``).
        """
        return self.is_ipynb or (self.path.suffix == ".md" and is_markdown_notebook(self.path))


def is_markdown_notebook(path: Path) -> bool:
    from myst_nb.core.read import is_myst_markdown_notebook

    try:
        with path.open(encoding="utf-8") as text:
            return is_myst_markdown_notebook(line for line in text)
    except (OSError, UnicodeDecodeError):
        return False  # not ours to judge here: Sphinx reports a page it cannot read


def read_pages(course: Course) -> list[Page]:
    """All pages named by the course's table of contents, in toc order."""
    from sphinx_external_toc.parsing import MalformedError, parse_toc_data

    toc_shown = course.relative(course.toc_path)
    try:
        site_map = parse_toc_data(read_yaml(course.toc_path))
    except MalformedError as exc:
        raise ConfigError(f"{toc_shown}: {exc}; see https://jupyterbook.org/structure/toc.html") from None

    pages: list[Page] = []
    for docname in _in_toc_order(site_map):
        pages.append(Page(docname, _source_of(course, docname, toc_shown)))
    known = {page.docname for page in pages}
    for pattern in sorted(site_map.globs()):
        for path in sorted(course.root.rglob("*")):
            docname = _docname(course.root, path)
            if docname and docname not in known and fnmatch.fnmatch(docname, pattern):
                known.add(docname)
                pages.append(Page(docname, path))
    return pages


def _in_toc_order(site_map) -> list[str]:
    """Docnames depth-first from the root, the order a reader meets them."""
    ordered: list[str] = []
    stack = [site_map.root.docname]
    while stack:
        docname = stack.pop(0)
        if docname in ordered:
            continue
        ordered.append(docname)
        stack[:0] = site_map[docname].child_files()
    return ordered


def _source_of(course: Course, docname: str, toc_shown: str) -> Path:
    base = course.root / docname
    if base.suffix in PAGE_SUFFIXES and base.is_file():
        return base
    for suffix in PAGE_SUFFIXES:
        candidate = base.with_name(base.name + suffix)
        if candidate.is_file():
            return candidate
    raise ConfigError(
        f"{toc_shown}: entry '{docname}' names no file (no {docname}.ipynb, .md or .rst in the course); "
        "fix the entry or add the file"
    )


def _docname(root: Path, path: Path) -> str | None:
    if path.suffix not in PAGE_SUFFIXES or BUILD_FOLDER in path.parts:
        return None
    return path.relative_to(root).with_suffix("").as_posix()
