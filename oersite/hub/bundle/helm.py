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
from oersite.hub.configurer import (
    singleuser_environment,
    update_friendly_full_page,
    update_logout_ends_server,
    update_proxy_header_auth,
    update_sign_on,
    update_spawn_limits,
    update_temporary_auth,
    update_warm_pool,
)
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


def _singleuser(settings: HubBundleSettings, images: CourseImages, memory: str, cpu: float) -> dict:
    """The chart's ``singleuser``: the image, limits, and the course data, read-only where notebooks look.

    The data comes with the server: an init container of the data image copies
    it into a volume of the pod (``emptyDir``), which the server mounts
    read-only.  Nothing for the operator to create or fill, any storage class
    will do, and a change of the data is a new image tag that the next server
    starts with.
    """
    return {
        "image": _image(images.kubernetes_notebook),
        "defaultUrl": settings.default_url,
        "memory": {"limit": memory},
        "cpu": {"limit": cpu},
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


def persistent_values(settings: HubBundleSettings, images: CourseImages) -> str:
    hub = settings.persistent
    singleuser = _singleuser(settings, images, hub.memory_limit, hub.cpu_limit)
    singleuser["storage"]["type"] = "dynamic"  # a volume per student, kept when their server stops
    values = {
        "hub": {
            "image": CHART_HUB_IMAGE,
            "config": _hub_config(
                lambda c: update_proxy_header_auth(c, hub),
                lambda c: update_sign_on(c, settings.sso, settings.persistent_url),
            ),
            "extraFiles": _chart_files(CHART_RUNTIME),
            "extraEnv": {PROXY_SECRET_VARIABLE: {"valueFrom": {"secretKeyRef": PROXY_SECRET_REF}}},
        },
        # Apache (single sign-on) is the only way in: the proxy is not exposed outside the cluster.
        "proxy": {"service": {"type": "ClusterIP"}},
        "singleuser": singleuser,
        "cull": {"enabled": True, "users": False, "timeout": hub.cull_idle_seconds},
    }
    return _helm_header(HELM_RELEASES["persistent"], settings.persistent_url, images) + yaml_text(values)


def ephemeral_values(settings: HubBundleSettings, images: CourseImages) -> str:
    hub = settings.ephemeral
    singleuser = _singleuser(settings, images, hub.memory_limit, hub.cpu_limit)
    singleuser["storage"]["type"] = "none"  # a visitor's files go with their pod
    config = _hub_config(
        update_temporary_auth,
        update_logout_ends_server,
        lambda c: update_spawn_limits(c, hub),
        lambda c: update_friendly_full_page(c, CHART_TEMPLATES),
        lambda c: update_warm_pool(
            c,
            hub,
            pull_query=settings.pull_query,
            proxy_url=CHART_PROXY_URL,
            status_url=f"http://hub:{CHART_POOL_PORT}",
        ),
    )
    values = {
        "hub": {
            "image": CHART_HUB_IMAGE,
            "config": config,
            "extraFiles": _chart_files((*CHART_RUNTIME, CHART_FULL_PAGE) if hub.pool else (CHART_FULL_PAGE,)),
            **_chart_services(config),
        },
        "proxy": {"service": {"type": "ClusterIP"}},
        "singleuser": singleuser,
        "cull": {
            "enabled": True,
            "users": True,
            "timeout": hub.cull_idle_seconds,
            "maxAge": hub.max_age_seconds,
        },
    }
    release = HELM_RELEASES["ephemeral"]
    if hub.pool:
        _open_pool_paths(values, release)
    return _helm_header(release, settings.ephemeral_url, images) + yaml_text(values)


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
