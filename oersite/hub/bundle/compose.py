"""``hub/docker-compose.yml``: Apache, both hubs and their proxies on one server, on the host's network."""

from __future__ import annotations

from oersite.config import Course
from oersite.hub import layout
from oersite.hub.apache import OIDC_PASSPHRASE_VARIABLE, OIDC_SECRET_VARIABLE
from oersite.hub.bundle.generated import GENERATED, yaml_text
from oersite.hub.bundle.images import CourseImages
from oersite.hub.configurer import DATA_HOST_VARIABLE
from oersite.hub.settings import PROXY_SECRET_VARIABLE, SETTINGS_FILE, HubBundleSettings


def _sign_on_variables(sso) -> tuple[str, ...]:
    """The secrets Apache's sign-on module reads from its environment (.env)."""
    return (OIDC_SECRET_VARIABLE, OIDC_PASSPHRASE_VARIABLE) if sso.protocol == "oidc" else ()


def compose_file(course: Course, settings: HubBundleSettings, images: CourseImages) -> str:
    needed = "run oersite hub config to generate hub/.env"
    data_dir = DATA_HOST_VARIABLE.removeprefix("OERSITE_")

    def build(dockerfile: str) -> dict:
        # network: host, as everything here; the engine may have no bridge network at all.
        return {
            "context": ".",
            "dockerfile": dockerfile,
            "network": "host",
            "args": {"BASE_IMAGE": f"${{BASE_IMAGE:-{course.settings.hub.base_image}}}"},
        }

    def proxy(ports: layout.HubPorts) -> dict:
        return {
            "image": images.hub,
            "network_mode": "host",
            "command": [
                "configurable-http-proxy",
                f"--ip={layout.LOOPBACK}",
                f"--port={ports.proxy}",
                f"--api-ip={layout.LOOPBACK}",
                f"--api-port={ports.proxy_api}",
                f"--default-target={ports.hub_url}",
                f"--error-target={ports.hub_url}/hub/error",
            ],
            "environment": {"CONFIGPROXY_AUTH_TOKEN": f"${{{ports.kind.upper()}_PROXY_TOKEN:?{needed}}}"},
            "restart": "unless-stopped",
        }

    def hub(ports: layout.HubPorts) -> dict:
        kind = ports.kind
        environment = {
            "CONFIGPROXY_AUTH_TOKEN": f"${{{kind.upper()}_PROXY_TOKEN:?{needed}}}",
            DATA_HOST_VARIABLE: f"${{{data_dir}:?set {data_dir} in hub/.env to the course data folder}}",
        }
        if kind == "persistent":
            environment[PROXY_SECRET_VARIABLE] = f"${{{PROXY_SECRET_VARIABLE}:?{needed}}}"
        service = {
            "image": images.hub,
            "network_mode": "host",
            "volumes": [
                f"./{kind}/jupyterhub_config.py:{layout.HUB_CONFIG}:ro",
                f"./{SETTINGS_FILE}:{layout.CONFIG_DIR}/{SETTINGS_FILE}:ro",
                "${DOCKER_SOCKET:-/var/run/docker.sock}:/var/run/docker.sock",
                f"{kind}-hub-data:{layout.HUB_DATA}",
            ],
            "environment": environment,
            "depends_on": [f"{kind}-proxy"],
            "restart": "unless-stopped",
        }
        if kind == "persistent":  # one build of the image both hubs and proxies run
            service = {"build": build("hub.Dockerfile"), **service}
        return service

    compose = {
        "version": "3.8",
        "services": {
            "apache": {
                "build": build("apache.Dockerfile"),
                "image": images.apache,
                "network_mode": "host",
                "volumes": [f"./apache:{layout.APACHE_DIR}:ro", f"./tls:{layout.TLS_DIR}:ro"],
                "environment": {
                    name: f"${{{name}:?{needed}}}"
                    for name in (PROXY_SECRET_VARIABLE, *_sign_on_variables(settings.sso))
                },
                "depends_on": ["persistent-proxy", "ephemeral-proxy"],
                "restart": "unless-stopped",
            },
            "persistent-proxy": proxy(layout.PERSISTENT),
            "persistent-hub": hub(layout.PERSISTENT),
            "ephemeral-proxy": proxy(layout.EPHEMERAL),
            "ephemeral-hub": hub(layout.EPHEMERAL),
            # Builds the single-user image DockerSpawner starts; never runs as a service.
            "notebook-image": {"build": build("notebook.Dockerfile"), "image": settings.image, "profiles": ["build"]},
        },
        "volumes": {"persistent-hub-data": {}, "ephemeral-hub-data": {}},
        # Compose would otherwise create a bridge network for the project (172.x) that nothing uses.
        "networks": {"default": {"external": True, "name": "host"}},
    }
    header = (
        f"# Apache, both hubs and their proxies on one server. {GENERATED}\n"
        "# Every container shares the server's network (network_mode: host): Docker makes no bridge and\n"
        "# no addresses; hubs, proxies and students' servers listen on 127.0.0.1, Apache is the one way in.\n"
    )
    return header + yaml_text(compose)
