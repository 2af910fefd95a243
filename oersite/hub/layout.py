"""Where things are in the Docker deployment: ports on the server's loopback, paths in the images.

Every container of the bundle shares the server's network (``network_mode:
host``): Docker creates no bridge, no 172.x addresses and no iptables rules,
and everything but Apache listens on 127.0.0.1 only.  So each hub, its
configurable-http-proxy and each student's server need a port of their own on
127.0.0.1; this module is the one place that hands them out, read by the hub
configs inside the containers (``configurer``, ``spawner``) and by the bundle
writer (compose file, Apache config).  Paths inside the images are here for the
same reason.

Runs inside the hub containers: standard library only.
"""

from __future__ import annotations

from dataclasses import dataclass

LOOPBACK = "127.0.0.1"


@dataclass(frozen=True)
class HubPorts:
    """One hub's ports on the server's loopback."""

    kind: str  # "persistent" or "ephemeral"
    proxy: int  # configurable-http-proxy's public side: Apache forwards here
    proxy_api: int  # its REST API, which the hub drives
    hub: int  # the hub itself: the proxy's default target, the servers' API URL
    servers: tuple[int, int]  # first and last port of the range this hub's user servers listen on
    pool: int = 0  # the warm pool's status service (ephemeral hub only)

    @property
    def proxy_url(self) -> str:
        return f"http://{LOOPBACK}:{self.proxy}"

    @property
    def proxy_api_url(self) -> str:
        return f"http://{LOOPBACK}:{self.proxy_api}"

    @property
    def hub_url(self) -> str:
        return f"http://{LOOPBACK}:{self.hub}"


#: The hubs and proxies listen below 1024, where only root may bind: every container shares
#: the network, and a student's program that grabbed a hub's port while the hub restarted
#: would receive what Apache sends it (the proxy secret, users' cookies).  Students' servers
#: get disjoint ranges, so the two hubs never hand out the same port, below Linux's
#: ephemeral range (32768-60999) from which clients get theirs.
PERSISTENT = HubPorts("persistent", proxy=780, proxy_api=781, hub=782, servers=(20000, 24999))
EPHEMERAL = HubPorts("ephemeral", proxy=790, proxy_api=791, hub=792, servers=(25000, 29999), pool=793)
HUBS = {"persistent": PERSISTENT, "ephemeral": EPHEMERAL}


def internal_ports() -> set[int]:
    """The ports the bundle uses on 127.0.0.1 besides Apache's public ones."""
    ports: set[int] = set()
    for hub in HUBS.values():
        ports |= {hub.proxy, hub.proxy_api, hub.hub} | ({hub.pool} if hub.pool else set())
    return ports


def in_server_range(port: int) -> bool:
    return any(first <= port <= last for first, last in (hub.servers for hub in HUBS.values()))


# Paths inside the images and containers.

#: The generated configuration, mounted read-only into every container.
CONFIG_DIR = "/etc/oersite"
HUB_CONFIG = f"{CONFIG_DIR}/hub/jupyterhub_config.py"
APACHE_DIR = f"{CONFIG_DIR}/apache"
TLS_DIR = f"{CONFIG_DIR}/tls"
#: Apache's pid file and TLS session cache (created in the Apache image, owned by root).
APACHE_RUNTIME_DIR = "/run/oersite-apache"
#: Debian's Apache: modules below /usr/lib/apache2/modules, started with -d here.
APACHE_SERVER_ROOT = "/usr/lib/apache2"
#: The group of Apache's workers in the Apache image (Debian's www-data): the one group that may read
#: the mounted users.htpasswd, which keeps its number across the bind mount.
APACHE_GROUP_ID = 33
#: Hub state (database, cookie secret) in the hub containers: a named volume.
HUB_DATA = "/srv/jupyterhub/data"
#: oersite's hub modules in the hub image (on PYTHONPATH).
HUB_PACKAGE_DIR = "/opt/oersite-hub"
#: The Python environment of every image (a venv on Debian's python3).
VENV = "/opt/oersite"
#: Where a student's files live inside the single-user image (the image's home).
IMAGE_HOME = "/home/jovyan"
#: The single-user image's user: uid 1000 in group users (100), as in Jupyter's docker-stacks and the chart.
IMAGE_UID, IMAGE_GID = 1000, 100
