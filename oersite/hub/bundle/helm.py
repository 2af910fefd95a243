"""Zero to JupyterHub values for each hub: ``hub/helm/<kind>-values.yaml``, for the chart's own hub image."""

from __future__ import annotations

from oersite.hub import layout, pool
from oersite.hub.bundle.chart import (
    CHART_FULL_PAGE,
    CHART_HUB_IMAGE,
    CHART_POOL_PORT,
    CHART_PROXY_PORT,
    CHART_PROXY_URL,
    CHART_RUNTIME,
    CHART_TEMPLATES,
    CHART_VERSION,
    HELM_RELEASES,
    PROXY_SECRET_REF,
    HelmRelease,
)
from oersite.hub.bundle.generated import GENERATED, PACKAGE, yaml_text
from oersite.hub.bundle.images import DATA_COPY_DIR, DATA_IMAGE_DIR, CourseImages
from oersite.hub.configurer import Hub, Place, ephemeral_hub, persistent_hub, singleuser_environment
from oersite.hub.probe import CHART_CONFIG_DIR
from oersite.hub.settings import PROXY_SECRET_VARIABLE, HubBundleSettings


def _image(name: str) -> dict:
    repository, _, tag = name.rpartition(":") if ":" in name.rsplit("/", 1)[-1] else (name, "", "latest")
    return {"name": repository, "tag": tag}


def _hub_config(*setters) -> dict:
    """``hub.config`` of the Helm values: the setters the Docker hubs use, run on a traitlets Config."""
    from traitlets.config import Config

    config = Config()
    for setter in setters:
        setter(config)
    return {section: {key: _plain(value) for key, value in values.items()} for section, values in config.items()}


def _plain(value):
    """A traitlets value as YAML data (sets become sorted lists)."""
    if isinstance(value, (set, frozenset, tuple)):
        return sorted(value) if isinstance(value, (set, frozenset)) else list(value)
    return value


def _chart_files(names) -> dict:
    """``hub.extraFiles`` that put oersite's modules beside the chart's jupyterhub_config.py."""
    files = {}
    for relative in names:
        key = "oersite-" + relative.replace("/", "-").replace("_", "")
        files[key] = {
            "mountPath": f"{CHART_CONFIG_DIR}/oersite/{relative}",
            "stringData": (PACKAGE / relative).read_text(encoding="utf-8"),
        }
    return files


def _singleuser(settings: HubBundleSettings, images: CourseImages, hub: Hub) -> dict:
    """The chart's ``singleuser``: the image, limits, and the course data, read-only where notebooks look.

    The data comes with the server: an init container of the data image copies
    it into a volume of the pod (``emptyDir``), which the server mounts
    read-only.  Nothing for the operator to create or fill, any storage class
    will do, and a change of the data is a new image tag that the next server
    starts with.
    """
    return {
        "image": _image(images.kubernetes_notebook),
        "defaultUrl": settings.default_url_of(hub.kind),
        "memory": {"limit": hub.memory},
        "cpu": {"limit": hub.cpu},
        "extraEnv": singleuser_environment(settings.data_path),
        "initContainers": [
            {
                "name": "course-data",
                "image": images.course_data,
                "command": ["cp", "-R", f"{DATA_IMAGE_DIR}/.", f"{DATA_COPY_DIR}/"],
                "volumeMounts": [{"name": "course-data", "mountPath": DATA_COPY_DIR}],
                "securityContext": {
                    "runAsUser": layout.IMAGE_UID,
                    "runAsGroup": layout.IMAGE_GID,
                    "runAsNonRoot": True,
                    "allowPrivilegeEscalation": False,
                    "readOnlyRootFilesystem": True,
                    "capabilities": {"drop": ["ALL"]},
                },
            }
        ],
        "storage": {
            "extraVolumes": [{"name": "course-data", "emptyDir": {}}],
            "extraVolumeMounts": [{"name": "course-data", "mountPath": settings.data_path, "readOnly": True}],
        },
    }


#: Where the chart runs a hub: 429.html from hub.extraFiles, the pool beside the hub in its pod.
CHART_PLACE = Place(
    templates=CHART_TEMPLATES, proxy_url=CHART_PROXY_URL, pool_status_url=f"http://hub:{CHART_POOL_PORT}"
)


def persistent_values(settings: HubBundleSettings, images: CourseImages) -> str:
    return _values(settings, images, persistent_hub(settings))


def ephemeral_values(settings: HubBundleSettings, images: CourseImages) -> str:
    return _values(settings, images, ephemeral_hub(settings))


def _values(settings: HubBundleSettings, images: CourseImages, hub: Hub) -> str:
    """The chart's values for ``hub``: what it is as ``hub.config``, its limits and culling as the chart's own keys."""
    release = HELM_RELEASES[hub.kind]
    singleuser = _singleuser(settings, images, hub)
    singleuser["extraEnv"].update(hub.server_environment)  # Run code's origins, on the Try-now hub's servers
    # A volume per student, kept when their server stops; or a visitor's files go with their pod.
    singleuser["storage"]["type"] = "dynamic" if hub.keeps_homes else "none"
    config = _hub_config(lambda c: hub.configure(c, CHART_PLACE))
    chart_hub = {"image": CHART_HUB_IMAGE, "config": config}
    if hub.kind == "persistent":
        chart_hub["extraFiles"] = _chart_files(CHART_RUNTIME)
        chart_hub["extraEnv"] = {PROXY_SECRET_VARIABLE: {"valueFrom": {"secretKeyRef": PROXY_SECRET_REF}}}
    else:
        # The pool's service and the authenticator (warm pool, Run code) come from oersite's modules.
        ours = settings.ephemeral.pool or settings.run_code_origins
        chart_hub["extraFiles"] = _chart_files((*CHART_RUNTIME, CHART_FULL_PAGE) if ours else (CHART_FULL_PAGE,))
        chart_hub.update(_chart_services(config))
    culling = hub.culling
    values = {
        "hub": chart_hub,
        # Apache (single sign-on) is the only way in: the proxy is not exposed outside the cluster.
        "proxy": {"service": {"type": "ClusterIP"}},
        "singleuser": singleuser,
        "cull": {
            "enabled": True,
            "users": culling.users,
            "timeout": culling.timeout,
            **({"maxAge": culling.max_age} if culling.max_age else {}),
        },
    }
    if hub.kind == "ephemeral" and settings.ephemeral.pool:
        _open_pool_paths(values, release)
    url = settings.persistent_url if hub.kind == "persistent" else settings.ephemeral_url
    return _helm_header(release, url, images) + yaml_text(values)


def _open_pool_paths(values: dict, release: HelmRelease) -> None:
    """The chart's network policies let the hub's pod reach servers and the proxy's API only.

    The warm pool's service (in the hub's pod) pulls the course into a waiting
    server through the proxy's public port, and the proxy forwards
    /services/oersite-pool/status to the service: two paths the chart closes,
    opened here for those ports alone, to the pods of this release only (the
    chart's ``component`` and ``release`` labels, in the release's namespace).
    """

    def pods(component: str) -> list[dict]:
        return [{"podSelector": {"matchLabels": {"component": component, "release": release.name}}}]

    values["hub"]["service"] = {"extraPorts": [{"name": "pool-status", "port": CHART_POOL_PORT}]}
    values["hub"]["networkPolicy"] = {
        "ingress": [{"from": pods("proxy"), "ports": [{"port": CHART_POOL_PORT, "protocol": "TCP"}]}],
        "egress": [{"to": pods("proxy"), "ports": [{"port": CHART_PROXY_PORT, "protocol": "TCP"}]}],
    }
    values["proxy"]["chp"] = {
        "networkPolicy": {"egress": [{"to": pods("hub"), "ports": [{"port": CHART_POOL_PORT, "protocol": "TCP"}]}]}
    }


def _chart_services(config: dict) -> dict:
    """The chart takes services and their roles as ``hub.services`` and ``hub.loadRoles`` (dicts by name).

    It drops ``JupyterHub.services`` from ``hub.config`` and sets ``load_roles``
    itself, so they move there.  A service runs in the hub's pod with the
    chart's ``python3``, finding oersite's modules beside the chart's config.
    """
    section = config.get("JupyterHub", {})
    services = {}
    for service in section.pop("services", []):
        service = {key: value for key, value in service.items() if key != "name"} | {"name": service["name"]}
        service["command"] = ["python3", *service["command"][1:]]
        service["environment"] = {**service.get("environment", {}), "PYTHONPATH": CHART_CONFIG_DIR}
        if "url" in service:  # its own Service name, which is not an address of the pod: listen on all
            service["environment"][pool.LISTEN_VARIABLE] = "0.0.0.0"  # noqa: S104 (the network policy limits it)
        services[service["name"]] = service
    roles = {role["name"]: role for role in section.pop("load_roles", [])}
    return {key: value for key, value in (("services", services), ("loadRoles", roles)) if value}


def _helm_header(release: HelmRelease, url: str, images: CourseImages) -> str:
    header = (
        f"# Zero to JupyterHub {CHART_VERSION} values for the {release.kind} hub ({url}). {GENERATED}\n"
        f"# Release {release.name} in a namespace of its own ({release.namespace}; see hub/README.md):\n"
        f"# {release.install_command()}\n"
    )
    if not images.registry:
        header += (
            "# Not deployable as they are: no image here names a registry a cluster can pull from; "
            "set oersite.hub.registry in _config.yml.\n"
        )
    return header
