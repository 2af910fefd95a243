"""``oersite hub config``: write the deployable hub bundle (``hub/``) from ``_config.yml``.

Every file is a function of the Course, so nothing is typed twice: the
repository, branch, clone folder, interfaces and URLs are the launch buttons'
(the Course's launch target), the data path is ``oersite.data.hub_path``, limits and
timeouts are ``oersite.hub``.  The two ``jupyterhub_config.py`` files stay thin
(TLJH style): they read ``hub-settings.json`` and call
``oersite.hub.configurer``.  The single-user image pins what the site was built
with: the installed version of every library the course's notebooks import
and of every library oersite pins (so BokehJS on the hub is the BokehJS the
site ships).  Secrets go to ``.env`` (mode 0600, git-ignored), never into a
generated file.

The bundle is its own Docker build context.  A module per artefact:
``images`` (names, tags, Dockerfiles, the copies of oersite they are built
with), ``requirements`` (the single-user image's pins), ``compose`` (every
container on the host's network, see ``oersite.hub.layout``), ``chart`` and
``helm`` (Zero to JupyterHub), ``apache_config`` (Apache and the sign-on) and
``secret_files`` (``.env`` and Basic auth's users file); ``generated`` is what
they share.
"""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from oersite.config import Course
from oersite.files import write_atomically
from oersite.hub import notebook_server, sign_on
from oersite.hub.apache import OIDC_PASSPHRASE_VARIABLE, OIDC_SECRET_VARIABLE
from oersite.hub.bundle.apache_config import SAML_FOLDER, apache_httpd_conf, apache_sso_conf
from oersite.hub.bundle.chart import HELM_RELEASES
from oersite.hub.bundle.compose import compose_file
from oersite.hub.bundle.generated import GENERATED, PACKAGE
from oersite.hub.bundle.helm import ephemeral_values, persistent_values
from oersite.hub.bundle.images import (
    CA_README,
    DATA_DOCKERFILE,
    HUB_RUNTIME,
    HUB_RUNTIME_FOLDER,
    NOTEBOOK_JUPYTER_CONFIG,
    NOTEBOOK_JUPYTER_FOLDER,
    NOTEBOOK_RUNTIME,
    NOTEBOOK_RUNTIME_FOLDER,
    apache_dockerfile,
    build_commands,
    copy_notebook_libraries,
    course_images,
    data_dockerfile,
    hub_dockerfile,
    notebook_dockerfile,
)
from oersite.hub.bundle.requirements import extra_packages, image_requirements
from oersite.hub.bundle.secret_files import USERS_FILE, env_text, make_users_file, set_in_env
from oersite.hub.course_settings import hub_settings
from oersite.hub.settings import SETTINGS_FILE, HubBundleSettings, read_settings


@dataclass(frozen=True)
class BundleReport:
    folder: Path
    written: list[str]
    secrets_created: bool
    settings: HubBundleSettings
    build_commands: list[str]
    saml_metadata: Path | None = None  # the hub's SAML metadata, for the IdP (protocol saml)
    registry: str | None = None  # oersite.hub.registry: where the images are pushed for a cluster
    users_file_group_unset: Path | None = None  # Basic auth's users file, made here, whose group Apache needs


def bundle_files(course: Course) -> dict[str, str]:
    """Every generated file of the bundle: path inside ``hub/`` → text."""
    settings = hub_settings(course)
    images = course_images(course)
    files = {
        ".gitignore": "# Secrets, site-specific files, copies of oersite's modules and libraries: never committed.\n"
        f".env\ntls/\napache/users.htpasswd\n{SAML_FOLDER}/\n{HUB_RUNTIME_FOLDER}/\n{NOTEBOOK_RUNTIME_FOLDER}/\n",
        ".dockerignore": "# Never sent to the Docker engine when images build.\n"
        f".env\ntls/\napache/users.htpasswd\n{SAML_FOLDER}/\n",
        SETTINGS_FILE: settings.to_json(),
        "persistent/jupyterhub_config.py": _thin_config("persistent", "configure_persistent_docker"),
        "ephemeral/jupyterhub_config.py": _thin_config("ephemeral", "configure_ephemeral_docker"),
        "apache/httpd.conf": apache_httpd_conf(settings),
        "apache/sso.conf": apache_sso_conf(settings),
        "notebook-requirements.txt": image_requirements(course),
        "notebook-packages.txt": extra_packages(course),
        "notebook-jupyter-config.json": NOTEBOOK_JUPYTER_CONFIG,
        "notebook.Dockerfile": notebook_dockerfile(course),
        "hub.Dockerfile": hub_dockerfile(course),
        "apache.Dockerfile": apache_dockerfile(course),
        DATA_DOCKERFILE: data_dockerfile(course),
        "ca-certificates/README.md": CA_README,
        "docker-compose.yml": compose_file(course, settings, images),
        HELM_RELEASES["persistent"].values_file: persistent_values(settings, images),
        HELM_RELEASES["ephemeral"].values_file: ephemeral_values(settings, images),
    }
    for relative, text in notebook_server.jupyter_files().items():
        files[f"{NOTEBOOK_JUPYTER_FOLDER}/{relative}"] = text
    for relative in HUB_RUNTIME:
        files[f"{HUB_RUNTIME_FOLDER}/oersite/{relative}"] = (PACKAGE / relative).read_text(encoding="utf-8")
    for relative in NOTEBOOK_RUNTIME:
        files[f"{NOTEBOOK_RUNTIME_FOLDER}/oersite/{relative}"] = (PACKAGE / relative).read_text(encoding="utf-8")
    return files


def write_bundle(course: Course, folder: Path) -> BundleReport:
    """Write the bundle into ``folder``; create ``.env`` with fresh secrets when there is none.

    The sign-on's own files are made first, so a missing module program, an
    unreachable IdP or an unreadable client secret stops it before anything is written.
    """
    files = bundle_files(course)
    sso, saml_metadata = course.settings.hub.sso, None
    oidc_secret = sign_on.oidc_client_secret(sso, course.root) if sso.protocol == "oidc" else None
    if sso.protocol == "saml":
        public_url = hub_settings(course).persistent_url
        # oersite hub serve at the same address signs with the same key (sign_on.prepare_saml).
        hub_serve = course.root / course.settings.hub.state_folder / "apache" / "saml"
        saml_metadata = sign_on.prepare_saml(sso, course.root, folder / SAML_FOLDER, public_url, shared=hub_serve)
    for relative, text in files.items():
        write_atomically(folder / relative, text)
    copy_notebook_libraries(folder / NOTEBOOK_RUNTIME_FOLDER / "oersite" / "static" / "vendor")
    users_file_group_unset = None
    if not make_users_file(folder / USERS_FILE):  # with every protocol: hub/README.md's htpasswd lines then work
        users_file_group_unset = folder / USERS_FILE
    # Where the operator puts Apache's certificate and key (git-ignored; only root reads them).
    (folder / "tls").mkdir(mode=0o700, exist_ok=True)
    env = folder / ".env"
    created = not env.exists()
    if created:
        descriptor = os.open(env, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "w") as file:
            file.write(env_text(course))
    if oidc_secret is not None:
        set_in_env(env, {OIDC_SECRET_VARIABLE: oidc_secret}, keep={OIDC_PASSPHRASE_VARIABLE: secrets.token_hex(32)})
    settings = read_settings(folder / SETTINGS_FILE)
    images = course_images(course)
    commands = build_commands(images, folder, course.data_dir)
    return BundleReport(
        folder, sorted(files), created, settings, commands, saml_metadata, images.registry, users_file_group_unset
    )


def _thin_config(kind: str, function: str) -> str:
    return f'''"""The {kind} course hub.

{GENERATED}
"""

from pathlib import Path

from oersite.hub.configurer import {function}
from oersite.hub.settings import SETTINGS_FILE, read_settings

# hub-settings.json sits beside this file's folder, in the container and in the bundle.
here = Path(__file__).resolve().parent
settings_file = next(p for p in (here / SETTINGS_FILE, here.parent / SETTINGS_FILE) if p.exists())
{function}(c, read_settings(settings_file))  # noqa: F821 (JupyterHub provides c)
'''
