"""Kernels started ahead: a notebook runs in a kernel that is already up.

Starting a Python kernel (the interpreter, IPython, ipykernel, the connection
handshake) takes a second or more, and ``oersite serve`` started one for every
save: a good part of what an author waited for between a save and the page.
Here one kernel per kernel name waits, started ahead; a run takes it and
another is started at once for the next run.  A kernel runs one notebook once
and is then shut down, as nbclient does with its own: no run ever sees a
variable, an import or a working folder of another, so the preview shows what
``oersite build`` would.

What a waiting kernel cannot know when it starts is the notebook it will run:
a run first moves it to the notebook's folder (``os.chdir`` as a silent
request, which leaves no name, history entry or execution count behind;
IPython's ``''`` on ``sys.path`` then finds modules beside the notebook, as for
a kernel started there).  Its environment and its log are given at the start; a run that needs
another environment (the data folder moved in ``_config.yml``) or another log
gets a new kernel.

A waiting kernel can import, though, what the notebook saved last imports before
anything else (``Opening``): after a save of one notebook the author most likely
saves it again, and importing pandas and Bokeh is most of a short lesson's run.
Only those opening imports, in their order, in that notebook's folder, and only
installed packages (a module beside the notebook or in the course may be edited
before the next save), each imported in ``__main__``'s name as the notebook's
own import would be; a kernel whose imports printed, warned, failed or sent
anything else is not used (a fresh kernel's cell would show it).  The kernel goes
to a run whose opening starts with the same imports, in the same folder, with the
same packages installed, while the folder holds the same entries and every file
the imports loaded is as it was; any other run gets a kernel started for it.

All kernels are started and shut down on one event loop of their own, in a
thread: a build's loop (``asyncio.run`` in ``oersite.execute``) ends with the
build, the waiting kernel does not.  A run only connects a client to its kernel.
Kernels end with oersite in any case (ipykernel watches its parent process).

``oersite build`` keeps one kernel ahead too (``refill=False``): started as soon as the build
knows that a notebook's code, a data file or the environment changed, before it reads the
notebooks and starts Sphinx, and taken by the first notebook that runs; the others start their
own.  Its kernels close when the build's execution is over (``close_after``).
"""

from __future__ import annotations

import asyncio
import os
import signal
import threading
import time
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from jupyter_client.kernelspec import KernelSpecManager
    from jupyter_client.manager import AsyncKernelManager

#: What oersite passes every kernel it starts: its start-up log (a note on its loopback
#: transport) means nothing to an instructor, errors still show.
KERNEL_ARGUMENTS = ("--IPKernelApp.log_level=ERROR",)
#: And an IPython kernel's history in memory, as nbclient has it for the ipykernels it starts.
IPYKERNEL_ARGUMENTS = ("--HistoryManager.hist_file=:memory:",)
#: Seconds a kernel has to say it is ready (the request that moves it answered on both channels).
READY_TIMEOUT = 60


def local_kernel_manager_class() -> type[AsyncKernelManager]:
    """The kernel manager for oersite's own kernels: talking over Unix sockets, not TCP ports.

    jupyter_client picks a kernel's five TCP ports as free when it writes the connection file;
    the kernel binds them a moment later.  Any other process starting a kernel or a server in
    between can take one (measured here: "Address already in use", seen as a kernel that died
    before it ran a cell).  Unix sockets in a folder of this process's own cannot be taken:
    each kernel gets a prefix of its own in it, and jupyter_client removes its files at shutdown.
    A kernel is killed when its notebook has run (``stop_kernel``), and the
    kill waits for the process in steps of 5 ms instead of jupyter_client's 100.
    """
    global _IpcKernelManager
    if _IpcKernelManager is None:
        import atexit
        import shutil
        import tempfile
        import time
        import uuid

        from jupyter_client.manager import AsyncKernelManager
        from traitlets import default

        folder = tempfile.mkdtemp(prefix="oersite-kernels-")  # short: socket paths are limited
        atexit.register(shutil.rmtree, folder, ignore_errors=True)

        class IpcKernelManager(AsyncKernelManager):
            @default("transport")
            def _transport_default(self) -> str:
                return "ipc"

            @default("ip")
            def _ip_default(self) -> str:
                return f"{folder}/{uuid.uuid4().hex[:12]}"

            @default("kernel_spec_manager")
            def _kernel_spec_manager_default(self) -> KernelSpecManager:
                return _kernel_spec_manager(self.kernel_name, self.data_dir)

            async def _async_kill_kernel(self, restart: bool = False) -> None:
                # jupyter_client polls a killed kernel every 0.1 s (LocalProvisioner.wait): the
                # first poll always finds it alive, a tenth of a second of every run.
                if self.has_kernel:
                    await self.provisioner.kill(restart=restart)
                    deadline = time.monotonic() + 5
                    while await self.provisioner.poll() is None and time.monotonic() < deadline:
                        await asyncio.sleep(0.005)
                    if self.has_kernel:
                        await self.provisioner.wait()

        _IpcKernelManager = IpcKernelManager
    return _IpcKernelManager


_IpcKernelManager: type[AsyncKernelManager] | None = None


def _kernel_spec_manager(kernel_name: str, data_dir: str) -> KernelSpecManager:
    """Where a kernel's spec is found: Jupyter's kernel folders, then IPython's, as jupyter_client looks.

    jupyter_client's list of folders ends with IPython's own (``~/.ipython/kernels``), which it
    asks IPython for: importing IPython (0.3 s, more beside Sphinx's start) before the kernel
    process is even launched, while the build's first notebook waits for that kernel.  When
    a Jupyter folder holds the kernel (as ``pip install ipykernel`` puts ``python3``), that
    folder is where jupyter_client's search would end too, so only those folders are
    searched; else the search is jupyter_client's own.
    """
    from jupyter_client.kernelspec import KernelSpecManager
    from jupyter_core.paths import jupyter_path

    # (ensure_native_kernel off: else listing them imports ipykernel, and IPython, when python3 is not there)
    in_jupyter_folders = KernelSpecManager(
        data_dir=data_dir, kernel_dirs=jupyter_path("kernels"), ensure_native_kernel=False
    )
    if kernel_name.lower() in in_jupyter_folders.find_kernel_specs():
        return in_jupyter_folders
    return KernelSpecManager(data_dir=data_dir)


#: Every kernel this process started and has not stopped yet, by process id: waiting or running a
#: notebook, what Ctrl-C stops at once (``stop_kernels``).
_live_kernels: set[int] = set()


def stop_kernels() -> None:
    """Kill every kernel this process started, at once (Ctrl-C: nothing they would still output is kept).

    jupyter_client starts each kernel in a session of its own (so a terminal's Ctrl-C does not
    reach it): its process group is the kernel and whatever it started.
    """
    for pid in list(_live_kernels):
        try:
            os.killpg(pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass


def _pid(manager: AsyncKernelManager) -> int | None:
    return getattr(getattr(manager, "provisioner", None), "pid", None)


@dataclass(frozen=True)
class KernelKind:
    """What a kernel is started with, and so what a run must ask for to be given it."""

    name: str
    environment: tuple[tuple[str, str], ...]
    log_path: Path


@dataclass(frozen=True)
class Opening:
    """The libraries a notebook imports before any other statement of it runs, and where it runs.

    A kernel waiting for the preview's next save imports them ahead (``SpareKernels.prepare``):
    importing pandas and Bokeh is most of a short lesson's run.  Only these, in their order,
    in the folder the notebook runs in, with the packages installed then (``environment``, a
    digest of their versions): the imports the notebook would do first anyway, done a moment
    earlier.  ``modules`` are dotted names, as in ``import a.b`` or ``from a.b import c``.
    """

    modules: tuple[str, ...]
    folder: Path
    environment: str

    def may_lead(self, run: Opening | None) -> bool:
        """Whether a kernel still importing these may suit ``run``: the same place and first import."""
        return Opening(self.modules[:1], self.folder, self.environment).leads(run)

    def leads(self, run: Opening | None) -> bool:
        """Whether ``run`` opens with these imports, in the same folder, with the same packages installed."""
        return (
            run is not None
            and run.folder == self.folder
            and run.environment == self.environment
            and run.modules[: len(self.modules)] == self.modules
        )


@dataclass(frozen=True)
class _Imported:
    """What a waiting kernel imported ahead (``opening.modules``), and what would make that stale."""

    opening: Opening
    #: Whether the imports loaded anything a fresh kernel had not: if not, it is as good as fresh.
    loaded: bool
    #: The folder's entries as the kernel imported there: a file added since may shadow an
    #: installed module (a ``pandas.py``) or be read by one as it is imported (``matplotlibrc``).
    listing: frozenset[str]
    #: Every module file the imports loaded, with its modification time: a package reinstalled since.
    stamps: tuple[tuple[str, int], ...]

    def fits(self, run: Opening | None) -> bool:
        """Whether a run with opening ``run`` in this kernel shows what it would in a fresh one."""
        if not self.loaded:
            return True
        return self.opening.leads(run) and _listing(self.opening.folder) == self.listing and _unchanged(self.stamps)


def _listing(folder: Path) -> frozenset[str]:
    try:
        return frozenset(os.listdir(folder))
    except OSError:
        return frozenset()


def _unchanged(stamps: tuple[tuple[str, int], ...]) -> bool:
    try:
        return all(os.stat(path).st_mtime_ns == stamp for path, stamp in stamps)
    except OSError:
        return False


#: Run in a waiting kernel, as a user expression (its value comes back in the reply; no name is
#: left in the notebook's namespace): import ``MODULES`` in order, up to the first that is not
#: installed (beside the notebook, in the course, an editable checkout: it may be edited before
#: the save that runs it).  Each import runs as the notebook's own would, in ``__main__``'s name:
#: IPython shows the deprecation warnings a module raises at the code importing it there.  Its
#: value: the modules it went through, whether it loaded any, and the files of those it loaded.
OPEN_IN_KERNEL = """(lambda found: (exec(compile(%(source)r, "<oersite: opening imports>", "exec"), found),
 found["value"])[1])({"MODULES": %(modules)r})"""
OPENING_SOURCE = """\
import importlib.util, os, site, sys, sysconfig
places = [sysconfig.get_paths()[key] for key in ("stdlib", "platstdlib", "purelib", "platlib")]
places += [*getattr(site, "getsitepackages", list)(), site.getusersitepackages()]
places = [os.path.realpath(place) for place in places if place]
def installed(path):
    if path in (None, "built-in", "frozen"):
        return True
    path = os.path.realpath(path)
    return any(path == place or path.startswith(place + os.sep) for place in places)
before = set(sys.modules)
done = []
for name in MODULES:
    spec = importlib.util.find_spec(name.partition(".")[0])
    if spec is None or not all(map(installed, [spec.origin, *(spec.submodule_search_locations or [])])):
        break
    exec(compile("import " + name, "<notebook>", "exec"), {"__name__": "__main__"})
    done.append(name)
files = {getattr(sys.modules[module], "__file__", None) for module in set(sys.modules) - before}
stamps = sorted((path, os.stat(path).st_mtime_ns) for path in files if isinstance(path, str) and os.path.isfile(path))
value = __import__("json").dumps([done, bool(set(sys.modules) - before), stamps])  # (IPython shortens long lists)
"""
#: The only IOPub messages a waiting kernel's imports may send: anything else (output, a warning,
#: an error, a widget's comm) a fresh kernel's cell would show or keep, so the kernel is not used.
QUIET_MESSAGES = frozenset({"status", "execute_input"})


@dataclass
class _Waiting:
    kind: KernelKind
    manager: Future  # of a started AsyncKernelManager, on the kernels' loop
    #: What ``prepare`` asked it to import, and once done what it imported (an ``_Imported``), or
    #: None (it printed, warned or failed, or died: it runs nothing).
    asked: Opening | None = None
    opened: Future | None = None


class SpareKernels:
    """One started kernel per kernel name, waiting for the next run; ``close`` shuts them down."""

    def __init__(self, *, refill: bool = True) -> None:
        #: Whether a run's take starts the next kernel (the preview), or only ``start_ahead`` does (a build).
        self.refill = refill
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="oersite-kernels", daemon=True)
        self.thread.start()
        self.waiting: dict[str, _Waiting] = {}
        self.lock = threading.RLock()  # (a stop done at once calls back under it: _stopped)
        self.closed = False
        #: The work after which these kernels close (``close_after``), if any.
        self.closing_after: Future | None = None
        #: Kernels whose run is over, being stopped in the background (``release``): ``close`` waits for them.
        self.stopping: set[Future] = set()
        #: Openings whose imports showed something in a waiting kernel (output, a warning, an error):
        #: not imported ahead again.
        self.noisy: set[tuple[str, ...]] = set()

    async def take(
        self, name: str, environment: dict[str, str], log_path: Path, folder: Path, opening: Opening | None = None
    ) -> AsyncKernelManager:
        """A started kernel named ``name``, nobody's before, for one run; the next one starts now.

        The next one starts in ``folder`` (a folder that exists: the notebook's own, where
        the author is likely to save again); only ``ready_in`` on a kernel's client makes
        sure of its working folder.  A waiting kernel that imported libraries ahead is taken
        only by a run whose ``opening`` starts with them, while nothing they were imported from
        changed (``_Imported.fits``); another run gets a kernel started now.
        Raises what starting the kernel raised (``NoSuchKernel`` for a name not installed).
        """
        kind = KernelKind(name, tuple(sorted(environment.items())), log_path)
        with self.lock:
            if self.closed:
                raise RuntimeError("the preview's kernels are shut down")
            waiting = self.waiting.pop(name, None)
            if waiting is not None and waiting.kind != kind:
                self._stop_in_background(waiting.manager, now=False)  # started for other settings
                waiting = None
            if self.refill:
                self.waiting[name] = _Waiting(kind, self._start(kind, folder))
        if waiting is not None:
            try:
                manager = await asyncio.wrap_future(waiting.manager)
                if await self._fits(waiting, opening) and await manager.is_alive():
                    return manager
                self.release(manager)  # it died while it waited, or imported what this run does not
            except Exception:  # noqa: BLE001,S110 (it could not start, its folder gone, say: a start now says why)
                pass
        return await asyncio.wrap_future(self._start(kind, folder))

    def start_ahead(self, name: str, environment: dict[str, str], log_path: Path, folder: Path) -> None:
        """Start a kernel named ``name`` for the next run that asks for one like it (unless one waits)."""
        kind = KernelKind(name, tuple(sorted(environment.items())), log_path)
        with self.lock:
            if not self.closed and name not in self.waiting:
                self.waiting[name] = _Waiting(kind, self._start(kind, folder))

    def prepare(self, name: str, opening: Opening) -> None:
        """Have the kernel waiting under ``name`` import ``opening``'s modules now (the preview's next save).

        The run just over was most likely of the notebook the author saves next.  Asked after a
        build's notebooks have run, never between two runs of one build: the next run of that
        build would likely find the kernel prepared for another notebook, and start one anew.
        """
        with self.lock:
            waiting = self.waiting.get(name)
            if not self.refill or self.closed or waiting is None or waiting.opened is not None or not opening.modules:
                return
            if opening.modules in self.noisy:
                return  # importing them showed something last time: a fresh kernel's cell must show it
            waiting.asked = opening
            waiting.opened = asyncio.run_coroutine_threadsafe(self._open(waiting.manager, opening), self.loop)

    async def _open(self, manager: Future, opening: Opening) -> _Imported | None:
        """In the waiting kernel, on the kernels' loop: move to the folder, import quietly, say what was imported."""
        import ast
        import json

        try:
            started: AsyncKernelManager = await asyncio.wrap_future(manager)
            client = started.client()
            client.start_channels()
            try:
                await ready_in(client, started, opening.folder)
                listing = _listing(opening.folder)
                value = await _quiet_value(
                    client, started, OPEN_IN_KERNEL % {"source": OPENING_SOURCE, "modules": opening.modules}
                )
            finally:
                client.stop_channels()
            if value is None:
                with self.lock:
                    self.noisy.add(opening.modules)
                return None
            done, loaded, stamps = json.loads(ast.literal_eval(value))
            imported = Opening(tuple(done), opening.folder, opening.environment)
            return _Imported(imported, loaded, listing, tuple(map(tuple, stamps)))
        except Exception:  # noqa: BLE001 (it died, never started or did not answer: a run starts another)
            return None

    async def _fits(self, waiting: _Waiting, run: Opening | None) -> bool:
        if waiting.opened is None:
            return True
        asked = waiting.asked
        if not waiting.opened.done() and not (asked is not None and asked.may_lead(run)):
            return False  # still importing what this run will not start with: not worth waiting for
        try:
            imported: _Imported | None = await asyncio.wrap_future(waiting.opened)
        except (Exception, asyncio.CancelledError):  # noqa: BLE001 (cancelled as the preview closes)
            return False
        return imported is not None and imported.fits(run)

    def release(self, manager: AsyncKernelManager) -> None:
        """A run is over: its kernel is killed in the background (never given to another run)."""
        done: Future = Future()
        done.set_result(manager)
        with self.lock:
            self._stop_in_background(done, now=True)

    def _stop_in_background(self, manager: Future, *, now: bool) -> None:
        """Stop a kernel on the kernels' loop; ``close`` waits for it (the caller holds ``lock``)."""
        stopping = self._shut_down(manager, now=now)
        self.stopping.add(stopping)
        stopping.add_done_callback(self._stopped)

    def _stopped(self, stop: Future) -> None:
        with self.lock:
            self.stopping.discard(stop)

    def close_after(self, work: Future) -> None:
        """Close once ``work`` is done: a build's execution, whose runs take and release kernels until then.

        Closed sooner, a run still starting its kernel would wait for a loop that no longer runs.
        """
        self.closing_after = work
        work.add_done_callback(lambda _done: self.close())

    def close(self, seconds: float = 10) -> None:
        """Shut down the waiting kernels (the preview stops), then the kernels' loop."""
        with self.lock:
            self.closed = True
            waiting, self.waiting = list(self.waiting.values()), {}
            released = list(self.stopping)
        for entry in waiting:
            if entry.opened is not None:
                entry.opened.cancel()  # its client closes with it, before the loop stops
        # Stopped with the loop still running: a kill cut short would leave the kernel running
        # for as long as this process does (a preview's, a test's).
        stops = [self._shut_down(entry.manager, now=True) for entry in waiting] + released
        for stop in stops:
            try:
                stop.result(seconds)
            except Exception:  # noqa: BLE001,S110 (a kernel that would not start or stop: it ends with oersite)
                pass
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(seconds)

    def _start(self, kind: KernelKind, folder: Path) -> Future:
        return asyncio.run_coroutine_threadsafe(start_kernel(kind, folder), self.loop)

    def _shut_down(self, manager: Future, *, now: bool = False) -> Future:
        return asyncio.run_coroutine_threadsafe(_shut_down(manager, now=now), self.loop)


async def start_kernel(kind: KernelKind, folder: Path) -> AsyncKernelManager:
    """A kernel like ``kind``, started in ``folder`` on the running loop (its client is the caller's)."""
    manager = local_kernel_manager_class()(kernel_name=kind.name)
    kind.log_path.parent.mkdir(parents=True, exist_ok=True)
    # The kernel process's own stdout and stderr (what a library or C code writes there, not a
    # cell's outputs) go to the build's kernel log: appended, so they land in whichever
    # build's log the file is by then (the executor empties it in place, never replaces it).
    with kind.log_path.open("ab") as log:
        arguments = [*KERNEL_ARGUMENTS, *(IPYKERNEL_ARGUMENTS if manager.ipykernel else ())]
        await manager.start_kernel(
            extra_arguments=arguments, env=dict(kind.environment), cwd=str(folder), stdout=log, stderr=log
        )
    if pid := _pid(manager):
        _live_kernels.add(pid)
    return manager


async def stop_kernel(manager: AsyncKernelManager, *, now: bool = True) -> None:
    """Kill a kernel whose notebook has run (``now=False``: ask one that ran nothing to shut down).

    Not asked: every output is in by then (nbclient waits for each cell's idle), and the polite
    request and its wait cost 0.3-0.4 s of every notebook, measured here (0.1 s killed).
    """
    try:
        if await manager.is_alive():
            await manager.shutdown_kernel(now=now)
    finally:
        _live_kernels.discard(_pid(manager))
        await manager.cleanup_resources()


async def _shut_down(manager: Future, *, now: bool) -> None:
    try:
        started = await asyncio.wrap_future(manager)  # on the kernels' loop
    except Exception:  # noqa: BLE001 (it never started: nothing to shut down)
        return
    await stop_kernel(started, now=now)


class KernelGone(RuntimeError):
    """The kernel died, or never answered, before a run could begin."""


class NotMoved(RuntimeError):
    """The kernel answered, but could not make the notebook's folder its working folder."""


def movable(kernel_name: str) -> bool:
    """Whether ``ready_in`` can move a kernel of this name to a folder: an IPython kernel (Python code).

    jupyter_client's own test (``KernelManager.ipykernel``).  Any other kernel runs where it started.
    """
    return local_kernel_manager_class()(kernel_name=kernel_name).ipykernel


async def ready_in(client, manager: AsyncKernelManager, folder: Path) -> None:
    """Wait until the kernel behind ``client`` answers, and make ``folder`` its working folder.

    jupyter_client's ``wait_for_ready`` does the first and then drains IOPub until it has been
    quiet for 0.2 s: 0.2 s of every run for nothing, and nbclient waited as long again with a
    client of its own (measured: 0.4 s of a 1.9 s preview rebuild).  Here the silent request that
    moves the kernel (no output, no history entry, no execution count, no name left in the
    notebook's namespace) is the probe itself: its reply on the shell channel says the kernel is
    up, and its "idle" on IOPub says this client hears the kernel's outputs.  A subscription
    still being made when the kernel published misses that message: the request is sent again.
    A kernel that is not an IPython kernel (``movable``) is asked for its kernel info instead,
    and stays where it started.
    """
    move = manager.ipykernel
    code = f"__import__('os').chdir({str(folder)!r})"
    deadline = time.monotonic() + READY_TIMEOUT
    while True:
        if move:
            message_id = client.execute(code, silent=True, store_history=False, allow_stdin=False)
        else:
            message_id = client.kernel_info()
        reply = await _message_about(message_id, client.get_shell_msg, manager, deadline)
        if reply is None:
            raise KernelGone(f"the kernel did not answer in {READY_TIMEOUT} s")
        if move and reply["content"].get("status") != "ok":
            raise NotMoved(f"the kernel could not move to {folder}: {reply['content'].get('evalue', '')}")
        heard = await _message_about(
            message_id, client.get_iopub_msg, manager, min(deadline, time.monotonic() + IOPUB_PROBE), idle=True
        )
        if heard is not None:
            return
        if time.monotonic() > deadline:
            raise KernelGone(f"the kernel's outputs did not reach oersite in {READY_TIMEOUT} s")


async def _quiet_value(client, manager: AsyncKernelManager, expression: str) -> str | None:
    """The ``text/plain`` value of ``expression``, evaluated silently in the kernel; None if it showed anything.

    A user expression: its value comes back in the reply, and it binds no name.  A second
    silent request follows it: what the kernel's own process wrote (C code's output, which
    ipykernel forwards from a thread) may reach IOPub after the first request's "idle".
    Raises ``TimeoutError`` if the kernel does not answer in ``READY_TIMEOUT`` seconds.
    """
    deadline = time.monotonic() + READY_TIMEOUT
    message_id = client.execute(
        "", silent=True, store_history=False, allow_stdin=False, user_expressions={"value": expression}
    )
    reply = await _message_about(message_id, client.get_shell_msg, manager, deadline)
    if reply is None:
        raise TimeoutError("the kernel did not answer")
    heard: list[dict] = []
    if await _message_about(message_id, client.get_iopub_msg, manager, deadline, idle=True, heard=heard) is None:
        raise TimeoutError("the kernel did not say it was idle")
    after = client.execute("", silent=True, store_history=False, allow_stdin=False)
    while True:  # every IOPub message until the second request's "idle", whoever it answers
        message = await _message_about(None, client.get_iopub_msg, manager, deadline)
        if message is None:
            raise TimeoutError("the kernel did not say it was idle")
        heard.append(message)
        if message["parent_header"].get("msg_id") == after and message["msg_type"] == "status":
            if message["content"].get("execution_state") == "idle":
                break
    if any(message["msg_type"] not in QUIET_MESSAGES for message in heard):
        return None
    value = reply["content"].get("user_expressions", {}).get("value", {})
    if reply["content"].get("status") != "ok" or value.get("status") != "ok":
        return None
    return value.get("data", {}).get("text/plain")


#: Seconds a probe's "idle" may take on IOPub before the probe is sent again.
IOPUB_PROBE = 0.5


async def _message_about(
    message_id: str | None, next_message, manager, deadline: float, *, idle: bool = False, heard: list | None = None
):
    """The first message answering ``message_id`` (None: any), or None by ``deadline``.

    With ``idle``: the "idle" status answering it.

    ``heard`` collects every message answering ``message_id`` on the way.

    Raises ``KernelGone`` as soon as the kernel's process has ended (checked every second, as
    jupyter_client does).
    """
    from queue import Empty

    while (left := deadline - time.monotonic()) > 0:
        try:
            message = await next_message(timeout=min(left, 1.0))
        except Empty:
            if not await manager.is_alive():
                raise KernelGone("the kernel died before it answered") from None
            continue
        if message_id is not None and message["parent_header"].get("msg_id") != message_id:
            continue
        if heard is not None:
            heard.append(message)
        if not idle or (message["msg_type"] == "status" and message["content"].get("execution_state") == "idle"):
            return message
    return None
