"""Small real courses made on disk for tests (the way nbgitpuller's tests make real repos)."""

from __future__ import annotations

import hashlib
from pathlib import Path

import nbformat
import yaml

KERNELSPEC = {"name": "python3", "display_name": "Python 3", "language": "python"}


def write_notebook(path: Path, *cells: str | tuple[str, list[str] | dict], title: str = "A notebook") -> Path:
    """A notebook with a title cell and the given code cells (source, (source, tags) or (source, metadata))."""
    notebook = nbformat.v4.new_notebook(metadata={"kernelspec": KERNELSPEC})
    notebook.cells.append(nbformat.v4.new_markdown_cell(f"# {title}"))
    for cell in cells:
        source, tags = cell if isinstance(cell, tuple) else (cell, [])
        metadata = tags if isinstance(tags, dict) else {"tags": tags} if tags else {}
        notebook.cells.append(nbformat.v4.new_code_cell(source, metadata=metadata))
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(notebook, path)
    return path


MYST_FRONT_MATTER = """---
jupytext:
  text_representation:
    extension: .md
    format_name: myst
kernelspec:
  display_name: Python 3
  language: python
  name: python3
---
"""


def write_myst_notebook(path: Path, *cells: str | tuple[str, list[str] | dict], title: str = "A notebook") -> Path:
    """A MyST Markdown notebook (jupytext's ``myst`` format): front matter, a title, ``{code-cell}`` blocks.

    A cell is its source, (source, tags) or (source, metadata), metadata written as the cell's options.
    """
    parts = [MYST_FRONT_MATTER, f"# {title}\n"]
    for cell in cells:
        source, tags = cell if isinstance(cell, tuple) else (cell, [])
        if isinstance(tags, dict):
            options = "".join(f":{key}: {value}\n" for key, value in tags.items())
        else:
            options = f":tags: [{', '.join(tags)}]\n" if tags else ""
        parts.append(f"```{{code-cell}} ipython3\n{options}{source}\n```\n")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(parts), encoding="utf-8")
    return path


def make_course(
    root: Path,
    notebooks: dict[str, list] | None = None,
    *,
    config: dict | None = None,
    extra_chapters: list[str] = (),
) -> Path:
    """A Jupyter Book course: intro page, the notebooks in toc order, _config.yml."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "intro.md").write_text("# Welcome\n\nAn introduction.\n")
    notebooks = notebooks if notebooks is not None else {"lessons/first.ipynb": ["print('hello')"]}
    for relative, cells in notebooks.items():
        write = write_myst_notebook if relative.endswith(".md") else write_notebook
        write(root / relative, *cells, title=Path(relative).stem.replace("_", " ").title())
    chapters = [{"file": Path(rel).with_suffix("").as_posix()} for rel in notebooks] + [
        {"file": name} for name in extra_chapters
    ]
    (root / "_toc.yml").write_text(yaml.safe_dump({"format": "jb-book", "root": "intro", "chapters": chapters}))
    settings = {
        "title": "Test course",
        "author": "Tests",
        "only_build_toc_files": True,
        "execute": {"execute_notebooks": "cache", "timeout": 60},
    }
    for key, value in (config or {}).items():
        settings[key] = value
    # An OER names its licence (oersite publish refuses one that does not) and the address it is
    # published at (the sitemap's; a build warns without one); a test that means a course without
    # them says so with license: None, baseurl: None.
    oersite = settings["oersite"] = settings.get("oersite") or {}
    if isinstance(oersite, dict):
        if oersite.get("license", ...) is None:
            oersite.pop("license")
        else:
            oersite.setdefault("license", {"id": "CC-BY-4.0"})
    html = settings["html"] = settings.get("html") or {}
    if isinstance(html, dict):
        if html.get("baseurl", ...) is None:
            html.pop("baseurl")
        else:
            html.setdefault("baseurl", "https://course.example.org/")
    (root / "_config.yml").write_text(yaml.safe_dump(settings, sort_keys=False))
    return root


def tree_digest(root: Path, *, ignore: str = "_build") -> dict[str, str]:
    """Every file outside ``ignore`` with a digest of its bytes: to prove nothing was touched."""
    return {
        path.relative_to(root).as_posix(): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(root.rglob("*"))
        if path.is_file() and ignore not in path.relative_to(root).parts
    }
