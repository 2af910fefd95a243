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
import threading
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from jupyter_client.manager import AsyncKernelManager

#: What oersite passes every kernel it starts: its start-up log (a note on its loopback
#: transport) means nothing to an instructor, errors still show.
KERNEL_ARGUMENTS = ("--IPKernelApp.log_level=ERROR",)
#: And an IPython kernel's history in memory, as nbclient has it for the ipykernels it starts.
IPYKERNEL_ARGUMENTS = ("--HistoryManager.hist_file=:memory:",)
#: Seconds a kernel has to say it is ready, and to answer the request that moves it.
READY_TIMEOUT = 60


def local_kernel_manager_class() -> type[AsyncKernelManager]:
    """The kernel manager for oersite's own kernels: talking over Unix sockets, not TCP ports.

    jupyter_client picks a kernel's five TCP ports as free when it writes the connection file;
    the kernel binds them a moment later.  Any other process starting a kernel or a server in
    between can take one (measured here: "Address already in use", seen as a kernel that died
    before it ran a cell).  Unix sockets in a folder of this process's own cannot be taken:
    each kernel gets a prefix of its own in it, and jupyter_client removes its files at shutdown.
    A kernel is killed when its notebook has run (``shutdown_kernel="immediate"``), and the
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


@dataclass(frozen=True)
class KernelKind:
    """What a kernel is started with, and so what a run must ask for to be given it."""

    name: str
    environment: tuple[tuple[str, str], ...]
    log_path: Path


@dataclass
class _Waiting:
    kind: KernelKind
    manager: Future  # of a started AsyncKernelManager, on the kernels' loop


class SpareKernels:
    """One started kernel per kernel name, waiting for the next run; ``close`` shuts them down."""

    def __init__(self, *, refill: bool = True) -> None:
        #: Whether a run's take starts the next kernel (the preview), or only ``start_ahead`` does (a build).
        self.refill = refill
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="oersite-kernels", daemon=True)
        self.thread.start()
        self.waiting: dict[str, _Waiting] = {}
        self.lock = threading.Lock()
        self.closed = False
        #: The work after which these kernels close (``close_after``), if any.
        self.closing_after: Future | None = None

    async def take(self, name: str, environment: dict[str, str], log_path: Path, folder: Path) -> AsyncKernelManager:
        """A started kernel named ``name``, nobody's before, for one run; the next one starts now.

        The next one starts in ``folder`` (a folder that exists: the notebook's own, where
        the author is likely to save again); only ``moved_to`` on a kernel's client makes
        sure of its working folder.
        Raises what starting the kernel raised (``NoSuchKernel`` for a name not installed).
        """
        kind = KernelKind(name, tuple(sorted(environment.items())), log_path)
        with self.lock:
            if self.closed:
                raise RuntimeError("the preview's kernels are shut down")
            waiting = self.waiting.pop(name, None)
            if waiting is not None and waiting.kind != kind:
                self._shut_down(waiting.manager)  # started for other settings
                waiting = None
            if self.refill:
                self.waiting[name] = _Waiting(kind, self._start(kind, folder))
        if waiting is not None:
            try:
                manager = await asyncio.wrap_future(waiting.manager)
                if await manager.is_alive():
                    return manager
                self.release(manager)  # it died while it waited
            except Exception:  # noqa: BLE001,S110 (it could not start, its folder gone, say: a start now says why)
                pass
        return await asyncio.wrap_future(self._start(kind, folder))

    def start_ahead(self, name: str, environment: dict[str, str], log_path: Path, folder: Path) -> None:
        """Start a kernel named ``name`` for the next run that asks for one like it (unless one waits)."""
        kind = KernelKind(name, tuple(sorted(environment.items())), log_path)
        with self.lock:
            if not self.closed and name not in self.waiting:
                self.waiting[name] = _Waiting(kind, self._start(kind, folder))

    def release(self, manager: AsyncKernelManager) -> None:
        """A run is over: its kernel is killed in the background (never given to another run)."""
        done: Future = Future()
        done.set_result(manager)
        self._shut_down(done, now=True)

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
        stops = [self._shut_down(entry.manager, now=True) for entry in waiting]
        for stop in stops:
            try:
                stop.result(seconds)
            except Exception:  # noqa: BLE001,S110 (a kernel that would not start or stop: it ends with oersite)
                pass
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(seconds)

    def _start(self, kind: KernelKind, folder: Path) -> Future:
        return asyncio.run_coroutine_threadsafe(_start_kernel(kind, folder), self.loop)

    def _shut_down(self, manager: Future, *, now: bool = False) -> Future:
        return asyncio.run_coroutine_threadsafe(_shut_down(manager, now=now), self.loop)


async def _start_kernel(kind: KernelKind, folder: Path) -> AsyncKernelManager:
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
    return manager


async def _shut_down(manager: Future, *, now: bool) -> None:
    try:
        started = await asyncio.wrap_future(manager)  # on the kernels' loop
    except Exception:  # noqa: BLE001 (it never started: nothing to shut down)
        return
    try:
        if await started.is_alive():
            await started.shutdown_kernel(now=now)
    finally:
        await started.cleanup_resources()


async def moved_to(client, folder: Path) -> None:
    """Make ``folder`` the working folder of the kernel behind ``client``, as if it had started there.

    A silent request: no output, no history entry, no execution count, no name
    left in the notebook's namespace.
    """
    code = f"__import__('os').chdir({str(folder)!r})"
    message_id = client.execute(code, silent=True, store_history=False, allow_stdin=False)
    reply = await client.get_shell_msg(timeout=READY_TIMEOUT)
    while reply["parent_header"].get("msg_id") != message_id:
        reply = await client.get_shell_msg(timeout=READY_TIMEOUT)
    if reply["content"]["status"] != "ok":
        raise RuntimeError(f"the kernel could not move to {folder}: {reply['content'].get('evalue', '')}")
