"""Zero to JupyterHub as the bundle uses it: the chart release, its hub image, its names and ports.

One Helm release per hub, each in a namespace of its own (``HelmRelease``).
"""

from __future__ import annotations

from dataclasses import dataclass

from oersite.hub.probe import CHART_CONFIG_DIR

#: Zero to JupyterHub: the chart release these values are written and checked for, its own hub
#: image, and the JupyterHub in that image (which the single-user image must match).
CHART_VERSION = "4.4.0"
CHART_HUB_IMAGE = {"name": "quay.io/jupyterhub/k8s-hub", "tag": CHART_VERSION}
CHART_JUPYTERHUB = "5.5.0"

#: The Kubernetes secret the Helm values read the proxy secret from (kubectl create secret generic ...).
PROXY_SECRET_REF = {"name": "oersite-proxy-secret", "key": "secret"}

#: The two Kubernetes releases are checked against the API schemas of these versions: the oldest
#: the chart supports (its Chart.yaml: kubeVersion >=1.28.0-0) and the newest kubernetes-validate
#: 1.37 knows.
KUBERNETES_VERSIONS = ("1.28", "1.37")

#: What the chart's hub (which brings its own spawner and tmpauthenticator) needs of them for the
#: authenticators and the pool; the "hub is full" page only the ephemeral hub shows.
CHART_RUNTIME = (
    "__init__.py",
    "schema.py",
    "hub/__init__.py",
    "hub/settings.py",
    "hub/pool.py",
    "hub/authenticator.py",
)
CHART_FULL_PAGE = "hub/templates/429.html"

#: Where 429.html is in the chart's hub pod (from hub.extraFiles).
CHART_TEMPLATES = f"{CHART_CONFIG_DIR}/oersite/hub/templates"

#: The chart's proxy as the hub's pod reaches it (the Service proxy-public, port 80; the pod's 8000).
CHART_PROXY_URL = "http://proxy-public"
CHART_PROXY_PORT = 8000

#: Where the warm pool's status listens in the hub's pod (the Service hub gets the port too).
CHART_POOL_PORT = 8181


@dataclass(frozen=True)
class HelmRelease:
    """One hub on Kubernetes: its Helm release, in a namespace of its own.

    The chart names its namespaced objects without the release (``hub``,
    ``proxy-public``, the Secret ``hub``, the PVC ``hub-db-dir``) and expects one
    release per namespace; only its cluster-wide objects (the user scheduler's
    ClusterRole) carry the release's name.  So each hub gets its own namespace,
    and the warm pool's service still reaches ``proxy-public`` and ``hub`` by
    the chart's own names.
    """

    kind: str  # "persistent" or "ephemeral"
    name: str
    namespace: str

    @property
    def values_file(self) -> str:
        return f"helm/{self.kind}-values.yaml"

    def install_command(self, bundle: str = "hub") -> str:
        """How hub/README.md installs or upgrades it."""
        return (
            f"helm upgrade --install {self.name} jupyterhub/jupyterhub --version {CHART_VERSION} "
            f"--namespace {self.namespace} --create-namespace --values {bundle}/{self.values_file}"
        )


HELM_RELEASES = {kind: HelmRelease(kind, kind, f"oersite-{kind}") for kind in ("persistent", "ephemeral")}
