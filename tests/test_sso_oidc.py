"""Single sign-on with OpenID Connect: mod_auth_openidc in front of the hub, a real provider, Chromium.

Real processes on 127.0.0.1 only: panva's oidc-provider as the university's
provider (tests/support/oidc_provider.py) with the hub registered as its client,
``oersite hub serve`` with ``oersite.hub.sso.protocol: oidc``, the built site
and Debian's Chromium.  The SAML journey is test_sso.py's; this is the same for
OpenID Connect, from "Open in hub" to logging out of the provider.

Screenshots go to _build/test-artifacts/sso-oidc/.
"""

from __future__ import annotations

import functools
import re

import pytest
from conftest import REPOSITORY
from support.browser import served
from support.journey_lab import (
    Network,
    click_launch_button,
    course_on_ports,
    free_port,
    hub_serve,
    keep_screenshot,
    loopback_context,
    user_prefix,
    wait_for_notebook,
)
from support.oidc_provider import start_oidc_provider

pytestmark = pytest.mark.slow

SCREENSHOTS = REPOSITORY / "_build" / "test-artifacts" / "sso-oidc"
NOTEBOOK = "notebooks/bokeh/scatter.ipynb"


screenshot = functools.partial(keep_screenshot, folder=SCREENSHOTS)


@pytest.fixture(scope="module")
def journey(sample_course, built_sample, tmp_path_factory):
    """The provider (carol's preferred_username is carol@example.edu) and the hubs signing in with it."""
    folder = tmp_path_factory.mktemp("sso-oidc")
    hub_port, try_port = free_port(), free_port()
    provider = start_oidc_provider(f"http://127.0.0.1:{hub_port}", {"carol": "Carol@example.edu"})
    try:
        secret_file = folder / "client-secret"  # outside the course, as it must be kept out of git
        secret_file.write_text(provider.client_secret + "\n", encoding="utf-8")
        sso = (
            "\n  hub:\n    sso:\n      protocol: oidc\n"
            f"      issuer: {provider.issuer}\n      client_id: {provider.client_id}\n"
            f"      client_secret_file: {secret_file}\n      user_attribute: preferred_username\n"
            "      allowed_domains: [example.edu]\n"
            "    ephemeral:\n      pool: 0\n"
        )
        course = course_on_ports(sample_course, folder, hub_port, try_port, sso)
        with hub_serve(course, None, hub_port, try_port, apache_ready=("/hub/health", 302)) as hubs:
            with served(course / "_build" / "html") as site_url:
                yield {"hubs": hubs, "provider": provider, "site_url": site_url}
    finally:
        provider.stop()


def test_open_in_hub_signs_in_at_the_provider_and_logging_out_signs_out_there_too(browser, cdn, journey):
    hubs, provider = journey["hubs"], journey["provider"]
    network = Network()
    context = loopback_context(browser, network, cdn)
    try:
        page = context.new_page()
        page.goto(f"{journey['site_url']}{NOTEBOOK.removesuffix('.ipynb')}.html", wait_until="load")
        lab = click_launch_button(page, "Open in hub")
        lab.wait_for_url(f"{provider.issuer}/**", timeout=30_000)
        lab.locator('input[name="login"]').wait_for(timeout=30_000)
        screenshot(lab, "1-provider-login")
        lab.fill('input[name="login"]', "carol")
        lab.fill('input[name="password"]', "any password")
        lab.locator('button[type="submit"]').first.click()
        wait_for_notebook(lab, f"course/{NOTEBOOK}")
        screenshot(lab, "2-lab")
        # preferred_username Carol@example.edu, lower-cased, the one allowed domain dropped.
        assert user_prefix(lab) == "/user/carol/"
        # (oidc-provider's own development login page asks Google for a font: the only refusal.)
        refused = [url for _, url in network.refused_code() if not url.startswith("https://fonts.googleapis.com/")]
        assert refused == []

        lab.goto(f"{hubs.persistent_url}/hub/logout", wait_until="load")
        # The provider asks, as it does for every sign-out the hub starts; Carol says yes.
        confirm = lab.locator('button[value="yes"], button:has-text("Yes")').first
        confirm.wait_for(timeout=30_000)
        screenshot(lab, "3-provider-asks")
        confirm.click()
        lab.wait_for_url(f"{hubs.persistent_url}/hub/signed-out", timeout=30_000)
        lab.locator("text=Successfully logged out").wait_for(timeout=10_000)
        # The next person at this computer gets the provider's login form, not Carol's server.
        lab.goto(f"{hubs.persistent_url}/hub/home", wait_until="load")
        lab.wait_for_url(re.compile(re.escape(provider.issuer) + "/"), timeout=30_000)
        lab.locator('input[name="login"]').wait_for(timeout=10_000)
        screenshot(lab, "4-next-person")
    finally:
        context.close()
