"""Debian's Chromium, headless, for what the build makes from pages: figure images and the PDF.

oersite never downloads a browser (Playwright's own builds need the internet, which a
campus build machine may not have): it drives the ``chromium`` on the PATH, as the tests
do. A missing Playwright or Chromium is one line naming what to install.
"""

from __future__ import annotations

import contextlib
import shutil
from collections.abc import Iterator
from typing import TYPE_CHECKING

from oersite.errors import OersiteError

if TYPE_CHECKING:
    from playwright.sync_api import Browser

#: Flags for a machine without a display or network: without the background-networking
#: ones Chromium keeps trying to reach Google's services.
CHROMIUM_ARGS = (
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
)
INSTALL_HINT = "install Debian's chromium (apt-get install chromium)"


class ChromiumMissing(OersiteError):
    """Chromium or Playwright is not installed; the message says which and how to get it."""


def chromium_path() -> str:
    """Where Debian's Chromium is; ``ChromiumMissing`` when it is not installed."""
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if path is None:
        raise ChromiumMissing(f"no chromium on the PATH; {INSTALL_HINT}")
    return path


@contextlib.contextmanager
def headless_chromium() -> Iterator[Browser]:
    """A headless Chromium for the block, closed after it."""
    path = chromium_path()
    try:
        from playwright.sync_api import Error, sync_playwright
    except ImportError:
        raise ChromiumMissing("Python's playwright package is missing; pip install playwright") from None
    with sync_playwright() as playwright:
        try:
            browser = playwright.chromium.launch(executable_path=path, args=list(CHROMIUM_ARGS), headless=True)
        except Error as exc:
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise ChromiumMissing(f"{path} did not start ({first}); {INSTALL_HINT}") from None
        try:
            yield browser
        finally:
            browser.close()
