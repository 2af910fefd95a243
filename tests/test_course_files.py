"""One rule for which files are the course's: every stage that walks a course's folders agrees on it."""

from pathlib import Path

from oersite.datasets import data_files_without_entry
from oersite.hub.bundle.images import data_tag
from oersite.preview import is_course_change
from oersite.uptodate import source_fingerprint

#: What is never the course's: a build's output, dependencies, caches, anything hidden.
NOT_THE_COURSES = (
    "_build/html/index.html",
    "node_modules/leaflet/package.json",
    "__pycache__/course_data.cpython-311.pyc",
    ".ipynb_checkpoints/intro-checkpoint.ipynb",
    ".git/HEAD",
    ".DS_Store",
)


def course(tmp_path: Path) -> Path:
    root = tmp_path / "course"
    (root / "data").mkdir(parents=True)
    (root / "intro.md").write_text("# Intro\n")
    (root / "data" / "penguins.csv").write_text("species\nAdelie\n")
    return root


def write_everywhere(root: Path) -> None:
    for folder in (root, root / "data"):
        for relative in NOT_THE_COURSES:
            path = folder / relative
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text("not the course's")


def test_what_is_not_the_courses_changes_no_fingerprint_no_data_tag_and_starts_no_rebuild(tmp_path):
    root = course(tmp_path)
    fingerprint, tag = source_fingerprint(root, root / "_build", {}), data_tag(root / "data")

    write_everywhere(root)

    assert source_fingerprint(root, root / "_build", {}) == fingerprint
    assert data_tag(root / "data") == tag
    assert data_files_without_entry(root / "data", root / "data" / "datasets.yml", ()) == ["penguins.csv"]
    keep = is_course_change(root, [root / "_build"])
    for folder in (root, root / "data"):
        assert [relative for relative in NOT_THE_COURSES if keep(None, str(folder / relative))] == []


def test_a_course_file_changes_the_fingerprint_and_a_data_file_the_data_tag(tmp_path):
    root = course(tmp_path)
    fingerprint, tag = source_fingerprint(root, root / "_build", {}), data_tag(root / "data")

    (root / "intro.md").write_text("# Introduction, longer\n")
    (root / "data" / "penguins.csv").write_text("species\nAdelie\nGentoo\n")

    assert source_fingerprint(root, root / "_build", {}) != fingerprint
    assert data_tag(root / "data") != tag
    assert is_course_change(root, [root / "_build"])(None, str(root / "intro.md"))
