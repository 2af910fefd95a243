"""Expected failures, each shown to the user as one line and exit status 1.

Every error a user can cause (a typo in ``_config.yml``, a notebook cell that
raises, a missing page) is raised as one of these.  They are Click exceptions,
so the CLI prints ``Error: <message>`` and exits non-zero without a traceback,
the way MkDocs does it (``mkdocs/exceptions.py``).  A message says what went
wrong, where (file, and cell or key), and what to do about it.
"""

from __future__ import annotations

import click


class OersiteError(click.ClickException):
    """Base class: one line for the user, exit status 1."""


class ConfigError(OersiteError):
    """``_config.yml`` or ``_toc.yml`` cannot be used as written."""


class NotebookError(OersiteError):
    """A notebook cannot be read or executed."""


class BuildError(OersiteError):
    """Sphinx could not turn the course into a website."""


class HubError(OersiteError):
    """The hubs cannot be configured, started or checked as asked."""


class PdfError(OersiteError):
    """The course could not be printed into its PDF (``oersite build --pdf``); the message names the page."""


class CheckError(OersiteError):
    """The built site has problems a reader would meet (``oersite check``)."""


class PublishError(OersiteError):
    """The site cannot be published where asked; what was published before stays as it was."""
