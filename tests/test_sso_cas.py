"""Single sign-on with CAS: mod_auth_cas in front of the hub, a real CAS server, Chromium.

Real processes on 127.0.0.1 only: django-cas-server as the university's CAS
(tests/support/cas_server.py) allowing the hub as a service, ``oersite hub serve`` with
``oersite.hub.sso.protocol: cas`` and Debian's Chromium: from the hub's address
to the student's JupyterLab, and logging out, which ends the CAS session too.

It starts at the hub's address, not at a course page's "Open in hub" link:
django-cas-server sorts the query of the service URL it sends the browser back
to (``cas_server.utils.update_url``), which CAS's specification does not do and
Apereo CAS does not do, so mod_auth_cas, validating the URL it was called at,
gets INVALID_SERVICE for any link whose query is not in alphabetical order, as
nbgitpuller's links are not.  (The SAML and OpenID Connect journeys start at the
course page.)

Screenshots go to _build/test-artifacts/sso-cas/.
"""

from __future__ import annotations

import functools
import re
import shutil
import time

import pytest
from conftest import REPOSITORY
from playwright.sync_api import TimeoutError as PlaywrightTimeoutError
from support.cas_server import start_cas_server
from support.journey_lab import (
    Network,
    course_on_ports,
    free_port,
    hub_serve,
    keep_screenshot,
    loopback_context,
    user_prefix,
)

pytestmark = pytest.mark.slow

SCREENSHOTS = REPOSITORY / "_build" / "test-artifacts" / "sso-cas"
USER, PASSWORD = "Dana@example.edu", "dana-password"


screenshot = functools.partial(keep_screenshot, folder=SCREENSHOTS)


def stuck(page, hubs, cas, what: str) -> AssertionError:
    """A journey that stopped: what the browser shows, and the hubs', Apache's and CAS's logs, kept for a person."""
    screenshot(page, "stuck")
    kept = SCREENSHOTS / f"logs-{time.strftime('%H%M%S')}"
    kept.mkdir(parents=True, exist_ok=True)
    for log in hubs.state.rglob("*.log"):
        shutil.copy(log, kept / f"{log.parent.name}-{log.name}")
    (kept / "cas.log").write_text(cas.log(), encoding="utf-8")
    hub_log = hubs.state / "persistent" / "persistent-hub.log"
    tail = "\n".join(hub_log.read_text(errors="replace").splitlines()[-60:]) if hub_log.exists() else "(no log)"
    return AssertionError(f"{what}; the browser is at {page.url}; logs kept in {kept}\nthe end of {hub_log}:\n{tail}")


@pytest.fixture(scope="module")
def journey(sample_course, built_sample, tmp_path_factory):
    """The CAS server and the hubs signing in with it."""
    folder = tmp_path_factory.mktemp("sso-cas")
    hub_port, try_port = free_port(), free_port()
    cas = start_cas_server(f"http://127.0.0.1:{hub_port}", USER, PASSWORD)
    try:
        sso = (
            "\n  hub:\n    sso:\n      protocol: cas\n"
            f"      cas_url: {cas.url}\n      allowed_domains: [example.edu]\n"
            "    ephemeral:\n      pool: 0\n"
        )
        course = course_on_ports(sample_course, folder, hub_port, try_port, sso)
        with hub_serve(course, None, hub_port, try_port, apache_ready=("/hub/health", 302)) as hubs:
            yield {"hubs": hubs, "cas": cas}
    finally:
        cas.stop()


def test_open_in_hub_signs_in_at_cas_and_logging_out_ends_the_cas_session(browser, cdn, journey):
    hubs, cas = journey["hubs"], journey["cas"]
    context = loopback_context(browser, Network(), cdn)
    try:
        lab = context.new_page()
        lab.goto(f"{hubs.persistent_url}/hub/", wait_until="load")
        lab.wait_for_url(f"{cas.url}/login**", timeout=30_000)
        lab.locator('input[name="username"]').wait_for(timeout=30_000)
        screenshot(lab, "1-cas-login")
        lab.fill('input[name="username"]', USER)
        lab.fill('input[name="password"]', PASSWORD)
        lab.locator('button[type="submit"], input[type="submit"]').first.click()
        try:
            lab.wait_for_url(re.compile(r"/user/[^/]+/lab"), timeout=90_000)
        except PlaywrightTimeoutError:
            raise stuck(lab, hubs, cas, "signed in at CAS, but JupyterLab did not open within 90 s") from None
        screenshot(lab, "2-lab")
        # The CAS user Dana@example.edu, lower-cased, the one allowed domain dropped.
        assert user_prefix(lab) == "/user/dana/"

        lab.goto(f"{hubs.persistent_url}/hub/logout", wait_until="load")
        lab.wait_for_url(f"{hubs.persistent_url}/hub/signed-out", timeout=30_000)
        lab.locator("text=Successfully logged out").wait_for(timeout=10_000)
        screenshot(lab, "3-signed-out")
        # The next person at this computer gets the CAS login form, not Dana's server.
        lab.goto(f"{hubs.persistent_url}/hub/home", wait_until="load")
        lab.wait_for_url(re.compile(re.escape(cas.url) + "/login"), timeout=30_000)
        lab.locator('input[name="password"]').wait_for(timeout=10_000)
        screenshot(lab, "4-next-person")
    finally:
        context.close()
