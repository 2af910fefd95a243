"""Debian's Chromium driven by Playwright, with every request off this machine blocked."""

from __future__ import annotations

import contextlib
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from oersite.chromium import headless_chromium
from oersite.serve import make_server, site_url

LOADED_TYPES = {"script", "stylesheet", "font"}


@contextlib.contextmanager
def served(site: Path):
    """The built site on 127.0.0.1 for the duration of the block."""
    server = make_server(site, 0)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield site_url(server)
    finally:
        server.shutdown()
        server.server_close()


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


class Quiet:
    """Requests of a page still in flight, to wait until it has asked for everything it will.

    Playwright's ``networkidle`` was seen never to come for pages whose requests had all
    finished (Chromium 156, BokehJS loaded in the head); counting the page's own request
    events does not depend on it.
    """

    def __init__(self, page) -> None:
        self.in_flight: set = set()
        self.last_change = time.monotonic()
        page.on("request", self._started)
        page.on("requestfinished", self._ended)
        page.on("requestfailed", self._ended)

    def _started(self, request) -> None:
        self.in_flight.add(request)
        self.last_change = time.monotonic()

    def _ended(self, request) -> None:
        self.in_flight.discard(request)
        self.last_change = time.monotonic()

    def wait(self, page, *, quiet_for: float = 0.5, timeout: float = 30) -> None:
        """Until no request has been in flight for ``quiet_for`` seconds (Playwright's networkidle, counted here)."""
        deadline = time.monotonic() + timeout
        while self.in_flight or time.monotonic() - self.last_change < quiet_for:
            if time.monotonic() > deadline:
                raise AssertionError(f"requests still in flight after {timeout} s: {[r.url for r in self.in_flight]}")
            page.wait_for_timeout(100)


def offline_context(browser, traffic: Traffic, **options):
    """A browser context in which only 127.0.0.1 answers; everything else is recorded and refused.

    ``options``: Playwright's for the context (``java_script_enabled=False``, ...).
    """
    context = browser.new_context(viewport={"width": 1280, "height": 900}, **options)

    def route(route, request):
        if urlsplit(request.url).hostname in ("127.0.0.1", None) or request.url.startswith(("data:", "about:")):
            route.continue_()
        else:
            traffic.blocked.append((request.resource_type, request.url))
            route.abort("internetdisconnected")

    context.route("**/*", route)
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
