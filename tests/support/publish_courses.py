"""Small built courses in git repositories, and git helpers, for the check and publish tests."""

from __future__ import annotations

import subprocess
from pathlib import Path

from support.cli import oersite
from support.coursehelpers import make_course

LAUNCH = {"repository": ".", "branch": "main"}


def git(folder: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-C", str(folder), "-c", "user.name=Tests", "-c", "user.email=tests@oersite.invalid", *args],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()


def git_course(
    root: Path,
    notebooks: dict[str, list] | None = None,
    *,
    pages: dict[str, str] | None = None,
    uncommitted: dict[str, list] | None = None,
    config: dict | None = None,
) -> Path:
    """A course with launch buttons pulling from its own git repository (branch main).

    ``pages``: Markdown pages (name -> text) added to the table of contents;
    ``uncommitted``: notebooks in the table of contents but left out of the commit.
    """
    pages = pages or {}
    uncommitted = uncommitted or {}
    settings = {"oersite": {"launch": dict(LAUNCH)}, **(config or {})}
    all_notebooks = {**(notebooks if notebooks is not None else {"lessons/first.ipynb": ["print('hello')"]})}
    all_notebooks.update(uncommitted)
    make_course(root, all_notebooks, config=settings, extra_chapters=list(pages))
    for name, text in pages.items():
        (root / f"{name}.md").write_text(text)
    (root / ".gitignore").write_text("_build/\n")
    git(root, "init", "--quiet", "--initial-branch", "main")
    git(root, "add", ".")
    for relative in uncommitted:
        git(root, "rm", "--cached", "--quiet", relative)
    git(root, "commit", "--quiet", "-m", "course")
    return root


def built(root: Path) -> Path:
    """Build the course; return its site folder."""
    result = oersite("build", root)
    assert result.exit_code == 0, result.output
    return root / "_build" / "html"


def files_of(root: Path) -> dict[str, str]:
    """Every file under ``root`` but git's own, with a digest of its bytes: to prove nothing changed."""
    import hashlib

    return {
        path.relative_to(root).as_posix(): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(root.rglob("*"))
        if path.is_file() and ".git" not in path.relative_to(root).parts
    }
