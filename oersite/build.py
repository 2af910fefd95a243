"""``oersite build``: the whole pipeline, one phase per line.

config -> pages -> execution -> rendering.  Each phase is a plain function in
its own module; this one only passes their results along and times them.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from oersite.assets import AssetsReport, TileSettings, make_self_contained
from oersite.config import Course
from oersite.errors import BuildError
from oersite.execute import NotebookResult, Reporter, execute_notebooks, read_notebooks
from oersite.launch import LaunchButton, launch_target, notebook_buttons
from oersite.render import render_site
from oersite.toc import Page, read_pages

#: Where a course's build goes unless told otherwise, as in Jupyter Book.
BUILD_DIR = "_build"


@dataclass(frozen=True)
class BuildReport:
    """What a build made: for the summary line and for tests."""

    output_dir: Path
    pages: list[Page]
    notebooks: list[NotebookResult]
    warnings: list[str]
    seconds: float
    log_path: Path
    assets: AssetsReport

    def count(self, status: str) -> int:
        return sum(1 for result in self.notebooks if result.status == status)


def build_dir(course: Course) -> Path:
    return course.root / BUILD_DIR


def default_output_dir(course: Course) -> Path:
    return build_dir(course) / "html"


def build_course(
    course: Course,
    output_dir: Path | None = None,
    *,
    strict: bool = False,
    reporter: Reporter | None = None,
) -> BuildReport:
    """Build the course's website into ``output_dir`` (default ``_build/html``)."""
    started = time.perf_counter()
    output_dir = (output_dir or default_output_dir(course)).resolve()
    work_dir = build_dir(course) / ".oersite"

    pages = read_pages(course)
    notebooks = read_notebooks(course, pages)
    buttons = launch_buttons(course, notebooks)
    results = execute_notebooks(course, notebooks, work_dir / "executed", reporter)
    rendered = render_site(course, results, buttons, output_dir, work_dir, warnings_are_errors=strict)
    thebe = bool((course.book.get("launch_buttons") or {}).get("thebe"))
    assets = make_self_contained(output_dir, work_dir / "assets.json", _tiles(course), thebe=thebe)
    if strict and assets.remote:
        raise BuildError(
            "pages load files from other hosts (--strict):\n"
            + "\n".join(f"{page}: {url}" for page, urls in assets.remote.items() for url in urls)
        )

    return BuildReport(
        output_dir=output_dir,
        pages=pages,
        notebooks=results,
        warnings=rendered.warnings,
        assets=assets,
        seconds=time.perf_counter() - started,
        log_path=rendered.log_path,
    )


def _tiles(course: Course) -> TileSettings | None:
    maps = course.settings.maps
    return TileSettings(maps.tiles, maps.attribution) if maps.tiles else None


def launch_buttons(course: Course, notebooks: dict) -> dict[str, list[LaunchButton]]:
    """Each notebook page's launch buttons, computed (and validated) before Sphinx runs."""
    target = launch_target(course)
    if target is None:
        return {}
    return {
        page.docname: notebook_buttons(
            target,
            course.relative(page.path),
            notebook.metadata.get("oersite", {}).get("launch", {}),
            where=course.relative(page.path),
        )
        for page, notebook in notebooks.items()
    }
