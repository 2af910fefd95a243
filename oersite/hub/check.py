"""``oersite hub check``: validate the production bundle without Docker.

- Each ``jupyterhub_config.py`` is loaded with traitlets, and every section and
  trait is checked against the classes JupyterHub would use (a misspelt trait
  only logs a warning in JupyterHub; here it is an error, with "did you mean").
  The Zero to JupyterHub values' ``hub.config`` gets the same check.
- The hub's spawner and authenticator are constructed from the config
  (DockerSpawner validates its traits without contacting Docker).
- ``docker-compose config -q`` validates the compose file offline.
- ``apache2 -t`` parses the proxy config with Debian's Apache.
"""

from __future__ import annotations

import difflib
import logging
import os
import shutil
import subprocess
import tempfile
from pathlib import Path
from types import SimpleNamespace

import yaml

from oersite.errors import HubError
from oersite.hub.bundle import SECRET_VARIABLES, SETTINGS_FILE
from oersite.hub.configurer import DATA_HOST_VARIABLE

HUB_CONFIGS = ("persistent/jupyterhub_config.py", "ephemeral/jupyterhub_config.py")
HELM_VALUES = ("helm/persistent-values.yaml", "helm/ephemeral-values.yaml")
#: JupyterHub's own warnings about the config: this check reports them itself, as errors.
_QUIET = logging.getLogger("oersite.hub.check.jupyterhub")
_QUIET.propagate = False
_QUIET.addHandler(logging.NullHandler())


def check_bundle(folder: Path) -> list[str]:
    """Check the bundle in ``folder``; return what was checked, or raise HubError naming every problem."""
    if not (folder / SETTINGS_FILE).is_file():
        raise HubError(f"{folder}: no hub bundle here ({SETTINGS_FILE} missing); run: oersite hub config")
    problems: list[str] = []
    checked: list[str] = []
    for relative in HUB_CONFIGS:
        problems += [f"{folder / relative}: {p}" for p in check_hub_config(folder / relative)]
        checked.append(relative)
    for relative in HELM_VALUES:
        problems += [f"{folder / relative}: {p}" for p in check_helm_values(folder / relative)]
        checked.append(relative)
    problems += [f"{folder / 'docker-compose.yml'}: {p}" for p in check_compose(folder)]
    checked.append("docker-compose.yml")
    problems += [f"{folder / 'apache/httpd.conf'}: {p}" for p in check_apache(folder)]
    checked.append("apache/httpd.conf")
    if problems:
        raise HubError("\n".join(problems))
    return checked


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


def check_traits(config) -> list[str]:
    """Every section and trait in ``config`` that no class of the hub knows, with a suggestion."""
    classes = _configurable_classes(config)
    problems = []
    for section, values in config.items():
        if section not in classes:
            problems.append(f"{section}: no such configurable class{_did_you_mean(section, classes)}")
            continue
        known = classes[section].class_trait_names(config=True)
        for trait in values:
            if trait not in known:
                problems.append(f"{section}.{trait}: no such setting{_did_you_mean(trait, known)}")
    return problems


def _did_you_mean(name: str, known) -> str:
    close = difflib.get_close_matches(name, list(known), n=1)
    return f"; did you mean {close[0]}?" if close else ""


def check_hub_config(path: Path) -> list[str]:
    """Load one jupyterhub_config.py, check its traits, construct its spawner and authenticator."""
    from traitlets.config import PyFileConfigLoader

    if not path.is_file():
        return ["missing; run: oersite hub config"]
    try:
        config = PyFileConfigLoader(path.name, str(path.parent)).load_config()
    except Exception as error:  # a config file is Python: any error is the file's
        return [f"cannot be loaded: {type(error).__name__}: {error}"]
    problems = check_traits(config)
    if problems:
        return problems
    return _construct(config)


def _construct(config) -> list[str]:
    from jupyterhub.app import JupyterHub

    hub = JupyterHub(config=config, log=_QUIET)
    user = SimpleNamespace(name="check-user", escaped_name="check-user", url="/user/check-user/", id=1, orm_user=None)
    problems = []
    warnings = _CapturedWarnings()
    for cls in (hub.spawner_class, hub.authenticator_class):
        try:
            if cls is hub.spawner_class:
                cls(config=config, user=user, hub=SimpleNamespace(api_url="http://hub:8081/hub/api"))
            else:
                cls(config=config)
        except Exception as error:
            problems.append(f"{cls.__name__} refuses the config: {type(error).__name__}: {error}")
    problems += warnings.collect()
    return problems


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


def check_helm_values(path: Path) -> list[str]:
    """The traitlets part of Zero to JupyterHub values (``hub.config``) gets the same check."""
    from traitlets.config import Config

    if not path.is_file():
        return ["missing; run: oersite hub config"]
    try:
        values = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as error:
        return [f"not valid YAML: {error}".splitlines()[0]]
    hub_config = (values.get("hub") or {}).get("config") or {}
    authenticator = hub_config.get("JupyterHub", {}).get("authenticator_class")
    config = Config(hub_config)
    if authenticator:
        config.JupyterHub.authenticator_class = authenticator
    config.JupyterHub.spawner_class = "kubespawner.KubeSpawner" if _has("kubespawner") else "simple"
    try:
        return check_traits(config)
    except Exception as error:
        return [f"hub.config cannot be used: {type(error).__name__}: {error}"]


def _has(module: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(module) is not None


def check_compose(folder: Path) -> list[str]:
    """``docker-compose config -q`` with placeholder secrets (the real ones stay in .env)."""
    if shutil.which("docker-compose"):
        program = [shutil.which("docker-compose")]
    elif shutil.which("docker"):
        program = [shutil.which("docker"), "compose"]  # the Compose v2 plugin validates offline too
    else:
        return ["docker-compose not found; install it (Debian: apt-get install docker-compose) to check this file"]
    environment = {**os.environ, **{name: "placeholder-for-check" for name in SECRET_VARIABLES}}
    environment.setdefault(DATA_HOST_VARIABLE.removeprefix("OERSITE_"), "/srv/oersite/course-data")
    with tempfile.TemporaryDirectory() as empty:
        # Placeholders in the environment win over an operator's .env; paths stay relative to the bundle.
        result = subprocess.run(
            [*program, "--project-directory", str(folder), "-f", str(folder / "docker-compose.yml"), "config", "-q"],
            capture_output=True,
            text=True,
            env=environment,
            cwd=empty,
        )
    if result.returncode != 0:
        return [line for line in (result.stderr or result.stdout).strip().splitlines() if line.strip()][-3:]
    return []


def check_apache(folder: Path) -> list[str]:
    """``apache2 -t`` on the proxy config with Debian's modules and a throwaway certificate."""
    program = shutil.which("apache2") or shutil.which("httpd")
    if program is None:
        return ["apache2 not found; install it (Debian: apt-get install apache2) to check this file"]
    conf = folder / "apache" / "httpd.conf"
    if not conf.is_file():
        return ["missing; run: oersite hub config"]
    server_root = "/usr/lib/apache2" if Path("/usr/lib/apache2/modules").is_dir() else "/usr/local/apache2"
    if shutil.which("openssl") is None:
        return ["openssl not found; install it (Debian: apt-get install openssl) to check the TLS settings"]
    with tempfile.TemporaryDirectory() as scratch:
        tls = Path(scratch)
        subprocess.run(
            ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=check"]
            + ["-keyout", str(tls / "privkey.pem"), "-out", str(tls / "fullchain.pem")],
            capture_output=True,
            check=True,
        )
        result = subprocess.run(
            [program, "-d", server_root, "-f", str(conf), "-t"]
            + ["-C", f"Define TLS_DIR {tls}", "-C", f"Define SSO_CONF {folder / 'apache' / 'sso.conf'}"]
            + ["-C", f"Define RUNTIME_DIR {tls}"],
            capture_output=True,
            text=True,
            env={**os.environ, "OERSITE_PROXY_SECRET": "placeholder-for-check"},
        )
    if result.returncode != 0:
        return [line for line in result.stderr.strip().splitlines() if line.strip()][-3:]
    return []
