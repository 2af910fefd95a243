"""DockerSpawner for containers on the server's own network, each server on a port of its own.

The bundle runs every container with host networking (see ``layout``), and
DockerSpawner as it comes cannot do that: with ``use_internal_ip = False`` it
asks Docker to publish the server's port, which Docker refuses on the host
network ("host network_mode is incompatible with port_bindings"); with
``use_internal_ip = True`` it asks the container's network for an address that
a host-network container does not have.  And since all servers share one
network, they cannot all listen on 8888.  DockerSpawner's own docstring of
``get_ip_and_port`` says what to do for host networking; this class does it: it
picks a free port on 127.0.0.1 from the hub's range before each start, hands it
to the server (``JUPYTERHUB_SERVICE_URL``, which ``jupyterhub-singleuser``
binds to) and reports ``127.0.0.1:port`` to the hub.

Runs inside the hub container.
"""

from __future__ import annotations

import random
import socket
import threading
from typing import ClassVar

from dockerspawner import DockerSpawner
from traitlets import Int, Tuple, default

from oersite.hub.layout import LOOPBACK


class LoopbackDockerSpawner(DockerSpawner):
    """Each server in its own container on the host network, listening on 127.0.0.1 only."""

    port_range = Tuple(
        Int(),
        Int(),
        default_value=(20000, 24999),
        help="First and last port this hub's servers may listen on (127.0.0.1). "
        "Hubs sharing a machine need ranges that do not overlap.",
    ).tag(config=True)

    #: Ports handed to servers of this hub that are starting or running.  Checking that a port is
    #: free is not enough while a server starts: its container has not bound the port yet.
    _taken: ClassVar[set[int]] = set()
    _lock: ClassVar[threading.Lock] = threading.Lock()

    @default("network_name")
    def _host_network(self) -> str:
        return "host"

    @default("use_internal_ip")
    def _no_published_ports(self) -> bool:
        # With False, DockerSpawner publishes the port: refused on the host network.
        return True

    @default("ip")
    def _loopback_only(self) -> str:
        return LOOPBACK

    def _take_free_port(self) -> int:
        first, last = self.port_range
        candidates = list(range(first, last + 1))
        random.shuffle(candidates)
        with self._lock:
            for port in candidates:
                if port not in self._taken and _port_is_free(port):
                    self._taken.add(port)
                    return port
        raise RuntimeError(f"no free port for a server in {first}-{last}; widen LoopbackDockerSpawner.port_range")

    def _give_back_port(self) -> None:
        with self._lock:
            self._taken.discard(self.port)

    async def start(self):
        self.port = self._take_free_port()
        try:
            return await super().start()
        except BaseException:
            self._give_back_port()
            raise

    async def get_ip_and_port(self):
        return LOOPBACK, self.port

    async def stop(self, now: bool = False) -> None:
        try:
            await super().stop(now=now)
        finally:
            self._give_back_port()


def _port_is_free(port: int) -> bool:
    with socket.socket() as probe:
        try:
            probe.bind((LOOPBACK, port))
        except OSError:
            return False
    return True
