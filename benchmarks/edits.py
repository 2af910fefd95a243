"""What an author's edit costs a rebuild: prose against code, and nothing against both, in one run.

    python benchmarks/edits.py

Builds a copy of the fixture book ``tests/books/prose`` once, then rebuilds it after each
kind of edit, three times each: a prose edit (a markdown cell, a cell's tags and a figure's
``alt``: nothing executes again), a code edit (the notebook executes again, the baseline)
and no edit at all (the build finds nothing changed). Prints each median and its ratio to
the code edit's.
"""

from __future__ import annotations

import shutil
import statistics
import tempfile
import time
from pathlib import Path

import nbformat

from oersite.build import build_course
from oersite.config import load_course

BOOK = Path(__file__).resolve().parent.parent / "tests" / "books" / "prose"


def edit_prose(lesson: Path, round_: int) -> None:
    notebook = nbformat.read(lesson, as_version=4)
    notebook.cells[1].source = f"Prose of round {round_}."
    notebook.cells[2].metadata["tags"] = ["remove-input"] if round_ % 2 else []
    notebook.cells[3].metadata["alt"] = f"Alt of round {round_}"
    nbformat.write(notebook, lesson)


def edit_code(lesson: Path, round_: int) -> None:
    notebook = nbformat.read(lesson, as_version=4)
    notebook.cells[2].source = f'print("tagged cell output, round {round_}")'
    nbformat.write(notebook, lesson)


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="oersite-bench-edits-") as folder:
        root = Path(folder) / "prose"
        shutil.copytree(BOOK, root)
        course = load_course(root)
        lesson = root / "lesson.ipynb"
        build_course(course, figure_images=False)
        seconds: dict[str, list[float]] = {"code edit": [], "prose edit": [], "no edit": []}
        for round_ in range(3):
            for kind, edit in (("code edit", edit_code), ("prose edit", edit_prose), ("no edit", None)):
                if edit is not None:
                    edit(lesson, round_)
                started = time.perf_counter()
                report = build_course(course, figure_images=False)
                seconds[kind].append(time.perf_counter() - started)
                executed = report.count("executed")
                assert executed == (1 if kind == "code edit" else 0), (kind, executed)
        baseline = statistics.median(seconds["code edit"])
        for kind, times in seconds.items():
            median = statistics.median(times)
            print(f"{kind:>10}: {median:6.3f} s  ({median / baseline:.2f} of a code edit's rebuild)")


if __name__ == "__main__":
    main()
