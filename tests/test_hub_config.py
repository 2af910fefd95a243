"""The hubs' settings, the config setters (on a plain traitlets Config, TLJH style) and the generated bundle."""

from __future__ import annotations

import json
import os
import stat
import sys
import tomllib
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner
from coursehelpers import make_course
from traitlets.config import Config

from oersite.cli import main
from oersite.config import load_course
from oersite.errors import ConfigError
from oersite.hub import configurer
from oersite.hub.bundle import bundle_files, image_requirements
from oersite.hub.settings import SETTINGS_FILE, hub_settings, read_settings
from oersite.launch import launch_target

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
    target = launch_target(course)
    settings = hub_settings(course)
    assert (settings.repository, settings.branch) == (target.repository, "spring")
    assert (settings.clone_folder, settings.interface) == (target.clone_folder, target.interface)
    assert settings.persistent.public_url == target.hub_url
    assert settings.ephemeral.public_url == target.try_url
    assert settings.data_path == "/mnt/data"
    # Without a deep link a server opens the course, pulled by nbgitpuller like the buttons do.
    assert settings.default_url.startswith("/git-pull?repo=https%3A%2F%2Fgithub.com%2Fexample%2Fcourse&branch=spring")
    assert settings.default_url.endswith("&targetpath=course&urlpath=lab%2Ftree%2Fcourse")


def test_a_local_repository_stays_out_of_the_bundle_but_serves_locally(tmp_path):
    course = load_course(course_with(tmp_path, LAUNCH, repository="."))
    assert hub_settings(course).repository is None
    assert hub_settings(course).default_url == "/lab"
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


def test_hub_config_without_launch_buttons_says_what_to_add(tmp_path):
    root = make_course(tmp_path / "plain")
    result = CliRunner().invoke(main, ["hub", "config", str(root)])
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
    configurer.update_docker_spawner(persistent, settings, hub_host="persistent-hub", persistent_homes=True)
    configurer.update_docker_spawner(ephemeral, settings, hub_host="ephemeral-hub", persistent_homes=False)
    data_mount = {"/srv/course/data": {"bind": settings.data_path, "mode": "ro"}}
    assert persistent.DockerSpawner.volumes == {"oersite-home-{username}": "/home/jovyan", **data_mount}
    assert ephemeral.DockerSpawner.volumes == data_mount
    assert persistent.DockerSpawner.remove is True  # containers go, named volumes stay
    assert persistent.DockerSpawner.image == settings.image


def test_servers_find_the_course_data_and_use_their_own_bokehjs(settings):
    c = Config()
    configurer.update_interface(c, settings)
    # BokehJS embedded from the server's bokeh, not fetched from cdn.bokeh.org
    assert c.Spawner.environment == {"COURSE_DATA": settings.data_path, "BOKEH_RESOURCES": "inline"}
    assert c.Spawner.default_url == settings.default_url


def test_local_ephemeral_spawner_removes_only_homes_inside_its_folder(tmp_path):
    homes = tmp_path / "homes"
    (homes / "visitor").mkdir(parents=True)
    (homes / "visitor" / "work.ipynb").write_text("{}")
    outside = tmp_path / "precious"
    outside.mkdir()
    c = Config()
    configurer.update_local_spawner(c, homes=homes, delete_homes_on_stop=True)
    remove = c.Spawner.post_stop_hook
    remove(type("Spawner", (), {"home_dir": str(homes / "visitor")}))
    remove(type("Spawner", (), {"home_dir": str(outside)}))
    assert not (homes / "visitor").exists()
    assert outside.is_dir()
    assert c.Spawner.cmd == [sys.executable, "-m", "oersite.hub.singleuser"]
    assert c.Spawner.http_timeout >= 120  # a class starting at once queues for CPU


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
    generated = bundle_files(load_course(REPOSITORY))
    committed = {
        path.relative_to(REPOSITORY / "hub").as_posix(): path.read_text(encoding="utf-8")
        for path in (REPOSITORY / "hub").rglob("*")
        if path.is_file() and path.name not in ("README.md", ".env")
    }
    stale = sorted(name for name in generated if committed.get(name) != generated[name])
    assert not stale, f"hub/ differs from _config.yml for {stale}: run oersite hub config"
    assert sorted(committed) == sorted(generated), "hub/ holds files oersite hub config does not write"


def test_the_image_pins_the_versions_that_built_the_site():
    requirements = image_requirements(load_course(REPOSITORY)).splitlines()
    project = tomllib.loads((REPOSITORY / "pyproject.toml").read_text())["project"]
    for pin in (d for d in project["dependencies"] if "==" in d):
        assert pin in requirements  # bokeh==3.9.2: the BokehJS the site ships
    for library in ("folium", "pandas", "numpy", "scipy", "shapely", "jupyterlab", "nbgitpuller", "jupyterhub"):
        assert any(line.startswith(f"{library}==") for line in requirements), library


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
    # https URLs: TLS terminates at Apache, one name-based virtual host per hub on 443.
    assert conf.count("SSLEngine on") == 2
    assert conf.count("Listen 443") == 1
    assert "ServerName hub.example.edu" in conf and "ServerName try.example.edu" in conf


def test_compose_and_helm_values_come_from_the_same_settings(tmp_path):
    oersite = {**LAUNCH, "hub": {"image": "registry.example.edu/course:7", "ephemeral": {"memory_limit": "256M"}}}
    files = bundle_files(load_course(course_with(tmp_path, oersite)))
    compose = yaml.safe_load(files["docker-compose.yml"])
    assert set(compose["services"]) >= {"apache", "persistent-hub", "persistent-proxy", "ephemeral-hub"}
    assert compose["services"]["notebook-image"]["image"] == "registry.example.edu/course:7"
    assert "persistent-hub-data:/srv/jupyterhub/data" in compose["services"]["persistent-hub"]["volumes"]
    ephemeral = yaml.safe_load(files["helm/ephemeral-values.yaml"])
    assert ephemeral["singleuser"]["image"] == {"name": "registry.example.edu/course", "tag": "7"}
    assert ephemeral["singleuser"]["memory"]["limit"] == "256M"
    assert ephemeral["cull"]["users"] is True
    persistent = yaml.safe_load(files["helm/persistent-values.yaml"])
    assert persistent["cull"]["users"] is False
    assert persistent["singleuser"]["storage"]["type"] == "dynamic"
    settings = json.loads(files[SETTINGS_FILE])
    assert settings["ephemeral"]["memory_limit"] == "256M"


def test_oersite_hub_config_writes_the_bundle_and_private_secrets(tmp_path):
    root = course_with(tmp_path, LAUNCH)
    result = CliRunner().invoke(main, ["hub", "config", str(root)])
    assert result.exit_code == 0, result.output
    env = root / "hub" / ".env"
    assert stat.S_IMODE(env.stat().st_mode) == 0o600
    assert "OERSITE_PROXY_SECRET=" in env.read_text()
    before = env.read_text()
    assert CliRunner().invoke(main, ["hub", "config", str(root)]).exit_code == 0
    assert env.read_text() == before, "secrets are generated once, not replaced on every run"
    assert (root / "hub" / "persistent" / "jupyterhub_config.py").is_file()
    assert os.access(root / "hub" / "docker-compose.yml", os.R_OK)


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
    result = CliRunner().invoke(main, ["hub", "config", str(root)])
    assert result.exit_code == 1
    assert "lessons/a.ipynb: imports surely_not_installed_anywhere, which is not installed" in result.output
