"""oersite's Sphinx extension keeps what it records per page when Sphinx reads pages in parallel."""

from __future__ import annotations

import base64
from types import SimpleNamespace

import pytest

from oersite import sphinx_ext


class RecordingApp:
    def __init__(self) -> None:
        self.events: dict[str, object] = {}

    def add_config_value(self, *args, **kwargs) -> None:
        pass

    def connect(self, event: str, handler, priority: int = 500) -> None:
        self.events[event] = handler


def test_the_extension_says_it_is_parallel_safe_and_merges_what_workers_record():
    app = RecordingApp()
    declared = sphinx_ext.setup(app)
    assert declared["parallel_read_safe"] is True
    assert app.events["env-merge-info"] is sphinx_ext.merge_output_keys

    # The main process's environment, and one a worker read two pages into.
    main = SimpleNamespace(oersite_output_keys={"intro": "key-intro"}, oersite_pages_that_number_nothing={"other"})
    worker = SimpleNamespace(
        oersite_output_keys={"lessons/a": "key-a", "lessons/b": "key-b", "intro": "stale"},
        oersite_pages_that_number_nothing={"lessons/a", "intro"},
    )
    sphinx_ext.merge_output_keys(app, main, {"lessons/a", "lessons/b"}, worker)
    assert main.oersite_output_keys == {"intro": "key-intro", "lessons/a": "key-a", "lessons/b": "key-b"}
    assert main.oersite_pages_that_number_nothing == {"other", "lessons/a"}


def test_a_template_compiled_by_an_earlier_build_is_reused_only_while_its_source_is_the_same():
    # Each build has a new Jinja environment (the preview's rebuilds, in one process): a template
    # compiled before is taken as it was, unless its source changed (an author's own template).
    import jinja2

    from oersite.sphinx_ext import CompiledTemplates

    compiled = CompiledTemplates()
    sources = {"page.html": "<p>{{ title }}</p>"}

    def environment() -> jinja2.Environment:
        return jinja2.Environment(loader=jinja2.DictLoader(sources), bytecode_cache=compiled, autoescape=True)

    assert environment().get_template("page.html").render(title="One") == "<p>One</p>"
    assert len(compiled.codes) == 1
    second = environment()
    second.compile = lambda *args, **kwargs: pytest.fail("compiled again")  # noqa: ARG005
    assert second.get_template("page.html").render(title="Two") == "<p>Two</p>"
    sources["page.html"] = "<h1>{{ title }}</h1>"
    assert environment().get_template("page.html").render(title="Three") == "<h1>Three</h1>"
    # Compiled with other settings, the same source is other code: escaped here, not there.
    plain = jinja2.Environment(loader=jinja2.DictLoader(sources), bytecode_cache=compiled, autoescape=False)
    assert plain.get_template("page.html").render(title="<b>") == "<h1><b></h1>"
    assert environment().get_template("page.html").render(title="<b>") == "<h1>&lt;b&gt;</h1>"


ONE_PIXEL_PNG = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=="
FIGURE = """# {title}

```{{figure}} picture.png
:name: {name}

{caption}
```
"""


@pytest.mark.slow
def test_figure_numbers_stay_right_while_pages_that_number_nothing_are_not_read_for_them(tmp_path, monkeypatch):
    # Sphinx numbers figures across the book; oersite hands its numbering an empty page in place
    # of one read with nothing numbered in it. The numbers a reader sees must be Sphinx's own.
    import pickle

    from support.coursehelpers import make_course

    from oersite.build import build_course
    from oersite.config import load_course

    course = make_course(
        tmp_path / "c", {"lessons/plain.ipynb": ["print('no figure here')"]}, extra_chapters=["first", "second"]
    )
    (course / "picture.png").write_bytes(base64.b64decode(ONE_PIXEL_PNG))
    (course / "first.md").write_text(FIGURE.format(title="First", name="one", caption="The first figure."))
    (course / "second.md").write_text(FIGURE.format(title="Second", name="two", caption="The second figure."))

    def numbers(page: str) -> list[str]:
        import re

        html = (course / "_build/html" / page).read_text()
        return re.findall(r'<span class="caption-number">([^<]*)</span>', html)

    build_course(load_course(course))
    assert numbers("first.html") == ["Fig. 1 "] and numbers("second.html") == ["Fig. 2 "]
    with (course / "_build/.oersite/doctrees/environment.pickle").open("rb") as environment:
        plain = pickle.load(environment).oersite_pages_that_number_nothing
    assert "lessons/plain" in plain
    assert not plain & {"intro", "first", "second"}, "the root's toctree and the figures' pages are read"

    # A rebuild after a page's edit: Sphinx's numbering reads the pages that number something
    # (and the root, for its toctree), not the notebook's.
    from sphinx.environment import BuildEnvironment
    from sphinx.environment.collectors.toctree import TocTreeCollector

    read_for_numbers: list[str] = []
    numbering = TocTreeCollector.assign_figure_numbers
    read = BuildEnvironment.get_doctree

    def numbering_spied(collector, env):
        env.numbering = True
        try:
            return numbering(collector, env)
        finally:
            del env.numbering

    def read_spied(env, docname):
        if getattr(env, "numbering", False):
            read_for_numbers.append(docname)
        return read(env, docname)

    monkeypatch.setattr(TocTreeCollector, "assign_figure_numbers", numbering_spied)
    monkeypatch.setattr(BuildEnvironment, "get_doctree", read_spied)
    (course / "second.md").write_text(FIGURE.format(title="Second", name="two", caption="Edited caption."))
    build_course(load_course(course))
    assert sorted(read_for_numbers) == ["first", "intro", "second"]
    monkeypatch.undo()

    # The first page loses its figure: the second page, unchanged, is numbered anew.
    (course / "first.md").write_text("# First\n\nNo figure now.\n")
    build_course(load_course(course))
    assert numbers("first.html") == [] and numbers("second.html") == ["Fig. 1 "]
    # A figure comes to the notebook's page: it is numbered, and the page after it too.
    (course / "lessons/plain.ipynb").unlink()
    (course / "lessons/plain.md").write_text(FIGURE.format(title="Plain", name="zero", caption="Now a figure."))
    build_course(load_course(course))
    assert numbers("lessons/plain.html") == ["Fig. 1 "] and numbers("second.html") == ["Fig. 2 "]
