"""PDF speed: ``oersite build --pdf``'s PDF step against Chromium printing the same pages bare, in one run.

    python benchmarks/pdf.py            # the sample course, 3 runs each

The baseline is what printing the built sample's pages costs Chromium alone: the same
Chromium, the same server, each page opened until its load event and printed, nothing
else (no refused hosts, no waiting for fonts, MathJax or images, no footers, no
joining).  oersite's step does all of that too; the ratio says what it adds.  Both run on
the same built site in the same process; the script prints each median, the ratio, and
the time of a PDF step that finds the site unchanged (the PDF reused).
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from build import copy_sample  # noqa: E402

from oersite.chromium import headless_chromium  # noqa: E402
from oersite.config import load_course  # noqa: E402
from oersite.pdf import _served, make_course_pdf  # noqa: E402
from oersite.toc import read_pages  # noqa: E402


def timed_bare_print(course, site: Path) -> float:
    started = time.perf_counter()
    with _served(site) as url, headless_chromium() as browser:
        context = browser.new_context()
        for page in read_pages(course):
            tab = context.new_page()
            tab.goto(f"{url}{page.docname}.html", wait_until="load")
            tab.pdf(format="A4")
            tab.close()
        context.close()
    return time.perf_counter() - started


def timed_pdf_step(course, site: Path) -> float:
    (course.root / "_build" / ".oersite" / "last-pdf.json").unlink(missing_ok=True)  # print, not reuse
    started = time.perf_counter()
    report = make_course_pdf(course, site)
    assert not report.reused
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="oersite-pdf-bench-") as scratch:
        root = copy_sample(Path(scratch) / "course")
        subprocess.run([sys.executable, "-m", "oersite", "build", str(root)], check=True, capture_output=True)
        course = load_course(root)
        site = root / "_build" / "html"
        bare, oersite = [], []
        for _ in range(args.runs):  # interleaved, so a busy machine weighs on both alike
            bare.append(timed_bare_print(course, site))
            oersite.append(timed_pdf_step(course, site))
        started = time.perf_counter()
        assert make_course_pdf(course, site).reused
        reused = time.perf_counter() - started
        pages = len(read_pages(course))
    baseline, ours = statistics.median(bare), statistics.median(oersite)
    print(f"| the sample's {pages} pages | median of {args.runs} | ratio |")
    print("| --- | ---: | ---: |")
    print(f"| Chromium printing each page bare (baseline) | {baseline:.1f} s | 1.00 |")
    print(f"| oersite's PDF step | {ours:.1f} s | {ours / baseline:.2f} |")
    print(f"| oersite's PDF step, site unchanged (PDF reused) | {reused:.2f} s | {reused / baseline:.3f} |")


if __name__ == "__main__":
    main()
