"""What every student's server adds (oersite.hub.notebook_server), checked on a real IPython and folium.

The whole path, a map drawn in JupyterLab on ``oersite hub serve`` with every request off
127.0.0.1 refused, is in test_student_journey.py.
"""

from __future__ import annotations

import asyncio
import html
import subprocess
import sys
from pathlib import Path

import folium
import pytest
from conftest import git
from IPython.core.interactiveshell import InteractiveShell

from oersite.assets import SHARED, rewrite_page
from oersite.hub import notebook_server


@pytest.fixture
def shell(monkeypatch):
    monkeypatch.setenv("JUPYTERHUB_SERVICE_PREFIX", "/user/alice/")
    shell = InteractiveShell.instance()
    shell.extension_manager.load_extension(notebook_server.MODULE)
    yield shell
    InteractiveShell.clear_instance()


def map_html(shell, element) -> str:
    data, _metadata = shell.display_formatter.format(element)
    return data["text/html"]


def test_a_maps_output_loads_every_library_from_the_students_server(shell):
    shown = map_html(shell, folium.Map(location=[39.7, -105.0], zoom_start=6))
    document = html.unescape(shown)  # the map's page, inside its iframe's srcdoc
    assert "/user/alice/oersite-libraries/leaflet/leaflet.js" in document
    assert "/user/alice/oersite-libraries/fontawesome/css/all.min.css" in document
    assert not [url for url in notebook_server.CDN_FILES if url in document]
    for path in notebook_server.CDN_FILES.values():
        assert (notebook_server.VENDOR_DIR / path).is_file(), path


def test_markers_and_colour_scales_are_pointed_at_the_server_too(shell):
    world = folium.Map()
    folium.Marker([40, -105], icon=folium.Icon(icon="plane")).add_to(world)
    folium.LinearColormap(["white", "red"], vmin=0, vmax=1).add_to(world)
    document = html.unescape(map_html(shell, world))
    assert "/user/alice/oersite-libraries/leaflet.awesome-markers/leaflet.awesome-markers.js" in document
    assert "/user/alice/oersite-libraries/d3/d3.min.js" in document
    assert "https://cdn" not in document and "https://code.jquery" not in document


def test_output_saved_on_a_hub_renders_on_the_site_with_the_sites_copies(shell):
    saved = map_html(shell, folium.Map())
    text, found = rewrite_page(f"<html><body>{saved}</body></html>", "../", "3.9.2")
    assert "oersite-libraries" not in text
    assert html.escape(f'src="../{SHARED}/vendor/leaflet/leaflet.js"', quote=True) in text
    assert found.remote == [] and f"{SHARED}/vendor/leaflet" in found.shared


SAVE_A_MAP = """
import os, sys
os.environ["JUPYTERHUB_SERVICE_PREFIX"] = "/user/bob/"
from IPython.core.interactiveshell import InteractiveShell
shell = InteractiveShell.instance()
shell.extension_manager.load_extension("oersite.hub.notebook_server")
assert "folium" not in sys.modules  # nothing imported ahead
cell = "import folium\\nm = folium.Map()\\nfolium.Marker([40, -105], icon=folium.Icon(icon='plane')).add_to(m)\\n"
result = shell.run_cell(cell + f"m.save({sys.argv[1]!r})")
result.raise_error()
"""


def test_folium_imported_in_a_kernel_defaults_to_the_servers_libraries_also_in_a_saved_file(tmp_path):
    # A fresh interpreter, as a kernel is: folium imported after the extension loaded.
    saved = tmp_path / "map.html"
    subprocess.run([sys.executable, "-c", SAVE_A_MAP, str(saved)], check=True, capture_output=True, text=True)
    page = saved.read_text(encoding="utf-8")
    assert '<script src="/user/bob/oersite-libraries/leaflet/leaflet.js">' in page
    assert 'href="/user/bob/oersite-libraries/glyphicons/css/glyphicons.min.css"' in page
    assert not [url for url in notebook_server.CDN_FILES if url in page]


@pytest.mark.parametrize(
    ("urlpath", "notebook"),
    [
        ("lab/tree/course/notebooks/bokeh/scatter.ipynb", "course/notebooks/bokeh/scatter.ipynb"),
        ("/lab/tree/course/My%20Lesson.ipynb", "course/My Lesson.ipynb"),  # launch.py quotes the path
        ("lab/workspaces/auto-x/tree/course/lesson.md", "course/lesson.md"),
        ("doc/tree/course/lesson.ipynb?reset", "course/lesson.ipynb"),
        ("tree/course/lesson.ipynb", "course/lesson.ipynb"),
        ("notebooks/course/lesson.ipynb", "course/lesson.ipynb"),
        ("lab/tree/course/notebooks", None),  # a folder
        ("lab/tree/course/data/cities.csv", None),  # no kernel for that
        ("lab/tree/course/../../etc/lesson.ipynb", None),
        ("lab/tree/course/%2e%2e/lesson.ipynb", None),
        ("lab", None),
        ("", None),
        (None, None),
    ],
)
def test_the_notebook_a_launch_link_opens_is_read_from_its_urlpath(urlpath, notebook):
    assert notebook_server.opened_notebook(urlpath) == notebook


def test_a_clone_is_current_only_when_a_pull_would_change_nothing(tmp_path):
    """What OpenAtOnce asks before it skips nbgitpuller's page: the clone is the branch's head, untouched."""
    upstream = tmp_path / "upstream"
    upstream.mkdir()
    git(upstream, "init", "-q", "--initial-branch", "main")
    (upstream / "lesson.ipynb").write_text("{}", encoding="utf-8")
    commit(upstream, "a lesson")
    repository = upstream.as_uri()
    clone = tmp_path / "home" / "course"
    subprocess.run(["git", "clone", "-q", "--depth", "1", "--branch", "main", "--", repository, str(clone)], check=True)

    def current(branch: str = "main", origin: str = repository) -> bool:
        return asyncio.run(notebook_server.clone_is_current(str(clone), origin, branch))

    assert current()
    (clone / "my-own-notes.txt").write_text("mine", encoding="utf-8")  # untracked: a pull leaves it alone
    assert current()
    assert not current(origin=repository + "/")  # another repository than the clone's
    assert not current(branch="solutions")  # a branch the repository does not have
    assert not asyncio.run(notebook_server.clone_is_current(str(tmp_path / "nowhere"), repository, "main"))
    (clone / "lesson.ipynb").write_text('{"edited": true}', encoding="utf-8")  # the student's edit
    assert not current()
    git(clone, "checkout", "--", "lesson.ipynb")
    (clone / "lesson.ipynb").unlink()  # nbgitpuller would bring it back
    assert not current()
    git(clone, "checkout", "--", "lesson.ipynb")
    assert current()
    (upstream / "later.md").write_text("# Later\n", encoding="utf-8")
    commit(upstream, "a page added later")
    assert not current()  # the pull would bring it


def commit(folder: Path, message: str) -> None:
    git(folder, "add", "-A")
    git(folder, "-c", "user.name=Tests", "-c", "user.email=tests@oersite.invalid", "commit", "-q", "-m", message)
