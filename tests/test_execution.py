"""Notebooks are executed once, cached on what changes their outputs, and rendered."""

from __future__ import annotations

import json
import sys

import pytest
from support.cli import assert_one_line_error, oersite
from support.coursehelpers import make_course, write_notebook

from oersite.build import build_course
from oersite.config import load_course

pytestmark = pytest.mark.slow  # builds sites, executes notebooks


def build(course, **kwargs):
    return build_course(load_course(course), **kwargs)


def statuses(report):
    return {result.page.docname: result.status for result in report.notebooks}


def printed(course, docname):
    """What the page's code cells printed."""
    from bs4 import BeautifulSoup

    soup = BeautifulSoup(page(course, docname), "html.parser")
    return [output.get_text() for output in soup.select(".cell_output .output.stream")]


def page(course, docname):
    return (course / "_build/html" / f"{docname}.html").read_text()


def test_an_unchanged_notebook_is_not_executed_again(tmp_path):
    course = make_course(tmp_path / "c", {"a.ipynb": ["import random", "print(random.random())"]})
    first = build(course)
    shown = printed(course, "a")
    assert shown, "the page shows what the cell printed"
    second = build(course)
    assert statuses(first) == {"a": "executed"}
    assert statuses(second) == {"a": "cached"}
    assert printed(course, "a") == shown  # the same random number: the cached outputs


def test_editing_one_notebook_executes_only_that_one(tmp_path):
    course = make_course(tmp_path / "c", {"a.ipynb": ["print('A1')"], "b.ipynb": ["print('B1')"]})
    build(course)
    write_notebook(course / "b.ipynb", "print('B2')", title="B")
    report = build(course)
    assert statuses(report) == {"a": "cached", "b": "executed"}
    assert "B2" in page(course, "b")


def test_an_edited_data_file_re_executes_the_notebooks_that_read_it(tmp_path):
    reads_data = "import os\nprint(open(os.path.join(os.environ['COURSE_DATA'], 'numbers.csv')).read())"
    course = make_course(tmp_path / "c", {"reads.ipynb": [reads_data], "other.ipynb": ["print('no data')"]})
    (course / "data").mkdir()
    (course / "data/numbers.csv").write_text("n\n41\n")
    build(course)
    assert "41" in page(course, "reads")
    (course / "data/numbers.csv").write_text("n\n42\n")
    report = build(course)
    assert statuses(report) == {"reads": "executed", "other": "cached"}
    assert "42" in page(course, "reads")  # Sphinx re-read the page although the .ipynb did not change


def test_equal_code_in_different_folders_gets_each_folders_outputs(tmp_path):
    # Jupyter Book's cache keys on code alone and would show week1's output on both pages.
    code = "print(open('value.txt').read())"
    course = make_course(tmp_path / "c", {"week1/lesson.ipynb": [code], "week2/lesson.ipynb": [code]})
    (course / "week1/value.txt").write_text("from week one")
    (course / "week2/value.txt").write_text("from week two")
    build(course)
    assert "from week one" in page(course, "week1/lesson")
    assert "from week two" in page(course, "week2/lesson")


def test_notebooks_run_in_parallel_jobs(tmp_path):
    notebooks = {f"n{i}.ipynb": [f"print('notebook {i}')"] for i in range(3)}
    course = make_course(tmp_path / "c", notebooks)
    report = build_course(load_course(course, jobs=3))
    assert set(statuses(report).values()) == {"executed"}
    for i in range(3):
        assert f"notebook {i}" in page(course, f"n{i}")


def test_a_plain_jupyter_book_with_execution_off_renders_its_saved_outputs(tmp_path):
    course = make_course(tmp_path / "c", {"saved.ipynb": []}, config={"execute": {"execute_notebooks": "off"}})
    notebook = json.loads((course / "saved.ipynb").read_text())
    notebook["cells"].append(
        {
            "cell_type": "code",
            "execution_count": 1,
            "metadata": {},
            "source": "print('x')",
            "outputs": [{"output_type": "stream", "name": "stdout", "text": "saved long ago\n"}],
        }
    )
    (course / "saved.ipynb").write_text(json.dumps(notebook))
    report = build(course)
    assert statuses(report) == {"saved": "stored"}
    assert "saved long ago" in page(course, "saved")


def test_the_summary_says_what_was_built_and_where(tmp_path):
    course = make_course(tmp_path / "c", {"a.ipynb": ["1 + 1"]})
    first = oersite("build", str(course))
    second = oersite("build", str(course))
    assert first.exit_code == 0, first.output
    assert "executed a.ipynb" in first.output
    assert "Built 2 pages (1 notebook: 1 executed, 0 from cache)" in first.output
    assert "Built 2 pages (1 notebook: 0 executed, 1 from cache)" in second.output
    assert "_build/html/index.html" in second.output
    assert "oersite serve" in second.output


def test_output_option_writes_the_site_elsewhere(tmp_path):
    course = make_course(tmp_path / "c")
    result = oersite("build", str(course), "--output", str(tmp_path / "site"))
    assert result.exit_code == 0, result.output
    assert (tmp_path / "site/lessons/first.html").is_file()
    assert not (course / "_build/html").exists()


def test_a_rebuild_with_nothing_changed_does_no_work(tmp_path):
    course = make_course(tmp_path / "c", {"a.ipynb": ["print('A')"]})
    build(course)
    site = course / "_build/html/a.html"
    written = site.stat().st_mtime_ns
    again = build(course)
    assert again.up_to_date
    assert statuses(again) == {"a": "cached"}
    assert site.stat().st_mtime_ns == written  # Sphinx did not even run
    (course / "intro.md").write_text("# Welcome\n\nChanged.\n")
    changed = build(course)
    assert not changed.up_to_date
    assert "Changed." in page(course, "intro")


def test_an_edited_file_beside_the_notebook_re_executes_it(tmp_path):
    course = make_course(tmp_path / "c", {"week1/lesson.ipynb": ["print(open('value.txt').read())"]})
    (course / "week1/value.txt").write_text("first value")
    build(course)
    (course / "week1/value.txt").write_text("second value")
    report = build(course)
    assert statuses(report) == {"week1/lesson": "executed"}
    assert "second value" in page(course, "week1/lesson")


def build_with_kernel(tmp_path, argv: list[str], notebooks: dict[str, list], timeout: float):
    """``oersite build`` of a course whose notebooks run in a kernel named "other", started by ``argv``."""
    kernel = tmp_path / "jupyter" / "kernels" / "other"
    kernel.mkdir(parents=True)
    spec = {"argv": [*argv, "{connection_file}"], "display_name": "Other", "language": "python"}
    (kernel / "kernel.json").write_text(json.dumps(spec))
    course = make_course(tmp_path / "c", notebooks)
    for name in notebooks:
        notebook = json.loads((course / name).read_text())
        notebook["metadata"]["kernelspec"] = {"name": "other", "display_name": "Other"}
        (course / name).write_text(json.dumps(notebook))
    environment = {"JUPYTER_PATH": str(tmp_path / "jupyter")}
    return course, oersite("build", str(course), process=True, env=environment, timeout=timeout)


def test_a_kernel_that_dies_as_it_starts_is_one_line_naming_the_notebook(tmp_path):
    # The build says which notebook, and where the kernel's own output is; it does not wait for the
    # minute a kernel has to answer.
    program = "import sys; print('broken kernel', file=sys.stderr); sys.exit(3)"
    course, ran = build_with_kernel(tmp_path, [sys.executable, "-c", program], {"a.ipynb": ["print('never')"]}, 30)
    assert_one_line_error(ran, "a.ipynb", "the kernel stopped as it started", "died", "_build/.oersite/kernels.log")
    assert "broken kernel" in (course / "_build/.oersite/kernels.log").read_text()


def test_a_kernel_that_is_not_ipython_runs_in_the_notebooks_folder(tmp_path):
    # oersite moves an IPython kernel to a notebook's folder with Python code; any other kernel
    # (R, Julia: here an IPython kernel under another name, which oersite cannot tell from one)
    # is asked only whether it is ready, and starts in the notebook's folder.
    cells = ["import os\nprint('in', os.path.basename(os.getcwd()))"]
    argv = [sys.executable, "-m", "ipykernel_launcher", "-f"]
    course, ran = build_with_kernel(tmp_path, argv, {"lessons/a.ipynb": cells}, 120)
    assert ran.exit_code == 0, ran.output
    assert [text.strip() for text in printed(course, "lessons/a")] == ["in lessons"]


def test_notebooks_run_with_the_environment_the_build_was_given_not_what_sphinx_sets_meanwhile(tmp_path):
    # Sphinx sets DOCUTILSCONFIG while it builds, and the notebooks run beside it: a kernel
    # that read the environment then would get it, or not, by how the two threads met.
    shows = "import os\nprint('DOCUTILSCONFIG:', os.environ.get('DOCUTILSCONFIG'))"
    course = make_course(tmp_path / "c", {f"lesson{number}.ipynb": [shows] for number in range(4)})
    build(course)
    for number in range(4):
        assert [text.strip() for text in printed(course, f"lesson{number}")] == ["DOCUTILSCONFIG: None"]
