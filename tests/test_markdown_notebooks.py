"""MyST Markdown notebooks (a ``.md`` with jupytext front matter and ``{code-cell}`` blocks) are
first-class: executed by oersite's executor like ``.ipynb``, counted, cached, with the same
one-line errors, launch buttons pointing at the ``.md``, and nothing from a kernel printed.
"""

from __future__ import annotations

import subprocess
import sys
from urllib.parse import parse_qs, unquote, urlsplit

import pytest
from bs4 import BeautifulSoup
from support.cli import oersite
from support.coursehelpers import make_course

pytestmark = pytest.mark.slow  # builds sites, executes notebooks

LAUNCH = {"oersite": {"launch": {"repository": "https://github.com/uni/course"}}}
#: Each notebook waits for the other's file: run one after the other, the first would time out.
MEET = (
    "import pathlib, time\n"
    "pathlib.Path('{mine}').touch()\n"
    "for _ in range(400):\n"
    "    if pathlib.Path('{theirs}').exists():\n"
    "        break\n"
    "    time.sleep(0.05)\n"
    "else:\n"
    "    raise RuntimeError('ran alone')\n"
    "print('met', pathlib.Path('{theirs}').name)"
)


def build(course, *args):
    return oersite("build", str(course), *args)


def page(course, docname) -> BeautifulSoup:
    return BeautifulSoup((course / "_build/html" / f"{docname}.html").read_text(encoding="utf-8"), "html.parser")


def printed(course, docname) -> list[str]:
    return [output.get_text().strip() for output in page(course, docname).select(".cell_output .output.stream")]


@pytest.fixture
def course(tmp_path):
    meeting = tmp_path / "meeting"  # outside the course, where both kernels look
    meeting.mkdir()
    return make_course(
        tmp_path / "course",
        {
            "lessons/one.md": [MEET.format(mine=meeting / "one.flag", theirs=meeting / "two.flag")],
            "lessons/two.md": [
                MEET.format(mine=meeting / "two.flag", theirs=meeting / "one.flag"),
                ("print('shown without its code')", ["remove-input"]),
            ],
            "lessons/three.ipynb": ["print('three')"],
        },
        config=LAUNCH,
    )


def test_markdown_notebooks_are_executed_together_counted_and_rendered(course):
    result = build(course, "--jobs", "3")
    assert result.exit_code == 0, result.output
    assert "Built 4 pages (3 notebooks: 3 executed, 0 from cache)" in result.output
    assert "executed lessons/one.md" in result.output
    # Each waited for the other: they ran at the same time, in oersite's executor.
    assert printed(course, "lessons/one") == ["met two.flag"]
    assert printed(course, "lessons/two") == ["met one.flag", "shown without its code"]
    assert "print('shown without its code')" not in page(course, "lessons/two").get_text()
    # Nothing from a kernel (its "running over TCP without encryption" warning) or a library's log.
    assert "IPKernelApp" not in result.output and "WARNING" not in result.output, result.output


def test_an_unchanged_markdown_notebook_comes_from_the_cache_and_an_edited_one_runs_again(tmp_path):
    course = make_course(
        tmp_path / "c",
        {"a.md": ["import random", "print(random.random())"], "b.md": ["print('B1')"]},
    )
    assert build(course).exit_code == 0
    shown = printed(course, "a")
    source = course / "b.md"
    source.write_text(source.read_text().replace("B1", "B2"))
    again = build(course)
    assert again.exit_code == 0, again.output
    assert "Built 3 pages (2 notebooks: 1 executed, 1 from cache)" in again.output
    assert printed(course, "a") == shown  # the same random number: a's cached outputs
    assert printed(course, "b") == ["B2"]


def test_a_markdown_notebooks_page_gets_both_buttons_opening_the_md_file(course):
    result = build(course, "--jobs", "3")
    assert result.exit_code == 0, result.output
    links = {
        link.get_text(strip=True): link["href"] for link in page(course, "lessons/one").select("a[href*='git-pull']")
    }
    assert set(links) == {"Open in hub", "Try now"}
    opened = {button: unquote(parse_qs(urlsplit(url).query)["urlpath"][0]) for button, url in links.items()}
    assert opened == {"Open in hub": "lab/tree/course/lessons/one.md", "Try now": "notebooks/course/lessons/one.md"}


def test_a_failing_cell_of_a_markdown_notebook_names_file_cell_line_and_exception(tmp_path):
    course = make_course(tmp_path / "c", {"lessons/broken.md": ["x = 1", "x / 0"]})
    result = build(course)
    assert result.exit_code == 1
    assert "Traceback" not in result.output
    # The title is cell 1; the failing {code-cell} starts on line 18 of the file.
    assert (
        "lessons/broken.md, cell 3, line 18: ZeroDivisionError: division by zero - fix the cell, or if the error is "
        'part of the lesson give the cell the tag "raises-exception"'
    ) in result.output
    assert (course / "lessons/broken.md").read_text().splitlines()[17] == "```{code-cell} ipython3"


def test_a_markdown_notebook_with_a_broken_cell_option_is_named(tmp_path):
    course = make_course(tmp_path / "c", {"lessons/bad.md": ["print(1)"]})
    source = course / "lessons/bad.md"
    source.write_text(source.read_text().replace("```{code-cell} ipython3\n", "```{code-cell} ipython3\n:tags: [a\n"))
    result = build(course)
    assert result.exit_code == 1
    assert "Traceback" not in result.output
    assert (
        "lessons/bad.md: Code cell 1 at line 14 could not be read: Invalid options format (bad YAML); "
        "fix the cell's options"
    ) in result.output


def test_oersite_check_reads_a_markdown_notebooks_outputs_and_notices_an_edit(tmp_path):
    from oersite.checks.outputs import check_notebook_outputs
    from oersite.config import load_course

    course = make_course(tmp_path / "c", {"lesson.md": ["print('fine')", ("1 / 0", ["raises-exception"])]})
    assert build(course).exit_code == 0
    site = course / "_build/html"
    assert check_notebook_outputs(load_course(course), site) == []  # the lesson's error is on purpose
    source = course / "lesson.md"
    source.write_text(source.read_text().replace("fine", "changed"))
    findings = check_notebook_outputs(load_course(course), site)
    assert [(found.page, found.what, found.why.split(";")[0]) for found in findings] == [
        ("lesson.html", "lesson.md", "built from an older version of lesson.md")
    ]


def test_what_a_kernel_process_writes_itself_goes_to_the_kernel_log_not_the_terminal(tmp_path):
    # Written to the kernel's file descriptor 2, as C code or a library's own logging does.
    course = make_course(tmp_path / "c", {"noisy.md": ["import os\nos.write(2, b'NOISE FROM THE KERNEL\\n')"]})
    # A real process: the terminal is its file descriptors, which CliRunner does not capture.
    result = subprocess.run([sys.executable, "-m", "oersite", "build", str(course)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "NOISE FROM THE KERNEL" not in result.stdout + result.stderr
    assert "NOISE FROM THE KERNEL" in (course / "_build/.oersite/kernels.log").read_text()
