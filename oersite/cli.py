"""The ``oersite`` command: declares commands, nothing more.

Each command loads the course's configuration once and calls one core
function.  Heavy imports (Sphinx, nbclient) happen inside the commands so
``oersite --help`` is instant.  Expected failures are ``OersiteError``s,
which Click prints as one line with exit status 1.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import click

from oersite import __version__
from oersite.messages import plural, shown

SOURCE = click.argument("source", default=".", type=click.Path(file_okay=False, path_type=Path), metavar="[SOURCE]")


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="oersite")
def main() -> None:
    """Publish a data-analysis course (Jupyter Book notebooks) as an Open Educational Resource.

    SOURCE is the course folder, the one holding _config.yml (default: here).
    """
    _decline_slow_optional_imports()
    _keep_library_logging_out_of_the_terminal()


#: Set by a command whose process has nothing left to do once it returns (``run``).
_EXIT_AT_ONCE: list[bool] = [False]


def run() -> None:
    """The ``oersite`` command (``python -m oersite``, the installed script): ``main``, then the exit.

    After ``oersite build`` the process ends with ``os._exit`` once its output is flushed and
    its ``atexit`` handlers ran: the interpreter's teardown (freeing Sphinx's, Bokeh's and
    pandas' objects one by one, joining idle worker threads) took a few tenths of a second
    of every build and changes nothing on disk.  Errors keep Click's way: one line, exit 1.
    Other commands (servers, hubs) end as Python ends.
    """
    import atexit

    try:
        main()  # Click's standalone mode ends in SystemExit
        code: int = 0
    except SystemExit as exit_:
        if not _EXIT_AT_ONCE[0]:
            raise
        if exit_.code is None or isinstance(exit_.code, int):
            code = exit_.code or 0
        else:
            print(exit_.code, file=sys.stderr)  # what sys.exit("message") does
            code = 1
    if not _EXIT_AT_ONCE[0]:
        return
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # a closed pipe: nothing more can be said
            pass
    os._exit(code)


@main.command()
@click.argument("folder", type=click.Path(path_type=Path))
def new(folder: Path) -> None:
    """Start a course in FOLDER (new or empty): its pages, two lessons, a dataset and a commented _config.yml."""
    from oersite.new import new_course

    files = new_course(folder)
    click.echo(f"Wrote a new course in {shown(folder)} ({plural(len(files), 'file')}):")
    for path in files:
        click.echo(f"  {path.as_posix()}")
    go = "" if folder.resolve() == Path.cwd().resolve() else f"  cd {shown(folder)}\n"
    click.echo(
        f"\nNext:\n{go}  oersite serve        # build it, preview it, rebuild on every save\n"
        "The buttons' hubs pull the course from git: git init -b main && git add -A && git commit -m 'A new course'"
    )


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
@click.option(
    "--pdf", is_flag=True, help="Also print the whole course into one PDF (SOURCE/_build/pdf/), with Debian's chromium."
)
def build(source: Path, output: Path | None, jobs: int | None, strict: bool, pdf: bool) -> None:
    """Execute the course's notebooks and build its website."""
    from oersite.build import build_course, report_lines
    from oersite.config import load_course

    console = _console()
    _EXIT_AT_ONCE[0] = True  # (also after an error: its one line is printed first)
    course = load_course(source, jobs=jobs)
    try:
        report = build_course(course, output, strict=strict, reporter=_ProgressLines(console, course))
    except KeyboardInterrupt:
        # build_course stopped the kernels and released its lock on the way out. Exit now: the
        # executor's thread may still be noticing its dead kernels, and nothing of it is kept.
        console.print(
            "Stopped (Ctrl-C): kernels stopped, only finished notebooks cached; "
            "the next oersite build goes on from there",
            markup=False,
            highlight=False,
        )
        sys.stdout.flush()
        os._exit(130)
    styles = {"warning": "[yellow]warning:[/] ", "remote": "", "note": "", "done": ""}
    for kind, line in report_lines(report, course):
        console.print(styles[kind], end="", highlight=False)
        console.print(line, markup=False, highlight=False)
    if pdf:
        from oersite.pdf import make_course_pdf, pdf_lines

        printed = make_course_pdf(
            course,
            report.output_dir,
            strict=strict,
            progress=lambda line: console.print(line, markup=False, highlight=False),
        )
        for kind, line in pdf_lines(printed):
            console.print(styles[kind], end="", highlight=False)
            console.print(line, markup=False, highlight=False)


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
@click.option(
    "--watch/--no-watch",
    default=True,
    show_default=True,
    help="Build first, rebuild on every save and reload the open pages; --no-watch serves the site as built.",
)
@click.option(
    "--jobs", "-j", type=click.IntRange(min=0), default=None, help="Notebooks executed at once (0: one per core)."
)
def serve(source: Path, output: Path | None, port: int, watch: bool, jobs: int | None) -> None:
    """Preview the website on http://127.0.0.1, rebuilt on every save (Ctrl-C stops)."""
    from oersite.build import default_output_dir
    from oersite.config import load_course
    from oersite.errors import OersiteError
    from oersite.serve import serve_folder

    course = load_course(source, jobs=jobs)
    site = (output if output is not None else default_output_dir(course)).resolve()
    if not watch:
        if not (site / "index.html").is_file():
            raise OersiteError(f"{shown(site)}: no built site here; run first: oersite build {shown(source)}")
        serve_folder(site, port, announce=lambda url: click.echo(f"Serving {shown(site)} at {url} (Ctrl-C stops)"))
        return
    from oersite.kernels import SpareKernels
    from oersite.preview import watch_and_serve

    console = _console()
    kernels = SpareKernels()
    try:
        watch_and_serve(
            course.root,
            site,
            port,
            lambda: _preview_build(console, source, site, jobs, kernels),
            announce=lambda url: console.print(
                f"Previewing {shown(course.root)} at {url}: rebuilt on every save (Ctrl-C stops)",
                markup=False,
                highlight=False,
            ),
            say=lambda line: console.print(line, markup=False, highlight=False),
            ignored=[site],
        )
    finally:
        kernels.close()


def _preview_build(console, source: Path, site: Path, jobs: int | None, kernels) -> str | None:
    """One build of the preview; its problem as one line (printed too), or None."""
    from oersite.build import build_course
    from oersite.config import load_course
    from oersite.errors import OersiteError

    started = time.perf_counter()
    try:
        course = load_course(source, jobs=jobs)
        # Figure images wait for oersite build: a save reloads its page without Chromium's seconds.
        report = build_course(
            course,
            site,
            reporter=_ProgressLines(console, course),
            figure_images=False,
            wait_for_other_builds=True,
            kernels=kernels,
        )
    except OersiteError as error:
        console.print("[red]error:[/] ", end="", highlight=False)
        console.print(f"{error.format_message()} (the preview keeps the last good site)", markup=False, highlight=False)
        return error.format_message()
    for warning in report.warnings:
        console.print("[yellow]warning:[/] ", end="", highlight=False)
        console.print(warning, markup=False, highlight=False)
    executed = report.count("executed")
    ran = f", {plural(executed, 'notebook')} executed" if executed else ""
    what = "Up to date" if report.up_to_date else "Built"
    console.print(f"{what} in {time.perf_counter() - started:.1f} s{ran}", markup=False, highlight=False)
    return None


def _keep_library_logging_out_of_the_terminal() -> None:
    """Libraries' log records go nowhere; oersite says what matters in its own lines.

    Some libraries configure the root logger when imported (a11y_pygments,
    which Jupyter Book's theme loads, calls ``logging.basicConfig(level=INFO)``),
    after which nbclient's and watchfiles' chatter would reach the user's
    terminal.  A handler on the root logger makes such ``basicConfig`` calls do
    nothing.  Failures reach the user as oersite's one-line errors.
    """
    import logging

    root = logging.getLogger()
    if not root.handlers:
        root.addHandler(logging.NullHandler())


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


def _console():
    from rich.console import Console

    return Console(stderr=False, soft_wrap=True)


OUTPUT = click.option(
    "--output",
    "-o",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="The built website (default: SOURCE/_build/html).",
)


@main.command()
@SOURCE
@OUTPUT
@click.option("--live", is_flag=True, help="Also ask each hub the launch links point at whether it answers.")
@click.option(
    "--accessibility",
    is_flag=True,
    help="Also audit every page in Chromium with axe-core (WCAG 2.1 A and AA); needs Debian's chromium.",
)
def check(source: Path, output: Path | None, live: bool, accessibility: bool) -> None:
    """Check the built website: links, remote files, launch links, notebook outputs (and accessibility)."""
    from oersite.build import default_output_dir
    from oersite.checks import check_site, summary
    from oersite.config import load_course
    from oersite.errors import CheckError

    course = load_course(source)
    site = output if output is not None else default_output_dir(course)
    report = check_site(course, site, live=live, accessibility=accessibility)
    for finding in report.findings:
        click.echo(finding.line())
    if report.errors:
        raise CheckError(f"{summary(report)}; fix them, run oersite build, then oersite check again")
    click.echo(summary(report))


@main.command()
@SOURCE
@OUTPUT
@click.option("--to-git", "remote", metavar="REMOTE", default=None, help="Publish as a commit on a git remote.")
@click.option("--branch", default=None, help="The remote's branch for the site (default: gh-pages).")
@click.option(
    "--to-dir", "folder", metavar="DIR", default=None, help="Publish into a web server's folder, replaced at once."
)
@click.option("--cname", default=None, help="Custom domain for a CNAME file (GitHub Pages).")
@click.option("--force", is_flag=True, help="Publish even when the checks find errors.")
@click.option("--rollback", is_flag=True, help="Put back the version published before the current one instead.")
def publish(
    source: Path,
    output: Path | None,
    remote: str | None,
    branch: str | None,
    folder: str | None,
    cname: str | None,
    force: bool,
    rollback: bool,
) -> None:
    """Check the built website, then publish it (target from the flags or oersite.publish in _config.yml)."""
    from oersite.build import default_output_dir
    from oersite.checks import summary
    from oersite.config import load_course
    from oersite.publish import RECORD_FILE, publish_checked, publish_target, rollback_site

    course = load_course(source)
    target = publish_target(course, to_git=remote, to_dir=folder, branch=branch, cname=cname)
    if rollback:
        result = rollback_site(course, target)
        click.echo(f"Rolled {target.describe()} {result.detail}\nLogged in {shown(result.log_path)}")
        return

    def announce(report) -> None:
        for finding in report.findings:
            click.echo(finding.line())
        if report.errors and force:
            click.secho(
                f"PUBLISHING DESPITE {plural(len(report.errors), 'ERROR').upper()} (--force): readers will meet them",
                fg="red",
                bold=True,
                err=True,
            )
        elif not report.errors:
            click.echo(summary(report))

    site = output if output is not None else default_output_dir(course)
    if course.license is None and force:
        click.secho(
            "PUBLISHING WITHOUT A LICENCE (--force): readers cannot tell what they may do with the course; "
            f"set oersite.license.id in {shown(course.config_path)}",
            fg="red",
            bold=True,
            err=True,
        )
    result = publish_checked(course, site, target, force=force, announce=announce)
    click.echo(
        f"Published to {target.describe()}: {result.detail}\n"
        f"Record: {RECORD_FILE} in the site; log: {shown(result.log_path)}"
    )


from oersite.hub.cli import hub  # noqa: E402

main.add_command(hub)
