"""``oersite hub check`` passes on the committed bundle and names what is wrong in broken copies."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from support.cli import oersite
from support.coursehelpers import make_course

pytestmark = pytest.mark.slow  # runs apache2 -t, docker-compose and openssl

REPOSITORY = Path(__file__).resolve().parent.parent
BUNDLE = REPOSITORY / "hub"


def broken_copy(tmp_path: Path, relative: str, old: str, new: str) -> Path:
    copy = tmp_path / "hub"
    shutil.copytree(BUNDLE, copy, ignore=shutil.ignore_patterns(".env"))
    path = copy / relative
    text = path.read_text()
    assert old in text, f"{old!r} is not in {relative} any more; update this test"
    path.write_text(text.replace(old, new, 1))
    return copy


def check(bundle: Path):
    return oersite("hub", "check", str(REPOSITORY), "--bundle", str(bundle))


def test_the_committed_bundle_passes(tmp_path):
    result = check(BUNDLE)
    assert result.exit_code == 0, result.output
    for checked in ("persistent/jupyterhub_config.py", "ephemeral/jupyterhub_config.py", "docker-compose.yml"):
        assert checked in result.output
    for checked in ("apache/httpd.conf", "helm/persistent-values.yaml", "helm/ephemeral-values.yaml"):
        assert checked in result.output
    assert "Warning" not in result.output  # the sample names a registry


@pytest.mark.parametrize(
    ("relative", "old", "new", "expected"),
    [
        pytest.param(
            "persistent/jupyterhub_config.py",
            "configure_persistent_docker(c, read_settings(settings_file))",
            "configure_persistent_docker(c, read_settings(settings_file))\nc.DockerSpawner.imgae = 'x'",
            "persistent/jupyterhub_config.py: DockerSpawner.imgae: no such setting; did you mean image?",
            id="misspelt-trait",
        ),
        pytest.param(
            "ephemeral/jupyterhub_config.py",
            "configure_ephemeral_docker(c, read_settings(settings_file))",
            "configure_ephemeral_docker(c, read_settings(settings_file))\nc.JupyterHb.active_server_limit = 3",
            "ephemeral/jupyterhub_config.py: JupyterHb: no such configurable class; did you mean JupyterHub?",
            id="misspelt-section",
        ),
        pytest.param(
            "persistent/jupyterhub_config.py",
            "configure_persistent_docker(c, read_settings(settings_file))",
            "configure_persistent_docker(c, read_settings(settings_file))\nc.DockerSpawner.mem_limit = 'lots'",
            "persistent/jupyterhub_config.py: LoopbackDockerSpawner refuses the config",
            id="spawner-refuses-value",
        ),
        pytest.param(
            "hub-settings.json",
            '"memory_limit": "2G"',
            '"memory_limt": "2G"',
            "hub-settings.json: persistent.memory_limt: unknown key; run oersite hub config to write it again",
            id="broken-settings-file",
        ),
        pytest.param(
            "helm/ephemeral-values.yaml",
            "concurrent_spawn_limit",
            "concurent_spawn_limit",
            "helm/ephemeral-values.yaml: JupyterHub.concurent_spawn_limit: no such setting; "
            "did you mean concurrent_spawn_limit?",
            id="helm-values-typo",
        ),
        pytest.param(
            "helm/persistent-values.yaml",
            "  defaultUrl:",
            "  defaultURL:",
            "helm/persistent-values.yaml: singleuser.defaultURL: not a key of the chart; did you mean defaultUrl?",
            id="helm-values-not-in-the-charts-schema",
        ),
        pytest.param(
            "helm/persistent-values.yaml",
            "        secretKeyRef:",
            "        secretKeyReff:",
            "helm/persistent-values.yaml: Deployment hub (templates/hub/deployment.yaml): Kubernetes 1.28 refuses "
            "spec.template.spec.containers.0.env.4.valueFrom: Additional properties are not allowed "
            "('secretKeyReff' was unexpected)",
            id="rendered-manifest-the-kubernetes-api-refuses",
        ),
        pytest.param(
            "helm/ephemeral-values.yaml",
            "      runAsUser: 1000",
            '      runAsUser: "1000"',
            "helm/ephemeral-values.yaml: Pod jupyter-check-user (made by KubeSpawner for a server): Kubernetes 1.28 "
            "refuses spec.initContainers.0.securityContext.runAsUser: '1000' is not of type 'integer', 'null'",
            id="server-pod-the-kubernetes-api-refuses",
        ),
        pytest.param(
            "docker-compose.yml",
            "    image: registry.example.org/data-analysis/oersite-apache:",
            "    imagee: registry.example.org/data-analysis/oersite-apache:",
            "docker-compose.yml: Unsupported config option for services.apache: 'imagee'",
            id="compose-typo",
        ),
        pytest.param(
            "apache/httpd.conf",
            "ProxyPreserveHost On",
            "ProxyPreserveHostt On",
            "apache/httpd.conf: Invalid command 'ProxyPreserveHostt'",
            id="apache-typo",
        ),
    ],
)
def test_a_broken_copy_fails_with_the_problem_named(tmp_path, relative, old, new, expected):
    result = check(broken_copy(tmp_path, relative, old, new))
    assert result.exit_code == 1, result.output
    assert expected in result.output
    assert "Traceback" not in result.output


def test_a_folder_without_a_bundle_says_how_to_make_one(tmp_path):
    result = check(tmp_path)
    assert result.exit_code == 1
    assert "no hub bundle here" in result.output
    assert "oersite hub config" in result.output


def test_a_bundle_for_https_hubs_passes_with_tls_at_apache(tmp_path):
    root = make_course(
        tmp_path / "course",
        config={
            "repository": {"url": "https://example.edu/course.git"},
            "oersite": {"launch": {"hub_url": "https://hub.example.edu", "try_url": "https://try.example.edu"}},
        },
    )
    assert oersite("hub", "config", str(root)).exit_code == 0
    result = check(root / "hub")
    assert result.exit_code == 0, result.output  # apache2 -t loaded mod_ssl and a (throwaway) certificate
    # No oersite.hub.registry: Docker needs none, a cluster could not pull the images.
    warnings = [line for line in result.output.splitlines() if line.startswith("Warning:")]
    assert [line.split(": the Kubernetes values")[0].rsplit("/", 1)[-1] for line in warnings] == [
        "persistent-values.yaml",
        "ephemeral-values.yaml",
    ], result.output
    assert "oersite-course-notebook:0.1.0-jupyterhub5.5.0" in warnings[0]
    assert "set oersite.hub.registry in _config.yml and run oersite hub config" in warnings[0]
