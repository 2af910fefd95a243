"""Find the course's data files, wherever the course is running.

Why this module exists
----------------------
The course's data sets live in the ``data`` folder at the top of the course
repository. That folder is not always in the same place:

* on your own computer (a copy of the repository) it is ``<repository>/data``;
* on the course's JupyterHubs it is mounted, read-only, somewhere else, and
  the environment variable ``COURSE_DATA`` holds its location;
* when the course website is built, the build tool sets ``COURSE_DATA`` too.

So that every notebook works unchanged in all these places, notebooks never
write a data path themselves. They ask this module for it::

    # Where the course's data files are (the same on the website and on the hub)
    import sys, pathlib
    sys.path.append(str(pathlib.Path.cwd().parent))
    from course_data import data_file

    airports = pandas.read_csv(data_file("airports.csv"))

(The notebooks sit one folder below this file, in ``notebooks/bokeh`` and
``notebooks/folium``; the two ``sys``/``pathlib`` lines let Python find this
module from there.)
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["DATA_DIR", "data_file"]


def _find_data_dir() -> Path:
    """The folder named by ``COURSE_DATA``, else ``<repository>/data``."""
    from_environment = os.environ.get("COURSE_DATA", "")
    if from_environment:
        return Path(from_environment).expanduser()
    # This file is <repository>/notebooks/course_data.py.
    return Path(__file__).resolve().parent.parent / "data"


#: The folder that holds the course's data files.
DATA_DIR: Path = _find_data_dir()

# Whether DATA_DIR came from COURSE_DATA (only used in error messages).
_FROM_ENVIRONMENT = bool(os.environ.get("COURSE_DATA", ""))


def data_file(name: str) -> Path:
    """Return the full path of the course data file called ``name``.

    ``name`` is the file's name inside the data folder, for example
    ``"airports.csv"``. Raises ``FileNotFoundError`` with an explanation if
    there is no such file.
    """
    path = DATA_DIR / name
    if not path.exists():
        if _FROM_ENVIRONMENT:
            where = "the folder named by the COURSE_DATA environment variable"
        else:
            where = "the course's data folder"
        raise FileNotFoundError(
            f"There is no data file called {name!r} in {where}, {DATA_DIR}. "
            "Check the spelling of the name (capital letters matter), "
            "and that the file is in that folder."
        )
    return path
