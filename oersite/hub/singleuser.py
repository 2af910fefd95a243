"""Start a student's server: ``jupyterhub-singleuser``, without 1.3 s of grammar building.

jsonschema (imported by jupyter_server through jupyter_events) imports
rfc3987_syntax when it is installed, to check strings of the "iri" format, and
that module builds its grammars at import time: about 1.3 s of a 3 s server
start, measured by benchmarks/journey.py, and CPU that twenty visitors starting
at once compete for.  No event schema a server validates uses that format, and
jsonschema treats the module as optional, so this entry point declines it and
hands over to JupyterHub's own ``jupyterhub.singleuser``.
"""

from __future__ import annotations

import sys


def main() -> None:
    sys.modules.setdefault("rfc3987_syntax", None)
    from jupyterhub.singleuser import main as singleuser_main

    sys.exit(singleuser_main())


if __name__ == "__main__":
    main()
