"""``oersite serve``: the author's preview, rebuilt on every save and reloaded in the browser.

``mkdocs serve``, ``quarto preview`` and ``hugo server`` follow an author's
edits; Jupyter Book 1 has nothing of the kind (sphinx-autobuild, bolted on,
rebuilds in a new process each time).  The preview here:

- watches the course with watchfiles (inotify: no polling, nothing to do while
  nothing changes), ignoring ``_build``, the output folder, hidden folders,
  ``__pycache__``, notebook checkpoints and editors' temporary files;
- rebuilds in this process with ``build_course``, so Sphinx and the libraries
  stay imported and Sphinx's environment tells it which pages to re-read; a
  save during a rebuild is seen by the rebuild that follows it;
- serves the site on 127.0.0.1 and adds, to HTML pages only and only as they
  are served (never to the built files), a small script that listens for
  server-sent events: ``reload`` after a good rebuild, ``problem`` with the
  one-line error after a broken one, which the page shows above the last good
  build, kept until the error is fixed.
"""

from __future__ import annotations

import html
import json
import os
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from http.server import ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from oersite.course_files import is_the_courses
from oersite.serve import QuietHandler, serve_on_loopback

#: Where the preview's own two resources are served (a path no course uses).
PREVIEW_PREFIX = "/_oersite-preview/"
EVENTS_PATH = PREVIEW_PREFIX + "events"
SCRIPT_PATH = PREVIEW_PREFIX + "reload.js"
#: Seconds between keep-alive comments on an idle event stream (a closed tab is noticed then).
KEEPALIVE = 15
#: Editors' temporary files: vim's swap files and its 4913 probe, emacs's lock and autosave files, backups.
EDITOR_SUFFIXES = (".swp", ".swx", ".swo", "~", ".tmp", ".part", ".crdownload")
EDITOR_PREFIXES = (".#", "#")
EDITOR_NAMES = {"4913"}

RELOAD_SCRIPT = """\
(function () {
  if (window !== window.top) { return; }  // a page in a frame: the page around it listens
  var script = document.currentScript;
  var query = "?since=" + encodeURIComponent(script.getAttribute("data-generation")) +
    "&run=" + encodeURIComponent(script.getAttribute("data-run"));
  var events = null;
  function banner() {
    var box = document.getElementById("oersite-preview-problem");
    if (!box) {
      box = document.createElement("div");
      box.id = "oersite-preview-problem";
      box.setAttribute("role", "alert");
      box.style.cssText = "position:fixed;bottom:0;left:0;right:0;z-index:10000;padding:0.8em 1.2em;" +
        "background:#7a1f1f;color:#fff;font:14px/1.4 monospace;white-space:pre-wrap;box-shadow:0 -2px 6px #0006";
      document.body.appendChild(box);
    }
    return box;
  }
  function onProblem(event) {
    var problem = JSON.parse(event.data);
    if (problem) {
      banner().textContent = "The last save did not build; this is the site from before it:\\n" + problem;
    } else {
      var box = document.getElementById("oersite-preview-problem");
      if (box) { box.remove(); }
    }
  }
  // One stream per visible page: browsers allow a few connections per host, and hidden tabs
  // catch up when shown again (the server tells them at once if a newer build is there).
  function listen() {
    if (events || document.visibilityState === "hidden") { return; }
    events = new EventSource("%(events)s" + query);
    events.addEventListener("reload", function () { stop(); window.location.reload(); });
    events.addEventListener("problem", onProblem);
  }
  function stop() { if (events) { events.close(); events = null; } }
  document.addEventListener("visibilitychange", function () {
    if (document.visibilityState === "hidden") { stop(); } else { listen(); }
  });
  window.addEventListener("pagehide", stop);
  listen();
})();
"""

NO_SITE_YET = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>oersite preview</title></head>
<body><h1>No site yet</h1><p>The course has not built yet. The problem:</p><pre>%(problem)s</pre>
<p>Fix it and save: this page reloads by itself.</p></body></html>
"""


@dataclass
class PreviewState:
    """What the open pages wait on: how many good builds there have been, and the latest build's problem."""

    generation: int = 0
    problem: str | None = None

    def __post_init__(self) -> None:
        self.changed = threading.Condition()
        #: This run of the preview: a page from an earlier run reloads whatever its generation.
        self.run = uuid.uuid4().hex[:12]

    def built(self) -> None:
        with self.changed:
            self.generation += 1
            self.problem = None
            self.changed.notify_all()

    def failed(self, problem: str) -> None:
        with self.changed:
            self.problem = problem
            self.changed.notify_all()

    def wait(self, since: int, shown: str | None, timeout: float) -> tuple[int, str | None]:
        """Until there is a newer good build than ``since`` or another problem than ``shown``, or ``timeout``."""
        with self.changed:
            self.changed.wait_for(lambda: self.generation > since or self.problem != shown, timeout)
            return self.generation, self.problem


def is_course_change(root: Path, ignored: list[Path]) -> Callable[[object, str], bool]:
    """A watchfiles filter: True for a change a rebuild should see."""
    root = root.resolve()
    ignored = [path.resolve() for path in ignored]

    def keep(change, path: str) -> bool:
        candidate = Path(path)
        if any(candidate == folder or folder in candidate.parents for folder in ignored):
            return False
        try:
            parts = candidate.relative_to(root).parts
        except ValueError:
            return False
        if not all(is_the_courses(part) for part in parts):
            return False
        name = candidate.name
        return not (name in EDITOR_NAMES or name.endswith(EDITOR_SUFFIXES) or name.startswith(EDITOR_PREFIXES))

    return keep


class Rebuilder:
    """Runs ``build`` once per burst of changes, in one thread; a change during a build triggers the next one."""

    def __init__(self, build: Callable[[], None]) -> None:
        self.build = build
        self.pending = threading.Event()
        self.stopped = False
        self.thread = threading.Thread(target=self._run, name="oersite-rebuild", daemon=True)
        self.thread.start()

    def request(self) -> None:
        self.pending.set()

    def stop(self) -> None:
        self.stopped = True
        self.pending.set()

    def _run(self) -> None:
        while True:
            self.pending.wait()
            if self.stopped:
                return
            self.pending.clear()  # a change from now on asks for another build
            self.build()


def preview_handler(site: Path, state: PreviewState):
    """A request handler for ``site`` that adds the reload script to HTML pages and serves the events."""

    class PreviewHandler(QuietHandler):
        def __init__(self, *args, **kwargs) -> None:
            super().__init__(*args, directory=str(site), **kwargs)

        def do_GET(self) -> None:
            url = urlsplit(self.path)
            if url.path == EVENTS_PATH:
                return self._events(parse_qs(url.query))
            if url.path == SCRIPT_PATH:
                return self._send(RELOAD_SCRIPT % {"events": EVENTS_PATH}, "text/javascript")
            generation = state.generation  # before the page is read: a build ending meanwhile reloads it
            if not (site / "index.html").is_file():
                problem = html.escape(state.problem or "building...")
                return self._send_page(NO_SITE_YET % {"problem": problem}, generation)
            page = self._html_file(url.path)
            if page is None:
                return super().do_GET()
            try:
                text = page.read_text(encoding="utf-8")
            except (OSError, ValueError):  # being rewritten, gone, or not UTF-8: served as it is
                return super().do_GET()
            return self._send_page(text, generation)

        def _html_file(self, path: str) -> Path | None:
            local = Path(self.translate_path(path))
            if local.is_dir():
                if not path.endswith("/"):
                    return None  # the file handler redirects to the folder's URL with a slash
                local = local / "index.html"
            return local if local.suffix == ".html" and local.is_file() else None

        def _send_page(self, text: str, generation: int) -> None:
            tag = f'<script src="{SCRIPT_PATH}" data-generation="{generation}" data-run="{state.run}"></script>'
            closing = text.rfind("</body>")
            text = text[:closing] + tag + text[closing:] if closing >= 0 else text + tag
            self._send(text, "text/html; charset=utf-8")

        def _send(self, text: str, content_type: str) -> None:
            body = text.encode("utf-8")
            self.send_response(200)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Cache-Control", "no-store")
            self.end_headers()
            self.wfile.write(body)

        def _events(self, query: dict[str, list[str]]) -> None:
            try:
                since = int(query.get("since", ["0"])[0])
            except ValueError:
                since = 0
            if query.get("run", [""])[0] != state.run:
                since = -1  # a page served by an earlier run of the preview: reload it now
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.send_header("Cache-Control", "no-store")
            self.end_headers()
            shown: str | None = None
            try:
                while True:
                    generation, problem = state.wait(since, shown, KEEPALIVE)
                    if generation > since:
                        self.wfile.write(b"event: reload\ndata: {}\n\n")
                        self.wfile.flush()
                        return
                    if problem != shown:
                        self.wfile.write(f"event: problem\ndata: {json.dumps(problem)}\n\n".encode())
                        shown = problem
                    else:
                        self.wfile.write(b": still here\n\n")
                    self.wfile.flush()
            except (BrokenPipeError, ConnectionResetError):
                return  # the tab was closed or reloaded

    return PreviewHandler


def watch_and_serve(
    root: Path,
    site: Path,
    port: int,
    build: Callable[[], str | None],
    *,
    announce: Callable[[str], None],
    say: Callable[[str], None],
    ignored: list[Path],
) -> None:
    """Serve ``site`` on 127.0.0.1, build, and rebuild on every change under ``root``, until Ctrl-C.

    ``build()`` builds the course and returns None, or the build's problem as
    one line.  The port is taken first, so a port in use is said at once, not
    after a long first build; pages opened during that build reload when it ends.
    """
    import watchfiles

    state = PreviewState()
    building = threading.Event()

    def rebuild() -> None:
        building.set()
        try:
            problem = build()
        except Exception as error:  # noqa: BLE001 (build() reports its own; the preview must keep going)
            problem = f"the build stopped unexpectedly: {type(error).__name__}: {error}"
            say(f"error: {problem}")
        finally:
            building.clear()
        if problem is None:
            state.built()
        else:
            state.failed(problem)

    server: ThreadingHTTPServer = serve_on_loopback(preview_handler(site, state), port)
    server.daemon_threads = True  # open event streams do not keep Ctrl-C waiting
    stop = threading.Event()
    with server:
        threading.Thread(target=server.serve_forever, name="oersite-preview", daemon=True).start()
        announce(f"http://127.0.0.1:{server.server_address[1]}/")
        rebuilder = Rebuilder(rebuild)
        rebuilder.request()  # the first build

        def watch() -> None:
            try:
                for _changes in watchfiles.watch(
                    root,
                    watch_filter=is_course_change(root, ignored),
                    stop_event=stop,
                    step=30,  # ms without another change before a burst of changes is handed over
                    raise_interrupt=False,
                ):
                    rebuilder.request()
            except Exception as error:  # noqa: BLE001 (say it, and keep serving what is built)
                problem = f"stopped watching {root} ({type(error).__name__}: {error}); restart oersite serve"
                say(f"error: {problem}")
                state.failed(problem)

        threading.Thread(target=watch, name="oersite-watch", daemon=True).start()
        try:
            while not stop.wait(3600):
                pass
        except KeyboardInterrupt:
            if building.is_set():
                # A build's notebooks would run to their end before Python could exit; the next build
                # redoes what this one left unfinished. Its kernels, and the one waiting for the next
                # save, stop now, not when they notice.
                from oersite.kernels import stop_kernels

                stop_kernels()
                os._exit(130)
        finally:
            stop.set()
            rebuilder.stop()
            server.shutdown()
