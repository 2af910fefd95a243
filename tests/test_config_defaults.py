"""What a course gets for what its _config.yml leaves out: Jupyter Book's own defaults, as it documents them."""

import yaml
from support.coursehelpers import make_course

from oersite.config import load_course


def test_a_course_that_says_nothing_about_execution_runs_as_jupyter_book_documents(tmp_path):
    # https://jupyterbook.org/en/stable/customize/config.html: execute_notebooks auto, timeout 30, errors stop
    course = make_course(tmp_path / "course")
    config = yaml.safe_load((course / "_config.yml").read_text())
    del config["execute"]  # the test courses' own execution settings
    (course / "_config.yml").write_text(yaml.safe_dump(config))
    execution = load_course(course).execution
    assert (execution.mode, execution.timeout, execution.allow_errors) == ("auto", 30, False)
    assert (execution.exclude_patterns, execution.run_in_temp) == ((), False)


def test_what_the_execute_section_says_wins_over_the_defaults(tmp_path):
    config = {"execute": {"execute_notebooks": "off", "timeout": 5, "allow_errors": True}}
    execution = load_course(make_course(tmp_path / "course", config=config)).execution
    assert (execution.mode, execution.timeout, execution.allow_errors) == ("off", 5, True)
