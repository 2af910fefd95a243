"""Writing files so that a crash or a full disk never leaves half of one."""

from __future__ import annotations

import os
from pathlib import Path


def write_atomically(path: Path, text: str | bytes, *, mode: int | None = None) -> None:
    """Write beside the target, then rename over it (atomic on one file system).

    ``mode``: the file's permissions from its first byte (a secrets file is never readable by others).
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.partial")
    try:
        data = text.encode("utf-8") if isinstance(text, str) else text
        if mode is None:
            partial.write_bytes(data)
        else:
            partial.unlink(missing_ok=True)
            with os.fdopen(os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode), "wb") as file:
                file.write(data)
        os.replace(partial, path)
    finally:
        partial.unlink(missing_ok=True)
