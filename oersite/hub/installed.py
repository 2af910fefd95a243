"""What the hub commands need installed, checked before they start.

The hub commands need the hub extra (``pip install -e ".[hub]"``: JupyterHub,
its spawners and services) and some of Debian's programs; without one of them a
command stops with one line naming what to install, before it writes anything.
"""

from __future__ import annotations

import importlib
import shutil

from oersite.errors import HubError

#: configurable-http-proxy from npm: the version oersite hub serve runs and the hub image installs.
PROXY_VERSION = "5.3.0"
#: The hub extra's modules, and the distributions that provide them.
HUB_EXTRA = {
    "jupyterhub": "jupyterhub",
    "dockerspawner": "dockerspawner",
    "kubespawner": "jupyterhub-kubespawner",
    "tmpauthenticator": "jupyterhub-tmpauthenticator",
    "jupyterhub_idle_culler": "jupyterhub-idle-culler",
    "nbgitpuller": "nbgitpuller",
    "jupyterlab": "jupyterlab",
    "notebook": "notebook",  # the classic interface
    "jupytext": "jupytext",
    # oersite hub check: Helm's engine (its Go SDK, embedded) and the Kubernetes API schemas.
    "helm_python": "helm-python-sdk",
    "kubernetes_validate": "kubernetes-validate",
}
#: The line that installs the hub extra, as an operator runs it.
HUB_EXTRA_INSTALL = 'pip install -e ".[hub]" in oersite\'s folder'
#: Debian's packages for the programs the hub commands run.
DEBIAN_PACKAGES = {
    "apache2": "apache2",
    "htpasswd": "apache2-utils",
    "openssl": "openssl",
    "docker-compose": "docker-compose",
    "git": "git",
}


def require_hub_extra(*modules: str) -> None:
    """Raise HubError naming the first of ``modules`` (default: all of the hub extra) that cannot be imported."""
    for module in modules or tuple(HUB_EXTRA):
        try:
            importlib.import_module(module)
        except ImportError:
            raise HubError(
                f"{module}: not installed ({HUB_EXTRA.get(module, module)}); install the hub extra: {HUB_EXTRA_INSTALL}"
            ) from None


def require_program(program: str, install: str | None = None) -> str:
    """The path of ``program``, or HubError naming how to install it."""
    found = shutil.which(program)
    if found is None:
        how = install or f"apt-get install {DEBIAN_PACKAGES.get(program, program)}"
        raise HubError(f"{program}: not found; install it (Debian: {how})")
    return found
