"""The Zero to JupyterHub values: what the chart 4.4.0 accepts, and a hub the chart can start from them.

No Helm and no cluster run here.  What stands in for them: the chart's own
default values and values schema (``../shared/z2jh``, the data Helm validates
against), merged and validated as Helm does; and, for the hub, a Python
environment with the versions of the chart's hub image (JupyterHub 5.5.0,
KubeSpawner 7.0.0, tmpauthenticator 1.0.0), in which ``oersite.hub.probe``
loads what the chart's ``jupyterhub_config.py`` would, with the oersite modules
from ``hub.extraFiles`` only, and constructs KubeSpawner and the authenticator.
"""

from __future__ import annotations

import copy
import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from conftest import REPOSITORY
from hubenvs import hub_environment
from jsonschema import Draft7Validator

from oersite.hub.bundle import CHART_HUB_IMAGE, CHART_JUPYTERHUB
from oersite.hub.check import CHART_DATA, check_helm_values, helm_merge, probe_chart_hubs, schema_problems

SHARED_CHART = REPOSITORY.parent / "shared" / "z2jh"
VALUES = {kind: REPOSITORY / "hub" / "helm" / f"{kind}-values.yaml" for kind in ("persistent", "ephemeral")}
#: The Python packages of the chart's hub image quay.io/jupyterhub/k8s-hub:4.4.0 that a config touches.
CHART_HUB_PACKAGES = (
    f"jupyterhub=={CHART_JUPYTERHUB}",
    "jupyterhub-kubespawner==7.0.0",
    "jupyterhub-tmpauthenticator==1.0.0",
)


def chart_file(name: str) -> Path:
    path = SHARED_CHART / name
    assert path.is_file(), f"{path}: the chart's data is missing; CI keeps ../shared beside the repository"
    return path


def merged(kind: str, change=None) -> dict:
    values = yaml.safe_load(VALUES[kind].read_text())
    if change:
        values = copy.deepcopy(values)
        change(values)
    return helm_merge(yaml.safe_load(chart_file("values.yaml").read_text()), values)


@pytest.fixture(scope="session")
def chart_hub_python() -> str:
    """A virtual environment with the chart's hub versions (made once, kept in the tests' cache)."""
    return hub_environment(CHART_HUB_PACKAGES)


# The chart's schema.


def test_the_chart_data_oersite_ships_is_the_charts_own():
    for name in ("values.yaml", "values.schema.json", "LICENSE"):
        assert (CHART_DATA / name).read_bytes() == chart_file(name).read_bytes(), name


@pytest.mark.parametrize("kind", sorted(VALUES))
def test_the_values_merged_over_the_charts_defaults_pass_its_schema(kind):
    schema = json.loads(chart_file("values.schema.json").read_text())
    errors = [error.message for error in Draft7Validator(schema).iter_errors(merged(kind))]
    assert errors == []


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (
            lambda v: v["hub"].update(confg=v["hub"].pop("config")),
            "hub.confg: not a key of the chart; did you mean config?",
        ),
        (lambda v: v["singleuser"]["memory"].update(limt="1G"), "singleuser.memory.limt: not a key of the chart"),
        (lambda v: v["singleuser"]["cpu"].update(limit="lots"), "singleuser.cpu.limit: 'lots' is not of type"),
        (lambda v: v["cull"].update(timeout="1h"), "cull.timeout: '1h' is not of type"),
    ],
    ids=["misspelt-section", "misspelt-key", "wrong-type", "culler-type"],
)
def test_the_schema_refuses_a_misspelt_or_mistyped_key(change, expected):
    schema = json.loads(chart_file("values.schema.json").read_text())
    problems = schema_problems(merged("persistent", change), schema)
    assert any(expected in problem for problem in problems), problems


def test_the_values_use_the_charts_own_hub_image_and_its_jupyterhub_in_the_single_user_image():
    for kind in VALUES:
        values = yaml.safe_load(VALUES[kind].read_text())
        assert values["hub"]["image"] == CHART_HUB_IMAGE == {"name": "quay.io/jupyterhub/k8s-hub", "tag": "4.4.0"}
        assert values["singleuser"]["image"]["tag"].endswith(f"-jupyterhub{CHART_JUPYTERHUB}")


# The hub the chart would start.


@pytest.mark.slow
@pytest.mark.parametrize("kind", sorted(VALUES))
def test_the_charts_hub_constructs_kubespawner_and_the_authenticator_from_the_values(kind, chart_hub_python):
    assert probe_chart_hubs([merged(kind)], chart_hub_python) == [[]]
    # oersite hub check does the same, schema first.
    assert check_helm_values([VALUES[kind]], chart_hub_python) == [[]]


@pytest.mark.slow
def test_each_values_file_of_one_check_is_probed_with_its_own_modules(chart_hub_python):
    """oersite hub check probes both files in one process: the first one's oersite must not serve the second."""
    without_authenticator = merged("persistent", lambda v: v["hub"]["extraFiles"].pop("oersite-hub-authenticator.py"))
    first, second = probe_chart_hubs([merged("persistent"), without_authenticator], chart_hub_python)
    assert first == []
    assert any("could not be imported" in problem for problem in second), second


@pytest.mark.slow
@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (
            lambda v: v["hub"]["config"]["ProxyHeaderAuthenticator"].update(user_headr="X-User"),
            "ProxyHeaderAuthenticator.user_headr: no such setting; did you mean user_header?",
        ),
        (
            lambda v: v["hub"]["config"]["Authenticator"].update(allow_all="yes"),
            "ProxyHeaderAuthenticator refuses the config: TraitError",
        ),
        (
            lambda v: v["singleuser"]["memory"].update(limit=["2G"]),
            "KubeSpawner refuses the config",
        ),
        (
            lambda v: v["hub"]["extraFiles"].pop("oersite-hub-authenticator.py"),
            "'oersite.hub.authenticator.ProxyHeaderAuthenticator' could not be imported",
        ),
    ],
    ids=["unknown-trait", "authenticator-refuses", "spawner-refuses", "authenticator-not-in-extra-files"],
)
def test_what_the_charts_hub_would_refuse_is_named(change, expected, chart_hub_python):
    (problems,) = probe_chart_hubs([merged("persistent", change)], chart_hub_python)
    assert any(expected in problem for problem in problems), problems


@pytest.mark.slow
def test_a_python_without_kubespawner_is_named_with_what_to_install(tmp_path):
    bare = tmp_path / "bare"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(bare)], check=True)
    (problems,) = probe_chart_hubs([merged("ephemeral")], str(bare / "bin" / "python"))
    assert problems == [
        "cannot check what the chart's hub would load: jupyterhub-kubespawner is not installed for "
        f"{bare / 'bin' / 'python'}; install the hub extra (pip install -e '.[hub]')"
    ]


# The warm pool on the chart (oersite.hub.ephemeral.pool).


@pytest.mark.slow
def test_a_pool_service_the_charts_hub_cannot_import_is_named(chart_hub_python):
    def misspell(values):
        values["hub"]["services"]["oersite-pool"]["command"][2] = "oersite.hub.pools"

    (problems,) = probe_chart_hubs([merged("ephemeral", misspell)], chart_hub_python)
    assert problems == [
        "hub.services.oersite-pool.command: oersite.hub.pools is not in hub.extraFiles: "
        "the chart's hub image does not have it"
    ]


def test_the_charts_network_policies_open_the_pools_two_paths_and_no_more():
    """The service pulls through the proxy's public port; the proxy forwards the status to the service."""
    values = yaml.safe_load(VALUES["ephemeral"].read_text())
    service = values["hub"]["services"]["oersite-pool"]
    status_port = int(service["url"].rsplit(":", 1)[1])
    assert values["hub"]["service"]["extraPorts"] == [{"name": "pool-status", "port": status_port}]
    assert values["hub"]["networkPolicy"] == {
        "ingress": [
            {
                "from": [{"podSelector": {"matchLabels": {"component": "proxy"}}}],
                "ports": [{"port": status_port, "protocol": "TCP"}],
            }
        ],
        "egress": [
            {
                "to": [{"podSelector": {"matchLabels": {"component": "proxy"}}}],
                "ports": [{"port": 8000, "protocol": "TCP"}],
            }
        ],
    }
    assert values["proxy"]["chp"]["networkPolicy"]["egress"] == [
        {
            "to": [{"podSelector": {"matchLabels": {"component": "hub"}}}],
            "ports": [{"port": status_port, "protocol": "TCP"}],
        }
    ]
    assert "networkPolicy" not in yaml.safe_load(VALUES["persistent"].read_text())["hub"]


@pytest.mark.slow
def test_the_pool_service_starts_from_the_values_in_the_charts_hub_python(chart_hub_python, tmp_path):
    """Its command, environment and modules as the chart's hub pod would have them; the status answers."""
    import socket
    import time
    import urllib.request

    values = yaml.safe_load(VALUES["ephemeral"].read_text())
    pod = tmp_path / "pod"
    for extra in values["hub"]["extraFiles"].values():
        path = pod / extra["mountPath"].lstrip("/")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(extra["stringData"], encoding="utf-8")
    service = values["hub"]["services"]["oersite-pool"]
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        status_port, closed_port = probe.getsockname()[1], None
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    environment = {
        **service["environment"],
        "PYTHONPATH": str(pod / service["environment"]["PYTHONPATH"].lstrip("/")),
        "OERSITE_POOL_LISTEN": "127.0.0.1",  # tests bind loopback only; the pod listens on all its addresses
        "JUPYTERHUB_API_URL": f"http://127.0.0.1:{closed_port}/hub/api",  # a hub that is not up yet
        "JUPYTERHUB_API_TOKEN": "token",
        "JUPYTERHUB_SERVICE_URL": f"http://127.0.0.1:{status_port}",
        "JUPYTERHUB_SERVICE_PREFIX": "/services/oersite-pool/",
        "PATH": "/usr/bin:/bin",
    }
    assert service["command"][0] == "python3"
    process = subprocess.Popen(
        [chart_hub_python, *service["command"][1:]],
        env=environment,
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                url = f"http://127.0.0.1:{status_port}/services/oersite-pool/status"
                with urllib.request.urlopen(url, timeout=5) as response:
                    status = json.loads(response.read())
                break
            except OSError:
                assert process.poll() is None, process.stdout.read()
                assert time.monotonic() < deadline, "the pool's status did not answer"
                time.sleep(0.3)
        assert status == {"size": 3, "ready": 0, "starting": 0, "handed_out": 0, "found_empty": 0}
    finally:
        process.terminate()
        output = process.communicate(timeout=10)[0]
    assert "Warm pool: cannot reach the hub" in output, output
    assert "Traceback" not in output, output
