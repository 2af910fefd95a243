"""``oersite check``: find what a reader of the built site would meet broken.

Each check is a plain function of the course and the built site that returns
``Finding``s (page, what, why, severity); ``check_site`` runs them all and
``oersite publish`` refuses to publish while any finds an error.

- links: internal links with linkchecker.  The site is served on 127.0.0.1 by
  ``oersite.serve`` with a ``LinkChecker`` header, which makes linkchecker
  drop its 0.1-0.6 s wait between requests to one host (measured on the
  sample course: 48 s -> 2.5 s).  Over HTTP, linkchecker's switch to user
  ``nobody`` when run as root does not matter: our server reads the files.
  Anchors (``page.html#section``) are checked here, reading each page once:
  linkchecker's AnchorCheck plugin downloads and re-parses the target page
  with BeautifulSoup for every distinct anchor, which took the sample
  course's check from 2.5 s to 6 s.
- remote files: scripts, stylesheets and fonts loaded from other hosts, also
  where linkchecker does not look (Folium's ``iframe srcdoc``, inline scripts);
  ``oersite.assets.remote_references`` finds them.
- launch links: every "Open in hub" / "Try now" link names a notebook that is
  committed on the link's branch of the link's repository (what nbgitpuller
  will clone), and the links match ``_config.yml``'s launch settings.
- notebook outputs: no notebook page shows an error output that is not part of
  the lesson (tag ``raises-exception``), and no page is older than its
  notebook or shows outputs made from other code or data than it has now.
- hubs (``--live``): every hub the links point at answers ``/hub/api``, and
  the hub's settings (``hub-settings.json``) name the links' clone folder and
  interface.
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path, PurePosixPath
from urllib.parse import parse_qs, unquote, urljoin, urlsplit

from oersite.assets import THEBE_URL, remote_references
from oersite.config import Course
from oersite.errors import CheckError
from oersite.git import git_message, run_git
from oersite.launch import INTERFACE_PATHS, launch_target

ERROR = "error"
WARNING = "warning"

#: nbgitpuller's links, whatever the hub: ``{hub}/hub/user-redirect/git-pull?...``
GIT_PULL = "/hub/user-redirect/git-pull"

#: linkchecker's configuration (https://linkchecker.github.io/linkchecker/man/linkcheckerrc.html):
#: a high request rate (used only for hosts that send the LinkChecker header:
#: ours); launch links are left to ``check_launch_links``, anchors to ``missing_anchors``.
LINKCHECKER_CONFIG = f"""\
[checking]
maxrequestspersecond=1000
threads=10
timeout=30

[filtering]
ignore=
  {re.escape(GIT_PULL)}
"""

#: Seconds a whole linkchecker run may take (the sample course takes about 3).
LINKCHECKER_TIMEOUT = 900

_SKIPPED_ERROR_TAGS = {"raises-exception", "remove-output", "remove_output", "remove-cell", "remove_cell"}


@dataclass(frozen=True)
class Finding:
    """One problem: on which page, with what, and why it matters or what to do."""

    page: str
    what: str
    why: str
    severity: str = ERROR

    def line(self) -> str:
        return f"{self.severity}: {self.page}: {self.what}: {self.why}"


@dataclass(frozen=True)
class CheckReport:
    """All findings, and how long each check took (for the summary and for tests)."""

    site: Path
    pages: int
    findings: list[Finding]
    seconds: dict[str, float] = field(default_factory=dict)

    @property
    def errors(self) -> list[Finding]:
        return [finding for finding in self.findings if finding.severity == ERROR]

    @property
    def warnings(self) -> list[Finding]:
        return [finding for finding in self.findings if finding.severity == WARNING]


def check_site(course: Course, site: Path, *, live: bool = False) -> CheckReport:
    """Run every check on the site built from ``course`` at ``site``."""
    site = site.resolve()
    if not (site / "index.html").is_file():
        raise CheckError(f"{site}: no built site here; run first: oersite build {course.root}")
    thebe = bool((course.book.get("launch_buttons") or {}).get("thebe"))
    checks: dict[str, Callable[[], list[Finding]]] = {
        "links": lambda: check_links(site),
        "remote files": lambda: check_remote_files(site, thebe=thebe),
        "launch links": lambda: check_launch_links(course, site),
        "notebook outputs": lambda: check_notebook_outputs(course, site),
    }
    if live:
        checks["hubs"] = lambda: check_hubs(course, site)
    findings: list[Finding] = []
    seconds: dict[str, float] = {}
    for name, run in checks.items():
        started = time.perf_counter()
        findings.extend(run())
        seconds[name] = time.perf_counter() - started
    return CheckReport(site, len(site_pages(site)), findings, seconds)


def site_pages(site: Path) -> list[str]:
    """The site's HTML pages (not the libraries' files under ``_static``), relative to its root."""
    return sorted(
        path.relative_to(site).as_posix()
        for path in site.rglob("*.html")
        if path.relative_to(site).parts[0] not in ("_static", "_sources")
    )


# --- links -------------------------------------------------------------------------------------


def check_links(site: Path) -> list[Finding]:
    """Broken internal links (linkchecker, on the served site) and anchors."""
    from oersite.serve import make_server, site_url

    server = make_server(site, 0, linkchecker=True)
    serving = threading.Thread(target=server.serve_forever, name="oersite-check-server", daemon=True)
    serving.start()
    try:
        base = site_url(server)
        with tempfile.TemporaryDirectory(prefix="oersite-check-") as temporary:
            config = Path(temporary, "linkcheckerrc")
            config.write_text(LINKCHECKER_CONFIG, encoding="utf-8")
            try:
                completed = subprocess.run(
                    [sys.executable, "-m", "linkcheck", "--config", str(config), "--no-status", "--output", "csv"]
                    # From the home page: every page is in its navigation.  (Naming every page
                    # as a start URL made linkchecker fetch and parse each twice.)
                    + [base + "index.html"],
                    capture_output=True,
                    text=True,
                    encoding="utf-8",
                    errors="replace",
                    timeout=LINKCHECKER_TIMEOUT,
                )
            except subprocess.TimeoutExpired:
                raise CheckError(f"linkchecker did not finish in {LINKCHECKER_TIMEOUT} s; try again") from None
    finally:
        server.shutdown()
        server.server_close()
    if completed.returncode not in (0, 1):  # 1: linkchecker found problems; anything else: it failed
        last = (completed.stderr.strip().splitlines() or ["no message"])[-1]
        raise CheckError(f"linkchecker failed (exit status {completed.returncode}): {last}")
    return linkchecker_findings(completed.stdout, base) + missing_anchors(site)


def linkchecker_findings(csv_output: str, base: str) -> list[Finding]:
    """Findings from linkchecker's CSV output; pages named relative to the site's root."""
    lines = [line for line in csv_output.splitlines() if line and not line.startswith("#")]
    findings = []
    for row in csv.DictReader(io.StringIO("\n".join(lines)), delimiter=";"):
        page = _page_of(row.get("parentname") or row.get("url") or "", base)
        link = row.get("urlname") or row.get("url") or ""
        if row.get("valid") == "False":
            findings.append(Finding(page, f"link {link}", f"{row.get('result') or 'broken'}; fix or remove the link"))
        for warning in filter(None, (row.get("warningstring") or "").splitlines()):
            findings.append(Finding(page, f"link {link}", warning, WARNING))
    return findings


def missing_anchors(site: Path) -> list[Finding]:
    """Links to ``#anchor``s that their (existing) target page does not have."""
    base = "http://site.invalid/"
    parsed: dict[str, _LinkCollector] = {}
    for page in site_pages(site):
        parsed[page] = _LinkCollector()
        parsed[page].feed((site / page).read_text(encoding="utf-8", errors="replace"))
    findings = []
    for page, collector in parsed.items():
        for href in sorted(set(collector.hrefs)):
            target = urlsplit(urljoin(base + page, href))
            if not target.fragment or f"{target.scheme}://{target.netloc}/" != base:
                continue
            target_page = unquote(target.path.removeprefix("/")) or "index.html"
            if target_page.endswith("/"):
                target_page += "index.html"
            anchors = parsed.get(target_page)
            if anchors is not None and unquote(target.fragment) not in anchors.ids:
                findings.append(Finding(page, f"link {href}", f"no anchor #{target.fragment} on {target_page}"))
    return findings


def _page_of(url: str, base: str) -> str:
    return (unquote(url.removeprefix(base)) or "index.html") if url.startswith(base) else url


# --- remote files ------------------------------------------------------------------------------


def check_remote_files(site: Path, *, thebe: bool = False) -> list[Finding]:
    """Scripts, stylesheets and fonts that pages (or their stylesheets, or maps in them) load from elsewhere.

    sphinx-thebe names its script on every page but loads it only when the
    "Live code" button is pressed: it counts only when the course turned thebe on.
    """
    findings = []
    files = [site / page for page in site_pages(site)] + sorted(site.rglob("*.css"))
    for path in files:
        text = path.read_text(encoding="utf-8", errors="replace")
        for url in sorted(remote_references(text)):
            if not thebe and THEBE_URL.match(url):
                continue
            findings.append(
                Finding(
                    path.relative_to(site).as_posix(),
                    url,
                    "loaded from another host: offline or behind a firewall the page breaks; "
                    "ship the file with the site (oersite build does this for Bokeh, Folium and MathJax)",
                )
            )
    return findings


# --- launch links ------------------------------------------------------------------------------


@dataclass(frozen=True)
class LaunchLink:
    """An nbgitpuller link found in a page, taken apart."""

    page: str
    url: str
    hub_url: str
    repository: str
    branch: str
    clone_folder: str
    interface: str | None  # None when its urlpath opens neither JupyterLab nor the classic notebook
    notebook: str | None  # the path inside the repository; None when it is not inside the clone folder


def launch_links(site: Path) -> list[LaunchLink]:
    """Every launch link of every page."""
    found = []
    for page in site_pages(site):
        collector = _LinkCollector()
        collector.feed((site / page).read_text(encoding="utf-8", errors="replace"))
        found.extend(parse_launch_link(page, href) for href in collector.hrefs if GIT_PULL + "?" in href)
    return found


def parse_launch_link(page: str, url: str) -> LaunchLink:
    """Take an nbgitpuller link apart (https://nbgitpuller.readthedocs.io/en/latest/topic/url-options.html)."""
    hub_url, _, _ = url.partition(GIT_PULL)
    query = {key: values[0] for key, values in parse_qs(urlsplit(url).query).items()}
    clone_folder = query.get("targetpath", "")
    urlpath = unquote(query.get("urlpath", ""))
    interface, opened = None, None
    for name, prefix in INTERFACE_PATHS.items():
        if urlpath.startswith(prefix + "/"):
            interface, opened = name, urlpath[len(prefix) + 1 :]
    notebook = None
    if opened is not None and clone_folder and opened.startswith(clone_folder.rstrip("/") + "/"):
        notebook = PurePosixPath(opened[len(clone_folder.rstrip("/")) + 1 :]).as_posix()
    return LaunchLink(
        page, url, hub_url, query.get("repo", ""), query.get("branch", ""), clone_folder, interface, notebook
    )


def check_launch_links(course: Course, site: Path) -> list[Finding]:
    """Each launch link's notebook is committed where the link says, and the links match ``_config.yml``."""
    links = launch_links(site)
    target = launch_target(course)
    findings = []
    for link in links:
        what = f"launch link to {link.notebook or link.url}"
        if link.interface is None or link.notebook is None:
            findings.append(
                Finding(link.page, what, f"opens {link.url!r}, not a notebook inside its clone folder; rebuild")
            )
        elif target is not None:
            drift = [
                f"{name} {seen!r} where _config.yml has {wanted!r}"
                for name, seen, wanted in (
                    ("repository", link.repository, target.repository),
                    ("clone folder", link.clone_folder, target.clone_folder),
                    ("interface", link.interface, target.interface),
                )
                if seen != wanted
            ]
            if drift:
                findings.append(
                    Finding(link.page, what, f"built with other launch settings ({'; '.join(drift)}); rebuild")
                )
    by_source: dict[tuple[str, str], list[LaunchLink]] = {}
    for link in links:
        if link.notebook is not None:
            by_source.setdefault((link.repository, link.branch), []).append(link)
    for (repository, branch), source_links in by_source.items():
        try:
            committed = committed_files(repository, branch)
        except CheckError as problem:
            pages = sorted({link.page for link in source_links})
            findings.append(Finding(pages[0], f"launch links to {repository} (branch {branch})", problem.message))
            continue
        for link in source_links:
            if link.notebook not in committed:
                findings.append(
                    Finding(
                        link.page,
                        f"launch link to {link.notebook}",
                        f"not committed on branch {branch} of {repository}: students would get an error; "
                        "commit and push the notebook",
                    )
                )
    return findings


def committed_files(repository: str, branch: str) -> set[str]:
    """The files on ``branch`` of ``repository``, as nbgitpuller would clone them.

    ``git ls-remote`` tells an unreachable repository from a missing branch;
    a shallow fetch without file contents (where the server allows it) into
    a throwaway repository then lists the files, for local and remote
    repositories alike.
    """
    environment = {**os.environ, "GIT_TERMINAL_PROMPT": "0"}  # never wait for a password
    listed = run_git(["ls-remote", "--heads", repository, f"refs/heads/{branch}"], environment, timeout=300)
    if listed.returncode != 0:
        raise CheckError(f"cannot read the repository ({git_message(listed.stderr)}); check oersite.launch.repository")
    if not listed.stdout.strip():
        raise CheckError(f"the repository has no branch {branch!r}; push it, or fix oersite.launch.branch")
    commit = listed.stdout.split()[0]
    with tempfile.TemporaryDirectory(prefix="oersite-check-git-") as temporary:
        steps = (
            ["init", "--quiet", "--bare", temporary],
            ["-C", temporary, "fetch", "--quiet", "--depth", "1", "--filter=blob:none", repository, commit],
            ["-C", temporary, "ls-tree", "-r", "-z", "--name-only", commit],
        )
        for step in steps:
            completed = run_git(step, environment, timeout=300)
            if completed.returncode != 0:
                raise CheckError(f"cannot read branch {branch!r} of the repository ({git_message(completed.stderr)})")
    return set(filter(None, completed.stdout.split("\0")))


class _LinkCollector(HTMLParser):
    """A page's link targets and the anchors it offers (``id``s, and ``name``s of ``<a>``)."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.hrefs: list[str] = []
        self.ids: set[str] = set()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        for name, value in attrs:
            if value and (name == "id" or (tag == "a" and name == "name")):
                self.ids.add(value)
            elif value and tag in ("a", "area") and name == "href":
                self.hrefs.append(value)


# --- notebook outputs --------------------------------------------------------------------------


def check_notebook_outputs(course: Course, site: Path) -> list[Finding]:
    """Error outputs a page shows, and pages older than their notebook.

    A page is stale when its notebook file changed after the page was written,
    or when the outputs it shows were executed from other code or data than
    the notebook has now (the executor's cache key, ``oersite.execute``,
    differs from the one stored beside the executed copy in
    ``_build/.oersite/executed/``).
    """
    from oersite.build import executed_dir
    from oersite.execute import (
        cache_key,
        data_files,
        environment_fingerprint,
        executed_copy,
        executes,
        read_notebook,
    )
    from oersite.toc import read_pages

    environment: str | None = None
    data = data_files(course)
    findings = []
    for page in read_pages(course):
        if not page.is_ipynb:
            continue
        shown = f"{page.docname}.html"
        notebook_name = course.relative(page.path)
        html_page = site / shown
        if not html_page.is_file():
            findings.append(Finding(shown, notebook_name, "in the table of contents but not built; run oersite build"))
            continue
        notebook = read_notebook(course, page)
        executed, key_path = executed_copy(executed_dir(course), page)
        shows_executed = executes(course, page, notebook) and executed.is_file() and key_path.is_file()
        if page.path.stat().st_mtime_ns > html_page.stat().st_mtime_ns:
            findings.append(
                Finding(shown, notebook_name, "the notebook changed after its page was built; run oersite build")
            )
        elif shows_executed:
            environment = environment or environment_fingerprint()
            if key_path.read_text(encoding="utf-8") != cache_key(course, page, notebook, environment, data):
                findings.append(
                    Finding(
                        shown,
                        notebook_name,
                        "the page shows outputs made from other code, data or packages than the notebook "
                        "has now; run oersite build",
                    )
                )
        outputs_from = json.loads(executed.read_text(encoding="utf-8")) if shows_executed else notebook
        findings.extend(error_outputs(outputs_from, shown))
    return findings


def error_outputs(notebook: dict, page: str) -> list[Finding]:
    """Error outputs a reader of ``page`` sees, except those the lesson means to show."""
    findings = []
    for number, cell in enumerate(notebook.get("cells", []), start=1):
        if cell.get("cell_type") != "code" or _SKIPPED_ERROR_TAGS & set(cell.get("metadata", {}).get("tags", [])):
            continue
        for output in cell.get("outputs", []):
            if output.get("output_type") == "error":
                error = f"{output.get('ename', 'Error')}: {output.get('evalue', '')}".strip().rstrip(":")
                findings.append(
                    Finding(
                        page,
                        f"cell {number}",
                        f"shows an error ({error}); fix the cell, or if the error is part of the lesson "
                        'give the cell the tag "raises-exception"',
                    )
                )
    return findings


# --- hubs (--live) -----------------------------------------------------------------------------


def check_hubs(course: Course, site: Path, *, timeout: float = 10) -> list[Finding]:
    """Every hub the launch links point at answers, and is set up to open what they open.

    A hub tells anonymous visitors only its version (``/hub/api``), so its clone
    folder and interface are read from the ``hub-settings.json`` its
    ``jupyterhub_config.py`` reads (``oersite.hub.settings``): the deployable
    bundle's (``SOURCE/hub``) and the local hubs' (``oersite hub serve``'s state folder).
    """
    from oersite.hub.settings import SETTINGS_FILE, read_settings

    links_by_hub: dict[str, list[LaunchLink]] = {}
    for link in launch_links(site):
        links_by_hub.setdefault(link.hub_url.rstrip("/"), []).append(link)
    configured: dict[str, list[tuple[str, object]]] = {}
    for folder in (course.root / "hub", course.root / course.settings.hub.state_folder):
        path = folder / SETTINGS_FILE
        if path.is_file():
            settings = read_settings(path)
            for public_url in (settings.persistent.public_url, settings.ephemeral.public_url):
                configured.setdefault(public_url.rstrip("/"), []).append((course.relative(path), settings))
    findings = []
    for hub_url, links in sorted(links_by_hub.items()):
        page, what = links[0].page, f"hub {hub_url}"
        problem = hub_problem(hub_url, timeout=timeout)
        if problem:
            findings.append(Finding(page, what, problem))
        if hub_url not in configured:
            findings.append(
                Finding(
                    page,
                    what,
                    f"no {SETTINGS_FILE} here names this hub, so its clone folder and interface cannot be "
                    "compared with the links; run oersite hub config",
                    WARNING,
                )
            )
        for shown, settings in configured.get(hub_url, []):
            for link in links:
                drift = [
                    f"{name} {wanted!r} where the links have {seen!r}"
                    for name, wanted, seen in (
                        ("clone folder", settings.clone_folder, link.clone_folder),
                        ("interface", settings.interface, link.interface),
                    )
                    if wanted != seen
                ]
                if drift:
                    findings.append(
                        Finding(
                            link.page,
                            what,
                            f"set up by {shown} with {'; '.join(drift)}: students would find the course "
                            "in two places; run oersite hub config (and redeploy), or oersite build",
                        )
                    )
                    break
    return findings


def hub_problem(hub_url: str, *, timeout: float = 10) -> str | None:
    """Why the hub at ``hub_url`` cannot take students now, or None when it answers."""
    api = f"{hub_url}/hub/api"
    try:
        with urllib.request.urlopen(api, timeout=timeout) as response:
            answer = json.loads(response.read().decode("utf-8"))
    except urllib.error.HTTPError as exc:
        return f"{api} answered {exc.code} {exc.reason}; is JupyterHub running at that URL?"
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        return f"{api} does not answer ({reason}); start the hub (oersite hub) or fix the hub URL"
    except ValueError:
        return f"{api} did not answer as JupyterHub does (no JSON); fix the hub URL"
    if not isinstance(answer, dict) or "version" not in answer:
        return f"{api} did not answer as JupyterHub does (no version); fix the hub URL"
    return None
