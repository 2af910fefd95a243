"""Time from the Run code button to a cell's first output, beside Try now's click to an idle kernel.

    python benchmarks/run_code.py                  # 3 runs, a crowd of 5, pool 5 and pool 0: ~10 minutes
    python benchmarks/run_code.py --runs 1 --crowds --pools 5

What is measured, on ``oersite hub serve`` with the sample course, its site served at the
address its ``html.baseurl`` names (so the Try-now hub lets its pages in), in Debian's
Chromium with every request off 127.0.0.1 refused:

- Run code: from the click on Run code on the built notebook page (a reader with nothing
  remembered) to the output of its first code cell, run as soon as the page says it is
  ready (the page's own code, ``print`` added at its end so every cell has an output).
- Try now: from the click on Try now on the same page to the notebook open in JupyterLab
  with its kernel idle (benchmarks/journey.py's measure), in the same run, on the same hub.

Each scenario starts with the warm pool full (``--pools``: its sizes; 0 is no pool, each
reader's server started on the press); 1 reader ``--runs`` times, then each crowd clicking
at once, one browser context each.  Readers' and visitors' servers are stopped between
scenarios, the pool's waiting ones left.
"""

from __future__ import annotations

import argparse
import functools
import importlib.util
import shutil
import signal
import sys
import tempfile
import threading
import time
from pathlib import Path

REPOSITORY = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPOSITORY / "tests"))

from support.journey_lab import (  # noqa: E402
    CdnFiles,
    Network,
    course_on_ports,
    free_port,
    hub_serve,
    loopback_context,
    write_students,
)

from oersite.serve import QuietHandler, serve_on_loopback  # noqa: E402

_spec = importlib.util.spec_from_file_location("journey", Path(__file__).with_name("journey.py"))
journey = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(journey)

PAGE = "notebooks/bokeh/scatter.html"
READY = "Ready"


def course_for(sample: Path, folder: Path, ports: dict[str, int], pool: int) -> Path:
    """The sample course with launch links on these ports, published at the site's port, with a pool; built."""
    extra = (
        f"\n  hub:\n    ephemeral:\n      pool: {pool}\n      concurrent_spawn_limit: 10\n"
        "      active_server_limit: 40\n      run_code_per_minute: 100\n"
    )
    return course_on_ports(sample, folder, ports["hub"], ports["try"], extra, site_port=ports["site"])


def run_code_readers(browser, cdn, page_url: str, readers: int) -> list[float]:
    """``readers`` press Run code at (nearly) once; seconds from each press to its first cell's output."""
    contexts, pages = [], []
    try:
        for _ in range(readers):
            context = loopback_context(browser, Network(), cdn)
            contexts.append(context)
            page = context.new_page()
            page.goto(page_url, wait_until="load")
            pages.append(page)
        pressed: list[float] = []
        for page in pages:
            pressed.append(time.monotonic())
            page.get_by_role("button", name="Run code").click()
        times: list[float | None] = [None] * readers
        ran = [False] * readers
        deadline = time.monotonic() + 600
        while None in times:
            if time.monotonic() > deadline:
                raise journey.Timeout(f"{times.count(None)} of {readers} readers saw no output after 600 s")
            for index, page in enumerate(pages):
                if times[index] is not None:
                    continue
                if not ran[index] and READY in (page.get_by_role("status").text_content() or ""):
                    editor = page.get_by_role("textbox", name="Code of cell 1", exact=True)
                    editor.fill(editor.input_value() + "\nprint('first output')")
                    editor.press("Shift+Enter")
                    ran[index] = True
                elif ran[index] and "first output" in page.locator("div.cell_output").first.inner_text():
                    times[index] = time.monotonic() - pressed[index]
            pages[0].wait_for_timeout(50)
        return times
    finally:
        for context in contexts:
            context.close()


def scenarios(args, sample: Path, root: Path, browser, cdn, rows: list) -> None:
    for size in args.pools:
        ports = {"hub": free_port(), "try": free_port(), "site": free_port()}
        course = course_for(sample, root / f"pool-{size}", ports, size)
        handler = functools.partial(QuietHandler, directory=str(course / "_build" / "html"))
        site = serve_on_loopback(handler, ports["site"])
        threading.Thread(target=site.serve_forever, daemon=True).start()
        users = write_students(root / f"users-{size}.htpasswd", {"reader": "reader-password"})
        place = f"local, pool {size}" if size else "local, no pool"
        page_url = f"http://127.0.0.1:{ports['site']}/{PAGE}"
        try:
            with hub_serve(course, users, ports["hub"], ports["try"]) as hubs:

                def between(hubs=hubs, size=size) -> None:
                    keep = journey.waiting_pool_users(hubs) if size else set()
                    journey.stop_servers(hubs, keep=keep)
                    if size:
                        journey.wait_for_full_pool(hubs, size)

                between()
                for crowd in [1] * args.runs + list(args.crowds):
                    times = run_code_readers(browser, cdn, page_url, crowd)
                    label = "1 reader" if crowd == 1 else f"{crowd} at once"
                    rows.append((f"Run code to first output, {label}", place, times))
                    print(rows[-1], flush=True)
                    between()
                    tried = journey.browser_crowd(browser, cdn, page_url, "Try now", [None] * crowd)
                    rows.append((f"Try now to an idle kernel, {label}", place, tried))
                    print(rows[-1], flush=True)
                    between()
        finally:
            site.shutdown()
            site.server_close()


def table(rows: list) -> None:
    merged: dict[tuple[str, str], list[float]] = {}
    for name, place, times in rows:
        merged.setdefault((name, place), []).extend(times)
    print("\n| Measure | Hub | Median | Worst | Samples |\n| --- | --- | ---: | ---: | ---: |")
    for (name, place), times in merged.items():
        ordered = sorted(times)
        median = ordered[len(ordered) // 2] if len(ordered) % 2 else sum(ordered[len(ordered) // 2 - 1 :][:2]) / 2
        print(f"| {name} | {place} | {median:.1f} s | {max(times):.1f} s | {len(times)} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=3, help="single-reader runs per pool size (default 3)")
    parser.add_argument("--crowds", type=int, nargs="*", default=[5], help="readers at once (default 5)")
    parser.add_argument("--pools", type=int, nargs="+", default=[5, 0], help="warm pool sizes (default 5 0)")
    parser.add_argument("--timeout", type=float, default=3600, help="hard limit for the whole run, seconds")
    args = parser.parse_args()

    def out_of_time(signum, frame):
        raise journey.Timeout(f"stopped after the --timeout of {args.timeout:.0f} s")

    signal.signal(signal.SIGALRM, out_of_time)
    signal.alarm(int(args.timeout))
    rows: list = []
    root = Path(tempfile.mkdtemp(prefix="oersite-run-code-"))
    root.chmod(0o755)
    started = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    try:
        print(f"{started}; load average {journey.os.getloadavg()[0]:.1f} at the start", flush=True)
        sample = journey.sample_repository(root)
        with journey.chromium() as browser:
            scenarios(args, sample, root, browser, CdnFiles(), rows)
    finally:
        signal.alarm(0)
        shutil.rmtree(root, ignore_errors=True)
        table(rows)
        print(f"load average {journey.os.getloadavg()[0]:.1f} at the end", flush=True)


if __name__ == "__main__":
    main()
