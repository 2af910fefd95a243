"""``hub/apache/``: the bundle's Apache config in front of both hubs, and the sign-on's beside it."""

from __future__ import annotations

from urllib.parse import urlsplit

from oersite.hub import layout
from oersite.hub.apache import ProxiedSite, httpd_conf, sign_on_conf
from oersite.hub.bundle.generated import GENERATED
from oersite.hub.settings import HubBundleSettings, url_port

#: The hub's SAML key, certificate and both metadata files (protocol saml): made here, never committed.
SAML_FOLDER = "apache/saml"
SAML_IMAGE_DIR = f"{layout.APACHE_DIR}/saml"  # the same folder in the Apache container (./apache is mounted there)

#: Where mod_auth_cas keeps its sessions in the Apache image (Debian's package makes it, for www-data).
CAS_SESSIONS = "/var/cache/apache2/mod_auth_cas"


def apache_httpd_conf(settings: HubBundleSettings) -> str:
    sites = []
    for name, public_url, ports in (
        ("persistent", settings.persistent_url, layout.PERSISTENT),
        ("ephemeral", settings.ephemeral_url, layout.EPHEMERAL),
    ):
        parts = urlsplit(public_url)
        sites.append(
            ProxiedSite(
                server_name=parts.hostname or "localhost",
                port=url_port(public_url),
                tls=parts.scheme == "https",
                backend=ports.proxy_url,
                sso_include="${SSO_CONF}" if name == "persistent" else None,
                sso_protocol=settings.sso.protocol,
                user_header=settings.persistent.user_header,
                secret_header=settings.persistent.secret_header,
            )
        )
    header = (
        f"# Apache httpd in front of both hubs (the bundle's Apache image, Debian's apache2). {GENERATED}\n"
        f"# The single-sign-on directives are in sso.conf beside this file ({layout.APACHE_DIR}).\n"
        f"<IfDefine !SSO_CONF>\n    Define SSO_CONF {layout.APACHE_DIR}/sso.conf\n</IfDefine>\n"
        "# The hub's SAML key and metadata (protocol saml; override with -C 'Define SAML_DIR ...').\n"
        f"<IfDefine !SAML_DIR>\n    Define SAML_DIR {SAML_IMAGE_DIR}\n</IfDefine>"
    )
    return httpd_conf(sites, runtime_dir=layout.APACHE_RUNTIME_DIR, tls_dir=layout.TLS_DIR, header=header)


def apache_sso_conf(settings: HubBundleSettings) -> str:
    return sign_on_conf(
        settings.sso,
        public_url=settings.persistent_url,
        folder="${SAML_DIR}",
        users_file=f"{layout.APACHE_DIR}/users.htpasswd",
        title=settings.course_title,
        cas_cookies=CAS_SESSIONS,
    )
