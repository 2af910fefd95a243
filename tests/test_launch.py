"""The launch links, tested as the pure functions they are."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import parse_qs, quote, unquote, urlsplit
from urllib.request import url2pathname

import nbformat
import pytest
from support.cli import oersite
from support.coursehelpers import make_course

from oersite.config import LaunchTarget, load_course
from oersite.errors import ConfigError
from oersite.launch import git_pull_url, notebook_buttons


def decoded(url: str) -> dict[str, str]:
    """The nbgitpuller parameters as nbgitpuller will read them (each decoded once)."""
    query = parse_qs(urlsplit(url).query, keep_blank_values=True, strict_parsing=True)
    assert all(len(values) == 1 for values in query.values())
    return {key: values[0] for key, values in query.items()}


def opened_file(url: str) -> str:
    """The file the interface opens: urlpath is a URL path, so it is decoded once more."""
    urlpath = decoded(url)["urlpath"]
    prefix = "lab/tree/" if urlpath.startswith("lab/tree/") else "notebooks/"
    return unquote(urlpath.removeprefix(prefix))


@pytest.mark.parametrize(
    "repository",
    [
        "https://github.com/uni/course",
        "https://gitlab.com/group/sub group/course.git",
        "git@example.org:course.git",
        "https://git.example.edu/scm/course.git",
        "file:///srv/git/course.git",
    ],
)
@pytest.mark.parametrize("branch", ["main", "release/2026-autumn", "feature/ü"])
@pytest.mark.parametrize(
    "notebook",
    ["intro.ipynb", "notebooks/bokeh/heatmap.ipynb", "week 1/first steps.ipynb", "Woche 2/Übung & Lösung #1.ipynb"],
)
def test_the_query_decodes_to_exactly_the_intended_values(repository, branch, notebook):
    url = git_pull_url(
        "https://hub.example.edu", repository=repository, branch=branch, clone_folder="course", notebook=notebook
    )
    assert url.startswith("https://hub.example.edu/hub/user-redirect/git-pull?")
    # urlpath is a URL path: the notebook's path percent-encoded once more, inside the query.
    assert decoded(url) == {
        "repo": repository,
        "branch": branch,
        "targetpath": "course",
        "urlpath": f"lab/tree/{quote(f'course/{notebook}')}",
    }
    assert opened_file(url) == f"course/{notebook}"
    assert " " not in url and "#" not in urlsplit(url).query  # nothing a browser would cut or mangle


def test_the_classic_interface_opens_the_notebook_page():
    url = git_pull_url(
        "https://hub.example.edu/",
        repository="https://github.com/uni/course",
        branch="main",
        clone_folder="lessons",
        notebook="a/b.ipynb",
        interface="classic",
    )
    assert url.startswith("https://hub.example.edu/hub/user-redirect/git-pull?")  # no double slash
    assert decoded(url)["urlpath"] == "notebooks/lessons/a/b.ipynb"


def test_a_hub_under_a_path_keeps_its_path():
    url = git_pull_url("https://uni.edu/jupyter", repository="r", branch="b", clone_folder="c", notebook="n.ipynb")
    assert urlsplit(url)._replace(query="").geturl() == "https://uni.edu/jupyter/hub/user-redirect/git-pull"
    assert decoded(url) == {"repo": "r", "branch": "b", "targetpath": "c", "urlpath": "lab/tree/c/n.ipynb"}


TARGET = LaunchTarget(
    repository="https://github.com/uni/course",
    branch="main",
    clone_folder="course",
    interface="lab",
    try_interface="classic",
    hub_url="https://hub.uni.edu",
    try_url="https://try.uni.edu",
    path_in_repository="",
)


def test_a_notebook_page_gets_both_buttons_with_their_words():
    hub, try_now = notebook_buttons(TARGET, "notebooks/a.ipynb", {}, where="notebooks/a.ipynb")
    assert (hub.text, try_now.text) == ("Open in hub", "Try now")
    assert hub.url.startswith("https://hub.uni.edu/hub/user-redirect/git-pull?")
    assert try_now.url.startswith("https://try.uni.edu/hub/user-redirect/git-pull?")
    expected = {"repo": "https://github.com/uni/course", "branch": "main", "targetpath": "course"}
    # Open in hub opens JupyterLab (the course's interface); Try now the notebook on its own page.
    assert decoded(hub.url) == {**expected, "urlpath": "lab/tree/course/notebooks/a.ipynb"}
    assert decoded(try_now.url) == {**expected, "urlpath": "notebooks/course/notebooks/a.ipynb"}
    assert "sign in" in hub.title and "saved" in hub.title
    assert "no sign-in" in try_now.title and "deleted" in try_now.title
    assert "tmplogin" not in try_now.url  # each visit there would make another user


def test_a_book_in_a_subfolder_links_the_path_inside_the_repository():
    target = LaunchTarget(**{**TARGET.__dict__, "path_in_repository": "book"})
    (hub, _) = notebook_buttons(target, "notebooks/a.ipynb", {}, where="x")
    assert opened_file(hub.url) == "course/book/notebooks/a.ipynb"


def test_a_notebook_can_turn_a_button_off_or_point_elsewhere():
    only_try = notebook_buttons(TARGET, "a.ipynb", {"hub": False}, where="a.ipynb")
    assert [button.text for button in only_try] == ["Try now"]
    other = notebook_buttons(
        TARGET, "a.ipynb", {"branch": "solutions", "hub_url": "https://other.uni.edu"}, where="a.ipynb"
    )
    assert decoded(other[0].url)["branch"] == "solutions"
    assert other[0].url.startswith("https://other.uni.edu/hub/user-redirect/git-pull?")
    assert other[1].url.startswith("https://try.uni.edu/hub/user-redirect/git-pull?")  # only the hub button moved
    assert decoded(other[1].url)["branch"] == "solutions"
    assert notebook_buttons(TARGET, "a.ipynb", {"hub": False, "try": False}, where="a.ipynb") == []


@pytest.mark.parametrize(
    ("metadata", "message"),
    [
        ({"hub_url": "javascript:alert(1)"}, "a.ipynb: metadata oersite.launch.hub_url: expected an http"),
        ({"try": "no"}, "a.ipynb: metadata oersite.launch.try: expected true or false"),
        ({"brnach": "x"}, "a.ipynb: metadata oersite.launch.brnach: unknown key"),
        ({"try_url": "https://try.uni.edu/?next=x"}, "without ?query or #fragment"),
        # The same rules as _config.yml's keys: one schema reads both.
        ({"branch": "main..x"}, "a.ipynb: metadata oersite.launch.branch: expected a git branch name"),
        ({"hub_url": 5}, "a.ipynb: metadata oersite.launch.hub_url: expected text or nothing, found 5"),
    ],
)
def test_bad_notebook_overrides_name_notebook_and_key(metadata, message):
    with pytest.raises(ConfigError) as raised:
        notebook_buttons(TARGET, "a.ipynb", metadata, where="a.ipynb")
    assert message in raised.value.message


def test_a_hub_url_is_kept_without_its_trailing_slash_from_the_config_and_the_notebook_alike(tmp_path):
    course = load_course(
        launch_config(
            tmp_path,
            {"hub_url": "https://hub.uni.edu/jupyter/", "try_url": "https://try.uni.edu/", "repository": "."},
        )
    )
    assert (course.launch.hub_url, course.launch.try_url) == ("https://hub.uni.edu/jupyter", "https://try.uni.edu")
    hub, try_now = notebook_buttons(course.launch, "a.ipynb", {"hub_url": "https://other.uni.edu/"}, where="a.ipynb")
    assert hub.url.startswith("https://other.uni.edu/hub/user-redirect/git-pull?")
    assert try_now.url.startswith("https://try.uni.edu/hub/user-redirect/git-pull?")


@pytest.mark.parametrize(
    ("source", "remote"),
    [
        ("https://git.example.org/course.git", True),
        ("git@example.org:course.git", True),
        ("example.org:course.git", True),
        ("../course.git", False),
        ("course.git", False),
    ],
)
def test_the_launch_buttons_and_publish_read_a_repository_alike(tmp_path, source, remote):
    from oersite.publish import publish_target

    oersite = {"launch": {"repository": source}, "publish": {"remote": source}}
    course = load_course(make_course(tmp_path / "c", config={"oersite": oersite}))
    pulled, pushed = course.launch.repository, publish_target(course).location
    assert (pulled == source, pushed == source) == (remote, remote)
    if not remote:  # the same folder, relative to the course: a file:// URL for nbgitpuller, a path for git
        assert Path(url2pathname(urlsplit(pulled).path)) == Path(pushed).resolve() == (course.root / source).resolve()


def launch_config(tmp_path, launch, repository=None):
    config = {"oersite": {"launch": launch}}
    if repository:
        config["repository"] = repository
    return make_course(tmp_path / "c", config=config)


@pytest.mark.parametrize(
    ("launch", "message"),
    [
        (
            {"hub_url": "javascript:alert(1)", "repository": "."},
            "oersite.launch.hub_url: expected an http:// or https://",
        ),
        ({"try_url": "ftp://x.org", "repository": "."}, "oersite.launch.try_url: expected an http:// or https://"),
        ({"hub_url": "https://hub.uni.edu/?a=1", "repository": "."}, "oersite.launch.hub_url: expected a base URL"),
        ({"try_url": "https://try.uni.edu/#x", "repository": "."}, "oersite.launch.try_url: expected a base URL"),
        ({"interface": "vscode", "repository": "."}, "oersite.launch.interface: expected 'lab' or 'classic'"),
        ({"try_interface": "Lab", "repository": "."}, "oersite.launch.try_interface: expected 'lab' or 'classic'"),
        # Checked when the course is loaded, not first by oersite hub config: the hubs' ports on 127.0.0.1.
        ({"try_url": "http://127.0.0.1:25001", "repository": "."}, "oersite.launch.try_url: port 25001 is one the hub"),
        ({"clone_folder": "../etc", "repository": "."}, "oersite.launch.clone_folder"),
        ({"enabled": True}, "oersite.launch.repository: no repository"),
    ],
)
def test_bad_launch_settings_are_refused_with_their_key(tmp_path, launch, message):
    course = launch_config(tmp_path, launch)
    result = oersite("build", str(course))
    assert result.exit_code == 1, result.output
    assert message in result.output
    assert "Traceback" not in result.output


def test_the_repository_defaults_to_jupyter_books_repository_keys(tmp_path):
    course = load_course(
        launch_config(tmp_path, {}, repository={"url": "https://github.com/uni/course", "branch": "autumn"})
    )
    target = course.launch
    assert (target.repository, target.branch) == ("https://github.com/uni/course", "autumn")


def test_a_local_repository_path_becomes_a_file_url(tmp_path):
    course = load_course(launch_config(tmp_path, {"repository": "."}))
    assert course.launch.repository == (tmp_path / "c").resolve().as_uri()


def test_a_plain_jupyter_book_gets_no_launch_buttons(tmp_path):
    course = make_course(tmp_path / "c", config={"repository": {"url": "https://github.com/uni/course"}})
    assert load_course(course).launch is None


@pytest.mark.slow
def test_a_notebooks_metadata_override_reaches_its_page(tmp_path):
    course = make_course(
        tmp_path / "c",
        {"a.ipynb": ["1"], "b.ipynb": ["2"]},
        config={"oersite": {"launch": {"repository": "https://github.com/uni/course"}}},
    )
    notebook = course / "b.ipynb"

    content = nbformat.read(notebook, as_version=4)
    content.metadata["oersite"] = {"launch": {"try": False, "branch": "solutions"}}
    nbformat.write(content, notebook)
    result = oersite("build", str(course))
    assert result.exit_code == 0, result.output
    a = (course / "_build/html/a.html").read_text()
    b = (course / "_build/html/b.html").read_text()
    assert "Open in hub" in a and "Try now" in a
    assert "Open in hub" in b and "Try now" not in b
    assert "branch=solutions" in b and "branch=main" in a


@pytest.mark.slow
def test_a_bad_override_in_a_notebook_stops_the_build_naming_it(tmp_path):
    course = make_course(tmp_path / "c", config={"oersite": {"launch": {"repository": "."}}})
    notebook = course / "lessons/first.ipynb"

    content = nbformat.read(notebook, as_version=4)
    content.metadata["oersite"] = {"launch": {"hub_url": "javascript:alert(1)"}}
    nbformat.write(content, notebook)
    result = oersite("build", str(course))
    assert result.exit_code == 1
    assert "lessons/first.ipynb: metadata oersite.launch.hub_url: expected an http" in result.output


@pytest.mark.slow
def test_jupyter_books_own_launch_buttons_keep_working_beside_ours(tmp_path):
    course = make_course(
        tmp_path / "c",
        config={
            "repository": {"url": "https://github.com/uni/course", "branch": "main"},
            "launch_buttons": {
                "binderhub_url": "https://mybinder.org",
                "colab_url": "https://colab.research.google.com",
            },
            "oersite": {"launch": {}},
        },
    )
    result = oersite("build", str(course))
    assert result.exit_code == 0, result.output
    page = (course / "_build/html/lessons/first.html").read_text()
    assert "https://mybinder.org/v2/gh/uni/course/main?urlpath=tree/lessons/first.ipynb" in page
    assert "https://colab.research.google.com/github/uni/course/blob/main/lessons/first.ipynb" in page
    assert "Open in hub" in page and "Try now" in page
    assert "repo=https%3A%2F%2Fgithub.com%2Funi%2Fcourse" in page
