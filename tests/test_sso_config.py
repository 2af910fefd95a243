"""``oersite.hub.sso``: validated with the rest of _config.yml, written as Apache config that Apache accepts.

Each protocol's bundle goes through ``oersite hub check``, which runs
``apache2 -t`` with Debian's module for it (mod_auth_mellon, mod_auth_openidc,
mod_auth_cas) loaded; the SAML journey with a real identity provider is
test_sso.py.
"""

from __future__ import annotations

import stat
import subprocess
from pathlib import Path

import pytest
import yaml
from support.cli import oersite
from support.coursehelpers import make_course, tree_digest
from traitlets.config import Config

from oersite.config import load_course
from oersite.errors import ConfigError
from oersite.hub import configurer, sign_on
from oersite.hub.settings import NameRefused, hub_user_name

LAUNCH = {"hub_url": "https://hub.example.edu", "try_url": "https://try.example.edu"}
IDP_METADATA = """<?xml version="1.0"?>
<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" entityID="https://idp.example.edu/idp">
  <md:IDPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol">
    <md:SingleSignOnService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect"
        Location="https://idp.example.edu/idp/sso"/>
  </md:IDPSSODescriptor>
</md:EntityDescriptor>
"""
SIGN_ONS = {
    "saml": {"protocol": "saml", "idp_metadata": "idp-metadata.xml", "allowed_domains": ["ed.ac.uk"]},
    "oidc": {
        "protocol": "oidc",
        "issuer": "https://login.example.edu/realms/university",
        "client_id": "course-hub",
        "client_secret_file": "../oidc-client-secret",  # outside the course, out of git
        "user_attribute": "preferred_username",
    },
    "cas": {"protocol": "cas", "cas_url": "https://cas.example.edu/cas"},
}
CLIENT_SECRET = "the-client-secret-7f3a"
SECRET_FILE = "oidc-client-secret"


def course_with_sign_on(tmp_path: Path, sso: dict) -> Path:
    root = make_course(
        tmp_path / "course",
        {"lessons/plot.ipynb": ["1 + 1"]},
        config={
            "repository": {"url": "https://github.com/example/course"},
            "oersite": {"launch": LAUNCH, "hub": {"sso": sso}},
        },
    )
    (root / "idp-metadata.xml").write_text(IDP_METADATA, encoding="utf-8")
    (root.parent / SECRET_FILE).write_text(CLIENT_SECRET + "\n", encoding="utf-8")
    subprocess.run(["git", "init", "-q"], cwd=root, check=True)
    return root


def hub_config(root: Path):
    return oersite("hub", "config", str(root))


@pytest.mark.parametrize("protocol", sorted(SIGN_ONS))
def test_each_protocol_writes_apache_config_that_apache_accepts_with_its_module(tmp_path, protocol):
    root = course_with_sign_on(tmp_path, SIGN_ONS[protocol])
    result = hub_config(root)
    assert result.exit_code == 0, result.output
    hub = root / "hub"
    module = {"saml": "auth_mellon", "oidc": "auth_openidc", "cas": "auth_cas"}[protocol]
    assert f"LoadModule {module}_module modules/mod_{module}.so" in (hub / "apache" / "httpd.conf").read_text()
    package = {
        "saml": "libapache2-mod-auth-mellon",
        "oidc": "libapache2-mod-auth-openidc",
        "cas": "libapache2-mod-auth-cas",
    }
    assert f"ca-certificates apache2 {package[protocol]}" in (hub / "apache.Dockerfile").read_text()
    checked = oersite("hub", "check", str(root))
    assert checked.exit_code == 0, checked.output
    assert "apache/httpd.conf" in checked.output
    # No secret in a file git would track: what `git add -A` would take, as git itself says.
    would_track = subprocess.run(
        ["git", "ls-files", "--others", "--exclude-standard", "-z"],
        cwd=root,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split("\0")
    assert "hub/apache/sso.conf" in would_track
    for relative in filter(None, would_track):
        text = (root / relative).read_text(errors="replace")
        assert CLIENT_SECRET not in text, relative
        assert "PRIVATE KEY" not in text, relative


def test_saml_makes_the_service_providers_key_once_and_says_what_to_register(tmp_path):
    root = course_with_sign_on(tmp_path, SIGN_ONS["saml"])
    first = hub_config(root)
    assert first.exit_code == 0, first.output
    saml = root / "hub" / "apache" / "saml"
    assert f"Register the hub with your identity provider: hand over {saml / 'sp-metadata.xml'}" in first.output
    metadata = (saml / "sp-metadata.xml").read_text()
    assert 'entityID="https://hub.example.edu/mellon/metadata"' in metadata
    assert 'Location="https://hub.example.edu/mellon/postResponse"' in metadata
    assert stat.S_IMODE((saml / "sp.key").stat().st_mode) == 0o600
    assert "apache/saml/" in (root / "hub" / ".gitignore").read_text().split()
    key = (saml / "sp.key").read_bytes()
    assert hub_config(root).exit_code == 0
    assert (saml / "sp.key").read_bytes() == key, "a new key would mean registering the hub again"
    sso = (root / "hub" / "apache" / "sso.conf").read_text()
    # The user comes from eduPersonPrincipalName, with how many values it had (the hub takes exactly one).
    assert 'MellonSetEnvNoPrefix OERSITE_SIGNED_IN_AS "urn:oid:1.3.6.1.4.1.5923.1.1.1.6"' in sso
    assert "MellonSecureCookie On" in sso
    # mellon's key is read when Apache reads its config: without it, apache2 -t says so.
    (saml / "sp.key").unlink()
    checked = oersite("hub", "check", str(root))
    assert checked.exit_code == 1 and "sp.key" in checked.output


def test_oidc_reads_the_client_secret_from_its_file_into_the_private_env(tmp_path):
    root = course_with_sign_on(tmp_path, SIGN_ONS["oidc"])
    assert hub_config(root).exit_code == 0
    env = (root / "hub" / ".env").read_text()
    assert f"OERSITE_OIDC_CLIENT_SECRET={CLIENT_SECRET}\n" in env
    assert "OERSITE_OIDC_PASSPHRASE=" in env
    passphrase = [line for line in env.splitlines() if line.startswith("OERSITE_OIDC_PASSPHRASE=")]
    (root.parent / SECRET_FILE).write_text("a-rotated-secret\n")
    assert hub_config(root).exit_code == 0
    env = (root / "hub" / ".env").read_text()
    assert "OERSITE_OIDC_CLIENT_SECRET=a-rotated-secret\n" in env and CLIENT_SECRET not in env
    assert [line for line in env.splitlines() if line.startswith("OERSITE_OIDC_PASSPHRASE=")] == passphrase
    assert stat.S_IMODE((root / "hub" / ".env").stat().st_mode) == 0o600
    sso = (root / "hub" / "apache" / "sso.conf").read_text()
    assert (
        'OIDCProviderMetadataURL "https://login.example.edu/realms/university/.well-known/openid-configuration"' in sso
    )
    assert 'OIDCRemoteUserClaim "preferred_username"' in sso
    assert 'OIDCClientSecret "${OERSITE_OIDC_CLIENT_SECRET}"' in sso


@pytest.mark.parametrize(
    ("sso", "message"),
    [
        (
            {"protocol": "kerberos"},
            "oersite.hub.sso.protocol: expected one of basic, saml, oidc, cas, found 'kerberos'",
        ),
        ({"protocol": "saml"}, "oersite.hub.sso.idp_metadata: required with protocol saml"),
        ({"protocl": "saml"}, "oersite.hub.sso.protocl: unknown key; did you mean 'protocol'?"),
        (
            {"protocol": "saml", "idp_metadata": "m.xml", "client_id": "x"},
            "oersite.hub.sso.client_id: only used with protocol oidc",
        ),
        (
            {"protocol": "cas", "cas_url": "https://cas.example.edu", "user_attribute": "mail"},
            "oersite.hub.sso.user_attribute: cas names the user itself",
        ),
        ({"protocol": "cas", "cas_url": "cas.example.edu"}, "oersite.hub.sso.cas_url: expected an https URL"),
        ({"allowed_domains": ["@ed.ac.uk"]}, "oersite.hub.sso.allowed_domains: expected domain names such as ed.ac.uk"),
        (
            {**SIGN_ONS["oidc"], "issuer": "http://login.example.edu"},
            "oersite.hub.sso.issuer: expected an https URL (what the hub trusts must come over TLS",
        ),
        (
            {**SIGN_ONS["saml"], "idp_metadata": "http://idp.example.edu/metadata"},
            "oersite.hub.sso.idp_metadata: expected an https URL",
        ),
        ({**SIGN_ONS["oidc"], "user_attribute": None}, "oersite.hub.sso.user_attribute: required with protocol oidc"),
        ({**SIGN_ONS["oidc"], "client_id": 'hub" evil'}, "oersite.hub.sso.client_id: no spaces, quotes or backslashes"),
    ],
)
def test_sign_on_mistakes_are_one_line_naming_the_key(tmp_path, sso, message):
    root = course_with_sign_on(tmp_path, sso)
    with pytest.raises(ConfigError) as raised:
        load_course(root)
    assert message in str(raised.value.message)
    result = hub_config(root)
    assert result.exit_code == 1 and message in result.output and "Traceback" not in result.output


@pytest.mark.parametrize(
    ("sso", "make_it_wrong", "message"),
    [
        (SIGN_ONS["oidc"], lambda root: (root.parent / SECRET_FILE).unlink(), "sso.client_secret_file: cannot read"),
        (SIGN_ONS["oidc"], lambda root: (root.parent / SECRET_FILE).write_text("\n"), "is empty; save the client"),
        (SIGN_ONS["oidc"], lambda root: (root.parent / SECRET_FILE).write_text("a b\n"), "more than one secret word"),
        (SIGN_ONS["saml"], lambda root: (root / "idp-metadata.xml").write_text("<html/>"), "is not a SAML identity"),
        (
            {**SIGN_ONS["saml"], "idp_metadata": "http://127.0.0.1:9/metadata"},
            lambda root: None,
            "oersite.hub.sso.idp_metadata: could not fetch http://127.0.0.1:9/metadata",
        ),
    ],
)
def test_what_the_sign_on_needs_beside_the_config_stops_hub_config_before_it_writes(
    tmp_path, sso, make_it_wrong, message
):
    root = course_with_sign_on(tmp_path, sso)
    make_it_wrong(root)
    before = tree_digest(root)
    result = hub_config(root)
    assert result.exit_code == 1, result.output
    assert message in result.output and "Traceback" not in result.output
    assert len(result.output.strip().splitlines()) == 1, result.output
    assert tree_digest(root) == before, "nothing written"


def test_a_missing_module_is_one_line_naming_its_debian_package(tmp_path, monkeypatch):
    monkeypatch.setattr(sign_on, "APACHE_SERVER_ROOT", str(tmp_path))
    sso = load_course(course_with_sign_on(tmp_path, SIGN_ONS["cas"])).settings.hub.sso
    with pytest.raises(Exception) as raised:
        sign_on.require_module(sso)
    assert str(raised.value.message) == (
        "oersite.hub.sso.protocol is cas, but Apache's mod_auth_cas is not installed here; "
        "install it with: apt-get install libapache2-mod-auth-cas"
    )


def test_hub_serve_refuses_a_users_file_when_students_sign_in_elsewhere(tmp_path):
    root = course_with_sign_on(tmp_path, SIGN_ONS["cas"])
    subprocess.run(["git", "init", "-q"], cwd=root, check=True)
    users = tmp_path / "users.htpasswd"
    users.write_text("")
    result = oersite("hub", "serve", str(root), "--users", str(users))
    assert result.exit_code == 1
    assert "--users is Basic auth's htpasswd file, but oersite.hub.sso.protocol is cas" in result.output


# The hub's side: one rule for user names, and a logout that ends the sign-on too.


def test_one_rule_turns_what_the_idp_says_into_the_hubs_user_name():
    assert hub_user_name("S1234567@ED.AC.UK", ["ed.ac.uk"]) == "s1234567"
    # Two domains: the scope stays, so s1@ed.ac.uk and s1@sms.ed.ac.uk stay two students.
    assert hub_user_name("s1@sms.ed.ac.uk", ["ed.ac.uk", "sms.ed.ac.uk"]) == "s1@sms.ed.ac.uk"
    assert hub_user_name(" Ada ", []) == "ada"
    assert hub_user_name("ada.lovelace_1@example.org", []) == "ada.lovelace_1@example.org"


@pytest.mark.parametrize(
    ("signed_in_as", "domains", "values", "reason"),
    [
        ("s1234567@other.ac.uk", ["ed.ac.uk"], 1, "s1234567@other.ac.uk may not use this hub: it takes @ed.ac.uk"),
        ("s1234567", ["ed.ac.uk"], 1, "may not use this hub"),  # unscoped: cannot tell where it is from
        ("mallory@other.org@ed.ac.uk", ["ed.ac.uk"], 1, "with at most one @ before its domain"),
        ("mallory@other.org@ed.ac.uk", [], 1, "with at most one @"),
        ("@ed.ac.uk", ["ed.ac.uk"], 1, "is not a name this hub can take"),
        ("s1@ed.ac.uk", ["ed.ac.uk"], 2, "sent 2 values of eduPersonPrincipalName"),
        ("", ["ed.ac.uk"], 0, "sent no eduPersonPrincipalName"),
        ("   ", [], 1, "sent no eduPersonPrincipalName"),
        ("s1@ed.ac.uk", ["ed.ac.uk"], 0, "Ask the identity provider's team to release"),
        ("ada lovelace", [], 1, "letters a-z, digits, and . _ - inside"),
        ("ada\nRequire all granted", [], 1, "is not a name"),
        ("ada/../bob", [], 1, "is not a name"),
        ("ada\\bob", [], 1, "is not a name"),
        ('ada"', [], 1, "is not a name"),
        ("${OERSITE_PROXY_SECRET}", [], 1, "is not a name"),
        ("ada\x00", [], 1, "is not a name"),
        ("ada\u2028", [], 1, "is not a name"),
        ("-ada", [], 1, "is not a name"),
        ("ada.", [], 1, "is not a name"),
        ("a" * 65, [], 1, "is not a name"),
        # Look-alikes are refused, never folded into someone else's name: KELVIN SIGN lower-cases to "k".
        ("\u212aate@ed.ac.uk", ["ed.ac.uk"], 1, "is not a name"),
        ("\uff41da@ed.ac.uk", ["ed.ac.uk"], 1, "is not a name"),
        ("ada@ed.ac.uk.", ["ed.ac.uk"], 1, "is not a name"),
    ],
)
def test_the_name_rule_refuses_hostile_names_saying_why(signed_in_as, domains, values, reason):
    with pytest.raises(NameRefused) as refused:
        hub_user_name(signed_in_as, domains, values=values, attribute="eduPersonPrincipalName")
    assert reason in str(refused.value)


def test_a_name_that_no_sign_in_can_give_in_the_users_lists_is_a_config_error(tmp_path):
    sso = {**SIGN_ONS["saml"], "allowed_domains": ["ed.ac.uk"]}
    root = course_with_sign_on(tmp_path, sso)
    config = yaml.safe_load((root / "_config.yml").read_text())
    config["oersite"]["hub"]["persistent"] = {"admin_users": ["S1@ed.ac.uk", "s2"], "blocked_users": ["x@y.org"]}
    (root / "_config.yml").write_text(yaml.safe_dump(config))
    with pytest.raises(ConfigError) as raised:
        load_course(root)
    (line,) = str(raised.value.message).splitlines()
    assert "oersite.hub.persistent.blocked_users[0]: x@y.org may not use this hub" in line


def _sign_on_config(tmp_path, sso: dict) -> Config:
    from oersite.hub.course_settings import hub_settings

    settings = hub_settings(load_course(course_with_sign_on(tmp_path, sso)))
    c = Config()
    configurer.update_sign_on(c, settings.sso, settings.persistent_url)
    return c


def test_logging_out_of_the_hub_goes_through_the_sign_on_modules_logout(tmp_path):
    saml = _sign_on_config(tmp_path / "saml", SIGN_ONS["saml"]).ProxyHeaderAuthenticator
    assert saml.sign_on_logout_url == "/mellon/logout?ReturnTo=https%3A%2F%2Fhub.example.edu%2Fhub%2Fsigned-out"
    assert saml.allowed_domains == ["ed.ac.uk"]
    oidc = _sign_on_config(tmp_path / "oidc", SIGN_ONS["oidc"]).ProxyHeaderAuthenticator
    assert oidc.sign_on_logout_url.startswith("/oidc/callback?logout=https%3A%2F%2Fhub.example.edu")
    cas = _sign_on_config(tmp_path / "cas", SIGN_ONS["cas"]).ProxyHeaderAuthenticator
    assert cas.sign_on_logout_url == (
        "https://cas.example.edu/cas/logout?service=https%3A%2F%2Fhub.example.edu%2Fhub%2Fsigned-out"
    )
    assert cas.sign_on_cookies == ["MOD_AUTH_CAS", "MOD_AUTH_CAS_S"]
    basic = _sign_on_config(tmp_path / "basic", {"protocol": "basic"}).ProxyHeaderAuthenticator
    assert basic.sign_on_logout_url == ""


def test_blocked_names_are_normalised_like_the_signed_in_one():
    from oersite.hub.authenticator import ProxyHeaderAuthenticator

    authenticator = ProxyHeaderAuthenticator(allowed_domains=["ed.ac.uk"], blocked_users={"Troll@ED.ac.uk", "Mallory"})
    assert authenticator.normalize_username("S1234567@ed.ac.uk") == "s1234567"
    assert authenticator.check_blocked_users("troll") is False
    assert authenticator.check_blocked_users("mallory") is False
    assert authenticator.check_blocked_users("s1234567") is True


@pytest.mark.slow  # mellon_create_metadata, twice
def test_hub_config_and_hub_serve_at_one_address_sign_with_one_key(tmp_path):
    sso = {**SIGN_ONS["saml"]}
    root = course_with_sign_on(tmp_path, sso)
    config = yaml.safe_load((root / "_config.yml").read_text())
    config["oersite"]["launch"]["hub_url"] = "http://127.0.0.1:8000"  # where oersite hub serve answers
    (root / "_config.yml").write_text(yaml.safe_dump(config))
    settings = load_course(root).settings.hub.sso
    state = root / "_build" / "hub" / "apache" / "saml"  # where oersite hub serve keeps its SP files
    # hub serve ran first and was registered: hub config takes over its key, and says to hand over that.
    served = sign_on.prepare_saml(settings, root, state, "http://127.0.0.1:8000", shared=root / "hub/apache/saml")
    result = hub_config(root)
    assert result.exit_code == 0, result.output
    bundle = root / "hub" / "apache" / "saml"
    assert (bundle / "sp.key").read_bytes() == (state / "sp.key").read_bytes()
    assert (bundle / "sp-metadata.xml").read_bytes() == served.read_bytes()
    assert f"hand over {bundle / 'sp-metadata.xml'}" in result.output
    assert "oersite hub serve at that address signs with the same key" in result.output
    # The other way round: a key of hub config's that the IdP knows wins over one hub serve made before.
    other = tmp_path / "other"
    sign_on.prepare_saml(settings, root, other, "http://127.0.0.1:8000")
    assert (other / "sp.key").read_bytes() != (bundle / "sp.key").read_bytes()
    sign_on.prepare_saml(settings, root, other, "http://127.0.0.1:8000", shared=bundle, prefer_shared=True)
    assert (other / "sp.key").read_bytes() == (bundle / "sp.key").read_bytes()
    # Another address is another service provider: its own key.
    elsewhere = tmp_path / "elsewhere"
    sign_on.prepare_saml(settings, root, elsewhere, "http://127.0.0.1:9000", shared=bundle, prefer_shared=True)
    assert (elsewhere / "sp.key").read_bytes() != (bundle / "sp.key").read_bytes()
