"""``oersite publish``: nothing broken goes out, nothing published is lost, and each publish says what went out."""

from __future__ import annotations

import json
import stat
import threading
from pathlib import Path

import pytest
from support.cli import assert_one_line_error, oersite
from support.coursehelpers import tree_digest
from support.publish_courses import built, files_of, git, git_course

from oersite import __version__
from oersite.publish import RECORD_FILE, staging_paths

pytestmark = pytest.mark.slow  # builds sites, runs linkchecker, git and ghp-import


@pytest.fixture(scope="module")
def course(tmp_path_factory) -> Path:
    """A small course that passes every check, built."""
    root = git_course(tmp_path_factory.mktemp("good") / "course")
    built(root)
    return root


def site_of(course: Path) -> Path:
    return course / "_build" / "html"


def log_entries(course: Path) -> list[dict]:
    log = course / "_build" / ".oersite" / "publish.log"
    return [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []


def test_publish_to_git_adds_a_commit_each_time_and_records_what_went_out(course, tmp_path):
    remote = tmp_path / "pages.git"
    git(tmp_path, "init", "--quiet", "--bare", str(remote))
    site_before = tree_digest(site_of(course), ignore="-")
    logged = len(log_entries(course))

    first = oersite("publish", course, "--to-git", remote)
    assert first.exit_code == 0, first.output
    second = oersite("publish", course, "--to-git", remote, "--cname", "course.example.org")
    assert second.exit_code == 0, second.output

    commits = git(remote, "rev-list", "gh-pages").split()
    assert len(commits) == 2
    assert git(remote, "rev-parse", "gh-pages^") == commits[1]  # the second builds on the first
    assert f"commit {commits[0][:12]}" in second.output
    published = set(git(remote, "ls-tree", "-r", "--name-only", "gh-pages").splitlines())
    assert {"index.html", "intro.html", "lessons/first.html", ".nojekyll", "CNAME", RECORD_FILE} <= published
    assert git(remote, "show", "gh-pages:CNAME") == "course.example.org"
    assert git(remote, "show", "gh-pages:index.html") == (site_of(course) / "index.html").read_text().strip()
    record = json.loads(git(remote, "show", f"gh-pages:{RECORD_FILE}"))
    assert record["source_commit"] == git(course, "rev-parse", "HEAD")
    assert record["oersite_version"] == __version__
    assert record["target"] == f"branch gh-pages of {remote}"
    assert record["published_at"].endswith("+00:00")

    entries = log_entries(course)[logged:]
    assert [entry["result"] for entry in entries] == [f"commit {commits[1][:12]}", f"commit {commits[0][:12]}"]
    assert all(entry["source_commit"] == record["source_commit"] for entry in entries)
    assert tree_digest(site_of(course), ignore="-") == site_before  # the record went out, not into the build
    assert git(course, "branch", "--list") == "* main"  # and the course repository got no gh-pages branch

    first_record = json.loads(git(remote, "show", f"{commits[1]}:{RECORD_FILE}"))
    rolled_back = oersite("publish", course, "--to-git", remote, "--rollback")
    assert rolled_back.exit_code == 0, rolled_back.output
    assert git(remote, "rev-parse", "gh-pages^") == commits[0]  # a new commit: nothing published is lost
    assert git(remote, "rev-parse", "gh-pages^{tree}") == git(remote, "rev-parse", f"{commits[1]}^{{tree}}")
    assert "CNAME" not in git(remote, "ls-tree", "--name-only", "gh-pages").splitlines()
    assert log_entries(course)[-1]["live"] == first_record


def test_publish_to_a_folder_swaps_versions_and_rolls_back(course, tmp_path):
    folder = tmp_path / "www" / "course"
    folder.parent.mkdir()
    first = oersite("publish", course, "--to-dir", folder)
    assert first.exit_code == 0, first.output
    first_record = json.loads((folder / RECORD_FILE).read_text())
    assert tree_digest(folder, ignore="-") == {**tree_digest(site_of(course), ignore="-"), RECORD_FILE: _digest(folder)}

    intro = course / "intro.md"
    original = intro.read_text()
    try:
        intro.write_text(original + "\nA second version.\n")
        git(course, "commit", "--quiet", "-am", "second version")
        built(course)
        second = oersite("publish", course, "--to-dir", folder)
        assert second.exit_code == 0, second.output
        assert "A second version." in (folder / "intro.html").read_text()
        second_record = json.loads((folder / RECORD_FILE).read_text())
        assert second_record["source_commit"] == git(course, "rev-parse", "HEAD") != first_record["source_commit"]
        _staging, previous = staging_paths(folder)
        assert json.loads((previous / RECORD_FILE).read_text()) == first_record
        assert sorted(path.name for path in folder.parent.iterdir()) == [".course.oersite-previous", "course"]

        rolled_back = oersite("publish", course, "--to-dir", folder, "--rollback")
        assert rolled_back.exit_code == 0, rolled_back.output
        assert "A second version." not in (folder / "intro.html").read_text()
        assert json.loads((folder / RECORD_FILE).read_text()) == first_record
        assert log_entries(course)[-1]["action"] == "rollback"
        assert log_entries(course)[-1]["live"] == first_record

        undone = oersite("publish", course, "--to-dir", folder, "--rollback")  # a rollback can be undone
        assert undone.exit_code == 0, undone.output
        assert json.loads((folder / RECORD_FILE).read_text()) == second_record
    finally:
        intro.write_text(original)
        git(course, "commit", "--quiet", "-am", "first version again")
        built(course)


def test_rollback_without_a_previous_version_says_so(course, tmp_path):
    folder = tmp_path / "site"
    assert oersite("publish", course, "--to-dir", folder).exit_code == 0
    assert_one_line_error(oersite("publish", course, "--to-dir", folder, "--rollback"), "nothing to roll back to")


@pytest.mark.parametrize(
    "problem, expected",
    [
        ("broken link", "error: problems.html: link nowhere.html: 404 File not found"),
        ("remote script", "error: problems.html: https://cdn.example.org/lib.js: loaded from another host"),
        ("uncommitted notebook", "error: lessons/later.html: launch link to lessons/later.ipynb: not committed"),
    ],
)
def test_a_broken_site_is_not_published(problem, expected, tmp_path):
    pages = {
        "broken link": {"problems": '# Problems\n\n<a href="nowhere.html">gone</a>\n'},
        "remote script": {"problems": '# Problems\n\n<script src="https://cdn.example.org/lib.js"></script>\n'},
        "uncommitted notebook": {},
    }[problem]
    uncommitted = {"lessons/later.ipynb": ["print('later')"]} if problem == "uncommitted notebook" else {}
    root = git_course(tmp_path / "course", {}, pages=pages, uncommitted=uncommitted)  # {}: fewer kernels to start
    built(root)
    folder = tmp_path / "www"
    result = oersite("publish", root, "--to-dir", folder)
    assert_one_line_error(
        result, "1 error, 0 warnings; nothing was published. Fix them, or publish anyway with --force"
    )
    (finding,) = [line for line in result.output.splitlines() if line.startswith("error:")]
    assert finding.startswith(expected), result.output
    assert not folder.exists() and not staging_paths(folder)[0].exists()
    assert log_entries(root) == []

    if problem == "broken link":
        forced = oersite("publish", root, "--to-dir", folder, "--force")
        assert forced.exit_code == 0, forced.output
        assert "PUBLISHING DESPITE 1 ERROR (--force)" in forced.output
        assert (folder / "problems.html").is_file()


def test_an_unreachable_remote_is_a_clear_error_and_changes_nothing(course, tmp_path):
    before = files_of(course)
    logged = log_entries(course)
    result = oersite("publish", course, "--to-git", tmp_path / "no-such-remote.git")
    assert_one_line_error(
        result, f"cannot reach git remote {tmp_path / 'no-such-remote.git'} (", "nothing was published"
    )
    assert files_of(course) == before and log_entries(course) == logged


def test_a_remote_that_refuses_the_push_is_a_clear_error(course, tmp_path):
    remote = tmp_path / "pages.git"
    git(tmp_path, "init", "--quiet", "--bare", str(remote))
    hook = remote / "hooks" / "pre-receive"
    hook.write_text("#!/bin/sh\necho 'gh-pages is protected' >&2\nexit 1\n")
    hook.chmod(hook.stat().st_mode | stat.S_IXUSR)
    before = files_of(course)
    result = oersite("publish", course, "--to-git", remote)
    assert_one_line_error(result, f"{remote} did not take the site on branch gh-pages (remote: gh-pages is protected;")
    assert git(remote, "branch", "--list") == ""
    assert files_of(course) == before


def test_a_bad_branch_name_is_a_clear_error(course, tmp_path):
    remote = tmp_path / "pages.git"
    git(tmp_path, "init", "--quiet", "--bare", str(remote))
    before = files_of(course)
    result = oersite("publish", course, "--to-git", remote, "--branch", "pages..bad")
    assert_one_line_error(result, "'pages..bad' is not a valid git branch name")
    assert files_of(course) == before and git(remote, "branch", "--list") == ""


def test_an_unwritable_folder_is_a_clear_error_and_changes_nothing(course, tmp_path):
    # Tests run as root, for whom a folder's permissions do not stop writes (so chmod
    # proves nothing); no one can create a folder inside a regular file.
    regular_file = tmp_path / "not-a-folder"
    regular_file.write_text("a file\n")
    before = files_of(tmp_path), files_of(course)
    result = oersite("publish", course, "--to-dir", regular_file / "site")
    assert_one_line_error(
        result, f"cannot write beside {regular_file / 'site'} (Not a directory)", "nothing was published"
    )
    assert (files_of(tmp_path), files_of(course)) == before


def test_publishing_over_the_build_itself_is_refused(course):
    before = files_of(course)
    assert_one_line_error(oersite("publish", course, "--to-dir", course / "_build"), "holds or is the built site")
    assert_one_line_error(oersite("publish", course, "--to-dir", site_of(course) / "copy"), "is inside the built site")
    assert files_of(course) == before


def test_a_folder_holding_someone_elses_files_is_never_replaced_force_or_not(course, tmp_path):
    folder = tmp_path / "www"
    folder.mkdir()
    (folder / "their-notes.txt").write_text("not oersite's\n")
    before = files_of(tmp_path)
    for force in ((), ("--force",), ()):  # twice: the second run once put the first's "previous version" away
        result = oersite("publish", course, "--to-dir", folder, *force)
        assert_one_line_error(result, f"{folder} holds files oersite did not publish (no {RECORD_FILE})")
        assert len(result.output.strip().splitlines()) == 1, result.output
    assert files_of(tmp_path) == before


def test_an_empty_folder_is_published_to(course, tmp_path):
    folder = tmp_path / "empty"
    folder.mkdir()
    result = oersite("publish", course, "--to-dir", folder)
    assert result.exit_code == 0, result.output
    assert (folder / RECORD_FILE).is_file()


@pytest.mark.parametrize(
    ("target", "problem"),
    [
        (lambda course, home: Path("/"), "is the root folder"),
        (lambda course, home: home, "is a home folder"),
        (lambda course, home: course, "is the course folder"),
        (lambda course, home: course.parent, "holds the course"),
    ],
    ids=["root", "home", "course", "above-the-course"],
)
@pytest.mark.parametrize("flags", [(), ("--force",), ("--rollback",)], ids=["plain", "force", "rollback"])
def test_the_root_a_home_or_the_course_is_never_a_publish_target(course, tmp_path, monkeypatch, target, problem, flags):
    home = tmp_path / "home" / "someone"  # a home folder of the tests' own: what a mistake here would swap
    (home / "Documents").mkdir(parents=True)
    monkeypatch.setenv("HOME", str(home))
    folder = target(course, home)
    before = files_of(course), files_of(tmp_path)
    result = oersite("publish", course, "--to-dir", folder, *flags)
    assert_one_line_error(result, f"{folder} {problem}")
    assert len(result.output.strip().splitlines()) == 1, result.output
    assert (files_of(course), files_of(tmp_path)) == before


def test_sample_course_publishes_to_the_target_in_its_config(sample_course, built_sample):
    result = oersite("publish", sample_course)
    assert result.exit_code == 0, result.output
    published = sample_course / "_build" / "published"
    assert f"Published to folder {published}" in result.output
    assert (published / "index.html").read_bytes() == (built_sample[0] / "index.html").read_bytes()
    record = json.loads((published / RECORD_FILE).read_text())
    assert record["source_commit"] == git(sample_course, "rev-parse", "HEAD")


def _digest(folder: Path) -> str:
    import hashlib

    return hashlib.sha256((folder / RECORD_FILE).read_bytes()).hexdigest()


def test_readers_never_find_the_folder_missing_or_half_written_during_a_publish(course, tmp_path):
    from oersite.config import load_course
    from oersite.publish import publish_record, publish_target, publish_to_dir

    folder = tmp_path / "www"
    target = publish_target(load_course(course), to_dir=str(folder))
    record = publish_record(load_course(course), target)
    publish_to_dir(site_of(course), folder, record)
    expected = tree_digest(folder, ignore="-")
    seen_missing, done = [], threading.Event()

    def read_constantly() -> None:
        while not done.is_set():
            if not (folder / "index.html").is_file() or not (folder / RECORD_FILE).is_file():
                seen_missing.append(True)

    reader = threading.Thread(target=read_constantly)
    reader.start()
    try:
        for _ in range(15):
            publish_to_dir(site_of(course), folder, record)
    finally:
        done.set()
        reader.join()
    assert seen_missing == []
    assert tree_digest(folder, ignore="-") == expected
