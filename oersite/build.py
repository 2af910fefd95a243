"""``oersite build``: the whole pipeline, one phase per line.

config -> pages -> notebooks -> launch links -> execution (and the figures' text
alternatives) -> rendering -> assets -> figure images, unless nothing changed since the
last build.  Each phase is a plain function in
its own module; this one only passes their results along and times them.
"""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import os
import threading
import time
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from oersite.assets import AssetsReport, TileSettings, keep_findings, make_self_contained
from oersite.build_layout import BuildLayout
from oersite.catalogue import metadata_warnings, page_metadata, write_sitemap
from oersite.config import Course
from oersite.errors import BuildError
from oersite.execute import (
    DEFAULT_KERNEL,
    NotebookResult,
    Reporter,
    execute_notebooks,
    kernel_environment,
    may_execute,
    notebook_code,
    read_notebooks,
)
from oersite.figure_images import FigureImages, FiguresReport
from oersite.figures import (
    cells_for_sphinx,
    draws_figures,
    draws_plots,
    figure_cells,
    may_draw_anew,
    missing_alt_warnings,
)
from oersite.kernels import SpareKernels, stop_kernels
from oersite.launch import LaunchButton, RunCode, notebook_buttons, notebook_run_code, run_code_cells
from oersite.messages import plural, shown
from oersite.render import render_site
from oersite.saved_maps import saved_maps
from oersite.toc import Page, read_pages
from oersite.uptodate import CourseState, changed_files, course_state, previous_build, remember_build

if TYPE_CHECKING:
    import nbformat


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
    figures: FiguresReport = FiguresReport()
    up_to_date: bool = False  # nothing changed since the previous build, which this reports
    notes: list[str] = dataclasses.field(default_factory=list)  # what the author may want to know

    def count(self, status: str) -> int:
        return sum(1 for result in self.notebooks if result.status == status)


def default_output_dir(course: Course) -> Path:
    return BuildLayout(course.root).html


def build_course(
    course: Course,
    output_dir: Path | None = None,
    *,
    strict: bool = False,
    reporter: Reporter | None = None,
    figure_images: bool = True,
    wait_for_other_builds: bool = False,
    kernels: SpareKernels | None = None,
) -> BuildReport:
    """Build the course's website into ``output_dir`` (default ``_build/html``).

    Nothing is redone when nothing changed since the last build (see
    ``oersite.uptodate``); ``execute_notebooks: force`` always rebuilds.

    ``figure_images=False`` (the author's preview, ``oersite serve``): no figure is shot, so
    a saved cell reloads its page without waiting for Chromium; pages keep the live figures
    (what a screen shows anyway), and the next ``oersite build`` makes the missing images.

    One build of a course runs at a time (``build_lock``): another is refused in one line,
    or with ``wait_for_other_builds`` (the preview) waited for.
    """
    started = time.perf_counter()
    output_dir = (output_dir or default_output_dir(course)).resolve()
    with build_lock(BuildLayout(course.root).lock, wait=wait_for_other_builds):
        return _build_course(
            course, output_dir, started, strict=strict, reporter=reporter, figure_images=figure_images, kernels=kernels
        )


def _build_course(
    course: Course,
    output_dir: Path,
    started: float,
    *,
    strict: bool,
    reporter: Reporter | None,
    figure_images: bool,
    kernels: SpareKernels | None,
) -> BuildReport:
    layout = BuildLayout(course.root)
    record = layout.last_build
    state = course_state(course.root, output_dir, {"strict": strict, "figure_images": figure_images})
    previous = previous_build(record, state.fingerprint, output_dir) if course.execution.mode != "force" else None
    if previous is not None:
        return _report_from_json(previous, course, seconds=time.perf_counter() - started)

    pages = read_pages(course)
    kernel_ahead = None
    log_before = layout.kernels_log.exists()
    if kernels is None and may_execute(course, pages, changed_files(record, state), layout.executed):
        # The first notebook to run finds its kernel up: it starts now, while the notebooks are read.
        kernel_ahead = kernels = SpareKernels(refill=False)
        kernels.start_ahead(DEFAULT_KERNEL, kernel_environment(course), layout.kernels_log, course.root)
    try:
        return _build_stale_course(
            course,
            output_dir,
            started,
            layout=layout,
            state=state,
            pages=pages,
            strict=strict,
            reporter=reporter,
            figure_images=figure_images,
            kernels=kernels,
            kernel_ahead=kernel_ahead,
        )
    finally:
        if kernel_ahead is not None and kernel_ahead.closing_after is None:
            # The build stopped before its notebooks ran: the kernel stops, and a build refused
            # this early leaves nothing behind. (Else they close when the execution is over.)
            kernel_ahead.close()
            if not log_before:
                layout.kernels_log.unlink(missing_ok=True)


def _build_stale_course(
    course: Course,
    output_dir: Path,
    started: float,
    *,
    layout: BuildLayout,
    state: CourseState,
    pages: list[Page],
    strict: bool,
    reporter: Reporter | None,
    figure_images: bool,
    kernels: SpareKernels | None,
    kernel_ahead: SpareKernels | None,
) -> BuildReport:
    repaired: list[str] = []
    notebooks = read_notebooks(course, pages, warn=repaired.append)
    if strict and repaired:
        raise BuildError(
            "\n".join(f"{line}; open and save the notebook in Jupyter to repair it (--strict)" for line in repaired)
        )
    buttons = launch_buttons(course, notebooks)
    repaired = [
        f"{line}; repaired for this build only (the file is left as it is: open and save it in Jupyter to keep "
        "the repair)"
        for line in repaired
    ]
    warnings = [*repaired, *metadata_warnings(course)]
    if strict and warnings:
        raise BuildError(f"{len(warnings)} warning(s), treated as errors (--strict):\n" + "\n".join(warnings))
    metadata = page_metadata(
        course, pages, {page.docname: notebook_code(notebook) for page, notebook in notebooks.items()}
    )
    tiles = _tiles(course)
    images = FigureImages(output_dir, layout.figures_record, base_url=course.base_url, tiles=tiles)

    if figure_images and not images.made_before() and any(map(draws_figures, notebooks.values())):
        # A first build: its figures will need drawing, whether notebooks run or not.
        images.start_browser(plots=any(map(draws_plots, notebooks.values())))

    progress = ExecutionProgress(
        course,
        notebooks,
        layout,
        reporter,
        kernels,
        images,
        strict=strict,
        figure_images=figure_images,
        kernels_to_close=kernel_ahead,
    )
    try:
        # Notebooks execute (and their figures are drawn) while Sphinx starts up; Sphinx reads
        # each notebook's page as soon as it has run (--strict: once all have, and their alt is known).
        progress.start()
        try:
            rendered = render_site(
                course,
                progress.results if strict else progress.planned_results,
                buttons,
                metadata,
                output_dir,
                layout,
                figures=lambda: cells_for_sphinx(progress.figures),
                page_ready=None if strict else progress.page_ready,
                notebooks={page.docname: notebook for page, notebook in notebooks.items()},
                warnings_are_errors=strict,
                run_code=run_code_buttons(course, notebooks),
            )
        except BuildError:
            if progress.failed:
                progress.results()  # a notebook failed: that is the error, not Sphinx's stop
            raise
        results = progress.results()
        write_sitemap(course, pages, output_dir)
        assets = make_self_contained(output_dir, layout.assets_record, tiles, thebe=course.thebe)
        if strict and assets.remote:
            raise BuildError(
                "pages load files from other hosts (--strict):\n"
                + "\n".join(f"{page}: {url}" for page, urls in assets.remote.items() for url in urls)
            )
        figures = images.finish() if figure_images else FiguresReport()
        keep_findings(output_dir, layout.assets_record, figures.rewritten)
        # While Chromium closes (finish let it go): each map an older Folium saved, named (drawn
        # offline, or to execute again).
        old_maps = saved_maps(course, notebooks, results)
    except KeyboardInterrupt:
        # Ctrl-C: the kernels stop now (their notebooks stay uncached), and Sphinx forgets what
        # it read, so the next build writes again every page this one may have left half done.
        stop_kernels()
        (layout.doctrees / "environment.pickle").unlink(missing_ok=True)
        progress.shutdown(wait=False)
        raise
    finally:
        images.close()
    progress.shutdown()
    if strict and figures.warnings:
        raise BuildError("\n".join(figures.warnings))

    report = BuildReport(
        output_dir=output_dir,
        pages=pages,
        notebooks=results,
        warnings=[
            *warnings,
            *missing_alt_warnings(progress.figures),
            *(found_map.line() for found_map in old_maps if found_map.without_copy),
            *rendered.warnings,
            *figures.warnings,
        ],
        notes=[found_map.line() for found_map in old_maps if not found_map.without_copy],
        assets=assets,
        figures=figures,
        seconds=time.perf_counter() - started,
        log_path=rendered.log_path,
    )
    if not figures.warnings:  # else the next build tries the figures again (Chromium installed, a slow map)
        remember_build(layout.last_build, state, _report_to_json(report, course))
    return report


class ExecutionProgress:
    """The notebooks' execution, on a thread of its own, as the build's other stages see it while it runs.

    Sphinx starts up beside it and reads each notebook's page as soon as that notebook has run
    (``page_ready``); Chromium starts as soon as the plan shows that a notebook whose figures
    may change will run (``may_draw_anew``; else only when a figure without an image turns up),
    and each notebook's figures are drawn as soon as it has run, while the others still run.
    If the execution fails every waiting page is let go at once, so Sphinx stops and the
    build reports the notebook's failure, not Sphinx's.  With ``strict`` nothing
    is drawn before every figure's text alternative is known.
    """

    def __init__(
        self,
        course: Course,
        notebooks: dict[Page, nbformat.NotebookNode],
        layout: BuildLayout,
        reporter: Reporter | None,
        kernels: SpareKernels | None,
        images: FigureImages,
        *,
        strict: bool,
        figure_images: bool,
        kernels_to_close: SpareKernels | None = None,
    ) -> None:
        self._course = course
        self._kernels_to_close = kernels_to_close  # this build's own: closed when the execution is over
        self._notebooks = notebooks
        self._layout = layout
        self._reporter = reporter
        self._kernels = kernels
        self._images = images
        self._strict = strict
        self._figure_images = figure_images
        # The kernels' environment as the build began: read in the execution's thread, it could
        # hold what Sphinx sets while it builds (DOCUTILSCONFIG), depending on when a kernel starts.
        self._kernel_environment = kernel_environment(course)
        #: Every figure the notebooks show, once all have run (``results``).
        self.figures: list = []
        self._figures_of: dict[Page, list] = {}  # each notebook's, found as it has run or when first asked
        self._figures_lock = threading.Lock()
        self._plan: list[NotebookResult] | None = None
        self._planned = threading.Event()
        self._page_done = {page.docname: threading.Event() for page in notebooks}
        self._stopped = threading.Event()
        self._background = ThreadPoolExecutor(max_workers=1, thread_name_prefix="oersite-execute")
        self._execution: Future[list[NotebookResult]] | None = None

    def start(self) -> None:
        self._execution = self._background.submit(self._execute_and_describe)
        if self._kernels_to_close is not None:
            self._kernels_to_close.close_after(self._execution)

    def results(self) -> list[NotebookResult]:
        """Every notebook's result, once all have run; raises what stopped the execution."""
        assert self._execution is not None, "start() first"
        return self._execution.result()

    @property
    def failed(self) -> bool:
        return self._stopped.is_set()

    def planned_results(self) -> list[NotebookResult]:
        """Every notebook's result as planned: its executed copy and key, made or still being made."""
        self._planned.wait()
        return self._plan if self._plan is not None and not self.failed else self.results()

    def page_ready(self, docname: str) -> dict:
        """Once the page's notebook has run: its figures, as Sphinx wraps them."""
        self._page_done[docname].wait()
        if self.failed or self._plan is None:
            self.results()  # raises what stopped it
        result = next(result for result in self._plan if result.page.docname == docname)
        return cells_for_sphinx(self._figures_for(result)).get(docname, {})

    def shutdown(self, *, wait: bool = True) -> None:
        """``wait=False`` (Ctrl-C): whatever has not started is cancelled, and nothing waits for it."""
        self._background.shutdown(wait=wait, cancel_futures=not wait)

    def _figures_for(self, result: NotebookResult) -> list:
        with self._figures_lock:
            if result.page not in self._figures_of:
                self._figures_of[result.page] = figure_cells(
                    self._course, {result.page: self._notebooks[result.page]}, [result]
                )
            return self._figures_of[result.page]

    def _planned_now(self, results: list[NotebookResult]) -> None:
        self._plan = results
        for result in results:
            if result.status != "executed":  # from the cache, or stored: ready now
                self._page_done[result.page.docname].set()
        self._planned.set()
        running = [result for result in results if result.status == "executed"]
        if self._figure_images and any(
            may_draw_anew(self._notebooks[result.page], _previous_copy(result)) for result in running
        ):
            # Chromium starts beside the kernels (else, when a figure without an image turns up).
            self._images.start_browser(plots=any(draws_plots(self._notebooks[result.page]) for result in running))

    def _ran(self, result: NotebookResult) -> None:
        """A notebook has run: its figures are found, and drawn while the others run."""
        cells = self._figures_for(result)
        if self._figure_images and not self._strict:
            self._images.draw_ahead(cells)
        self._page_done[result.page.docname].set()

    def _execute_and_describe(self) -> list[NotebookResult]:
        """The executor's results and every figure they show, found and drawn as soon as they are known."""
        try:
            results = execute_notebooks(
                self._course,
                self._notebooks,
                self._layout.executed,
                self._reporter,
                self._kernels,
                ran=self._ran,
                planned=self._planned_now,
                environment=self._kernel_environment,
            )
            self.figures = [cell for result in results for cell in self._figures_for(result)]
            missing = missing_alt_warnings(self.figures)
            if self._strict and missing:
                raise BuildError("\n".join(missing))
            if self._figure_images:  # drawn while Sphinx starts, reads and writes the pages
                self._images.draw_ahead(self.figures)
            return results
        except BaseException:
            self._stopped.set()
            raise
        finally:
            self._planned.set()
            for done in self._page_done.values():
                done.set()


def _previous_copy(result: NotebookResult) -> dict | None:
    """The executed copy an earlier run left of a notebook about to run again (None if there is none)."""
    import json

    try:
        return json.loads(result.executed_path.read_text(encoding="utf-8")) if result.executed_path else None
    except (OSError, ValueError):
        return None


_LOCK_PID_WIDTH = 20  # wider than any process id


@contextmanager
def build_lock(path: Path, *, wait: bool = False) -> Iterator[None]:
    """Let one build of a course run at a time; a second one says which process builds, in one line.

    The lock is the operating system's (``flock``) on ``path`` (``BuildLayout.lock``), which
    holds the builder's process id: a build that died (killed, the machine restarted) leaves a
    file no process locks, so the next build takes it over.  The folders this made for it and
    left empty are removed again, so a build refused before writing anything leaves nothing
    behind.  ``wait=True`` (the preview's rebuilds) waits for the other build instead.
    """
    made = [folder for folder in path.parents if not folder.exists()]
    path.parent.mkdir(parents=True, exist_ok=True)
    while True:
        handle = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(handle, fcntl.LOCK_EX if wait else fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(handle, 64, 0).decode("ascii", "replace").strip() or "unknown"
            os.close(handle)
            raise BuildError(
                f"another build of this course is running (process {holder}, lock {shown(path)}); "
                "wait for it to end, or stop it"
            ) from None
        try:
            if os.fstat(handle).st_ino == os.stat(path).st_ino:
                break  # else the build before removed this file just now: lock the new one
        except FileNotFoundError:
            pass
        os.close(handle)
    try:
        # Written over whatever a dead build left, padded rather than truncated: on ext4 a
        # truncated file is flushed to disk when closed, milliseconds on every build.
        os.pwrite(handle, str(os.getpid()).ljust(_LOCK_PID_WIDTH).encode("ascii") + b"\n", 0)
        yield
    finally:
        path.unlink(missing_ok=True)
        os.close(handle)
        for folder in made:  # innermost first
            with contextlib.suppress(OSError):
                folder.rmdir()  # only if empty


def report_lines(report: BuildReport, course: Course) -> list[tuple[str, str]]:
    """What a build tells the user afterwards, as (kind, line): "warning", "remote" (a page and a URL), "done"."""
    lines = [("warning", warning) for warning in report.warnings] + [("note", note) for note in report.notes]
    for page, versions in report.assets.bokeh_mismatches.items():
        lines.append(
            (
                "warning",
                f"{page}: its plots were made with Bokeh {', '.join(versions)} but the site ships "
                f"BokehJS {report.assets.shipped_bokeh} (the installed bokeh); re-execute the notebook "
                "or install the Bokeh that made it",
            )
        )
    if report.assets.remote:
        lines.append(("warning", "These pages still load files from other hosts (oersite cannot ship them):"))
        lines += [("remote", f"  {page}: {url}") for page, urls in report.assets.remote.items() for url in urls]
    executed, cached, stored = (report.count(status) for status in ("executed", "cached", "stored"))
    notebooks = f"{plural(len(report.notebooks), 'notebook')}: {executed} executed, {cached} from cache"
    if stored:
        notebooks += f", {stored} with their saved outputs"
    if report.figures.made or report.figures.reused:
        lines.append(
            (
                "note",
                f"{plural(report.figures.made + report.figures.reused, 'figure image')} for print and readers "
                f"without JavaScript: {report.figures.made} made, {report.figures.reused} reused"
                + (
                    f" (Chromium drew for {report.figures.drawing:.1f} s, beside the kernels and Sphinx; "
                    f"{report.figures.after:.1f} s after the other stages)"
                    if report.figures.made and not report.up_to_date
                    else ""
                ),
            )
        )
    if report.up_to_date:
        lines.append(("note", "Nothing changed since the last build."))
    lines.append(
        (
            "done",
            f"Built {plural(len(report.pages), 'page')} ({notebooks}) in {report.seconds:.1f} s\n"
            f"Open {shown(report.output_dir / 'index.html')} or preview it with: oersite serve {shown(course.root)}",
        )
    )
    return lines


def _report_to_json(report: BuildReport, course: Course) -> dict:
    return {
        "output_dir": str(report.output_dir),
        "log_path": str(report.log_path),
        "pages": [[page.docname, course.relative(page.path)] for page in report.pages],
        "notebooks": [
            [result.page.docname, result.status, str(result.executed_path or ""), result.cache_key]
            for result in report.notebooks
        ],
        "warnings": report.warnings,
        "notes": report.notes,
        "assets": dataclasses.asdict(report.assets),
        "figures": dataclasses.asdict(report.figures),
    }


def _report_from_json(saved: dict, course: Course, *, seconds: float) -> BuildReport:
    """The previous build's report, as this build's: every notebook now comes from the cache."""
    pages = [Page(docname, course.root / path) for docname, path in saved["pages"]]
    by_name = {page.docname: page for page in pages}
    notebooks = [
        NotebookResult(
            by_name[docname],
            "stored" if status == "stored" else "cached",
            Path(executed) if executed else None,
            key,
        )
        for docname, status, executed, key in saved["notebooks"]
    ]
    return BuildReport(
        output_dir=Path(saved["output_dir"]),
        pages=pages,
        notebooks=notebooks,
        warnings=saved["warnings"],
        notes=saved.get("notes", []),
        assets=AssetsReport(**saved["assets"]),
        # the previous build's images, all kept: none made now
        figures=FiguresReport(reused=sum(saved.get("figures", {}).get(kind, 0) for kind in ("made", "reused"))),
        seconds=seconds,
        log_path=Path(saved["log_path"]),
        up_to_date=True,
    )


def _tiles(course: Course) -> TileSettings | None:
    maps = course.settings.maps
    return TileSettings(maps.tiles, maps.attribution) if maps.tiles else None


def run_code_buttons(course: Course, notebooks: dict) -> dict[str, RunCode]:
    """Each notebook page's Run code button, where the course and the notebook have one."""
    target = course.launch
    if target is None:
        return {}
    found = {
        page.docname: notebook_run_code(
            target,
            course.relative(page.path),
            notebook.metadata.get("oersite", {}).get("launch", {}),
            where=course.relative(page.path),
        )
        for page, notebook in notebooks.items()
    }
    return {
        page.docname: dataclasses.replace(run_code, cells=run_code_cells(notebook.cells))
        for page, notebook in notebooks.items()
        if (run_code := found[page.docname]) is not None
    }


def launch_buttons(course: Course, notebooks: dict) -> dict[str, list[LaunchButton]]:
    """Each notebook page's launch buttons, computed (and validated) before Sphinx runs."""
    target = course.launch
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
