"""The hubs' settings, the config setters (on a plain traitlets Config, TLJH style) and the generated bundle."""

from __future__ import annotations

import ast
import importlib.metadata
import json
import os
import socket
import stat
import subprocess
import sys
import time
import tomllib
from pathlib import Path

import pytest
import yaml
from support.cli import assert_one_line_error, oersite
from support.coursehelpers import make_course, write_myst_notebook
from traitlets.config import Config

from oersite.config import load_course
from oersite.errors import ConfigError
from oersite.hub import configurer, layout
from oersite.hub.bundle import bundle_files, write_bundle
from oersite.hub.bundle.helm import ephemeral_values, persistent_values
from oersite.hub.bundle.images import HUB_RUNTIME_FOLDER, NOTEBOOK_RUNTIME_FOLDER, CourseImages
from oersite.hub.bundle.requirements import image_requirements, notebook_distributions
from oersite.hub.course_settings import hub_settings
from oersite.hub.settings import SETTINGS_FILE, read_settings
from oersite.launch import launch_url

REPOSITORY = Path(__file__).resolve().parent.parent
LAUNCH = {"launch": {"hub_url": "https://hub.example.edu", "try_url": "https://try.example.edu"}}


def course_with(tmp_path: Path, oersite: dict, repository: str = "https://github.com/example/course") -> Path:
    return make_course(
        tmp_path / "course",
        {"lessons/plot.ipynb": ["import bokeh.plotting\nimport pandas as pd\nimport json"]},
        config={"repository": {"url": repository, "branch": "spring"}, "oersite": oersite},
    )


# Settings: derived from the course, nothing typed twice.


def test_hub_settings_use_the_launch_buttons_values(tmp_path):
    course = load_course(course_with(tmp_path, {**LAUNCH, "data": {"hub_path": "/mnt/data"}}))
    target = course.launch
    settings = hub_settings(course)
    assert (settings.repository, settings.branch) == (target.repository, "spring")
    assert settings.clone_folder == target.clone_folder
    # Open in hub opens JupyterLab, Try now the notebook on a page of its own (the defaults).
    assert (settings.interface_of("persistent"), settings.interface_of("ephemeral")) == ("lab", "classic")
    assert settings.persistent_url == target.hub_url
    assert settings.ephemeral_url == target.try_url
    assert settings.data_path == "/mnt/data"
    # Without a deep link a server opens the course, pulled by nbgitpuller like the buttons do, in its hub's interface.
    for hub_kind, opened in (("persistent", "lab%2Ftree%2Fcourse"), ("ephemeral", "notebooks%2Fcourse")):
        default_url = settings.default_url_of(hub_kind)
        assert default_url.startswith("/git-pull?repo=https%3A%2F%2Fgithub.com%2Fexample%2Fcourse&branch=spring")
        assert default_url.endswith(f"&targetpath=course&urlpath={opened}")
    # The warm pool pulls with the query of the course's own Try-now link (one for the course's folder).
    course_link = launch_url(target, target.try_url, target.path_in_repository or ".", interface=target.try_interface)
    assert course_link == f"{target.try_url}/hub/user-redirect/git-pull?{settings.pull_query}"
    assert settings.default_url_of("ephemeral") == f"/git-pull?{settings.pull_query}"


def test_a_local_repository_stays_out_of_the_bundle_but_serves_locally(tmp_path):
    course = load_course(course_with(tmp_path, LAUNCH, repository="."))
    assert hub_settings(course).repository is None
    assert hub_settings(course).default_url_of("persistent") == "/lab"
    assert hub_settings(course).default_url_of("ephemeral") == "/tree"
    assert hub_settings(course).pull_query == ""  # nothing for the warm pool to pull ahead
    assert hub_settings(course, local=True).repository == course.root.as_uri()


def test_settings_survive_the_json_file_the_hub_configs_read(tmp_path):
    course = load_course(course_with(tmp_path, {**LAUNCH, "hub": {"persistent": {"admin_users": ["ada"]}}}))
    settings = hub_settings(course)
    path = tmp_path / SETTINGS_FILE
    path.write_text(settings.to_json())
    assert read_settings(path) == settings


def test_hub_section_typos_and_bad_values_are_config_errors(tmp_path):
    oersite = {
        **LAUNCH,
        "hub": {"imgae": "x", "persistent": {"memory_limit": "lots", "secret_header": "X-Remote-User"}},
    }
    with pytest.raises(ConfigError) as raised:
        load_course(course_with(tmp_path, oersite))
    message = str(raised.value.message)
    assert "oersite.hub.imgae: unknown key; did you mean 'image'?" in message
    assert "oersite.hub.persistent.memory_limit: expected a size such as 512M or 2G, found 'lots'" in message
    assert "oersite.hub.persistent.secret_header: must differ from user_header" in message


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"launch": {**LAUNCH["launch"], "hub_url": "https://hub.example.edu\nRequire all granted"}}, "hub_url: no"),
        ({"launch": {**LAUNCH["launch"], "hub_url": 'http://hub"evil.example.org'}}, "hub_url: expected an http"),
        ({"launch": {**LAUNCH["launch"], "try_url": "https://try_me.example.edu"}}, "is not a host name"),
        ({"launch": {**LAUNCH["launch"], "try_url": "https://user:pw@try.example.edu"}}, "try_url: expected an http"),
        ({**LAUNCH, "data": {"hub_path": "/srv/data:/etc"}}, "hub_path: expected an absolute folder without : or .."),
        ({**LAUNCH, "data": {"hub_path": "/srv/../etc"}}, "hub_path: expected an absolute folder without : or .."),
        ({**LAUNCH, "data": {"hub_path": "srv/data"}}, "hub_path: expected an absolute folder"),
        ({**LAUNCH, "data": {"hub_path": "/usr/lib"}}, "hub_path: expected a folder of its own"),
        ({**LAUNCH, "data": {"hub_path": "/"}}, "hub_path: expected a folder of its own"),
        ({"launch": {**LAUNCH["launch"], "repository": "--upload-pack=touch /tmp/x"}}, "repository: expected"),
        ({"launch": {**LAUNCH["launch"], "branch": "main\tx"}}, "branch: no control characters"),
        ({"launch": {**LAUNCH["launch"], "branch": "-main"}}, "branch: expected a git branch name"),
    ],
)
def test_hub_addresses_and_the_data_mount_are_refused_when_they_cannot_be_written_safely(tmp_path, settings, message):
    root = course_with(tmp_path, settings)
    for command in (["hub", "config", str(root)], ["build", str(root)]):
        result = oersite(*command)
        assert result.output.strip().count("\n") == 0, result.output  # one problem, one line
        assert_one_line_error(result, message)
    assert not (root / "hub").exists() and not (root / "_build").exists()


def test_hub_config_without_launch_buttons_says_what_to_add(tmp_path):
    root = make_course(tmp_path / "plain")
    result = oersite("hub", "config", str(root))
    assert result.exit_code == 1
    assert "oersite.launch is off" in result.output
    assert "Traceback" not in result.output


# The setters, each on a plain traitlets Config.


@pytest.fixture
def settings(tmp_path):
    oersite = {
        **LAUNCH,
        "hub": {
            "persistent": {"allowed_users": ["ada", "bob"], "blocked_users": ["eve"], "admin_users": ["ada"]},
            "ephemeral": {"concurrent_spawn_limit": 3, "active_server_limit": 7, "cull_idle_seconds": 120},
        },
    }
    return hub_settings(load_course(course_with(tmp_path, oersite)))


def test_header_auth_honours_allow_block_and_admin_lists(settings):
    c = Config()
    configurer.update_proxy_header_auth(c, settings.persistent)
    assert c.JupyterHub.authenticator_class == "oersite.hub.authenticator.ProxyHeaderAuthenticator"
    assert c.ProxyHeaderAuthenticator.user_header == "X-Remote-User"
    assert c.ProxyHeaderAuthenticator.secret_header == "X-Oersite-Proxy-Secret"
    assert c.Authenticator.allowed_users == {"ada", "bob"}
    assert c.Authenticator.blocked_users == {"eve"}
    assert c.Authenticator.admin_users == {"ada"}
    assert c.Authenticator.allow_all is False


def test_temporary_auth_allows_all_as_jupyterhub_5_requires():
    c = Config()
    configurer.update_temporary_auth(c)
    assert c.JupyterHub.authenticator_class == "tmp"
    assert c.Authenticator.allow_all is True


def test_ephemeral_culler_deletes_users_and_persistent_culler_does_not():
    ephemeral, persistent = Config(), Config()
    configurer.update_culler(ephemeral, timeout=120, cull_users=True, max_age=3600)
    configurer.update_culler(persistent, timeout=3600, cull_users=False)
    (service,) = ephemeral.JupyterHub.services
    assert service["command"][1:] == [
        "-m",
        "jupyterhub_idle_culler",
        "--timeout=120",
        "--max-age=3600",
        "--cull-users=True",
    ]
    assert "admin:users" in ephemeral.JupyterHub.load_roles[0]["scopes"]
    (service,) = persistent.JupyterHub.services
    assert not any(arg.startswith("--cull-users") for arg in service["command"])
    assert "admin:users" not in persistent.JupyterHub.load_roles[0]["scopes"]


def test_spawn_limits_and_the_friendly_full_page(settings):
    c = Config()
    configurer.update_spawn_limits(c, settings.ephemeral)
    configurer.update_friendly_full_page(c)
    assert (c.JupyterHub.concurrent_spawn_limit, c.JupyterHub.active_server_limit) == (3, 7)
    (templates,) = c.JupyterHub.template_paths
    assert "is full right now" in (Path(templates) / "429.html").read_text()


def test_docker_spawner_gives_students_a_volume_and_visitors_none(settings, monkeypatch):
    monkeypatch.setenv(configurer.DATA_HOST_VARIABLE, "/srv/course/data")
    persistent, ephemeral = Config(), Config()
    configurer.update_docker_spawner(persistent, settings, layout.PERSISTENT, persistent_homes=True)
    configurer.update_docker_spawner(ephemeral, settings, layout.EPHEMERAL, persistent_homes=False)
    data_mount = {"/srv/course/data": {"bind": settings.data_path, "mode": "ro"}}
    assert persistent.DockerSpawner.volumes == {"oersite-home-{username}": "/home/jovyan", **data_mount}
    assert ephemeral.DockerSpawner.volumes == data_mount
    assert persistent.DockerSpawner.remove is True  # containers go, named volumes stay
    assert persistent.DockerSpawner.image == settings.image
    assert persistent.DockerSpawner.pull_policy == "never"  # the bundle builds its images; nothing is pulled
    # Host networking: each hub's servers on their own range of loopback ports, containers named per hub.
    assert persistent.JupyterHub.spawner_class == "oersite.hub.spawner.LoopbackDockerSpawner"
    assert persistent.LoopbackDockerSpawner.port_range == layout.PERSISTENT.servers
    assert ephemeral.LoopbackDockerSpawner.port_range == layout.EPHEMERAL.servers
    assert (persistent.DockerSpawner.prefix, ephemeral.DockerSpawner.prefix) == ("oersite-student", "oersite-visitor")


def test_docker_hubs_keep_servers_running_across_their_own_restarts(settings):
    for configure in (configurer.configure_persistent_docker, configurer.configure_ephemeral_docker):
        c = Config()
        configure(c, settings)
        assert c.JupyterHub.cleanup_servers is False
        assert c.ConfigurableHTTPProxy.should_start is False  # the proxy is a service of its own
    ephemeral = Config()
    configurer.configure_ephemeral_docker(ephemeral, settings)
    assert ephemeral.JupyterHub.shutdown_on_logout is True
    assert ephemeral.JupyterHub.hub_bind_url == "http://127.0.0.1:792"
    assert ephemeral.ConfigurableHTTPProxy.api_url == "http://127.0.0.1:791"


def test_each_hub_is_the_same_hub_on_docker_locally_and_on_the_chart(settings):
    """Who gets in, the limits, the culling and what is kept: what a student meets, wherever the hub runs."""
    images = CourseImages(None, "notebook:1", "hub:1", "apache:1", "notebook:1-chart", "course-data:data-1")
    for kind, configure in (
        ("persistent", configurer.configure_persistent_docker),
        ("ephemeral", configurer.configure_ephemeral_docker),
    ):
        docker, local = Config(), Config()
        configure(docker, settings)
        configurer.configure_local(
            local, settings, kind=kind, state=Path("/s"), homes=Path("/h"), account="", data_dir=Path("/d"),
            public_port=1, hub_port=2, proxy_api_port=3, proxy_command="chp", pool_port=4,
        )  # fmt: skip
        values = yaml.safe_load((persistent_values if kind == "persistent" else ephemeral_values)(settings, images))
        for c in (docker, local):
            assert c.JupyterHub.authenticator_class == values["hub"]["config"]["JupyterHub"]["authenticator_class"]
            assert (c.Spawner.mem_limit, c.Spawner.cpu_limit) == (
                values["singleuser"]["memory"]["limit"],
                values["singleuser"]["cpu"]["limit"],
            )
            culler = next(service for service in c.JupyterHub.services if service["name"] == "idle-culler")
            cull = values["cull"]
            assert f"--timeout={cull['timeout']}" in culler["command"]
            assert ("--cull-users=True" in culler["command"]) is cull["users"]
            assert (f"--max-age={cull['maxAge']}" in culler["command"]) if "maxAge" in cull else True
        hub = settings.persistent if kind == "persistent" else settings.ephemeral
        assert (values["singleuser"]["memory"]["limit"], values["cull"]["timeout"]) == (
            hub.memory_limit,
            hub.cull_idle_seconds,
        )
        # Students' files are kept on the persistent hub only: a volume per student, or nothing.
        assert (configurer.HOME_VOLUME in docker.DockerSpawner.volumes) is (kind == "persistent")
        assert values["singleuser"]["storage"]["type"] == ("dynamic" if kind == "persistent" else "none")
        assert ("post_stop_hook" in local.Spawner) is (kind == "ephemeral")


def test_the_loopback_spawner_gives_each_server_its_own_free_port(monkeypatch):
    from oersite.hub.spawner import LoopbackDockerSpawner

    c = Config()
    c.LoopbackDockerSpawner.port_range = (29990, 29999)
    first, second = LoopbackDockerSpawner(config=c), LoopbackDockerSpawner(config=c)
    assert (first.network_name, first.use_internal_ip, first.ip) == ("host", True, "127.0.0.1")
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 29995))
        ports = {first._take_free_port(), second._take_free_port()}
        assert len(ports) == 2 and all(29990 <= port <= 29999 for port in ports) and 29995 not in ports
    for spawner, port in zip((first, second), sorted(ports), strict=True):
        spawner.port = port
        spawner._give_back_port()
    assert not LoopbackDockerSpawner._taken & ports


def test_servers_find_the_course_data_and_use_their_own_bokehjs(settings):
    c = Config()
    configurer.update_interface(c, settings, "persistent")
    # BokehJS embedded from the server's bokeh, not fetched from cdn.bokeh.org
    assert c.Spawner.environment == {"COURSE_DATA": settings.data_path, "BOKEH_RESOURCES": "inline"}
    assert c.Spawner.default_url == settings.default_url_of("persistent")
    configurer.update_interface(c, settings, "ephemeral")
    assert c.Spawner.default_url == settings.default_url_of("ephemeral") != settings.default_url_of("persistent")


def test_local_ephemeral_spawner_removes_only_homes_inside_its_folder(tmp_path):
    homes = tmp_path / "homes"
    (homes / "visitor").mkdir(parents=True)
    (homes / "visitor" / "work.ipynb").write_text("{}")
    outside = tmp_path / "precious"
    outside.mkdir()
    c = Config()
    configurer.update_local_spawner(c, homes=homes, account="oersite-hub", delete_homes_on_stop=True)
    remove = c.Spawner.post_stop_hook
    remove(type("Spawner", (), {"home_dir": str(homes / "visitor")}))
    remove(type("Spawner", (), {"home_dir": str(outside)}))
    assert not (homes / "visitor").exists()
    assert outside.is_dir()
    assert c.Spawner.cmd == [sys.executable, "-m", "oersite.hub.singleuser"]
    # Never root: every server is switched to the unprivileged account.
    assert c.JupyterHub.spawner_class == "oersite.hub.local_spawner.AccountProcessSpawner"
    assert c.AccountProcessSpawner.account == "oersite-hub"
    assert "--allow-root" not in c.Spawner.get("args", [])
    assert c.Spawner.http_timeout >= 120  # a class starting at once queues for CPU


@pytest.mark.slow
def test_the_local_server_entry_point_is_jupyterhub_singleuser_without_the_slow_import():
    import subprocess

    probe = (
        "import sys\n"
        "sys.argv = ['jupyterhub-singleuser', '--help']\n"
        "import oersite.hub.singleuser as entry\n"
        "try:\n    entry.main()\nexcept SystemExit:\n    pass\n"
        "print('jsonschema' in sys.modules, sys.modules.get('rfc3987_syntax', 'absent'))\n"
    )
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    # (that it really starts servers is what every test in test_hub_serve.py relies on)
    assert result.stdout.strip().splitlines()[-1] == "True None"  # jsonschema loaded, its slow extra declined


# The generated bundle.


def test_the_committed_hub_folder_is_what_oersite_hub_config_generates_now():
    generated = {
        name: text
        for name, text in bundle_files(load_course(REPOSITORY)).items()
        # the copies of oersite.hub and of the notebook server's module: git-ignored
        if not name.startswith((f"{HUB_RUNTIME_FOLDER}/", f"{NOTEBOOK_RUNTIME_FOLDER}/"))
    }
    tracked = subprocess.run(
        ["git", "-C", str(REPOSITORY), "ls-files", "hub"], capture_output=True, text=True, check=True
    ).stdout.split()
    committed = {
        name.removeprefix("hub/"): (REPOSITORY / name).read_text(encoding="utf-8")
        for name in tracked
        if name != "hub/README.md"  # written by hand
    }
    stale = sorted(name for name in generated if committed.get(name) != generated[name])
    assert not stale, f"hub/ differs from _config.yml for {stale}: run oersite hub config"
    assert sorted(committed) == sorted(generated), "hub/ holds files oersite hub config does not write"


def test_the_hub_image_carries_the_hub_modules_as_they_are_here(tmp_path):
    """The copy the hub image runs is whole: each module imports from it alone, none from this checkout."""
    course = load_course(course_with(tmp_path, LAUNCH))
    files = bundle_files(course)
    copied = write_bundle(course, tmp_path / "bundle").folder / HUB_RUNTIME_FOLDER
    modules = ("authenticator", "configurer", "spawner", "settings", "layout", "pool")
    script = (
        "import importlib, json, sys\n"
        f"print(json.dumps([importlib.import_module('oersite.hub.' + name).__file__ for name in {modules!r}]))"
    )
    imported = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(copied), "PYTHONSAFEPATH": "1"},
        check=False,
    )
    assert imported.returncode == 0, imported.stderr
    assert [Path(name) for name in json.loads(imported.stdout)] == [
        copied / "oersite" / "hub" / f"{module}.py" for module in modules
    ]
    for module in modules:
        assert (copied / "oersite" / "hub" / f"{module}.py").read_text() == (
            REPOSITORY / "oersite" / "hub" / f"{module}.py"
        ).read_text(), f"the image's {module}.py is not this checkout's"
    assert f"{HUB_RUNTIME_FOLDER}/" in files[".gitignore"]
    assert f"COPY {HUB_RUNTIME_FOLDER}/ /opt/oersite-hub/" in files["hub.Dockerfile"]


def test_the_hub_runtime_runs_on_a_bare_python(tmp_path):
    """Schema, settings, layout, setters and pool import only the standard library: by structure, not convention.

    The bundle's copy of them (and hub-settings.json) on a Python started without
    site-packages or this checkout (-I -S): anything else they imported would fail here.
    """
    files = bundle_files(load_course(course_with(tmp_path, LAUNCH)))
    copied = tmp_path / HUB_RUNTIME_FOLDER
    for name, text in files.items():
        if name.startswith(f"{HUB_RUNTIME_FOLDER}/") or name == SETTINGS_FILE:
            (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
            (tmp_path / name).write_text(text)
    script = (
        f"import sys; sys.path.insert(0, {str(copied)!r})\n"
        "from oersite.hub import configurer, layout, pool, settings\n"
        f"read = settings.read_settings({str(tmp_path / SETTINGS_FILE)!r})\n"
        "print(read.pull_query, sorted(name for name in sys.modules if name.startswith('oersite')))"
    )
    ran = subprocess.run([sys.executable, "-I", "-S", "-c", script], capture_output=True, text=True, cwd=tmp_path)
    assert ran.returncode == 0, ran.stderr
    query, modules = ran.stdout.split(" ", 1)
    assert query.startswith("repo=https%3A%2F%2Fgithub.com%2Fexample%2Fcourse&branch=spring")
    hub_modules = ("configurer", "layout", "pool", "settings")
    allowed = {"oersite", "oersite.hub", "oersite.schema", *(f"oersite.hub.{name}" for name in hub_modules)}
    assert modules.strip() == str(sorted(allowed))
    # Nor in a function, or for type checkers only: every import anywhere in them.
    for path in (
        copied / "oersite" / "schema.py",
        *(copied / "oersite" / "hub" / f"{name}.py" for name in hub_modules),
    ):
        name = path.name
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            imported = [alias.name for alias in node.names] if isinstance(node, ast.Import) else []
            if isinstance(node, ast.ImportFrom):
                imported = [node.module or ""]
            for module in imported:
                assert module in allowed or module.split(".")[0] in sys.stdlib_module_names, f"{name}: {module}"


def test_the_notebook_image_serves_the_sites_libraries_and_its_kernels_point_folium_at_them(tmp_path):
    from oersite.hub import notebook_server

    course = course_with(tmp_path, LAUNCH)
    files = bundle_files(load_course(course))
    dockerfile = files["notebook.Dockerfile"]
    assert f"COPY {NOTEBOOK_RUNTIME_FOLDER}/ /opt/oersite-notebook/" in dockerfile
    assert "COPY notebook-jupyter/ /opt/oersite/" in dockerfile
    assert dockerfile.index("COPY notebook-jupyter/") > dockerfile.index("pip install -r /opt/oersite/requirements")
    assert f"{NOTEBOOK_RUNTIME_FOLDER}/" in files[".gitignore"]
    assert (
        files[f"{NOTEBOOK_RUNTIME_FOLDER}/oersite/hub/notebook_server.py"]
        == (REPOSITORY / "oersite" / "hub" / "notebook_server.py").read_text()
    )
    kernel = json.loads(files["notebook-jupyter/share/jupyter/kernels/python3/kernel.json"])
    assert kernel["argv"][:3] == ["python", "-m", "ipykernel_launcher"]
    assert "--ext=oersite.hub.notebook_server" in kernel["argv"]
    server = json.loads(files["notebook-jupyter/etc/jupyter/jupyter_server_config.d/oersite-libraries.json"])
    assert server == {"ServerApp": {"jpserver_extensions": {"oersite.hub.notebook_server": True}}}
    viewers = json.loads(files["notebook-jupyter/share/jupyter/lab/settings/overrides.json"])
    assert viewers["@jupyterlab/docmanager-extension:plugin"]["defaultViewers"]["myst"] == "Jupytext Notebook"
    assert f"jupytext=={importlib.metadata.version('jupytext')}" in files["notebook-requirements.txt"]
    # The libraries themselves (built by npm, never committed) are copied beside the module.
    report = write_bundle(load_course(course), tmp_path / "bundle")
    vendor = report.folder / NOTEBOOK_RUNTIME_FOLDER / "oersite" / "static" / "vendor"
    for path in notebook_server.CDN_FILES.values():
        assert (vendor / path).is_file(), path
    assert not (vendor / "axe-core").exists()  # oersite check's, not a page's


def test_a_myst_markdown_notebooks_imports_are_pinned_in_the_image(tmp_path):
    course = course_with(tmp_path, LAUNCH)
    write_myst_notebook(course / "lesson.md", "import folium\nimport shapely")
    assert {"folium", "shapely"} <= set(notebook_distributions(load_course(course)))


def test_the_image_pins_the_versions_that_built_the_site():
    files = bundle_files(load_course(REPOSITORY))
    requirements = files["notebook-requirements.txt"].splitlines()
    project = tomllib.loads((REPOSITORY / "pyproject.toml").read_text())["project"]
    for pin in (d for d in project["dependencies"] if "==" in d):
        assert pin in requirements  # bokeh==3.9.2: the BokehJS the site ships
    for library in ("folium", "pandas", "numpy", "scipy", "shapely", "jupyterlab", "nbgitpuller"):
        assert any(line.startswith(f"{library}==") for line in requirements), library
    # JupyterHub in the image is the hub's own version, by default the one installed here (the Docker hubs').
    assert f"ARG JUPYTERHUB_VERSION={importlib.metadata.version('jupyterhub')}\n" in files["notebook.Dockerfile"]
    assert f"jupyterhub=={importlib.metadata.version('jupyterhub')}" in files["hub.Dockerfile"]


def test_every_image_builds_on_the_base_image_argument_and_trusts_the_operators_authorities(tmp_path):
    files = bundle_files(load_course(course_with(tmp_path, {**LAUNCH, "hub": {"base_image": "debian:bookworm"}})))
    for dockerfile in ("notebook.Dockerfile", "hub.Dockerfile", "apache.Dockerfile"):
        text = files[dockerfile]
        assert "ARG BASE_IMAGE=debian:bookworm\nFROM ${BASE_IMAGE}\n" in text, dockerfile
        assert "COPY ca-certificates/ /usr/local/share/ca-certificates/oersite/\nRUN update-ca-certificates" in text
        assert "latest" not in text, dockerfile
    compose = yaml.safe_load(files["docker-compose.yml"])
    for name, service in compose["services"].items():
        if "build" in service:
            assert service["build"]["args"] == {"BASE_IMAGE": "${BASE_IMAGE:-debian:bookworm}"}, name
            assert service["build"]["network"] == "host", name
        assert not service["image"].endswith(":latest"), name


def test_generated_hub_configs_are_thin_and_files_hold_no_secret(tmp_path):
    files = bundle_files(load_course(course_with(tmp_path, LAUNCH)))
    config = files["persistent/jupyterhub_config.py"]
    assert "configure_persistent_docker(c, read_settings(settings_file))" in config
    assert len(config.splitlines()) < 15
    assert ".env" in files[".gitignore"]
    assert not any("OERSITE_PROXY_SECRET=" in text for text in files.values())


def test_apache_config_trusts_only_its_own_user_header(tmp_path):
    conf = bundle_files(load_course(course_with(tmp_path, LAUNCH)))["apache/httpd.conf"]
    assert "RequestHeader unset X-Remote-User early" in conf
    assert "RequestHeader unset X-Oersite-Proxy-Secret early" in conf
    assert 'RequestHeader set X-Remote-User "expr=%{REMOTE_USER}"' in conf
    assert "%{REMOTE_USER}s" not in conf  # sends "(null)" without mod_ssl
    assert 'RequestHeader set X-Oersite-Proxy-Secret "${OERSITE_PROXY_SECRET}"' in conf
    assert "ProxyPreserveHost On" in conf
    assert "upgrade=websocket nocanon" in conf
    # https URLs: TLS terminates at Apache, one name-based virtual host per hub on 443 (every address).
    assert conf.count("SSLEngine on") == 2
    assert conf.count("Listen 443") == 1
    assert "ServerName hub.example.edu" in conf and "ServerName try.example.edu" in conf
    # Behind it, each hub's proxy on the server's loopback (host networking).
    assert 'ProxyPass "/" "http://127.0.0.1:780/" upgrade=websocket nocanon' in conf
    assert 'ProxyPass "/" "http://127.0.0.1:790/" upgrade=websocket nocanon' in conf


def test_apache_binds_only_the_address_a_hub_url_names(tmp_path):
    launch = {"launch": {"hub_url": "https://127.0.0.1:8443", "try_url": "http://localhost:9000"}}
    conf = bundle_files(load_course(course_with(tmp_path, launch)))["apache/httpd.conf"]
    assert [line for line in conf.splitlines() if line.startswith("Listen")] == [
        "Listen 127.0.0.1:8443",
        "Listen 127.0.0.1:9000",
    ]


def test_compose_and_helm_values_come_from_the_same_settings(tmp_path):
    hub = {"registry": "registry.example.edu", "image": "course:7", "ephemeral": {"memory_limit": "256M"}}
    files = bundle_files(load_course(course_with(tmp_path, {**LAUNCH, "hub": hub})))
    compose = yaml.safe_load(files["docker-compose.yml"])
    assert set(compose["services"]) >= {"apache", "persistent-hub", "persistent-proxy", "ephemeral-hub"}
    assert compose["services"]["notebook-image"]["image"] == "registry.example.edu/course:7"
    assert "persistent-hub-data:/srv/jupyterhub/data" in compose["services"]["persistent-hub"]["volumes"]
    # Every container on the host's network, and no bridge network for the project either.
    assert {service.get("network_mode") for service in compose["services"].values() if "profiles" not in service} == {
        "host"
    }
    assert compose["networks"] == {"default": {"external": True, "name": "host"}}
    assert "--default-target=http://127.0.0.1:782" in compose["services"]["persistent-proxy"]["command"]
    ephemeral = yaml.safe_load(files["helm/ephemeral-values.yaml"])
    # On Kubernetes, the same image built for the chart's JupyterHub.
    assert ephemeral["singleuser"]["image"] == {"name": "registry.example.edu/course", "tag": "7-jupyterhub5.5.0"}
    assert ephemeral["singleuser"]["memory"]["limit"] == "256M"
    assert ephemeral["cull"]["users"] is True
    persistent = yaml.safe_load(files["helm/persistent-values.yaml"])
    assert persistent["cull"]["users"] is False
    assert persistent["singleuser"]["storage"]["type"] == "dynamic"
    settings = json.loads(files[SETTINGS_FILE])
    assert settings["ephemeral"]["memory_limit"] == "256M"


def test_a_public_port_the_bundle_uses_inside_is_refused(tmp_path):
    launch = {"launch": {"hub_url": "http://127.0.0.1:782", "try_url": "http://127.0.0.1:8001"}}
    result = oersite("hub", "config", str(course_with(tmp_path, launch)))
    assert result.exit_code == 1
    assert "oersite.launch.hub_url: port 782 is one the hub bundle uses on 127.0.0.1" in result.output


@pytest.mark.parametrize(
    ("image", "expected"),
    [
        ("course-notebook", "give the image a version tag"),
        ("course-notebook:latest", "give the image a version tag (such as course-notebook:2026.1), not latest"),
        ("Course:1", "expected an image name"),
    ],
)
def test_the_single_user_image_needs_a_version_tag(tmp_path, image, expected):
    with pytest.raises(ConfigError) as raised:
        load_course(course_with(tmp_path, {**LAUNCH, "hub": {"image": image}}))
    assert f"oersite.hub.image: {expected}" in str(raised.value.message)


def test_extra_packages_are_pip_requirements_installed_within_the_pins(tmp_path):
    with pytest.raises(ConfigError) as raised:
        load_course(course_with(tmp_path, {**LAUNCH, "hub": {"packages": ["tabulate==0.9.0", "not a == requirement"]}}))
    assert "oersite.hub.packages[1]: expected a pip requirement" in str(raised.value.message)
    files = bundle_files(load_course(course_with(tmp_path / "ok", {**LAUNCH, "hub": {"packages": ["tabulate==0.9"]}})))
    assert files["notebook-packages.txt"].splitlines()[-1] == "tabulate==0.9"
    assert "pip install -r /opt/oersite/packages.txt -c /opt/oersite/requirements.txt" in files["notebook.Dockerfile"]


def test_oersite_hub_config_writes_the_bundle_and_private_secrets(tmp_path):
    root = course_with(tmp_path, LAUNCH)
    result = oersite("hub", "config", str(root))
    assert result.exit_code == 0, result.output
    env = root / "hub" / ".env"
    assert stat.S_IMODE(env.stat().st_mode) == 0o600
    assert "OERSITE_PROXY_SECRET=" in env.read_text()
    before = env.read_text()
    assert oersite("hub", "config", str(root)).exit_code == 0
    assert env.read_text() == before, "secrets are generated once, not replaced on every run"
    assert (root / "hub" / "persistent" / "jupyterhub_config.py").is_file()
    # It says how to build the images, for Docker and for the chart's JupyterHub.
    assert "docker-compose -f" in result.output and "--profile build build" in result.output
    assert "--build-arg JUPYTERHUB_VERSION=5.5.0" in result.output
    assert "Note: no oersite.hub.registry, so the images have local names" in result.output
    assert "docker push" not in result.output


def test_basic_auths_users_file_is_readable_by_apaches_group_alone_and_hub_check_warns_otherwise(tmp_path):
    from oersite.hub.check import secret_warnings

    root = course_with(tmp_path, LAUNCH)
    assert oersite("hub", "config", str(root)).exit_code == 0
    users = root / "hub" / "apache" / "users.htpasswd"
    assert stat.S_IMODE(users.stat().st_mode) == 0o640
    assert users.stat().st_gid == layout.APACHE_GROUP_ID  # www-data in the Apache image (the tests run as root)
    # hub/README.md's command adds a student and keeps the file as it is.
    subprocess.run(["htpasswd", "-bB", str(users), "ada", "ada-password"], check=True, capture_output=True)
    assert stat.S_IMODE(users.stat().st_mode) == 0o640 and users.stat().st_gid == layout.APACHE_GROUP_ID
    assert "htpasswd -B hub/apache/users.htpasswd ada" in (REPOSITORY / "hub" / "README.md").read_text()
    assert secret_warnings(root / "hub") == []
    users.chmod(0o644)
    env = root / "hub" / ".env"
    env.chmod(0o604)
    assert secret_warnings(root / "hub") == [
        f"warning: {env} is readable by every user of this machine; chmod o-rwx {env}",
        f"warning: {users} is readable by every user of this machine; chmod o-rwx {users}",
    ]


def test_the_hub_image_writes_the_hubs_database_privately(tmp_path):
    dockerfile = bundle_files(load_course(course_with(tmp_path, LAUNCH)))["hub.Dockerfile"]
    assert f'CMD ["sh", "-c", "umask 077 && exec jupyterhub -f {layout.HUB_CONFIG}"]' in dockerfile


def test_the_image_pins_what_notebooks_import_but_not_the_courses_own_modules(tmp_path):
    root = make_course(
        tmp_path / "course",
        {"lessons/a.ipynb": ["import helpers\nfrom scipy import stats\n%matplotlib inline\nimport os"]},
        config={"repository": {"url": "https://example.edu/course.git"}, "oersite": LAUNCH},
    )
    (root / "lessons" / "helpers.py").write_text("VALUE = 1\n")
    requirements = image_requirements(load_course(root))
    assert "\nscipy==" in requirements
    assert "helpers" not in requirements and "\nos==" not in requirements


def test_a_notebook_importing_something_not_installed_is_named(tmp_path):
    root = make_course(
        tmp_path / "course",
        {"lessons/a.ipynb": ["import surely_not_installed_anywhere"]},
        config={"repository": {"url": "https://example.edu/course.git"}, "oersite": LAUNCH},
    )
    result = oersite("hub", "config", str(root))
    assert result.exit_code == 1
    assert "lessons/a.ipynb: imports surely_not_installed_anywhere, which is not installed" in result.output


def test_a_local_server_is_never_started_as_root():
    from types import SimpleNamespace

    from oersite.hub.local_spawner import AccountProcessSpawner

    visitor = SimpleNamespace(name="visitor", escaped_name="visitor", url="/user/visitor/", id=1, orm_user=None)
    hub = SimpleNamespace(api_url="http://127.0.0.1:8081/hub/api", url="http://127.0.0.1:8081/hub/", base_url="/hub/")
    unswitched = AccountProcessSpawner(user=visitor, hub=hub)
    if os.geteuid() == 0:
        with pytest.raises(RuntimeError, match="refusing to start a server as root"):
            unswitched.make_preexec_fn("visitor")
    else:
        assert callable(unswitched.make_preexec_fn("visitor"))  # the hub's own user, which is not root
    c = Config()
    c.AccountProcessSpawner.account = "nobody"
    assert callable(AccountProcessSpawner(config=c, user=visitor, hub=hub).make_preexec_fn("visitor"))


def test_the_pools_status_server_logs_a_reset_connection_in_one_line(capfd, caplog):
    import logging
    import struct
    from types import SimpleNamespace

    from oersite.hub import pool

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = pool.serve_status(SimpleNamespace(last={"ready": 1}), f"http://127.0.0.1:{port}")
    try:
        with caplog.at_level(logging.INFO, logger="oersite.hub.pool"):
            with socket.create_connection(("127.0.0.1", port)) as visitor:
                visitor.sendall(b"GET /services/oersite-pool/sta")  # half a request line, then a reset
                visitor.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            deadline = time.monotonic() + 10
            while not caplog.records and time.monotonic() < deadline:
                time.sleep(0.05)
    finally:
        server.shutdown()
        server.server_close()
    printed = capfd.readouterr()
    assert "Traceback" not in printed.err + printed.out, printed.err
    (record,) = caplog.records
    assert "status request from 127.0.0.1 ended early" in record.getMessage()
    assert "\n" not in record.getMessage()
