"""oersite's Sphinx extension keeps what it records per page when Sphinx reads pages in parallel."""

from __future__ import annotations

from types import SimpleNamespace

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
