"""Every bad input stops the build with one line naming the file and what to do,
exit status 1, no traceback, and nothing outside _build touched."""

from __future__ import annotations

import pytest
import yaml
from support.cli import assert_one_line_error, oersite
from support.coursehelpers import make_course, tree_digest


def build(course, *args):
    result = oersite("build", str(course), *args)
    return result


@pytest.fixture
def course(tmp_path):
    return make_course(tmp_path / "course")


@pytest.mark.slow
def test_a_cell_that_raises_names_notebook_cell_exception_and_the_tag(tmp_path):
    course = make_course(tmp_path / "c", {"lessons/broken.ipynb": ["x = 1", "x / 0"]})
    before = tree_digest(course)
    result = build(course)
    assert_one_line_error(
        result,
        "lessons/broken.ipynb, cell 3: ZeroDivisionError: division by zero",
        '"raises-exception"',
    )
    assert tree_digest(course) == before


@pytest.mark.slow
def test_a_cell_tagged_raises_exception_shows_its_error_on_the_page(tmp_path):
    course = make_course(tmp_path / "c", {"lessons/lesson.ipynb": [("1 / 0", ["raises-exception"]), "print('after')"]})
    result = build(course)
    assert result.exit_code == 0, result.output
    page = (course / "_build/html/lessons/lesson.html").read_text()
    assert "ZeroDivisionError" in page
    assert "after" in page


@pytest.mark.slow
def test_a_cell_past_the_timeout_names_the_cell_and_the_setting(tmp_path):
    course = make_course(
        tmp_path / "c",
        {"slow.ipynb": ["import time", "time.sleep(60)"]},
        config={"execute": {"execute_notebooks": "cache", "timeout": 2}},
    )
    before = tree_digest(course)
    assert_one_line_error(build(course), "slow.ipynb, cell 3: still running after 2 s", "execute.timeout")
    assert tree_digest(course) == before


def test_a_notebook_that_is_not_json_names_file_and_line(course):
    (course / "lessons/first.ipynb").write_text('{\n  "cells": [\n    oops\n')
    before = tree_digest(course)
    assert_one_line_error(build(course), "lessons/first.ipynb, line 3: not a valid notebook")
    assert tree_digest(course) == before


def test_json_that_is_not_a_notebook_is_refused(course):
    (course / "lessons/first.ipynb").write_text('{"hello": "world"}')
    assert_one_line_error(build(course), "lessons/first.ipynb: not a valid Jupyter notebook")


def test_a_toc_entry_without_a_file_is_named(course):
    toc = course / "_toc.yml"
    entries = yaml.safe_load(toc.read_text())
    entries["chapters"].append({"file": "lessons/missing"})
    toc.write_text(yaml.safe_dump(entries))
    before = tree_digest(course)
    assert_one_line_error(
        build(course), "_toc.yml: entry 'lessons/missing' names no file", "fix the entry or add the file"
    )
    assert tree_digest(course) == before


def test_config_that_is_not_yaml_names_the_line(course):
    (course / "_config.yml").write_text("title: Test\nexecute:\n  timeout: [1, 2\n")
    assert_one_line_error(build(course), "_config.yml, line 4: not valid YAML")


def test_an_unknown_oersite_key_is_named_with_a_suggestion(course):
    config = course / "_config.yml"
    config.write_text(config.read_text() + "oersite:\n  exeucte:\n    jobs: 2\n")
    before = tree_digest(course)
    assert_one_line_error(build(course), "_config.yml: oersite.exeucte: unknown key; did you mean 'execute'?")
    assert tree_digest(course) == before


def test_a_value_of_the_wrong_type_is_named(course):
    config = course / "_config.yml"
    config.write_text(config.read_text() + "oersite:\n  execute:\n    jobs: many\n")
    assert_one_line_error(build(course), "_config.yml: oersite.execute.jobs: expected a whole number, found 'many'")


def test_all_config_problems_are_reported_at_once(course):
    config = course / "_config.yml"
    config.write_text(config.read_text() + "oersite:\n  launch:\n    interface: emacs\n  colour: red\n")
    result = build(course)
    assert_one_line_error(result, "oersite.launch.interface", "oersite.colour: unknown key")


def test_a_folder_without_config_says_what_to_do(tmp_path):
    assert_one_line_error(build(tmp_path), "_config.yml: not found", "oersite build COURSE")


@pytest.mark.slow
def test_a_missing_kernel_is_named(tmp_path):
    course = make_course(tmp_path / "c")
    notebook = course / "lessons/first.ipynb"
    notebook.write_text(notebook.read_text().replace('"name": "python3"', '"name": "no-such-kernel"'))
    assert_one_line_error(build(course), "lessons/first.ipynb: kernel 'no-such-kernel' is not installed")


def test_a_toc_that_is_not_yaml_names_the_line(course):
    (course / "_toc.yml").write_text("format: jb-book\nroot: intro\nchapters:\n- file: [a\n")
    assert_one_line_error(build(course), "_toc.yml, line 5: not valid YAML")


def test_a_jupyter_book_key_of_the_wrong_type_is_named(course):
    config = course / "_config.yml"
    config.write_text(config.read_text() + "html:\n  use_edit_page_button: maybe\n")
    assert_one_line_error(build(course), "_config.yml: html.use_edit_page_button: must be boolean")
