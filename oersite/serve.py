"""``oersite serve``: preview a built site on the loopback interface.

The standard library's threading HTTP server is enough for one reader; it
listens on 127.0.0.1 only, so a preview is never published by accident.
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

LOOPBACK = "127.0.0.1"


class _QuietHandler(SimpleHTTPRequestHandler):
    """Serves files without a log line per request."""

    def log_message(self, format: str, *args) -> None:  # noqa: A002 (the stdlib's name)
        pass


class _LinkCheckerHandler(_QuietHandler):
    """Answers with a ``LinkChecker`` header: linkchecker then drops its 0.1-0.6 s
    wait between requests to one host and uses its configured rate instead
    (linkcheck/checker/httpurl.py, ``set_maxrated_for_host``)."""

    def end_headers(self) -> None:
        self.send_header("LinkChecker", "allowed")
        super().end_headers()


class _LinkCheckerServer(ThreadingHTTPServer):
    def handle_error(self, request, client_address) -> None:
        # linkchecker closes the connection once it has read what it needs of a file.
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


def make_server(site: Path, port: int = 0, *, linkchecker: bool = False) -> ThreadingHTTPServer:
    """A server for ``site`` on 127.0.0.1; ``port=0`` picks a free port.

    ``linkchecker=True``: a server for ``oersite check``, which lets linkchecker go at full speed.
    """
    if linkchecker:
        return _LinkCheckerServer((LOOPBACK, port), functools.partial(_LinkCheckerHandler, directory=str(site)))
    handler = functools.partial(_QuietHandler, directory=str(site))
    return ThreadingHTTPServer((LOOPBACK, port), handler)


def site_url(server: ThreadingHTTPServer) -> str:
    return f"http://{LOOPBACK}:{server.server_address[1]}/"


def serve_folder(site: Path, port: int, announce: Callable[[str], None]) -> None:
    """Serve until Ctrl-C."""
    with make_server(site, port) as server:
        announce(site_url(server))
        try:
            server.serve_forever()
        except KeyboardInterrupt:
            pass
