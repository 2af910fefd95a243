"""A real SAML identity provider for the tests: Debian's SimpleSAMLphp, served by Debian's Apache with PHP.

What a university's IdP does, on 127.0.0.1: a login form for its users,
assertions signed with its own key, the user's attributes released under
their SAML (OID) names as federations release them, and single logout.  It
trusts the service providers whose metadata the test hands it
(:meth:`SamlIdentityProvider.trust`), as an institution registers a new SP.

SimpleSAMLphp reads its configuration from ``SIMPLESAMLPHP_CONFIG_DIR``: ours
includes Debian's ``/etc/simplesamlphp/config.php`` and changes only what a
test IdP needs (its URL, folders it may write, the example user source).
mod_php needs the prefork MPM, so this is an Apache of its own, separate from
the hub's.
"""

from __future__ import annotations

import html
import os
import pwd
import re
import secrets
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from support.providers import ProviderProcess, free_port, launch, wait_until_answering

SIMPLESAMLPHP = Path("/usr/share/simplesamlphp/www")
DEBIAN_CONFIG = Path("/etc/simplesamlphp/config.php")
PHP_MODULE = Path("/usr/lib/apache2/modules/libphp8.2.so")
#: eduPersonPrincipalName's SAML name: what the hub's mod_auth_mellon reads the user from.
EPPN = "urn:oid:1.3.6.1.4.1.5923.1.1.1.6"


@dataclass(frozen=True)
class IdpUser:
    name: str  # what the user types in the login form
    password: str
    principal: str | tuple[str, ...]  # eduPersonPrincipalName, e.g. alice@example.edu; () releases none

    @property
    def principals(self) -> tuple[str, ...]:
        return (self.principal,) if isinstance(self.principal, str) else self.principal


@dataclass
class SamlIdentityProvider(ProviderProcess):
    url: str = ""  # .../simplesaml/

    @property
    def metadata_url(self) -> str:
        return f"{self.url}saml2/idp/metadata.php"

    def trust(self, sp_metadata_xml: str) -> None:
        """Register a service provider, as the institution's IdP team does with the hub's metadata."""
        path = self.folder / "trusted-sp.xml"
        path.write_text(sp_metadata_xml, encoding="utf-8")
        path.chmod(0o644)

    def log(self) -> str:
        parts = [super().log()]
        for name in ("error.log", "simplesamlphp.log"):
            path = self.folder / "log" / name
            if path.exists():
                parts.append(f"--- {name}\n" + "\n".join(path.read_text(errors="replace").splitlines()[-30:]))
        return "\n".join(parts)


def sign_in_over_http(session, login_form, user: IdpUser):
    """What a browser does at the IdP's login form without JavaScript: post the name and password,
    then post the signed assertion back to the service provider (the form the IdP's page submits).

    ``login_form``: the ``requests`` response that landed on the form.  Returns the response
    after the service provider's redirects.
    """
    state = re.search(r'name="AuthState" value="([^"]+)"', login_form.text)
    assert state, f"not the IdP's login form: {login_form.url}"
    answer = session.post(
        login_form.url.split("?")[0],
        data={"username": user.name, "password": user.password, "AuthState": html.unescape(state.group(1))},
        timeout=30,
    )
    fields = dict(re.findall(r'name="(SAMLResponse|RelayState)" value="([^"]*)"', answer.text))
    target = re.search(r'<form[^>]+action="([^"]+)"', answer.text)
    assert "SAMLResponse" in fields and target, f"the IdP did not answer with an assertion: {answer.text[:500]}"
    data = {name: html.unescape(value) for name, value in fields.items()}
    return session.post(html.unescape(target.group(1)), data=data, timeout=120)


def start_saml_idp(users: tuple[IdpUser, ...]) -> SamlIdentityProvider:
    """SimpleSAMLphp on a free 127.0.0.1 port, ready to answer; fails loudly if a Debian package is missing."""
    for needed, package in (
        (SIMPLESAMLPHP, "simplesamlphp"),
        (PHP_MODULE, "libapache2-mod-php8.2"),
        (Path("/usr/sbin/apache2"), "apache2"),
    ):
        if not needed.exists():
            raise RuntimeError(f"{needed} is missing: apt-get install {package} (tests/install-deps.sh does)")
    folder = Path(tempfile.mkdtemp(prefix="oersite-idp-"))
    folder.chmod(0o755)
    port = free_port()
    url = f"http://127.0.0.1:{port}/simplesaml/"
    worker = "www-data" if os.geteuid() == 0 else pwd.getpwuid(os.getuid()).pw_name
    config = folder / "config"
    (config).mkdir()
    for writable in ("log", "data", "tmp", "sessions"):
        (folder / writable).mkdir()
        shutil.chown(folder / writable, user=worker)
    (folder / "metadata").mkdir()
    _make_key_pair(folder / "cert")
    (folder / "trusted-sp.xml").write_text(_EMPTY_METADATA, encoding="utf-8")
    (config / "config.php").write_text(_config_php(folder, url), encoding="utf-8")
    (config / "authsources.php").write_text(_authsources_php(users), encoding="utf-8")
    (folder / "metadata" / "saml20-idp-hosted.php").write_text(_IDP_HOSTED, encoding="utf-8")
    (folder / "httpd.conf").write_text(_httpd_conf(folder, port, worker), encoding="utf-8")
    process = launch(["apache2", "-f", str(folder / "httpd.conf"), "-DFOREGROUND"], folder, start_new_session=True)
    idp = SamlIdentityProvider(process, folder, url=url)
    return wait_until_answering(idp, idp.metadata_url, "SimpleSAMLphp", expect=b"IDPSSODescriptor")


def _make_key_pair(folder: Path) -> None:
    folder.mkdir()
    subprocess.run(
        [
            "openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
            "-subj", "/CN=oersite test IdP",
            "-keyout", str(folder / "idp.key"), "-out", str(folder / "idp.crt"),
        ],
        check=True,
        capture_output=True,
    )  # fmt: skip
    (folder / "idp.key").chmod(0o644)  # a throwaway key the IdP's workers read


def _php(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _config_php(folder: Path, url: str) -> str:
    overrides = {
        "baseurlpath": url,
        "certdir": f"{folder}/cert/",
        "loggingdir": f"{folder}/log/",
        "datadir": f"{folder}/data/",
        "tempdir": f"{folder}/tmp",
        "metadatadir": f"{folder}/metadata/",
        "secretsalt": secrets.token_hex(16),
        "auth.adminpassword": secrets.token_hex(16),
        "logging.handler": "file",
        "session.phpsession.savepath": f"{folder}/sessions",
        "timezone": "UTC",
    }
    lines = [
        "<?php",
        "// A test IdP: Debian's configuration with what a test needs changed (tests/support/saml_idp.py).",
        f"require {_php(str(DEBIAN_CONFIG))};",
        *(f"$config[{_php(key)}] = {_php(value)};" for key, value in overrides.items()),
        "$config['enable.saml20-idp'] = true;",
        "$config['session.cookie.secure'] = false;",
        "$config['language.cookie.secure'] = false;",
        "$config['session.cookie.samesite'] = null;",
        "$config['admin.checkforupdates'] = false;",
        "$config['module.enable'] = ['exampleauth' => true, 'core' => true, 'saml' => true];",
        "$config['metadata.sources'] = [",
        f"    ['type' => 'flatfile', 'directory' => {_php(str(folder / 'metadata'))}],",
        f"    ['type' => 'xml', 'file' => {_php(str(folder / 'trusted-sp.xml'))}],",
        "];",
        "",
    ]
    return "\n".join(lines)


def _authsources_php(users: tuple[IdpUser, ...]) -> str:
    def attributes(user: IdpUser) -> str:
        released = [f"'uid' => [{_php(user.name)}]"]
        if user.principals:  # an IdP that does not release the attribute (to this SP) sends none
            released.append(f"'eduPersonPrincipalName' => [{', '.join(map(_php, user.principals))}]")
        return ", ".join(released)

    entries = "\n".join(f"        {_php(user.name + ':' + user.password)} => [{attributes(user)}]," for user in users)
    return f"""<?php
$config = [
    'admin' => ['core:AdminPassword'],
    'users' => [
        'exampleauth:UserPass',
{entries}
    ],
];
"""


# The IdP itself: its key, the users above, attributes under their OID names (name2oid, the form
# SAML federations release them in), and signed single logout.
_IDP_HOSTED = """<?php
$metadata['__DYNAMIC:1__'] = [
    'host' => '__DEFAULT__',
    'privatekey' => 'idp.key',
    'certificate' => 'idp.crt',
    'auth' => 'users',
    'attributes.NameFormat' => 'urn:oasis:names:tc:SAML:2.0:attrname-format:uri',
    'authproc' => [100 => ['class' => 'core:AttributeMap', 'name2oid']],
    // Sign logout messages sent with the redirect binding, as service providers (mellon) require.
    'redirect.sign' => true,
];
"""

_EMPTY_METADATA = '<?xml version="1.0"?>\n<EntitiesDescriptor xmlns="urn:oasis:names:tc:SAML:2.0:metadata"/>\n'


def _httpd_conf(folder: Path, port: int, worker: str) -> str:
    modules = ["mpm_prefork", "authz_core", "alias", "mime", "env", "dir"]
    loads = "\n".join(
        f"<IfModule !{name}_module>\n    LoadModule {name}_module modules/mod_{name}.so\n</IfModule>"
        for name in modules
    )
    return f"""# SimpleSAMLphp for the tests (tests/support/saml_idp.py)
ServerRoot /usr/lib/apache2
{loads}
LoadModule php_module {PHP_MODULE}
User {worker}
Group {worker}
ServerName 127.0.0.1
Listen 127.0.0.1:{port}
PidFile {folder}/httpd.pid
DefaultRuntimeDir {folder}
ErrorLog {folder}/log/error.log
LogLevel warn
TypesConfig /etc/mime.types
StartServers 2
MinSpareServers 1
MaxSpareServers 4
Alias /simplesaml {SIMPLESAMLPHP}
<Directory {SIMPLESAMLPHP}>
    Require all granted
    SetEnv SIMPLESAMLPHP_CONFIG_DIR {folder}/config
    DirectoryIndex index.php
</Directory>
<FilesMatch "\\.php$">
    SetHandler application/x-httpd-php
</FilesMatch>
"""
