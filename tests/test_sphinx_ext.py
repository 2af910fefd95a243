"""oersite's Sphinx extension keeps what it records per page when Sphinx reads pages in parallel."""

from __future__ import annotations

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
    main = SimpleNamespace(oersite_output_keys={"intro": "key-intro"})
    worker = SimpleNamespace(oersite_output_keys={"lessons/a": "key-a", "lessons/b": "key-b", "intro": "stale"})
    sphinx_ext.merge_output_keys(app, main, {"lessons/a", "lessons/b"}, worker)
    assert main.oersite_output_keys == {"intro": "key-intro", "lessons/a": "key-a", "lessons/b": "key-b"}


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
