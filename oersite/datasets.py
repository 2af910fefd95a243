"""The course's data manifest: for every dataset, what it is, where it comes from, and its licence.

One file, ``datasets.yml`` in the course's data folder (``oersite.data.manifest``), which
therefore travels with the data: into the build, into the hubs' read-only data mount, and
onto the pages, where a notebook that reads a dataset credits it under the dataset's own
licence. It is read and validated once, with ``_config.yml`` (``oersite.config.load_course``).

An entry names either a ``file`` of the data folder or a Python ``module`` the notebooks
import their data from (``bokeh.sampledata.penguins``): data the course uses but does not copy.

    - file: airports.csv
      title: US airports
      source: https://ourairports.com/data/
      license: CC-PDM-1.0
      attribution: OurAirports contributors
"""

from __future__ import annotations

import posixpath
import re
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from oersite.course_files import is_the_courses
from oersite.licenses import License, license_of, license_problem

#: Files of the data folder that are about the data, not data: the manifest, a README, the
#: scripts that make the files. Hidden files are never data either.
NOT_DATA_SUFFIXES = (".py", ".md", ".txt", ".rst", ".ipynb")
_KEYS = ("file", "module", "title", "source", "license", "attribution")


@dataclass(frozen=True)
class Dataset:
    """One manifest entry, validated."""

    title: str
    source: str  # where it comes from: a URL, or a citation
    license: License
    attribution: str  # who to credit; the source when the entry names no one
    file: str | None = None  # relative to the data folder
    module: str | None = None  # a Python module notebooks import the data from

    @property
    def name(self) -> str:
        """What a notebook's code names to read it: the file's name, or the module."""
        return Path(self.file).name if self.file else str(self.module)


def read_manifest(path: Path, data_dir: Path, shown_path: str, errors: list[str]) -> tuple[Dataset, ...]:
    """The manifest's entries; each problem is appended to ``errors`` as "<file>: entry N (key): ..."."""
    import yaml

    if not path.is_file():
        return ()
    try:
        entries = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f", line {mark.line + 1}" if mark is not None else ""
        errors.append(f"{shown_path}{line}: not valid YAML ({getattr(exc, 'problem', exc)}); fix the syntax there")
        return ()
    if entries is None:
        return ()
    if not isinstance(entries, list):
        errors.append(f"{shown_path}: expected a list of datasets (- file: ..., title: ..., license: ...)")
        return ()
    datasets = []
    for number, entry in enumerate(entries, start=1):
        dataset = _dataset(entry, data_dir, f"{shown_path}: dataset {number}", errors)
        if dataset is not None:
            datasets.append(dataset)
    names = [dataset.file or dataset.module for dataset in datasets]
    for name in sorted({name for name in names if names.count(name) > 1}):
        errors.append(f"{shown_path}: {name} is listed more than once; keep one entry")
    return tuple(datasets)


def _dataset(entry: Any, data_dir: Path, where: str, errors: list[str]) -> Dataset | None:
    if not isinstance(entry, dict):
        errors.append(f"{where}: expected keys {', '.join(_KEYS)}, found {entry!r}")
        return None
    before = len(errors)
    for key in entry:
        if key not in _KEYS:
            errors.append(f"{where}: unknown key {key!r}; known keys: {', '.join(_KEYS)}")
    values = {key: entry.get(key) for key in _KEYS}
    for key, value in values.items():
        if value is not None and (not isinstance(value, str) or not value.strip()):
            errors.append(f"{where} ({key}): expected text, found {value!r}")
    if before != len(errors):
        return None
    file, module = values["file"], values["module"]
    label = file or module or "?"
    if bool(file) == bool(module):
        errors.append(f"{where}: give either file (in the data folder) or module (a Python module it comes from)")
    elif file and (file.startswith("/") or ".." in Path(file).parts or not (data_dir / file).is_file()):
        errors.append(f"{where} (file): {file} is not a file in {data_dir.name}/; give its path in that folder")
    elif module and not re.fullmatch(r"[A-Za-z_]\w*(\.[A-Za-z_]\w*)*", module):
        errors.append(f"{where} (module): expected a module name such as bokeh.sampledata.penguins, found {module!r}")
    for key in ("title", "source", "license"):
        if not values[key]:
            errors.append(f"{where} ({label}): {key} is missing; every dataset needs a title, source and license")
    problem = license_problem(values["license"]) if values["license"] else None
    if problem:
        errors.append(f"{where} ({label}) license: {problem}")
    if before != len(errors):
        return None
    if file:  # as the folder lists it: ./x.csv and a/../x.csv are x.csv
        file = PurePosixPath(posixpath.normpath(file)).as_posix()
    return Dataset(
        title=values["title"].strip(),
        source=values["source"].strip(),
        license=license_of(values["license"]),
        attribution=(values["attribution"] or values["source"]).strip(),
        file=file,
        module=module,
    )


def data_files_without_entry(data_dir: Path, manifest: Path, datasets: tuple[Dataset, ...]) -> list[str]:
    """Files of the data folder the manifest does not list (paths relative to the folder)."""
    if not data_dir.is_dir():
        return []
    listed = {dataset.file for dataset in datasets if dataset.file}
    unlisted = []
    for path in sorted(data_dir.rglob("*")):
        relative = path.relative_to(data_dir)
        if (
            not path.is_file()
            or path == manifest
            or not all(is_the_courses(part) for part in relative.parts)
            or path.suffix.lower() in NOT_DATA_SUFFIXES
            or path.stem.upper() in ("README", "LICENSE", "LICENCE")
        ):
            continue
        if relative.as_posix() not in listed:
            unlisted.append(relative.as_posix())
    return unlisted


def datasets_read_by(code: str, datasets: tuple[Dataset, ...]) -> list[Dataset]:
    """The datasets a notebook's code names: a file by its name, a module by its import path.

    The same rule as the executor's cache key (``oersite.execute.cache_key``): code that
    names ``airports.csv`` reads it. Modules are matched as whole dotted names, so
    ``bokeh.sampledata.stocks`` does not match ``bokeh.sampledata.stocks_extra``, and in
    ``from bokeh.sampledata import stocks`` too.
    """
    found = []
    for dataset in datasets:
        if dataset.file and dataset.name in code:
            found.append(dataset)
        elif dataset.module and _imports(code, dataset.module):
            found.append(dataset)
    return found


def _imports(code: str, module: str) -> bool:
    if re.search(rf"(?<![\w.]){re.escape(module)}(?!\w)", code):
        return True
    package, _, name = module.rpartition(".")
    return bool(package) and bool(
        re.search(rf"^\s*from\s+{re.escape(package)}\s+import\s+\(?[^\n]*(?<![\w.]){re.escape(name)}(?!\w)", code, re.M)
    )
