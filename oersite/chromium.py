"""Debian's Chromium, headless, for what oersite makes from pages (figure images, the PDF) and checks in them.

oersite never downloads a browser (Playwright's own builds need the internet, which a
campus build machine may not have): it drives the ``chromium`` on the PATH, as the tests
do. A missing Playwright or Chromium is one line naming what to install.
"""

from __future__ import annotations

import contextlib
import shutil
import socket
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import urlsplit

from oersite.errors import OersiteError

if TYPE_CHECKING:
    from playwright.sync_api import Browser, BrowserContext, Page, Request, Route

T = TypeVar("T")

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
    # WebRTC's UDP goes around any proxy: none at all (site_context sends everything else to a dead end).
    "--force-webrtc-ip-handling-policy=disable_non_proxied_udp",
)
INSTALL_HINT = "install Debian's chromium (apt-get install chromium)"


class ChromiumMissing(OersiteError):
    """Chromium or Playwright is not installed; the message says which and how to get it."""


def first_line(error: BaseException) -> str:
    """The first line of what an error says (Playwright's run to many), or its type when it says nothing."""
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


def in_own_thread(name: str, function: Callable[..., T], *args: Any) -> T:
    """``function(*args)`` in a thread of its own, its result or its exception returned here.

    Playwright's sync API refuses a thread whose asyncio loop runs (a build called from a
    notebook, or beside a test's browser): what drives Chromium at build time runs apart.
    """
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix=name) as worker:
        return worker.submit(function, *args).result()


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
            first = first_line(exc)
            raise ChromiumMissing(f"{path} did not start ({first}); {INSTALL_HINT}") from None
        try:
            yield browser
        finally:
            browser.close()


def loopback_only(
    context: BrowserContext, refused: Callable[[Request], None] | None = None, *, origin: str | None = None
) -> BrowserContext:
    """Refuse every request of ``context`` that would leave 127.0.0.1 (``refused`` hears of each).

    A page opened to look at it (a figure's image, an audit) must show what a reader
    offline would see, and must not reach a CDN or a map tile server from a build machine.
    With ``origin`` (the served site's URL) only that server answers: a course's page must not
    reach whatever else listens on this machine's loopback (a hub, another build's server).
    """
    allowed = urlsplit(origin)[:2] if origin else None

    def route(route: Route, request: Request) -> None:
        parts = urlsplit(request.url)
        local = parts[:2] == allowed if allowed else parts.hostname in ("127.0.0.1", None)
        if local or request.url.startswith(("data:", "about:", "blob:")):
            route.continue_()
        else:
            if refused is not None:
                refused(request)
            route.abort("internetdisconnected")

    context.route("**/*", route)
    return context


def site_context(
    browser: Browser, origin: str, refused: Callable[[Request], None] | None = None, **options: Any
) -> BrowserContext:
    """A context in which the site served at ``origin`` is the only server a page reaches, by any way.

    What Playwright sees (documents, scripts, images, fetches) is refused by
    ``loopback_only`` (``refused`` hears of each). What it does not see (a
    WebSocket, a worker's too; a preconnect) goes to a proxy that is no server:
    a port of 127.0.0.1 held but never listening, so the connection fails.
    Playwright sends loopback addresses to a context's proxy too (Chromium's
    ``<-loopback>``), so only the site's own host and port go straight.
    Service workers are blocked. ``options`` go to ``new_context``.
    """
    dead_end = socket.socket()
    dead_end.bind(("127.0.0.1", 0))
    proxy = {"server": f"http://127.0.0.1:{dead_end.getsockname()[1]}", "bypass": urlsplit(origin).netloc}
    context = browser.new_context(service_workers="block", proxy=proxy, **options)
    context.on("close", lambda _context: dead_end.close())
    return loopback_only(context, refused, origin=origin)


class Quiet:
    """Requests of a page still in flight, to wait until it has asked for everything it will.

    Playwright's ``networkidle`` was seen never to come for pages whose requests had all
    finished (Chromium 156, BokehJS loaded in the head); counting the page's own request
    events does not depend on it.
    """

    def __init__(self, page: Page) -> None:
        self.in_flight: set = set()
        self.last_change = time.monotonic()
        page.on("request", self._started)
        page.on("requestfinished", self._ended)
        page.on("requestfailed", self._ended)

    def _started(self, request: Request) -> None:
        self.in_flight.add(request)
        self.last_change = time.monotonic()

    def _ended(self, request: Request) -> None:
        self.in_flight.discard(request)
        self.last_change = time.monotonic()

    def wait(self, page: Page, *, quiet_for: float = 0.5, timeout: float = 30) -> None:
        """Until no request has been in flight for ``quiet_for`` seconds (Playwright's networkidle, counted here).

        ``TimeoutError`` names what is still loading after ``timeout`` seconds.
        """
        deadline = time.monotonic() + timeout
        while self.in_flight or time.monotonic() - self.last_change < quiet_for:
            if time.monotonic() > deadline:
                raise TimeoutError(f"requests still in flight after {timeout} s: {[r.url for r in self.in_flight]}")
            page.wait_for_timeout(100)


class BrowserThread:
    """One headless Chromium for a stage, started on first use, driven from a thread of its own.

    Playwright's sync API belongs to the thread that started it: every job given to
    ``submit`` runs in this object's one thread, in order, and gets the same browser, so a
    build pays Chromium's start once however many jobs it has, and none when it has no job.
    Jobs run while the caller goes on (the figures are drawn while Sphinx writes pages).
    A Chromium that did not start is remembered: each later job hears the same
    ``ChromiumMissing`` without trying again.
    """

    def __init__(self, name: str) -> None:
        self._worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix=name)
        self._browser: Browser | None = None
        self._missing: ChromiumMissing | None = None
        self._stack = contextlib.ExitStack()
        self._closing: Future | None = None
        #: Seconds the jobs took so far, Chromium's start included.
        self.busy = 0.0

    def submit(self, job: Callable[..., T], *args: Any) -> Future[T]:
        """``job(browser, *args)`` in the browser's thread; its future."""
        return self._worker.submit(self._timed, job, *args)

    def _timed(self, job: Callable[..., T], *args: Any) -> T:
        started = time.perf_counter()
        try:
            return job(self._started(), *args)
        finally:
            self.busy += time.perf_counter() - started

    @property
    def missing(self) -> bool:
        """Whether Chromium was needed and did not start."""
        return self._missing is not None

    def _started(self) -> Browser:
        if self._missing is not None:
            raise self._missing
        if self._browser is None:
            try:
                self._browser = self._stack.enter_context(headless_chromium())
            except ChromiumMissing as missing:
                self._missing = missing
                raise
        return self._browser

    def close(self, before: Callable[[], None] | None = None, *, wait: bool = True) -> None:
        """Close Chromium (if it started) once the jobs given so far are done; ``before`` first, if it started.

        ``wait=False`` returns at once (the caller has other work meanwhile); a later ``close()`` waits.
        """

        def closing() -> None:
            try:
                if before is not None and self._browser is not None:
                    before()
            finally:
                try:
                    self._stack.close()
                except Exception:  # noqa: BLE001,S110 (Chromium already gone, as after Ctrl-C: nothing to close)
                    pass

        if self._closing is None:
            self._closing = self._worker.submit(closing)
            self._worker.shutdown(wait=False)
        if wait:
            self._closing.result()
