"""The site is the course as it is now: prose edits, removed pages, older notebooks, two builds at once.

Each test builds a fixture book of ``tests/books/`` (copied, never built in place) the way an
author does, changes it the way an author does, and reads what a reader would get.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
from pathlib import Path

import nbformat
import pytest
import yaml
from bs4 import BeautifulSoup
from support.cli import assert_one_line_error, oersite
from support.coursehelpers import tree_digest
from support.preview import Preview
from support.publish_courses import git

BOOKS = Path(__file__).resolve().parent / "books"
#: Every book in this repository a test builds: the fixture books, and the course ``oersite new`` starts.
ALL_BOOKS = {
    **{path.name: path for path in sorted(BOOKS.iterdir()) if (path / "_toc.yml").is_file()},
    "starter": Path(__file__).resolve().parent.parent / "oersite" / "starter",
}


def book(name: str, where: Path) -> Path:
    """A copy of the book ``name`` (``ALL_BOOKS``) as an author's own git repository."""
    root = where / name
    shutil.copytree(ALL_BOOKS[name], root)
    (root / ".gitignore").write_text("_build/\n")
    git(root, "init", "--quiet", "--initial-branch", "main")
    git(root, "add", ".")
    git(root, "commit", "--quiet", "-m", "course")
    return root


def page(site: Path, name: str) -> BeautifulSoup:
    return BeautifulSoup((site / name).read_text(encoding="utf-8"), "html.parser")


def edit_prose(root: Path) -> None:
    """What an author changes without touching code: markdown, a title, a cell's tags and its alt."""
    lesson = root / "lesson.ipynb"
    notebook = nbformat.read(lesson, as_version=4)
    notebook.cells[0].source = "# Lesson after the edit"
    notebook.cells[1].source = "Prose after the edit."
    notebook.cells[2].metadata["tags"] = ["remove-input"]
    notebook.cells[3].metadata["alt"] = "Alt after the edit"
    nbformat.write(notebook, lesson)
    story = root / "story.md"
    story.write_text(story.read_text().replace("Story prose before the edit.", "Story prose after the edit."))


def assert_prose_edited(site: Path) -> None:
    lesson = page(site, "lesson.html")
    text = lesson.get_text()
    assert "Prose after the edit." in text and "Prose before the edit." not in text
    assert "Lesson after the edit" in lesson.title.get_text()
    assert "tagged cell output" in text  # the output is still shown ...
    assert 'print("tagged cell output")' not in text  # ... without its input, as the new tag says
    assert [figure["data-oersite-alt"] for figure in lesson.select("[data-oersite-alt]")] == ["Alt after the edit"]
    story = page(site, "story.html").get_text()
    assert "Story prose after the edit." in story and "42" in story


@pytest.mark.slow
def test_a_prose_edit_reaches_the_page_without_executing_again(tmp_path):
    root = book("prose", tmp_path)
    first = oersite("build", root)
    assert first.exit_code == 0, first.output
    assert "2 executed" in first.output
    edit_prose(root)

    second = oersite("build", root)
    assert second.exit_code == 0, second.output
    assert "0 executed, 2 from cache" in second.output
    assert_prose_edited(root / "_build/html")


@pytest.mark.slow
def test_a_removed_page_leaves_the_site_and_is_not_published(tmp_path):
    root = book("prose", tmp_path)
    assert oersite("build", root).exit_code == 0
    site = root / "_build/html"
    built = {path.relative_to(site).as_posix() for path in site.rglob("*")}
    assert {"extra.html", "story.html", "_sources/extra.md"} <= built

    toc = yaml.safe_load((root / "_toc.yml").read_text())
    toc["chapters"] = [chapter for chapter in toc["chapters"] if chapter["file"] == "lesson"]
    (root / "_toc.yml").write_text(yaml.safe_dump(toc))  # extra.md stays on disk, out of the book
    (root / "story.md").unlink()  # story.md is gone altogether
    git(root, "commit", "--quiet", "-am", "fewer pages")
    rebuilt = oersite("build", root)
    assert rebuilt.exit_code == 0, rebuilt.output
    left = sorted(p.relative_to(site).as_posix() for p in site.rglob("*") if "extra" in p.name or "story" in p.name)
    assert left == []
    assert "extra.html" not in (site / "lesson.html").read_text()
    assert "story.html" not in (site / "index.html").read_text()

    published = tmp_path / "www"
    result = oersite("publish", root, "--to-dir", published)
    assert result.exit_code == 0, result.output
    assert not (published / "extra.html").exists() and not (published / "story.html").exists()
    assert (published / "lesson.html").is_file()


@pytest.mark.slow
def test_a_removed_page_becomes_its_redirect_in_the_same_build(tmp_path):
    """sphinxext-rediraffe writes no redirect where a page's HTML is: the leftover must go first."""
    root = book("prose", tmp_path)
    assert oersite("build", root).exit_code == 0
    toc = yaml.safe_load((root / "_toc.yml").read_text())
    toc["chapters"] = [chapter for chapter in toc["chapters"] if chapter["file"] != "extra"]
    (root / "_toc.yml").write_text(yaml.safe_dump(toc))
    config = yaml.safe_load((root / "_config.yml").read_text())
    config["sphinx"] = {
        "extra_extensions": ["sphinxext.rediraffe"],
        "config": {"rediraffe_redirects": {"extra.md": "intro.md"}},
    }
    (root / "_config.yml").write_text(yaml.safe_dump(config))
    rebuilt = oersite("build", root)
    assert rebuilt.exit_code == 0, rebuilt.output
    assert "already exists" not in rebuilt.output, rebuilt.output
    stub = (root / "_build/html/extra.html").read_text()
    assert 'http-equiv="refresh"' in stub and "intro.html" in stub and "A page the author takes out" not in stub


def test_a_notebook_nbformat_repairs_is_built_with_one_warning_and_left_as_it_was(tmp_path):
    """Unit level: the read, its one warning, the file untouched (no build)."""
    from oersite.config import load_course
    from oersite.execute import read_notebooks
    from oersite.toc import read_pages

    root = book("repairable", tmp_path)
    before = tree_digest(root)
    course = load_course(root)
    warnings: list[str] = []
    notebooks = read_notebooks(course, read_pages(course), warn=warnings.append)
    (notebook,) = notebooks.values()
    assert [cell.cell_type for cell in notebook.cells] == ["markdown", "markdown", "code"]
    assert "outputs" not in notebook.cells[1]
    nbformat.validate(notebook)  # valid for its version (4.4: cells without ids)
    assert len(warnings) == 1, warnings
    assert warnings[0].startswith("old.ipynb, cell 2: ") and "execution_count" in warnings[0]
    assert tree_digest(root) == before


def test_cells_without_required_fields_or_ids_are_repaired_and_named():
    from oersite.execute import repair_cells

    notebook = {
        "nbformat": 4,
        "nbformat_minor": 5,
        "metadata": {},
        "cells": [
            {"cell_type": "markdown", "id": "a", "metadata": {}, "source": "# Title"},
            {"cell_type": "code", "id": "a", "source": "1 + 1"},
            {"cell_type": "raw", "metadata": {}, "source": ""},
            {"cell_type": "markdown", "id": "not an id!", "metadata": {}, "source": ""},
        ],
    }
    repairs = repair_cells(notebook)
    assert sorted(repairs) == [2, 3, 4]
    assert "'execution_count', 'metadata', 'outputs'" in repairs[2] and "id" in repairs[2]
    nbformat.validate(nbformat.from_dict(notebook))
    assert len({cell["id"] for cell in notebook["cells"]}) == 4


def test_strict_refuses_a_notebook_that_needs_repair_in_one_line_and_writes_nothing(tmp_path):
    root = book("repairable", tmp_path)
    before = tree_digest(root)
    result = oersite("build", root, "--strict")
    assert_one_line_error(result, "old.ipynb, cell 2", "--strict")
    assert len(result.output.strip().splitlines()) == 1, result.output
    assert tree_digest(root) == before and not (root / "_build").exists()


def test_a_file_that_is_no_notebook_is_still_an_error(tmp_path):
    root = book("repairable", tmp_path)
    (root / "old.ipynb").write_text(json.dumps({"cells": [{"cell_type": "poem", "source": "roses"}], "nbformat": 4}))
    assert_one_line_error(oersite("build", root), "old.ipynb", "not a valid Jupyter notebook")


@pytest.mark.slow
def test_a_repairable_notebook_builds_with_jupyter_book_and_with_oersite(tmp_path):
    jupyter_book = jupyter_book_build(book("repairable", tmp_path / "jb"))
    assert "Saved by an older tool" in (jupyter_book / "old.html").read_text()

    root = book("repairable", tmp_path / "oersite")
    before = tree_digest(root)
    result = oersite("build", root)
    assert result.exit_code == 0, result.output
    assert "warning: old.ipynb, cell 2: " in result.output
    lesson = page(root / "_build/html", "old.html").get_text()
    assert "This cell was a code cell once" in lesson and "42" in lesson
    assert tree_digest(root) == before  # repaired in memory, never written back


def jupyter_book_build(root: Path) -> Path:
    """Build ``root`` with Jupyter Book 1 itself; its site folder."""
    done = subprocess.run(
        [shutil.which("jupyter-book") or "jupyter-book", "build", str(root)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return root / "_build/html"


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(ALL_BOOKS))
def test_every_fixture_book_jupyter_book_builds_oersite_builds(tmp_path, name):
    jupyter_book_build(book(name, tmp_path / "jb"))
    root = book(name, tmp_path / "oersite")
    result = oersite("build", root)
    assert result.exit_code == 0, result.output


@pytest.mark.slow
def test_check_finds_a_page_built_from_an_older_version_of_its_notebook(tmp_path):
    root = book("prose", tmp_path)
    assert oersite("build", root).exit_code == 0
    assert oersite("check", root).exit_code == 0
    lesson = root / "lesson.ipynb"
    built_at = (root / "_build/html/lesson.html").stat().st_mtime_ns
    notebook = nbformat.read(lesson, as_version=4)
    notebook.cells[1].source = "Prose after the edit."  # prose only: the outputs still belong to the code
    nbformat.write(notebook, lesson)
    # As a checkout or a copy that keeps times can leave it: the newer text with an older time.
    os.utime(lesson, ns=(built_at - 10**9, built_at - 10**9))
    result = oersite("check", root)
    assert result.exit_code == 1, result.output
    assert "lesson.html" in result.output and "older version" in result.output


def sleeping_book(where: Path, pid_file: Path) -> Path:
    """The prose book whose lesson says its kernel's pid, then runs for a minute."""
    root = book("prose", where)
    lesson = root / "lesson.ipynb"
    notebook = nbformat.read(lesson, as_version=4)
    notebook.cells[
        2
    ].source = f"import os, pathlib, time\npathlib.Path({str(pid_file)!r}).write_text(str(os.getpid()))\ntime.sleep(60)"
    nbformat.write(notebook, lesson)
    return root


def wait_for(condition, seconds: float, what: str):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        found = condition()
        if found:
            return found
        time.sleep(0.1)
    raise AssertionError(f"not within {seconds} s: {what}")


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    return state != "Z"


@pytest.mark.slow
def test_a_second_build_says_one_is_running_and_ctrl_c_stops_the_kernels(tmp_path):
    root = book("prose", tmp_path)
    assert oersite("build", root).exit_code == 0  # the last good site
    good = (root / "_build/html/lesson.html").read_text()
    original = (root / "lesson.ipynb").read_bytes()
    pid_file = tmp_path / "kernel.pid"
    lesson = sleeping_book(tmp_path / "sleeping", pid_file) / "lesson.ipynb"
    shutil.copy2(lesson, root / "lesson.ipynb")

    first = subprocess.Popen(
        [sys.executable, "-m", "oersite", "build", str(root)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,  # its own process group, as a terminal's foreground job
    )
    try:
        kernel = int(wait_for(lambda: pid_file.is_file() and pid_file.read_text(), 120, "the kernel started"))
        second = subprocess.run(
            [sys.executable, "-m", "oersite", "build", str(root)], capture_output=True, text=True, timeout=60
        )
        assert second.returncode == 1, second.stdout + second.stderr
        (said,) = (second.stdout + second.stderr).strip().splitlines()
        assert "running" in said and str(first.pid) in said

        os.killpg(first.pid, signal.SIGINT)  # Ctrl-C
        stopped = time.monotonic()
        wait_for(lambda: not alive(kernel), 2, "the kernel stopped after Ctrl-C")
        assert time.monotonic() - stopped <= 2
        output, _ = first.communicate(timeout=30)
    finally:
        if first.poll() is None:
            os.killpg(first.pid, signal.SIGKILL)
    assert first.returncode == 130, output
    assert "Traceback" not in output
    assert output.strip().splitlines()[-1].startswith(("Stopped", "Error: Stopped")), output
    assert (root / "_build/html/lesson.html").read_text() == good  # the last good site, untouched
    assert not list((root / "_build").rglob("*.lock"))

    (root / "lesson.ipynb").write_bytes(original)  # the cache is consistent: back to what was built
    again = oersite("build", root)
    assert again.exit_code == 0, again.output
    assert "0 executed, 2 from cache" in again.output


@pytest.mark.slow
def test_the_preview_shows_prose_edits_and_follows_removals(tmp_path):
    root = book("prose", tmp_path)
    preview = Preview(root)
    try:
        assert preview.wait_for_build().startswith("Built in"), preview.said
        assert "Prose before the edit." in preview.page("lesson.html")
        edit_prose(root)
        rebuilt = preview.wait_for_build()
        assert rebuilt.startswith("Built in") and "executed" not in rebuilt, preview.said
        assert_prose_edited(root / "_build/html")
        assert "Prose after the edit." in preview.page("lesson.html")

        toc = yaml.safe_load((root / "_toc.yml").read_text())
        toc["chapters"] = [chapter for chapter in toc["chapters"] if chapter["file"] != "extra"]
        (root / "_toc.yml").write_text(yaml.safe_dump(toc))
        wait_for(lambda: status(preview, "extra.html") == 404, 120, f"extra.html gone; the preview said {preview.said}")
    finally:
        preview.stop()


def status(preview, path: str) -> int:
    try:
        preview.page(path)
    except urllib.error.HTTPError as error:
        return error.code
    return 200


def test_a_stale_lock_of_a_dead_build_is_taken_over(tmp_path):
    from oersite.build import build_lock

    folder = tmp_path / "_build"
    folder.mkdir()
    dead = subprocess.Popen(["true"])
    dead.wait()
    (folder / "build.lock").write_text(str(dead.pid))
    with build_lock(folder):
        assert (folder / "build.lock").read_text().strip() == str(os.getpid())
    assert not (folder / "build.lock").exists()


def test_leftovers_go_and_what_pages_use_stays(tmp_path):
    """Unit level: what ``remove_leftovers`` keeps of a site folder an earlier build wrote."""
    from types import SimpleNamespace

    from oersite.render import remove_leftovers

    site, extra = tmp_path / "html", tmp_path / "course" / "extra"
    files = {
        "lesson.html": True,
        "gone.html": False,
        "chapter/gone.html": False,
        "_sources/lesson.ipynb": True,
        "_sources/gone.md": False,
        "_images/used.png": True,
        "_images/unused.png": False,
        "_downloads/abc/data.csv": True,
        "_downloads/def/old.csv": False,
        "_static/oersite/leaflet.js": True,
        "google123.html": True,  # html_extra_path's
        "old-name.html": True,  # a rediraffe redirect, written by an earlier build
        "_rediraffe_redirected.json": True,
        "searchindex.js": True,
    }
    for name in files:
        (site / name).parent.mkdir(parents=True, exist_ok=True)
        (site / name).write_text("x")
    (site / "_rediraffe_redirected.json").write_text(json.dumps({"old-name.md": "lesson.ipynb"}))
    extra.mkdir(parents=True)
    (extra / "google123.html").write_text("x")
    app = SimpleNamespace(
        env=SimpleNamespace(
            found_docs={"lesson"},
            images={"a": ({"lesson"}, "used.png")},
            dlfiles={"b": ({"lesson"}, "abc/data.csv")},
        ),
        config=SimpleNamespace(html_extra_path=["extra"]),
        confdir=str(tmp_path / "course"),
        srcdir=str(tmp_path / "course"),
    )
    removed = remove_leftovers(app, site, time.time() + 5)  # every file is from an earlier build
    assert sorted(path.as_posix() for path in removed) == sorted(name for name, kept in files.items() if not kept)
    assert sorted(p.relative_to(site).as_posix() for p in site.rglob("*") if p.is_file()) == sorted(
        name for name, kept in files.items() if kept
    )
    assert not (site / "chapter").exists() and not (site / "_downloads/def").exists()
