"""``oersite hub check``: validate the bundle without starting anything.

- Each ``jupyterhub_config.py`` is loaded with traitlets; every section and
  trait is checked against the classes JupyterHub would use, and the spawner and
  authenticator are constructed from it (``oersite.hub.probe``).
- Each Zero to JupyterHub values file goes through Helm's own engine (Helm's Go
  SDK, embedded by helm-python-sdk; no ``helm`` program, no cluster) with the
  chart 4.4.0 that oersite ships (``oersite/hub/z2jh/jupyterhub``): merged over
  the chart's defaults and checked against its values schema (with our own "did
  you mean" for a misspelt key), linted (strict), and rendered as its release
  (``bundle.chart.HELM_RELEASES``: name and namespace) as ``helm template`` would;
  every rendered manifest is validated against the Kubernetes API schemas of
  ``bundle.chart.KUBERNETES_VERSIONS`` (kubernetes-validate, strict: unknown fields
  refused).  Then the configuration the chart's hub would load from it
  (``hub.config``, the ``singleuser`` keys, the modules in ``hub.extraFiles``)
  goes through the same probe with KubeSpawner, in a Python that has it (by
  default this one; the tests use one with the chart's JupyterHub 5.5), and the
  pod KubeSpawner would make for a server through the API schemas too.  Values
  whose images name no registry pass, with a warning that a cluster cannot pull
  them.
- ``docker-compose config -q`` validates the compose file offline.
- ``apache2 -t`` parses the proxy config with Debian's Apache.
"""

from __future__ import annotations

import functools
import json
import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import yaml

from oersite.config import registry_host
from oersite.errors import HubError
from oersite.hub import probe
from oersite.hub.apache import OIDC_PASSPHRASE_VARIABLE, OIDC_SECRET_VARIABLE
from oersite.hub.bundle.apache_config import SAML_FOLDER
from oersite.hub.bundle.chart import HELM_RELEASES, KUBERNETES_VERSIONS, HelmRelease
from oersite.hub.bundle.secret_files import SECRET_VARIABLES
from oersite.hub.configurer import DATA_HOST_VARIABLE
from oersite.hub.installed import require_hub_extra
from oersite.hub.layout import APACHE_SERVER_ROOT
from oersite.hub.settings import PROXY_SECRET_VARIABLE, SETTINGS_FILE, SettingsFileError, read_settings
from oersite.hub.sign_on import require_module

HUB_CONFIGS = ("persistent/jupyterhub_config.py", "ephemeral/jupyterhub_config.py")
HELM_VALUES = tuple(release.values_file for release in HELM_RELEASES.values())
#: The Zero to JupyterHub chart, as its release packages it (see z2jh/README.md).
CHART = Path(__file__).resolve().parent / "z2jh" / "jupyterhub"
#: libyaml's safe loader where PyYAML has it: the rendered hub Secret holds all of the values (10 times faster).
_SAFE_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
#: Kinds of the API that belong to no namespace (the rest are namespaced: helm puts them in the release's).
CLUSTER_SCOPED_KINDS = frozenset(
    {
        "ClusterRole",
        "ClusterRoleBinding",
        "CustomResourceDefinition",
        "IngressClass",
        "MutatingWebhookConfiguration",
        "Namespace",
        "PersistentVolume",
        "PriorityClass",
        "RuntimeClass",
        "StorageClass",
        "ValidatingWebhookConfiguration",
    }
)
#: Secrets Apache reads from its environment: placeholders are enough for apache2 -t.
CHECKED_SECRETS = (PROXY_SECRET_VARIABLE, OIDC_SECRET_VARIABLE, OIDC_PASSPHRASE_VARIABLE)


@dataclass(frozen=True)
class BundleCheck:
    """What ``oersite hub check`` checked, and what passed but will not work everywhere."""

    checked: list[str]
    warnings: list[str]


def check_bundle(folder: Path, *, kubernetes_python: str = sys.executable) -> BundleCheck:
    """Check the bundle in ``folder``; raise HubError naming every problem."""
    if not (folder / SETTINGS_FILE).is_file():
        raise HubError(f"{folder}: no hub bundle here ({SETTINGS_FILE} missing); run: oersite hub config")
    require_hub_extra("jupyterhub", "dockerspawner", "tmpauthenticator", "kubernetes_validate")
    helm_engine()
    problems: list[str] = []
    for relative in HUB_CONFIGS:
        problems += [f"{folder / relative}: {p}" for p in check_hub_config(folder / relative)]
    warnings: list[str] = []
    helm = check_helm_values([folder / relative for relative in HELM_VALUES], kubernetes_python, warnings)
    for relative, found in zip(HELM_VALUES, helm, strict=True):
        problems += [f"{folder / relative}: {p}" for p in found]
    problems += [f"{folder / 'docker-compose.yml'}: {p}" for p in check_compose(folder)]
    problems += [f"{folder / 'apache/httpd.conf'}: {p}" for p in check_apache(folder)]
    if problems:
        raise HubError("\n".join(problems))
    return BundleCheck([*HUB_CONFIGS, *HELM_VALUES, "docker-compose.yml", "apache/httpd.conf"], warnings)


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


def helm_engine():
    """helm-python-sdk, with Helm's engine loaded; one line when it is not installed or cannot run here."""
    try:
        import helm_python
    except ImportError:
        require_hub_extra("helm_python")
        raise
    except Exception as error:  # its native library would not load (another platform's wheel, HELM_C_LIB)
        raise HubError(
            f"helm-python-sdk cannot load Helm's engine here: {str(error).splitlines()[0].rstrip('.')}; "
            "reinstall the hub extra (pip install -e '.[hub]')"
        ) from None
    return helm_python


def load_chart():
    """The chart in Helm's engine (a ``helm_python.Chart``, to be closed); one line if that cannot be."""
    helm_python = helm_engine()
    try:
        return helm_python.Chart.load(str(CHART))
    except helm_python.HelmError as error:
        raise HubError(f"{CHART}: Helm cannot load the chart ({error}); reinstall oersite") from None


def chart_schema() -> dict:
    return json.loads((CHART / "values.schema.json").read_text(encoding="utf-8"))


def schema_problems(values: dict, schema: dict) -> list[str]:
    """What the chart's schema refuses in ``values`` (merged over the defaults), each with its key path.

    Helm refuses the same (``at '/hub': additional properties 'confg' not
    allowed``); this says it with the key path as the user wrote it, and the
    key they may have meant.
    """
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


def release_of(path: Path) -> HelmRelease:
    """The release a values file is installed as (hub/README.md's commands); a file of another name, its own."""
    for release in HELM_RELEASES.values():
        if path.name == Path(release.values_file).name:
            return release
    return HelmRelease(path.stem, path.stem, path.stem)


def render_release(chart, values: dict, release: HelmRelease) -> list[dict]:
    """The manifests Helm would install for ``release`` (``helm template``), each with the template it came from.

    Raises helm_python's HelmError when Helm refuses the values or a template fails.
    """
    manifests = []
    rendered = chart.render(values, name=release.name, namespace=release.namespace, is_install=True)
    for template, text in sorted(rendered.items()):
        if not template.endswith((".yaml", ".yml")):
            continue  # NOTES.txt: printed after an install, never applied
        for document in yaml.load_all(text, Loader=_SAFE_LOADER):
            if isinstance(document, dict):
                manifests.append({**document, "_template": template.split("/", 1)[-1]})
    return manifests


def lint_problems(values: dict, release: HelmRelease) -> list[str]:
    """``helm lint --strict`` of the chart with ``values`` in the release's namespace.

    Once, as the oldest Kubernetes checked against: the chart's templates do not
    depend on the version (the manifests are checked against each version's API).
    """
    import helm_python

    version = f"v{KUBERNETES_VERSIONS[0]}.0"
    report = helm_python.lint(str(CHART), values, strict=True, namespace=release.namespace, kube_version=version)
    problems: list[str] = []
    for message in report.get("messages", []):
        if message.get("severity", 0) >= 2:  # warnings and errors; --strict fails on both
            problem = f"helm lint: {message.get('path', '')}: {message.get('error', '').strip()}"
            if problem not in problems:
                problems.append(problem)
    return problems


def manifest_problems(manifests: list[dict]) -> list[str]:
    """What the Kubernetes API of each version checked against would refuse in the rendered manifests."""
    import kubernetes_validate
    from kubernetes_validate import utils

    # kubernetes-validate reads and parses its schema files (1.4 MB of definitions) on every
    # call: read each once, for the hundred-odd manifests of a check (4 s → 0.4 s here).
    if not hasattr(utils.schema_contents, "cache_info"):
        utils.schema_contents = functools.lru_cache(maxsize=None)(utils.schema_contents)
    known = {utils.major_minor(version) for version in utils.all_versions()}
    problems = []
    for version in KUBERNETES_VERSIONS:
        if version not in known:
            raise HubError(
                f"kubernetes-validate {kubernetes_validate.__version__} has no API schemas of Kubernetes {version}; "
                "install one that has: pip install 'kubernetes-validate>=1.37'"
            )
        for manifest in manifests:
            document = {key: value for key, value in manifest.items() if key != "_template"}
            what = f"{manifest.get('kind')} {manifest.get('metadata', {}).get('name')} ({manifest['_template']})"
            try:
                kubernetes_validate.validate(document, version, strict=True)
            except kubernetes_validate.ValidationError as error:
                where = ".".join(str(part) for part in error.path) or "(top level)"
                problems.append(f"{what}: Kubernetes {version} refuses {where}: {error.message}")
            except kubernetes_validate.SchemaNotFoundError:
                problems.append(
                    f"{what}: Kubernetes {version} has no {manifest.get('apiVersion')} {manifest.get('kind')}"
                )
    return problems


def pod_specs(manifests: list[dict]) -> list[tuple[str, dict]]:
    """Every pod spec of the manifests (Deployments, StatefulSets, DaemonSets, Jobs, Pods), named."""
    specs = []
    for manifest in manifests:
        spec = manifest.get("spec") or {}
        pod = spec.get("template", {}).get("spec") if manifest.get("kind") != "Pod" else spec
        if pod:
            specs.append((f"{manifest['kind']} {manifest['metadata']['name']}", pod))
    return specs


def images_without_registry(values: dict, manifests: list[dict]) -> list[str]:
    """The images a cluster would be asked to pull that name no registry: the rendered pods' and the servers'."""
    images = []
    for _, pod in pod_specs(manifests):
        for container in (pod.get("initContainers") or []) + (pod.get("containers") or []):
            images.append(container.get("image", ""))
    singleuser = values.get("singleuser") or {}
    image = singleuser.get("image") or {}
    images.append(f"{image.get('name')}:{image.get('tag')}" if image.get("tag") else str(image.get("name")))
    images += [container.get("image", "") for container in singleuser.get("initContainers") or []]
    return sorted({image for image in images if not registry_host(image)})


def check_helm_values(
    paths: list[Path], python: str = sys.executable, warnings: list[str] | None = None
) -> list[list[str]]:
    """Each values file through Helm's engine and the Kubernetes API schemas, then what the chart's hub would load.

    ``warnings`` gets a line per values file that passes but that a cluster could
    not run as it is (images without a registry).
    """
    import helm_python

    problems: dict[Path, list[str]] = {}
    loadable: dict[Path, dict] = {}
    chart = load_chart()
    try:
        for path in paths:
            if not path.is_file():
                problems[path] = ["missing; run: oersite hub config"]
                continue
            try:
                values = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
            except yaml.YAMLError as error:
                problems[path] = [f"not valid YAML: {error}".splitlines()[0]]
                continue
            if not isinstance(values, dict):
                problems[path] = ["expected the chart's values (key: value pairs)"]
                continue
            merged = chart.merge_values(values)
            problems[path] = schema_problems(merged, chart_schema())
            if problems[path]:
                continue
            release = release_of(path)
            try:
                manifests = render_release(chart, values, release)
            except helm_python.HelmError as error:
                problems[path] = [f"Helm refuses them: {' '.join(str(error).split())}"]
                continue
            problems[path] = lint_problems(values, release) + manifest_problems(manifests)
            unpullable = images_without_registry(merged, manifests)
            if unpullable and warnings is not None:
                warnings.append(
                    f"{path}: the Kubernetes values cannot be deployed as they are: {', '.join(unpullable)} "
                    "name no registry a cluster can pull from; set oersite.hub.registry in _config.yml "
                    "and run oersite hub config"
                )
            if not problems[path]:
                loadable[path] = merged
    finally:
        chart.close()
    if loadable:
        pods: list[list[dict]] = []
        probed = probe_chart_hubs(list(loadable.values()), python, pods)
        for path, found, made in zip(loadable, probed, pods or [[] for _ in loadable], strict=True):
            # The pod KubeSpawner makes for a server: only a cluster would otherwise see it.
            servers = [{**pod, "_template": "made by KubeSpawner for a server"} for pod in made]
            problems[path] = found + manifest_problems(servers)
    return [problems[path] for path in paths]


def probe_chart_hubs(
    values: list[dict], python: str = sys.executable, pods: list[list[dict]] | None = None
) -> list[list[str]]:
    """``oersite.hub.probe`` on what the chart's hub would load from each values, run by ``python``.

    One process for all of them: importing JupyterHub and KubeSpawner takes seconds.
    ``pods`` gets, per values, the pod KubeSpawner would make for a server.
    """
    with tempfile.TemporaryDirectory(prefix="oersite-check-") as scratch:
        request, made = Path(scratch) / "request.json", Path(scratch) / "pods.json"
        request.write_text(json.dumps({"values": values, "pods": str(made)}), encoding="utf-8")
        # -I: the probe sees the values' oersite modules, not this one's (nor PYTHONPATH).
        result = subprocess.run(
            [python, "-I", probe.__file__, str(request)], capture_output=True, text=True, timeout=300, cwd=scratch
        )
        if result.returncode != 0:
            failure = (result.stderr.strip().splitlines() or ["no output"])[-1]
            return [[f"the chart's hub configuration could not be probed: {failure}"] for _ in values]
        if pods is not None:
            pods[:] = json.loads(made.read_text(encoding="utf-8"))
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
