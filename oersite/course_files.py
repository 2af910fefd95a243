"""Which files are the course's: one rule for everything that walks a course's folders.

Build output, installed dependencies and tools' caches are never the course's,
nor is anything hidden (``.git``, ``.ipynb_checkpoints``, editors' and tools'
files).  The site's fingerprint (``uptodate``), the preview's watcher, the data
folder's files (the manifest's check, the data image's tag, the local hubs'
copy) and the notebooks the single-user image is pinned for all see the same
files.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

#: Names that are never the course's, in whatever folder they are: build output, dependencies, caches.
NOT_THE_COURSES = frozenset({"_build", "node_modules", "__pycache__"})


def is_the_courses(name: str) -> bool:
    """Whether a file or folder of this name (one part of a path) can be part of the course."""
    return not name.startswith(".") and name not in NOT_THE_COURSES


def course_files(root: Path, *, skip: frozenset[Path] = frozenset()) -> Iterator[Path]:
    """Every file below ``root`` that is the course's, in a stable order; folders in ``skip`` (resolved) left out."""
    for folder, subfolders, names in os.walk(root):
        subfolders[:] = sorted(
            name
            for name in subfolders
            if is_the_courses(name) and (not skip or Path(folder, name).resolve() not in skip)
        )
        for name in sorted(names):
            if is_the_courses(name):
                yield Path(folder, name)
