"""Broken internal links and anchors of the built site.

Internal links with linkchecker: the site is served on 127.0.0.1 by
``oersite.serve`` with a ``LinkChecker`` header, which makes linkchecker drop
its 0.1-0.6 s wait between requests to one host (measured on the sample course:
48 s -> 2.5 s).  Over HTTP, linkchecker's switch to user ``nobody`` when run as
root does not matter: our server reads the files.  Anchors (``page.html#section``)
are checked here, reading each page once: linkchecker's AnchorCheck plugin
downloads and re-parses the target page with BeautifulSoup for every distinct
anchor, which took the sample course's check from 2.5 s to 6 s.
"""

from __future__ import annotations

import csv
import io
import re
import subprocess
import sys
import tempfile
import threading
from pathlib import Path
from urllib.parse import unquote, urljoin, urlsplit

from oersite.checks.findings import WARNING, Finding, LinkCollector, redirect_target, site_pages
from oersite.checks.launch_links import GIT_PULL
from oersite.errors import CheckError

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
    parsed: dict[str, LinkCollector] = {}
    redirects: dict[str, str] = {}  # a redirect stub -> the page it sends readers to, with their #anchor
    for page in site_pages(site):
        text = (site / page).read_text(encoding="utf-8", errors="replace")
        parsed[page] = LinkCollector()
        parsed[page].feed(text)
        target = redirect_target(text)
        if target is not None:
            redirects[page] = unquote(urlsplit(urljoin(base + page, target)).path.removeprefix("/"))
    findings = []
    for page, collector in parsed.items():
        for href in sorted(set(collector.hrefs)):
            target = urlsplit(urljoin(base + page, href))
            if not target.fragment or f"{target.scheme}://{target.netloc}/" != base:
                continue
            target_page = unquote(target.path.removeprefix("/")) or "index.html"
            if target_page.endswith("/"):
                target_page += "index.html"
            target_page = redirects.get(target_page, target_page)  # rediraffe's stubs keep the #anchor
            anchors = parsed.get(target_page)
            if anchors is not None and unquote(target.fragment) not in anchors.ids:
                findings.append(Finding(page, f"link {href}", f"no anchor #{target.fragment} on {target_page}"))
    return findings


def _page_of(url: str, base: str) -> str:
    return (unquote(url.removeprefix(base)) or "index.html") if url.startswith(base) else url
