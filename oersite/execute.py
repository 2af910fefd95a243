"""Execute the course's notebooks before Sphinx renders them.

Why not let myst-nb execute them: myst-nb runs notebooks one after another
inside Sphinx's read phase, its jupyter-cache keys a notebook on its code
alone (two notebooks with equal code in different folders share outputs, and
an edited data file changes nothing), and a failing cell surfaces as a Sphinx
warning with a traceback.  Here notebooks run concurrently with nbclient,
each result is cached under a key of everything that changes its outputs, and
a failure becomes one line naming notebook, cell and exception.

The Sphinx extension (``oersite.sphinx_ext``) then hands myst-nb the executed
copy with execution switched off for that file.

MyST Markdown notebooks (a ``.md`` with jupytext front matter and ``{code-cell}``
blocks) are read with myst-nb's own reader, the one Jupyter Book renders them
with, and then go the same way as ``.ipynb``.

Jupyter Book's ``execute:`` settings keep their meaning: ``off`` runs nothing,
``auto`` runs notebooks that have no stored outputs, ``cache`` runs what
changed, ``force`` runs everything every time; ``exclude_patterns``,
``timeout``, ``allow_errors`` and ``run_in_temp`` apply as documented by
Jupyter Book.  ``inline`` is left to myst-nb.
"""

from __future__ import annotations

import asyncio
import copy
import fnmatch
import hashlib
import json
import os
import re
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from oersite.build_layout import BuildLayout
from oersite.config import Course
from oersite.errors import NotebookError
from oersite.files import write_atomically
from oersite.kernels import KernelKind, NotMoved, Opening, movable, start_kernel, stop_kernel
from oersite.toc import Page

if TYPE_CHECKING:  # nbformat takes a second to import: only where notebooks are read
    import nbformat
    from jupyter_client.manager import AsyncKernelManager

    from oersite.kernels import SpareKernels

#: Environment variable through which notebooks find the course's datasets,
#: the same name in the build and on the hubs (see notebooks/course_data.py).
DATA_ENV = "COURSE_DATA"
#: The kernel of a notebook that names none, and the one a build starts ahead.
DEFAULT_KERNEL = "python3"


@dataclass(frozen=True)
class NotebookResult:
    """What the executor did with one notebook.

    ``status`` is ``executed`` (ran now), ``cached`` (unchanged since it ran)
    or ``stored`` (rendered with the outputs saved in the notebook file).
    """

    page: Page
    status: str
    executed_path: Path | None = None
    cache_key: str = ""
    seconds: float = 0.0


class Reporter:
    """Receives progress; the CLI shows it, tests and library users may ignore it."""

    def planned(self, total: int, to_run: int) -> None: ...

    def started(self, page: Page) -> None: ...

    def finished(self, result: NotebookResult) -> None: ...


#: Cell tags that change what executing a cell does (nbclient's): the only tags in the cache key.
#: Every other tag (``hide-input``, ``remove-output``, ...) only changes how the page shows the cell.
EXECUTION_TAGS = frozenset({"raises-exception", "skip-execution"})

#: The fields nbformat 4 allows on each kind of cell (its JSON schema's ``properties``).
CELL_FIELDS = {
    "markdown": {"id", "cell_type", "metadata", "source", "attachments"},
    "raw": {"id", "cell_type", "metadata", "source", "attachments"},
    "code": {"id", "cell_type", "metadata", "source", "outputs", "execution_count"},
}
#: A cell id as nbformat 4.5's schema allows it.
CELL_ID = re.compile(r"[a-zA-Z0-9-_]{1,64}")
#: What a missing required field of a cell becomes: what Jupyter writes for an empty one.
CELL_DEFAULTS = {"metadata": dict, "source": str, "outputs": list, "execution_count": lambda: None}


def read_notebooks(
    course: Course, pages: list[Page], warn: Callable[[str], None] | None = None
) -> dict[Page, nbformat.NotebookNode]:
    """Every notebook page's notebook (``.ipynb`` or MyST Markdown), read once for all later phases.

    ``warn`` hears one line per notebook that was repaired in memory (``read_notebook``).
    """
    return {page: read_notebook(course, page, warn) for page in pages if page.is_notebook}


def execute_notebooks(
    course: Course,
    notebooks: dict[Page, nbformat.NotebookNode],
    cache_dir: Path,
    reporter: Reporter | None = None,
    kernels: SpareKernels | None = None,
    *,
    ran: Callable[[NotebookResult], None] | None = None,
    planned: Callable[[list[NotebookResult]], None] | None = None,
    environment: dict[str, str] | None = None,
) -> list[NotebookResult]:
    """Execute (or fetch from the cache) the course's ``.ipynb`` notebooks.

    ``kernels``: kernels started ahead (the preview's), one taken for each run;
    without, each run starts its own.  ``planned`` hears every notebook's result before any
    runs, those about to run as "executed" with the executed copy and cache key they will
    have (the build starts Chromium then, and Sphinx knows what it will read); ``ran`` hears
    each notebook that has run, as soon as its executed copy is written.  Notebooks run in
    the order of their page names, the order Sphinx reads them in.  ``environment``: the
    kernels' variables (``kernel_environment`` now, if not given).

    Raises ``NotebookError`` naming each notebook that could not be read or
    whose cell raised or timed out; notebooks that succeeded are cached even
    then, so the next build only reruns what failed.
    """
    reporter = reporter or Reporter()
    installed = environment_fingerprint()
    data = data_files(course)
    results: dict[Page, NotebookResult] = {}
    to_run: list[tuple[Page, nbformat.NotebookNode, str, Path, Path]] = []
    for page, notebook in notebooks.items():
        if not executes(course, page, notebook):
            results[page] = NotebookResult(page, "stored")
            continue
        key = cache_key(course, page, notebook, installed, data)
        executed_path, key_path = executed_copy(cache_dir, page)
        if (
            course.execution.mode != "force"
            and executed_path.is_file()
            and key_path.is_file()
            and key_path.read_text() == key
        ):
            results[page] = NotebookResult(page, "cached", executed_path, key)
        else:
            # nbclient executes in place; the caller's notebook stays as read.
            to_run.append((page, copy.deepcopy(notebook), key, executed_path, key_path))

    to_run.sort(key=lambda job: job[0].docname)
    if planned is not None:
        ahead = {job[0]: NotebookResult(job[0], "executed", job[3], job[2]) for job in to_run}
        planned([results.get(page) or ahead[page] for page in notebooks])
    reporter.planned(len(notebooks), len(to_run))
    for result in results.values():
        reporter.finished(result)
    if to_run:
        # This build's kernels only: emptied in place, so a kernel started ahead keeps writing here.
        log = BuildLayout(course.root).kernels_log
        log.parent.mkdir(parents=True, exist_ok=True)
        log.write_bytes(b"")
        environment = environment if environment is not None else kernel_environment(course)
        outcomes = asyncio.run(_run_all(course, to_run, reporter, log, kernels, installed, environment, ran))
        if kernels is not None and len(to_run) == 1:
            # A save of one notebook: the preview's next save is likely of it again, and its kernel
            # imports ahead.  After several (the first build, a data file), the kernel stays as it
            # started, which any notebook may take.
            page, notebook = to_run[0][:2]
            opening, kernel_name = run_opening(course, page, notebook, installed), kernel_name_of(notebook)
            if opening is not None and movable(kernel_name):
                kernels.prepare(kernel_name, opening)
        failures = [outcome for outcome in outcomes if isinstance(outcome, str)]
        results.update((outcome.page, outcome) for outcome in outcomes if isinstance(outcome, NotebookResult))
        if failures:
            raise NotebookError("\n".join(failures))
    return [results[page] for page in notebooks]


def read_notebook(course: Course, page: Page, warn: Callable[[str], None] | None = None) -> nbformat.NotebookNode:
    """Parse one notebook file; a broken one is a one-line error naming it.

    A notebook some tool saved with a cell nbformat's schema does not allow (a markdown cell
    still carrying a code cell's ``outputs``, a cell without ``metadata`` or ``id``) is
    repaired in memory, as Jupyter Book 1 renders it: ``warn`` hears one line naming the
    file, its cells and what was wrong; the file itself is never written.  Only a file that is not a
    notebook at all is an error.
    """
    import nbformat

    shown = course.relative(page.path)
    if page.path.suffix == ".md":
        return read_markdown_notebook(course, page)
    try:
        text = page.path.read_text(encoding="utf-8")
        data = json.loads(text)
    except UnicodeDecodeError as exc:
        raise NotebookError(f"{shown}: not UTF-8 text ({exc.reason}); save the notebook again from Jupyter") from None
    except json.JSONDecodeError as exc:
        raise NotebookError(
            f"{shown}, line {exc.lineno}: not a valid notebook ({exc.msg}); "
            "open it in a text editor to repair it, or restore it from git"
        ) from None
    try:
        if not isinstance(data, dict) or "cells" not in data and "worksheets" not in data:
            raise ValueError("it has no cells")
        repairs = repair_cells(data)
        notebook = nbformat.reads(json.dumps(data) if repairs else text, as_version=4)
        nbformat.validate(notebook)
    except Exception as exc:  # nbformat raises several kinds for structurally wrong files
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise NotebookError(f"{shown}: not a valid Jupyter notebook ({first}); save it again from Jupyter") from None
    if repairs and warn is not None:
        numbers = ", ".join(str(number) for number in repairs)
        what = "; ".join(dict.fromkeys(repairs.values()))
        warn(f"{shown}, cell{'s' if len(repairs) > 1 else ''} {numbers}: {what}")
    return notebook


def repair_cells(data: dict[str, Any]) -> dict[int, str]:
    """Make a version 4 notebook's cells what nbformat's schema allows, in place; cell number -> what was done.

    Only what Jupyter itself would write differently is changed: fields a cell of its kind
    does not have are dropped, missing required ones get Jupyter's empty value and, in a
    notebook of minor version 5 or later, a missing, malformed or repeated ``id`` gets a new
    one (older minor versions have none and need none).  A cell of an unknown kind is left
    for validation to refuse.
    """
    from nbformat.corpus.words import generate_corpus_id as random_cell_id

    if data.get("nbformat") != 4 or not isinstance(data.get("cells"), list):
        return {}
    repairs: dict[int, str] = {}
    wants_ids = isinstance(data.get("nbformat_minor"), int) and data["nbformat_minor"] >= 5
    seen_ids: set[str] = set()
    for number, cell in enumerate(data["cells"], start=1):
        if not isinstance(cell, dict) or cell.get("cell_type") not in CELL_FIELDS:
            continue
        kind = cell["cell_type"]
        extra = sorted(set(cell) - CELL_FIELDS[kind])
        done = []
        if extra:
            for name in extra:
                del cell[name]
            done.append(f"a {kind} cell with {', '.join(repr(name) for name in extra)} (not fields of a {kind} cell)")
        missing = [name for name in CELL_FIELDS[kind] & set(CELL_DEFAULTS) if name not in cell]
        if missing:
            for name in missing:
                cell[name] = CELL_DEFAULTS[name]()
            done.append(f"a {kind} cell without {', '.join(repr(name) for name in sorted(missing))}")
        if wants_ids:
            if not isinstance(cell.get("id"), str) or not CELL_ID.fullmatch(cell["id"]) or cell["id"] in seen_ids:
                done.append(f"a {kind} cell without an id of its own")
                cell["id"] = random_cell_id()
            seen_ids.add(cell["id"])
        if done:
            repairs[number] = "; ".join(done)
    return repairs


def read_markdown_notebook(course: Course, page: Page) -> nbformat.NotebookNode:
    """A MyST Markdown notebook, read as myst-nb reads it for its page; a broken one is one line."""
    import nbformat
    from myst_nb.core.read import MystMetadataParsingError, read_myst_markdown_notebook

    shown = course.relative(page.path)
    try:
        text = page.path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise NotebookError(f"{shown}: not UTF-8 text ({exc.reason}); save the file as UTF-8") from None
    try:
        # The source map (each cell's first line) lets errors name the line, as authors know it.
        notebook = read_myst_markdown_notebook(text, add_source_map=True, path=str(page.path))
        nbformat.validate(notebook)
    except MystMetadataParsingError as exc:
        # myst-nb's message ends with the parser's warning object; its text is what helps
        problem = re.sub(r"ParseWarnings\(msg='([^']*)'[^)]*\)", r"\1", str(exc))
        raise NotebookError(f"{shown}: {problem}; fix the cell's options (the lines starting with ':')") from None
    except Exception as exc:  # myst-nb and nbformat raise several kinds for malformed front matter or cells
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise NotebookError(f"{shown}: not a valid MyST Markdown notebook ({first})") from None
    return notebook


def environment_fingerprint() -> str:
    """A digest of the Python and package versions that kernels run with.

    Upgrading Bokeh changes every plot's output (and the BokehJS it needs),
    so it must invalidate the cache.  Kernels run in this interpreter's
    environment unless a notebook names another kernel.  The names of the
    installed distributions' metadata folders carry name and version; listing
    them is a hundred times faster than reading every package's metadata.
    """
    installed = []
    for entry in sys.path:
        try:
            names = os.listdir(entry or ".")
        except OSError:
            continue
        installed.extend(f"{entry}:{name}" for name in names if name.endswith((".dist-info", ".egg-info")))
    return _digest([sys.version, *sorted(installed)])


def cache_key(course: Course, page: Page, notebook: nbformat.NotebookNode, environment: str, data: list[Path]) -> str:
    """A digest of everything that changes this notebook's executed outputs.

    Its code (and the cell tags that steer execution, ``EXECUTION_TAGS``), its path (its working
    folder decides which relative files it opens), the files its code names
    (by file name) among the course's ``data`` files and the files beside the
    notebook, the kernel environment and the execution settings.
    """
    code = [
        json.dumps([cell.source, sorted(EXECUTION_TAGS & set(cell.get("metadata", {}).get("tags", [])))])
        for cell in notebook.cells
        if cell.cell_type == "code"
    ]
    kernel = notebook.metadata.get("kernelspec", {}).get("name", "")
    settings = [course.execution.timeout, course.execution.allow_errors, course.execution.run_in_temp]
    joined_code = notebook_code(notebook)
    beside = [
        path for path in page.path.parent.iterdir() if path.is_file() and path.suffix != ".ipynb" and path != page.path
    ]
    read = sorted({path for path in [*data, *beside] if path.name in joined_code})
    digests = [f"{course.relative(path)}:{_file_digest(path)}" for path in read]
    return _digest([page.docname, kernel, json.dumps(settings), environment, *code, *digests])


def with_outputs(notebook: nbformat.NotebookNode, executed: dict[str, Any]) -> dict[str, Any]:
    """What a page shows: the notebook as it is now, each code cell with its executed counterpart's outputs.

    The executed copy is matched to the notebook by its cache key, which covers the code
    cells (their sources, in order) and nothing else of the file: so markdown, the title,
    cell tags, cell and notebook metadata (a figure's ``alt``) reach the page as the author
    left them, without executing anything again, and the outputs belong to the code shown.
    """
    page = copy.deepcopy(dict(notebook))
    page["cells"] = copy.deepcopy(list(notebook.cells))
    ran = [cell for cell in executed.get("cells", []) if cell.get("cell_type") == "code"]
    code = [cell for cell in page["cells"] if cell.get("cell_type") == "code"]
    for cell, executed_cell in zip(code, ran, strict=False):
        cell["outputs"] = executed_cell.get("outputs", [])
        cell["execution_count"] = executed_cell.get("execution_count")
    metadata = page["metadata"] = dict(page.get("metadata", {}))
    # The kernel says which language it ran (myst-nb highlights the code by it).
    if "language_info" in executed.get("metadata", {}):
        metadata.setdefault("language_info", executed["metadata"]["language_info"])
    return page


def notebook_code(notebook: nbformat.NotebookNode) -> str:
    """A notebook's code cells, joined: where the files it reads are named (here, and for its data credits)."""
    return "\n".join(cell.source for cell in notebook.cells if cell.cell_type == "code")


def opening_imports(notebook: nbformat.NotebookNode) -> tuple[str, ...]:
    """The modules a notebook imports before any other statement runs, in order (``kernels.Opening``).

    Read from the code cells that run, up to the first statement that is not an absolute
    import: code before an import may change what it does (``sys.path``, ``os.environ``, a
    magic), so nothing after such a statement counts.  ``from __future__`` imports nothing.
    """
    import ast
    import warnings

    modules: list[str] = []
    for cell in notebook.cells:
        if cell.cell_type != "code" or "skip-execution" in cell.get("metadata", {}).get("tags", []):
            continue
        try:
            with warnings.catch_warnings():  # (an invalid escape in a string: the kernel says so, not oersite)
                warnings.simplefilter("ignore")
                statements = ast.parse(cell.source).body
        except (SyntaxError, ValueError):  # a magic, a shell line, top-level await
            break
        for statement in statements:
            if isinstance(statement, ast.Import):
                modules.extend(alias.name for alias in statement.names)
            elif isinstance(statement, ast.ImportFrom) and statement.level == 0 and statement.module:
                if statement.module != "__future__":
                    modules.append(statement.module)
            else:
                return tuple(modules)
    return tuple(modules)


def run_opening(course: Course, page: Page, notebook: nbformat.NotebookNode, installed: str) -> Opening | None:
    """What a kernel may import ahead of this notebook's run; None when it runs in a new temporary folder."""
    if course.execution.run_in_temp:
        return None
    return Opening(opening_imports(notebook), page.path.parent, installed)


def kernel_name_of(notebook: nbformat.NotebookNode) -> str:
    return notebook.metadata.get("kernelspec", {}).get("name", "") or DEFAULT_KERNEL


def executed_copy(cache_dir: Path, page: Page) -> tuple[Path, Path]:
    """Where the executed copy of a page's notebook is kept, and its cache key beside it."""
    notebook = cache_dir / f"{page.docname}.ipynb"
    return notebook, notebook.with_name(notebook.name + ".key")


def data_files(course: Course) -> list[Path]:
    """The files of the course's data folder (empty when it has none)."""
    if not course.data_dir.is_dir():
        return []
    return sorted(path for path in course.data_dir.rglob("*") if path.is_file())


def executes(course: Course, page: Page, notebook: nbformat.NotebookNode) -> bool:
    """Whether oersite executes this notebook (else its page shows the outputs saved in it)."""
    mode = course.execution.mode
    if mode in ("off", "inline"):
        return False
    posix = page.path.as_posix()
    if any(fnmatch.fnmatch(posix, pattern) for pattern in course.execution.exclude_patterns):
        return False
    if mode == "auto":
        return not any(cell.get("outputs") for cell in notebook.cells if cell.cell_type == "code")
    return True


def may_execute(course: Course, pages: list[Page], changed: set[str] | None, cache_dir: Path) -> bool:
    """Whether a build will likely run a notebook, guessed before any notebook is parsed.

    ``changed``: the course files (relative paths) changed since the last build, None when
    unknown (a first build, another environment).  Yes when a notebook's code changed (a
    prose edit runs nothing), or a data file, a Python module or a file beside a notebook
    did.  A wrong guess costs one kernel started for nothing.
    """
    if course.execution.mode in ("off", "inline"):
        return False
    candidates = [page for page in pages if page.path.suffix in (".ipynb", ".md")]
    if changed is None:
        return any(page.is_ipynb for page in candidates) or any(page.is_notebook for page in candidates)
    by_path = {page.path: page for page in candidates}
    folders = {page.path.parent for page in candidates if page.is_ipynb}
    for path in (course.root / name for name in changed):
        if path.suffix == ".py" or path.is_relative_to(course.data_dir):
            return True
        page = by_path.get(path)
        if page is None:
            if path.parent in folders and path.suffix not in (".ipynb", ".md", ".rst"):
                return True  # a file beside a notebook, which its code may open
        elif page.is_ipynb and _code_changed(course, page, cache_dir) or not page.is_ipynb and page.is_notebook:
            return True
    return False


def _code_changed(course: Course, page: Page, cache_dir: Path) -> bool:
    """Whether a notebook will run: its code cells differ from those of its executed copy (JSON only)."""

    def code(data: dict) -> list:
        return [
            (
                "".join(cell.get("source", "")),
                sorted(EXECUTION_TAGS & set(cell.get("metadata", {}).get("tags", []))),
            )
            for cell in data.get("cells", [])
            if cell.get("cell_type") == "code"
        ]

    try:
        now = json.loads(page.path.read_text(encoding="utf-8"))
        if course.execution.mode == "auto" and any(
            cell.get("outputs") for cell in now.get("cells", []) if cell.get("cell_type") == "code"
        ):
            return False  # its stored outputs are shown
        before = json.loads(executed_copy(cache_dir, page)[0].read_text(encoding="utf-8"))
        return code(now) != code(before)
    except (OSError, ValueError, AttributeError, TypeError):
        return True


async def _run_all(
    course: Course,
    to_run: list[tuple[Page, nbformat.NotebookNode, str, Path, Path]],
    reporter: Reporter,
    log_path: Path,
    kernels: SpareKernels | None,
    installed: str,
    environment: dict[str, str],
    ran: Callable[[NotebookResult], None] | None = None,
) -> list[NotebookResult | str]:
    slots = asyncio.Semaphore(course.execution.jobs)

    async def run_one(page: Page, notebook: nbformat.NotebookNode, key: str, executed_path: Path, key_path: Path):
        async with slots:
            reporter.started(page)
            started = time.perf_counter()
            failure = await _execute(course, page, notebook, log_path, kernels, installed, environment)
            if failure:
                return failure
            # The key goes last, after the copy it vouches for: a build stopped in between
            # (Ctrl-C) leaves no key, so the next build executes the notebook again.
            key_path.unlink(missing_ok=True)
            write_atomically(executed_path, json.dumps(notebook, indent=1, ensure_ascii=False) + "\n")
            write_atomically(key_path, key)
            result = NotebookResult(page, "executed", executed_path, key, time.perf_counter() - started)
            reporter.finished(result)
            if ran is not None:
                ran(result)
            return result

    return await asyncio.gather(*(run_one(*job) for job in to_run))


async def _execute(
    course: Course,
    page: Page,
    notebook: nbformat.NotebookNode,
    log_path: Path,
    kernels: SpareKernels | None,
    installed: str,
    environment: dict[str, str],
) -> str | None:
    """Run ``notebook`` in place, in a kernel with ``environment``; return a one-line failure message, or None.

    ``installed``: the kernels' packages (``environment_fingerprint``), which a kernel that
    imported ahead must have imported them from.
    """
    from jupyter_client.kernelspec import NoSuchKernel
    from nbclient.exceptions import CellExecutionError, CellTimeoutError, DeadKernelError

    shown = course.relative(page.path)
    current = {"index": 0}

    def on_cell_start(cell, cell_index):
        current["index"] = cell_index

    kernel_name = kernel_name_of(notebook)
    with tempfile.TemporaryDirectory(prefix="oersite-run-") as temporary:
        working = Path(temporary) if course.execution.run_in_temp else page.path.parent
        options = {
            "timeout": course.execution.timeout,
            "allow_errors": course.execution.allow_errors,
            "kernel_name": kernel_name,
            "record_timing": False,
            "resources": {"metadata": {"path": str(working)}},
            "on_cell_start": on_cell_start,
        }
        try:
            if kernels is not None and movable(kernel_name):
                opening = run_opening(course, page, notebook, installed)
                started = await kernels.take(kernel_name, environment, log_path, page.path.parent, opening)
                try:
                    await _run_in_kernel(notebook, options, started, working)
                finally:
                    kernels.release(started)  # in the background, on the kernels' own loop
            else:  # (a kernel oersite cannot move to a folder starts in the notebook's)
                started = await start_kernel(KernelKind(kernel_name, tuple(environment.items()), log_path), working)
                try:
                    await _run_in_kernel(notebook, options, started, working)
                finally:
                    await stop_kernel(started)
        except CellExecutionError as exc:
            error = f"{exc.ename}: {exc.evalue}".strip().rstrip(":")
            return (
                f"{shown}, {cell_location(notebook, current['index'])}: {error} - fix the cell, or if the error "
                'is part of the lesson give the cell the tag "raises-exception" so the page shows it'
            )
        except (CellTimeoutError, TimeoutError):
            return (
                f"{shown}, {cell_location(notebook, current['index'])}: still running after "
                f"{course.execution.timeout} s - make it faster, or raise execute.timeout in _config.yml"
            )
        except DeadKernelError:
            return (
                f"{shown}, {cell_location(notebook, current['index'])}: the kernel died (out of memory?) - "
                f"check what that cell does (the kernel's own output is in {course.relative(log_path)})"
            )
        except NoSuchKernel:
            return (
                f"{shown}: kernel '{kernel_name}' is not installed - install it, or pick an installed kernel "
                "(jupyter kernelspec list) in the notebook"
            )
        except NotMoved as exc:
            return f"{shown}: {exc} - check that the notebook's folder exists and can be read, then build again"
        except RuntimeError as exc:  # KernelGone (it died, or never answered), or what jupyter_client raised
            return (
                f"{shown}: the kernel stopped as it started ({exc}); its own output is in "
                f"{course.relative(log_path)} - build again, and if it happens again start the kernel in Jupyter"
            )
    return None


def kernel_environment(course: Course) -> dict[str, str]:
    """The environment a notebook's kernel runs in: oersite's, and where the course's data is."""
    environment = dict(os.environ)
    if course.data_dir.is_dir():
        environment[DATA_ENV] = str(course.data_dir)
    return environment


async def _run_in_kernel(
    notebook: nbformat.NotebookNode,
    options: dict,
    manager: AsyncKernelManager,
    folder: Path,
) -> None:
    """Run ``notebook`` in a started kernel (this run's, or one started ahead), moved to ``folder`` first.

    The caller stops the kernel after: a kernel runs one notebook, never two.
    """
    from nbclient import NotebookClient

    from oersite.kernels import ready_in

    connection = manager.client()
    try:
        connection.start_channels()
        await ready_in(connection, manager, folder)
        client = NotebookClient(notebook, km=manager, **options)
        # Given its client, nbclient starts no second one (and waits for no second readiness).
        connection.allow_stdin = False
        client.kc = connection
        await client.async_execute()
    finally:
        connection.stop_channels()


def cell_location(notebook: nbformat.NotebookNode, index: int) -> str:
    """Where a cell is, as its author finds it: "cell 3" in a notebook, "cell 3, line 12" in MyST Markdown."""
    source_map = notebook.metadata.get("source_map")
    if source_map and index < len(source_map):
        return f"cell {index + 1}, line {source_map[index]}"
    return f"cell {index + 1}"


def _file_digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _digest(parts: list[str]) -> str:
    hasher = hashlib.sha256()
    for part in parts:
        hasher.update(part.encode("utf-8"))
        hasher.update(b"\0")
    return hasher.hexdigest()
