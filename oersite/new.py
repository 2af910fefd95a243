"""``oersite new DIR``: a small course of the instructor's own to start from.

Every tool an instructor may know has a starter (``mkdocs new``, ``jupyter-book
create``, ``quarto create project``); without one, a course began as a clone of
oersite's sample, with its tests and tools to delete.  The starter is a folder of
ordinary files in the package (``oersite/starter``): ``_config.yml`` with the
``oersite:`` section present and commented, a table of contents, an
introduction, the students' page on the two buttons, one Bokeh and one Folium
notebook reading a small dataset from ``data/``, and a ``.gitignore``.  What it
writes builds and passes ``oersite check`` as it is (a test proves it).

Nothing existing is touched: a folder that is not empty is refused before
anything is written, and the files are written into a temporary folder beside
the target first, then moved into place in one rename.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

from oersite.errors import OersiteError
from oersite.messages import shown

STARTER = Path(__file__).resolve().parent / "starter"
#: Files stored under another name in the package (a ``.gitignore`` there would apply to the package itself).
RENAMED = {"gitignore": ".gitignore"}


def starter_files() -> list[Path]:
    """The starter's files, relative to its folder, named as they will be in the course."""
    files = []
    for path in STARTER.rglob("*"):
        if path.is_file() and "__pycache__" not in path.parts:
            relative = path.relative_to(STARTER)
            files.append(relative.with_name(RENAMED.get(relative.name, relative.name)))
    return sorted(files)


def new_course(folder: Path) -> list[Path]:
    """Write the starter course into ``folder`` (new or empty); the files written, relative to it."""
    shown_as = folder
    folder = folder.expanduser().resolve()
    if folder.exists() and not folder.is_dir():
        raise OersiteError(f"{shown(shown_as)}: a file is in the way; choose a folder name for the new course")
    if folder.is_dir() and any(folder.iterdir()):
        raise OersiteError(
            f"{shown(shown_as)}: not empty; oersite new writes only into a new or empty folder (nothing was written)"
        )
    if not folder.parent.is_dir():
        raise OersiteError(f"{shown(folder.parent)}: no such folder; create it first, or choose another place")
    try:
        scratch = Path(tempfile.mkdtemp(prefix=f".{folder.name}-", dir=folder.parent))
    except OSError as error:
        raise OersiteError(f"{shown(folder.parent)}: cannot write here ({error.strerror})") from None
    moved: list[Path] = []
    try:
        shutil.copytree(STARTER, scratch, dirs_exist_ok=True, ignore=shutil.ignore_patterns("__pycache__"))
        for stored, name in RENAMED.items():
            (scratch / stored).rename(scratch / name)
        if folder.is_dir():  # empty (checked above), and perhaps the shell's working folder: fill it in place
            for entry in sorted(scratch.iterdir()):
                entry.rename(folder / entry.name)
                moved.append(folder / entry.name)
            scratch.rmdir()
        else:
            scratch.chmod(0o777 & ~_umask())
            scratch.rename(folder)
    except OSError as error:
        shutil.rmtree(scratch, ignore_errors=True)
        for entry in moved:  # the folder was empty: leave it so
            shutil.rmtree(entry, ignore_errors=True) if entry.is_dir() else entry.unlink(missing_ok=True)
        raise OersiteError(f"{shown(shown_as)}: cannot write the course ({error.strerror})") from None
    return starter_files()


def _umask() -> int:
    current = os.umask(0)
    os.umask(current)
    return current
