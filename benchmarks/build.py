"""Build speed: oersite against plain Jupyter Book on the same content, in one run.

    python benchmarks/build.py            # the sample course, a 30-notebook course, a stored book
    python benchmarks/build.py --quick    # the sample course and the stored book

For each course, both tools build a fresh copy from an empty _build, then
rebuild with nothing changed, with one notebook edited (a cell added after its
plot: run again, the plot the same), with one figure changed (the plot's title
edited), and with one data file edited, each phase by both tools back to back (a
busy machine's load changes by the minute); the script prints each time, the ratio
oersite / Jupyter Book, and the page weight of oersite's site.  Wall-clock times of
whole commands, as a user waits for them; both tools run with the course's own
settings (cache on).

oersite's times include its figure images (a PNG of every plot and map, drawn in
Chromium), as a default build makes them.  The "figure step" line is what those
builds say of them, cold, with one notebook edited (its plot the same, its image
kept: no Chromium) and with one figure changed (drawn again): how long Chromium drew
(beside the kernels and Sphinx) and how long the build spent on them after its other
stages, the part of its time they added.

The stored book is the sample's four Bokeh notebooks with their outputs saved
and execution off (``execute_notebooks: off``), as many published books are:
only rendering and figures are compared there.

Jupyter Book's cache keys on code alone and knows nothing of data files: after
a data edit it re-executes nothing, and its pages keep outputs of the old data.
That row is printed for completeness; its ratio is not a like-for-like one.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import nbformat

REPOSITORY = Path(__file__).resolve().parent.parent
SAMPLE = ("_config.yml", "book", "notebooks", "data")


def copy_sample(target: Path) -> Path:
    target.mkdir(parents=True)
    for name in SAMPLE:
        source = REPOSITORY / name
        if source.is_dir():
            shutil.copytree(source, target / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(source, target / name)
    return target


def make_large_course(target: Path, notebooks: int = 30) -> Path:
    """The sample's notebooks copied into parts until there are ``notebooks`` of them.

    Each copy gets its own first code cell, so Jupyter Book's code-keyed cache
    cannot serve one copy's outputs for another: both tools execute every page.
    """
    copy_sample(target)
    originals = sorted((target / "notebooks").glob("*/*.ipynb"))
    chapters = []
    for index in range(notebooks):
        original = originals[index % len(originals)]
        part = f"part{index // len(originals) + 1}"
        notebook = nbformat.read(original, as_version=4)
        notebook.cells.insert(1, nbformat.v4.new_code_cell(f"# copy {index + 1} of the lesson"))
        destination = target / "notebooks" / part / original.name
        destination.parent.mkdir(parents=True, exist_ok=True)
        nbformat.write(notebook, destination)
        chapters.append({"file": destination.relative_to(target).with_suffix("").as_posix()})
    for original in originals:  # only the copies are pages of this course
        original.unlink()
    toc = {"format": "jb-book", "root": "book/intro", "chapters": [{"file": "book/students"}, *chapters]}
    (target / "book" / "_toc.yml").write_text(json.dumps(toc))  # JSON is YAML
    return target


def make_stored_book(target: Path) -> Path:
    """The sample's Bokeh notebooks with their outputs saved in them, and execution off."""
    template = target.parent / "stored-template"
    if template.is_dir():
        shutil.copytree(template, target)
        return target
    copy_sample(target)
    subprocess.run([sys.executable, "-m", "oersite", "build", str(target)], check=True, capture_output=True)
    for path in (target / "notebooks" / "bokeh").glob("*.ipynb"):
        executed = target / "_build" / ".oersite" / "executed" / path.relative_to(target)
        shutil.copy2(executed, path)
    shutil.rmtree(target / "_build")
    shutil.rmtree(target / "notebooks" / "folium")
    config = target / "_config.yml"
    config.write_text(config.read_text().replace("execute_notebooks: cache", "execute_notebooks: off"))
    bokeh = sorted(
        path.relative_to(target).with_suffix("").as_posix() for path in target.glob("notebooks/bokeh/*.ipynb")
    )
    toc = {"format": "jb-book", "root": "book/intro", "chapters": [{"file": name} for name in bokeh]}
    (target / "book" / "_toc.yml").write_text(json.dumps(toc))
    shutil.copytree(target, template)
    return target


def oersite_build(course: Path, jobs: int | None) -> float:
    command = [sys.executable, "-m", "oersite", "build", str(course)]
    if jobs:
        command += ["--jobs", str(jobs)]
    return timed(command)


def jupyter_book() -> str:
    """The ``jupyter-book`` command: on the PATH, or beside this Python (a virtualenv not activated)."""
    found = shutil.which("jupyter-book") or shutil.which("jupyter-book", path=str(Path(sys.executable).parent))
    if found is None:
        sys.exit(f"jupyter-book is neither on the PATH nor in {Path(sys.executable).parent}; pip install jupyter-book")
    return found


def jupyter_book_build(course: Path, jobs: int | None) -> float:
    return timed([jupyter_book(), "build", str(course), "--toc", str(course / "book" / "_toc.yml")])


#: What the last command printed (oersite's summary says what its figure images took).
OUTPUT: list[str] = [""]
#: oersite's summary line about its figure images.
FIGURE_LINE = re.compile(
    r"(?P<count>\d+) figure images? .*?: (?P<made>\d+) made, \d+ reused "
    r"\(Chromium drew for (?P<drawing>[\d.]+) s, beside (?:the kernels and )?Sphinx; "
    r"(?P<after>[\d.]+) s after the other stages\)"
)


def timed(command: list[str]) -> float:
    started = time.perf_counter()
    result = subprocess.run(command, capture_output=True, text=True)
    seconds = time.perf_counter() - started
    if result.returncode != 0:
        sys.exit(f"{' '.join(command)} failed:\n{result.stdout[-2000:]}\n{result.stderr[-2000:]}")
    OUTPUT[0] = result.stdout + result.stderr
    return seconds


def figure_step(phase: str, seconds: float) -> str:
    """What the last oersite build said of its figure images, against its whole time."""
    found = FIGURE_LINE.search(" ".join(OUTPUT[0].split()))
    if found is None:
        return f"{phase}: no figure drawn"
    after = float(found["after"])
    return (
        f"{phase}: {found['made']} drawn, Chromium {float(found['drawing']):4.1f} s beside the kernels and Sphinx, "
        f"{after:4.1f} s after it ({after / seconds:.0%} of the build)"
    )


def edit_one_notebook(course: Path) -> None:
    """Add a cell to the end of the course's (first) heatmap lesson: re-executed, its plot the same."""
    path = sorted((course / "notebooks").glob("*/heatmap.ipynb"))[0]
    notebook = nbformat.read(path, as_version=4)
    notebook.cells.append(nbformat.v4.new_code_cell("print('an edit')"))
    nbformat.write(notebook, path)


def edit_one_figure(course: Path) -> None:
    """Edit the title of the (first) heatmap lesson's plot: re-executed, its plot is a new figure."""
    path = sorted((course / "notebooks").glob("*/heatmap.ipynb"))[0]
    text = path.read_text()
    edited = text.replace("US unemployment rate (%) by month", "US unemployment rate (%) per month")
    if edited == text:
        sys.exit(f"{path}: the plot's title to edit is not there")
    path.write_text(edited)


def edit_stored_notebook(course: Path) -> None:
    """Change a stored notebook's figure (its outputs, as a re-run by its author would)."""
    path = sorted((course / "notebooks").glob("*/heatmap.ipynb"))[0]
    path.write_text(path.read_text().replace("Bokeh Application", "Bokeh Application (again)"))


def edit_one_data_file(course: Path) -> None:
    path = course / "data" / "unemployment_by_state.csv"
    lines = path.read_text().splitlines()
    fields = lines[-1].split(",")
    fields[-1] = str(round(float(fields[-1]) + 1.0, 1))  # one state's rate a point higher
    path.write_text("\n".join([*lines[:-1], ",".join(fields)]) + "\n")


def measure(course_maker, label: str, workdir: Path, jobs: int | None) -> dict[str, dict[str, float]]:
    """Each phase by both tools back to back, so that both meet the same load on a busy machine."""
    stored = course_maker is make_stored_book
    tools = {"oersite": oersite_build, "jupyter-book": jupyter_book_build}
    courses = {tool: course_maker(workdir / f"{label}-{tool}") for tool in tools}
    edits = {
        "cold": None,
        "no change": None,
        "one notebook edited": edit_stored_notebook if stored else edit_one_notebook,
        "one figure changed": None if stored else edit_one_figure,
        "one data file edited": None if stored else edit_one_data_file,
    }
    results: dict[str, dict[str, float]] = {tool: {} for tool in tools}
    figures = []
    for phase, edit in edits.items():
        if phase in ("one figure changed", "one data file edited") and stored:
            continue
        for tool, build in tools.items():
            if edit is not None:
                edit(courses[tool])
            results[tool][phase] = build(courses[tool], jobs)
            if tool == "oersite" and phase in ("cold", "one notebook edited", "one figure changed"):
                figures.append(figure_step(phase, results[tool][phase]))
    for tool, times in results.items():
        print(f"  {tool:13} " + "  ".join(f"{phase}: {seconds:6.1f} s" for phase, seconds in times.items()), flush=True)
    print(f"  {'figure step':13} " + "; ".join(figures), flush=True)
    return results


def page_weight(site: Path) -> tuple[dict[str, int], int]:
    pages = {
        page.relative_to(site).as_posix(): page.stat().st_size for page in sorted((site / "notebooks").rglob("*.html"))
    }
    shared = sum(path.stat().st_size for path in (site / "_static").rglob("*") if path.is_file())
    return pages, shared


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="the sample course and the stored book only")
    parser.add_argument("--jobs", type=int, default=None, help="oersite --jobs (default: one per core)")
    options = parser.parse_args()
    print(f"{time.strftime('%Y-%m-%d %H:%M:%S UTC', time.gmtime())}, {os.cpu_count()} cores, {load()}", flush=True)
    with tempfile.TemporaryDirectory(prefix="oersite-bench-") as temporary:
        workdir = Path(temporary)
        courses = [("sample (7 notebooks)", copy_sample)]
        if not options.quick:
            courses.append(("large (30 notebooks)", make_large_course))
        courses.append(("stored (4 notebooks, not executed)", make_stored_book))
        report = {}
        for label, maker in courses:
            print(f"{label}:", flush=True)
            report[label] = measure(maker, label.split()[0], workdir, options.jobs)
        print("\nratio oersite / jupyter-book (lower is better):")
        for label, results in report.items():
            ratios = {phase: results["oersite"][phase] / results["jupyter-book"][phase] for phase in results["oersite"]}
            print(f"  {label:34} " + "  ".join(f"{phase}: {ratio:4.2f}" for phase, ratio in ratios.items()))
        print("  (after a data edit Jupyter Book re-executes nothing and shows stale outputs)")
        pages, shared = page_weight(workdir / "sample-oersite" / "_build" / "html")
        print("\npage weight of the sample site built by oersite:")
        for page, size in pages.items():
            print(f"  {page:40} {size / 1024:8.1f} KiB")
        print(f"  {'shared _static/ (all pages)':40} {shared / 1024 / 1024:8.1f} MiB")
    print(f"\n{time.strftime('%Y-%m-%d %H:%M:%S UTC', time.gmtime())}, {load()}")


def load() -> str:
    """The machine's load average (1, 5, 15 minutes), as ``uptime`` says it: what else ran meanwhile."""
    return "load average " + ", ".join(f"{value:.2f}" for value in os.getloadavg())


if __name__ == "__main__":
    main()
