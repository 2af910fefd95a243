"""The Zero to JupyterHub values, rendered by the chart's own templates in Helm's own engine, as installed.

No cluster runs here.  What stands in for one: the chart 4.4.0 that oersite
ships (``oersite/hub/z2jh/jupyterhub``, the same bytes as ``../shared/z2jh/chart``)
loaded into Helm v4's Go SDK (helm-python-sdk), which merges, validates, lints
and renders it as ``helm upgrade --install`` would, with the release names,
namespaces and values files of hub/README.md's commands; the rendered manifests
checked against the Kubernetes API schemas (kubernetes-validate); and, for the
hub, a Python environment with the versions of the chart's hub image
(JupyterHub 5.5.0, KubeSpawner 7.0.0, tmpauthenticator 1.0.0), in which
``oersite.hub.probe`` loads what the chart's ``jupyterhub_config.py`` would,
with the oersite modules from ``hub.extraFiles`` only, and constructs
KubeSpawner and the authenticator.  hub/README.md says what these cannot prove.
"""

from __future__ import annotations

import copy
import json
import re
import shlex
import subprocess
import sys
from collections import Counter
from pathlib import Path

import helm_python
import pytest
import yaml
from conftest import REPOSITORY
from support.hubenvs import hub_environment

from oersite.config import load_course
from oersite.hub.bundle import bundle_files
from oersite.hub.bundle.chart import (
    CHART_HUB_IMAGE,
    CHART_JUPYTERHUB,
    CHART_VERSION,
    HELM_RELEASES,
    KUBERNETES_VERSIONS,
    HelmRelease,
)
from oersite.hub.bundle.images import DATA_DOCKERFILE, course_images
from oersite.hub.check import (
    CHART,
    CLUSTER_SCOPED_KINDS,
    check_helm_values,
    images_without_registry,
    lint_problems,
    manifest_problems,
    pod_specs,
    probe_chart_hubs,
    render_release,
    schema_problems,
)

SHARED_CHART = REPOSITORY.parent / "shared" / "z2jh"
HUB_README = REPOSITORY / "hub" / "README.md"
VALUES = {kind: REPOSITORY / "hub" / release.values_file for kind, release in HELM_RELEASES.items()}
#: The Python packages of the chart's hub image quay.io/jupyterhub/k8s-hub:4.4.0 that a config touches.
CHART_HUB_PACKAGES = (
    f"jupyterhub=={CHART_JUPYTERHUB}",
    "jupyterhub-kubespawner==7.0.0",
    "jupyterhub-tmpauthenticator==1.0.0",
)


def values_of(kind: str, change=None) -> dict:
    values = yaml.safe_load(VALUES[kind].read_text())
    if change:
        values = copy.deepcopy(values)
        change(values)
    return values


@pytest.fixture(scope="module")
def chart():
    with helm_python.Chart.load(str(CHART)) as loaded:
        yield loaded


def merged(chart, kind: str, change=None) -> dict:
    """The values as Helm merges them over the chart's defaults."""
    return chart.merge_values(values_of(kind, change))


def readme_install_commands() -> list[list[str]]:
    """The commands of hub/README.md's Zero to JupyterHub block, each split as the shell would."""
    section = HUB_README.read_text(encoding="utf-8").split("\n## Zero to JupyterHub\n", 1)[1]
    block = re.search(r"```sh\n(.*?)```", section, flags=re.S).group(1)
    lines = [line.split("  #")[0].strip() for line in block.replace("\\\n", " ").splitlines()]
    return [shlex.split(line) for line in lines if line]


def helm_installs() -> list[dict]:
    """Each ``helm upgrade --install`` of the README: release, chart, version, namespace, values file."""
    installs = []
    for words in readme_install_commands():
        if words[:3] != ["helm", "upgrade", "--install"]:
            continue
        options = {}
        rest = words[5:]
        while rest:
            option = rest.pop(0)
            options[option] = True if option == "--create-namespace" else rest.pop(0)
        installs.append({"release": words[3], "chart": words[4], **options})
    return installs


@pytest.fixture(scope="module")
def installed(chart) -> dict[str, dict]:
    """Both releases rendered as the README installs them: kind → {release, namespace, values, manifests}."""
    releases = {}
    for install in helm_installs():
        kind = Path(install["--values"]).name.removesuffix("-values.yaml")
        # Without --namespace, helm installs into the kubeconfig's namespace: "default" on a new cluster.
        release = HelmRelease(kind, install["release"], install.get("--namespace", "default"))
        values = yaml.safe_load((REPOSITORY / install["--values"]).read_text())
        releases[kind] = {
            "release": release,
            "namespace": release.namespace,
            "values": chart.merge_values(values),
            "manifests": render_release(chart, values, release),
        }
    return releases


# The README's commands, as written.


def test_the_readmes_commands_install_each_release_in_its_own_namespace_from_its_values_file():
    installs = helm_installs()
    assert [(i["release"], i["--namespace"], i["--values"]) for i in installs] == [
        (release.name, release.namespace, f"hub/{release.values_file}") for release in HELM_RELEASES.values()
    ]
    for install in installs:
        assert install["chart"] == "jupyterhub/jupyterhub"
        assert install["--version"] == CHART_VERSION
        assert install["--create-namespace"] is True
        assert (REPOSITORY / install["--values"]).is_file()
    assert len({install["--namespace"] for install in installs}) == 2
    # The values file says the same command (the values are made for that release: see the network policies).
    for release in HELM_RELEASES.values():
        assert f"# {release.install_command()}\n" in VALUES[release.kind].read_text()


def test_no_object_is_made_by_two_releases_in_one_namespace(installed):
    """The chart names namespaced objects without the release (hub, proxy-public, ...): one namespace each."""
    made = Counter()
    for release in installed.values():
        for manifest in release["manifests"]:
            namespace = None if manifest["kind"] in CLUSTER_SCOPED_KINDS else release["namespace"]
            made[(namespace, manifest["kind"], manifest["metadata"]["name"])] += 1
    assert [key for key, count in made.items() if count > 1] == []
    assert len(made) > 50  # both releases rendered in full


def referenced_objects(pod: dict) -> set[tuple[str, str]]:
    """The Secrets, ConfigMaps and PVCs a pod spec needs to exist: (kind, name)."""
    needed = set()
    for volume in pod.get("volumes") or []:
        if "secret" in volume:
            needed.add(("Secret", volume["secret"]["secretName"]))
        if "configMap" in volume:
            needed.add(("ConfigMap", volume["configMap"]["name"]))
        if "persistentVolumeClaim" in volume:
            needed.add(("PersistentVolumeClaim", volume["persistentVolumeClaim"]["claimName"]))
        for source in (volume.get("projected") or {}).get("sources") or []:
            needed |= {(kind, source[key]["name"]) for key, kind in (("secret", "Secret"), ("configMap", "ConfigMap"))}
    for container in (pod.get("containers") or []) + (pod.get("initContainers") or []):
        for variable in container.get("env") or []:
            reference = variable.get("valueFrom") or {}
            if "secretKeyRef" in reference:
                needed.add(("Secret", reference["secretKeyRef"]["name"]))
            if "configMapKeyRef" in reference:
                needed.add(("ConfigMap", reference["configMapKeyRef"]["name"]))
        for source in container.get("envFrom") or []:
            if "secretRef" in source:
                needed.add(("Secret", source["secretRef"]["name"]))
            if "configMapRef" in source:
                needed.add(("ConfigMap", source["configMapRef"]["name"]))
    return needed


def created_by_readme() -> set[tuple[str, str, str]]:
    """(namespace, kind, name) of what the README's kubectl commands create."""
    created = set()
    for words in readme_install_commands():
        if words[:3] == ["kubectl", "create", "secret"]:
            namespace = words[words.index("--namespace") + 1] if "--namespace" in words else "default"
            created.add((namespace, "Secret", words[4]))
    return created


def test_every_secret_pvc_and_configmap_a_pod_or_the_spawner_mounts_is_created_by_something_named(installed):
    readme = created_by_readme()
    for kind, release in installed.items():
        namespace = release["namespace"]
        by_chart = {(namespace, m["kind"], m["metadata"]["name"]) for m in release["manifests"]}
        singleuser = release["values"]["singleuser"]
        # What KubeSpawner mounts in each server's pod: the values' volumes and environment, the init container's.
        environment = [{"name": name, **value} for name, value in singleuser["extraEnv"].items() if type(value) is dict]
        spawner_pod = {
            "volumes": singleuser["storage"]["extraVolumes"],
            "containers": [{"env": environment}],
            "initContainers": singleuser["initContainers"],
        }
        for name, pod in [*pod_specs(release["manifests"]), ("the spawner's server pod", spawner_pod)]:
            for needed_kind, needed_name in referenced_objects(pod):
                assert (namespace, needed_kind, needed_name) in by_chart | readme, (
                    f"{kind}: {name} needs {needed_kind} {needed_name} in {namespace}, which nothing creates"
                )
        # The course data: a volume of the pod, filled by an init container from the data image.
        (data_volume,) = singleuser["storage"]["extraVolumes"]
        assert data_volume == {"name": "course-data", "emptyDir": {}}
        (copier,) = singleuser["initContainers"]
        assert [mount["name"] for mount in copier["volumeMounts"]] == ["course-data"]
        assert {"name": "course-data", "mountPath": "/srv/course-data", "readOnly": True} in singleuser["storage"][
            "extraVolumeMounts"
        ]
    # The proxy secret Apache shares with the persistent hub: the README's command makes it where the hub is.
    assert readme == {("oersite-persistent", "Secret", "oersite-proxy-secret")}


def images(pod: dict) -> set[str]:
    return {container["image"] for container in (pod.get("initContainers") or []) + pod["containers"]}


def test_every_image_names_a_registry(installed):
    for release in installed.values():
        assert images_without_registry(release["values"], release["manifests"]) == []
        # The pre-puller pulls the servers' images onto every node: the single-user image and the data's.
        (puller,) = [pod for name, pod in pod_specs(release["manifests"]) if name == "DaemonSet hook-image-puller"]
        pulled = images(puller)
        assert "registry.example.org/data-analysis/oersite-course-notebook:0.1.0-jupyterhub5.5.0" in pulled
        assert any(image.startswith("registry.example.org/data-analysis/oersite-course-data:data-") for image in pulled)


def test_the_chart_lints_clean_with_the_values_strict(installed):
    for release in installed.values():
        values = yaml.safe_load(VALUES[release["release"].kind].read_text())
        assert lint_problems(values, release["release"]) == []


def test_every_rendered_manifest_is_valid_for_the_stated_kubernetes_versions(installed):
    assert KUBERNETES_VERSIONS == ("1.28", "1.37")
    for release in installed.values():
        assert manifest_problems(release["manifests"]) == []


def test_a_manifest_the_kubernetes_api_would_refuse_is_named(installed):
    manifests = copy.deepcopy(installed["persistent"]["manifests"])
    deployments = {m["metadata"]["name"]: m for m in manifests if m["kind"] == "Deployment"}
    deployments["hub"]["spec"]["replicas"] = "one"
    deployments["proxy"]["spec"]["template"]["spec"]["containers"][0]["imagePullPolicyy"] = "Always"
    problems = manifest_problems(manifests)
    for version in KUBERNETES_VERSIONS:
        assert (
            f"Deployment hub (templates/hub/deployment.yaml): Kubernetes {version} refuses spec.replicas: "
            "'one' is not of type 'integer', 'null'"
        ) in problems
        assert any(
            p.startswith(f"Deployment proxy (templates/proxy/deployment.yaml): Kubernetes {version} refuses")
            and "'imagePullPolicyy' was unexpected" in p
            for p in problems
        ), problems
    assert len(problems) == 2 * len(KUBERNETES_VERSIONS)


# A broken value: refused by Helm's render as by the chart's schema.


@pytest.mark.parametrize(
    ("change", "helm_says", "we_say"),
    [
        (
            lambda v: v["hub"].update(confg=v["hub"].pop("config")),
            "at '/hub': additional properties 'confg' not allowed",
            "hub.confg: not a key of the chart; did you mean config?",
        ),
        (
            lambda v: v["singleuser"]["memory"].update(limt="1G"),
            "at '/singleuser/memory': additional properties 'limt' not allowed",
            "singleuser.memory.limt: not a key of the chart",
        ),
        (
            lambda v: v["singleuser"]["cpu"].update(limit="lots"),
            "at '/singleuser/cpu/limit': got string, want null or number",
            "singleuser.cpu.limit: 'lots' is not of type",
        ),
        (
            lambda v: v["cull"].update(timeout="1h"),
            "at '/cull/timeout': got string, want null or integer",
            "cull.timeout: '1h' is not of type",
        ),
    ],
    ids=["misspelt-section", "misspelt-key", "wrong-type", "culler-type"],
)
def test_a_broken_value_is_refused_by_the_render_as_by_the_schema(chart, change, helm_says, we_say, tmp_path):
    broken = values_of("persistent", change)
    with pytest.raises(helm_python.HelmValuesError) as refused:
        render_release(chart, broken, HELM_RELEASES["persistent"])
    assert helm_says in str(refused.value)
    problems = schema_problems(chart.merge_values(broken), json.loads((CHART / "values.schema.json").read_text()))
    assert any(we_say in problem for problem in problems), problems
    # oersite hub check says it, once, with the key path as written (no probe runs: the schema stops it).
    (found,) = check_helm_values([write_values(tmp_path, broken)])
    assert any(we_say in problem for problem in found), found


def write_values(folder: Path, values: dict) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "persistent-values.yaml"
    path.write_text(yaml.safe_dump(values), encoding="utf-8")
    return path


@pytest.mark.parametrize("kind", sorted(VALUES))
def test_the_values_merged_over_the_charts_defaults_pass_its_schema(chart, kind):
    assert schema_problems(merged(chart, kind), json.loads((CHART / "values.schema.json").read_text())) == []
    chart.validate_schema(values_of(kind))


def test_the_values_use_the_charts_own_hub_image_and_its_jupyterhub_in_the_single_user_image():
    for kind in VALUES:
        values = values_of(kind)
        assert values["hub"]["image"] == CHART_HUB_IMAGE == {"name": "quay.io/jupyterhub/k8s-hub", "tag": "4.4.0"}
        assert values["singleuser"]["image"]["tag"].endswith(f"-jupyterhub{CHART_JUPYTERHUB}")


def test_only_the_ephemeral_hub_gets_the_full_page_it_shows():
    def mounted(kind):
        return {extra["mountPath"].rsplit("/oersite/", 1)[1] for extra in values_of(kind)["hub"]["extraFiles"].values()}

    assert "hub/templates/429.html" not in mounted("persistent")
    assert "hub/templates/429.html" in mounted("ephemeral")
    assert values_of("ephemeral")["hub"]["config"]["JupyterHub"]["template_paths"] == [
        "/usr/local/etc/jupyterhub/oersite/hub/templates"
    ]


# The course's images: named in its registry, and the data with them.


def course_with(tmp_path: Path, hub: dict | None = None, data: dict | None = None) -> Path:
    from support.coursehelpers import make_course

    root = make_course(
        tmp_path / "course",
        config={
            "repository": {"url": "https://github.com/example/course"},
            "oersite": {
                "launch": {"hub_url": "https://hub.example.edu", "try_url": "https://try.example.edu"},
                **({"hub": hub} if hub else {}),
            },
        },
    )
    for name, text in (data or {}).items():
        (root / "data").mkdir(exist_ok=True)
        (root / "data" / name).write_text(text, encoding="utf-8")
    return root


def test_the_registry_names_every_image_in_the_values_the_compose_file_and_the_build_commands(tmp_path):
    from oersite.hub.bundle.images import build_commands

    course = load_course(course_with(tmp_path, {"registry": "registry.example.edu/course", "image": "nb:7"}))
    files = bundle_files(course)
    compose = yaml.safe_load(files["docker-compose.yml"])
    images = {name: service["image"] for name, service in compose["services"].items()}
    assert images["notebook-image"] == "registry.example.edu/course/nb:7"
    assert images["apache"] == "registry.example.edu/course/oersite-apache:0.1.0"
    assert images["persistent-hub"] == images["ephemeral-proxy"] == "registry.example.edu/course/oersite-hub:0.1.0"
    for kind in HELM_RELEASES:
        values = yaml.safe_load(files[HELM_RELEASES[kind].values_file])
        assert values["singleuser"]["image"] == {"name": "registry.example.edu/course/nb", "tag": "7-jupyterhub5.5.0"}
        (copier,) = values["singleuser"]["initContainers"]
        assert copier["image"].startswith("registry.example.edu/course/oersite-course-data:data-")
        assert "cannot be deployed" not in files[HELM_RELEASES[kind].values_file]
    commands = build_commands(course_images(course), tmp_path / "hub", course.data_dir)
    pushed = [command.split()[-1] for command in commands if command.startswith("docker push")]
    assert pushed == ["registry.example.edu/course/nb:7-jupyterhub5.5.0", course_images(course).course_data]
    built = [command.split("   #")[0].split() for command in commands if command.startswith("docker build")]
    assert [words[words.index("-t") + 1] for words in built] == pushed
    assert built[1][-1] == str(course.data_dir) or built[1][-1].endswith("data")  # the data folder is the context


def test_without_a_registry_the_values_say_they_cannot_be_deployed_and_nothing_is_pushed(tmp_path):
    from oersite.hub.bundle.images import build_commands

    course = load_course(course_with(tmp_path))
    files = bundle_files(course)
    for kind in HELM_RELEASES:
        assert "# Not deployable as they are: no image here names a registry" in files[HELM_RELEASES[kind].values_file]
        values = yaml.safe_load(files[HELM_RELEASES[kind].values_file])
        assert images_without_registry(values, []) == [
            "oersite-course-data:" + course_images(course).course_data.rsplit(":", 1)[1],
            "oersite-course-notebook:0.1.0-jupyterhub5.5.0",
        ]
    commands = build_commands(course_images(course), tmp_path / "hub", course.data_dir)
    assert not [command for command in commands if command.startswith("docker push")]


@pytest.mark.parametrize(
    ("hub", "expected"),
    [
        ({"registry": "https://registry.example.edu/c"}, "oersite.hub.registry: expected a registry without a scheme"),
        ({"registry": "myorganisation"}, "oersite.hub.registry: expected a registry's host (with a dot, a port"),
        ({"registry": "registry.example.edu/Course"}, "oersite.hub.registry: expected a path of lower-case names"),
        (
            {"image": "registry.example.edu/course/nb:7"},
            "oersite.hub.image: names the registry registry.example.edu; put the registry in oersite.hub.registry "
            "and the image here without it, such as course/nb:7",
        ),
    ],
    ids=["scheme", "no-host", "upper-case-path", "registry-in-image"],
)
def test_a_registry_that_cannot_name_images_is_refused_naming_its_key(tmp_path, hub, expected):
    from oersite.errors import ConfigError

    with pytest.raises(ConfigError) as refused:
        load_course(course_with(tmp_path, hub))
    assert expected in str(refused.value.message)


@pytest.mark.parametrize("registry", ["registry.example.edu/course", "localhost:5000", "docker.io/myorganisation"])
def test_registries_docker_accepts_are_accepted(tmp_path, registry):
    course = load_course(course_with(tmp_path, {"registry": registry}))
    assert course_images(course).kubernetes_notebook.startswith(f"{registry}/oersite-course-notebook:")


def test_the_data_image_is_the_data_folder_and_its_tag_changes_with_the_data(tmp_path):
    first = load_course(course_with(tmp_path / "a", data={"table.csv": "a,b\n1,2\n"}))
    same = load_course(course_with(tmp_path / "b", data={"table.csv": "a,b\n1,2\n"}))
    changed = load_course(course_with(tmp_path / "c", data={"table.csv": "a,b\n1,3\n"}))
    assert course_images(first).course_data == course_images(same).course_data  # the same in every checkout
    assert course_images(first).course_data != course_images(changed).course_data
    (first.data_dir / "__pycache__").mkdir()
    (first.data_dir / "__pycache__" / "x.pyc").write_bytes(b"\0")
    assert course_images(first).course_data == course_images(same).course_data
    dockerfile = bundle_files(first)[DATA_DOCKERFILE]
    assert "FROM ${BASE_IMAGE}" in dockerfile and "COPY . /course-data/" in dockerfile
    (copier,) = yaml.safe_load(bundle_files(first)[HELM_RELEASES["persistent"].values_file])["singleuser"][
        "initContainers"
    ]
    assert copier["command"] == ["cp", "-R", "/course-data/.", "/mnt/course-data/"]
    assert copier["securityContext"]["runAsNonRoot"] is True


def test_a_data_file_that_cannot_be_read_is_named_before_anything_is_written(tmp_path):

    from support.cli import oersite

    root = course_with(tmp_path, data={"table.csv": "a,b\n1,2\n"})
    (root / "data" / "gone.csv").symlink_to(tmp_path / "nowhere.csv")
    result = oersite("hub", "config", str(root))
    assert result.exit_code == 1
    assert "gone.csv: cannot be read for the data image (No such file or directory)" in result.output
    assert "Traceback" not in result.output and not (root / "hub").exists()


# The chart oersite ships.


@pytest.mark.slow  # needs ../shared, which CI keeps beside the repository
def test_the_chart_oersite_ships_is_the_charts_own():
    shared = SHARED_CHART / "chart"
    assert shared.is_dir(), f"{shared}: the chart is missing; CI keeps ../shared beside the repository"
    ours = {path.relative_to(CHART) for path in CHART.rglob("*") if path.is_file()}
    theirs = {path.relative_to(shared) for path in shared.rglob("*") if path.is_file()}
    # values.schema.yaml is what values.schema.json is made from; .helmignore leaves it out of the package.
    assert ours == theirs - {Path("values.schema.yaml")}
    for relative in sorted(ours):
        assert (CHART / relative).read_bytes() == (shared / relative).read_bytes(), relative
    assert (CHART.parent / "LICENSE").read_bytes() == (SHARED_CHART / "LICENSE").read_bytes()


# The hub the chart would start.


@pytest.fixture(scope="session")
def chart_hub_python() -> str:
    """A virtual environment with the chart's hub versions (made once, kept in the tests' cache)."""
    return hub_environment(CHART_HUB_PACKAGES)


@pytest.mark.slow
@pytest.mark.parametrize("kind", sorted(VALUES))
def test_the_charts_hub_constructs_kubespawner_and_the_authenticator_from_the_values(chart, kind, chart_hub_python):
    assert probe_chart_hubs([merged(chart, kind)], chart_hub_python) == [[]]
    # oersite hub check does the same, after Helm's engine and the API schemas.
    warnings = []
    assert check_helm_values([VALUES[kind]], chart_hub_python, warnings) == [[]]
    assert warnings == []


@pytest.mark.slow
def test_the_server_pod_the_charts_kubespawner_makes_is_valid_and_needs_nothing_uncreated(chart, chart_hub_python):
    """The pod only a cluster would otherwise see: made by KubeSpawner 7.0.0 from the values, never sent."""
    pods = []
    assert probe_chart_hubs([merged(chart, kind) for kind in sorted(VALUES)], chart_hub_python, pods) == [[], []]
    for (pod,) in pods:
        assert manifest_problems([{**pod, "_template": "KubeSpawner"}]) == []
        assert referenced_objects(pod["spec"]) == set()  # the data is an emptyDir the init container fills
        (copier,) = pod["spec"]["initContainers"]
        assert copier["image"].startswith("registry.example.org/data-analysis/oersite-course-data:data-")
        (server,) = pod["spec"]["containers"]
        assert {"name": "course-data", "mountPath": "/srv/course-data", "readOnly": True} in server["volumeMounts"]
        assert server["image"] == "registry.example.org/data-analysis/oersite-course-notebook:0.1.0-jupyterhub5.5.0"


@pytest.mark.slow
def test_each_values_file_of_one_check_is_probed_with_its_own_modules(chart, chart_hub_python):
    """oersite hub check probes both files in one process: the first one's oersite must not serve the second."""
    without_authenticator = merged(
        chart, "persistent", lambda v: v["hub"]["extraFiles"].pop("oersite-hub-authenticator.py")
    )
    first, second = probe_chart_hubs([merged(chart, "persistent"), without_authenticator], chart_hub_python)
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
def test_what_the_charts_hub_would_refuse_is_named(chart, change, expected, chart_hub_python):
    (problems,) = probe_chart_hubs([merged(chart, "persistent", change)], chart_hub_python)
    assert any(expected in problem for problem in problems), problems


@pytest.mark.slow
def test_a_python_without_kubespawner_is_named_with_what_to_install(chart, tmp_path):
    bare = tmp_path / "bare"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(bare)], check=True)
    (problems,) = probe_chart_hubs([merged(chart, "ephemeral")], str(bare / "bin" / "python"))
    assert problems == [
        "cannot check what the chart's hub would load: jupyterhub-kubespawner is not installed for "
        f"{bare / 'bin' / 'python'}; install the hub extra (pip install -e '.[hub]')"
    ]


# The warm pool on the chart (oersite.hub.ephemeral.pool).


@pytest.mark.slow
def test_a_pool_service_the_charts_hub_cannot_import_is_named(chart, chart_hub_python):
    def misspell(values):
        values["hub"]["services"]["oersite-pool"]["command"][2] = "oersite.hub.pools"

    (problems,) = probe_chart_hubs([merged(chart, "ephemeral", misspell)], chart_hub_python)
    assert problems == [
        "hub.services.oersite-pool.command: oersite.hub.pools is not in hub.extraFiles: "
        "the chart's hub image does not have it"
    ]


def test_the_charts_network_policies_open_the_pools_two_paths_to_this_release_only():
    """The service pulls through the proxy's public port; the proxy forwards the status to the service."""
    values = values_of("ephemeral")
    release = HELM_RELEASES["ephemeral"].name
    service = values["hub"]["services"]["oersite-pool"]
    status_port = int(service["url"].rsplit(":", 1)[1])

    def pods(component):
        return [{"podSelector": {"matchLabels": {"component": component, "release": release}}}]

    assert values["hub"]["service"]["extraPorts"] == [{"name": "pool-status", "port": status_port}]
    assert values["hub"]["networkPolicy"] == {
        "ingress": [{"from": pods("proxy"), "ports": [{"port": status_port, "protocol": "TCP"}]}],
        "egress": [{"to": pods("proxy"), "ports": [{"port": 8000, "protocol": "TCP"}]}],
    }
    assert values["proxy"]["chp"]["networkPolicy"]["egress"] == [
        {"to": pods("hub"), "ports": [{"port": status_port, "protocol": "TCP"}]}
    ]
    assert "networkPolicy" not in values_of("persistent")["hub"]


def test_the_pools_network_policy_selects_the_pods_the_chart_labels_in_that_release(installed):
    """The selectors match the labels the rendered proxy and hub pods carry, and no other release's."""
    ephemeral = installed["ephemeral"]["manifests"]
    labels = {
        m["metadata"]["name"]: m["spec"]["template"]["metadata"]["labels"]
        for m in ephemeral
        if m["kind"] == "Deployment"
    }
    (hub_policy,) = [m for m in ephemeral if m["kind"] == "NetworkPolicy" and m["metadata"]["name"] == "hub"]
    selectors = [
        peer["podSelector"]["matchLabels"]
        for rule in hub_policy["spec"]["egress"]
        for peer in rule.get("to", [])
        if "podSelector" in peer
    ]
    ours = [selector for selector in selectors if selector.get("release") == "ephemeral" and len(selector) == 2]
    assert ours and all(selector.items() <= labels["proxy"].items() for selector in ours)
    (persistent_proxy,) = [
        m["spec"]["template"]["metadata"]["labels"]
        for m in installed["persistent"]["manifests"]
        if m["kind"] == "Deployment" and m["metadata"]["name"] == "proxy"
    ]
    assert not any(selector.items() <= persistent_proxy.items() for selector in ours)


@pytest.mark.slow
def test_the_pool_service_starts_from_the_values_in_the_charts_hub_python(chart_hub_python, tmp_path):
    """Its command, environment and modules as the chart's hub pod would have them; the status answers."""
    import socket
    import time
    import urllib.request

    values = values_of("ephemeral")
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
