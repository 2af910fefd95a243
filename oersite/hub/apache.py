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
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from oersite.hub.settings import PROXY_SECRET_VARIABLE

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
    sso_include: str | None = None  # the single-sign-on directives; None: no sign-in (ephemeral hub)
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
    for module in MODULES:
        lines += [
            f"<IfModule !{module}_module>",
            f"    LoadModule {module}_module modules/mod_{module}.so",
            "</IfModule>",
        ]
    lines += [
        "",
        f"User {user}",
        f"Group {user}",
        "ServerName localhost",
        "# The pid file and TLS session cache (override with -C 'Define RUNTIME_DIR ...').",
        "<IfDefine !RUNTIME_DIR>",
        f"    Define RUNTIME_DIR {runtime_dir}",
        "</IfDefine>",
        "DefaultRuntimeDir ${RUNTIME_DIR}",
        'PidFile "${RUNTIME_DIR}/httpd.pid"',
        f'ErrorLog "{error_log}"',
        "LogLevel warn",
        'LogFormat "%h %u %t \\"%r\\" %>s %b %D" oersite',
        f'CustomLog "{access_log}" oersite',
        "ServerTokens Prod",
        "TraceEnable Off",
        "Timeout 300",
    ]
    if any(site.tls for site in sites):
        lines += [
            "# Certificates: fullchain.pem and privkey.pem in this folder (override with -C 'Define TLS_DIR ...').",
            "<IfDefine !TLS_DIR>",
            f"    Define TLS_DIR {tls_dir}",
            "</IfDefine>",
            "SSLProtocol all -SSLv3 -TLSv1 -TLSv1.1",
            "SSLSessionCache shmcb:${RUNTIME_DIR}/ssl_scache(512000)",
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
    lines = [f"<VirtualHost *:{site.port}>", f"    ServerName {site.server_name}"]
    if site.tls:
        lines += [
            "    SSLEngine on",
            '    SSLCertificateFile "${TLS_DIR}/fullchain.pem"',
            '    SSLCertificateKeyFile "${TLS_DIR}/privkey.pem"',
            '    Header always set Strict-Transport-Security "max-age=31536000"',
        ]
    lines += [
        "    # Only this proxy may say who the user is: drop any copy the browser sent.",
        f"    RequestHeader unset {site.user_header} early",
        f"    RequestHeader unset {site.secret_header} early",
        "    ProxyRequests Off",
        "    ProxyPreserveHost On",
        "    AllowEncodedSlashes NoDecode",
    ]
    if site.tls:
        lines.append('    RequestHeader set X-Forwarded-Proto "https"')
    if site.sso_include:
        lines += [
            '    <Location "/">',
            "        # Single sign-on: the site's module (CoSign, mod_auth_mellon, Shibboleth,",
            "        # OpenID Connect) goes in this file; the bundle ships Basic auth as the stand-in.",
            f'        Include "{site.sso_include}"',
            f'        RequestHeader set {site.user_header} "expr=%{{REMOTE_USER}}"',
            f'        RequestHeader set {site.secret_header} "${{{PROXY_SECRET_VARIABLE}}}"',
            "    </Location>",
        ]
    lines += [
        f'    ProxyPass "/" "{backend}" upgrade=websocket nocanon',
        f'    ProxyPassReverse "/" "{backend}"',
        "</VirtualHost>",
    ]
    return lines


def basic_auth_conf(users_file: str, realm: str) -> str:
    """The stand-in for single sign-on: Basic auth against an htpasswd file.

    JupyterLab sends its own ``Authorization: token ...`` header on every API
    call, which replaces the browser's Basic credentials, so Apache would answer
    401 and JupyterLab would fail to load.  Those requests pass to JupyterHub,
    which checks the token (and they carry no user name, so they cannot sign
    anyone in).  Cookie-based single sign-on (mellon, Shibboleth, OpenID
    Connect, CoSign) does not need the exception.
    """
    return (
        "# Stand-in single sign-on: Basic auth against an htpasswd file (htpasswd -B FILE USER).\n"
        "# Replace this file's contents with your site's module (see hub/README.md); keep a\n"
        "# Require line so only signed-in users reach the hub (the hub answers 401 without a user).\n"
        "AuthType Basic\n"
        f'AuthName "{realm}"\n'
        "AuthBasicProvider file\n"
        f'AuthUserFile "{users_file}"\n'
        "<RequireAny>\n"
        "    # JupyterLab's API calls carry a JupyterHub token instead of Basic credentials;\n"
        "    # JupyterHub checks it. Only needed with Basic auth.\n"
        '    Require expr "%{HTTP:Authorization} =~ /^token /"\n'
        "    Require valid-user\n"
        "</RequireAny>\n"
    )
