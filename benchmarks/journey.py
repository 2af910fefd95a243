"""Time from a launch button to a running notebook, on the local hubs and on the Docker bundle.

    python benchmarks/journey.py                 # everything: about 20-30 minutes on 2 cores
    python benchmarks/journey.py --quick         # 1 run each, a crowd of 5, baseline only
    python benchmarks/journey.py --variants lazy --crowds 20 --runs 0 --places local
    python benchmarks/journey.py --places docker # the bundle only (as root: it starts dockerd)

What is measured: from the click on "Try now" (or "Open in hub", signed in
through Apache's Basic auth) on the built course page to the notebook open in
JupyterLab with its kernel idle.  Each visitor is new (a cold server start and
a fresh clone); each student on the persistent hub is a different Basic-auth
user for the same reason.

- 1 visitor, several runs, on each hub: Playwright, Debian's Chromium, one
  context per visitor, the real button click.
- 5 visitors at once: Playwright, one context each, clicked one after another
  within a fraction of a second, then watched together.
- 20 visitors at once: the same HTTP requests the browser makes (tests/support/journey_http.py),
  one thread each, since 20 JupyterLab tabs would compete with the servers for
  the two cores and measure Chromium instead.  A visitor the hub turns away
  (429, the "full" page) waits as long as Retry-After says and tries again.

Variants: ``baseline`` is the hubs as they are; ``lazy`` starts ``oersite hub serve``
with a PYTHONPATH (which JupyterHub's local spawner passes to servers) holding a
stand-in ``rfc3987_syntax`` that builds the real module's grammars on first use
instead of at import (jsonschema imports it for its "iri" format check; nothing
in a notebook server start uses that check).  The script also times
``jupyterhub-singleuser`` alone (against a stand-in hub API) with and without it.

Places: ``local`` is ``oersite hub serve`` (servers as local processes);
``docker`` is the bundle of ``oersite hub config`` deployed with hub/README.md's
commands on a Docker engine of the run's own (tests/support/docker_deployment.py): Apache
over TLS, a container per student and per visitor.  It runs the single visitors
and the crowds up to --http-from visitors in Chromium, reports how long the
image build and ``docker-compose up`` took, and the memory of each idle student
container (with the notebook's kernel) from ``docker stats``.

Pools: ``--pools 0 5`` runs the Try-now journeys once per size of the ephemeral
hub's warm pool (``oersite.hub.ephemeral.pool``; 0 is no pool), each on a hub
of its own in the same run: 1 visitor (--runs, the pool refilled before each),
and each crowd with the pool full when it clicks.  Visitors' servers are
stopped between scenarios, the pool's waiting ones left.  It also reports what
the pool costs while nobody comes: the resident memory of each waiting server
and the CPU that the whole ``oersite hub serve`` (hubs, proxies, servers, the
pool's service) uses over a quiet minute, pool on against pool off.

``--against REF`` runs each pool scenario twice in the same run, first with oersite
as it was at a git revision (its files on ``PYTHONPATH``, the servers' too), then with
this checkout: a change to the hubs measured against the code before it.

Everything runs on 127.0.0.1; the browser refuses any other host.  A hard
overall timeout (--timeout) stops the run and every process it started.
"""

from __future__ import annotations

import argparse
import contextlib
import http.server
import json
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

REPOSITORY = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPOSITORY / "tests"))

from support.browser import chromium, served  # noqa: E402
from support.journey_http import SpawnFailed, journey  # noqa: E402
from support.journey_lab import (  # noqa: E402
    CdnFiles,
    Network,
    click_launch_button,
    commit_all,
    course_on_ports,
    free_port,
    hub_serve,
    idle_kernel_signs,
    loopback_context,
    notebook_tab,
    on_its_own_page,
    processes_of,
    shows_notebook,
    wait_for_notebook,
    write_students,
)

from oersite.launch import launch_url  # noqa: E402

SAMPLE = ("_config.yml", "book", "notebooks", "data")
NOTEBOOK = "notebooks/bokeh/scatter.ipynb"
CLONE = "course"
LAZY_RFC3987_SYNTAX = '''"""Stand-in for rfc3987_syntax: the real module and its grammars load on first use."""
import importlib.machinery
import importlib.util
import os
import sys

_real = None


def _load():
    global _real
    if _real is None:
        here = os.path.dirname(os.path.abspath(__file__))
        path = [p for p in sys.path if os.path.abspath(p or ".") != here]
        spec = importlib.machinery.PathFinder.find_spec(__name__, path)
        _real = importlib.util.module_from_spec(spec)
        sys.modules[__name__] = _real
        spec.loader.exec_module(_real)
    return _real


def is_valid_syntax(term, value):
    return _load().is_valid_syntax(term, value)


def __getattr__(name):
    if name.startswith("__"):  # the import system probes __path__ and the like: no reason to load
        raise AttributeError(name)
    return getattr(_load(), name)
'''


class Timeout(Exception):
    pass


def lazy_folder(root: Path) -> Path:
    folder = root / "lazy-rfc3987"
    folder.mkdir(exist_ok=True)
    (folder / "rfc3987_syntax.py").write_text(LAZY_RFC3987_SYNTAX, encoding="utf-8")
    return folder


def variant_environment(variant: str, root: Path) -> dict[str, str]:
    if variant == "lazy":
        existing = os.environ.get("PYTHONPATH")
        return {"PYTHONPATH": os.pathsep.join(filter(None, [str(lazy_folder(root)), existing]))}
    return {}


def sample_repository(root: Path) -> Path:
    """The sample course copied into a git repository, as the tests' sample_course fixture makes it."""
    course = root / "sample" / "course"
    course.mkdir(parents=True)
    for name in SAMPLE:
        source = REPOSITORY / name
        if source.is_dir():
            shutil.copytree(source, course / name, ignore=shutil.ignore_patterns("__pycache__", ".ipynb_checkpoints"))
        else:
            shutil.copy2(source, course / name)
    subprocess.run(["git", "-C", str(course), "init", "--quiet", "--initial-branch", "main"], check=True)
    commit_all(course, "course")
    return course


def stop_servers(hubs, seconds: float = 30, keep: set[str] = frozenset()) -> None:
    """End the single-user servers of the run (SIGTERM, as a server stop does), so scenarios start equal.

    ``keep``: users whose servers stay (the warm pool's waiting ones).
    """
    servers = [pid for pid in server_pids(hubs) if server_user(pid) not in keep]
    for pid in servers:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and any(Path(f"/proc/{pid}").exists() for pid in servers):
        time.sleep(0.2)
    time.sleep(1)


def is_server(pid: int) -> bool:
    """A single-user server (the local hubs start them as ``python -m oersite.hub.singleuser``)."""
    command = _cmdline(pid)
    return b"oersite.hub.singleuser" in command or b"jupyterhub.singleuser" in command


def _cmdline(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""


# Playwright scenarios.


def notebook_ready(lab) -> bool:
    """Non-blocking: is the notebook open (in JupyterLab, or on its own page) with its kernel idle?"""
    try:
        if not re.search(r"/user/[^/]+/(lab|notebooks)/", lab.url):
            return False
        notebook = f"{CLONE}/{NOTEBOOK}"
        # (JupyterLab: count() never waits; shows_notebook reads the tab's class, which waits for the tab)
        shown = shows_notebook(lab, notebook) if on_its_own_page(lab) else notebook_tab(lab, notebook).count() > 0
        return shown and all(sign.count() > 0 for sign in idle_kernel_signs(lab))
    except Exception:  # the page is between documents (spawn-pending page, redirects)
        return False


def browser_crowd(browser, cdn, page_url: str, button: str, credentials: list[tuple[str, str] | None]) -> list[float]:
    """Each visitor (one context each) clicks ``button`` at (nearly) the same time; seconds until each is ready."""
    contexts, pages = [], []
    try:
        for login in credentials:
            options = {"http_credentials": {"username": login[0], "password": login[1]}} if login else {}
            # The Docker bundle's Apache has a self-signed certificate.
            context = loopback_context(browser, Network(), cdn, ignore_https_errors=True, **options)
            contexts.append(context)
            page = context.new_page()
            page.goto(page_url, wait_until="load")
            pages.append(page)
        if len(pages) == 1:
            clicked = time.monotonic()
            lab = click_launch_button(pages[0], button)
            wait_for_notebook(lab, f"{CLONE}/{NOTEBOOK}", seconds=300)
            return [time.monotonic() - clicked]
        started, labs = [], []
        for page in pages:
            started.append(time.monotonic())
            labs.append(click_launch_button(page, button))
        times: list[float | None] = [None] * len(labs)
        deadline = time.monotonic() + 600
        while None in times:
            if time.monotonic() > deadline:
                raise Timeout(f"{times.count(None)} of {len(labs)} visitors not ready after 600 s")
            for index, lab in enumerate(labs):
                if times[index] is None and notebook_ready(lab):
                    times[index] = time.monotonic() - started[index]
            labs[0].wait_for_timeout(250)
        return times
    finally:
        for context in contexts:
            context.close()


def one_at_a_time(browser, cdn, page_url: str, runs: int, logins, place: str, rows: list, between) -> None:
    """Each button clicked by ``runs`` new visitors, one after another; ``between`` ends their servers."""
    for hub, button in (("ephemeral", "Try now"), ("persistent", "Open in hub")):
        one_button(browser, cdn, page_url, runs, logins, place, rows, hub, button, between)


def one_button(browser, cdn, page_url: str, runs: int, logins, place: str, rows: list, hub, button, between) -> None:
    """``button`` clicked by ``runs`` new visitors, one after another; ``between`` runs after each."""
    if not runs:
        return
    times = []
    for _ in range(runs):
        login = next(logins) if hub == "persistent" else None
        times += browser_crowd(browser, cdn, page_url, button, [login])
        between()
    rows.append((f"{button} ({hub}), 1 visitor", place, "1", figures(times), f"{runs} runs, Chromium"))
    print(rows[-1], "each:", " ".join(f"{time:.1f}" for time in times), flush=True)


# HTTP scenario.


def http_crowd(link: str, credentials: list[tuple[str, str] | None]) -> tuple[list[float], str]:
    """Every visitor's journey at once; times of those who got in, and how the others fared."""
    notebook = f"{CLONE}/{NOTEBOOK}"

    def one(login):
        try:
            return journey(link, notebook, login, seconds=600)
        except SpawnFailed as failure:
            return failure
        except Exception as error:  # noqa: BLE001 (a kernel that died under the crowd: counted, not fatal)
            return SpawnFailed(f"{type(error).__name__}: {error}")

    with ThreadPoolExecutor(len(credentials)) as pool:
        results = list(pool.map(one, credentials))
    arrivals = [result for result in results if not isinstance(result, SpawnFailed)]
    full = sum(arrival.full_pages for arrival in arrivals)
    notes = ["HTTP client"]
    if full:
        notes.append(f"{full} 'full' (429) answers, retried after Retry-After")
    if len(arrivals) < len(results):
        notes.append(f"{len(results) - len(arrivals)} of {len(results)} did not get a running notebook")
    return [arrival.seconds for arrival in arrivals] or [float("nan")], "; ".join(notes)


# jupyterhub-singleuser alone.


class _HubApi(http.server.BaseHTTPRequestHandler):
    """Just enough of the hub's API for a single-user server to start: its version check."""

    def do_GET(self):
        import jupyterhub

        body = json.dumps({"version": jupyterhub.__version__}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("X-JupyterHub-Version", jupyterhub.__version__)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def server_start(environment: dict[str, str], root: Path) -> float:
    """Seconds from launching ``python -m jupyterhub.singleuser`` (as the local spawner does) to 'is running at'."""
    api = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _HubApi)
    threading.Thread(target=api.serve_forever, daemon=True).start()
    home = Path(tempfile.mkdtemp(dir=root))
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {key: value for key, value in os.environ.items() if key in ("PATH", "LANG", "PYTHONPATH")}
    env.update(
        HOME=str(home),
        JUPYTERHUB_API_TOKEN="0" * 32,
        JUPYTERHUB_API_URL=f"http://127.0.0.1:{api.server_address[1]}/hub/api",
        JUPYTERHUB_SERVICE_PREFIX="/user/visitor/",
        JUPYTERHUB_USER="visitor",
        JUPYTERHUB_CLIENT_ID="jupyterhub-user-visitor",
        JUPYTERHUB_BASE_URL="/",
        JUPYTERHUB_OAUTH_CALLBACK_URL="/user/visitor/oauth_callback",
        JUPYTERHUB_SERVICE_URL=f"http://127.0.0.1:{port}/user/visitor/",
        **environment,
    )
    args = ["--allow-root"] if os.geteuid() == 0 else []
    started = time.monotonic()
    process = subprocess.Popen(
        [sys.executable, "-m", "jupyterhub.singleuser", *args],
        cwd=home,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        for line in process.stdout:
            if "is running at" in line:
                return time.monotonic() - started
        raise RuntimeError("jupyterhub-singleuser exited before it was running")
    finally:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
        api.shutdown()
        shutil.rmtree(home, ignore_errors=True)


# The run.


def figures(times: list[float], unit: str = "s") -> str:
    return f"{statistics.median(times):6.1f} {unit} {max(times):6.1f} {unit}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=3, help="single-visitor runs per hub (default 3)")
    parser.add_argument("--crowds", type=int, nargs="*", default=[5, 20], help="visitors at once (default 5 20)")
    parser.add_argument("--variants", nargs="+", default=["baseline"], choices=["baseline", "lazy"])
    parser.add_argument("--places", nargs="+", default=["local", "docker"], choices=["local", "docker"])
    parser.add_argument("--server-starts", type=int, default=5, help="jupyterhub-singleuser starts per variant")
    parser.add_argument("--http-from", type=int, default=10, help="crowds this large or larger use HTTP, not Chromium")
    parser.add_argument(
        "--pools", type=int, nargs="+", default=[0, 5], help="warm pool sizes of the local Try-now hub (default 0 5)"
    )
    parser.add_argument(
        "--journeys", nargs="+", default=["try", "hub"], choices=["try", "hub"], help="Try now, Open in hub, or both"
    )
    parser.add_argument("--quiet-seconds", type=float, default=60, help="how long the idle cost is measured")
    parser.add_argument(
        "--against", metavar="REF", help="the pool scenarios also with oersite as it was at this git revision, first"
    )
    parser.add_argument("--timeout", type=float, default=3600, help="hard limit for the whole run, seconds")
    parser.add_argument(
        "--quick",
        action="store_true",
        help="--runs 1 --crowds 5 --variants baseline --server-starts 2 --quiet-seconds 10",
    )
    args = parser.parse_args()
    if args.quick:
        args.runs, args.crowds, args.variants, args.server_starts = 1, [5], ["baseline"], 2
        args.quiet_seconds = 10

    def out_of_time(signum, frame):
        raise Timeout(f"stopped after the --timeout of {args.timeout:.0f} s")

    signal.signal(signal.SIGALRM, out_of_time)
    signal.alarm(int(args.timeout))
    rows: list[tuple[str, ...]] = []
    root = Path(tempfile.mkdtemp(prefix="oersite-journey-"))
    try:
        run(args, root, rows)
    finally:
        signal.alarm(0)
        shutil.rmtree(root, ignore_errors=True)
        print_table(rows)


def run(args, root: Path, rows: list[tuple[str, ...]]) -> None:
    print(f"{os.cpu_count()} cores; load average {os.getloadavg()[0]:.1f} at the start", flush=True)
    for variant in args.variants:
        times = [server_start(variant_environment(variant, root), root) for _ in range(args.server_starts)]
        if times:
            rows.append(
                ("jupyterhub-singleuser start alone", f"local, {variant}", "1", figures(times), f"{len(times)} starts")
            )
            print(rows[-1], flush=True)

    hub_port, try_port = free_port(), free_port()
    sample = sample_repository(root)
    course = course_on_ports(sample, root, hub_port, try_port, pool_config(0))
    target = launch_target_of(course)
    cdn = CdnFiles()
    page_url_path = f"{NOTEBOOK.removesuffix('.ipynb')}.html"
    with served(course / "_build" / "html") as site_url, chromium() as browser:
        page_url = f"{site_url}{page_url_path}"
        if "docker" in args.places:
            docker_journeys(args, root, browser, cdn, rows)
        for variant in args.variants if "local" in args.places else []:
            students = {f"{variant}-{n}": f"password-{n}" for n in range(args.runs + sum(args.crowds))}
            users = write_students(root / f"users-{variant}.htpasswd", students)
            logins = iter(students.items())
            place = "local" if variant == "baseline" else f"local, {variant}"
            with hub_serve(course, users, hub_port, try_port, environment=variant_environment(variant, root)) as hubs:
                print(f"[{variant}] oersite hub serve answered in {hubs.started_in:.1f} s", flush=True)
                if 0 in args.pools:
                    rows.append(quiet_cost(hubs, args.quiet_seconds, place))
                    print(rows[-1], flush=True)
                kinds = [
                    (hub, button)
                    for hub, button, journey_name in (
                        ("ephemeral", "Try now", "try"),
                        ("persistent", "Open in hub", "hub"),
                    )
                    if journey_name in args.journeys and (hub == "persistent" or 0 in args.pools)
                ]  # Try now with a pool is measured below
                for hub, button in kinds:
                    one_button(
                        browser, cdn, page_url, args.runs, logins, place, rows, hub, button, lambda: stop_servers(hubs)
                    )
                for size in args.crowds:
                    crowd_logins = [next(logins) for _ in range(size)]
                    for hub, button in kinds:
                        credentials = crowd_logins if hub == "persistent" else [None] * size
                        if size >= args.http_from:
                            url = hubs.persistent_url if hub == "persistent" else hubs.ephemeral_url
                            times, how = http_crowd(link_for(target, url), credentials)
                        else:
                            times = browser_crowd(browser, cdn, page_url, button, credentials)
                            how = "Chromium"
                        rows.append((f"{button} ({hub}), {size} at once", place, str(size), figures(times), how))
                        print(rows[-1], flush=True)
                        stop_servers(hubs)
            for size in [size for size in args.pools if size and variant == "baseline" and "try" in args.journeys]:
                pooled = course_on_ports(sample, root / f"pool-{size}", hub_port, try_port, pool_config(size))
                for code, environment in code_versions(args.against, root):
                    place = f"local, pool {size}" + (f", {code}" if code else "")
                    pool_journeys(args, pooled, users, hub_port, try_port, browser, cdn, rows, size, place, environment)


def pool_config(size: int) -> str:
    """The _config.yml lines that size the Try-now hub's warm pool (appended to the oersite section)."""
    return f"  hub:\n    ephemeral:\n      pool: {size}\n"


def code_versions(against: str | None, root: Path) -> list[tuple[str, dict[str, str]]]:
    """The oersite code each pool scenario runs: a git revision's first (``--against``), then this checkout's.

    A revision runs as its files from ``git archive`` on ``PYTHONPATH``, which JupyterHub's
    local spawner passes to the servers too (a folder the servers' account can read).
    """
    if not against:
        return [("", {})]
    folder = Path(tempfile.mkdtemp(prefix="oersite-revision-"))
    folder.chmod(0o755)
    archive = subprocess.run(
        ["git", "-C", str(REPOSITORY), "archive", against, "oersite"], check=True, capture_output=True
    ).stdout
    subprocess.run(["tar", "-x", "-C", str(folder)], input=archive, check=True)
    vendor = REPOSITORY / "oersite" / "static" / "vendor"  # not in git
    if vendor.is_dir() and not (folder / "oersite" / "static" / "vendor").exists():
        (folder / "oersite" / "static" / "vendor").symlink_to(vendor)
    path = os.pathsep.join(filter(None, [str(folder), os.environ.get("PYTHONPATH")]))
    here = os.pathsep.join(filter(None, [str(REPOSITORY), os.environ.get("PYTHONPATH")]))
    return [(f"at {against}", {"PYTHONPATH": path}), ("this checkout", {"PYTHONPATH": here})]


def pool_journeys(args, course, users, hub_port, try_port, browser, cdn, rows, size, place, environment) -> None:
    """The Try-now journeys with a warm pool of ``size``: the pool full before each, visitors' servers stopped after.

    The page is the pooled course's own: its links pull the repository the pool pulled.
    """
    target = launch_target_of(course)
    site = served(course / "_build" / "html")
    with site as site_url, hub_serve(course, users, hub_port, try_port, environment=environment) as hubs:
        page_url = f"{site_url}{NOTEBOOK.removesuffix('.ipynb')}.html"
        print(f"[pool {size}] oersite hub serve answered in {hubs.started_in:.1f} s", flush=True)
        filled = wait_for_full_pool(hubs, size)
        print(f"[pool {size}] the pool filled in {filled:.1f} s after the hubs answered", flush=True)
        rows.append(quiet_cost(hubs, args.quiet_seconds, place))
        print(rows[-1], flush=True)
        memory = waiting_server_memory(hubs)
        rows.append(
            ("memory per waiting server", place, str(len(memory)), figures(memory, "MiB"), "resident, no kernel")
        )
        print(rows[-1], flush=True)

        def between() -> None:
            stop_servers(hubs, keep=waiting_pool_users(hubs))
            wait_for_full_pool(hubs, size)

        one_button(browser, cdn, page_url, args.runs, iter(()), place, rows, "ephemeral", "Try now", between)
        for crowd in args.crowds:
            if crowd >= args.http_from:
                times, how = http_crowd(link_for(target, hubs.ephemeral_url), [None] * crowd)
            else:
                times, how = browser_crowd(browser, cdn, page_url, "Try now", [None] * crowd), "Chromium"
            status = pool_status(hubs)
            how += f"; {status['found_empty']} found the pool empty so far"
            rows.append((f"Try now (ephemeral), {crowd} at once", place, str(crowd), figures(times), how))
            print(rows[-1], flush=True)
            between()


def pool_status(hubs) -> dict:
    from oersite.hub.pool import STATUS_PATH

    with urllib.request.urlopen(f"{hubs.ephemeral_url}{STATUS_PATH}", timeout=10) as response:
        return json.loads(response.read())


def wait_for_full_pool(hubs, size: int, seconds: float = 600) -> float:
    """Seconds until the pool's service says every place has a ready server."""
    started = time.monotonic()
    while True:
        with contextlib.suppress(OSError, ValueError):
            if pool_status(hubs)["ready"] >= size:
                return time.monotonic() - started
        if time.monotonic() - started > seconds:
            raise Timeout(f"the pool of {size} did not fill within {seconds:.0f} s")
        time.sleep(0.5)


def waiting_pool_users(hubs) -> set[str]:
    """Users whose servers wait in the pool (or are being made ready): the hub's groups, from its database."""
    import sqlite3

    from oersite.hub.pool import READY_GROUP, STARTING_GROUP

    database = sqlite3.connect(f"file:{hubs.state / 'ephemeral' / 'jupyterhub.sqlite'}?mode=ro", uri=True)
    try:
        rows = database.execute(
            "SELECT users.name FROM users JOIN user_group_map ON users.id = user_group_map.user_id "
            "JOIN groups ON groups.id = user_group_map.group_id WHERE groups.name IN (?, ?)",
            (READY_GROUP, STARTING_GROUP),
        ).fetchall()
    finally:
        database.close()
    return {name for (name,) in rows}


def server_user(pid: int) -> str:
    try:
        environment = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    except OSError:
        return ""
    for entry in environment:
        if entry.startswith(b"JUPYTERHUB_USER="):
            return entry.split(b"=", 1)[1].decode()
    return ""


def server_pids(hubs) -> list[int]:
    return [pid for pid in processes_of(hubs.state) if is_server(pid)]


def waiting_server_memory(hubs) -> list[float]:
    """Resident MiB of each waiting pool server (a Jupyter server that has pulled the course, no kernel yet)."""
    waiting = waiting_pool_users(hubs)
    used = []
    for pid in server_pids(hubs):
        if server_user(pid) in waiting:
            status = Path(f"/proc/{pid}/status").read_text()
            used.append(int(re.search(r"^VmRSS:\s+(\d+) kB", status, re.M).group(1)) / 1024)
    return used or [float("nan")]


def quiet_cost(hubs, seconds: float, place: str) -> tuple[str, ...]:
    """CPU used by everything ``oersite hub serve`` started while no one comes, as a share of one core."""

    def cpu_seconds() -> float:
        total = 0
        for pid in processes_of(hubs.state) + [hubs.process.pid]:
            with contextlib.suppress(OSError, IndexError):
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
                total += int(fields[11]) + int(fields[12])  # utime, stime (of the process itself)
        return total / os.sysconf("SC_CLK_TCK")

    time.sleep(5)  # what the start left running settles
    before, started = cpu_seconds(), time.monotonic()
    time.sleep(seconds)
    used = (cpu_seconds() - before) / (time.monotonic() - started) * 100
    return ("CPU while no one comes", place, "", f"{used:.1f} % {used:.1f} %", f"of one core, over {seconds:.0f} s")


#: The Docker bundle as a course would run it: the default limits, one student after another.
DOCKER_SETTINGS = """  hub:
    ephemeral:
      cull_idle_seconds: 600
      pool: 0
"""


def docker_journeys(args, root: Path, browser, cdn, rows: list[tuple[str, ...]]) -> None:
    """The same journeys on the Docker bundle (an engine of this run's own, stopped at the end)."""
    from docker_deployment import deploy, undeploy
    from dockerhelpers import start_engine, stop_engine

    engine = start_engine()
    deployment = None
    try:
        started = time.monotonic()
        deployment = deploy(engine, sample_repository(root / "docker"), root / "docker", DOCKER_SETTINGS)
        print(f"[docker] bundle built and up in {time.monotonic() - started:.0f} s", flush=True)
        for command, seconds in deployment.commands_run:
            if command.startswith("docker-compose"):
                rows.append(
                    (f"`{command.split(' -f hub/docker-compose.yml ')[1]}`", "docker", "", f"{seconds:.1f} s", "")
                )
        students = {
            f"docker-{n}": f"password-{n}"
            for n in range(args.runs + sum(size for size in args.crowds if size < args.http_from))
        }
        for name, password in students.items():
            subprocess.run(
                ["htpasswd", "-bB", str(deployment.hub / "apache" / "users.htpasswd"), name, password],
                check=True,
                capture_output=True,
            )
        logins = iter(students.items())
        with served(deployment.course / "_build" / "html") as site_url:
            page_url = f"{site_url}{NOTEBOOK.removesuffix('.ipynb')}.html"
            one_at_a_time(browser, cdn, page_url, args.runs, logins, "docker", rows, lambda: stop_containers(engine))
            for size in (size for size in args.crowds if size < args.http_from):
                crowd_logins = [next(logins) for _ in range(size)]
                for hub, button in (("ephemeral", "Try now"), ("persistent", "Open in hub")):
                    credentials = crowd_logins if hub == "persistent" else [None] * size
                    times = browser_crowd(browser, cdn, page_url, button, credentials)
                    rows.append((f"{button} ({hub}), {size} at once", "docker", str(size), figures(times), "Chromium"))
                    print(rows[-1], flush=True)
                    if hub == "persistent":
                        memory = idle_memory(engine, "oersite-student-")
                        rows.append(
                            (
                                "memory per idle student container",
                                "docker",
                                str(len(memory)),
                                figures(memory, "MiB"),
                                "docker stats, kernel running",
                            )
                        )
                        print(rows[-1], flush=True)
                    stop_containers(engine)
    finally:
        if deployment is not None:
            undeploy(deployment)
        stop_engine(engine)


def stop_containers(engine) -> None:
    """Remove every student's and visitor's container, so scenarios start equal (the hubs notice on their own)."""
    names = [name for name in engine.names() if name.startswith(("oersite-student-", "oersite-visitor-"))]
    if names:
        engine.docker("rm", "--force", *names)
    time.sleep(1)


def idle_memory(engine, prefix: str, settle: float = 10) -> list[float]:
    """MiB in use by each container whose name starts with ``prefix``, after ``settle`` idle seconds."""
    time.sleep(settle)
    stats = engine.docker("stats", "--no-stream", "--format", "{{.Name}} {{.MemUsage}}").stdout.splitlines()
    units = {"KiB": 1 / 1024, "MiB": 1, "GiB": 1024}
    used = []
    for line in stats:
        name, usage = line.split(" ", 1)
        if name.startswith(prefix):
            amount = usage.split("/")[0].strip()
            number, unit = re.match(r"([\d.]+)\s*(\w+)", amount).groups()
            used.append(float(number) * units[unit])
    return used


def launch_target_of(course: Path):
    from oersite.config import load_course

    return load_course(course).launch


def link_for(target, hub_url: str) -> str:
    return launch_url(target, hub_url, NOTEBOOK)


def print_table(rows: list[tuple[str, ...]]) -> None:
    if not rows:
        return
    print()
    print("| Journey | Place / variant | Visitors | Median | Worst | How |")
    print("| --- | --- | ---: | ---: | ---: | --- |")
    for journey_name, variant, visitors, figure, how in rows:
        parts = figure.split()
        median, worst = " ".join(parts[:2]), " ".join(parts[2:]) or "–"
        print(f"| {journey_name} | {variant} | {visitors} | {median} | {worst} | {how} |")


if __name__ == "__main__":
    main()
