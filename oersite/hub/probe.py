"""What a hub would make of a configuration, without starting it.

Every section and trait of the configuration is looked up in the classes the
hub would use (JupyterHub only logs a "did you mean" warning for a misspelt
trait; here it is a problem), then the spawner and the authenticator are
constructed from it, which validates every value.

Two ways in:

- ``unknown_traits(config)`` and ``construct(config)``, called by
  ``oersite hub check`` for the Docker hubs' ``jupyterhub_config.py``;
- run as a script in another Python, the one with the hub's own versions
  (Zero to JupyterHub's hub runs JupyterHub 5.5 and KubeSpawner):
  ``python probe.py REQUEST.json`` with values files of the chart, prints their
  problems as JSON, a list per file.  It loads the configuration the way the chart's
  ``jupyterhub_config.py`` does (``singleuser`` keys onto KubeSpawner,
  ``hub.config``, ``hub.extraConfig``), with the ``hub.extraFiles`` written
  below a scratch folder standing for the hub pod's root, which is put first on
  ``sys.path`` as the chart does for its own folder: so the oersite modules
  used are the ones in the values, never an installed oersite.

Standard library, traitlets and JupyterHub only: it must run in a hub's Python.
"""

from __future__ import annotations

import asyncio
import difflib
import importlib.util
import json
import logging
import os
import sys
import tempfile
from pathlib import Path
from types import SimpleNamespace

#: JupyterHub's own warnings about the config: the probe reports them itself, as problems.
_QUIET = logging.getLogger("oersite.hub.probe.jupyterhub")
_QUIET.propagate = False
_QUIET.addHandler(logging.NullHandler())
#: The folder of the chart's jupyterhub_config.py, which it puts on sys.path.
CHART_CONFIG_DIR = "/usr/local/etc/jupyterhub"
#: What the chart's jupyterhub_config.py drops from hub.config (it sets them itself).
CHART_OWNED = {
    "JupyterHub": ("proxy_auth_token", "cookie_secret", "services"),
    "ConfigurableHTTPProxy": ("auth_token",),
    "CryptKeeper": ("keys",),
}
#: The chart's mapping of the singleuser values oersite writes onto KubeSpawner traits.
CHART_SINGLEUSER = {
    "mem_limit": ("memory", "limit"),
    "cpu_limit": ("cpu", "limit"),
    "environment": ("extraEnv",),
    "default_url": ("defaultUrl",),
    "init_containers": ("initContainers",),
}
#: A kubeconfig naming a cluster that is never contacted: KubeSpawner loads one when constructed.
KUBECONFIG = """apiVersion: v1
kind: Config
clusters: [{name: probe, cluster: {server: "https://127.0.0.1:9"}}]
users: [{name: probe, user: {token: probe}}]
contexts: [{name: probe, context: {cluster: probe, user: probe}}]
current-context: probe
"""


def _configurable_classes(config) -> dict[str, type]:
    """Every class a hub with this config reads settings from, by name."""
    from jupyterhub.app import JupyterHub
    from traitlets.config import Configurable

    hub = JupyterHub(config=config, log=_QUIET)
    classes: dict[str, type] = {}
    roots = [*hub._classes_with_config_traits(), hub.authenticator_class, hub.spawner_class, hub.proxy_class]
    for root in roots:
        for cls in root.mro():
            if isinstance(cls, type) and issubclass(cls, Configurable):
                classes.setdefault(cls.__name__, cls)
    return classes


def unknown_traits(config) -> list[str]:
    """Every section and trait in ``config`` that no class of the hub knows, with a suggestion."""
    classes = _configurable_classes(config)
    problems = []
    for section, values in config.items():
        if section not in classes:
            problems.append(f"{section}: no such configurable class{did_you_mean(section, classes)}")
            continue
        known = classes[section].class_trait_names(config=True)
        for trait in values:
            if trait not in known:
                problems.append(f"{section}.{trait}: no such setting{did_you_mean(trait, known)}")
    return problems


def did_you_mean(name: str, known) -> str:
    close = difflib.get_close_matches(name, list(known), n=1)
    return f"; did you mean {close[0]}?" if close else ""


def construct(config, pods: list | None = None) -> list[str]:
    """Construct the hub's spawner and authenticator from ``config``; what they refuse.

    ``pods``: for a spawner that makes Kubernetes pods, the pod it would ask
    the cluster for (as the API's JSON) is appended, for a check against the
    API's schema.
    """
    from jupyterhub.app import JupyterHub

    hub = JupyterHub(config=config, log=_QUIET)
    user = SimpleNamespace(
        name="check-user", escaped_name="check-user", url="/user/check-user/", id=1, orm_user=None, base_url="/"
    )
    hub_api = SimpleNamespace(
        api_url="http://hub:8081/hub/api", url="http://hub:8081/hub/", base_url="/hub/", public_host="", host=""
    )
    problems = []
    warnings = _CapturedWarnings()

    async def make(cls) -> None:
        # In an event loop, as in the hub: KubeSpawner starts its API client there.
        try:
            made = cls(config=config, user=user, hub=hub_api) if cls is hub.spawner_class else cls(config=config)
        except Exception as error:
            problems.append(f"{cls.__name__} refuses the config: {type(error).__name__}: {error}")
            return
        if pods is not None and hasattr(made, "get_pod_manifest"):
            try:
                pods.append(await _pod(made))
            except Exception as error:
                problems.append(f"{cls.__name__} cannot make a server's pod of it: {type(error).__name__}: {error}")

    for cls in (hub.spawner_class, hub.authenticator_class):
        asyncio.run(make(cls))
    problems += warnings.collect()
    return problems


async def _pod(spawner) -> dict:
    """The pod KubeSpawner would create for a server (nothing is sent anywhere), as the API's JSON."""
    from kubernetes_asyncio.client import ApiClient

    spawner.api_token = "check-token"  # noqa: S105 (what the hub hands a server; a placeholder here)
    pod = await spawner.get_pod_manifest()
    return ApiClient().sanitize_for_serialization(pod)


class _CapturedWarnings(logging.Handler):
    """Traitlets logs a misspelt trait as a warning; a check treats it as an error."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.messages: list[str] = []
        logging.getLogger().addHandler(self)
        logging.getLogger("traitlets").addHandler(self)

    def emit(self, record) -> None:
        message = record.getMessage()
        if "did you mean" in message.lower() or "not a recognized" in message.lower():
            self.messages.append(message.strip())

    def collect(self) -> list[str]:
        logging.getLogger().removeHandler(self)
        logging.getLogger("traitlets").removeHandler(self)
        return self.messages


def chart_config(values: dict, pod_root: Path):
    """The configuration the chart's hub would load from ``values`` (its defaults merged in)."""
    from traitlets.config import Config

    for extra in (values["hub"].get("extraFiles") or {}).values():
        path = pod_root / extra["mountPath"].lstrip("/")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(extra["stringData"], encoding="utf-8")
    sys.path.insert(0, str(pod_root / CHART_CONFIG_DIR.lstrip("/")))
    c = Config()
    c.JupyterHub.spawner_class = "kubespawner.KubeSpawner"
    singleuser = values.get("singleuser") or {}
    image = singleuser.get("image") or {}
    if image.get("name"):
        c.KubeSpawner.image = f"{image['name']}:{image['tag']}" if image.get("tag") else image["name"]
    for trait, keys in CHART_SINGLEUSER.items():
        value = singleuser
        for key in keys:
            value = value.get(key) if isinstance(value, dict) else None
        if value is not None:
            c.KubeSpawner[trait] = value
    storage = singleuser.get("storage") or {}
    c.KubeSpawner.volumes = list(storage.get("extraVolumes") or [])
    c.KubeSpawner.volume_mounts = list(storage.get("extraVolumeMounts") or [])
    for section, settings in (values["hub"].get("config") or {}).items():
        settings = {key: value for key, value in settings.items() if key not in CHART_OWNED.get(section, ())}
        c[section].update(settings)
    for _, code in sorted((values["hub"].get("extraConfig") or {}).items()):
        exec(code, {"c": c, "get_config": lambda: c})
    return c


def probe_chart(values: dict, pods: list | None = None) -> list[str]:
    """Problems the chart's hub would have with ``values``; modules come from its extraFiles only.

    ``pods`` gets the pod KubeSpawner would make for a server (see ``construct``).
    """
    if importlib.util.find_spec("kubespawner") is None:
        return [
            f"cannot check what the chart's hub would load: jupyterhub-kubespawner is not installed for "
            f"{sys.executable}; install the hub extra (pip install -e '.[hub]')"
        ]
    path_before = list(sys.path)
    with tempfile.TemporaryDirectory(prefix="oersite-chart-hub-") as scratch:
        kubeconfig = Path(scratch) / "kubeconfig"
        kubeconfig.write_text(KUBECONFIG, encoding="utf-8")
        os.environ["KUBECONFIG"] = str(kubeconfig)
        try:
            config = chart_config(values, Path(scratch) / "pod")
            problems = unknown_traits(config)
            if not problems:
                problems = construct(config, pods)
                problems += _imported_from_the_values(config, Path(scratch))
            problems += _services_from_the_values(values, Path(scratch))
        except Exception as error:  # the values are someone's input: any failure is theirs
            problems = [f"the chart's hub cannot load them: {type(error).__name__}: {error}"]
        finally:
            # The next values file gets its own modules: none of these may answer for it.
            sys.path[:] = path_before
            for name in [name for name in sys.modules if name == "oersite" or name.startswith("oersite.")]:
                del sys.modules[name]
    return problems


def _imported_from_the_values(config, scratch: Path) -> list[str]:
    """An authenticator given by module path must come from the values' extraFiles, not from elsewhere."""
    name = config.JupyterHub.get("authenticator_class", "")
    module_name = name.rpartition(".")[0] if isinstance(name, str) else ""
    module = sys.modules.get(module_name)
    if not module_name or module is None or not getattr(module, "__file__", None):
        return []
    if Path(module.__file__).resolve().is_relative_to(scratch.resolve()):
        return []
    return [f"{module_name} is not in hub.extraFiles: the chart's hub image does not have it"]


def _services_from_the_values(values: dict, scratch: Path) -> list[str]:
    """A service run as ``python3 -m MODULE`` in the hub's pod needs MODULE from extraFiles, on its PYTHONPATH."""
    problems = []
    for name, service in (values["hub"].get("services") or {}).items():
        command = service.get("command") or []
        if not (isinstance(command, list) and command[1:2] == ["-m"] and len(command) > 2):
            continue
        where = f"hub.services.{name}"
        if (service.get("environment") or {}).get("PYTHONPATH") != CHART_CONFIG_DIR:
            problems.append(f"{where}.environment.PYTHONPATH: must be {CHART_CONFIG_DIR}, where extraFiles are")
        try:
            spec = importlib.util.find_spec(command[2])
        except ImportError:
            spec = None
        if spec is None or not spec.origin or not Path(spec.origin).resolve().is_relative_to(scratch.resolve()):
            problems.append(
                f"{where}.command: {command[2]} is not in hub.extraFiles: the chart's hub image does not have it"
            )
    return problems


def main(argv: list[str]) -> int:
    """``probe.py REQUEST.json``: REQUEST holds ``{"values": [values, ...]}``; prints a list of problems per values.

    With ``"pods": PATH`` in REQUEST, the pods KubeSpawner would make (a list per values) go to PATH as JSON.
    """
    request = json.loads(Path(argv[1]).read_text(encoding="utf-8"))
    pods: list[list[dict]] = [[] for _ in request["values"]]
    problems = [probe_chart(values, made) for values, made in zip(request["values"], pods, strict=True)]
    if request.get("pods"):
        Path(request["pods"]).write_text(json.dumps(pods), encoding="utf-8")
    print(json.dumps(problems))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
