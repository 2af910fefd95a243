"""The ``oersite`` command: declares commands, nothing more.

Each command loads the course's configuration once and calls one core
function.  Heavy imports (Sphinx, nbclient) happen inside the commands so
``oersite --help`` is instant.  Expected failures are ``OersiteError``s,
which Click prints as one line with exit status 1.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import click

from oersite import __version__

SOURCE = click.argument("source", default=".", type=click.Path(file_okay=False, path_type=Path), metavar="[SOURCE]")


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="oersite")
def main() -> None:
    """Publish a data-analysis course (Jupyter Book notebooks) as an Open Educational Resource.

    SOURCE is the course folder, the one holding _config.yml (default: here).
    """
    _decline_slow_optional_imports()


@main.command()
@SOURCE
@click.option(
    "--output",
    "-o",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Folder for the website (default: SOURCE/_build/html).",
)
@click.option(
    "--jobs", "-j", type=click.IntRange(min=0), default=None, help="Notebooks executed at once (0: one per core)."
)
@click.option("--strict", is_flag=True, help="Treat warnings as errors.")
def build(source: Path, output: Path | None, jobs: int | None, strict: bool) -> None:
    """Execute the course's notebooks and build its website."""
    from oersite.build import build_course
    from oersite.config import load_course

    console = _console()
    course = load_course(source, jobs=jobs)
    report = build_course(course, output, strict=strict, reporter=_ProgressLines(console, course))
    for warning in report.warnings:
        console.print(f"[yellow]warning:[/] {warning}", highlight=False)
    for page, versions in report.assets.bokeh_mismatches.items():
        console.print(
            f"[yellow]warning:[/] {page}: its plots were made with Bokeh {', '.join(versions)} but the site ships "
            f"BokehJS {report.assets.shipped_bokeh} (the installed bokeh); re-execute the notebook "
            "or install the Bokeh that made it",
            highlight=False,
        )
    if report.assets.remote:
        console.print("[yellow]These pages still load files from other hosts (oersite cannot ship them):[/]")
        for page, urls in report.assets.remote.items():
            for url in urls:
                console.print(f"  {page}: {url}", markup=False, highlight=False)
    index = report.output_dir / "index.html"
    executed, cached, stored = (report.count(s) for s in ("executed", "cached", "stored"))
    notebooks = f"{_plural(len(report.notebooks), 'notebook')}: {executed} executed, {cached} from cache"
    if stored:
        notebooks += f", {stored} with their saved outputs"
    if report.up_to_date:
        console.print("Nothing changed since the last build.", highlight=False)
    console.print(
        f"[green]Built[/] {_plural(len(report.pages), 'page')} ({notebooks}) in {report.seconds:.1f} s\n"
        f"Open {_shown(index)} or preview it with: oersite serve {_shown(course.root)}",
        highlight=False,
    )


@main.command()
@SOURCE
@click.option(
    "--output",
    "-o",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="The built website to serve (default: SOURCE/_build/html).",
)
@click.option(
    "--port",
    "-p",
    type=click.IntRange(0, 65535),
    default=8080,
    show_default=True,
    help="Port on 127.0.0.1 (0 picks a free one).",
)
def serve(source: Path, output: Path | None, port: int) -> None:
    """Preview the built website on http://127.0.0.1 (Ctrl-C stops)."""
    from oersite.build import default_output_dir
    from oersite.config import load_course
    from oersite.errors import OersiteError
    from oersite.serve import serve_folder

    site = output if output is not None else default_output_dir(load_course(source))
    if not (site / "index.html").is_file():
        raise OersiteError(f"{_shown(site)}: no built site here; run first: oersite build {_shown(source)}")
    serve_folder(site, port, announce=lambda url: click.echo(f"Serving {_shown(site)} at {url} (Ctrl-C stops)"))


def _decline_slow_optional_imports() -> None:
    """Keep this process from importing rfc3987_syntax, which costs 1.5 s of every build.

    jsonschema (imported by nbformat, myst-nb and Jupyter Book) imports it when
    installed, to check strings of the "iri" format, and it builds its grammars
    at import time.  No schema that oersite's libraries check uses that format,
    and jsonschema treats the module as optional, so this process declines it.
    Kernels and hubs are other processes and keep it.
    """
    sys.modules.setdefault("rfc3987_syntax", None)


class _ProgressLines:
    """Progress as plain lines: readable in a terminal, a CI log and a test alike."""

    def __init__(self, console, course) -> None:
        self.console = console
        self.course = course
        self.total = 0
        self.done = 0

    def planned(self, total: int, to_run: int) -> None:
        self.total = total
        if to_run:
            self.console.print(f"Executing {to_run} of {total} notebooks", markup=False, highlight=False)

    def started(self, page) -> None:
        self.console.print(f"  running  {self.course.relative(page.path)}", markup=False, highlight=False)

    def finished(self, result) -> None:
        self.done += 1
        took = f" ({result.seconds:.1f} s)" if result.status == "executed" else ""
        label = {"executed": "executed", "cached": "cached  ", "stored": "saved   "}[result.status]
        self.console.print(
            f"  [{self.done}/{self.total}] {label} {self.course.relative(result.page.path)}{took}",
            markup=False,
            highlight=False,
        )


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"


def _console():
    from rich.console import Console

    return Console(stderr=False, soft_wrap=True)


def _shown(path: Path) -> str:
    try:
        shown = os.path.relpath(path)
    except ValueError:
        return str(path)
    return shown if not shown.startswith("../../") else str(Path(path).resolve())
