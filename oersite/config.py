"""Load ``_config.yml`` once, validate it, and hand out a typed ``Course``.

A course is a Jupyter Book 1 project: ``_config.yml`` and a ``_toc.yml``.
Jupyter Book's own keys are passed through untouched (so any existing book
builds unchanged); oersite's settings live in their own ``oersite:`` section,
described by the dataclasses below: each key's type, default and meaning in
one place.  Loading collects every problem with its key path and reports them
together, once; nothing downstream reads raw YAML.

Precedence, lowest first: the defaults below, ``_config.yml``, command-line
flags (flags that were not given are ``None`` and never override the file).
"""

from __future__ import annotations

import dataclasses
import difflib
import functools
import json
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml

from oersite import __version__
from oersite.build_layout import HUB_STATE_FOLDER
from oersite.datasets import Dataset, read_manifest
from oersite.errors import ConfigError
from oersite.hub import layout
from oersite.hub.settings import (
    HUB_PATH,
    EphemeralHubSettings,
    PersistentHubSettings,
    SignOnSettings,
    url_port,
    user_list_problems,
)
from oersite.licenses import License, license_of
from oersite.messages import shown
from oersite.schema import (
    BRANCH,
    GIT_SOURCE,
    HUB_URL,
    TextKind,
    documented,
    host_problem,
    hub_url_problem,
    load,
    one_of,
    web_address,
    web_address_problem,
)

CONFIG_FILE = "_config.yml"
#: Where a table of contents is looked for, in order: a plain Jupyter Book
#: keeps it beside ``_config.yml``; oersite's layout keeps pages in ``book/``.
TOC_CANDIDATES = ("_toc.yml", "book/_toc.yml")


def course_folder_problem(folder: str) -> str | None:
    """Why ``folder`` cannot name a folder of the course that generated files name too (.env), or None."""
    if re.search(r"['\"\\]", folder):
        return f"expected a folder name without quotes or backslashes, found {folder!r}"
    return None


COURSE_FOLDER = TextKind("folder of the course", course_folder_problem)


def _inside_problem(folder: str, expected: str) -> str | None:
    """A relative path that stays inside its folder, or why not."""
    if not folder or folder.startswith("/") or ".." in Path(folder).parts:
        return f"expected {expected}, found {folder!r}"
    return None


def _spdx_problem(spdx: str) -> str | None:
    from oersite.licenses import license_problem

    return license_problem(spdx)


def _hcrt_problem(kind: str) -> str | None:
    if kind in HCRT_TYPES:
        return None
    close = difflib.get_close_matches(kind, HCRT_TYPES, n=1)
    hint = f"did you mean {close[0]!r}?" if close else f"one of {', '.join(HCRT_TYPES)}"
    return f"{kind!r} is not an HCRT type; {hint}"


def _language_problem(tag: str) -> str | None:
    if re.fullmatch(r"[A-Za-z]{2,3}(-[A-Za-z0-9]{2,8})*", tag):
        return None
    return f"expected a BCP 47 tag such as en or fr-CA, found {tag!r}"


MANIFEST = TextKind("file in the data folder", lambda name: _inside_problem(name, "a file name in the data folder"))
SPDX = TextKind("SPDX licence identifier", _spdx_problem)
LANGUAGE = TextKind("language tag", _language_problem)
HCRT = TextKind("HCRT learning resource type", _hcrt_problem)


@dataclass(frozen=True)
class DataSettings:
    """Where the course's datasets are, so notebooks find them everywhere."""

    folder: str = documented(
        "Folder of the course's datasets, relative to the course root. Notebooks find it "
        "through the COURSE_DATA environment variable, which the build sets to this folder.",
        "data",
        kind=COURSE_FOLDER,
    )
    hub_path: str = documented(
        "Where the hubs mount that folder read-only; COURSE_DATA points there on a hub.",
        "/srv/course-data",
        kind=HUB_PATH,
    )
    manifest: str = documented(
        "The data manifest, relative to the data folder (so it travels with the data, onto the hubs too): "
        "a list of the datasets with file (or module), title, source, license (SPDX) and attribution. "
        "Pages credit the datasets their notebooks read; a data file without an entry is a build warning.",
        "datasets.yml",
        kind=MANIFEST,
    )


@dataclass(frozen=True)
class LicenseSettings:
    """The course's licence, shown on every page and given to the catalogues."""

    id: str | None = documented(
        "SPDX identifier of the licence of the course's pages and notebooks, e.g. CC-BY-4.0, CC-BY-SA-4.0, "
        "CC0-1.0 (https://spdx.org/licenses/). oersite publish refuses a course without one unless forced.",
        kind=SPDX,
        example="CC-BY-4.0",
    )
    attribution: str | None = documented(
        "Who to credit when the course is reused (an author or an institution); default: Jupyter Book's author.",
        example="Example University",
    )
    attribution_url: str | None = documented(
        "A web page of whom to credit, linked from the credit line.",
        kind=web_address("expected a web address (https://...)"),
        example="https://example.edu/",
    )


#: Learning resource types of the Higher Education Resource Types vocabulary (HCRT,
#: https://w3id.org/kim/hcrt/scheme), which OER catalogues such as OERSI expect.
HCRT_TYPES = {
    "application": "Software Application",
    "assessment": "Assessment",
    "case_study": "Case Study",
    "course": "Course",
    "data": "Data",
    "diagram": "Diagram",
    "drill_and_practice": "Drill and Practice",
    "image": "Image",
    "lesson_plan": "Lesson Plan",
    "map": "Map",
    "script": "Script",
    "simulation": "Simulation",
    "text": "Text",
    "textbook": "Textbook",
    "web_page": "Web Page",
    "worksheet": "Worksheet",
    "other": "Other",
}


#: Catalogues' vocabularies name their terms by URI (as web addresses).
URI = web_address("expected a URI (https://...)")


@dataclass(frozen=True)
class CatalogueSettings:
    """How the course describes itself to OER catalogues (JSON-LD on every page, the sitemap)."""

    description: str | None = documented(
        "One or two sentences on what the course teaches, for catalogues and previews; "
        "default: the first paragraph of the course's first page.",
        example="A first course in data analysis.",
    )
    language: str = documented(
        "The language of the course's pages, as a BCP 47 tag (en, de, fr-CA).", "en", kind=LANGUAGE
    )
    educational_level: tuple[str, ...] = documented(
        "Educational levels as URIs of a vocabulary catalogues know, e.g. "
        "https://w3id.org/kim/educationalLevel/level_06 (bachelor).",
        (),
        kind=URI,
        example=("https://w3id.org/kim/educationalLevel/level_06",),
    )
    subjects: tuple[str, ...] = documented(
        "What the course is about, as URIs of a subject vocabulary (the Hochschulfaechersystematik, Wikidata).",
        (),
        kind=URI,
        example=("http://www.wikidata.org/entity/Q1988917",),
    )
    keywords: tuple[str, ...] = documented("Free keywords for catalogue search.", (), example=("data analysis",))
    course_type: tuple[str, ...] = documented(
        f"HCRT learning resource types of the course as a whole ({', '.join(HCRT_TYPES)}).", ("course",), kind=HCRT
    )
    page_type: tuple[str, ...] = documented("HCRT learning resource types of each page.", ("text",), kind=HCRT)


@dataclass(frozen=True)
class ExecuteSettings:
    """How notebooks are executed (Jupyter Book's ``execute:`` section still applies)."""

    jobs: int = documented("Notebooks executed at once; 0 means one per CPU core.", 0)


@dataclass(frozen=True)
class LaunchSettings:
    """The "Open in hub" and "Try now" buttons on notebook pages."""

    enabled: bool | None = documented(
        "Show the launch buttons on notebook pages; by default on when this launch section exists, "
        "so a plain Jupyter Book gets no buttons pointing at hubs it does not have.",
    )
    hub_url: str = documented(
        "Base URL of the persistent course hub (single sign-on).", "http://127.0.0.1:8000", kind=HUB_URL
    )
    try_url: str = documented("Base URL of the ephemeral 'Try now' hub.", "http://127.0.0.1:8001", kind=HUB_URL)
    interface: str = documented(
        "What Open in hub opens the notebook in: 'lab' (JupyterLab) or 'classic' (the notebook on a page of its own).",
        "lab",
        kind=one_of("interface", ("lab", "classic")),
    )
    try_interface: str = documented(
        "What Try now opens the notebook in: 'classic' (the notebook on a page of its own, as tmpnb did: quicker "
        "to open, with a button over to JupyterLab) or 'lab' (JupyterLab).",
        "classic",
        kind=one_of("interface", ("lab", "classic")),
    )
    clone_folder: str = documented(
        "Folder in the student's home that nbgitpuller clones the course into.",
        "course",
        kind=TextKind("folder in the home", lambda name: _inside_problem(name, "a folder name inside the home folder")),
    )
    repository: str | None = documented(
        "Git repository the hubs pull notebooks from; defaults to Jupyter Book's repository.url. "
        "A relative path means a local repository relative to the course root.",
        kind=GIT_SOURCE,
        example="https://github.com/example/course",
    )
    branch: str | None = documented(
        "Branch to pull; defaults to Jupyter Book's repository.branch, else 'main'.", kind=BRANCH, example="main"
    )
    run_code: bool = documented(
        "Show the Run code button beside Try now: the page's code cells run in place on a Try-now server. "
        "Notebooks can turn it off in their metadata (oersite.launch.run_code: false).",
        True,
    )


def tiles_problem(template: str) -> str | None:
    """Why ``template`` cannot be a tile URL template, or None: a web address once its {z}, {x}, {y} (, {s}, {r})
    are filled in (it is written into every map's script as it is)."""
    problem = web_address_problem(re.sub(r"\{[a-z]\}", "0", template))
    problem = problem or not all(part in template for part in ("{z}", "{x}", "{y}"))
    return f"expected an http(s) URL template with {{z}}, {{x}} and {{y}}, found {template!r}" if problem else None


def map_credit_problem(credit: str) -> str | None:
    """Why ``credit`` cannot be a map's credit line, or None: HTML (a link, &copy;), in each map's script."""
    if re.search(r"<(/?script|!--)", credit, re.IGNORECASE):
        return f"expected the credit line as HTML without <script> or <!--, found {credit!r}"
    return None


@dataclass(frozen=True)
class MapSettings:
    """Folium maps in the built pages."""

    tiles: str | None = documented(
        "URL template of the tiles for every Folium map, e.g. https://tile.openstreetmap.org/{z}/{x}/{y}.png; "
        "unset keeps each notebook's own choice. Tiles are the one thing pages load from outside.",
        kind=TextKind("tile URL template", tiles_problem),
        example="https://tile.openstreetmap.org/{z}/{x}/{y}.png",
    )
    attribution: str | None = documented(
        "The credit line the tile provider requires (needed with tiles).",
        kind=TextKind("map credit", map_credit_problem),
        example='&copy; <a href="https://www.openstreetmap.org/copyright">OpenStreetMap</a> contributors',
    )


@dataclass(frozen=True)
class HubSettings:
    """The two hubs (oersite hub config, serve, check); their URLs are the launch section's."""

    image: str = documented(
        "Name and tag of the single-user image both hubs run, e.g. course-notebook:2026.1 (under the registry, "
        "when there is one); a new tag when its packages change, so every student's next server gets the new image.",
        f"oersite-course-notebook:{__version__}",
        kind=TextKind("image", lambda reference: _image_problem(reference, tag_required=True)),
    )
    registry: str | None = documented(
        "Where the course's images are pushed and pulled from: a registry's host, with its port and a path if "
        "it has them, e.g. registry.example.edu/course (docker.io/ORGANISATION for Docker Hub). Every image the "
        "bundle builds is named there, so a Kubernetes cluster can pull them; without one the images exist only "
        "on the server that builds them, which is enough for Docker.",
        kind=TextKind("registry", lambda registry: registry_problem(registry)),
        example="registry.example.edu/course",
    )
    base_image: str = documented(
        "Image every image of the hub bundle builds on (a Debian bookworm); a build argument, BASE_IMAGE, can "
        "replace it when building.",
        "debian:bookworm-slim",
        kind=TextKind("base image", lambda reference: _image_problem(reference, tag_required=False)),
    )
    packages: tuple[str, ...] = documented(
        "More Python packages for the single-user image, as pip requirements (e.g. 'tabulate==0.9.0'), "
        "installed on top of the pinned ones the site was built with.",
        (),
        kind=TextKind("pip requirement", lambda requirement: requirement_problem(requirement)),
        example=("tabulate==0.9.0",),
    )
    state_folder: str = documented(
        "Where oersite hub serve keeps homes, hub databases, logs and generated secrets, relative to the course.",
        HUB_STATE_FOLDER,
        kind=TextKind("folder of the course", lambda folder: _inside_problem(folder, "a folder inside the course")),
    )
    local_account: str = documented(
        "The account oersite hub serve runs every student's and visitor's server as when it is started as root "
        "(created as a system account if missing); servers never run as root.",
        "oersite-hub",
        kind=TextKind("system account", lambda name: _account_problem(name)),
    )
    users_file: str | None = documented(
        "htpasswd file of the Basic-auth users for oersite hub serve (the stand-in for single sign-on), relative "
        "to the course; default: users.htpasswd in the state folder, created with one user.",
        example="users.htpasswd",
    )
    sso: SignOnSettings = documented("How students sign in to the persistent hub.", SignOnSettings())
    persistent: PersistentHubSettings = documented("The persistent hub.", PersistentHubSettings())
    ephemeral: EphemeralHubSettings = documented("The ephemeral hub.", EphemeralHubSettings())

    def in_registry(self, image: str) -> str:
        """``image`` (name and tag) as it is pushed and pulled: under the registry, when there is one."""
        return f"{self.registry}/{image}" if self.registry else image


def _validate_hub(hub: HubSettings, errors: list[str]) -> None:
    errors += hub.sso.problems()
    errors += hub.persistent.problems()
    errors += user_list_problems(hub.persistent, hub.sso, "oersite.hub.persistent")
    errors += hub.ephemeral.problems()


def _account_problem(name: str) -> str | None:
    if not re.fullmatch(r"[a-z_][a-z0-9_-]{0,31}", name) or name == "root":
        return f"expected a system account name (not root), found {name!r}"
    return None


def _image_problem(reference: str, *, tag_required: bool) -> str | None:
    """Why ``reference`` cannot be an image of the bundle, or None; a registry belongs in oersite.hub.registry."""
    problem = image_reference_problem(reference, tag_required=tag_required)
    host = None if problem or not tag_required else registry_host(reference)
    if host:
        return (
            f"names the registry {host}; put the registry in oersite.hub.registry "
            f"and the image here without it, such as {reference.removeprefix(host + '/')}"
        )
    return problem


#: Docker's grammar for a tag (https://docs.docker.com/reference/cli/docker/image/tag/).
_DOCKER_TAG = r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}"


def image_reference_problem(reference: str, *, tag_required: bool) -> str | None:
    """Why ``reference`` cannot name an image of the bundle, or None.

    The single-user image needs a version tag: ``latest`` (or none) would let
    the hubs run whatever was built last, and an upgrade could not be told
    from the image before it.
    """

    example = "such as course-notebook:2026.1"
    if not reference or any(c.isspace() for c in reference):
        return f"expected an image name {example}, found {reference!r}"
    name, _, tag = reference.rpartition(":") if ":" in reference.rsplit("/", 1)[-1] else (reference, "", "")
    if not re.fullmatch(r"[a-z0-9]+([._/-][a-z0-9]+)*(:[0-9]+)?(/[a-z0-9]+([._-][a-z0-9]+)*)*", name):
        return f"expected an image name {example}, found {reference!r}"
    if tag and not re.fullmatch(_DOCKER_TAG, tag):
        return f"{tag!r} is not a Docker tag (letters, digits, _ . -, at most 128)"
    if tag_required and (not tag or tag == "latest"):
        return f"give the image a version tag ({example}), not {'latest' if tag else 'none'}: found {reference!r}"
    return None


_REGISTRY_HOST = r"[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?)*(:[0-9]+)?"
_REGISTRY_PATH = r"[a-z0-9]+([._-][a-z0-9]+)*"


def registry_host(reference: str) -> str | None:
    """The registry an image reference names, None when it names none (Docker's rule: the first part of
    the name holds a dot or a port, or is localhost; anything else is an account on Docker Hub)."""
    first, slash, _ = reference.partition("/")
    if slash and ("." in first or ":" in first or first == "localhost"):
        return first
    return None


def registry_problem(registry: str) -> str | None:
    """Why ``registry`` cannot be where the course's images are named, or None."""
    example = "such as registry.example.edu/course (docker.io/ORGANISATION for Docker Hub)"
    if "://" in registry:
        return f"expected a registry without a scheme, {example}, found {registry!r}"
    host, _, path = registry.partition("/")
    if registry_host(registry + "/image") is None or not re.fullmatch(_REGISTRY_HOST, host):
        return f"expected a registry's host (with a dot, a port, or localhost) first, {example}, found {registry!r}"
    if path and not re.fullmatch(rf"{_REGISTRY_PATH}(/{_REGISTRY_PATH})*", path):
        return f"expected a path of lower-case names after the host, {example}, found {registry!r}"
    return None


def requirement_problem(requirement: Any) -> str | None:
    """Why ``requirement`` is not a pip requirement such as 'tabulate==0.9.0', or None."""
    from packaging.requirements import InvalidRequirement, Requirement

    try:
        Requirement(str(requirement))
    except InvalidRequirement as problem:
        reason = str(problem).splitlines()[0]
        return f"expected a pip requirement such as 'tabulate==0.9.0', found {requirement!r} ({reason})"
    return None


@dataclass(frozen=True)
class PublishSettings:
    """Where ``oersite publish`` sends the built site; its --to-git, --to-dir, --branch flags win."""

    target: str | None = documented(
        "'git' (a commit on a branch of a git remote, as GitHub Pages serves) or 'dir' (a web server's "
        "document root, replaced atomically); default: whichever of remote and dir is set.",
        kind=one_of("publish target", ("git", "dir")),
        example="git",
    )
    remote: str | None = documented(
        "Git remote to publish to: a URL, or a path relative to the course (say, a bare repository).",
        kind=GIT_SOURCE,
        example="../site.git",
    )
    branch: str = documented(
        "Branch of the remote that holds the site; each publish adds a commit to it.", "gh-pages", kind=BRANCH
    )
    dir: str | None = documented(
        "Document root to publish to, relative to the course; the previous version is kept beside it "
        "for oersite publish --rollback.",
        example="../public",
    )
    cname: str | None = documented(
        "Custom domain for a CNAME file in the site (GitHub Pages), e.g. course.example.org.",
        kind=TextKind("domain name", lambda name: _domain_problem(name)),
        example="course.example.org",
    )


def _domain_problem(name: str) -> str | None:
    return f"expected a domain name such as course.example.org, found {name!r}" if host_problem(name) else None


def _validate_publish(publish: PublishSettings, errors: list[str]) -> None:
    """What no one key says: which target, and what it needs (each key's own rule is its kind)."""
    if publish.target == "git" and not publish.remote:
        errors.append("oersite.publish.remote: required with target: git")
    elif publish.target == "dir" and not publish.dir:
        errors.append("oersite.publish.dir: required with target: dir")
    elif publish.target is None and publish.remote and publish.dir:
        errors.append("oersite.publish.target: both remote and dir are set; say which to use: git or dir")


@dataclass(frozen=True)
class OersiteSettings:
    """The ``oersite:`` section of ``_config.yml``."""

    data: DataSettings = documented("Course datasets.", DataSettings())
    license: LicenseSettings = documented("The course's licence and whom to credit.", LicenseSettings())
    catalogue: CatalogueSettings = documented("What OER catalogues learn about the course.", CatalogueSettings())
    execute: ExecuteSettings = documented("Notebook execution.", ExecuteSettings())
    launch: LaunchSettings = documented("Launch buttons.", LaunchSettings())
    maps: MapSettings = documented("Folium maps.", MapSettings())
    hub: HubSettings = documented("The course hubs (oersite hub).", HubSettings())
    publish: PublishSettings = documented("Where oersite publish sends the site.", PublishSettings())


@dataclass(frozen=True)
class Execution:
    """Jupyter Book's ``execute:`` section, as the executor needs it."""

    mode: str
    timeout: int
    allow_errors: bool
    exclude_patterns: tuple[str, ...]
    run_in_temp: bool
    jobs: int


@dataclass(frozen=True)
class BookRepository:
    """Jupyter Book's ``repository`` section, as oersite uses it (the launch buttons' defaults)."""

    url: str | None = documented(
        "The course's git repository (Jupyter Book's repository button; the launch buttons pull from it).",
        kind=GIT_SOURCE,
        example="https://github.com/example/course",
    )
    branch: str | None = documented("Its branch.", kind=BRANCH, example="main")
    path_to_book: str = documented("The course folder inside the repository, empty at its root.", "", example="course")


@dataclass(frozen=True)
class BookHtml:
    """Jupyter Book's ``html`` section, as oersite uses it."""

    baseurl: str | None = documented(
        "Where the site is published (the sitemap's and the catalogue records' addresses).",
        kind=web_address("expected the address the site is published at, such as https://course.example.org/"),
        example="https://course.example.org/",
    )


@dataclass(frozen=True)
class BookSettings:
    """The keys of Jupyter Book's own that oersite reads; Jupyter Book's schema checks them all, this their text."""

    title: str | None = documented("The course's title; default: the course folder's name.", example="Data analysis")
    author: str | None = documented("Who wrote the course.", example="Ada Lovelace")
    html: BookHtml = documented("Jupyter Book's HTML settings.", BookHtml())
    repository: BookRepository = documented("Jupyter Book's repository settings.", BookRepository())


@dataclass(frozen=True)
class LaunchTarget:
    """What the launch buttons of a course point at: one source for the site and the hubs."""

    repository: str  # as nbgitpuller takes it: a URL, a local folder as file://
    branch: str
    clone_folder: str
    interface: str  # what Open in hub opens: "lab" or "classic" (oersite.launch.interface)
    try_interface: str  # what Try now opens (oersite.launch.try_interface)
    hub_url: str
    try_url: str
    path_in_repository: str  # the course folder inside the repository, "" at its root
    run_code: bool = True  # the Run code button beside Try now (oersite.launch.run_code)


@dataclass(frozen=True)
class Course:
    """Everything the pipeline needs to know about one course, validated."""

    root: Path
    config_path: Path
    toc_path: Path
    title: str  # Jupyter Book's title, else the folder's name
    author: str | None  # Jupyter Book's author
    base_url: str | None  # Jupyter Book's html.baseurl, where the site is published, ending in "/"
    repository: BookRepository
    thebe: bool  # Jupyter Book's "Live code" button (launch_buttons.thebe)
    launch: LaunchTarget | None  # None when the course has no launch buttons
    settings: OersiteSettings
    execution: Execution
    datasets: tuple[Dataset, ...]  # the data manifest's entries (oersite.datasets)

    @property
    def data_dir(self) -> Path:
        return self.root / self.settings.data.folder

    @property
    def manifest_path(self) -> Path:
        return self.data_dir / self.settings.data.manifest

    @property
    def license(self) -> License | None:
        """The course's licence, None when ``oersite.license.id`` is not set."""
        return license_of(self.settings.license.id) if self.settings.license.id else None

    @property
    def attribution(self) -> str:
        """Whom to credit: the licence's attribution, else Jupyter Book's author, else the title."""
        return self.settings.license.attribution or self.author or self.title

    def relative(self, path: Path) -> str:
        """A path as the user knows it: relative to the course root when inside it."""
        try:
            return path.resolve().relative_to(self.root).as_posix()
        except ValueError:
            return str(path)


def load_course(source: Path | str = ".", *, jobs: int | None = None) -> Course:
    """Read and validate the course at ``source``; raise ``ConfigError`` on any problem."""
    root = Path(source).resolve()
    config_path = root / CONFIG_FILE
    if not root.is_dir():
        raise ConfigError(f"{source}: no such folder; give the folder that holds {CONFIG_FILE}")
    if not config_path.is_file():
        raise ConfigError(
            f"{shown(config_path)}: not found; run oersite in the course folder or pass it: oersite build COURSE"
        )
    raw = read_yaml(config_path)
    errors: list[str] = []
    section = raw.pop("oersite", None)
    if section is None:
        section = {}
    settings = load(OersiteSettings, section, "oersite", errors)
    _validate_book(raw, errors)
    book = load(BookSettings, raw, "", errors, others_allowed=True)
    if settings.launch.enabled is None:
        launch_written = isinstance(section, dict) and "launch" in section
        settings = dataclasses.replace(settings, launch=dataclasses.replace(settings.launch, enabled=launch_written))
    execution = _execution(raw.get("execute") or {}, settings, jobs, errors)
    _validate_launch(settings.launch, errors)
    _validate_maps(settings.maps, errors)
    _validate_hub(settings.hub, errors)
    _validate_publish(settings.publish, errors)
    base_url = _base_url(book.html, errors)
    repository = dataclasses.replace(book.repository, path_to_book=book.repository.path_to_book.strip("/"))
    launch = _launch_target(settings.launch, repository, root, errors)
    data_dir = root / settings.data.folder
    manifest = data_dir / settings.data.manifest
    manifest_errors: list[str] = []
    datasets: tuple[Dataset, ...] = ()
    if not any(message.startswith("oersite.data.") for message in errors):  # else its path is not one to read
        datasets = read_manifest(manifest, data_dir, shown(manifest), manifest_errors)
    if errors or manifest_errors:
        where = shown(config_path)
        raise ConfigError("\n".join([*(f"{where}: {message}" for message in _first_per_key(errors)), *manifest_errors]))
    toc_path = _find_toc(root)
    launch_buttons = raw.get("launch_buttons") or {}
    return Course(
        root=root,
        config_path=config_path,
        toc_path=toc_path,
        title=book.title or root.name,
        author=(book.author or "").strip() or None,
        base_url=base_url,
        repository=repository,
        thebe=bool(launch_buttons.get("thebe")) if isinstance(launch_buttons, dict) else False,
        launch=launch,
        settings=settings,
        execution=execution,
        datasets=datasets,
    )


def _first_per_key(errors: list[str]) -> list[str]:
    """One line per key: the first thing found wrong with it (a refused value would trip later checks too)."""
    seen: set[str] = set()
    kept = []
    for message in errors:
        key = message.split(":", 1)[0].split("[", 1)[0]
        if key not in seen:
            seen.add(key)
            kept.append(message)
    return kept


def _base_url(html: BookHtml, errors: list[str]) -> str | None:
    """Jupyter Book's ``html.baseurl``, ending in "/"; one that is not an http(s) address is an error."""
    url = (html.baseurl or "").strip()
    if not url:
        return None
    parts = urlsplit(url)
    if web_address_problem(url) or parts.query or parts.fragment:
        errors.append(
            f"html.baseurl: expected the address the site is published at, such as "
            f"https://course.example.org/, found {url!r}"
        )
    return url.rstrip("/") + "/"


def _launch_target(
    launch: LaunchSettings, repository: BookRepository, root: Path, errors: list[str]
) -> LaunchTarget | None:
    """The course-wide launch settings, resolved once; None when the buttons are off."""
    if not launch.enabled:
        return None
    url = launch.repository or repository.url
    if not url:
        errors.append(
            "oersite.launch.repository: no repository for the launch buttons to pull from; set repository.url "
            "(or oersite.launch.repository), or turn the buttons off with oersite.launch.enabled: false"
        )
        return None
    return LaunchTarget(
        repository=resolve_repository(url, root),
        branch=launch.branch or repository.branch or "main",
        clone_folder=launch.clone_folder,
        interface=launch.interface,
        try_interface=launch.try_interface,
        hub_url=launch.hub_url,
        try_url=launch.try_url,
        path_in_repository=repository.path_to_book,
        run_code=launch.run_code,
    )


def is_remote_repository(source: str, base: Path) -> bool:
    """Whether ``source`` names a repository elsewhere, as git reads it: a URL or scp-like ``[user@]host:path``.

    Anything else is a folder, relative to ``base``; so is a ``host:path`` that is a folder there.
    The one rule for the launch buttons' repository and the publish remote.
    """
    return "://" in source or (":" in source.split("/")[0] and not (base / source).exists())


def resolve_repository(repository: str, root: Path) -> str:
    """A repository URL as nbgitpuller takes it; a local path (relative to the course) becomes a file:// URL."""
    if is_remote_repository(repository, root):
        return repository
    return (root / repository).resolve().as_uri()


def read_yaml(path: Path) -> dict[str, Any]:
    """A YAML mapping from ``path``; a syntax error is one line naming file and line."""
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{shown(path)}: not UTF-8 text ({exc.reason}); save it as UTF-8") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f", line {mark.line + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ConfigError(f"{shown(path)}{line}: not valid YAML ({problem}); fix the syntax there") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{shown(path)}: expected key: value pairs at the top, found {type(data).__name__}")
    return data


@functools.cache
def jupyter_book_defaults() -> dict[str, Any]:
    """Jupyter Book's own defaults (its ``default_config.yml``), so what it would do is never restated here."""
    import jupyter_book

    return yaml.safe_load((Path(jupyter_book.__file__).parent / "default_config.yml").read_text(encoding="utf-8"))


def _execution(section: Any, settings: OersiteSettings, jobs: int | None, errors: list[str]) -> Execution:
    """Read Jupyter Book's ``execute:`` section over Jupyter Book's defaults."""
    if not isinstance(section, dict):
        errors.append(f"execute: expected a section of key: value pairs, found {section!r}")
        section = {}
    defaults = jupyter_book_defaults()["execute"]
    mode = section.get("execute_notebooks", defaults["execute_notebooks"])
    if mode is False:  # YAML reads a bare `off` as false
        mode = "off"
    if mode not in ("auto", "force", "cache", "off", "inline"):
        errors.append(f"execute.execute_notebooks: expected one of auto, force, cache, off, inline; found {mode!r}")
    timeout = section.get("timeout", defaults["timeout"])
    if not isinstance(timeout, int) or isinstance(timeout, bool):
        errors.append(f"execute.timeout: expected a number of seconds, found {timeout!r}")
        timeout = defaults["timeout"]
    jobs = settings.execute.jobs if jobs is None else jobs
    if jobs < 0:
        errors.append(f"oersite.execute.jobs: expected 0 (one per core) or more, found {jobs}")
    return Execution(
        mode=str(mode),
        timeout=timeout,
        allow_errors=bool(section.get("allow_errors", defaults["allow_errors"])),
        exclude_patterns=tuple(section.get("exclude_patterns") or defaults["exclude_patterns"]),
        run_in_temp=bool(section.get("run_in_temp", defaults["run_in_temp"])),
        jobs=jobs if jobs > 0 else (os.cpu_count() or 1),
    )


def _validate_launch(launch: LaunchSettings, errors: list[str]) -> None:
    for key in ("hub_url", "try_url"):
        url = getattr(launch, key)
        if hub_url_problem(url):
            continue  # said already, by its kind
        port = url_port(url)  # Apache's public port: the bundle runs everything on the host's network
        if port in layout.internal_ports() or layout.in_server_range(port):
            errors.append(
                f"oersite.launch.{key}: port {port} is one the hub bundle uses on 127.0.0.1 "
                f"({', '.join(map(str, sorted(layout.internal_ports())))} and 20000-29999); choose another"
            )


def _validate_maps(maps: MapSettings, errors: list[str]) -> None:
    if maps.tiles is None:
        if maps.attribution is not None:
            errors.append("oersite.maps.attribution: given without oersite.maps.tiles; set both or neither")
        return
    if not maps.attribution:
        errors.append("oersite.maps.attribution: required with oersite.maps.tiles (tile providers require credit)")


def _validate_book(raw: dict[str, Any], errors: list[str]) -> None:
    """Check Jupyter Book's part against Jupyter Book's own JSON schema.

    With fastjsonschema: jsonschema, which Jupyter Book uses, takes a second to
    import (its format checkers build grammars), a second every build would pay.
    """
    import fastjsonschema
    import jupyter_book

    schema_path = Path(jupyter_book.__file__).parent / "config_schema.json"
    validate = fastjsonschema.compile(json.loads(schema_path.read_text(encoding="utf-8")))
    try:
        validate(raw)
    except fastjsonschema.JsonSchemaValueException as problem:
        key = ".".join(str(part) for part in problem.path[1:]) or "(top level)"
        errors.append(f"{key}: {problem.message.removeprefix(problem.name + ' ').strip()}")


def _find_toc(root: Path) -> Path:
    for candidate in TOC_CANDIDATES:
        if (root / candidate).is_file():
            return root / candidate
    raise ConfigError(
        f"{shown(root)}: no table of contents; create {' or '.join(TOC_CANDIDATES)} "
        "(jupyter-book toc from-project can make one)"
    )
