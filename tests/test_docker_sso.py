"""The Docker bundle with SAML sign-on: the Apache image's mod_auth_mellon in front of the hub, a real IdP.

The bundle is deployed with hub/README.md's commands (docker_deployment.py), with
``oersite.hub.sso.protocol: saml`` pointing at Debian's SimpleSAMLphp on
127.0.0.1 (saml_idp.py), which then trusts the hub's metadata, as the
institution's IdP team does.  A student signs in over HTTPS and gets their own
container; logging out ends the IdP's session too.  The Chromium journey through
the same sign-on is test_sso.py's; this proves the image.
"""

from __future__ import annotations

import time

import pytest
from support.docker_deployment import TEST_SETTINGS, deploy, undeploy
from support.hub_clients import follow
from support.saml_idp import IdpUser, sign_in_over_http, start_saml_idp

from oersite.hub import layout

pytestmark = pytest.mark.slow

STUDENT = IdpUser("grace", "grace-password", "grace@example.edu")
TWINS = IdpUser("twins", "twins-password", ("twin1@example.edu", "twin2@example.edu"))  # two values: refused


@pytest.fixture(scope="module")
def idp():
    provider = start_saml_idp((STUDENT, TWINS))
    yield provider
    provider.stop()


@pytest.fixture(scope="module")
def deployment(docker_engine, sample_course, built_sample, idp, tmp_path_factory):
    sso = (
        f"    sso:\n      protocol: saml\n      idp_metadata: {idp.metadata_url}\n"
        "      allowed_domains: [example.edu]\n"
    )
    settings = TEST_SETTINGS.replace("  hub:\n", "  hub:\n" + sso, 1)
    started = time.monotonic()
    running = deploy(docker_engine, sample_course, tmp_path_factory.mktemp("docker-sso"), settings)
    print(f"bundle with SAML built and up in {time.monotonic() - started:.0f} s")
    try:
        metadata = running.session().get(f"{running.persistent_url}/mellon/metadata", timeout=10)
        assert metadata.status_code == 200, metadata.status_code
        idp.trust(metadata.text)
        yield running
    finally:
        undeploy(running)


def test_the_apache_image_carries_mellon_and_serves_the_hubs_saml_metadata(deployment):
    conf = f"{layout.APACHE_DIR}/httpd.conf"
    apache = deployment.compose("exec", "-T", "apache", "apache2", "-d", layout.APACHE_SERVER_ROOT, "-f", conf, "-M")
    assert "auth_mellon_module" in apache
    metadata = deployment.session().get(f"{deployment.persistent_url}/mellon/metadata", timeout=10).text
    assert f'entityID="{deployment.persistent_url}/mellon/metadata"' in metadata
    assert metadata == (deployment.hub / "apache" / "saml" / "sp-metadata.xml").read_text()


def test_a_student_signs_in_at_the_idp_gets_a_container_and_logging_out_ends_both_sessions(deployment, idp):
    session = deployment.session()
    login_form = session.get(f"{deployment.persistent_url}/hub/", timeout=30)
    assert login_form.url.startswith(idp.url), login_form.url  # Apache sent the browser to the IdP
    landed = sign_in_over_http(session, login_form, STUDENT)
    assert landed.url.startswith(deployment.persistent_url), landed.url
    # Her own server, in her own container, opening the course (nbgitpuller's page, then JupyterLab).
    follow(session, landed.url, lambda response: response.ok and "/user/grace/" in response.url, seconds=180)
    assert session.get(f"{deployment.persistent_url}/user/grace/api/status", timeout=10).status_code == 200
    assert any(name.startswith("oersite-student-grace") for name in deployment.engine.names())

    signed_out = session.get(f"{deployment.persistent_url}/hub/logout", timeout=30)
    assert signed_out.url == f"{deployment.persistent_url}/hub/signed-out", signed_out.url
    assert "Successfully logged out" in signed_out.text
    again = session.get(f"{deployment.persistent_url}/hub/home", timeout=30)
    assert again.url.startswith(idp.url) and 'name="password"' in again.text, again.url


def test_the_apache_images_mellon_tells_the_hub_of_a_second_value_and_the_hub_refuses_it(deployment):
    session = deployment.session()
    landed = sign_in_over_http(session, session.get(f"{deployment.persistent_url}/hub/", timeout=30), TWINS)
    assert landed.status_code == 403, (landed.status_code, landed.url)
    assert "sent 2 values of eduPersonPrincipalName" in landed.text.replace("&#39;", "'")


def test_the_hubs_databases_are_the_hubs_alone(deployment):
    for hub in ("persistent-hub", "ephemeral-hub"):
        mode = deployment.compose("exec", "-T", hub, "stat", "-c", "%a", f"{layout.HUB_DATA}/jupyterhub.sqlite")
        assert mode.strip() == "600", (hub, mode)
