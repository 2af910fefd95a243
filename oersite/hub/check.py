"""``oersite hub check``: validate the bundle without starting anything.

- Each ``jupyterhub_config.py`` is loaded with traitlets; every section and
  trait is checked against the classes JupyterHub would use, and the spawner and
  authenticator are constructed from it (``oersite.hub.probe``).
- Each Zero to JupyterHub values file is merged over the chart's defaults and
  validated against the chart's values schema, as Helm does on install
  (``oersite/hub/z2jh``, chart 4.4.0); then the configuration the chart's hub
  would load from it (``hub.config``, the ``singleuser`` keys, the modules in
  ``hub.extraFiles``) goes through the same probe with KubeSpawner, in a
  Python that has it (by default this one; the tests use one with the chart's
  JupyterHub 5.5).
- ``docker-compose config -q`` validates the compose file offline.
- ``apache2 -t`` parses the proxy config with Debian's Apache.
"""

from __future__ import annotations

import copy
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import yaml

from oersite.errors import HubError
from oersite.hub import probe
from oersite.hub.apache import OIDC_PASSPHRASE_VARIABLE, OIDC_SECRET_VARIABLE
from oersite.hub.bundle import SAML_FOLDER, SECRET_VARIABLES, SETTINGS_FILE
from oersite.hub.configurer import DATA_HOST_VARIABLE
from oersite.hub.installed import require_hub_extra
from oersite.hub.layout import APACHE_SERVER_ROOT
from oersite.hub.settings import PROXY_SECRET_VARIABLE, SettingsFileError, read_settings
from oersite.hub.sign_on import require_module

HUB_CONFIGS = ("persistent/jupyterhub_config.py", "ephemeral/jupyterhub_config.py")
HELM_VALUES = ("helm/persistent-values.yaml", "helm/ephemeral-values.yaml")
CHART_DATA = Path(__file__).resolve().parent / "z2jh"
#: Secrets Apache reads from its environment: placeholders are enough for apache2 -t.
CHECKED_SECRETS = (PROXY_SECRET_VARIABLE, OIDC_SECRET_VARIABLE, OIDC_PASSPHRASE_VARIABLE)


def check_bundle(folder: Path, *, kubernetes_python: str = sys.executable) -> list[str]:
    """Check the bundle in ``folder``; return what was checked, or raise HubError naming every problem."""
    if not (folder / SETTINGS_FILE).is_file():
        raise HubError(f"{folder}: no hub bundle here ({SETTINGS_FILE} missing); run: oersite hub config")
    require_hub_extra("jupyterhub", "dockerspawner", "tmpauthenticator")
    problems: list[str] = []
    for relative in HUB_CONFIGS:
        problems += [f"{folder / relative}: {p}" for p in check_hub_config(folder / relative)]
    helm = check_helm_values([folder / relative for relative in HELM_VALUES], kubernetes_python)
    for relative, found in zip(HELM_VALUES, helm, strict=True):
        problems += [f"{folder / relative}: {p}" for p in found]
    problems += [f"{folder / 'docker-compose.yml'}: {p}" for p in check_compose(folder)]
    problems += [f"{folder / 'apache/httpd.conf'}: {p}" for p in check_apache(folder)]
    if problems:
        raise HubError("\n".join(problems))
    return [*HUB_CONFIGS, *HELM_VALUES, "docker-compose.yml", "apache/httpd.conf"]


def check_hub_config(path: Path) -> list[str]:
    """Load one jupyterhub_config.py, check its traits, construct its spawner and authenticator."""
    from traitlets.config import PyFileConfigLoader

    if not path.is_file():
        return ["missing; run: oersite hub config"]
    try:
        config = PyFileConfigLoader(path.name, str(path.parent)).load_config()
    except Exception as error:  # a config file is Python: any error is the file's
        return [f"cannot be loaded: {type(error).__name__}: {error}"]
    return probe.unknown_traits(config) or probe.construct(config)


# Zero to JupyterHub values.


def chart_defaults() -> dict:
    return yaml.safe_load((CHART_DATA / "values.yaml").read_text(encoding="utf-8"))


def chart_schema() -> dict:
    return json.loads((CHART_DATA / "values.schema.json").read_text(encoding="utf-8"))


def helm_merge(defaults: dict, values: dict) -> dict:
    """Values over defaults as Helm merges them: maps key by key, anything else replaced, null removes."""
    merged = copy.deepcopy(defaults)
    for key, value in values.items():
        if value is None:
            merged.pop(key, None)
        elif isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = helm_merge(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def schema_problems(values: dict, schema: dict) -> list[str]:
    """What the chart's schema refuses in ``values`` (merged over the defaults), each with its key path."""
    from jsonschema import Draft7Validator

    problems = []
    for error in sorted(Draft7Validator(schema).iter_errors(values), key=lambda e: list(map(str, e.absolute_path))):
        where = ".".join(str(part) for part in error.absolute_path) or "(top level)"
        if error.validator == "additionalProperties":
            known = set(error.schema.get("properties", {}))
            unknown = sorted(set(error.instance) - known)
            problems += [f"{where}.{key}: not a key of the chart{probe.did_you_mean(key, known)}" for key in unknown]
        else:
            problems.append(f"{where}: {error.message}")
    return problems


def check_helm_values(paths: list[Path], python: str = sys.executable) -> list[list[str]]:
    """Each values file against the chart's schema, then what the chart's hub would load from it."""
    problems: dict[Path, list[str]] = {}
    loadable: dict[Path, dict] = {}
    for path in paths:
        if not path.is_file():
            problems[path] = ["missing; run: oersite hub config"]
            continue
        try:
            values = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        except yaml.YAMLError as error:
            problems[path] = [f"not valid YAML: {error}".splitlines()[0]]
            continue
        merged = helm_merge(chart_defaults(), values)
        problems[path] = schema_problems(merged, chart_schema())
        if not problems[path]:
            loadable[path] = merged
    if loadable:
        for path, found in zip(loadable, probe_chart_hubs(list(loadable.values()), python), strict=True):
            problems[path] = found
    return [problems[path] for path in paths]


def probe_chart_hubs(values: list[dict], python: str = sys.executable) -> list[list[str]]:
    """``oersite.hub.probe`` on what the chart's hub would load from each values, run by ``python``.

    One process for all of them: importing JupyterHub and KubeSpawner takes seconds.
    """
    with tempfile.TemporaryDirectory(prefix="oersite-check-") as scratch:
        request = Path(scratch) / "request.json"
        request.write_text(json.dumps({"values": values}), encoding="utf-8")
        # -I: the probe sees the values' oersite modules, not this one's (nor PYTHONPATH).
        result = subprocess.run(
            [python, "-I", probe.__file__, str(request)], capture_output=True, text=True, timeout=300, cwd=scratch
        )
    if result.returncode != 0:
        failure = (result.stderr.strip().splitlines() or ["no output"])[-1]
        return [[f"the chart's hub configuration could not be probed: {failure}"] for _ in values]
    return json.loads(result.stdout.strip().splitlines()[-1])


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
    server_root = APACHE_SERVER_ROOT
    try:
        require_module(read_settings(folder / SETTINGS_FILE).sso)
    except (HubError, SettingsFileError) as problem:
        return [str(problem.message if isinstance(problem, HubError) else problem)]
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
            + ["-C", f"Define SAML_DIR {folder / SAML_FOLDER}", "-C", f"Define RUNTIME_DIR {tls}"],
            capture_output=True,
            text=True,
            env={**os.environ, **{name: "placeholder-for-check" for name in CHECKED_SECRETS}},
        )
    if result.returncode != 0:
        return [line for line in result.stderr.strip().splitlines() if line.strip()][-3:]
    return []


#: The bundle's secrets, which no one but root (and, for the users file, Apache's workers) may read.
SECRET_FILES = (".env", "apache/users.htpasswd", f"{SAML_FOLDER}/sp.key", "tls/privkey.pem")


def secret_warnings(folder: Path) -> list[str]:
    """One line for each secret of the bundle that every user of this machine can read."""
    warnings = []
    for relative in SECRET_FILES:
        path = folder / relative
        if path.is_file() and path.stat().st_mode & 0o004:
            warnings.append(f"warning: {path} is readable by every user of this machine; chmod o-rwx {path}")
    return warnings
