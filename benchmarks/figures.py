"""What the figure images cost a build: the stage against the rest of the build, in one run.

    python benchmarks/figures.py

Builds a copy of the sample course from an empty _build (the baseline: every phase,
the figure images included), then runs the figure stage alone on that site twice: with
no image yet (every figure shot in Chromium) and with every image in place (what a
rebuild that changed no figure pays; Chromium does not start). Prints the seconds and
each against the whole cold build.
"""

from __future__ import annotations

import shutil
import tempfile
import time
from pathlib import Path

from build import copy_sample

from oersite.build import build_course
from oersite.config import load_course
from oersite.figure_images import IMAGES, make_figure_images


def timed(action) -> tuple[float, object]:
    started = time.perf_counter()
    result = action()
    return time.perf_counter() - started, result


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="oersite-bench-figures-") as folder:
        course = load_course(copy_sample(Path(folder) / "course"))
        cold, report = timed(lambda: build_course(course, strict=True))
        site, record = report.output_dir, course.root / "_build" / ".oersite" / "figures.json"

        shutil.rmtree(site / IMAGES)
        record.unlink()
        fresh, made = timed(lambda: make_figure_images(site, record, base_url=course.base_url))
        reused_seconds, reused = timed(lambda: make_figure_images(site, record, base_url=course.base_url))

    print(f"cold build of the sample course (all phases): {cold:6.1f} s")
    print(f"figure stage, {made.made} images shot:          {fresh:6.1f} s  ({fresh / cold:.0%} of the cold build)")
    print(
        f"figure stage, {reused.reused} images reused:        {reused_seconds:6.2f} s  "
        f"({reused_seconds / cold:.1%} of the cold build)"
    )


if __name__ == "__main__":
    main()
