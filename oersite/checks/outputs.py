"""Notebook outputs: no error a reader would see, no script that calls another host, no page
older than its notebook."""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path
from urllib.parse import urlsplit

from oersite.checks.findings import Finding
from oersite.config import Course

_SKIPPED_ERROR_TAGS = {"raises-exception", "remove-output", "remove_output", "remove-cell", "remove_cell"}


def check_notebook_outputs(course: Course, site: Path) -> list[Finding]:
    """Error outputs a page shows, and pages older than their source.

    A page is stale when it was built from another version of its source file than
    the one there now (the digest the page carries), or when the outputs it shows
    were executed from other code or data than the notebook has now (the executor's
    cache key, ``oersite.execute``, differs from the one stored beside the executed
    copy in ``_build/.oersite/executed/``).
    """
    from oersite.build import executed_dir
    from oersite.execute import (
        cache_key,
        data_files,
        environment_fingerprint,
        executed_copy,
        executes,
        read_notebook,
        with_outputs,
    )
    from oersite.toc import read_pages

    environment: str | None = None
    data = data_files(course)
    findings = []
    for page in read_pages(course):
        shown = f"{page.docname}.html"
        source_name = course.relative(page.path)
        html_page = site / shown
        built_from = source_digest(html_page)
        if built_from is not None and built_from != hashlib.sha256(page.path.read_bytes()).hexdigest():
            findings.append(
                Finding(shown, source_name, f"built from an older version of {source_name}; run oersite build")
            )
            continue
        if not page.is_notebook:
            continue
        notebook_name = source_name
        if not html_page.is_file():
            findings.append(Finding(shown, notebook_name, "in the table of contents but not built; run oersite build"))
            continue
        notebook = read_notebook(course, page)
        executed, key_path = executed_copy(executed_dir(course), page)
        shows_executed = executes(course, page, notebook) and executed.is_file() and key_path.is_file()
        if built_from is None and page.path.stat().st_mtime_ns > html_page.stat().st_mtime_ns:
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
        # What the page shows: the cells (and their tags) as they are now, with the executed outputs.
        outputs_from = (
            with_outputs(notebook, json.loads(executed.read_text(encoding="utf-8"))) if shows_executed else notebook
        )
        findings.extend(error_outputs(outputs_from, shown))
        findings.extend(network_calls(outputs_from, shown))
    return findings


def source_digest(html_page: Path) -> str | None:
    """The digest of the source the page was built from (``oersite.sphinx_ext.add_source_digest``), if it says."""
    from oersite.sphinx_ext import SOURCE_DIGEST_META

    try:
        with html_page.open(encoding="utf-8") as page:
            head = page.read(65536).split("</head>", 1)[0]
    except OSError:
        return None
    found = re.search(rf'<meta name="{SOURCE_DIGEST_META}" content="([0-9a-f]{{64}})"', head)
    return found.group(1) if found else None


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


#: A URL in a script's string literal: another host, or this page's (``//host`` too).
_URL_LITERAL = r"[\"'`](?P<url>(?:https?:|wss?:)?//[^\"'`\s]+)[\"'`]"
#: Calls that reach a server from a script, as a reader's browser runs them: the start of the
#: call, up to its first argument.
NETWORK_CALLS = {
    "fetch": r"\bfetch\(\s*",
    "XMLHttpRequest": r"\.open\(\s*[\"'`][A-Za-z]+[\"'`]\s*,\s*",
    "WebSocket": r"\bnew\s+WebSocket\(\s*",
    "EventSource": r"\bnew\s+EventSource\(\s*",
    "an Image src": r"\.src\s*=\s*",
    "import()": r"\bimport\(\s*",
    "jQuery's ajax": r"\$\.(?:ajax|getJSON|get|post|getScript)\(\s*",
    "d3's loader": r"\bd3\.(?:json|csv|tsv|text|xml|html)\(\s*",
}
_NEEDS = {"XMLHttpRequest": "XMLHttpRequest", "an Image src": "Image"}
_INLINE_SCRIPT = re.compile(r"<script\b(?![^>]*\bsrc\s*=)[^>]*>(?P<code>.*?)</script\s*>", re.IGNORECASE | re.DOTALL)
_LOCAL_HOSTS = {"127.0.0.1", "localhost", "::1"}


def inline_scripts(output: dict) -> list[str]:
    """The scripts an output runs on its page: ``application/javascript``, inline ``<script>``s,
    and those of the map pages inside it (``srcdoc``, and base64 frames of an older Folium)."""
    from oersite.saved_maps import map_documents

    data = output.get("data", {})
    scripts = [_text(data["application/javascript"])] if "application/javascript" in data else []
    markup = _text(data.get("text/html", ""))
    for document in [markup, *map_documents(markup)]:
        scripts += [match.group("code") for match in _INLINE_SCRIPT.finditer(document)]
    return scripts


def calls_to_other_hosts(script: str) -> list[tuple[str, str]]:
    """(call, URL) for each call in ``script`` that reaches another host, its URL a literal or
    a variable given one; URLs the build points at the site's own copies do not count."""
    from oersite.assets import BOKEH_URL
    from oersite.hub.notebook_server import CDN_FILES
    from oersite.saved_maps import stand_in

    found = []
    for call, start in NETWORK_CALLS.items():
        if call in _NEEDS and _NEEDS[call] not in script:
            continue
        for match in re.finditer(rf"{start}(?:{_URL_LITERAL}|(?P<name>[A-Za-z_$][\w$]*)\b)", script):
            url = match.group("url")
            if url is None:
                given = re.search(rf"\b{re.escape(match.group('name'))}\s*=\s*{_URL_LITERAL}", script)
                url = given.group("url") if given else None
            if url is None:
                continue
            host = _host(url)
            if not host or host in _LOCAL_HOSTS or url in CDN_FILES or BOKEH_URL.match(url) or stand_in(url):
                continue
            found.append((call, url))
    return found


def network_calls(notebook: dict, page: str) -> list[Finding]:
    """Scripts in the outputs a reader of ``page`` sees that call another host.

    linkchecker and the remote files check see what a page's markup loads; a script's own
    ``fetch`` or ``WebSocket`` is only seen here.  Offline, behind a firewall or once that host is
    gone the output breaks, and the reader's browser tells that host who is reading.
    """
    findings = []
    for number, cell in enumerate(notebook.get("cells", []), start=1):
        if cell.get("cell_type") != "code" or _HIDDEN_OUTPUT_TAGS & set(cell.get("metadata", {}).get("tags", [])):
            continue
        calls = {
            (call, url)
            for output in cell.get("outputs", [])
            for script in inline_scripts(output)
            for call, url in calls_to_other_hosts(script)
        }
        for call, url in sorted(calls):
            host = _host(url)
            findings.append(
                Finding(
                    page,
                    f"cell {number}",
                    f"a script in its output calls {host} ({call} of {url}): offline or behind a firewall it "
                    "fails; ship the data with the course and load it from the site, or leave the call out",
                )
            )
    return findings


_HIDDEN_OUTPUT_TAGS = {"remove-output", "remove_output", "remove-cell", "remove_cell"}


def _text(value: str | list[str]) -> str:
    return value if isinstance(value, str) else "".join(value)


def _host(url: str) -> str | None:
    return urlsplit(url if not url.startswith("//") else "https:" + url).hostname
