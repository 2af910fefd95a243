"""Notebook outputs: no error a reader would see, no page older than its notebook."""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

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
