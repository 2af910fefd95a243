"""Each local hub's ``jupyterhub_config.py`` (generated on each start) and the servers' Jupyter files."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

from oersite.hub import notebook_server
from oersite.hub.serve.accounts import ServerAccount
from oersite.hub.serve.supervisor import STATE_MARKER, HubPorts
from oersite.hub.settings import NEWS_PLUGIN

PROXY = "configurable-http-proxy"


LOCAL_CONFIG = '''"""The {kind} hub of `oersite hub serve` (generated on each start; edit _config.yml instead)."""

from pathlib import Path

from oersite.hub.configurer import configure_local
from oersite.hub.settings import read_settings

configure_local(
    c,  # noqa: F821 (JupyterHub provides c)
    read_settings({settings!r}),
    kind={kind!r},
    state=Path({state!r}),
    homes=Path({homes!r}),
    account={account!r},
    data_dir=Path({data_dir!r}),
    public_port={public_port},
    hub_port={hub_port},
    proxy_api_port={proxy_api_port},
    proxy_command={proxy_command!r},
    pool_port={pool_port},
    environment={environment!r},
)
# Marks the servers and services this hub starts (each in a session of its own), so that
# stopping `oersite hub serve` can find any the hub leaves behind.
c.Spawner.environment[{marker!r}] = {state_root!r}  # noqa: F821
for service in c.JupyterHub.services:  # noqa: F821
    service.setdefault("environment", {{}})[{marker!r}] = {state_root!r}
# JupyterLab's news pop-up off, as in the image (labconfig/page_config.json there); the site's
# browser libraries served by each server and used by its kernels (oersite.hub.notebook_server).
c.Spawner.environment["JUPYTER_CONFIG_PATH"] = {jupyter_config!r}  # noqa: F821
c.Spawner.environment["JUPYTER_PATH"] = {jupyter_data!r}  # noqa: F821
# JupyterLab reads its settings defaults (overrides.json) from one folder, sys.prefix's unless told
# on the command line (a config file's LabApp section does not reach it): here, the servers' own,
# where jupytext's notebook is the viewer of MyST Markdown (LAB_SETTINGS_OVERRIDES).
c.Spawner.args.append("--LabApp.app_settings_dir=" + {lab_settings!r})  # noqa: F821
'''


def write_hub_config(
    kind: str, state: Path, settings_path: Path, account: ServerAccount, ports: HubPorts, environment: dict
) -> Path:
    folder = state / kind
    folder.mkdir(exist_ok=True)
    account.homes(kind).mkdir(parents=True, exist_ok=True)
    public, api, hub = (
        (ports.persistent_proxy, ports.persistent_proxy_api, ports.persistent_hub)
        if kind == "persistent"
        else (ports.ephemeral, ports.ephemeral_proxy_api, ports.ephemeral_hub)
    )
    config = folder / "jupyterhub_config.py"
    config.write_text(
        LOCAL_CONFIG.format(
            kind=kind,
            settings=str(settings_path),
            state=str(folder),
            homes=str(account.homes(kind)),
            account=account.name,
            data_dir=str(account.data_dir),
            environment=environment,
            public_port=public,
            hub_port=hub,
            proxy_api_port=api,
            proxy_command=shutil.which(PROXY),
            pool_port=ports.pool,
            marker=STATE_MARKER,
            state_root=str(state),
            jupyter_config=str(_jupyter_config(account.area)),
            jupyter_data=str(_jupyter_data(account.area)),
            lab_settings=str(_jupyter_data(account.area) / "lab" / "settings"),
        ),
        encoding="utf-8",
    )
    return config


def private_database(folder: Path) -> None:
    """The hub's database, the hub's alone from its first byte (0600, as JupyterHub makes its cookie secret).

    JupyterHub creates it with the umask's mode; SQLite keeps an existing file's mode, and
    gives its journal the same. An empty file is a new database to SQLite.
    """
    database = folder / "jupyterhub.sqlite"
    os.close(os.open(database, os.O_WRONLY | os.O_CREAT, 0o600))
    database.chmod(0o600)


def _jupyter_config(area: Path) -> Path:
    """The servers' Jupyter config folder: JupyterLab's news pop-up off (what labextension disable
    writes), and the server extension that serves the site's browser libraries on."""
    folder = area / "jupyter-config"
    (folder / "labconfig").mkdir(parents=True, exist_ok=True)
    (folder / "labconfig" / "page_config.json").write_text(
        json.dumps({"disabledExtensions": {NEWS_PLUGIN: True}}, indent=2) + "\n", encoding="utf-8"
    )
    _write_jupyter_files(folder, "etc/jupyter/")
    return folder


def _jupyter_data(area: Path) -> Path:
    """The servers' first Jupyter data folder: a ``python3`` kernel spec whose kernels point
    Folium at the server's copies of its libraries, and JupyterLab's settings defaults
    (``oersite.hub.notebook_server``)."""
    folder = area / "jupyter-data"
    _write_jupyter_files(folder, "share/jupyter/")
    return folder


def _write_jupyter_files(folder: Path, below: str) -> None:
    for relative, text in notebook_server.jupyter_files().items():
        if relative.startswith(below):
            target = folder / relative.removeprefix(below)
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text, encoding="utf-8")
