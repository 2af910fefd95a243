"""Where oersite keeps what it makes for a course: one rule, all below the course's ``_build``.

- ``_build/html``: the website (``oersite build``'s default ``--output``), what is published;
- ``_build/pdf``: the course as one PDF (``oersite build --pdf``);
- ``_build/hub``: the local hubs' state (``oersite hub serve``; ``oersite.hub.state_folder``);
- ``_build/.oersite``: everything else oersite keeps for itself between runs: the build
  lock, executed notebooks, Sphinx's doctrees, the records that make a second build
  quick, and the logs.  Nothing in it is for the author to open but the logs.

Every module asks here rather than joining ``_build`` paths itself, so the layout can be
read (and changed) in one place.  A file an older oersite kept elsewhere below ``_build``
(``_build/build.lock``, ``_build/oersite-publish.log``) is simply never read again: a
build depends only on the course, never on what an earlier build left (see
``oersite.uptodate``).  Standard library only: ``oersite.config`` takes the hub state
default from here.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

#: The course's build folder, as in Jupyter Book; the course's files never live in it.
BUILD_FOLDER = "_build"
#: The default of ``oersite.hub.state_folder``, relative to the course.
HUB_STATE_FOLDER = f"{BUILD_FOLDER}/hub"


@dataclass(frozen=True)
class BuildLayout:
    """The paths of one course's build folder (``BuildLayout(course.root)``)."""

    course_root: Path

    @property
    def folder(self) -> Path:
        return self.course_root / BUILD_FOLDER

    @property
    def html(self) -> Path:
        """The website, unless ``--output`` says otherwise."""
        return self.folder / "html"

    @property
    def pdf(self) -> Path:
        return self.folder / "pdf"

    @property
    def hub_state(self) -> Path:
        """The default state folder of ``oersite hub serve`` (the course may set another)."""
        return self.course_root / HUB_STATE_FOLDER

    @property
    def own(self) -> Path:
        """What oersite keeps for itself between runs."""
        return self.folder / ".oersite"

    @property
    def lock(self) -> Path:
        """Held by the one build of the course running now (``oersite.build.build_lock``)."""
        return self.own / "build.lock"

    @property
    def executed(self) -> Path:
        """Executed notebooks, by key (``oersite.execute.executed_copy``)."""
        return self.own / "executed"

    @property
    def kernels_log(self) -> Path:
        """What kernel processes write outside a cell's outputs."""
        return self.own / "kernels.log"

    @property
    def doctrees(self) -> Path:
        """Sphinx's memory of the previous build (its environment pickle)."""
        return self.own / "doctrees"

    @property
    def myst_nb_output(self) -> Path:
        """The files myst-nb extracts from outputs (images) before Sphinx copies them into the site."""
        return self.own / "jupyter_execute"

    @property
    def sphinx_log(self) -> Path:
        return self.own / "sphinx.log"

    @property
    def last_build(self) -> Path:
        """The fingerprint and report of the last build (``oersite.uptodate``)."""
        return self.own / "last-build.json"

    @property
    def assets_record(self) -> Path:
        """The files made self-contained, by content (``oersite.assets``)."""
        return self.own / "assets.json"

    @property
    def figures_record(self) -> Path:
        """Each page's figure stamp and images (``oersite.figure_images``)."""
        return self.own / "figures.json"

    @property
    def last_pdf(self) -> Path:
        """The fingerprint of the site the last PDF was printed from (``oersite.pdf``)."""
        return self.own / "last-pdf.json"

    @property
    def publish_log(self) -> Path:
        """One JSON line per publish: what went out, where, when (``oersite.publish``)."""
        return self.own / "publish.log"
