"""From a save to the reloaded page: ``oersite serve`` against Jupyter Book 1 with sphinx-autobuild.

    python benchmarks/preview.py                  # the sample course and the generated 30-notebook one
    python benchmarks/preview.py --courses sample --edits 3
    python benchmarks/preview.py --courses sample --kinds notebook --tools oersite --against main

What is measured, for each tool in the same run, on the same course: a page
open in Debian's Chromium (Playwright), a save on disk, and the seconds until
that page shows the saved change (the tool rebuilt and the page reloaded by
itself: oersite's server-sent events, sphinx-autobuild's websocket).

- **Markdown**: a new sentence in the course's introduction page.
- **Notebook**: a cell added to a Bokeh lesson that prints a new line; the
  page must show that output, so the notebook runs again.

Jupyter Book 1 has no preview of its own: its users run sphinx-autobuild on the
Sphinx configuration that ``jupyter-book config sphinx`` writes, which is what
this does.  Both tools start from a built course (their caches warm), and the
page is opened once before the first edit.

``--against REF`` adds ``oersite serve`` as it was at a git revision (its files
from ``git archive``, on ``PYTHONPATH``) to the same run: a change to the preview
measured against the code before it, on the same machine at the same time.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import nbformat

REPOSITORY = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPOSITORY / "tests"))
sys.path.insert(0, str(REPOSITORY / "benchmarks"))

from build import copy_sample, make_large_course  # noqa: E402
from support.browser import chromium  # noqa: E402

NOTEBOOK_PAGE = "heatmap"  # the lesson whose notebook is edited (the first one of that name)
INTRO = "book/intro"


class Tool:
    """A preview server as a process; ``ready`` once it has built and serves."""

    def __init__(
        self, command: list[str], cwd: Path, ready: str, log: Path, port: int, env: dict | None = None
    ) -> None:
        self.log = log
        self.output = open(log, "w", encoding="utf-8")  # noqa: SIM115 (closed in stop)
        self.process = subprocess.Popen(
            command, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1, env=env
        )
        self.lines: list[str] = []
        self.seen = threading.Condition()
        threading.Thread(target=self._read, daemon=True).start()
        self.wait_for(ready, 900)
        self.wait_until_listening(port, 60)

    def wait_until_listening(self, port: int, seconds: float) -> None:
        """sphinx-autobuild says it serves a moment before its socket takes connections."""
        deadline = time.monotonic() + seconds
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                return
            except OSError:
                if self.process.poll() is not None or time.monotonic() > deadline:
                    said = f"{self.process.args[:3]} never took connections on {port}; see {self.log}"
                    raise SystemExit(said) from None
                time.sleep(0.1)

    def _read(self) -> None:
        for line in self.process.stdout:
            self.output.write(line)
            self.output.flush()
            with self.seen:
                self.lines.append(line)
                self.seen.notify_all()

    def wait_for(self, pattern: str, seconds: float) -> str:
        deadline = time.monotonic() + seconds
        with self.seen:
            while True:
                for line in self.lines:
                    if re.search(pattern, line):
                        return line
                if self.process.poll() is not None or time.monotonic() > deadline:
                    raise SystemExit(f"{self.process.args[:3]} never said {pattern!r}; see {self.log}")
                self.seen.wait(1)

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(10)
        self.output.close()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start_oersite(course: Path, port: int, work: Path, code: Path = REPOSITORY) -> Tool:
    """``oersite serve`` with the package from ``code`` (this checkout, or a revision's files)."""
    command = [sys.executable, "-m", "oersite", "serve", str(course), "--port", str(port)]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(code), os.environ.get("PYTHONPATH")]))}
    return Tool(command, course, r"^(Built|Up to date) in", work / f"{course.name}-oersite.log", port, env)


def revision_code(reference: str, work: Path) -> Path:
    """The oersite package as it was at git ``reference``, with this checkout's vendored libraries (not in git)."""
    target = work / "revision"
    target.mkdir()
    archive = subprocess.run(
        ["git", "-C", str(REPOSITORY), "archive", reference, "oersite"], check=True, capture_output=True
    ).stdout
    subprocess.run(["tar", "-x", "-C", str(target)], input=archive, check=True)
    vendor = REPOSITORY / "oersite" / "static" / "vendor"
    if vendor.is_dir() and not (target / "oersite" / "static" / "vendor").exists():
        (target / "oersite" / "static" / "vendor").symlink_to(vendor)
    return target


def jupyter_book() -> str:
    """``jupyter-book`` on PATH, or beside this Python (a virtual environment not activated)."""
    found = shutil.which("jupyter-book") or shutil.which("jupyter-book", path=str(Path(sys.executable).parent))
    if found is None:
        sys.exit("jupyter-book is not installed (pip install -e .)")
    return found


def start_autobuild(course: Path, port: int, work: Path) -> Tool:
    toc = course / "book" / "_toc.yml"
    subprocess.run(
        [jupyter_book(), "config", "sphinx", str(course), "--toc", str(toc)], check=True, capture_output=True
    )
    command = [
        sys.executable,
        "-m",
        "sphinx_autobuild",
        str(course),
        str(course / "_build" / "html"),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--ignore",
        str(course / "_build"),
    ]
    return Tool(command, course, r"Serving on http", work / f"{course.name}-autobuild.log", port)


def lesson(course: Path) -> Path:
    return sorted((course / "notebooks").glob(f"*/{NOTEBOOK_PAGE}.ipynb"))[0]


def edit_markdown(course: Path, token: str) -> None:
    path = course / f"{INTRO}.md"
    path.write_text(path.read_text(encoding="utf-8") + f"\n\nSaved just now: {token}.\n", encoding="utf-8")


def edit_notebook(course: Path, token: str) -> None:
    path = lesson(course)
    notebook = nbformat.read(path, as_version=4)
    notebook.cells.append(nbformat.v4.new_code_cell(f"print('printed by {token}')"))
    nbformat.write(notebook, path)


def time_edits(
    browser, base_url: str, course: Path, edits: int, label: str, kinds: list[str]
) -> dict[str, list[float]]:
    """Seconds from each save to the open page showing it."""
    results: dict[str, list[float]] = {}
    page = browser.new_page()
    for kind, docname, edit in (
        ("Markdown page", INTRO, edit_markdown),
        ("notebook cell", lesson(course).relative_to(course).with_suffix("").as_posix(), edit_notebook),
    ):
        if kind.split()[0].lower() not in kinds:
            continue
        results[kind] = []
        page.goto(f"{base_url}{docname}.html", wait_until="load")
        page.wait_for_timeout(1500)  # the page's reload channel connects
        for number in range(edits):
            token = f"{label}-{kind.split()[0]}-{number}-{time.time_ns()}"
            saved = time.monotonic()
            edit(course, token)
            page.wait_for_function(
                "t => document.body && document.body.innerText.includes(t)", arg=token, timeout=300_000, polling=20
            )
            results[kind].append(time.monotonic() - saved)
            page.wait_for_timeout(2000)  # let the tool settle before the next save
    page.close()
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--courses", nargs="+", default=["sample", "large"], choices=["sample", "large"])
    parser.add_argument("--edits", type=int, default=5, help="saves of each kind per tool (default 5)")
    parser.add_argument("--kinds", nargs="+", default=["markdown", "notebook"], choices=["markdown", "notebook"])
    parser.add_argument(
        "--tools", nargs="+", default=["oersite", "sphinx-autobuild"], choices=["oersite", "sphinx-autobuild"]
    )
    parser.add_argument("--against", metavar="REF", help="also oersite serve as it was at this git revision")
    args = parser.parse_args()
    if "sphinx-autobuild" in args.tools:
        jupyter_book()
        if importlib.util.find_spec("sphinx_autobuild") is None:
            sys.exit("sphinx-autobuild is not installed (pip install sphinx-autobuild); or measure --tools oersite")
    work = Path(tempfile.mkdtemp(prefix="oersite-preview-bench-"))
    tools = []
    if args.against:
        old = revision_code(args.against, work)
        tools.append((f"oersite serve at {args.against}", lambda *a, old=old: start_oersite(*a, code=old)))
    tools += [
        (tool, start)
        for tool, start in (("oersite serve", start_oersite), ("sphinx-autobuild", start_autobuild))
        if tool.split()[0] in args.tools
    ]
    rows = []
    print(f"{os.cpu_count()} cores; load average {os.getloadavg()[0]:.1f} at the start", flush=True)
    try:
        with chromium() as browser:
            for name in args.courses:
                maker = copy_sample if name == "sample" else make_large_course
                for number, (tool, start) in enumerate(tools):
                    course = maker(work / f"{name}-{number}")
                    started = time.monotonic()
                    server = start(course, free_port(), work)
                    print(f"[{name}] {tool}: first build and serve in {time.monotonic() - started:.0f} s", flush=True)
                    try:
                        port = server.process.args[server.process.args.index("--port") + 1]
                        times = time_edits(
                            browser, f"http://127.0.0.1:{port}/", course, args.edits, f"tool{number}", args.kinds
                        )
                    finally:
                        server.stop()
                    for kind, seconds in times.items():
                        rows.append((name, kind, tool, statistics.median(seconds), max(seconds)))
                        print(rows[-1], "each:", " ".join(f"{time:.2f}" for time in seconds), flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(f"\nLoad average at the end: {os.getloadavg()[0]:.1f}; ratios against the first tool of each row group")
    print("\n| Course | Save of | Tool | Median | Worst | Ratio |\n| --- | --- | --- | ---: | ---: | ---: |")
    first: dict[tuple[str, str], float] = {}
    for name, kind, tool, median, worst in rows:
        baseline = first.setdefault((name, kind), median)
        print(f"| {name} | {kind} | {tool} | {median:.2f} s | {worst:.2f} s | {median / baseline:.2f} |")


if __name__ == "__main__":
    main()
