"""``oersite serve``: preview a built site on the loopback interface.

The standard library's threading HTTP server is enough for one reader; it
listens on 127.0.0.1 only, so a preview is never published by accident, and
answers only requests addressed to it by that address (``Host``): a web page
elsewhere that has its own host name resolve to 127.0.0.1 (DNS rebinding)
gets 421, not the course, its drafts or the preview's events.
"""

from __future__ import annotations

import contextlib
import errno
import functools
import sys
import threading
from collections.abc import Callable, Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from oersite.errors import OersiteError

LOOPBACK = "127.0.0.1"
#: Seconds between a served block's server looking whether it is to stop (``serving``).
SHUTDOWN_POLL = 0.02


class QuietHandler(SimpleHTTPRequestHandler):
    """Serves files without a log line per request, to requests addressed to this server only."""

    def parse_request(self) -> bool:
        if not super().parse_request():
            return False
        port = self.server.server_address[1]
        if self.headers.get("Host", "").lower() not in (f"{LOOPBACK}:{port}", f"localhost:{port}"):
            self.send_error(421, None, f"This server answers only http://{LOOPBACK}:{port}/")
            return False
        return True

    def log_message(self, format: str, *args) -> None:  # noqa: A002 (the stdlib's name)
        pass


class _LinkCheckerHandler(QuietHandler):
    """Answers with a ``LinkChecker`` header: linkchecker then drops its 0.1-0.6 s
    wait between requests to one host and uses its configured rate instead
    (linkcheck/checker/httpurl.py, ``set_maxrated_for_host``)."""

    def end_headers(self) -> None:
        self.send_header("LinkChecker", "allowed")
        super().end_headers()


class QuietServer(ThreadingHTTPServer):
    """A reader that goes away mid-file is no error: linkchecker closes the connection once it has read
    what it needs of a file; a browser closes a page (the accessibility audit, a figure) with requests
    in flight.  The standard library prints a traceback for each."""

    def handle_error(self, request, client_address) -> None:
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


def make_server(site: Path, port: int = 0, *, linkchecker: bool = False) -> ThreadingHTTPServer:
    """A server for ``site`` on 127.0.0.1; ``port=0`` picks a free port.

    ``linkchecker=True``: a server for ``oersite check``, which lets linkchecker go at full speed.
    A port that is taken is one line for the user, naming the option that moves it.
    """
    handler = _LinkCheckerHandler if linkchecker else QuietHandler
    return serve_on_loopback(functools.partial(handler, directory=str(site)), port)


def serve_on_loopback(handler, port: int) -> ThreadingHTTPServer:
    """A server on 127.0.0.1 for ``handler``; a port that is taken is one line naming the option that moves it."""
    try:
        return QuietServer((LOOPBACK, port), handler)
    except OSError as error:
        if error.errno == errno.EADDRINUSE:
            raise OersiteError(f"{LOOPBACK}:{port} is in use; stop what uses it or pass --port") from None
        raise OersiteError(f"cannot serve on {LOOPBACK}:{port}: {error.strerror}") from None


def site_url(server: ThreadingHTTPServer) -> str:
    return f"http://{LOOPBACK}:{server.server_address[1]}/"


@contextlib.contextmanager
def serving(site: Path, handler: type[QuietHandler] = QuietHandler) -> Iterator[str]:
    """``site`` served on a free port of 127.0.0.1 for the block (a check's browser, the tests); yields its URL.

    ``handler``: a ``QuietHandler`` that finds some paths elsewhere (the figure pages' libraries).
    """
    server = serve_on_loopback(functools.partial(handler, directory=str(site)), 0)
    # shutdown() waits for the loop to look again: every half second by default, half a second
    # at the end of every figure drawing (and every check) for nothing.
    serve = functools.partial(server.serve_forever, poll_interval=SHUTDOWN_POLL)
    thread = threading.Thread(target=serve, name="oersite-site-server", daemon=True)
    thread.start()
    try:
        yield site_url(server)
    finally:
        server.shutdown()
        server.server_close()


def serve_folder(site: Path, port: int, announce: Callable[[str], None]) -> None:
    """Serve until Ctrl-C."""
    with make_server(site, port) as server:
        announce(site_url(server))
        try:
            server.serve_forever()
        except KeyboardInterrupt:
            pass
