"""oersite: publish a data-analysis course as Open Educational Resources.

The package is a pipeline of plain functions, one module per stage
(see ARCHITECTURE.md); ``oersite.cli`` is the thin Click layer on top.
"""

__version__ = "0.1.0"
