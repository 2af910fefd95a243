"""Apache httpd configuration for the single-sign-on reverse proxy.

One generator for both places the proxy runs, both Debian's ``apache2``
started in the foreground with ``-d /usr/lib/apache2`` and this file: the
bundle's Apache image (``hub/apache/httpd.conf``, built from Debian) and
``oersite hub serve`` (this machine's Apache on 127.0.0.1).  Module paths are
relative to that ServerRoot (``modules/``), so the same text passes ``apache2 -t``
here.

What keeps the user header trustworthy (see ``oersite.hub.authenticator``):
Apache removes any incoming copy of the user and secret headers before
anything else (``early``), authenticates, then sets the user header from
``REMOTE_USER`` (as ``expr=``: ``%{REMOTE_USER}s`` sends the literal "(null)"
without mod_ssl) and adds the shared secret from the environment, so the
secret is never in a file.  Websockets (kernels) pass with
``upgrade=websocket``; ``ProxyPreserveHost On`` keeps them same-origin;
``AllowEncodedSlashes NoDecode`` with ``nocanon`` keeps encoded paths intact.

Who may in is the sign-on file (``sso.conf``), included in the persistent
hub's virtual host: :func:`sign_on_conf` writes it for the protocol
``oersite.hub.sso`` names, with Debian's module for it (mod_auth_mellon,
mod_auth_openidc, mod_auth_cas; Basic auth to try things out).  It protects
everything but the page the hub shows after logging a browser out of the
single sign-on (``SIGNED_OUT_PATH``).

Every value is written through :func:`quoted` (one argument, in double quotes),
and the course title, which becomes Basic auth's realm (``AuthName``, which
Apache reads as an expression), through :func:`realm` as well: no value can add
a directive, read a variable or end its quotes.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass

from oersite.errors import HubError
from oersite.hub.settings import (
    MELLON_PATH,
    OIDC_REDIRECT_PATH,
    PROXY_SECRET_VARIABLE,
    SIGN_ON_MODULES,
    SIGNED_OUT_PATH,
    VALUES_HEADER,
    SignOnSettings,
)
from oersite.schema import text_problem

#: What the hubs and students' servers receive of a browser's cookies: JupyterHub's own (its sign-in, the
#: servers' OAuth, ``jupyterhub-*``) and the XSRF cookie; RequestHeader edit* removes every other one,
#: the sign-on module's session and an identity provider's on the same host alike.
KEPT_COOKIES = r"jupyterhub-[^=;]*|_xsrf"
OTHER_COOKIES = rf"(^|;\s*)(?!({KEPT_COOKIES})=)[^;\s][^;]*"
#: The environment variable mod_auth_mellon puts the user attribute in (and its number of values, ``_N``).
SAML_USER_VARIABLE = "OERSITE_SIGNED_IN_AS"
#: Environment variables Apache reads the OpenID Connect secrets from (never written in a file).
OIDC_SECRET_VARIABLE = "OERSITE_OIDC_CLIENT_SECRET"
OIDC_PASSPHRASE_VARIABLE = "OERSITE_OIDC_PASSPHRASE"
#: The names of Apache's own Defines the generated files refer to as ``${NAME}``: the only ``${`` a value may hold.
_OWN_DEFINES = re.compile(r"\$\{(SSO_CONF|SAML_DIR|TLS_DIR|RUNTIME_DIR)\}")


def quoted(value: str) -> str:
    """``value`` as one argument of a directive: in double quotes, with ``\\`` and ``"`` escaped.

    Apache reads a new line as a new directive and puts a variable's value
    wherever ``${NAME}`` stands, quoted or not: a value with either (or with
    ``%{``, an expression's variable) is refused.  ``oersite.config`` refuses
    such a value when it loads ``_config.yml``, naming its key, so this refusal
    is for what did not come from there (a folder's name).
    """
    problem = text_problem(_OWN_DEFINES.sub("", value))
    if problem:
        raise HubError(f"cannot write {value!r} into Apache's configuration: {problem}")
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def defined_folder(folder: str) -> str:
    """A folder as the value of a ``Define``, which Apache puts into the lines that say ``${NAME}``.

    Those lines hold it between double quotes, but Apache puts it there before it
    reads the quotes: a folder whose name has a quote mark or a backslash is refused.
    """
    if re.search(r'["\\]', folder):
        raise HubError(f"cannot write {folder!r} into Apache's configuration: no quote marks or backslashes")
    return quoted(folder)


def realm(title: str) -> str:
    """``title`` as the text of ``AuthName``, which browsers show as the realm of the sign-in.

    Apache 2.4 reads ``AuthName`` as an expression string (``%{...}`` would be
    a variable, ``$1`` a match, ``\\`` an escape) and sends the result between
    double quotes in ``WWW-Authenticate``: quote marks and backslashes are
    escaped for the header, then ``\\``, ``%`` and ``$`` for the expression.
    """
    header = title.replace("\\", "\\\\").replace('"', '\\"')
    return quoted(re.sub(r"([\\%$])", r"\\\1", header))


def _word(value: str, pattern: str = r"[A-Za-z0-9][A-Za-z0-9.:\[\]-]*") -> str:
    """A value written bare (a header's or a host's name): only characters that need no quotes."""
    if not re.fullmatch(pattern, value):
        raise HubError(f"cannot write {value!r} into Apache's configuration: expected a name")
    return value


#: Modules the proxy needs; the guards skip ones compiled in (Debian builds in unixd and log_config).
MODULES = (
    "mpm_event",
    "unixd",
    "log_config",
    "authn_core",
    "authn_file",
    "authz_core",
    "authz_user",
    "auth_basic",
    "headers",
    "env",
    "proxy",
    "proxy_http",
    "socache_shmcb",
    "ssl",
)


@dataclass(frozen=True)
class ProxiedSite:
    """One virtual host: a public address in front of one hub's proxy."""

    server_name: str
    port: int
    tls: bool
    backend: str  # the hub's configurable-http-proxy, e.g. http://127.0.0.1:780
    sso_include: str | None = None  # the sign-on file (sign_on_conf); None: no sign-in (ephemeral hub)
    sso_protocol: str = "basic"  # which module that file uses (its Apache module is loaded)
    user_header: str = "X-Remote-User"
    secret_header: str = "X-Oersite-Proxy-Secret"

    @property
    def listen(self) -> str:
        """What Apache listens on for this site: the address itself when the URL names one, else every address.

        ``https://127.0.0.1:8443`` is reachable from this machine only, so Apache
        binds 127.0.0.1 alone; ``https://hub.example.edu`` binds port 443 on all.
        """
        if self.server_name == "localhost":
            return f"127.0.0.1:{self.port}"
        try:
            address = ipaddress.ip_address(self.server_name)
        except ValueError:
            return str(self.port)
        host = f"[{address}]" if address.version == 6 else str(address)
        return f"{host}:{self.port}"


def httpd_conf(
    sites: list[ProxiedSite],
    *,
    runtime_dir: str,
    user: str = "www-data",
    error_log: str = "/proc/self/fd/2",
    access_log: str = "/proc/self/fd/1",
    tls_dir: str = "",
    header: str = "",
) -> str:
    """The whole ``httpd.conf``: modules, process settings and one virtual host per site.

    ``runtime_dir`` holds the pid file and the TLS session cache, and must be
    writable by the user Apache starts as (root in the image).
    """
    lines = [header] if header else []
    sign_on = sorted({SIGN_ON_MODULES[site.sso_protocol][0] for site in sites if site.sso_include})
    for module in (*MODULES, *(name for name in sign_on if name not in MODULES)):
        lines += [
            f"<IfModule !{module}_module>",
            f"    LoadModule {module}_module modules/mod_{module}.so",
            "</IfModule>",
        ]
    for protocol in sorted({site.sso_protocol for site in sites if site.sso_include}):
        lines += _SIGN_ON_SERVER_WIDE.get(protocol, [])
    lines += [
        "",
        f"User {_word(user, r'#?[A-Za-z0-9_][A-Za-z0-9_.-]*')}",
        f"Group {_word(user, r'#?[A-Za-z0-9_][A-Za-z0-9_.-]*')}",
        "ServerName localhost",
        "# The pid file and TLS session cache (override with -C 'Define RUNTIME_DIR ...').",
        "<IfDefine !RUNTIME_DIR>",
        f"    Define RUNTIME_DIR {defined_folder(runtime_dir)}",
        "</IfDefine>",
        'DefaultRuntimeDir "${RUNTIME_DIR}"',
        'PidFile "${RUNTIME_DIR}/httpd.pid"',
        f"ErrorLog {quoted(error_log)}",
        "LogLevel warn",
        'LogFormat "%h %u %t \\"%r\\" %>s %b %D" oersite',
        f"CustomLog {quoted(access_log)} oersite",
        "ServerTokens Prod",
        "TraceEnable Off",
        "Timeout 300",
    ]
    if any(site.tls for site in sites):
        lines += [
            "# Certificates: fullchain.pem and privkey.pem in this folder (override with -C 'Define TLS_DIR ...').",
            "<IfDefine !TLS_DIR>",
            f"    Define TLS_DIR {defined_folder(tls_dir)}",
            "</IfDefine>",
            "SSLProtocol all -SSLv3 -TLSv1 -TLSv1.1",
            'SSLSessionCache "shmcb:${RUNTIME_DIR}/ssl_scache(512000)"',
        ]
    lines.append("")
    lines += [f"Listen {listen}" for listen in _listen_lines(sites)]
    for site in sites:
        lines += ["", *_virtual_host(site)]
    return "\n".join(lines) + "\n"


def _listen_lines(sites: list[ProxiedSite]) -> list[str]:
    """One Listen per port; a port that one site needs on every address is bound on every address."""
    by_port: dict[int, set[str]] = {}
    for site in sites:
        by_port.setdefault(site.port, set()).add(site.listen)
    return [forms.pop() if len(forms) == 1 else str(port) for port, forms in by_port.items()]


def _virtual_host(site: ProxiedSite) -> list[str]:
    backend = site.backend.rstrip("/") + "/"
    lines = [f"<VirtualHost *:{site.port}>", f"    ServerName {_word(site.server_name)}"]
    if site.tls:
        lines += [
            "    SSLEngine on",
            '    SSLCertificateFile "${TLS_DIR}/fullchain.pem"',
            '    SSLCertificateKeyFile "${TLS_DIR}/privkey.pem"',
            '    Header always set Strict-Transport-Security "max-age=31536000"',
        ]
    user_header, secret_header = _word(site.user_header), _word(site.secret_header)
    lines += [
        "    # Only this proxy may say who the user is: drop any copy the browser sent.",
        f"    RequestHeader unset {user_header} early",
        f"    RequestHeader unset {secret_header} early",
        f"    RequestHeader unset {VALUES_HEADER} early",
        "    ProxyRequests Off",
        "    ProxyPreserveHost On",
        "    AllowEncodedSlashes NoDecode",
    ]
    if site.tls:
        lines.append('    RequestHeader set X-Forwarded-Proto "https"')
    lines += [
        "    # The hubs and students' servers get JupyterHub's cookies and nothing else a browser keeps for this",
        "    # host: not the sign-on's session, not an identity provider's on the same host (a student's server",
        "    # runs code the student controls; an admin opening it would hand them over). Not on mellon's own",
        "    # endpoints, which read its cookie after this runs.",
        f'    <LocationMatch "^/(?!{MELLON_PATH.strip("/")}/)">',
        f'        RequestHeader edit* Cookie "{OTHER_COOKIES}" ""',
        *(
            ['        RequestHeader edit Authorization "^Basic .*$" ""']
            if site.sso_include and site.sso_protocol == "basic"
            else []
        ),
        "    </LocationMatch>",
    ]
    if site.sso_include:
        user = f"%{{env:{SAML_USER_VARIABLE}}}" if site.sso_protocol == "saml" else "%{REMOTE_USER}"
        lines += [
            "    # Who may in: the single sign-on (sso.conf, written for oersite.hub.sso's protocol).",
            f"    Include {quoted(site.sso_include)}",
            '    <Location "/hub/">',
            "        # Only the hub hears who the user is, with the secret that proves it came from here;",
            "        # students' servers (/user/...) get neither.",
            f'        RequestHeader set {user_header} "expr={user}"',
            *(
                # How many values the user attribute had: the hub takes a name from exactly one.
                [f'        RequestHeader set {VALUES_HEADER} "expr=%{{env:{SAML_USER_VARIABLE}_N}}"']
                if site.sso_protocol == "saml"
                else []
            ),
            f'        RequestHeader set {secret_header} "${{{PROXY_SECRET_VARIABLE}}}"',
            "    </Location>",
            "    # A backslash is no path separator to Apache but is one to the proxy behind it (URLs as",
            "    # browsers parse them): /hub/static/..\\user\\... would take the secret to a student's server.",
            r'    <If "%{THE_REQUEST} =~ m#\\\\#">',
            "        Require all denied",
            "    </If>",
        ]
        if site.sso_protocol == "saml":
            lines.append(f'    ProxyPass "{MELLON_PATH}/" "!"')
    lines += [
        f'    ProxyPass "/" {quoted(backend)} upgrade=websocket nocanon',
        f'    ProxyPassReverse "/" {quoted(backend)}',
        "</VirtualHost>",
    ]
    return lines


def sign_on_conf(
    sso: SignOnSettings, *, public_url: str, folder: str, users_file: str, title: str, cas_cookies: str = ""
) -> str:
    """``sso.conf``: the protocol's module protecting the hub, all but the signed-out page.

    ``folder`` is where the module's files are as this Apache sees them (the
    SAML key, certificate and both metadata files); ``users_file`` is Basic
    auth's htpasswd file; ``cas_cookies`` the folder mod_auth_cas keeps its
    sessions in (writable by Apache's workers).  The OpenID Connect secrets
    come from the environment (``OIDC_SECRET_VARIABLE``, ``OIDC_PASSPHRASE_VARIABLE``).
    """
    secure = public_url.startswith("https://")
    writer = {"basic": _basic, "saml": _mellon, "oidc": _openidc, "cas": _cas}[sso.protocol]
    options = {"public_url": public_url, "folder": folder, "users_file": users_file, "title": title}
    server, location, open_up = writer(sso, secure=secure, cas_cookies=cas_cookies, **options)
    return "\n".join(
        [
            f"# Single sign-on for the persistent hub: {sso.protocol} (mod_{SIGN_ON_MODULES[sso.protocol][0]}).",
            "# Written by oersite hub config from oersite.hub.sso in _config.yml; change it there.",
            *server,
            '<Location "/">',
            *(f"    {line}" for line in [*location, *_REQUIRE[sso.protocol]]),
            "</Location>",
            "# The page after logging out, and the hub's public styles and logo it shows: open to all.",
            f'<LocationMatch "^({SIGNED_OUT_PATH}$|/hub/static/|/hub/logo$)">',
            *(f"    {line}" for line in open_up),
            "    AuthType None",
            "    Require all granted",
            "</LocationMatch>",
            "",
        ]
    )


#: Server-wide settings of a sign-on module: room for a class's sessions, not the defaults' 100 (mellon)
#: and 500 (mod_auth_openidc); past them the oldest student is signed out in the middle of their work.
_SIGN_ON_SERVER_WIDE = {
    "saml": [
        "# Sessions of up to 500 students signed in at once (about 100 MB of shared memory).",
        "MellonCacheSize 500",
    ],
    "oidc": ["# Sessions of up to 2000 students signed in at once.", "OIDCCacheShmMax 2000"],
}
_REQUIRE = {
    "basic": [
        "AuthType Basic",
        "<RequireAny>",
        "    # JupyterLab's API calls carry a JupyterHub token instead of Basic credentials;",
        "    # JupyterHub checks it. Only needed with Basic auth.",
        '    Require expr "%{HTTP:Authorization} =~ /^token /"',
        "    Require valid-user",
        "</RequireAny>",
    ],
    "saml": ["AuthType Mellon", "MellonEnable auth", "Require valid-user"],
    "oidc": ["AuthType openid-connect", "Require valid-user"],
    "cas": ["AuthType CAS", "Require valid-user"],
}


def _basic(sso, *, users_file, title, **_) -> tuple[list[str], list[str], list[str]]:
    """Basic auth against an htpasswd file (``htpasswd -B FILE USER``): to try things out.

    JupyterLab sends its own ``Authorization: token ...`` header on every API
    call, which replaces the browser's Basic credentials, so those requests
    pass to JupyterHub, which checks the token (they carry no user name, so
    they cannot sign anyone in).  Cookie-based sign-on needs no such exception.
    A browser keeps Basic credentials until it closes: logging out cannot end them.
    """
    return [], [f"AuthName {realm(title)}", "AuthBasicProvider file", f"AuthUserFile {quoted(users_file)}"], []


def _mellon(sso, *, folder, secure, **_) -> tuple[list[str], list[str], list[str]]:
    """SAML with mod_auth_mellon: the hub is a service provider of the institution's IdP."""
    location = [
        f"MellonEndpointPath {MELLON_PATH}",
        f"MellonSPPrivateKeyFile {quoted(folder + '/sp.key')}",
        f"MellonSPCertFile {quoted(folder + '/sp.crt')}",
        f"MellonSPMetadataFile {quoted(folder + '/sp-metadata.xml')}",
        f"MellonIdPMetadataFile {quoted(folder + '/idp-metadata.xml')}",
        "# The hub's user comes from this attribute of the assertion (oersite.hub.sso.user_attribute), with",
        "# how many values it had: the hub takes exactly one, and says why it refuses none or two. Apache's",
        "# own user is the assertion's NameID, always there, so a missing attribute is no bare error here.",
        'MellonUser "NAME_ID"',
        f"MellonSetEnvNoPrefix {SAML_USER_VARIABLE} {quoted(sso.attribute)}",
        "MellonEnvVarsSetCount On",
        "# A working day, as with the other protocols (mellon's default is 24 hours).",
        "MellonSessionLength 28800",
        *(
            # Its cookie test before the IdP is SameSite=None, which browsers take only with Secure.
            ["MellonSecureCookie On", "MellonCookieSameSite lax"]
            if secure
            # Plain HTTP (hub serve on 127.0.0.1): no SameSite at all; the IdP's POST back is same-site here.
            else ["MellonSecureCookie httponly", "SetEnv MELLON_DISABLE_SAMESITE 1"]
        ),
    ]
    return [], location, ["MellonEnable off"]


def _openidc(sso, **_) -> tuple[list[str], list[str], list[str]]:
    """OpenID Connect with mod_auth_openidc: the hub is a confidential client of the provider."""
    return (
        [
            f"OIDCProviderMetadataURL {quoted(sso.issuer.rstrip('/') + '/.well-known/openid-configuration')}",
            f"OIDCClientID {quoted(sso.client_id)}",
            f'OIDCClientSecret "${{{OIDC_SECRET_VARIABLE}}}"',
            f'OIDCCryptoPassphrase "${{{OIDC_PASSPHRASE_VARIABLE}}}"',
            f"OIDCRedirectURI {OIDC_REDIRECT_PATH}",
            'OIDCScope "openid email profile"',
            "# The hub's user: this claim of the ID token (oersite.hub.sso.user_attribute).",
            f"OIDCRemoteUserClaim {quoted(sso.attribute)}",
            "# Claims stay in Apache's environment: none goes on to the hub as a request header.",
            "OIDCPassClaimsAs environment",
            "# A working session lasts the working day, not mod_auth_openidc's default five idle minutes.",
            "OIDCSessionInactivityTimeout 28800",
            "OIDCSessionMaxDuration 28800",
            "OIDCCookieHTTPOnly On",
            "# SameSite=Lax: the provider sends the browser back with a plain GET, which carries it.",
            "OIDCCookieSameSite On",
            "OIDCPKCEMethod S256",
        ],
        [],
        [],
    )


def _cas(sso, *, public_url, cas_cookies, **_) -> tuple[list[str], list[str], list[str]]:
    """CAS with mod_auth_cas: the CAS server names the user; tickets are validated with CAS 2.0."""
    base = sso.cas_url.rstrip("/")
    return (
        [
            f"CASCookiePath {quoted(cas_cookies.rstrip('/') + '/')}",
            f"CASLoginURL {quoted(base + '/login')}",
            f"CASValidateURL {quoted(base + '/serviceValidate')}",
            "CASVersion 2",
            f"CASRootProxiedAs {quoted(public_url.rstrip('/'))}",
            "CASTimeout 28800",
            "CASIdleTimeout 28800",
            "# The CAS server's single logout ends this hub's session too, not only the cookie the hub clears.",
            "CASSSOEnabled On",
        ],
        # One session cookie for the whole hub (Path=/), which the hub's logout can clear.
        ["CASScope /"],
        [],
    )
