"""Writing a course: ``oersite new`` starts one, ``oersite serve`` follows the author's saves.

Real processes throughout: ``oersite new`` and ``oersite build``/``check`` as an
instructor runs them, and ``oersite serve`` watching a course on disk while
Debian's Chromium has its pages open.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time
from pathlib import Path

import nbformat
import pytest
from support.browser import chromium
from support.cli import oersite
from support.coursehelpers import make_course, tree_digest, write_notebook
from support.preview import Preview
from support.processes import kernels_of
from support.user_site import installed_module

from oersite.new import starter_files


def git(course: Path, *args: str) -> None:
    environment = {
        **os.environ,
        "GIT_AUTHOR_NAME": "An instructor",
        "GIT_AUTHOR_EMAIL": "instructor@example.edu",
        "GIT_COMMITTER_NAME": "An instructor",
        "GIT_COMMITTER_EMAIL": "instructor@example.edu",
    }
    subprocess.run(["git", "-C", str(course), *args], check=True, capture_output=True, env=environment)


# oersite new.


@pytest.mark.slow
def test_a_new_course_builds_and_passes_the_checks_in_a_git_repository(tmp_path):
    course = tmp_path / "my-course"
    made = oersite("new", str(course), process=True)
    assert made.exit_code == 0, made.stderr
    assert f"cd {course}" in made.stdout and "oersite serve" in made.stdout
    written = sorted(path.relative_to(course) for path in course.rglob("*") if path.is_file())
    assert written == starter_files()
    assert {".gitignore", "_config.yml", "_toc.yml", "intro.md", "data/cities.csv"} <= {p.as_posix() for p in written}
    config = (course / "_config.yml").read_text()
    for section in ("launch:", "data:", "publish:"):
        assert re.search(rf"^  {section}", config, re.M), section
    assert "_build/" in (course / ".gitignore").read_text()

    git(course, "init", "--quiet", "--initial-branch", "main")
    git(course, "add", "-A")
    git(course, "commit", "--quiet", "-m", "A new course")
    built = oersite("build", str(course), "--strict", process=True)
    assert built.exit_code == 0, built.stdout + built.stderr
    assert "2 notebooks: 2 executed" in built.stdout
    checked = oersite("check", str(course), process=True)
    assert checked.exit_code == 0, checked.stdout + checked.stderr
    # Both lessons drew what they are about, with the buttons.
    chart = (course / "_build/html/lessons/chart.html").read_text()
    assert "Bokeh.embed" in chart and "Try now" in chart and "Open in hub" in chart
    assert "folium" in (course / "_build/html/lessons/map.html").read_text().lower()
    # The build's own output stays out of git.
    status = subprocess.run(["git", "-C", str(course), "status", "--porcelain"], capture_output=True, text=True)
    assert status.stdout == ""


def test_new_refuses_a_folder_that_is_not_empty_and_writes_nothing(tmp_path):
    course = tmp_path / "existing"
    course.mkdir()
    (course / "notes.md").write_text("mine\n")
    before = tree_digest(course)
    result = oersite("new", str(course), timeout=60, process=True)
    assert result.exit_code == 1
    assert result.stderr.strip() == (
        f"Error: {course}: not empty; oersite new writes only into a new or empty folder (nothing was written)"
    )
    assert tree_digest(course) == before
    assert [path.name for path in tmp_path.iterdir()] == ["existing"]  # no scratch folder left beside it


def test_new_writes_into_an_empty_folder(tmp_path):
    course = tmp_path / "empty"
    course.mkdir()
    result = oersite("new", str(course), timeout=60, process=True)
    assert result.exit_code == 0, result.stderr
    assert (course / "_config.yml").is_file()
    assert sorted(path.name for path in tmp_path.iterdir()) == ["empty"]


# oersite serve.


@pytest.fixture
def preview(tmp_path):
    course = make_course(tmp_path / "course", {"lessons/first.ipynb": ["print('hello from the first version')"]})
    running = Preview(course)
    try:
        first = running.wait_for_build()
        assert first.startswith("Built in"), running.said
        yield running
    finally:
        running.stop()


def save(path: Path, text: str) -> None:
    """As an editor saves: the new text in place."""
    path.write_text(text, encoding="utf-8")


def edit_code_cell(notebook: Path, source: str) -> None:
    document = nbformat.read(notebook, as_version=4)
    next(cell for cell in document.cells if cell.cell_type == "code").source = source
    nbformat.write(document, notebook)


def wait_in_browser(page, text: str, seconds: float = 60) -> None:
    page.wait_for_function(
        "t => document.body && document.body.innerText.includes(t)", arg=text, timeout=seconds * 1000
    )


@pytest.mark.slow
def test_a_saved_page_and_a_saved_notebook_reach_the_open_browser_page(preview):
    course = preview.course
    assert "hello from the first version" in preview.page("lessons/first.html")
    with chromium() as browser:
        page = browser.new_page()
        page.goto(preview.url + "intro.html")
        assert "An introduction." in page.inner_text("body")
        reloaded = []
        page.on("load", lambda: reloaded.append(True))

        save(course / "intro.md", "# Welcome\n\nA better introduction, saved just now.\n")
        wait_in_browser(page, "A better introduction, saved just now.")
        assert reloaded, "the page did not reload by itself"
        assert "A better introduction" in preview.page("intro.html")
        assert preview.wait_for_build().startswith("Built in")

        page.goto(preview.url + "lessons/first.html")
        edit_code_cell(course / "lessons/first.ipynb", "print('hello from the second version')")
        wait_in_browser(page, "hello from the second version")
        assert "1 notebook executed" in preview.wait_for_build()
    # Only oersite's own lines reach the terminal: no library's log records (a theme module turns
    # the root logger on at import; nbclient and watchfiles would then talk on every rebuild).
    assert not [line for line in preview.said if " INFO " in line or re.match(r"# \d{4}-\d\d-\d\d", line)]
    # The built files themselves carry no preview script: only what the preview serves does.
    for built in (course / "_build/html").rglob("*.html"):
        assert "_oersite-preview" not in built.read_text(encoding="utf-8"), built
    assert "_oersite-preview/reload.js" in preview.page("intro.html")


@pytest.mark.slow
def test_a_broken_save_shows_its_error_and_keeps_the_last_good_site_until_it_is_fixed(preview):
    course = preview.course
    notebook = course / "lessons/first.ipynb"
    with chromium() as browser:
        page = browser.new_page()
        page.goto(preview.url + "lessons/first.html")

        edit_code_cell(notebook, "raise ValueError('the data is wrong')")
        said = preview.wait_for_build()
        assert said.startswith("error: lessons/first.ipynb, cell 2: ValueError: the data is wrong"), said
        assert "Traceback" not in "\n".join(preview.said)
        banner = page.wait_for_selector("#oersite-preview-problem[role=alert]", timeout=30_000)
        assert "lessons/first.ipynb, cell 2: ValueError: the data is wrong" in banner.inner_text()
        assert "hello from the first version" in page.inner_text("body")  # the last good build, still there
        assert "hello from the first version" in preview.page("lessons/first.html")

        # Bad YAML in _config.yml: the same, with the file named.
        config = course / "_config.yml"
        good_config = config.read_text()
        save(config, good_config + "execute: [unclosed\n")
        said = preview.wait_for_build()
        assert said.startswith("error: ") and "_config.yml" in said, said
        page.wait_for_function(
            "() => document.getElementById('oersite-preview-problem').innerText.includes('_config.yml')",
            timeout=30_000,
        )

        save(config, good_config)
        edit_code_cell(notebook, "print('fixed')")
        wait_in_browser(page, "fixed")
        assert page.query_selector("#oersite-preview-problem") is None
    preview.wait_for_line(lambda text: text.startswith("Built in"))


@pytest.mark.slow
def test_a_save_during_a_rebuild_is_seen_by_the_next_one(preview):
    course = preview.course
    edit_code_cell(course / "lessons/first.ipynb", "import time; time.sleep(3); print('slow change')")
    preview.wait_for_line(lambda text: "running  lessons/first.ipynb" in text, 60)
    save(course / "intro.md", "# Welcome\n\nSaved while the notebook ran.\n")
    preview.wait_for_build()
    deadline = time.monotonic() + 60
    while "Saved while the notebook ran." not in preview.page("intro.html"):
        assert time.monotonic() < deadline, preview.said
        time.sleep(0.5)
    assert "slow change" in preview.page("lessons/first.html")


@pytest.mark.slow
def test_build_output_and_editor_files_start_no_rebuild_and_waiting_burns_no_cpu(preview):
    course = preview.course
    preview.new_lines(1)
    (course / "_build" / "html" / "stray.html").write_text("<p>written by a build</p>")
    (course / "_build" / "scratch.txt").write_text("x")
    for name in (".#intro.md", "intro.md~", ".intro.md.swp", "4913"):
        (course / name).write_text("an editor's")
    (course / ".ipynb_checkpoints").mkdir()
    (course / ".ipynb_checkpoints" / "first-checkpoint.ipynb").write_text("{}")
    assert preview.new_lines(3) == []  # no rebuild: it would say "Up to date in ..."

    # Nothing to do: the process waits on the kernel's notifications, it does not poll.
    def cpu_seconds() -> float:
        fields = Path(f"/proc/{preview.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    before = cpu_seconds()
    time.sleep(5)
    assert cpu_seconds() - before < 0.25  # a polling loop burns whole seconds here

    # And a real change still rebuilds.
    write_notebook(course / "lessons/first.ipynb", "print('still watching')", title="First")
    assert preview.wait_for_build().startswith("Built in")
    assert "still watching" in preview.page("lessons/first.html")


@pytest.mark.slow
def test_each_save_runs_its_notebook_in_a_fresh_kernel_in_the_notebooks_folder(tmp_path):
    # Each notebook imports a module of the same name from its own folder, and says whether a
    # name it defines at the end already existed: a kernel used twice, or left in another
    # notebook's folder, shows up on the page.
    cells = [
        "import os, helper\nprint('working in', os.path.basename(os.getcwd()), 'with', helper.WHERE)",
        "print('defined before:', 'remembered' in dir())",
        "remembered = 'from an earlier run'",
    ]
    notebooks = {"lessons": "lessons/first", "extra": "extra/second"}
    course = make_course(tmp_path / "course", {f"{path}.ipynb": cells for path in notebooks.values()})
    for folder in notebooks:
        (course / folder / "helper.py").write_text(f"WHERE = 'the {folder} helper'\n")
    running = Preview(course)

    def shows_a_fresh_run(folder: str, saved: str = "") -> None:
        page = running.page(f"{notebooks[folder]}.html")
        assert f"working in {folder} with the {folder} helper" in page
        assert "defined before: False" in page and "defined before: True" not in page
        assert saved in page

    try:
        assert running.wait_for_build().startswith("Built in"), running.said
        shows_a_fresh_run("lessons")
        shows_a_fresh_run("extra")
        # One save at a time: the kernel started ahead during a run of one folder's notebook
        # runs the next save, the other folder's, and the same notebook again after that.
        for number, folder in enumerate(["lessons", "extra", "lessons", "lessons"]):
            write_notebook(course / f"{notebooks[folder]}.ipynb", *cells, f"print('save {number}')", title="Again")
            said = running.wait_for_build()
            assert said.startswith("Built in") and "1 notebook executed" in said, running.said
            shows_a_fresh_run(folder, f"save {number}")
        # Kernels started ahead wait for the next save; when the preview stops, they stop too.
        waiting = kernels_of(running.process.pid)
        assert waiting, "no kernel was started ahead"
        running.process.send_signal(signal.SIGINT)  # Ctrl-C
        running.process.wait(timeout=30)
        assert [pid for pid in waiting if Path(f"/proc/{pid}").exists()] == []
    finally:
        running.stop()


def test_the_next_save_finds_its_libraries_imported_and_the_page_still_shows_a_fresh_run(tmp_path):
    # Two installed libraries (a user site of the preview's own): one notes each time it is
    # imported, the other prints as it is imported, which a fresh kernel's first cell shows.
    imports = tmp_path / "imports.log"
    installed_module(
        tmp_path,
        "lesson_library",
        "import os, time\nIMPORTED_AT = time.time()\n"
        "with open(os.environ['LESSON_IMPORTS'], 'a') as log:\n    log.write(f'{IMPORTED_AT!r}\\n')\n",
    )
    installed = installed_module(tmp_path, "chatty_library", "print('chatty_library says hello')\n")
    quiet = ["import lesson_library", "print('imported at', repr(lesson_library.IMPORTED_AT))", "print(sorted(dir()))"]
    chatty = ["import chatty_library", "print('ran')"]
    course = make_course(tmp_path / "course", {"lessons/quiet.ipynb": quiet, "lessons/chatty.ipynb": chatty})
    environment = {**installed, "LESSON_IMPORTS": str(imports)}
    running = Preview(course, environment)

    def save_and_show(name: str, cells: list[str], number: int) -> tuple[float, str]:
        saved = time.time()
        write_notebook(course / f"lessons/{name}.ipynb", *cells, f"print('save {number}')", title=name.title())
        said = running.wait_for_build()
        assert said.startswith("Built in") and "1 notebook executed" in said, running.said
        page = running.page(f"lessons/{name}.html")
        assert f"save {number}" in page
        return saved, page

    def imported_at(page: str) -> float:
        return float(re.search(r"imported at (\d+\.\d+)", page).group(1))

    def import_times(at_least: int) -> list[float]:
        deadline = time.monotonic() + 60
        while len(times := [float(line) for line in imports.read_text().split()]) < at_least:
            assert time.monotonic() < deadline, f"the library was imported {len(times)} times, not {at_least}"
            time.sleep(0.05)
        return times

    try:
        assert running.wait_for_build().startswith("Built in"), running.said
        names = re.search(r"\[&#39;In&#39;.*?\]", running.page("lessons/quiet.html")).group(0)
        assert len(import_times(1)) == 1, "the first build runs both notebooks, and imports nothing ahead"
        saved, page = save_and_show("quiet", quiet, 1)
        assert imported_at(page) > saved, "the first save's kernel was started before anyone knew the notebook"
        for number in (2, 3):
            # The kernel waiting for this save imported the library after the last one ran.
            ahead = import_times(number + 1)[number]
            saved, page = save_and_show("quiet", quiet, number)
            assert imported_at(page) == ahead < saved, f"save {number}: the library was not imported ahead"
            assert names in page, "importing ahead left a name in the notebook's namespace"
        for number in (4, 5):
            _saved, page = save_and_show("chatty", chatty, number)
            assert "chatty_library says hello" in page, f"save {number}: the import's output is missing"
    finally:
        running.stop()
