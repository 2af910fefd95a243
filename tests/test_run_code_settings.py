"""The Run code button's settings: on where Try now is, off by course or notebook, and what the hubs get from it.

Fast: no build, no hub.  The button end to end is tests/test_run_code.py.
"""

from __future__ import annotations

import re

import pytest
import yaml
from support.cli import assert_one_line_error, oersite
from support.coursehelpers import make_course
from traitlets.config import Config

from oersite.config import load_course
from oersite.errors import ConfigError
from oersite.hub.authenticator import RUN_CODE_PATH, run_code_scopes
from oersite.hub.bundle.helm import ephemeral_values, persistent_values
from oersite.hub.bundle.images import CourseImages
from oersite.hub.configurer import Place, ephemeral_hub, persistent_hub, update_hub, update_interface
from oersite.hub.course_settings import hub_settings
from oersite.hub.notebook_server import RUN_CODE_ORIGINS_VARIABLE, origin_allowed
from oersite.hub.settings import PREVIEW_ORIGINS, client_address
from oersite.hub.settings import RUN_CODE_ORIGINS_VARIABLE as HUB_SIDE_VARIABLE
from oersite.launch import notebook_run_code

NOTEBOOK = "lessons/first.ipynb"


def course_with(tmp_path, launch: dict | None = None, **oersite_settings):
    launch = {"repository": ".", "try_url": "https://try.uni.edu", "hub_url": "https://hub.uni.edu", **(launch or {})}
    return make_course(
        tmp_path / "c",
        config={"oersite": {"launch": launch, **oersite_settings}, "html": {"baseurl": "https://uni.edu/course/"}},
    )


def test_run_code_is_on_by_default_where_try_now_is(tmp_path):
    course = load_course(course_with(tmp_path))
    run_code = notebook_run_code(course.launch, NOTEBOOK, {}, where=NOTEBOOK)
    assert run_code.hub_url == "https://try.uni.edu"
    assert run_code.notebook == "course/lessons/first.ipynb"  # below the server's root: its folder is the kernel's
    assert run_code.open_path == "lab/tree/course/lessons/first.ipynb"
    # The pull is the Try now link's own: same repository, branch and clone folder.
    assert "targetpath=course" in run_code.pull_query and "branch=main" in run_code.pull_query


def test_a_course_turns_run_code_off_and_the_hubs_hand_out_nothing(tmp_path):
    course = load_course(course_with(tmp_path, {"run_code": False}))
    assert notebook_run_code(course.launch, NOTEBOOK, {}, where=NOTEBOOK) is None
    settings = hub_settings(course, local=True)
    assert settings.run_code_origins == ()
    c = Config()
    update_interface(c, settings, "ephemeral")
    update_hub(c, ephemeral_hub(settings), Place("t", "http://127.0.0.1:1", ""))
    assert RUN_CODE_ORIGINS_VARIABLE not in c.Spawner.environment
    assert "run_code_origins" not in c.PooledTemporaryAuthenticator


@pytest.mark.parametrize("own", [{"run_code": False}, {"try": False}])
def test_a_notebook_turns_run_code_off_or_has_no_try_now_hub(tmp_path, own):
    course = load_course(course_with(tmp_path))
    assert notebook_run_code(course.launch, NOTEBOOK, own, where=NOTEBOOK) is None


def test_a_notebook_can_send_run_code_to_another_try_now_hub(tmp_path):
    course = load_course(course_with(tmp_path))
    run_code = notebook_run_code(course.launch, NOTEBOOK, {"try_url": "https://other.uni.edu/"}, where=NOTEBOOK)
    assert run_code.hub_url == "https://other.uni.edu"


def test_a_bad_notebook_setting_names_the_notebook_and_key(tmp_path):
    course = load_course(course_with(tmp_path))
    with pytest.raises(ConfigError, match=r"lessons/first.ipynb: metadata oersite.launch.run_code: expected true"):
        notebook_run_code(course.launch, NOTEBOOK, {"run_code": "yes"}, where=NOTEBOOK)


@pytest.mark.parametrize(
    ("settings", "key"),
    [
        ({"launch": {"run_code": "yes"}}, "oersite.launch.run_code: expected true or false"),
        ({"hub": {"ephemeral": {"run_code_per_minute": 0}}}, "oersite.hub.ephemeral.run_code_per_minute"),
        ({"hub": {"ephemeral": {"run_code_per_minute": "ten"}}}, "oersite.hub.ephemeral.run_code_per_minute"),
    ],
)
def test_bad_run_code_values_are_one_line_naming_file_and_key(tmp_path, settings, key):
    launch = {"repository": ".", **settings.pop("launch", {})}
    course = make_course(tmp_path / "c", config={"oersite": {"launch": launch, **settings}})
    assert_one_line_error(oersite("hub", "config", str(course)), "_config.yml", key)


def test_the_hub_lets_in_the_published_site_and_the_preview_only(tmp_path):
    settings = hub_settings(load_course(course_with(tmp_path)), local=True)
    assert settings.run_code_origins == ("https://uni.edu", *PREVIEW_ORIGINS)
    assert settings.ephemeral.run_code_per_minute == 10
    c = Config()
    update_interface(c, settings, "ephemeral")
    update_hub(c, ephemeral_hub(settings), Place("t", "http://127.0.0.1:1", ""))
    assert c.JupyterHub.authenticator_class == "oersite.hub.authenticator.PooledTemporaryAuthenticator"
    assert c.PooledTemporaryAuthenticator.run_code_origins == ["https://uni.edu", *PREVIEW_ORIGINS]
    assert c.PooledTemporaryAuthenticator.run_code_per_minute == 10
    assert c.PooledTemporaryAuthenticator.run_code_token_seconds == settings.ephemeral.max_age_seconds
    assert c.Spawner.environment[RUN_CODE_ORIGINS_VARIABLE] == " ".join(settings.run_code_origins)
    # The persistent hub hands out nothing and lets no other site in.
    persistent = Config()
    update_interface(persistent, settings, "persistent")
    update_hub(persistent, persistent_hub(settings), Place("t", "http://127.0.0.1:1", ""))
    assert RUN_CODE_ORIGINS_VARIABLE not in persistent.Spawner.environment


def test_the_helm_values_carry_run_code_to_the_try_now_hub_only(tmp_path):
    settings = hub_settings(load_course(course_with(tmp_path)))
    images = CourseImages(None, "notebook:1", "hub:1", "apache:1", "notebook:1-chart", "course-data:data-1")
    ephemeral = yaml.safe_load(ephemeral_values(settings, images))
    persistent = yaml.safe_load(persistent_values(settings, images))
    assert ephemeral["singleuser"]["extraEnv"][RUN_CODE_ORIGINS_VARIABLE] == " ".join(settings.run_code_origins)
    authenticator = ephemeral["hub"]["config"]["PooledTemporaryAuthenticator"]
    assert authenticator["run_code_origins"] == list(settings.run_code_origins)
    assert RUN_CODE_ORIGINS_VARIABLE not in persistent["singleuser"]["extraEnv"]


def test_the_server_and_the_hub_name_the_same_variable():
    assert RUN_CODE_ORIGINS_VARIABLE == HUB_SIDE_VARIABLE
    assert RUN_CODE_PATH == "/hub/run-code"


def test_a_token_is_for_one_server_alone():
    assert run_code_scopes("pool-abc") == ["access:servers!server=pool-abc/"]


@pytest.mark.parametrize(
    ("peer", "forwarded", "reader"),
    [
        ("127.0.0.1", "", "127.0.0.1"),  # on this machine
        ("127.0.0.1", "203.0.113.7, 127.0.0.1", "203.0.113.7"),  # Apache, then the hub's proxy
        ("127.0.0.1", "6.6.6.6, 203.0.113.7, 127.0.0.1", "203.0.113.7"),  # what a client wrote stays left of it
        ("198.51.100.1", "6.6.6.6", "198.51.100.1"),  # called directly: the header is the caller's own
    ],
)
def test_the_rate_limit_counts_the_reader_the_outermost_proxy_saw(peer, forwarded, reader):
    assert client_address(peer, forwarded) == reader


@pytest.mark.parametrize(
    ("forwarded", "reader"),
    [
        # Zero to JupyterHub: an ingress pod, then the chart's proxy pod, both in the pod network.
        ("203.0.113.7, 10.42.0.15", "203.0.113.7"),
        ("6.6.6.6, 203.0.113.7, 10.42.0.15", "203.0.113.7"),  # what a client wrote stays left of it
        ("10.42.0.15", "10.42.0.9"),  # every hop trusted (a reader inside the cluster): the hub's peer
    ],
)
def test_on_kubernetes_the_limit_looks_past_the_proxies_the_operator_trusts(forwarded, reader):
    peer = "10.42.0.9"  # the chart's proxy pod, as the hub's socket sees it
    assert client_address(peer, forwarded) == peer  # without: the whole site is one address
    assert client_address(peer, forwarded, ("10.0.0.0/8",)) == reader


def test_trusted_proxies_reach_the_hub_and_a_wrong_network_is_named(tmp_path):
    root = course_with(tmp_path, hub={"ephemeral": {"run_code_trusted_proxies": ["10.0.0.0/8", "fd00::/8"]}})
    settings = hub_settings(load_course(root), local=True)
    c = Config()
    update_interface(c, settings, "ephemeral")
    update_hub(c, ephemeral_hub(settings), Place("t", "http://127.0.0.1:1", ""))
    assert c.PooledTemporaryAuthenticator.run_code_trusted_proxies == ["10.0.0.0/8", "fd00::/8"]
    bad = course_with(tmp_path / "bad", hub={"ephemeral": {"run_code_trusted_proxies": ["10.0.0.0/33"]}})
    with pytest.raises(ConfigError, match=r"oersite\.hub\.ephemeral\.run_code_trusted_proxies.*10\.0\.0\.0/33"):
        hub_settings(load_course(bad), local=True)


@pytest.mark.parametrize(
    ("origin", "allowed"),
    [
        (None, True),  # a navigation or a program: as always
        ("http://127.0.0.1:8001", True),  # the server's own pages (JupyterLab)
        ("https://uni.edu", True),  # the course's site
        ("https://elsewhere.example", False),
        ("null", False),
        ("https://uni.edu.elsewhere.example", False),
    ],
)
def test_a_server_lets_in_its_own_pages_and_the_courses_site_only(origin, allowed):
    assert origin_allowed(origin, "127.0.0.1:8001", ("https://uni.edu",)) is allowed


@pytest.mark.parametrize(
    ("origin", "listed"),
    [
        ("https://uni.edu", True),
        ("http://127.0.0.1:8080", True),  # oersite serve's default port
        ("http://localhost:9123", True),  # oersite serve --port 9123
        ("http://127.0.0.1", False),
        ("http://127.0.0.1:", False),
        ("http://127.0.0.1:80x", False),
        ("http://127.0.0.1:8080.elsewhere.example", False),
        ("https://127.0.0.1:8080", False),
        ("http://127.0.0.10:8080", False),
        ("https://uni.edu:8443", False),
        ("http://127.0.0.1:\u00b2", False),  # a superscript two is a digit to Python, not a port
        ("null", False),
        (None, False),
    ],
)
def test_the_preview_may_ask_on_any_port_and_the_hub_and_servers_agree(origin, listed):
    from oersite.hub.notebook_server import origin_listed as servers_check
    from oersite.hub.notebook_server import origins_pattern
    from oersite.hub.settings import origin_listed as hubs_check

    allowed = ("https://uni.edu", *PREVIEW_ORIGINS)
    assert hubs_check(origin, allowed) is listed
    assert servers_check(origin, allowed) is listed
    # jupyter_server's own check on the servers (allow_origin_pat) lets in the same origins.
    assert bool(re.match(origins_pattern(allowed), origin or "")) is listed


def code_cell(source, *tags, **metadata):
    return {"cell_type": "code", "source": source, "metadata": {"tags": list(tags), **metadata}, "outputs": []}


def test_the_page_tells_the_script_the_set_up_it_leaves_out_and_what_runs_at_start():
    import json

    from oersite.launch import run_code_cells

    shown_only = [
        {"cell_type": "markdown", "source": "# A lesson", "metadata": {}},
        code_cell("print(1)", "hide-input"),
    ]
    assert run_code_cells(shown_only) == ""  # the page has every cell's code: nothing to add
    cells = [
        {"cell_type": "markdown", "source": "# A lesson", "metadata": {}},
        code_cell(["import pandas\n", "FACTOR = 6"], "remove-input"),
        code_cell("SECRET = 1", "remove_cell", "thebe-init"),
        code_cell("print(FACTOR)"),
        code_cell("START = 1", "thebe-init"),
        code_cell("HIDDEN = 2", mystnb={"remove_code_source": True}),
    ]
    assert json.loads(run_code_cells(cells)) == [
        {"shown": False, "code": "import pandas\nFACTOR = 6"},
        {"shown": False, "code": "SECRET = 1", "init": True},
        {"shown": True},
        {"shown": True, "init": True},
        {"shown": False, "code": "HIDDEN = 2"},
    ]


def test_the_sites_origin_is_written_as_a_browser_sends_it(tmp_path):
    from oersite.hub.course_settings import run_code_origins

    root = course_with(tmp_path)
    config = root / "_config.yml"
    settings = yaml.safe_load(config.read_text())
    settings["html"]["baseurl"] = "https://Courses.Uni.EDU:443/data-analysis/"
    config.write_text(yaml.safe_dump(settings))
    assert run_code_origins(load_course(root)) == ("https://courses.uni.edu", *PREVIEW_ORIGINS)
