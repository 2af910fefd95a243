"""A real ``oersite serve`` process for tests, its output lines read as it prints them."""

from __future__ import annotations

import queue
import re
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path


class Preview:
    """A real ``oersite serve`` process; its output lines arrive in a queue as it prints them."""

    def __init__(self, course: Path, environment: dict[str, str] | None = None) -> None:
        self.course = course
        self.process = subprocess.Popen(
            [sys.executable, "-m", "oersite", "serve", str(course), "--port", "0"],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            bufsize=1,
            env=environment,
        )
        self.lines: queue.Queue[str] = queue.Queue()
        self.said: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()
        line = self.wait_for_line(lambda text: "Previewing" in text, 60)
        self.url = re.search(r"(http://127\.0\.0\.1:\d+/)", line).group(1)

    def _read(self) -> None:
        for line in self.process.stdout:
            self.lines.put(line.rstrip("\n"))

    def wait_for_line(self, condition, seconds: float = 120) -> str:
        deadline = time.monotonic() + seconds
        while True:
            try:
                line = self.lines.get(timeout=max(0.1, deadline - time.monotonic()))
            except queue.Empty:
                raise AssertionError(f"oersite serve did not say it within {seconds} s; it said: {self.said}") from None
            self.said.append(line)
            if condition(line):
                return line

    def wait_for_build(self, seconds: float = 180) -> str:
        return self.wait_for_line(lambda text: text.startswith(("Built in", "Up to date in", "error:")), seconds)

    def new_lines(self, settle: float) -> list[str]:
        time.sleep(settle)
        found = []
        while not self.lines.empty():
            found.append(self.lines.get())
        self.said += found
        return found

    def page(self, path: str) -> str:
        with urllib.request.urlopen(self.url + path, timeout=30) as response:
            return response.read().decode("utf-8")

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(10)
