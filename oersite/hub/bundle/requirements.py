"""The single-user image's Python packages: the site build's versions of what the course's notebooks import, pinned."""

from __future__ import annotations

import ast
import functools
import importlib.metadata
import json
import re
import sys
from pathlib import Path

from oersite.config import Course
from oersite.course_files import course_files
from oersite.errors import HubError
from oersite.hub.bundle.generated import GENERATED
from oersite.toc import is_markdown_notebook

#: The single-user server's own stack, pinned to what runs here; jupyterhub comes from the build argument.
#: notebook (7) serves the classic interface (``oersite.launch.interface: classic``: /tree, /notebooks/…).
SERVER_PACKAGES = ("jupyterlab", "notebook", "nbgitpuller", "ipykernel", "jupytext")

#: The hub image: JupyterHub and what the configs use, pinned to what runs here.
HUB_PACKAGES = ("jupyterhub", "dockerspawner", "jupyterhub-idle-culler", "jupyterhub-tmpauthenticator")


def pins(names) -> list[str]:
    pins = []
    for name in names:
        try:
            pins.append(f"{_canonical(name)}=={importlib.metadata.version(name)}")
        except importlib.metadata.PackageNotFoundError:
            raise HubError(
                f"{name}: not installed where the site is built, so its version cannot be pinned; "
                "install it (pip install -e '.[hub]')"
            ) from None
    return pins


def _canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def image_requirements(course: Course) -> str:
    """requirements.txt of the single-user image: the site build's versions, pinned."""
    course_libraries = sorted({*notebook_distributions(course), *_oersite_pins()}, key=_canonical)
    lines = [
        "# The single-user image's Python packages, pinned to the versions that built the site,",
        "# so a plot made on the hub uses the BokehJS the site ships. " + GENERATED,
        "# The course's libraries (imported by its notebooks, or pinned in oersite's pyproject.toml):",
        *pins(course_libraries),
        "# The notebook server:",
        *pins(SERVER_PACKAGES),
    ]
    return "\n".join(lines) + "\n"


def _oersite_pins() -> list[str]:
    """The libraries oersite's pyproject.toml pins with == (the sample course's, such as bokeh)."""
    pinned = []
    for requirement in importlib.metadata.requires("oersite") or []:
        match = re.match(r"^([A-Za-z0-9_.-]+)==([^;\s]+)$", requirement.strip())
        if match:
            name, version = match.groups()
            installed = importlib.metadata.version(name)
            if installed != version:
                raise HubError(
                    f"pyproject.toml pins {name}=={version} but {installed} is installed; "
                    "reinstall (pip install -e .) so the hub image and the site agree"
                )
            pinned.append(name)
    return pinned


def notebook_distributions(course: Course) -> list[str]:
    """The distributions that provide the modules the course's notebooks import.

    Modules of the course itself (``course_data.py`` beside the notebooks) and
    the standard library are not distributions; an import nothing provides
    here is an error, since its version cannot be pinned.
    """
    files = [path for path in course_files(course.root) if path.suffix in (".py", ".ipynb", ".md")]
    local = {path.stem for path in files if path.suffix == ".py"}
    local |= {path.parent.name for path in files if path.name == "__init__.py"}
    providers = _providers()
    found: set[str] = set()
    notebooks = [
        path for path in files if path.suffix == ".ipynb" or path.suffix == ".md" and is_markdown_notebook(path)
    ]
    for notebook in sorted(notebooks):
        for module in sorted(_imported_modules(notebook)):
            if module in sys.stdlib_module_names or module in local or module == "__future__":
                continue
            if module not in providers:
                raise HubError(
                    f"{course.relative(notebook)}: imports {module}, which is not installed where the site is "
                    "built; install it so the hub image can pin its version"
                )
            found.add(providers[module][0])
    return sorted(found)


@functools.cache
def _providers() -> dict[str, list[str]]:
    """Which distributions provide each importable module: half a second to read, once per process."""
    return importlib.metadata.packages_distributions()


def _imported_modules(notebook: Path) -> set[str]:
    if notebook.suffix == ".md":  # a MyST Markdown notebook, read as the build reads it
        from myst_nb.core.read import read_myst_markdown_notebook

        cells = read_myst_markdown_notebook(notebook.read_text(encoding="utf-8")).cells
    else:
        cells = json.loads(notebook.read_text(encoding="utf-8")).get("cells", [])
    modules: set[str] = set()
    for cell in cells:
        if cell.get("cell_type") != "code":
            continue
        source = "".join(cell.get("source", []))
        source = "\n".join(line for line in source.splitlines() if not line.lstrip().startswith(("%", "!")))
        try:
            tree = ast.parse(source)
        except SyntaxError:
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                modules |= {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                modules.add(node.module.split(".")[0])
    return modules


def extra_packages(course: Course) -> str:
    lines = [
        "# More packages for the single-user image (oersite.hub.packages), installed within the pins",
        "# of notebook-requirements.txt. " + GENERATED,
        *course.settings.hub.packages,
    ]
    return "\n".join(lines) + "\n"
