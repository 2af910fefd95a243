"""Debian's Chromium driven by Playwright, with every request off this machine blocked."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from oersite.chromium import Quiet, headless_chromium, loopback_only
from oersite.serve import serving

LOADED_TYPES = {"script", "stylesheet", "font"}
__all__ = ["Quiet", "Traffic", "chromium", "offline_context", "served"]


def served(site: Path):
    """The built site on 127.0.0.1 for the duration of the block (yields its URL)."""
    return serving(site)


@contextlib.contextmanager
def chromium():
    """A headless Chromium (Debian's, never a downloaded one)."""
    with headless_chromium() as browser:
        yield browser


@dataclass
class Traffic:
    """What a page asked for that it should not have: left the machine, or failed."""

    blocked: list[tuple[str, str]] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)

    def loaded_from_outside(self) -> list[tuple[str, str]]:
        return [(kind, url) for kind, url in self.blocked if kind in LOADED_TYPES]

    def loads_that_failed(self) -> list[tuple[str, str]]:
        return [(kind, url) for kind, url in self.failed if kind in LOADED_TYPES]


def offline_context(browser, traffic: Traffic, **options):
    """A browser context in which only 127.0.0.1 answers; everything else is recorded and refused.

    ``options``: Playwright's for the context (``java_script_enabled=False``, ...).
    """
    context = loopback_only(
        browser.new_context(viewport={"width": 1280, "height": 900}, **options),
        lambda request: traffic.blocked.append((request.resource_type, request.url)),
    )
    context.on(
        "requestfailed",
        lambda request: (
            urlsplit(request.url).hostname == "127.0.0.1"
            and traffic.failed.append((request.resource_type, request.url))
        ),
    )
    context.on(
        "response",
        lambda response: (
            response.status >= 400 and traffic.failed.append((response.request.resource_type, response.url))
        ),
    )
    return context
