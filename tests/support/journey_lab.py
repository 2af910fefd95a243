"""A student's journey from the course site into JupyterLab, as small functions over Playwright.

Shared by tests/test_student_journey.py and benchmarks/journey.py: a copy of the
sample course whose launch links point at free ports, ``oersite hub serve`` on it
as a real process, a browser context that only reaches 127.0.0.1, and the few
things a student does in JupyterLab (land on the notebook, run all cells, type,
save).

No internet here, and JupyterLab is not the course site: a notebook's libraries
may ask for BokehJS at cdn.bokeh.org or for Leaflet and its plugins at jsDelivr and
cdnjs (the hubs' servers point Folium at their own copies, oersite.hub.notebook_server,
and embed BokehJS inline; ``NO_CDN_FILES`` proves a page needs none).  A browser
context with ``CdnFiles`` answers exactly those URLs from files on this machine (BokehJS from the Bokeh
installed in the hub's environment, the map libraries from the copies the site
ships, ``oersite/static/vendor``) and refuses every other request off 127.0.0.1.
What it answered and what it refused are recorded, so a test can say so.
"""

from __future__ import annotations

import contextlib
import json
import mimetypes
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from oersite.assets import CDN_FILES, VENDOR_DIR
from oersite.hub.serve.supervisor import STATE_MARKER, http_status

#: Bounded waits.  A server starts in 5-8 s on two cores, much slower when many start at once.
SERVER_SECONDS = 90
KERNEL_SECONDS = 60
RUN_SECONDS = 90
#: What a Jupyter cell prompt looks like once it has run ("[3]:"), and while it runs ("[*]:").
RAN_PROMPT = re.compile(r"^\[\d+\]:$")
ALL_CELLS_RAN = """() => {
  const prompts = [...document.querySelectorAll('.jp-Notebook .jp-CodeCell .jp-InputPrompt')]
    .map(e => e.textContent.trim());
  return prompts.length > 0 && prompts.every(p => /^\\[\\d+\\]:$/.test(p));
}"""
ERROR_OUTPUTS = (
    '.jp-OutputArea-output[data-mime-type="application/vnd.jupyter.stderr"], '
    ".jp-OutputArea-output.jp-mod-error, .jp-RenderedText[data-mime-type='application/vnd.jupyter.error']"
)
#: Bokeh's bundles as its notebook loader asks for them.
BOKEH_BUNDLES = ("bokeh", "bokeh-gl", "bokeh-widgets", "bokeh-tables", "bokeh-mathjax", "bokeh-api")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def git(folder: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(folder), *args], check=True, capture_output=True, text=True).stdout.strip()


def commit_all(folder: Path, message: str) -> None:
    git(folder, "add", "-A")
    git(folder, "-c", "user.name=Tests", "-c", "user.email=tests@oersite.invalid", "commit", "--quiet", "-m", message)


# The course and its hubs.


def with_oersite_lines(text: str, extra: str) -> str:
    """``_config.yml``'s text with ``extra`` (more lines of its ``oersite:`` section, at its end) added.

    A section the config already has (the sample's ``hub:``) gets the extra's keys
    inside it rather than a second ``hub:``, which YAML would read as replacing the first.
    """
    lines = text.splitlines(keepends=True)
    appended = []
    section = None
    for line in extra.splitlines(keepends=True):
        header = re.match(r"^  (\w+):\s*$", line)
        if header:
            section = f"  {header.group(1)}:\n" if f"  {header.group(1)}:\n" in lines else None
            if section is None:
                appended.append(line)
        elif section is not None and line.startswith("    "):
            at = lines.index(section) + 1
            while at < len(lines) and lines[at].startswith("    "):
                at += 1
            lines.insert(at, line)
        else:
            section = None
            appended.append(line)
    return "".join(lines) + "".join(appended)


USERS = {"alice": "alice-password", "bob": "bob-password", "mallory": "mallory-password"}
#: Short enough to watch the culler work within the test.
EPHEMERAL_CULL_SECONDS = 20
HUB_SETTINGS = f"""
  hub:
    persistent:
      blocked_users: [mallory]
    ephemeral:
      cull_idle_seconds: {EPHEMERAL_CULL_SECONDS}
      concurrent_spawn_limit: 2
      active_server_limit: 2
      pool: 0
"""


def hub_course(sample_course: Path, folder: Path, settings: str = HUB_SETTINGS) -> Path:
    """A copy of the sample course (a git repository) whose _config.yml sets short hub limits (no warm pool)."""
    course = folder / "course"
    shutil.copytree(sample_course, course, ignore=shutil.ignore_patterns("_build"))
    with open(course / "_config.yml", "a", encoding="utf-8") as config:
        config.write(settings)
    return course


def course_on_ports(
    sample_course: Path,
    folder: Path,
    hub_port: int,
    try_port: int,
    extra_config: str = "",
    *,
    scheme: str = "http",
    repository: str | None = None,
    interface: str | None = None,
    site_port: int | None = None,
    before_build: Callable[[Path], None] | None = None,
) -> Path:
    """A copy of the sample course (its own git repository) whose launch links point at these ports, built.

    The copy takes the sample's build folder along (not its hub state), so its
    notebooks come from the execution cache and the build takes seconds.
    ``repository``: what the buttons pull from instead of the copy itself (say,
    a git daemon's URL that containers reach). ``interface``: ``oersite.launch.interface`` instead of the sample's.
    ``site_port``: the site is published (``html.baseurl``) at 127.0.0.1 on that port, so Run code's
    hub lets its pages in. ``before_build``: changes the copy before it is committed and built.
    """
    course = folder / "course"
    shutil.copytree(sample_course, course, ignore=shutil.ignore_patterns("hub", "test-artifacts"), symlinks=True)
    config = course / "_config.yml"
    text = config.read_text(encoding="utf-8")
    replacements = {"hub_url": f"{scheme}://127.0.0.1:{hub_port}", "try_url": f"{scheme}://127.0.0.1:{try_port}"}
    if repository:
        replacements["repository"] = repository
    if interface:
        replacements["interface"] = interface
    if site_port:
        replacements["baseurl"] = f"{scheme}://127.0.0.1:{site_port}/"
    for key, value in replacements.items():
        pattern = rf"^(\s+{key}:\s*)\S+"
        text, found = re.subn(pattern, rf"\g<1>{value}", text, count=1, flags=re.M)
        assert found == 1, f"no {key} in {config}"
    config.write_text(with_oersite_lines(text, extra_config), encoding="utf-8")
    if before_build is not None:
        before_build(course)
    commit_all(course, "The hubs of this run")
    build = subprocess.run(
        [sys.executable, "-m", "oersite", "build", str(course), "--strict"], capture_output=True, text=True
    )
    assert build.returncode == 0, build.stdout + build.stderr
    return course


def write_students(path: Path, students: dict[str, str]) -> Path:
    """An htpasswd file (bcrypt) of Basic-auth students, the file ``oersite hub serve --users`` takes."""
    for number, (name, password) in enumerate(students.items()):
        flags = "-cbB" if number == 0 else "-bB"
        subprocess.run(["htpasswd", flags, str(path), name, password], check=True, capture_output=True)
    return path


@dataclass
class ServedHubs:
    """``oersite hub serve`` as a real process, and where its hubs answer."""

    course: Path
    process: subprocess.Popen
    log: Path
    persistent_url: str
    ephemeral_url: str
    started_in: float = 0.0

    @property
    def state(self) -> Path:
        return self.course / "_build" / "hub"

    def home(self, kind: str, user: str) -> Path:
        """Where ``oersite hub serve`` keeps a user's home (oersite.hub.serve.accounts.ServerAccount)."""
        from oersite.hub.serve.accounts import server_area

        area = server_area(self.state) if os.geteuid() == 0 else self.state  # as root: another account's
        return area / "homes" / kind / user

    def log_tail(self, lines: int = 30) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])


@contextlib.contextmanager
def hub_serve(
    course: Path,
    users: Path | None,
    hub_port: int,
    try_port: int,
    *,
    environment=None,
    seconds: float = 90,
    apache_ready: tuple[str, int] = ("/hub/", 401),
):
    """Run ``oersite hub serve COURSE --users USERS`` until the block ends; stop it and all it started.

    ``users``: None for a sign-on other than Basic auth; ``apache_ready``: the
    path and status that say Apache's sign-on is up (Basic auth's 401 by default).

    The command runs in its own session (process group) with default signal
    handling; it is stopped with SIGTERM, which it treats as Ctrl-C, then any
    leftover process of its state folder is killed.
    """
    log = course.parent / "hub-serve.log"
    command = [
        sys.executable,
        "-m",
        "oersite",
        "hub",
        "serve",
        str(course),
        *(["--users", str(users)] if users else []),
    ]
    started = time.monotonic()
    with open(log, "wb") as output:
        process = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=output,
            stderr=subprocess.STDOUT,
            env={**os.environ, **(environment or {})},
            start_new_session=True,
        )
    hubs = ServedHubs(course, process, log, f"http://127.0.0.1:{hub_port}", f"http://127.0.0.1:{try_port}")
    try:
        deadline = time.monotonic() + seconds
        while not (
            http_status(f"{hubs.ephemeral_url}/hub/health") == 200
            and http_status(f"{hubs.persistent_url}{apache_ready[0]}") == apache_ready[1]
        ):
            if process.poll() is not None:
                raise AssertionError(f"oersite hub serve exited ({process.returncode}):\n{hubs.log_tail()}")
            if time.monotonic() > deadline:
                raise AssertionError(f"the hubs did not answer within {seconds} s:\n{hubs.log_tail()}")
            time.sleep(0.2)
        hubs.started_in = time.monotonic() - started
        yield hubs
    finally:
        stop_hub_serve(hubs)
        if os.geteuid() == 0:  # the servers' homes, which hub serve keeps outside the course as root
            from oersite.hub.serve.accounts import server_area

            shutil.rmtree(server_area(hubs.state), ignore_errors=True)


def stop_hub_serve(hubs: ServedHubs, seconds: float = 30) -> None:
    process = hubs.process
    if process.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(seconds)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait(5)
    for pid in processes_of(hubs.state):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


def processes_of(state: Path) -> list[int]:
    """Processes started for this state folder (every hub process carries it in its environment)."""
    marker = f"{STATE_MARKER}={state.resolve()}".encode()
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and int(entry.name) != os.getpid():
            with contextlib.suppress(OSError):
                if marker in (entry / "environ").read_bytes().split(b"\0"):
                    found.append(int(entry.name))
    return found


# The browser.


def hub_bokeh() -> tuple[str, Path]:
    """Version and BokehJS folder of the Bokeh in the hub's environment (the Python that runs oersite hub serve)."""
    found = subprocess.run(
        [
            sys.executable,
            "-c",
            "import bokeh, json; from bokeh.util.paths import bokehjs_path; "
            "print(json.dumps([bokeh.__version__, str(bokehjs_path() / 'js')]))",
        ],
        check=True,
        capture_output=True,
        text=True,
    )
    version, folder = json.loads(found.stdout)
    return version, Path(folder)


@dataclass
class Network:
    """What a browser context asked of the world: answered from local files, or refused."""

    mirrored: list[str] = field(default_factory=list)
    refused: list[tuple[str, str]] = field(default_factory=list)

    def refused_code(self) -> list[tuple[str, str]]:
        """Refused scripts and stylesheets: the things a page cannot work without (tiles are images)."""
        return [(kind, url) for kind, url in self.refused if kind in ("script", "stylesheet")]


class CdnFiles:
    """The CDN URLs notebooks' libraries load, and the local file that stands in for each."""

    def __init__(self) -> None:
        self.bokeh_version, bokehjs = hub_bokeh()
        self.files = {url: VENDOR_DIR / path for url, path in CDN_FILES.items()}
        for bundle in BOKEH_BUNDLES:
            url = f"https://cdn.bokeh.org/bokeh/release/{bundle}-{self.bokeh_version}.min.js"
            self.files[url] = bokehjs / f"{bundle}.min.js"

    def file_for(self, url: str) -> Path | None:
        """The file for ``url``; also files beside a known one (fonts and images its CSS names)."""
        url = url.split("?")[0].split("#")[0]
        if url in self.files:
            return self.files[url]
        for known, path in self.files.items():
            remote, local = known.rsplit("/", 1)[0], path.parent
            for _ in range(3):
                if url.startswith(remote + "/"):
                    candidate = local / url[len(remote) + 1 :]
                    if candidate.is_file():
                        return candidate
                remote, local = remote.rsplit("/", 1)[0], local.parent
        return None


class NoCdnFiles:
    """No CDN file answered from this machine: with it, every request off 127.0.0.1 is refused."""

    def file_for(self, url: str) -> Path | None:
        return None


NO_CDN_FILES = NoCdnFiles()


def loopback_context(browser, network: Network, cdn: CdnFiles | NoCdnFiles, **options):
    """A context in which only 127.0.0.1 answers, plus the known CDN files from this machine."""
    context = browser.new_context(viewport={"width": 1280, "height": 900}, **options)

    def route(route, request):
        url = request.url
        if urlsplit(url).hostname in ("127.0.0.1", None) or url.startswith(("data:", "about:", "blob:")):
            route.continue_()
            return
        local = cdn.file_for(url)
        if local is not None:
            network.mirrored.append(url)
            content_type = mimetypes.guess_type(local.name)[0] or "application/octet-stream"
            route.fulfill(status=200, body=local.read_bytes(), headers={"Content-Type": content_type})
        else:
            network.refused.append((request.resource_type, url))
            route.abort("internetdisconnected")

    context.route("**/*", route)
    return context


def keep_screenshot(page, name: str, *, folder: Path) -> None:
    """What the browser shows, as ``folder/name.png`` (below _build/test-artifacts/), for a person to look at."""
    folder.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(folder / f"{name}.png"))


def click_launch_button(page, text: str):
    """Click the page's launch button (it opens a new tab, as on the site); return the new tab."""
    with page.context.expect_page(timeout=10_000) as opened:
        page.locator("a", has_text=text).first.click()
    return opened.value


def wait_for_notebook(lab, notebook: str, *, seconds: float = SERVER_SECONDS) -> None:
    """Until ``notebook`` (a path in the clone) is open with its kernel idle: in a JupyterLab tab, or on the
    notebook's own page (Notebook 7: ``interface: classic``, Try now's default), whichever the link opened."""
    lab.wait_for_url(re.compile(r"/user/[^/]+/(lab(/|$)|notebooks/)"), timeout=seconds * 1000)
    if on_its_own_page(lab):
        lab.wait_for_url(re.compile(rf"/user/[^/]+/notebooks/{re.escape(notebook)}$"), timeout=seconds * 1000)
    else:
        # The link ends at lab/tree/<notebook>; JupyterLab then rewrites the address to the file browser's folder.
        notebook_tab(lab, notebook).wait_for(timeout=KERNEL_SECONDS * 1000)
    lab.locator(".jp-Notebook .jp-Cell").first.wait_for(timeout=KERNEL_SECONDS * 1000)
    kernel_idle(lab)


def on_its_own_page(page) -> bool:
    """Whether ``page`` shows a notebook on a page of its own (Notebook 7), not in JupyterLab."""
    return re.search(r"/user/[^/]+/notebooks/", page.url) is not None


def shows_notebook(page, notebook: str) -> bool:
    """Whether the notebook the user looks at is ``notebook``: JupyterLab's current tab, or the page's own."""
    if on_its_own_page(page):
        return page.url.split("?")[0].endswith(f"/notebooks/{notebook}")
    return "lm-mod-current" in (notebook_tab(page, notebook).get_attribute("class") or "")


def notebook_tab(lab, notebook: str):
    """The main area's tab of ``notebook``, a path below the server's root (its tooltip names the path)."""
    return lab.locator(f'#jp-main-dock-panel .lm-TabBar-tab[title*="Path: {notebook}"]').first


def kernel_idle(lab, seconds: float = KERNEL_SECONDS) -> None:
    """Until the notebook's kernel is idle, as the page says it: JupyterLab's status bar ("Python 3 (ipykernel) |
    Idle"), or Notebook 7's toolbar (the kernel's name instead of "No Kernel", its indicator idle)."""
    for sign in idle_kernel_signs(lab):
        sign.first.wait_for(state="attached", timeout=seconds * 1000)


def idle_kernel_signs(page) -> list:
    """What shows, together, that the notebook's kernel is idle on ``page`` (locators, all present when it is)."""
    if on_its_own_page(page):
        toolbar = page.locator(".jp-NotebookPanel-toolbar")
        return [
            toolbar.locator(".jp-KernelName", has_text=re.compile(r"^(?!No Kernel)\S")),
            toolbar.locator('.jp-Notebook-ExecutionIndicator[data-status="idle"]'),
        ]
    return [page.locator(".jp-StatusBar-TextItem", has_text=re.compile(r"\|\s*Idle$"))]


def user_prefix(lab) -> str:
    """``/user/<name>/`` of the server a JupyterLab tab belongs to."""
    return re.search(r"/user/[^/]+/", lab.url).group(0)


def run_all_cells(lab, seconds: float = RUN_SECONDS) -> None:
    """Run > Run All Cells, as a student does; until every code cell has its number and the kernel is idle."""
    lab.locator(".lm-MenuBar-itemLabel", has_text=re.compile(r"^Run$")).click()
    lab.locator('li[data-command="runmenu:run-all"]').click()
    lab.wait_for_function(ALL_CELLS_RAN, timeout=seconds * 1000)
    kernel_idle(lab)


def error_outputs(lab) -> list[str]:
    return lab.locator(ERROR_OUTPUTS).all_inner_texts()


def type_into_last_cell(lab, text: str) -> None:
    """Click into the notebook's last cell (the exercise) and type a line at its end."""
    editor = lab.locator(".jp-Notebook .jp-Cell").last.locator(".cm-content")
    editor.click()
    lab.keyboard.press("Control+End")
    lab.keyboard.type(f"\n{text}")
    lab.keyboard.press("Escape")


def save(lab, name: str) -> None:
    """Ctrl+S, until the server has the file (JupyterLab and Notebook 7 both save with a PUT of its contents)."""
    with lab.expect_response(
        lambda response: response.request.method == "PUT" and f"/{name}" in response.url and response.ok,
        timeout=30_000,
    ):
        lab.keyboard.press("Control+s")


def last_cell_text(lab, expected: str = "Write your code") -> str:
    """The last cell's text, once it shows ``expected`` (JupyterLab renders cells out of view lazily)."""
    from playwright.sync_api import expect

    cell = lab.locator(".jp-Notebook .jp-Cell").last
    cell.scroll_into_view_if_needed()
    expect(cell.locator(".cm-content")).to_contain_text(expected, timeout=15_000)
    return cell.locator(".cm-content").text_content()


def notebook_source(path: Path) -> str:
    """All cell sources of a notebook file on disk, joined."""
    cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
    return "\n".join("".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"] for cell in cells)
