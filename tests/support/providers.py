"""What the tests' identity providers share: a process of their own, its log, and waiting until it answers.

The providers themselves are saml_idp.py (SimpleSAMLphp), oidc_provider.py
(oidc-provider) and cas_server.py (django-cas-server): real servers on
127.0.0.1, each in a throwaway folder removed when it stops.
"""

from __future__ import annotations

import shutil
import subprocess
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from support.hub_clients import free_port

__all__ = ["ProviderProcess", "free_port", "launch", "wait_until_answering"]

LOG = "provider.log"


@dataclass
class ProviderProcess:
    process: subprocess.Popen
    folder: Path  # the provider's configuration, data and log; removed by stop()

    def log(self) -> str:
        """The end of what the provider printed (its own log files too, where it keeps any)."""
        return (self.folder / LOG).read_text(errors="replace")[-3000:]

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
        shutil.rmtree(self.folder, ignore_errors=True)


def launch(command: list[str], folder: Path, **options) -> subprocess.Popen:
    """Start the provider's process, its output into the folder's log."""
    with open(folder / LOG, "ab") as log:
        return subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, **options)


def wait_until_answering(provider: ProviderProcess, url: str, what: str, *, seconds: float = 60, expect: bytes = b""):
    """Until ``url`` answers 200 (with ``expect`` in its body); stop the provider and fail loudly otherwise."""
    deadline = time.monotonic() + seconds
    while True:
        if provider.process.poll() is not None:
            message = provider.log()
            provider.stop()
            raise RuntimeError(f"{what} exited ({provider.process.returncode}):\n{message}")
        try:
            with urllib.request.urlopen(url, timeout=5) as answer:
                if answer.status == 200 and expect in answer.read():
                    return provider
        except (urllib.error.URLError, OSError):
            pass
        if time.monotonic() > deadline:
            message = provider.log()
            provider.stop()
            raise RuntimeError(f"{what} did not answer at {url} within {seconds:.0f} s:\n{message}")
        time.sleep(0.2)
