"""What every student's Jupyter server adds: the site's browser libraries, with Folium's maps
pointed at them, MyST Markdown notebooks opened as notebooks, and the launch link's notebook
with its kernel already running.

A Folium map is a whole page in an ``<iframe srcdoc>`` that loads Leaflet, jQuery,
Bootstrap, Font Awesome and the rest from four CDNs.  The site rewrites those URLs to its
own copies (``oersite.assets``); on the hubs, JupyterLab shows the kernel's output as it
is, so on a network without CDN access (a campus, an exam room) maps stayed blank.

Two halves, both loaded without the author changing a line:

- a Jupyter server extension that serves the same pinned files the site ships
  (``oersite/static/vendor``, from ``assets/package.json``) at
  ``{base_url}oersite-libraries/``, on the hub's own origin, with no sign-in (they are
  public code, and a map's iframe asks for them like any page);
- an IPython extension, loaded by every kernel (the server's ``python3`` kernel spec
  names it), that points Folium's default libraries (``default_js``, ``default_css``) at
  the server's copies as folium's modules are imported (so ``Map.save()`` writes them
  too), and formats every Folium and branca object's HTML with any CDN URL left (branca's
  colour scales name d3 in their code) replaced the same way.  Both wait for a notebook
  to import folium (an import hook, IPython's formatter by type name): a kernel that
  draws no map pays nothing.

The output a student saves then names ``/user/<name>/oersite-libraries/...``; the site's
build maps such URLs to its own copies too (``oersite.assets``), so it renders there.

A course's MyST Markdown notebooks (``.md`` with jupytext front matter) open as notebooks
with jupytext (installed beside JupyterLab): JupyterLab's default viewer for Markdown and
MyST files is jupytext's notebook (``LAB_SETTINGS_OVERRIDES``), so a launch link to the
``.md`` lands on a notebook, as jupytext's documentation recommends.

The server extension also starts the kernel of the notebook a launch link opens when the
link's nbgitpuller page is served (``KernelAhead``): JupyterLab, which takes seconds to load
in the browser, then finds the notebook's session running instead of starting its kernel.
When the clone is already what a pull would make it (a server of the warm pool), the link
opens the notebook without nbgitpuller's page (``OpenAtOnce``).

On the Try-now hub's servers it lets the course site's pages in (``OriginGuard``): the
site's Run code button talks to the server from the site's origin, with a token scoped to
that server (``oersite.hub.authenticator.RunCodeHandler``); pages of any other origin are
refused, whatever they carry.

Runs inside single-user servers and their kernels: imports only the standard library
(tornado and IPython where the server or kernel has them already).
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import json
import os
import re
import sys
import urllib.parse
from pathlib import Path

#: Where the libraries are served, below the server's base URL.
LIBRARIES_ROUTE = "oersite-libraries"
#: The vendored libraries, beside this package (the notebook image keeps the same layout).
VENDOR_DIR = Path(__file__).resolve().parent.parent / "static" / "vendor"
#: CDN URL -> file in the vendor folder: the URLs folium 0.20 (and branca) write, and MathJax.
#: One table for the site (``oersite.assets``) and the hubs; a folium that asks for other
#: versions is reported by the site's build until this is updated.
CDN_FILES = {
    "https://cdn.jsdelivr.net/npm/leaflet@1.9.3/dist/leaflet.js": "leaflet/leaflet.js",
    "https://cdn.jsdelivr.net/npm/leaflet@1.9.3/dist/leaflet.css": "leaflet/leaflet.css",
    "https://code.jquery.com/jquery-3.7.1.min.js": "jquery/jquery.min.js",
    "https://cdn.jsdelivr.net/npm/bootstrap@5.2.2/dist/js/bootstrap.bundle.min.js": (
        "bootstrap/js/bootstrap.bundle.min.js"
    ),
    "https://cdn.jsdelivr.net/npm/bootstrap@5.2.2/dist/css/bootstrap.min.css": "bootstrap/css/bootstrap.min.css",
    "https://netdna.bootstrapcdn.com/bootstrap/3.0.0/css/bootstrap-glyphicons.css": "glyphicons/css/glyphicons.min.css",
    "https://cdn.jsdelivr.net/npm/@fortawesome/fontawesome-free@6.2.0/css/all.min.css": "fontawesome/css/all.min.css",
    # The registry has 2.0.4 and 2.0.5 of this plugin, not 2.0.2; the API is the same.
    "https://cdnjs.cloudflare.com/ajax/libs/Leaflet.awesome-markers/2.0.2/leaflet.awesome-markers.js": (
        "leaflet.awesome-markers/leaflet.awesome-markers.js"
    ),
    "https://cdnjs.cloudflare.com/ajax/libs/Leaflet.awesome-markers/2.0.2/leaflet.awesome-markers.css": (
        "leaflet.awesome-markers/leaflet.awesome-markers.css"
    ),
    "https://cdn.jsdelivr.net/gh/python-visualization/folium/folium/templates/leaflet.awesome.rotate.min.css": (
        "folium/leaflet.awesome.rotate.min.css"
    ),
    "https://cdnjs.cloudflare.com/ajax/libs/d3/3.5.5/d3.min.js": "d3/d3.min.js",
    "https://cdn.jsdelivr.net/npm/mathjax@3/es5/tex-mml-chtml.js": "mathjax/tex-mml-chtml.js",
}
#: This module, as the server and the kernel spec name it.
MODULE = __name__
#: The kernel spec that loads the IPython extension (``python`` is the server's own Python).
KERNEL_SPEC = {
    "argv": ["python", "-m", "ipykernel_launcher", "-f", "{connection_file}", f"--ext={MODULE}"],
    "display_name": "Python 3 (ipykernel)",
    "language": "python",
    "metadata": {"debugger": True},
}
#: The server configuration that turns the server extension on.
SERVER_CONFIG = {"ServerApp": {"jpserver_extensions": {MODULE: True}}}
#: JupyterLab's settings defaults (``overrides.json``): text notebooks open as notebooks.
LAB_SETTINGS_OVERRIDES = {
    "@jupyterlab/docmanager-extension:plugin": {
        "defaultViewers": {"markdown": "Jupytext Notebook", "myst": "Jupytext Notebook"}
    }
}


def libraries_prefix(base_url: str) -> str:
    """The URL path the server's copies are at: ``/user/alice/oersite-libraries/``."""
    return f"{base_url.rstrip('/')}/{LIBRARIES_ROUTE}/"


def with_local_libraries(html: str, prefix: str) -> str:
    """``html`` with every known CDN URL pointing at ``prefix`` (also inside a map's srcdoc)."""
    for url, vendored in CDN_FILES.items():
        html = html.replace(url, prefix + vendored)
    return html


def jupyter_files() -> dict[str, str]:
    """What a server's Jupyter needs, relative to its prefix (``sys.prefix`` in the image):
    the kernel spec, the server config and JupyterLab's settings defaults."""
    return {
        "share/jupyter/kernels/python3/kernel.json": json.dumps(KERNEL_SPEC, indent=2) + "\n",
        "etc/jupyter/jupyter_server_config.d/oersite-libraries.json": json.dumps(SERVER_CONFIG, indent=2) + "\n",
        "share/jupyter/lab/settings/overrides.json": json.dumps(LAB_SETTINGS_OVERRIDES, indent=2) + "\n",
    }


# The server extension.


def _jupyter_server_extension_points() -> list[dict]:
    return [{"module": MODULE}]


def _load_jupyter_server_extension(serverapp) -> None:
    from tornado.web import StaticFileHandler

    class LibraryFileHandler(StaticFileHandler):
        """Public, cacheable library files (a plain tornado handler: no sign-in, like a CDN).

        Readable from any page, as a CDN's are: a map that Run code drew on the course
        site loads its fonts from here, and fonts are fetched with CORS.
        """

        def set_default_headers(self) -> None:
            self.set_header("Access-Control-Allow-Origin", "*")

    route = libraries_prefix(serverapp.base_url) + "(.*)"
    serverapp.web_app.add_handlers(".*$", [(route, LibraryFileHandler, {"path": str(VENDOR_DIR)})])
    serverapp.log.info("oersite: the site's browser libraries are served at %s", route)
    kernels = KernelAhead(serverapp)
    kernels.follow_requests()
    OpenAtOnce(serverapp, kernels).install()
    OriginGuard(serverapp, run_code_origins(os.environ)).install()  # last: it answers before any other route


# The course site's Run code button, and no other site.

#: The origins of the pages whose Run code button may use this server, space-separated
#: (``oersite.hub.settings.RUN_CODE_ORIGINS_VARIABLE``: the same name, set by the hub).
RUN_CODE_ORIGINS_VARIABLE = "OERSITE_RUN_CODE_ORIGINS"


def run_code_origins(environment) -> tuple[str, ...]:
    return tuple(environment.get(RUN_CODE_ORIGINS_VARIABLE, "").split())


#: How an allowed origin says "on any port": ``http://127.0.0.1:*`` (the preview's, whatever ``--port``).
ANY_PORT = ":*"


def origin_listed(origin: str | None, allowed: tuple[str, ...]) -> bool:
    """Whether ``origin`` is one of ``allowed``: exactly, or on any port where an entry ends in ``:*``.

    The same as ``oersite.hub.settings.origin_listed``, the hub's (the servers carry no settings module).
    """
    if not origin:
        return False
    return origin in allowed or any(
        entry.endswith(ANY_PORT)
        and origin.startswith(entry[: -len(ANY_PORT)] + ":")
        and origin[len(entry) - 1 :].isascii()
        and origin[len(entry) - 1 :].isdigit()
        for entry in allowed
    )


def origins_pattern(allowed: tuple[str, ...]) -> str:
    """``allowed`` as one regular expression of whole origins (jupyter_server's ``allow_origin_pat``)."""
    parts = [
        re.escape(entry[: -len(ANY_PORT)]) + r":[0-9]+" if entry.endswith(ANY_PORT) else re.escape(entry)
        for entry in allowed
    ]
    return "(?:" + "|".join(parts) + r")\Z"


def origin_allowed(origin: str | None, host: str, allowed: tuple[str, ...]) -> bool:
    """Whether a request that says it comes from ``origin`` may reach this server (at ``host``).

    No ``Origin`` (a navigation, a script tag, a program): yes, as always.  The
    server's own origin (JupyterLab): yes.  One of the course site's: yes.
    Anything else, ``null`` included: no.
    """
    if not origin:
        return True
    if origin_listed(origin, allowed):
        return True
    return urllib.parse.urlsplit(origin).netloc.lower() == host.lower() and origin != "null"


class OriginGuard:
    """Refuses requests from other sites' pages; answers the course site's CORS preflights.

    jupyter_server lets a request that carries a token in from any origin, and
    answers its preflight (a token is no ambient credential, so no cross-site
    forgery).  A Run-code token lives in the reader's browser, though, and only the
    course's pages should ever use it: every request whose ``Origin`` is neither
    the server's own nor one of ``allowed`` gets 403 here, before any handler, on
    every route but the public libraries.  For the allowed origins the server's
    CORS setting (``allow_origin_pat``, read by every handler) names them, and
    preflights are answered here, for every route (nbgitpuller's has none).
    """

    def __init__(self, serverapp, allowed: tuple[str, ...]) -> None:
        self.serverapp = serverapp
        self.allowed = allowed

    def install(self) -> None:
        from tornado.web import RequestHandler

        web_app = self.serverapp.web_app
        if self.allowed:
            web_app.settings["allow_origin_pat"] = re.compile(origins_pattern(self.allowed))
        libraries = libraries_prefix(self.serverapp.base_url)
        allowed, find_handler = self.allowed, web_app.find_handler

        class Refused(RequestHandler):
            def prepare(self) -> None:
                self.set_status(403)
                self.finish("This server answers only its own pages and its course's site.")

        class Preflight(RequestHandler):
            def prepare(self) -> None:
                self.set_header("Access-Control-Allow-Origin", self.request.headers["Origin"])
                self.set_header("Access-Control-Allow-Methods", "GET, PUT, POST, PATCH, DELETE, OPTIONS")
                self.set_header("Access-Control-Allow-Headers", "accept, content-type, authorization, x-xsrftoken")
                self.set_header("Access-Control-Max-Age", "600")
                self.set_header("Vary", "Origin")
                self.set_status(204)
                self.finish()

        def guarded(request, **kwargs):
            origin = request.headers.get("Origin")
            if request.path.startswith(libraries):
                return find_handler(request, **kwargs)
            if not origin_allowed(origin, request.host or "", allowed):
                self.serverapp.log.warning("oersite: refused a request from %r to %s", origin, request.path)
                return web_app.get_handler_delegate(request, Refused)
            listed = origin_listed(origin, allowed)
            if listed and request.method == "OPTIONS":
                return web_app.get_handler_delegate(request, Preflight)
            if listed and request.headers.get("Upgrade", "").lower() == "websocket":
                # A browser cannot give a websocket an Authorization header: the page's client puts
                # its token in the URL, which JupyterHub reads on websockets only when the browser
                # says so (Sec-Fetch-Mode); for the course's pages it is moved where it always counts.
                token = urllib.parse.parse_qs(request.query).get("token", [""])[0]
                if token and "Authorization" not in request.headers:
                    request.headers["Authorization"] = f"token {token}"
            return find_handler(request, **kwargs)

        web_app.find_handler = guarded
        if allowed:
            self.serverapp.log.info("oersite: Run code may reach this server from %s", ", ".join(allowed))


# The launch link's notebook, its kernel started with the pull.

#: What a launch link's ``urlpath`` looks like when it opens a file (JupyterLab, its single-document
#: mode, Notebook 7, the classic notebook), and the file's path below the server's root after it.
OPENED_FILE = re.compile(r"^/?(?:lab/(?:workspaces/[^/?#]+/)?tree|doc/tree|tree|notebooks)/(?P<path>[^?#]+)")
#: The files JupyterLab opens as notebooks with a kernel: notebooks, and MyST Markdown through jupytext.
NOTEBOOK_SUFFIXES = (".ipynb", ".md")


def opened_notebook(urlpath: str | None) -> str | None:
    """The notebook a launch link's ``urlpath`` opens, as a path below the server's root (None: no notebook)."""
    found = OPENED_FILE.match(urlpath or "")
    if not found:
        return None
    path = urllib.parse.unquote(found.group("path")).strip("/")
    parts = path.split("/")
    if not path.endswith(NOTEBOOK_SUFFIXES) or any(part in ("", ".", "..") for part in parts):
        return None
    return path


class KernelAhead:
    """Starts the kernel of the notebook a launch link opens as soon as the link reaches the server.

    A launch link is nbgitpuller's ``git-pull?...&urlpath=lab/tree/<notebook>``: its
    page pulls the course, then sends the browser to JupyterLab, which loads (seconds
    of JavaScript), opens the notebook and only then asks the server for a session,
    whose kernel takes another second or two to start.  The server knows the notebook
    from the link's first request, so here the session JupyterLab would ask for (same
    path, the notebook's own kernel) is started when nbgitpuller's page has been served
    to the signed-in user, or, when the notebook is not there yet (a first clone), when
    the pull has finished.  JupyterLab then finds the session running for its path and
    connects to it, as it does with any running session, and the kernel is idle by then.

    Only the user's own authenticated requests count (nbgitpuller's handlers ask for
    sign-in), only a notebook below the server's root, only when no session has that
    path, and only a kernel the notebook names and the server has: what JupyterLab
    would start itself a moment later, as the same user.  The requests are seen where
    tornado logs them (the application's ``log_request``, called as each request ends).
    """

    def __init__(self, serverapp) -> None:
        self.serverapp = serverapp
        self.after_pull: str | None = None  # a linked notebook the pull has yet to bring
        self.starting: set[str] = set()  # notebooks whose session is being started (a reload, twice)
        self.tasks: set = set()

    def follow_requests(self) -> None:
        """See each request as it ends, where tornado logs it: the application's ``log_request``.

        Tornado's documented place to change (by overriding it, here on this application);
        it still logs through whichever ``log_function`` the settings hold when the request
        ends (JupyterHub's single-user extension sets its own after extensions load).
        """
        web_app = self.serverapp.web_app
        log_request = web_app.log_request

        def log_and_follow(handler) -> None:
            log_request(handler)
            try:
                self.request_finished(handler)
            except Exception as error:  # noqa: BLE001 (a kernel started ahead is a nicety, never a failure)
                self.serverapp.log.warning("oersite: no kernel started ahead (%s: %s)", type(error).__name__, error)

        web_app.log_request = log_and_follow

    def request_finished(self, handler) -> None:
        puller = sys.modules.get("nbgitpuller.handlers")
        if puller is None or handler.get_status() != 200 or not handler.current_user:
            return
        if isinstance(handler, puller.UIHandler):
            urlpath = handler.get_argument("urlpath", None) or handler.get_argument("urlPath", None)
            notebook = opened_notebook(urlpath)
            if notebook is not None:
                self.in_background(self.start(notebook, pulled=False))
        elif isinstance(handler, puller.SyncHandler) and self.after_pull is not None:
            notebook, self.after_pull = self.after_pull, None
            self.in_background(self.start(notebook, pulled=True))

    def in_background(self, work) -> None:
        import asyncio

        task = asyncio.ensure_future(work)
        self.tasks.add(task)  # held until done (the loop keeps only weak references)
        task.add_done_callback(self.tasks.discard)

    async def start(self, notebook: str, *, pulled: bool) -> None:
        """Start ``notebook``'s session, as JupyterLab would, unless it has one or names no installed kernel."""
        app = self.serverapp
        if notebook in self.starting:
            return
        self.starting.add(notebook)
        try:
            if not await _maybe_async(app.contents_manager.file_exists(notebook)):
                if not pulled:
                    self.after_pull = notebook
                return
            if await _maybe_async(app.session_manager.session_exists(path=notebook)):
                return
            model = await _maybe_async(app.contents_manager.get(notebook, content=True, type="notebook"))
            kernel = ((model.get("content") or {}).get("metadata") or {}).get("kernelspec", {}).get("name")
            if not kernel or kernel not in app.kernel_spec_manager.find_kernel_specs():
                return  # JupyterLab would ask the user which kernel: nothing to start ahead
            await app.session_manager.create_session(
                path=notebook, name=notebook.rsplit("/", 1)[-1], type="notebook", kernel_name=kernel
            )
            app.log.info("oersite: started the %s kernel of %s before JupyterLab opens it", kernel, notebook)
        except Exception as error:  # noqa: BLE001 (JupyterLab starts the kernel itself, as without this)
            app.log.warning("oersite: no kernel started ahead for %s (%s: %s)", notebook, type(error).__name__, error)
        finally:
            self.starting.discard(notebook)


class OpenAtOnce:
    """Opens the launch link's notebook at once when nbgitpuller would find nothing to pull.

    nbgitpuller's page streams its pull and then sends the browser on; its handler looks
    at the pull's progress every half second, so even a pull that finds nothing new costs
    a page, an event stream and that half second (most of a second of Try now's 4, on a
    server of the warm pool, which got the course moments before).  When the clone is
    exactly the branch's head as the repository has it now, with no change of the user's
    (nothing modified, nothing deleted: nbgitpuller would restore a deleted file), the pull
    would do nothing, and the link's notebook is opened directly, its kernel started as
    ``KernelAhead`` would.  In every other case (no clone yet, a commit upstream, the
    student's edits, a link without a branch or with ``backup``) nbgitpuller's page runs as
    always.  The git commands are nbgitpuller's own questions, asked as the same user.
    """

    def __init__(self, serverapp, kernels: KernelAhead) -> None:
        self.serverapp = serverapp
        self.kernels = kernels
        self.handler_class = None

    def install(self) -> None:
        """Route ``git-pull`` (the page, not its API) to a subclass of nbgitpuller's handler that asks first."""
        web_app = self.serverapp.web_app
        page = self.serverapp.base_url.rstrip("/") + "/git-pull"
        find_handler = web_app.find_handler

        def routed(request, **kwargs):
            if request.method == "GET" and request.path == page and "nbgitpuller.handlers" in sys.modules:
                return web_app.get_handler_delegate(request, self.page_handler())
            return find_handler(request, **kwargs)

        web_app.find_handler = routed

    def page_handler(self):
        if self.handler_class is None:
            from tornado import web

            opener = self
            puller_page = sys.modules["nbgitpuller.handlers"].UIHandler

            class PageUnlessCurrent(puller_page):
                @web.authenticated
                async def get(self) -> None:
                    opened = await opener.opened_if_current(self)
                    if opened is None:
                        await super().get()
                        return
                    notebook, url = opened
                    opener.kernels.in_background(opener.kernels.start(notebook, pulled=True))
                    self.redirect(url)

            self.handler_class = PageUnlessCurrent
        return self.handler_class

    async def opened_if_current(self, handler) -> tuple[str, str] | None:
        """(notebook, its URL) when the link's clone is current and its notebook there; else None."""
        argument = handler.get_argument
        repo, branch = argument("repo", None), argument("branch", None)
        urlpath = argument("urlpath", None) or argument("urlPath", None)
        notebook = opened_notebook(urlpath)
        if not (repo and branch and notebook) or argument("backup", None):
            return None
        root = os.path.expanduser(handler.settings["server_root_dir"])  # as nbgitpuller finds its clone
        parent = os.path.join(root, os.getenv("NBGITPULLER_PARENTPATH", ""))
        clone = os.path.join(parent, argument("targetpath", None) or repo.rstrip("/").split("/")[-1])
        if not os.path.isfile(os.path.join(root, notebook)) or not await clone_is_current(clone, repo, branch):
            return None
        from jupyter_server.utils import url_path_join

        self.serverapp.log.info("oersite: %s is current; opening %s without a pull", clone, notebook)
        return notebook, url_path_join(self.serverapp.base_url, urlpath)  # where nbgitpuller's page would go


async def clone_is_current(clone: str, repository: str, branch: str, *, seconds: float = 10) -> bool:
    """Whether a pull of ``branch`` of ``repository`` into ``clone`` would change nothing.

    The clone's origin is ``repository``, its head is the branch's head there now, and no
    tracked file is modified or deleted.  Any failure (not a clone, no answer) is a no.
    """
    import asyncio

    async def git(*arguments: str) -> str | None:
        try:
            process = await asyncio.create_subprocess_exec(
                "git",
                *arguments,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.DEVNULL,
                stdin=asyncio.subprocess.DEVNULL,
                env={**os.environ, "GIT_TERMINAL_PROMPT": "0"},  # a private repository's answer is a no, not a prompt
            )
        except OSError:
            return None
        try:
            output, _ = await asyncio.wait_for(process.communicate(), seconds)
        except TimeoutError:
            process.kill()
            await process.wait()
            return None
        return output.decode(errors="replace").strip() if process.returncode == 0 else None

    if not os.path.isdir(os.path.join(clone, ".git")):
        return False
    origin = await git("-C", clone, "config", "--get", "remote.origin.url")
    head = await git("-C", clone, "rev-parse", "HEAD")
    changes = await git("-C", clone, "status", "--porcelain", "--untracked-files=no")
    if origin != repository or not head or changes != "":
        return False
    listed = await git("ls-remote", "--", repository, f"refs/heads/{branch}")
    return bool(listed) and listed.split()[0] == head


async def _maybe_async(value):
    """``value``, awaited if it is awaitable (jupyter_server's managers come sync or async)."""
    import inspect

    return await value if inspect.isawaitable(value) else value


# The kernel extension.


def load_ipython_extension(ipython) -> None:
    """Point Folium's defaults, and every Folium and branca object's HTML, at the server's copies."""
    prefix = libraries_prefix(os.environ.get("JUPYTERHUB_SERVICE_PREFIX", "/"))
    if not any(isinstance(finder, FoliumDefaultsFinder) for finder in sys.meta_path):
        sys.meta_path.insert(0, FoliumDefaultsFinder(prefix))
    for module in [module for name, module in sys.modules.items() if name.partition(".")[0] in PATCHED_PACKAGES]:
        point_defaults_at(module, prefix)  # imported before the extension loaded
    html_formatter = ipython.display_formatter.formatters["text/html"]

    def local_html(element):
        html = element._repr_html_()
        return with_local_libraries(html, prefix) if isinstance(html, str) else None

    # Every folium Map, Figure and plugin is a branca Element; IPython walks the class's MRO.
    html_formatter.for_type_by_name("branca.element", "Element", local_html)


#: The packages whose modules name their default libraries in ``default_js``/``default_css``.
PATCHED_PACKAGES = ("folium", "branca")


def point_defaults_at(module, prefix: str) -> None:
    """Rewrite, in place, the (name, URL) lists a folium or branca module declares as defaults.

    In place, because classes share them (``Map.default_js`` is ``folium.folium._default_js``,
    subclasses inherit their parents' lists); known CDN URLs only, others stay as they are.
    """
    holders = [module, *(value for value in vars(module).values() if isinstance(value, type))]
    for holder in holders:
        for name in ("_default_js", "_default_css", "default_js", "default_css"):
            entries = vars(holder).get(name)
            if isinstance(entries, list):
                entries[:] = [
                    (entry[0], with_local_libraries(entry[1], prefix))
                    if isinstance(entry, tuple) and len(entry) == 2 and isinstance(entry[1], str)
                    else entry
                    for entry in entries
                ]


class FoliumDefaultsFinder(importlib.abc.MetaPathFinder):
    """Finds folium's and branca's modules as Python would, and points their defaults at the
    server once each module has run (a post-import hook: nothing is imported ahead)."""

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix

    def find_spec(self, fullname, path, target=None):
        if fullname.partition(".")[0] not in PATCHED_PACKAGES:
            return None
        spec = importlib.machinery.PathFinder.find_spec(fullname, path)
        if spec is None or spec.loader is None or not hasattr(spec.loader, "exec_module"):
            return spec
        run_module, prefix = spec.loader.exec_module, self.prefix

        def exec_module(module):
            run_module(module)
            point_defaults_at(module, prefix)

        spec.loader.exec_module = exec_module  # this spec's own loader (PathFinder makes one per find)
        return spec
