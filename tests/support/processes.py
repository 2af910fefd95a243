"""The processes a test's own process started, read from /proc (no psutil on the test machines)."""

from __future__ import annotations

from pathlib import Path


def kernels_of(pid: int) -> list[int]:
    """The ipykernel processes ``pid`` started (its children running ``ipykernel_launcher``)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            parent = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            command = (entry / "cmdline").read_bytes()
        except (OSError, IndexError, ValueError):
            continue
        if parent == pid and b"ipykernel_launcher" in command:
            found.append(int(entry.name))
    return found
