"""How oersite writes paths and counts in what it tells the user (one place, so every command says them alike)."""

from __future__ import annotations

import os
from pathlib import Path


def shown(path: Path | str) -> str:
    """A path as the user would type it: relative to the working folder, unless that climbs out too far."""
    try:
        relative = os.path.relpath(path)
    except ValueError:  # another drive (Windows)
        return str(path)
    return relative if not relative.startswith("../../") else str(Path(path).resolve())


def plural(count: int, noun: str) -> str:
    """``1 page``, ``3 pages``."""
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"
