"""Single sign-on with a real identity provider: SAML from a course page to the student's JupyterLab.

Real processes on 127.0.0.1 only: Debian's SimpleSAMLphp as the university's
IdP (tests/support/saml_idp.py, three users of two domains), ``oersite hub serve`` with
``oersite.hub.sso.protocol: saml`` (Debian's Apache with mod_auth_mellon as the
service provider in front of the persistent hub), the built site, and Debian's
Chromium.  The IdP trusts the hub once the hub serves its metadata, as an
institution registers a new service provider.

Screenshots of each landing go to _build/test-artifacts/sso/.
"""

from __future__ import annotations

import functools
import html
import re

import pytest
import requests
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
from support.saml_idp import IdpUser, sign_in_over_http, start_saml_idp

pytestmark = pytest.mark.slow

SCREENSHOTS = REPOSITORY / "_build" / "test-artifacts" / "sso"
ALICE = IdpUser("alice", "alice-password", "Alice@example.edu")
BOB = IdpUser("bob", "bob-password", "bob@example.edu")
EVE = IdpUser("eve", "eve-password", "eve@elsewhere.org")  # a real account, but not of the course's domain
# Odd answers an identity provider gives: a name scoped twice, two values, none at all.
MALLORY = IdpUser("mallory", "mallory-password", "mallory@other.org@example.edu")
TWINS = IdpUser("twins", "twins-password", ("twin1@example.edu", "twin2@example.edu"))
NOBODY = IdpUser("nobody", "nobody-password", ())
NOTEBOOK = "notebooks/bokeh/scatter.ipynb"
CLONE = "course"


screenshot = functools.partial(keep_screenshot, folder=SCREENSHOTS)


@pytest.fixture(scope="module")
def idp():
    provider = start_saml_idp((ALICE, BOB, EVE, MALLORY, TWINS, NOBODY))
    yield provider
    provider.stop()


@pytest.fixture(scope="module")
def hubs(sample_course, built_sample, idp, tmp_path_factory):
    """``oersite hub serve`` with SAML sign-on at the test IdP, registered there as a service provider."""
    folder = tmp_path_factory.mktemp("sso")
    hub_port, try_port = free_port(), free_port()
    sso = (
        "\n  hub:\n    sso:\n      protocol: saml\n"
        f"      idp_metadata: {idp.metadata_url}\n      allowed_domains: [example.edu]\n"
        "    ephemeral:\n      pool: 0\n"
    )
    course = course_on_ports(sample_course, folder, hub_port, try_port, sso)
    with hub_serve(course, None, hub_port, try_port, apache_ready=("/mellon/metadata", 200)) as running:
        metadata = requests.get(f"{running.persistent_url}/mellon/metadata", timeout=10)
        assert metadata.status_code == 200 and 'entityID="' in metadata.text
        idp.trust(metadata.text)
        yield running


@pytest.fixture(scope="module")
def site_url(hubs):
    with served(hubs.course / "_build" / "html") as url:
        yield url


def sign_in_at_the_idp(page, idp, user: IdpUser, name: str) -> None:
    """What a student does on the university's login page: name, password, Login."""
    page.wait_for_url(f"{idp.url}**", timeout=30_000)
    page.locator('input[name="username"]').wait_for(timeout=30_000)
    screenshot(page, f"{name}-idp-login-form")
    page.fill('input[name="username"]', user.name)
    page.fill('input[name="password"]', user.password)
    page.locator('button[type="submit"], input[type="submit"]').first.click()


@pytest.fixture(scope="module")
def alice(browser, cdn, site_url, hubs, idp):
    """Alice clicked Open in hub on a course page and signed in at the IdP."""
    network = Network()
    context = loopback_context(browser, network, cdn)
    page = context.new_page()
    page.goto(f"{site_url}{NOTEBOOK.removesuffix('.ipynb')}.html", wait_until="load")
    lab = click_launch_button(page, "Open in hub")
    sign_in_at_the_idp(lab, idp, ALICE, "1-alice")
    wait_for_notebook(lab, f"{CLONE}/{NOTEBOOK}")
    screenshot(lab, "1-alice-lab")
    yield {"context": context, "lab": lab, "network": network}
    context.close()


@pytest.fixture(scope="module")
def bob(browser, cdn, hubs, idp):
    """Bob, at another computer, opened the hub's address and signed in."""
    context = loopback_context(browser, Network(), cdn)
    page = context.new_page()
    page.goto(f"{hubs.persistent_url}/hub/", wait_until="load")
    sign_in_at_the_idp(page, idp, BOB, "2-bob")
    page.wait_for_url(re.compile(r"/user/bob/lab"), timeout=90_000)
    yield {"context": context, "page": page}
    context.close()


def test_open_in_hub_signs_in_at_the_idp_and_opens_the_notebook_as_that_student(alice):
    lab = alice["lab"]
    # The name the IdP released (Alice@example.edu), lower-cased, its one allowed domain dropped.
    assert user_prefix(lab) == "/user/alice/"
    assert lab.title().startswith("scatter.ipynb"), lab.title()
    assert alice["network"].refused_code() == []


def test_the_second_student_gets_their_own_server_and_not_the_firsts(alice, bob, hubs):
    page = bob["page"]
    assert "/user/bob/" in page.url
    own = bob["context"].request.get(f"{hubs.persistent_url}/user/bob/api/contents/{CLONE}")
    assert own.status == 200, own.status
    assert any(item["name"] == "notebooks" for item in own.json()["content"])
    # Alice's server is still there, and Bob's browser cannot open it.
    others = bob["context"].request.get(f"{hubs.persistent_url}/user/alice/api/contents")
    assert others.status == 403, (others.status, others.url)
    assert alice["context"].request.get(f"{hubs.persistent_url}/user/alice/api/status").status == 200


def test_a_spoofed_user_header_is_ignored(bob, hubs, idp):
    # No sign-on session: the header does not get anyone in, mod_auth_mellon starts a sign-in at the IdP.
    spoofed = requests.get(
        f"{hubs.persistent_url}/hub/login", headers={"X-Remote-User": "alice"}, allow_redirects=False, timeout=10
    )
    assert spoofed.status_code in (302, 303), spoofed.status_code
    assert spoofed.headers["Location"].startswith(f"{hubs.persistent_url}/mellon/login?"), spoofed.headers["Location"]
    # Signed in as Bob: claiming to be Alice still lands on Bob's own server.
    claimed = bob["context"].request.get(
        f"{hubs.persistent_url}/hub/user-redirect/api/contents", headers={"X-Remote-User": "alice"}
    )
    assert claimed.status == 200
    assert "/user/bob/" in claimed.url, claimed.url


def test_an_account_of_another_domain_is_refused_with_a_reason(browser, cdn, hubs, idp):
    context = loopback_context(browser, Network(), cdn)
    try:
        page = context.new_page()
        page.goto(f"{hubs.persistent_url}/hub/", wait_until="load")
        sign_in_at_the_idp(page, idp, EVE, "3-eve")
        page.locator("text=may not use this hub").first.wait_for(timeout=30_000)
        screenshot(page, "3-eve-refused")
        assert "@example.edu" in page.content()
        assert "/user/eve" not in page.url
    finally:
        context.close()


@pytest.mark.parametrize(
    ("user", "reason"),
    [
        (MALLORY, "'mallory@other.org@example.edu' is not a name this hub can take"),
        (TWINS, "your identity provider sent 2 values of eduPersonPrincipalName"),
        (NOBODY, "your identity provider sent no eduPersonPrincipalName"),
    ],
    ids=["scoped-twice", "two-values", "no-value"],
)
def test_an_odd_answer_of_the_identity_provider_is_refused_with_a_page_that_says_why(hubs, idp, user, reason):
    browser = requests.Session()  # what a browser does without JavaScript: redirects, the IdP's forms
    login_form = browser.get(f"{hubs.persistent_url}/hub/", timeout=30)
    answer = sign_in_over_http(browser, login_form, user)
    page = html.unescape(answer.text)
    assert answer.status_code == 403, (answer.status_code, answer.url, page[:2000])
    assert reason in page, page
    if user is not MALLORY:  # what to ask the identity provider's team, for a missing or doubled attribute
        assert "Ask the identity provider's team to release" in page
    assert "/user/" not in answer.url
    assert browser.get(f"{hubs.persistent_url}/hub/api/user", timeout=10).status_code == 403  # signed in as no one


def test_logging_out_ends_the_hub_and_the_single_sign_on_sessions(alice, bob, hubs, idp):
    # Without logging out, the IdP's session alone signs a browser back in without a password:
    # Bob's browser, with the hub's and mellon's cookies gone, comes straight back to his server.
    context = bob["context"]
    context.clear_cookies(name=re.compile(r"^(jupyterhub|mellon)"))
    page = context.new_page()
    page.goto(f"{hubs.persistent_url}/hub/home", wait_until="load")
    page.wait_for_url(re.compile(re.escape(hubs.persistent_url) + "/hub/home"), timeout=30_000)
    page.locator("text=bob").first.wait_for(timeout=10_000)
    assert page.locator('input[name="password"]').count() == 0

    # Alice logs out of the hub (JupyterLab's File > Log Out goes here): both sessions end.
    lab = alice["lab"]
    lab.goto(f"{hubs.persistent_url}/hub/logout", wait_until="load")
    lab.wait_for_url(f"{hubs.persistent_url}/hub/signed-out", timeout=30_000)
    lab.locator("text=Successfully logged out").wait_for(timeout=10_000)
    screenshot(lab, "4-alice-signed-out")
    # The next person at her computer gets the IdP's login form, not Alice's server.
    lab.goto(f"{hubs.persistent_url}/hub/home", wait_until="load")
    lab.wait_for_url(f"{idp.url}**", timeout=30_000)
    lab.locator('input[name="password"]').wait_for(timeout=10_000)
    screenshot(lab, "4-next-person")
    after = alice["context"].request.get(f"{hubs.persistent_url}/user/alice/api/status", max_redirects=0)
    assert after.status in (302, 303), after.status  # to the IdP: Alice's server is no longer this browser's
