"""The single-user image for Zero to JupyterHub works with the JupyterHub of the chart's hub (5.5.0).

No cluster runs here, but the pairing that matters can: the image built with the
command ``oersite hub config`` prints for the chart (``--build-arg
JUPYTERHUB_VERSION=5.5.0``), started by a real JupyterHub 5.5.0 (from a Python
environment of its own, with DockerSpawner instead of KubeSpawner) on the tests'
Docker engine; a user signs in, the server starts, and a kernel runs code.
"""

from __future__ import annotations

import contextlib
import os
import shlex
import shutil
import signal
import subprocess
import time

import pytest
from support.cli import oersite
from support.docker_deployment import SYSTEM_CA_BUNDLE
from support.dockerhelpers import BASE_IMAGE, ensure_base_image
from support.hub_clients import browser_session, follow, free_port, run_code, xsrf
from support.hubenvs import hub_environment

from oersite.hub.bundle.chart import CHART_JUPYTERHUB
from oersite.hub.bundle.images import HUB_RUNTIME_FOLDER
from oersite.hub.serve.supervisor import http_status

pytestmark = pytest.mark.slow

HUB_PACKAGES = (f"jupyterhub=={CHART_JUPYTERHUB}", "dockerspawner==14.0.0")
HUB_CONFIG = """
c.JupyterHub.authenticator_class = "dummy"
c.DummyAuthenticator.password = "chart-password"
c.Authenticator.allow_all = True
c.JupyterHub.bind_url = "http://127.0.0.1:{public}"
c.JupyterHub.hub_bind_url = "http://127.0.0.1:{hub}"
c.ConfigurableHTTPProxy.api_url = "http://127.0.0.1:{api}"
c.ConfigurableHTTPProxy.command = [{proxy!r}]
c.JupyterHub.spawner_class = "oersite.hub.spawner.LoopbackDockerSpawner"
c.DockerSpawner.image = {image!r}
c.DockerSpawner.prefix = "oersite-chart-check"
c.DockerSpawner.remove = True
c.DockerSpawner.pull_policy = "never"
"""


def test_the_image_for_the_charts_hub_serves_jupyterhub_5_5(docker_engine, sample_course, tmp_path):
    ensure_base_image(docker_engine)
    course = tmp_path / "course"
    shutil.copytree(sample_course, course, ignore=shutil.ignore_patterns("_build"))
    result = oersite("hub", "config", str(course))
    assert result.exit_code == 0, result.output
    printed = next(
        line.strip() for line in result.output.splitlines() if f"JUPYTERHUB_VERSION={CHART_JUPYTERHUB}" in line
    )
    build = shlex.split(printed.split("#")[0])  # the command, as hub config prints it
    image = build[build.index("-t") + 1]
    shutil.copy(SYSTEM_CA_BUNDLE, course / "hub" / "ca-certificates" / "registry.crt")
    built = subprocess.run(
        [*build[:-1], "--build-arg", f"BASE_IMAGE={BASE_IMAGE}", build[-1]],  # nothing can be pulled here
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env={**docker_engine.environment, "PWD": str(tmp_path)},
        timeout=1800,
    )
    assert built.returncode == 0, built.stdout[-3000:] + built.stderr[-3000:]

    python = hub_environment(HUB_PACKAGES)
    public, hub, api = free_port(), free_port(), free_port()
    state = tmp_path / "hub-5.5"
    state.mkdir()
    (state / "jupyterhub_config.py").write_text(
        HUB_CONFIG.format(public=public, hub=hub, api=api, proxy=shutil.which("configurable-http-proxy"), image=image),
        encoding="utf-8",
    )
    environment = {
        **docker_engine.environment,
        "PYTHONPATH": str(course / "hub" / HUB_RUNTIME_FOLDER),  # the hub image's copy of oersite.hub
    }
    log = open(state / "jupyterhub.log", "wb")  # noqa: SIM115 (closed below)
    process = subprocess.Popen(
        [python, "-m", "jupyterhub", "-f", "jupyterhub_config.py"],
        cwd=state,
        env=environment,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        url = f"http://127.0.0.1:{public}"
        deadline = time.monotonic() + 90
        while http_status(f"{url}/hub/health") != 200:
            assert process.poll() is None and time.monotonic() < deadline, (state / "jupyterhub.log").read_text()
            time.sleep(0.5)
        session = browser_session()
        session.get(f"{url}/hub/login", timeout=30)
        signed_in = session.post(
            f"{url}/hub/login?next=/hub/user-redirect/lab",
            data={"username": "ada", "password": "chart-password"},
            headers=xsrf(session, "/hub/"),
            timeout=30,
        )
        assert signed_in.status_code == 200, signed_in.text[:500]
        follow(session, f"{url}/hub/user-redirect/lab", lambda r: r.status_code == 200 and "/user/ada/lab" in r.url)
        output = run_code(
            session, url, "/user/ada/", "import jupyterhub, os; print(jupyterhub.__version__, os.getuid())"
        )
        assert output.split() == [CHART_JUPYTERHUB, "1000"]
        log_text = (state / "jupyterhub.log").read_text(errors="replace")
        assert f"Running JupyterHub version {CHART_JUPYTERHUB}" in log_text
        assert "!= jupyterhub-singleuser" not in log_text  # JupyterHub's own warning of a version mismatch
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
        log.close()
        leftovers = [name for name in docker_engine.names() if name.startswith("oersite-chart-check")]
        if leftovers:
            docker_engine.docker("rm", "--force", *leftovers)
