"""A build starts a kernel ahead only when a notebook is likely to run, and never leaves it behind.

The guess is made from what changed since the last build (file stamps in its record), before
any notebook is parsed: a code edit, a data file, a module; not a prose edit or a Markdown page.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest
from support.coursehelpers import make_course, write_myst_notebook, write_notebook
from support.processes import kernels_of
from support.user_site import installed_module

from oersite.build_layout import BuildLayout
from oersite.config import load_course
from oersite.execute import executed_copy, may_execute
from oersite.toc import read_pages
from oersite.uptodate import changed_files, course_state, remember_build


def built(root: Path) -> Path:
    """As a build leaves it: every notebook's executed copy, and the record of the course's files."""
    course = load_course(root)
    layout = BuildLayout(course.root)
    for page in read_pages(course):
        if page.is_ipynb:
            executed, _key = executed_copy(layout.executed, page)
            executed.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(page.path, executed)
    remember_build(layout.last_build, course_state(course.root, layout.html, {}), {})
    return root


def guess(root: Path) -> bool:
    course = load_course(root)
    layout = BuildLayout(course.root)
    changed = changed_files(layout.last_build, course_state(course.root, layout.html, {}))
    return may_execute(course, read_pages(course), changed, layout.executed)


def edit_cells(path: Path, edit) -> None:
    notebook = json.loads(path.read_text())
    edit(notebook["cells"])
    path.write_text(json.dumps(notebook, indent=1))
    stamp = path.stat().st_mtime_ns + 1_000_000_000  # a later save, whatever the clock's resolution
    os.utime(path, ns=(stamp, stamp))


def course_with_a_notebook(tmp_path: Path, **config) -> Path:
    root = make_course(tmp_path / "c", {"lessons/plot.ipynb": ["print(1)"]}, config=config or None)
    (root / "data").mkdir()
    (root / "data" / "numbers.csv").write_text("n\n1\n")
    return root


def test_a_first_build_with_notebooks_starts_one(tmp_path):
    assert guess(course_with_a_notebook(tmp_path))


def test_nothing_to_run_ahead_without_notebooks_or_with_execution_off(tmp_path):
    text_only = make_course(tmp_path / "a", {}, extra_chapters=["more"])
    (text_only / "more.md").write_text("# More\n\nText, no code.\n")
    assert not guess(text_only)
    assert not guess(course_with_a_notebook(tmp_path / "b", execute={"execute_notebooks": "off"}))


def test_a_code_edit_starts_one_and_a_prose_edit_does_not(tmp_path):
    root = built(course_with_a_notebook(tmp_path))
    notebook = root / "lessons/plot.ipynb"
    assert not guess(root), "nothing changed"

    edit_cells(notebook, lambda cells: cells[0].update(source="# Plot, with more prose"))
    assert not guess(root), "a prose edit runs nothing: its outputs come from the cache"

    edit_cells(notebook, lambda cells: cells[1].update(source="print(2)"))
    assert guess(root)


def test_a_changed_data_file_or_module_starts_one_and_a_markdown_page_does_not(tmp_path):
    root = built(course_with_a_notebook(tmp_path))
    (root / "intro.md").write_text("# Welcome\n\nAn introduction, longer.\n")
    assert not guess(root)

    (root / "data" / "numbers.csv").write_text("n\n2\n")
    assert guess(root)

    built(root)
    (root / "lessons" / "helpers.py").write_text("ANSWER = 42\n")
    assert guess(root)


def test_a_changed_markdown_notebook_starts_one(tmp_path):
    root = built(make_course(tmp_path / "c", {"lessons/text.md": ["print(1)"]}))
    write_myst_notebook(root / "lessons/text.md", "print(2)", title="Text")
    stamp = (root / "lessons/text.md").stat().st_mtime_ns + 1_000_000_000
    os.utime(root / "lessons/text.md", ns=(stamp, stamp))
    assert guess(root)


def test_a_build_made_elsewhere_or_before_records_tells_nothing_so_one_starts(tmp_path):
    root = built(course_with_a_notebook(tmp_path))
    record = BuildLayout(root).last_build
    saved = json.loads(record.read_text())
    record.write_text(json.dumps({**saved, "settings": "another environment"}))
    assert guess(root)
    record.write_text(json.dumps({"fingerprint": saved["fingerprint"], "report": {}}))  # before the stamps
    assert guess(root)
    record.write_text(json.dumps({**saved, "files": ["not", "stamps"]}))  # damaged: no crash, a guess
    assert guess(root)


@pytest.mark.slow
def test_a_kernel_started_for_nothing_is_stopped_when_the_build_ends(tmp_path):
    from oersite.build import build_course

    root = course_with_a_notebook(tmp_path)
    write_notebook(root / "lessons/plot.ipynb", "print('first')", title="Plot")
    build_course(load_course(root))
    (root / "lessons" / "unused.py").write_text("NOT_IMPORTED = True\n")  # the guess says yes; nothing runs
    assert guess(root)

    report = build_course(load_course(root))

    assert {result.status for result in report.notebooks} == {"cached"}
    assert kernels_of(os.getpid()) == [], "no kernel of this process is left running"


def test_every_kernel_a_build_started_has_stopped_when_it_returns(tmp_path):
    # The kernel started ahead runs the first notebook and is stopped in the background, as the
    # build ends. It may not outlive the build in a long-lived process (the preview, a program that
    # builds): it would run until that process ends.
    from oersite.build import build_course

    root = course_with_a_notebook(tmp_path)
    for run in range(3):
        write_notebook(root / "lessons/plot.ipynb", f"print({run})", title="Plot")
        report = build_course(load_course(root))
        assert [result.status for result in report.notebooks] == ["executed"]
        assert kernels_of(os.getpid()) == [], f"build {run + 1}: no kernel of this process is left running"


def test_a_kernel_released_as_its_kernels_close_is_stopped_all_the_same(tmp_path):
    # A build's last notebook releases its kernel (stopped in the background) and the build's
    # kernels close a moment later: the close waits for that stop too.
    import asyncio

    from oersite.execute import DEFAULT_KERNEL
    from oersite.kernels import SpareKernels

    for _ in range(3):
        kernels = SpareKernels(refill=False)
        kernels.start_ahead(DEFAULT_KERNEL, dict(os.environ), tmp_path / "kernels.log", tmp_path)
        taken = asyncio.run(kernels.take(DEFAULT_KERNEL, dict(os.environ), tmp_path / "kernels.log", tmp_path))
        assert kernels_of(os.getpid()) == [taken.provisioner.pid]
        kernels.release(taken)
        kernels.close()
        assert kernels_of(os.getpid()) == [], "the released kernel is still running"


KERNEL_SPEC_OF = """
import json, sys
from oersite.kernels import local_kernel_manager_class
spec = local_kernel_manager_class()(kernel_name=sys.argv[1]).kernel_spec
print(json.dumps({"folder": spec.resource_dir, "argv": spec.argv, "ipython_imported": "IPython" in sys.modules}))
"""


def kernel_spec_of(name: str, **environment: str) -> dict:
    """Which spec oersite's kernel manager finds for ``name``, in a fresh process (IPython not yet imported)."""
    import subprocess
    import sys

    result = subprocess.run(
        [sys.executable, "-c", KERNEL_SPEC_OF, name],
        env={**os.environ, **environment},
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    return json.loads(result.stdout)


def spec_folder(folder: Path, name: str, display_name: str) -> Path:
    spec = folder / name
    spec.mkdir(parents=True)
    argv = ["python", "-m", "ipykernel_launcher", "-f", "{connection_file}"]
    (spec / "kernel.json").write_text(json.dumps({"argv": argv, "display_name": display_name}))
    return spec


def test_a_kernel_in_a_jupyter_folder_is_launched_without_importing_ipython_first(tmp_path):
    """The first notebook waits for that kernel: IPython (0.3 s) is imported later, beside Sphinx."""
    jupyter = tmp_path / "jupyter" / "kernels"
    spec = spec_folder(jupyter, "lesson-kernel", "Lesson")
    found = kernel_spec_of("Lesson-Kernel", JUPYTER_PATH=str(tmp_path / "jupyter"), IPYTHONDIR=str(tmp_path / "ipy"))
    assert found["folder"] == str(spec)
    assert found["ipython_imported"] is False


def test_a_kernel_only_ipython_knows_is_still_found_and_jupyter_folders_still_come_first(tmp_path):
    """jupyter_client's order of folders is kept: Jupyter's, then IPython's (``~/.ipython/kernels``)."""
    ipython = tmp_path / "ipy"
    only_there = spec_folder(ipython / "kernels", "only-ipython", "IPython's")
    spec_folder(ipython / "kernels", "both", "IPython's copy")
    jupyter_copy = spec_folder(tmp_path / "jupyter" / "kernels", "both", "Jupyter's copy")
    environment = {"JUPYTER_PATH": str(tmp_path / "jupyter"), "IPYTHONDIR": str(ipython)}
    assert kernel_spec_of("only-ipython", **environment)["folder"] == str(only_there)
    assert kernel_spec_of("both", **environment)["folder"] == str(jupyter_copy)


# The preview's kernel ahead imports the opening of the notebook saved last.


def test_a_notebooks_opening_is_its_imports_before_any_other_statement():
    from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

    from oersite.execute import opening_imports

    def opening(*cells) -> tuple[str, ...]:
        return opening_imports(
            new_notebook(
                cells=[new_code_cell(c) if isinstance(c, str) else new_code_cell(c[0], metadata=c[1]) for c in cells]
            )
        )

    lesson = new_notebook(
        cells=[
            new_markdown_cell("# Title"),
            new_code_cell("from __future__ import annotations\n# the libraries\nimport pandas as pd, numpy"),
            new_code_cell("from bokeh.plotting import figure"),
            new_code_cell("print(pd)\nimport folium"),
        ]
    )
    assert opening_imports(lesson) == ("pandas", "numpy", "bokeh.plotting")
    # Code before an import may change what it does: nothing after it counts.
    assert opening("import sys\nsys.path.insert(0, '..')\nimport helpers") == ("sys",)
    assert opening("import os\nos.environ['KERAS_BACKEND'] = 'jax'", "import keras") == ("os",)
    assert opening("%matplotlib inline\nimport matplotlib.pyplot as plt") == ()
    assert opening("x = 1", "import pandas") == ()
    assert opening("from . import sibling") == ()
    # A cell that does not run is no part of the run.
    assert opening(("import slow_thing", {"tags": ["skip-execution"]}), "import pandas") == ("pandas",)


async def in_kernel(manager, expression: str) -> str:
    """``expression``'s value in a started kernel, as text."""
    client = manager.client()
    client.start_channels()
    try:
        await client.wait_for_ready(timeout=60)
        reply = await client.execute_interactive("", user_expressions={"value": expression}, timeout=60)
        return reply["content"]["user_expressions"]["value"]["data"]["text/plain"]
    finally:
        client.stop_channels()


def take(kernels, environment: dict, folder: Path, opening):
    import asyncio

    from oersite.execute import DEFAULT_KERNEL

    async def taken() -> tuple[str, str]:
        manager = await kernels.take(DEFAULT_KERNEL, environment, folder / "kernels.log", folder, opening)
        try:
            names = "sorted(name for name in dir() if not name.startswith('_'))"
            return await in_kernel(manager, "sorted(__import__('sys').modules)"), await in_kernel(manager, names)
        finally:
            kernels.release(manager)

    return asyncio.run(taken())


FRESH_NAMES = "['In', 'Out', 'exit', 'get_ipython', 'open', 'quit']"


def test_the_kernel_waiting_for_the_next_save_has_imported_the_notebooks_opening_and_left_no_name(tmp_path):
    from oersite.execute import DEFAULT_KERNEL
    from oersite.kernels import Opening, SpareKernels

    environment = installed_module(tmp_path, "lesson_library", "READY = True\n")
    opening = Opening(("lesson_library", "mailbox"), tmp_path, "installed packages")
    kernels = SpareKernels()
    try:
        modules, names = take(kernels, environment, tmp_path, opening)
        assert "'lesson_library'" not in modules and names == FRESH_NAMES, "the first kernel was started plain"
        kernels.prepare(DEFAULT_KERNEL, opening)

        modules, names = take(kernels, environment, tmp_path, opening)
        assert "'lesson_library'" in modules and "'mailbox'" in modules, "the opening was not imported ahead"
        assert names == FRESH_NAMES, "importing ahead left a name in the notebook's namespace"

        # Prepared again for the same notebook; then another notebook, which opens with another
        # library, is saved: it gets a kernel that imported nothing of the first one's.
        kernels.prepare(DEFAULT_KERNEL, opening)
        other = Opening(("tabnanny",), tmp_path, "installed packages")
        modules, names = take(kernels, environment, tmp_path, other)
        assert "'lesson_library'" not in modules and "'mailbox'" not in modules and names == FRESH_NAMES

        # The same opening in another folder (a module there could be another), or after the
        # installed packages changed: no kernel that imported ahead either.
        for changed in (
            Opening(opening.modules, tmp_path / "elsewhere", opening.environment),
            Opening(opening.modules, tmp_path, "packages upgraded"),
        ):
            (tmp_path / "elsewhere").mkdir(exist_ok=True)
            kernels.prepare(DEFAULT_KERNEL, opening)
            modules, _names = take(kernels, environment, tmp_path, changed)
            assert "'lesson_library'" not in modules, changed
        # A longer opening that starts with the same imports takes it.
        kernels.prepare(DEFAULT_KERNEL, opening)
        longer = Opening((*opening.modules, "tabnanny"), tmp_path, opening.environment)
        modules, _names = take(kernels, environment, tmp_path, longer)
        assert "'lesson_library'" in modules and "'tabnanny'" not in modules
    finally:
        kernels.close()
    assert kernels_of(os.getpid()) == []


def test_imports_that_show_something_or_may_be_edited_are_not_done_ahead(tmp_path):
    from oersite.execute import DEFAULT_KERNEL
    from oersite.kernels import Opening, SpareKernels

    environment = installed_module(tmp_path, "warns_on_import", "import warnings\nwarnings.warn('careful')\n")
    # Shown by IPython because the code importing it is the notebook's (``__main__``).
    deprecated = "import warnings\nwarnings.warn('use another module', DeprecationWarning, stacklevel=2)\n"
    installed_module(tmp_path, "deprecated_library", deprecated)
    installed_module(tmp_path, "shadowed", "INSTALLED = True\n")
    # A module beside the notebook, found before the installed one of the same name.
    (tmp_path / "shadowed.py").write_text("INSTALLED = False\n")
    kernels = SpareKernels()
    try:
        for modules, absent in (
            (("warns_on_import",), "'warns_on_import'"),  # its cell would show the warning
            (("this",), "'this'"),  # prints the Zen of Python
            (("deprecated_library",), "'deprecated_library'"),
            (("shadowed", "tabnanny"), "'tabnanny'"),  # the first is the folder's own: none is imported
            (("no_such_library", "tabnanny"), "'tabnanny'"),  # the notebook stops at the first
        ):
            opening = Opening(modules, tmp_path, "installed packages")
            take(kernels, environment, tmp_path, opening)
            kernels.prepare(DEFAULT_KERNEL, opening)
            taken, names = take(kernels, environment, tmp_path, opening)
            assert absent not in taken and names == FRESH_NAMES, modules
        assert kernels.noisy == {("warns_on_import",), ("this",), ("deprecated_library",)}, "not tried again"
    finally:
        kernels.close()
    assert kernels_of(os.getpid()) == []


def test_a_kernel_that_imported_ahead_is_not_used_once_a_file_could_change_the_import(tmp_path):
    # Between the kernel's imports and the save: a file of the same name comes beside the notebook
    # (found before the installed module), or the installed package is installed again.
    from oersite.execute import DEFAULT_KERNEL
    from oersite.kernels import Opening, SpareKernels

    environment = installed_module(tmp_path, "lesson_library", "READY = True\n")
    installed = next((tmp_path / "user").rglob("lesson_library.py"))
    opening = Opening(("lesson_library",), tmp_path, "installed packages")
    kernels = SpareKernels()
    try:
        take(kernels, environment, tmp_path, opening)
        kernels.prepare(DEFAULT_KERNEL, opening)
        modules, _names = take(kernels, environment, tmp_path, opening)
        assert "'lesson_library'" in modules, "the opening was not imported ahead"

        kernels.prepare(DEFAULT_KERNEL, opening)
        kernels.waiting[DEFAULT_KERNEL].opened.result(60)  # imported; now the author adds a module of that name
        (tmp_path / "lesson_library.py").write_text("READY = 'the course its own'\n")
        modules, _names = take(kernels, environment, tmp_path, opening)
        assert "'lesson_library'" not in modules, "a kernel that imported the installed module was used"
        (tmp_path / "lesson_library.py").unlink()

        kernels.prepare(DEFAULT_KERNEL, opening)
        kernels.waiting[DEFAULT_KERNEL].opened.result(60)
        stamp = installed.stat().st_mtime_ns + 1_000_000_000
        os.utime(installed, ns=(stamp, stamp))  # pip install --force-reinstall of the same version
        modules, _names = take(kernels, environment, tmp_path, opening)
        assert "'lesson_library'" not in modules, "a kernel that imported the package before it was reinstalled"
    finally:
        kernels.close()
    assert kernels_of(os.getpid()) == []
