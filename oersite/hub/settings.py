"""The hubs' settings: described once, validated with the rest of ``_config.yml``, read by the hubs.

``PersistentHubSettings`` and ``EphemeralHubSettings`` are the
``oersite.hub.persistent`` and ``oersite.hub.ephemeral`` sections of
``_config.yml``: each key's type, default, meaning and constraints here, once.
``oersite.config`` loads them into the Course; ``oersite.hub.course_settings``
adds what both hubs share (repository, branch, clone folder, interface, URLs and
pull query from the Course's launch target, the data path, the image) into one
frozen ``HubBundleSettings`` that ``oersite hub config`` writes as
``hub-settings.json`` beside the generated ``jupyterhub_config.py`` files, which
read it back with :func:`read_settings` into the same classes; the setters of
``oersite.hub.configurer`` turn it into JupyterHub's configuration, for Docker,
local processes and the Helm values.

This module runs inside the hub containers too (copied there, alone): it
imports the standard library only, and nothing of oersite.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import json
import posixpath
import re
import types
import typing
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

SETTINGS_FILE = "hub-settings.json"
#: What each interface opens when a server starts without a deep link.
DEFAULT_URLS = {"lab": "/lab", "classic": "/tree"}
#: The environment variable notebooks read the data folder from (notebooks/course_data.py).
COURSE_DATA_VARIABLE = "COURSE_DATA"
#: Environment variable holding the shared secret between Apache and the persistent hub.
PROXY_SECRET_VARIABLE = "OERSITE_PROXY_SECRET"
#: The header in which Apache tells the persistent hub how many values the user attribute had (SAML):
#: a name comes from exactly one.  Like the user header, trusted only with the proxy's secret.
VALUES_HEADER = "X-Oersite-Sign-On-Values"
#: JupyterLab's "get notified about official Jupyter news?" pop-up, turned off on both hubs.
NEWS_PLUGIN = "@jupyterlab/apputils-extension:announcements"


# What a text of _config.yml may hold.
#
# Every text oersite reads from _config.yml ends up in some generated file: Apache's config, the
# compose file and .env, JSON, Python, YAML, Dockerfiles, HTML.  Each format has one writer that
# quotes what the format can quote (oersite.hub.apache.quoted, bundle's env and YAML writers, json,
# repr, html.escape); what no writer can carry safely is refused here, when _config.yml is loaded,
# with the key named.  The rule is declared per key: a field's ``documented(..., kind=...)``
# (TEXT unless it says otherwise), and ``example=`` a value that passes it (the tests write every
# key with it, then with hostile text in it).


def text_problem(value: str) -> str | None:
    """Why ``value`` cannot be one line of text in any generated file, or None when it can.

    No control characters or line breaks (a new line is a new directive in Apache's config and a
    new variable in .env), no ``${`` (Apache and Compose put a variable's value there, a secret
    included) and no ``%{`` (Apache's expressions read a variable there).
    """
    for character in value:
        if unicodedata.category(character) in ("Cc", "Cs", "Zl", "Zp"):
            return f"no control characters or line breaks, found {character!r} in {value!r}"
    for sequence in ("${", "%{"):
        if sequence in value:
            return f"no {sequence} (Apache and Compose would read a variable there), found {value!r}"
    return None


@dataclass(frozen=True)
class TextKind:
    """What the text of one kind of key may be: one safe line (``text_problem``), and its own ``check``."""

    name: str
    check: Callable[[str], str | None] | None = None

    def problem(self, value: str) -> str | None:
        return text_problem(value) or (self.check(value) if self.check else None)


_HOST_LABEL = re.compile(r"(?!-)[a-z0-9-]{1,63}(?<!-)")
#: The characters of a URL's path, query and fragment (RFC 3986), a percent sign only before two hex digits.
_URL_REST = re.compile(r"(?:[A-Za-z0-9._~!$&'()*+,;=:@/?#-]|%[0-9A-Fa-f]{2})*")


def host_problem(host: str) -> str | None:
    """Why ``host`` is not a host name (RFC 1123) or an IP address, or None."""
    try:
        ipaddress.ip_address(host.strip("[]"))
        return None
    except ValueError:
        pass
    labels = host.lower().rstrip(".").split(".")
    if len(host) > 253 or not all(_HOST_LABEL.fullmatch(label) for label in labels):
        return f"{host!r} is not a host name"
    return None


def web_address_problem(url: str, schemes: tuple[str, ...] = ("http", "https")) -> str | None:
    """Why ``url`` is not a web address with a valid host name and only URL characters, or None."""
    expected = f"expected an {' or '.join(f'{scheme}://' for scheme in schemes)} address"
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return f"{expected}, found {url!r}"
    netloc = re.fullmatch(r"([^@/:\[\]]+|\[[0-9A-Fa-f:.]+\])(:[0-9]{1,5})?", parts.netloc)
    if parts.scheme not in schemes or not parts.hostname or netloc is None:
        return f"{expected} with a host name, found {url!r}"
    problem = host_problem(netloc.group(1))
    if problem:
        return f"{expected}: {problem}, found {url!r}"
    if port == 0:
        return f"{expected}: port 0 is no port, found {url!r}"
    rest = url.split("://", 1)[1][len(parts.netloc) :]
    if not _URL_REST.fullmatch(rest):
        return f"{expected} with only URL characters (quote others as %XX), found {url!r}"
    return None


#: A server's own system: the course data may cover none of these folders, nor what is inside them.
_SYSTEM_FOLDERS = ("/bin", "/boot", "/dev", "/etc", "/lib", "/lib64", "/proc", "/run", "/sbin", "/sys", "/usr")
#: Folders that hold more than the data would: the data may be inside them, not on them.
_SHARED_FOLDERS = ("/home", "/mnt", "/opt", "/root", "/srv", "/tmp", "/var")


def hub_path_problem(path: str) -> str | None:
    """Why ``path`` cannot be where the hubs mount the course data in a server, or None.

    Docker's bind mounts are written ``host:container:mode`` (so no ``:``), ``..`` would
    climb out, and the data must not cover the server's own system.
    """
    example = "such as /srv/course-data"
    if not path.startswith("/") or ":" in path or "\\" in path or ".." in path.split("/"):
        return f"expected an absolute folder without : or .., {example}, found {path!r}"
    normal = posixpath.normpath(path)
    inside_system = any(normal == folder or normal.startswith(folder + "/") for folder in _SYSTEM_FOLDERS)
    if normal == "/" or inside_system or normal in _SHARED_FOLDERS:
        return f"expected a folder of its own, not one of the server's system, {example}, found {path!r}"
    return None


def git_source_problem(source: str) -> str | None:
    """Why ``source`` cannot be a git repository's URL or path, or None.

    A leading ``-`` would be an option to git; quotes, ``<``, ``>`` and backslashes belong in
    neither a URL nor the themes' links to the repository, which print it as it is.
    """
    if not source or source.startswith("-") or re.search(r"[\"'<>\\`]", source):
        return f"expected a git URL or a path, found {source!r}"
    if "://" in source:
        return web_address_problem(source, ("http", "https", "git", "ssh", "file")) if "file://" not in source else None
    return None


def branch_problem(branch: str) -> str | None:
    """Why ``branch`` is not a git branch name (``git check-ref-format --branch``), or None."""
    bad = re.search(r"[\s~^:?*\[\\]|\.\.|@\{|//|^[-/.]|/\.|[/.]$|\.lock$|^@$", branch)
    if not branch or bad:
        return f"expected a git branch name, found {branch!r}"
    return None


def attribute_problem(name: str) -> str | None:
    """Why ``name`` is not a SAML attribute's or an OpenID Connect claim's name, or None."""
    if not re.fullmatch(r"[A-Za-z][A-Za-z0-9_.:/#-]*", name):
        return f"expected an attribute or claim name such as urn:oid:1.3.6.1.4.1.5923.1.1.1.6 or email, found {name!r}"
    return None


def trusted_address_problem(url: str) -> str | None:
    """Why the hub may not trust what comes from ``url`` (an identity provider), or None: https, or http here."""
    parts = urlsplit(url)
    secure = parts.scheme == "https" or (parts.scheme == "http" and parts.hostname in _LOOPBACK)
    if not secure or web_address_problem(url):
        return (
            "expected an https URL (what the hub trusts must come over TLS; plain http only on this machine), "
            f"found {url!r}"
        )
    return None


def web_address(expected: str | None = None) -> TextKind:
    """The kind of a key that holds a web address (``web_address_problem``), refused in its own words."""

    def check(url: str) -> str | None:
        problem = web_address_problem(url)
        return f"{expected}, found {url!r}" if problem and expected else problem

    return TextKind("web address", check)


TEXT = TextKind("text")
TRUSTED_ADDRESS = TextKind("identity provider's address", trusted_address_problem)
ATTRIBUTE = TextKind("attribute name", attribute_problem)
WEB_ADDRESS = web_address()
HUB_PATH = TextKind("folder in the servers", hub_path_problem)
GIT_SOURCE = TextKind("git repository", git_source_problem)
BRANCH = TextKind("branch", branch_problem)


def documented(text: str, default: Any = None, *, kind: TextKind = TEXT, example: Any = None, **kwargs: Any) -> Any:
    """A dataclass field with its documentation next to its default (what ``_config.yml`` says).

    ``kind``: what its text (or each text of its list) may be; ``example``: a value that
    passes every check, for keys whose default does not show one.
    """
    metadata = {"doc": text, "kind": kind, "example": example}
    if isinstance(default, (list, dict)):
        return field(default_factory=lambda: type(default)(default), metadata=metadata, **kwargs)
    return field(default=default, metadata=metadata, **kwargs)


def text_problems(value: Any, kind: TextKind, where: str) -> list[str]:
    """Each text in ``value`` (a text, or a list of them) checked against ``kind``, a message naming ``where``."""
    if isinstance(value, (list, tuple)):
        found = [(number, kind.problem(each)) for number, each in enumerate(value) if isinstance(each, str)]
        return [f"{where}[{number}]: {problem}" for number, problem in found if problem]
    problem = kind.problem(value) if isinstance(value, str) else None
    return [f"{where}: {problem}"] if problem else []


def field_kind(each: dataclasses.Field) -> TextKind:
    return each.metadata.get("kind", TEXT)


_MEMORY = re.compile(r"^[0-9]+(\.[0-9]+)?[KMGT]?$")
_HEADER = re.compile(r"^[A-Za-z0-9][A-Za-z0-9-]*$")


@dataclass(frozen=True)
class PersistentHubSettings:
    """The persistent course hub (``oersite.hub.persistent``): each student's own server behind single sign-on."""

    memory_limit: str = documented("Memory each student's server may use, e.g. 2G or 512M.", "2G")
    cpu_limit: float = documented("CPU cores each student's server may use.", 1.0)
    cull_idle_seconds: int = documented(
        "Stop a student's server after this many idle seconds; the student and their files stay.", 3600
    )
    user_header: str = documented(
        "Request header in which the single-sign-on proxy passes the user name.", "X-Remote-User"
    )
    secret_header: str = documented(
        "Request header with the proxy's shared secret; the secret itself is generated, never written here.",
        "X-Oersite-Proxy-Secret",
    )
    admin_users: tuple[str, ...] = documented("User names that administer the hub.", (), example=("ada",))
    allowed_users: tuple[str, ...] = documented(
        "Only these users may use the hub; empty: everyone the single sign-on lets through.", (), example=("ada",)
    )
    blocked_users: tuple[str, ...] = documented(
        "Users refused even when the single sign-on lets them through.", (), example=("mallory",)
    )

    def problems(self, where: str = "oersite.hub.persistent") -> list[str]:
        """What is wrong with these values, each naming its key."""
        found = _resource_problems(self, where)
        for key in ("user_header", "secret_header"):
            if not _HEADER.match(getattr(self, key)):
                found.append(f"{where}.{key}: expected an HTTP header name, found {getattr(self, key)!r}")
        if self.user_header.lower() == self.secret_header.lower():
            found.append(f"{where}.secret_header: must differ from user_header")
        for key in ("admin_users", "allowed_users", "blocked_users"):
            if any(not name.strip() for name in getattr(self, key)):
                found.append(f"{where}.{key}: expected user names, found an empty one")
        return found


#: How students sign in at Apache, and the Debian package with each protocol's module.
SIGN_ON_MODULES = {
    "basic": ("auth_basic", "apache2"),
    "saml": ("auth_mellon", "libapache2-mod-auth-mellon"),
    "oidc": ("auth_openidc", "libapache2-mod-auth-openidc"),
    "cas": ("auth_cas", "libapache2-mod-auth-cas"),
}
#: What names the student when ``user_attribute`` is not given: eduPersonPrincipalName under its
#: SAML name (as federations release it). OpenID Connect has no claim every provider controls, so
#: the operator names one; CAS names the user itself.
DEFAULT_USER_ATTRIBUTES = {"saml": "urn:oid:1.3.6.1.4.1.5923.1.1.1.6"}
#: What identity providers' teams call the attributes a hub most often names students by.
ATTRIBUTE_NAMES = {
    "urn:oid:1.3.6.1.4.1.5923.1.1.1.6": "eduPersonPrincipalName",
    "urn:oid:0.9.2342.19200300.100.1.1": "uid",
    "urn:oid:0.9.2342.19200300.100.1.3": "mail",
}
#: Where the hub sends a browser after logging it out of the hub and of the single sign-on.
SIGNED_OUT_PATH = "/hub/signed-out"
#: The modules' own URLs on the hub's address: answered by Apache, never passed to the hub.
MELLON_PATH = "/mellon"
OIDC_REDIRECT_PATH = "/oidc/callback"
#: mod_auth_cas's session cookies (plain HTTP, HTTPS), which the hub clears on logout.
CAS_COOKIES = ("MOD_AUTH_CAS", "MOD_AUTH_CAS_S")
#: The keys each protocol needs (all of them), and no other protocol takes.
PROTOCOL_KEYS = {
    "idp_metadata": "saml",
    "issuer": "oidc",
    "client_id": "oidc",
    "client_secret_file": "oidc",
    "cas_url": "cas",
}
_PLAIN = re.compile(r'^[^\s"\'\\]+$')
_LOOPBACK = ("127.0.0.1", "localhost", "::1")
_DOMAIN = re.compile(r"^([a-z0-9]([a-z0-9-]*[a-z0-9])?\.)+[a-z]{2,}$")


@dataclass(frozen=True)
class SignOnSettings:
    """How students sign in to the persistent hub (``oersite.hub.sso``): Apache's module and what it needs.

    Apache authenticates (the module of the chosen protocol), then passes the
    user name in the proxy's header; the hub normalises it with
    :func:`hub_user_name`.  Secrets are never here: the OIDC client secret is
    read from a file, the SAML key is generated beside the bundle.
    """

    protocol: str = documented(
        "basic (an htpasswd file: for trying things out), saml (mod_auth_mellon), oidc (mod_auth_openidc) "
        "or cas (mod_auth_cas).",
        "basic",
    )
    user_attribute: str | None = documented(
        "The SAML attribute or OIDC claim that names the student: one the institution assigns and students "
        "cannot change. saml: default eduPersonPrincipalName (urn:oid:1.3.6.1.4.1.5923.1.1.1.6); oidc: "
        "required (often email or preferred_username); CAS names the user itself.",
        kind=ATTRIBUTE,
        example="urn:oid:1.3.6.1.4.1.5923.1.1.1.6",
    )
    allowed_domains: tuple[str, ...] = documented(
        "Only names scoped with one of these domains may sign in (s1234567@ed.ac.uk); with exactly one, the "
        "hub drops it (s1234567). Empty: names as the identity provider gives them.",
        (),
        example=("example.edu",),
    )
    idp_metadata: str | None = documented(
        "saml: the identity provider's metadata, a URL (https://idp.example.edu/metadata) or a file relative "
        "to the course.",
        example="https://idp.example.edu/metadata",
    )
    issuer: str | None = documented(
        "oidc: the provider's issuer URL; its /.well-known/openid-configuration is read.",
        kind=TRUSTED_ADDRESS,
        example="https://login.example.edu/realms/university",
    )
    client_id: str | None = documented("oidc: the client id the provider registered for the hub.", example="course-hub")
    client_secret_file: str | None = documented(
        "oidc: a file holding the client secret (relative to the course, kept out of git); never the secret "
        "itself in _config.yml.",
        example="../oidc-client-secret",
    )
    cas_url: str | None = documented(
        "cas: the CAS server's base URL, e.g. https://cas.example.edu/cas.",
        kind=TRUSTED_ADDRESS,
        example="https://cas.example.edu/cas",
    )

    @property
    def attribute(self) -> str | None:
        """The attribute or claim the module reads the user name from (None: the protocol's own)."""
        return self.user_attribute or DEFAULT_USER_ATTRIBUTES.get(self.protocol)

    @property
    def attribute_described(self) -> str:
        """The attribute as an identity provider's team knows it, for the pages that refuse a sign-in."""
        name = self.attribute or ""
        return f"{ATTRIBUTE_NAMES[name]} ({name})" if name in ATTRIBUTE_NAMES else name

    def problems(self, where: str = "oersite.hub.sso") -> list[str]:
        """What is wrong with these values, each naming its key and what to do."""
        if self.protocol not in SIGN_ON_MODULES:
            return [f"{where}.protocol: expected one of {', '.join(SIGN_ON_MODULES)}, found {self.protocol!r}"]
        found = []
        for key, protocol in PROTOCOL_KEYS.items():
            if protocol == self.protocol and not getattr(self, key):
                found.append(f"{where}.{key}: required with protocol {protocol}")
            elif protocol != self.protocol and getattr(self, key):
                found.append(f"{where}.{key}: only used with protocol {protocol}; remove it or change the protocol")
        if self.user_attribute and self.protocol in ("basic", "cas"):
            found.append(f"{where}.user_attribute: {self.protocol} names the user itself; remove the key")
        if self.protocol == "oidc" and not self.user_attribute:
            found.append(
                f"{where}.user_attribute: required with protocol oidc: the claim that names a student, one the "
                "institution assigns and students cannot change (often email or preferred_username; ask its IT)"
            )
        for key in ("user_attribute", "client_id", "idp_metadata", "issuer", "cas_url"):
            value = getattr(self, key)
            if value and not _PLAIN.match(value):
                found.append(f"{where}.{key}: no spaces, quotes or backslashes, found {value!r}")
        for key in ("issuer", "cas_url", "idp_metadata"):
            value = getattr(self, key)
            if not value or (key == "idp_metadata" and "://" not in value):
                continue
            problem = trusted_address_problem(value)
            if problem:
                found.append(f"{where}.{key}: {problem}")
        for domain in self.allowed_domains:
            if not _DOMAIN.match(domain.lower()):
                found.append(f"{where}.allowed_domains: expected domain names such as ed.ac.uk, found {domain!r}")
        return found


#: A hub user name (without the domain): what JupyterHub takes as a name and DockerSpawner can carry
#: into container and volume names (``oersite-home-<name>``): lower-case ASCII letters and digits,
#: with . _ - inside, at most 64 characters (an e-mail address's local part).
_NAME = re.compile(r"[a-z0-9](?:[a-z0-9._-]{0,62}[a-z0-9])?")
NAME_CHARACTERS = "letters a-z, digits, and . _ - inside"


class NameRefused(ValueError):
    """The sign-on's answer names no user of this hub; the message says why, for the page the student sees."""


def hub_user_name(
    signed_in_as: str,
    allowed_domains: tuple[str, ...] | list[str],
    *,
    values: int = 1,
    attribute: str = "user name",
) -> str:
    """The hub's name for whom the single sign-on says signed in; ``NameRefused`` says why not.

    Every protocol goes through this one rule.  A name comes from exactly one
    value of the attribute (``values``: how many the identity provider sent;
    ``attribute`` names it in the reasons).  Spaces and tabs around it are dropped and
    ASCII letters lower-cased (``S1234567@ED.AC.UK`` is ``s1234567@ed.ac.uk``);
    nothing else is changed, so no two accounts become one.  What remains is
    ``local`` or ``local@domain``, exactly one ``@``, the local part of
    ``NAME_CHARACTERS``.  With allowed domains, the name must be scoped with one
    of them, and with exactly one allowed domain the scope is dropped
    (``s1234567``), since no other domain can then give the same name.
    """
    shown = signed_in_as.strip(" \t")  # ASCII spaces only: U+2028 and the like are no part of a name
    if values == 0 or not shown:
        raise NameRefused(
            f"The sign-in did not say who you are: your identity provider sent no {attribute}. "
            f"Ask the identity provider's team to release {attribute} to this hub."
        )
    if values > 1:
        raise NameRefused(
            f"The sign-in named you {values} ways: your identity provider sent {values} values of {attribute}, "
            f"and the hub takes exactly one. Ask the identity provider's team to release a single {attribute}."
        )
    name = shown.lower() if shown.isascii() else ""
    local, _, domain = name.rpartition("@") if "@" in name else (name, "", "")
    domains = [each.lower() for each in allowed_domains]
    if name.count("@") > 1 or not _NAME.fullmatch(local) or (domain and not _DOMAIN.match(domain)):
        raise NameRefused(
            f"{shown!r} is not a name this hub can take: a user name is {NAME_CHARACTERS}, "
            "with at most one @ before its domain."
        )
    if not domains:
        return name
    if domain not in domains:
        takes = " or ".join(f"@{each}" for each in domains)
        raise NameRefused(f"{shown} may not use this hub: it takes {takes} accounts.")
    return local if len(domains) == 1 else name


def listed_name_problem(name: str, allowed_domains: tuple[str, ...] | list[str]) -> str | None:
    """Why ``name`` in admin, allowed or blocked users can never be a signed-in user's name, or None.

    Names are written either way: ``S1234567@ed.ac.uk`` or ``s1234567`` with one allowed domain.
    """
    try:
        hub_user_name(name, allowed_domains)
        return None
    except NameRefused as refused:
        if len(allowed_domains) == 1 and "@" not in name:
            try:
                hub_user_name(f"{name}@{allowed_domains[0]}", allowed_domains)
                return None
            except NameRefused:
                pass
        return str(refused)


def user_list_problems(persistent: PersistentHubSettings, sso: SignOnSettings, where: str) -> list[str]:
    """Names in the admin, allowed and blocked lists that no sign-in could ever give (``listed_name_problem``)."""
    found = []
    for key in ("admin_users", "allowed_users", "blocked_users"):
        for number, name in enumerate(getattr(persistent, key)):
            problem = listed_name_problem(name, sso.allowed_domains)
            if problem:
                found.append(f"{where}.{key}[{number}]: {problem}")
    return found


def sign_on_logout(sso: SignOnSettings, persistent_url: str) -> tuple[str, tuple[str, ...]]:
    """Where the hub's logout sends the browser to end the sign-on session too, and cookies it clears itself.

    Each module's own logout ends its session and asks the identity provider
    to end the provider's (SAML single logout, OIDC's end-session endpoint,
    CAS's ``/logout``), then comes back to the signed-out page.  mod_auth_cas
    has no logout of its own: the hub clears its cookie.  A browser keeps
    Basic credentials until it closes, whatever a page does.
    """
    back = quote(persistent_url.rstrip("/") + SIGNED_OUT_PATH, safe="")
    if sso.protocol == "saml":
        return f"{MELLON_PATH}/logout?ReturnTo={back}", ()
    if sso.protocol == "oidc":
        return f"{OIDC_REDIRECT_PATH}?logout={back}", ()
    if sso.protocol == "cas":
        return f"{sso.cas_url.rstrip('/')}/logout?service={back}", CAS_COOKIES
    return "", ()


@dataclass(frozen=True)
class EphemeralHubSettings:
    """The ephemeral "Try now" hub (``oersite.hub.ephemeral``): a fresh server per visitor, deleted when idle."""

    memory_limit: str = documented("Memory each visitor's server may use.", "512M")
    cpu_limit: float = documented("CPU cores each visitor's server may use.", 0.5)
    cull_idle_seconds: int = documented("Delete a visitor, their server and files after this many idle seconds.", 600)
    max_age_seconds: int = documented("Delete a visitor's server after this many seconds, idle or not.", 3600)
    concurrent_spawn_limit: int = documented("Servers starting at once; more visitors see the 'full' page.", 10)
    active_server_limit: int = documented("Servers running at once; more visitors see the 'full' page.", 40)
    pool: int = documented(
        "Servers kept started, with the course, for the next visitors (the warm pool): a click on Try now "
        "then opens one at once. Each waiting server costs its memory; 0 turns the pool off.",
        3,
    )

    def problems(self, where: str = "oersite.hub.ephemeral") -> list[str]:
        """What is wrong with these values, each naming its key."""
        found = _resource_problems(self, where)
        for key in ("max_age_seconds", "concurrent_spawn_limit", "active_server_limit"):
            found += _whole_number_problem(self, key, where)
        if not isinstance(self.pool, int) or isinstance(self.pool, bool) or self.pool < 0:
            found.append(f"{where}.pool: expected 0 (no pool) or more servers, found {self.pool!r}")
        elif isinstance(self.active_server_limit, int) and self.pool >= self.active_server_limit:
            found.append(
                f"{where}.pool: {self.pool} waiting servers leave no room under active_server_limit "
                f"({self.active_server_limit}); make the pool smaller or the limit larger"
            )
        return found


def _resource_problems(hub: PersistentHubSettings | EphemeralHubSettings, where: str) -> list[str]:
    found = []
    if not _MEMORY.match(hub.memory_limit):
        found.append(f"{where}.memory_limit: expected a size such as 512M or 2G, found {hub.memory_limit!r}")
    if hub.cpu_limit <= 0:
        found.append(f"{where}.cpu_limit: expected a number of cores above 0, found {hub.cpu_limit!r}")
    return found + _whole_number_problem(hub, "cull_idle_seconds", where)


def _whole_number_problem(hub, key: str, where: str) -> list[str]:
    value = getattr(hub, key)
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        return [f"{where}.{key}: expected a whole number of 1 or more, found {value!r}"]
    return []


@dataclass(frozen=True)
class HubBundleSettings:
    """Everything the hubs use: what both share, and each hub's own settings as ``_config.yml`` gives them."""

    course_title: str
    repository: str | None  # None when the hubs cannot reach it (a folder on the building machine)
    branch: str
    clone_folder: str
    interface: str
    data_path: str  # where the course data is mounted read-only on a hub
    default_url: str  # what a server opens without a deep link: the course, pulled, when reachable
    pull_query: str  # nbgitpuller's query for the course (oersite.launch.git_pull_query); empty when unreachable
    image: str  # the single-user image, as pulled: under oersite.hub.registry when there is one
    persistent_url: str  # oersite.launch.hub_url, without a trailing slash
    ephemeral_url: str  # oersite.launch.try_url, likewise
    persistent: PersistentHubSettings
    ephemeral: EphemeralHubSettings
    sso: SignOnSettings

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), indent=2, sort_keys=True) + "\n"

    def problems(self, where: str = "") -> list[str]:
        """Names the lists give that no sign-in could ever give (what ``oersite.config`` refuses too)."""
        return user_list_problems(self.persistent, self.sso, ".".join(filter(None, [where, "persistent"])))


def value_fits(hint: Any, value: Any) -> bool:
    """Whether ``value`` (as YAML or JSON gives it) fits the type hint of a settings field."""
    allowed = typing.get_args(hint) if isinstance(hint, types.UnionType) else (hint,)
    for kind in allowed:
        if kind is type(None) and value is None:
            return True
        if kind in (int, float) and isinstance(value, (int, float)) and not isinstance(value, bool):
            if kind is float or isinstance(value, int):
                return True
        if kind in (str, bool) and isinstance(value, kind):
            return True
        if typing.get_origin(kind) in (list, tuple) and isinstance(value, list):
            (item,) = typing.get_args(kind)[:1]
            if all(value_fits(item, element) for element in value):
                return True
    return False


def type_description(hint: Any) -> str:
    """A type hint in words, for messages: "a whole number", "a list of text"."""
    allowed = typing.get_args(hint) if isinstance(hint, types.UnionType) else (hint,)
    names = {str: "text", int: "a whole number", float: "a number", bool: "true or false", type(None): "nothing"}
    return " or ".join(
        f"a list of {type_description(typing.get_args(kind)[0])}"
        if typing.get_origin(kind) in (list, tuple)
        else names.get(kind, str(kind))
        for kind in allowed
    )


class SettingsFileError(ValueError):
    """``hub-settings.json`` is not what ``oersite hub config`` writes."""


def read_settings(path: Path | str) -> HubBundleSettings:
    """The settings a ``jupyterhub_config.py`` finds beside it (``hub-settings.json``).

    Raises SettingsFileError naming the file and the key when it is not what
    ``oersite hub config`` writes (an edit by hand, a file of another version).
    """
    path = Path(path)
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
        return _from_data(HubBundleSettings, raw, "")
    except (OSError, json.JSONDecodeError, SettingsFileError) as problem:
        raise SettingsFileError(f"{path}: {problem}; run oersite hub config to write it again") from None


def _from_data(cls: type, raw: Any, where: str) -> Any:
    """A frozen dataclass from the JSON ``to_json`` wrote (lists back to tuples), every key checked."""
    if not isinstance(raw, dict):
        raise SettingsFileError(f"{where or 'the file'}: expected an object, found {raw!r}")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    names = set(fields)
    for key in raw:
        if key not in names:
            raise SettingsFileError(f"{where}{key}: unknown key")
    values = {}
    for name in names:
        if name not in raw:
            raise SettingsFileError(f"{where}{name}: missing")
        value = raw[name]
        if dataclasses.is_dataclass(hints[name]):
            value = _from_data(hints[name], value, f"{where}{name}.")
        elif not value_fits(hints[name], value):
            raise SettingsFileError(f"{where}{name}: expected {type_description(hints[name])}, found {value!r}")
        elif problems := text_problems(value, field_kind(fields[name]), f"{where}{name}"):
            raise SettingsFileError(problems[0])
        elif isinstance(value, list):
            value = tuple(value)
        values[name] = value
    made = cls(**values)
    problems = made.problems(where.rstrip(".")) if hasattr(made, "problems") else []
    if problems:
        raise SettingsFileError(problems[0])
    return made


def url_port(url: str) -> int:
    parts = urlsplit(url)
    return parts.port or (443 if parts.scheme == "https" else 80)
