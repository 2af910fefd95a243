"""Run the tests' CAS server: create its database, allow the hub as a service, serve on 127.0.0.1.

Usage: python serve.py PORT SERVICE_PATTERN (a regular expression of the hub's URLs), with the
environment settings.py reads.
"""

import sys

import django
from django.core.management import call_command

django.setup()

from cas_server.models import ServicePattern  # noqa: E402 (needs django.setup)

port, pattern = sys.argv[1], sys.argv[2]
call_command("migrate", verbosity=0)
ServicePattern.objects.get_or_create(pos=100, name="the course hub", pattern=pattern)
call_command("runserver", f"127.0.0.1:{port}", use_reloader=False, use_threading=True)
