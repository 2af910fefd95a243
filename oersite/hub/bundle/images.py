"""The bundle's images: their names and tags, their Dockerfiles, the copies of oersite they are built with.

Every image builds from ``hub/`` alone, on any Debian bookworm base (build
argument ``BASE_IMAGE``), trusting the certificate authorities an operator puts
in ``hub/ca-certificates/``; the hub image gets oersite's hub modules from a
copy written into ``hub/oersite-hub/``, the single-user image
``oersite.hub.notebook_server`` and the site's browser libraries from
``hub/oersite-notebook/``.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
import shutil
from dataclasses import dataclass
from pathlib import Path

from oersite import __version__
from oersite.config import Course
from oersite.course_files import course_files
from oersite.errors import HubError
from oersite.hub import layout, notebook_server
from oersite.hub.bundle.chart import CHART_JUPYTERHUB, CHART_VERSION
from oersite.hub.bundle.generated import GENERATED
from oersite.hub.bundle.requirements import HUB_PACKAGES, pins
from oersite.hub.installed import PROXY_VERSION
from oersite.hub.settings import NEWS_PLUGIN, SIGN_ON_MODULES
from oersite.messages import shown

#: The images the bundle builds besides the single-user one, tagged with the oersite that wrote them.
HUB_IMAGE = f"oersite-hub:{__version__}"
APACHE_IMAGE = f"oersite-apache:{__version__}"

#: The course's data for the chart's servers: an image of the data folder, tagged by its content.
DATA_IMAGE = "oersite-course-data"
DATA_DOCKERFILE = "course-data.Dockerfile"

#: Where the data image holds the files, and where its init container copies them to.
DATA_IMAGE_DIR = "/course-data"
DATA_COPY_DIR = "/mnt/course-data"

#: oersite's files that run inside a hub, relative to the oersite package.
HUB_RUNTIME = (
    "__init__.py",
    "schema.py",
    "hub/__init__.py",
    "hub/layout.py",
    "hub/settings.py",
    "hub/configurer.py",
    "hub/authenticator.py",
    "hub/pool.py",
    "hub/spawner.py",
    "hub/templates/429.html",
)

#: Where the bundle's own copy of HUB_RUNTIME goes (the hub image's build context).
HUB_RUNTIME_FOLDER = "oersite-hub"

#: oersite's files that run inside each student's server and kernel (oersite.hub.notebook_server).
NOTEBOOK_RUNTIME = ("__init__.py", "hub/__init__.py", "hub/notebook_server.py")

#: Where they go in the single-user image (on its Python's path through a .pth file).
NOTEBOOK_RUNTIME_DIR = "/opt/oersite-notebook"

#: Where the bundle copies them, with the site's browser libraries (static/vendor) beside them:
#: git-ignored like HUB_RUNTIME_FOLDER (the libraries are built by npm, never committed).
NOTEBOOK_RUNTIME_FOLDER = "oersite-notebook"

#: The Jupyter files of the single-user image (kernel spec, server extension, JupyterLab's
#: defaults), laid out as below its Python's prefix.
NOTEBOOK_JUPYTER_FOLDER = "notebook-jupyter"


@dataclass(frozen=True)
class CourseImages:
    """Every image of the bundle as it is built, pushed and pulled: under ``oersite.hub.registry`` when set."""

    registry: str | None
    notebook: str  # the single-user image of the Docker hubs
    hub: str
    apache: str
    kubernetes_notebook: str  # the same image with the JupyterHub of the chart's hub
    course_data: str  # the data folder, for the chart's servers


def course_images(course: Course) -> CourseImages:
    hub = course.settings.hub
    notebook = hub.in_registry(hub.image)
    return CourseImages(
        registry=hub.registry,
        notebook=notebook,
        hub=hub.in_registry(HUB_IMAGE),
        apache=hub.in_registry(APACHE_IMAGE),
        kubernetes_notebook=f"{notebook}-jupyterhub{CHART_JUPYTERHUB}",
        course_data=hub.in_registry(f"{DATA_IMAGE}:{data_tag(course.data_dir)}"),
    )


def data_tag(folder: Path) -> str:
    """A tag for the data image that changes when the data does: a digest of every file's path and bytes.

    Folders that are not data (``__pycache__``, checkpoints) and hidden files are left out, so
    the tag is the same in every checkout of the course.
    """
    digest = hashlib.sha256()
    if folder.is_dir():
        for path in sorted(course_files(folder)):
            relative = path.relative_to(folder).as_posix()
            digest.update(relative.encode() + b"\0")
            try:
                with path.open("rb") as file:
                    digest.update(hashlib.file_digest(file, "sha256").digest())
            except OSError as error:
                raise HubError(
                    f"{shown(folder)}/{relative}: cannot be read for the data image ({error.strerror}); "
                    "make it readable or move it out of the data folder"
                ) from None
    return f"data-{digest.hexdigest()[:16]}"


def build_commands(images: CourseImages, folder: Path, data_folder: Path) -> list[str]:
    """What an operator runs to build the images of this bundle, and to push them when there is a registry.

    Docker needs the first line only; Zero to JupyterHub also the single-user
    image with the chart's JupyterHub and the data image, pushed where the
    cluster pulls from (``oersite.hub.registry``).
    """
    compose = f"docker-compose -f {shown(folder / 'docker-compose.yml')}"
    chart = f"for Zero to JupyterHub {CHART_VERSION}"
    commands = [
        f"{compose} --profile build build   # {images.hub}, {images.apache}, {images.notebook}",
        f"docker build --network host -f {shown(folder / 'notebook.Dockerfile')} "
        f"--build-arg JUPYTERHUB_VERSION={CHART_JUPYTERHUB} -t {images.kubernetes_notebook} {shown(folder)}"
        f"   # {chart}",
        f"docker build --network host -f {shown(folder / DATA_DOCKERFILE)} -t {images.course_data} "
        f"{shown(data_folder)}   # the course data, {chart}",
    ]
    if images.registry:
        commands += [f"docker push {images.kubernetes_notebook}", f"docker push {images.course_data}"]
    return commands


def copy_notebook_libraries(target: Path) -> None:
    """The site's browser libraries, for the single-user image to serve (as the site ships them)."""
    source = notebook_server.VENDOR_DIR
    if not (source / "leaflet").is_dir():
        raise HubError(
            f"{source} is missing: oersite was installed without its browser libraries; "
            "reinstall it with: pip install -e . (needs npm)"
        )
    if target.exists():
        shutil.rmtree(target)
    # axe-core is oersite check's, not a page's: students' servers have no use for it.
    shutil.copytree(source, target, ignore=lambda folder, names: ["axe-core"] if Path(folder) == source else [])


#: The single-user server's configuration in the image.  Every container shares the server's
#: network: over TCP a kernel's output socket (ZeroMQ, unencrypted) on 127.0.0.1 would be open
#: to every other student's code; over IPC its sockets are files in the container's own home.
NOTEBOOK_JUPYTER_CONFIG = json.dumps({"KernelManager": {"transport": "ipc"}}, indent=2) + "\n"

CA_README = """# Extra certificate authorities

Put the certificate of any authority your network's HTTPS needs here, as a PEM file whose
name ends in `.crt` (a corporate proxy's, or the one that signs a local package mirror).
Every image of the bundle trusts it while it builds (apt, pip, npm) and while it runs (git,
pip and Python in students' servers), through Debian's `update-ca-certificates`.
With none here, the images trust Debian's usual authorities only.
"""


def _debian_prologue(course: Course, packages: str) -> str:
    """The start every image shares: a Debian base from the build argument, its packages, the extra authorities."""
    return f"""ARG BASE_IMAGE={course.settings.hub.base_image}
FROM ${{BASE_IMAGE}}

ENV DEBIAN_FRONTEND=noninteractive
RUN apt-get update \\
 && apt-get install -y --no-install-recommends ca-certificates {packages} \\
 && rm -rf /var/lib/apt/lists/*
# The operator's extra certificate authorities (see ca-certificates/README.md).
COPY ca-certificates/ /usr/local/share/ca-certificates/oersite/
RUN update-ca-certificates
"""


#: A Python environment on Debian's python3 (whose own site-packages pip may not touch).
_VENV = f"""ENV VIRTUAL_ENV={layout.VENV} \\
    PATH={layout.VENV}/bin:$PATH \\
    PIP_CERT=/etc/ssl/certs/ca-certificates.crt \\
    PIP_NO_CACHE_DIR=1 \\
    PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python3 -m venv {layout.VENV}
"""


def notebook_dockerfile(course: Course) -> str:
    jupyterhub = importlib.metadata.version("jupyterhub")
    return f"""# The single-user image both hubs run. {GENERATED}
# Build (from the course folder): docker-compose -f hub/docker-compose.yml --profile build build
{_debian_prologue(course, "git python3 python3-venv tini")}{_VENV}RUN useradd --create-home --shell /bin/bash \\
    --uid {layout.IMAGE_UID} --gid {layout.IMAGE_GID} jovyan

# The single-user server must match the hub it meets: JupyterHub {jupyterhub} in this bundle's hub image;
# --build-arg JUPYTERHUB_VERSION={CHART_JUPYTERHUB} for the hub of Zero to JupyterHub {CHART_VERSION}.
ARG JUPYTERHUB_VERSION={jupyterhub}
COPY notebook-requirements.txt {layout.VENV}/requirements.txt
RUN pip install -r {layout.VENV}/requirements.txt "jupyterhub==${{JUPYTERHUB_VERSION}}" \\
 && jupyter labextension disable --level=sys_prefix "{NEWS_PLUGIN}"
# The course's extra packages, in a layer of their own: adding one rebuilds in seconds.
COPY notebook-packages.txt {layout.VENV}/packages.txt
RUN pip install -r {layout.VENV}/packages.txt -c {layout.VENV}/requirements.txt
# Kernels talk to their server over Unix sockets in the container, not TCP on the shared network
# (the server's main config file: jupyter_server_config.d holds only which extensions are on).
COPY notebook-jupyter-config.json {layout.VENV}/etc/jupyter/jupyter_server_config.json
# Maps draw with no CDN (oersite.hub.notebook_server): every server serves the site's browser
# libraries at /user/<name>/{notebook_server.LIBRARIES_ROUTE}/, and every kernel points Folium at them;
# MyST Markdown notebooks open as notebooks (jupytext).
COPY {NOTEBOOK_RUNTIME_FOLDER}/ {NOTEBOOK_RUNTIME_DIR}/
RUN echo {NOTEBOOK_RUNTIME_DIR} \\
    > "$(python -c 'import sysconfig; print(sysconfig.get_path("purelib"))')/oersite-notebook.pth"
COPY {NOTEBOOK_JUPYTER_FOLDER}/ {layout.VENV}/

USER {layout.IMAGE_UID}:{layout.IMAGE_GID}
WORKDIR {layout.IMAGE_HOME}
ENV HOME={layout.IMAGE_HOME} SHELL=/bin/bash
ENTRYPOINT ["tini", "--"]
CMD ["jupyterhub-singleuser"]
"""


def hub_dockerfile(course: Course) -> str:
    return f"""# The hub image: JupyterHub with DockerSpawner, the idle culler, tmpauthenticator, oersite's hub
# modules, and configurable-http-proxy (the proxy services run this image too). {GENERATED}
# The hub writes its database with umask 077: private to the hub, as its cookie secret is.
{_debian_prologue(course, "python3 python3-venv")}RUN apt-get update \\
 && apt-get install -y --no-install-recommends nodejs npm \\
 && NODE_EXTRA_CA_CERTS=/etc/ssl/certs/ca-certificates.crt \\
    npm install --global --no-audit --no-fund configurable-http-proxy@{PROXY_VERSION} \\
 && npm cache clean --force \\
 && apt-get purge -y npm && apt-get autoremove -y --purge \\
 && rm -rf /var/lib/apt/lists/*
{_VENV}RUN pip install {" ".join(pins(HUB_PACKAGES))}
COPY {HUB_RUNTIME_FOLDER}/ {layout.HUB_PACKAGE_DIR}/
ENV PYTHONPATH={layout.HUB_PACKAGE_DIR}
WORKDIR /srv/jupyterhub
CMD ["sh", "-c", "umask 077 && exec jupyterhub -f {layout.HUB_CONFIG}"]
"""


def data_dockerfile(course: Course) -> str:
    return f"""# The course's data folder ({course.settings.data.folder}) as an image, for Zero to JupyterHub: an init
# container of every server copies it to where the server finds it ({course.settings.data.hub_path}).
# {GENERATED}
# Build from the course folder, with the data folder as the context (see oersite hub config's output):
#   docker build --network host -f hub/{DATA_DOCKERFILE} -t IMAGE {course.settings.data.folder}
ARG BASE_IMAGE={course.settings.hub.base_image}
FROM ${{BASE_IMAGE}}
COPY . {DATA_IMAGE_DIR}/
"""


def apache_dockerfile(course: Course) -> str:
    sso = course.settings.hub.sso
    module_package = "" if sso.protocol == "basic" else f" {SIGN_ON_MODULES[sso.protocol][1]}"
    return f"""# The single-sign-on proxy in front of both hubs: Debian's Apache httpd{
        "" if sso.protocol == "basic" else f" with {module_package.strip()} ({sso.protocol})"
    }. {GENERATED}
{_debian_prologue(course, "apache2" + module_package)}RUN mkdir -p {layout.APACHE_RUNTIME_DIR}
CMD ["apache2", "-d", "{layout.APACHE_SERVER_ROOT}", "-f", "{layout.APACHE_DIR}/httpd.conf", "-DFOREGROUND"]
"""
