"""Link checking speed: linkchecker against oersite's preview server, with and without the LinkChecker header.

    python benchmarks/check.py            # the sample course, 3 runs each

linkchecker waits 0.1-0.6 s between requests to one host unless the server
answers with a ``LinkChecker`` header (which ``oersite check`` serves the site
with, see ``oersite.checks.links``).  Both runs here check the same built
sample course in the same process; the baseline is the same server without the
header.  The script prints each median and the ratio.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPOSITORY = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).resolve().parent))

from build import copy_sample  # noqa: E402

import oersite.checks.links as links  # noqa: E402
from oersite import serve  # noqa: E402


def timed_check(site: Path, *, header: bool) -> float:
    real = serve.make_server

    def without_header(site, port=0, *, linkchecker=False):
        return real(site, port, linkchecker=False)

    serve.make_server = real if header else without_header  # what check_links serves the site with
    try:
        started = time.perf_counter()
        findings = links.check_links(site)
        seconds = time.perf_counter() - started
    finally:
        serve.make_server = real
    assert findings == [], findings
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="oersite-check-bench-") as scratch:
        course = copy_sample(Path(scratch) / "course")
        subprocess.run([sys.executable, "-m", "oersite", "build", str(course)], check=True, capture_output=True)
        site = course / "_build" / "html"
        with_header = [timed_check(site, header=True) for _ in range(args.runs)]
        without = [timed_check(site, header=False) for _ in range(args.runs)]
    fast, slow = statistics.median(with_header), statistics.median(without)
    print("| linkchecker on the sample site | median | ratio |")
    print("| --- | ---: | ---: |")
    print(f"| without the LinkChecker header (baseline) | {slow:.1f} s | 1.00 |")
    print(f"| with it, as oersite check serves the site | {fast:.1f} s | {fast / slow:.2f} |")


if __name__ == "__main__":
    main()
