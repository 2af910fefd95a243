"""Knowing when a build has nothing to do.

A rebuild with nothing changed should cost almost nothing, yet starting Sphinx
alone takes over a second (its extensions import half of Jupyter).  So the
build records a fingerprint of everything that can change the site: every
file of the course (path, size, modification time: a stat, no reading), the
installed packages, oersite's version and the build options.  When the next
build finds the same fingerprint and the site still in place, it reports the
previous build's results and stops.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from oersite import __version__
from oersite.course_files import course_files
from oersite.execute import environment_fingerprint
from oersite.files import write_atomically


@dataclass(frozen=True)
class CourseState:
    """What a build is made from: the fingerprint, and the stamp of each file it covers."""

    fingerprint: str
    #: A digest of what is not the files: oersite's version, the installed packages, the options.
    settings: str
    #: Each course file, relative to the course: "size mtime_ns".
    files: dict[str, str]


def course_state(root: Path, output_dir: Path, options: dict[str, Any]) -> CourseState:
    """A digest of the course's files, the environment and the options; and each file's stamp."""
    import hashlib

    settings = json.dumps([__version__, environment_fingerprint(), str(output_dir), options]).encode()
    hasher = hashlib.sha256()
    hasher.update(settings)
    files: dict[str, str] = {}
    for path in course_files(root, skip=frozenset({output_dir.resolve()})):
        try:
            status = os.stat(path)
        except OSError:
            continue
        name = os.path.relpath(path, root)
        files[name] = f"{status.st_size} {status.st_mtime_ns}"
        hasher.update(f"{name}\0{status.st_size}\0{status.st_mtime_ns}\n".encode())
    return CourseState(hasher.hexdigest(), hashlib.sha256(settings).hexdigest(), files)


def source_fingerprint(root: Path, output_dir: Path, options: dict[str, Any]) -> str:
    """A digest of the course's files, the environment and the options."""
    return course_state(root, output_dir, options).fingerprint


def previous_build(record: Path, fingerprint: str, output_dir: Path) -> dict[str, Any] | None:
    """The last build's report when it was made from the same fingerprint and its site is still there."""
    try:
        saved = json.loads(record.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if saved.get("fingerprint") != fingerprint or not (output_dir / "index.html").is_file():
        return None
    return saved["report"]


def changed_files(record: Path, state: CourseState) -> set[str] | None:
    """The course files (relative paths) added, changed or removed since the last build.

    None when that is not known: no build before, or one made in another environment
    (installed packages, oersite's version) or with other options, where anything may change.
    """
    try:
        saved = json.loads(record.read_text(encoding="utf-8"))
        before = saved["files"]
        if saved["settings"] != state.settings or not isinstance(before, dict):
            return None
    except (OSError, ValueError, KeyError, TypeError):
        return None
    now = state.files
    return {name for name in before.keys() | now.keys() if before.get(name) != now.get(name)}


def remember_build(record: Path, state: CourseState, report: dict[str, Any]) -> None:
    write_atomically(
        record,
        json.dumps(
            {
                "fingerprint": state.fingerprint,
                "settings": state.settings,
                "files": state.files,
                "report": report,
            }
        ),
    )
