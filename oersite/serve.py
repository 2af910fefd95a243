"""``oersite serve``: preview a built site on the loopback interface.

The standard library's threading HTTP server is enough for one reader; it
listens on 127.0.0.1 only, so a preview is never published by accident.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

LOOPBACK = "127.0.0.1"


class _QuietHandler(SimpleHTTPRequestHandler):
    """Serves files without a log line per request."""

    def log_message(self, format: str, *args) -> None:  # noqa: A002 (the stdlib's name)
        pass


def make_server(site: Path, port: int = 0) -> ThreadingHTTPServer:
    """A server for ``site`` on 127.0.0.1; ``port=0`` picks a free port."""
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
