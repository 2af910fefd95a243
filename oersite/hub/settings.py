"""The hubs' settings: described once, validated with the rest of ``_config.yml``, read by the hubs.

``PersistentHubSettings`` and ``EphemeralHubSettings`` are the
``oersite.hub.persistent`` and ``oersite.hub.ephemeral`` sections of
``_config.yml``: each key's type, default, meaning and constraints here, once.
``oersite.config`` loads them into the Course; ``oersite.hub.course_settings``
adds what both hubs share (repository, branch, clone folder, interfaces, URLs and
pull query from the Course's launch target, the data path, the image) into one
frozen ``HubBundleSettings`` that ``oersite hub config`` writes as
``hub-settings.json`` beside the generated ``jupyterhub_config.py`` files, which
read it back with :func:`read_settings` into the same classes; the setters of
``oersite.hub.configurer`` turn it into JupyterHub's configuration, for Docker,
local processes and the Helm values.

This module runs inside the hub containers too (copied there with
``oersite.schema``): it imports the standard library and that module only.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import json
import posixpath
import re
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote, urlsplit

from oersite.schema import (
    TextKind,
    documented,
    load,
    web_address_problem,
)

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
#: Environment variable of every Try-now server: the origins its Run-code readers' pages come from
#: (``oersite.hub.notebook_server.OriginGuard``, which names it too: the servers carry no settings module).
RUN_CODE_ORIGINS_VARIABLE = "OERSITE_RUN_CODE_ORIGINS"
#: Where ``oersite serve`` previews a course, on whichever port it is given (``--port``): its pages'
#: Run code button asks the hubs too (``oersite.hub.notebook_server.origin_listed``).  A page served
#: on the reader's own loopback gets no more than Try now gives anyone, under the same limits.
PREVIEW_ORIGINS = ("http://127.0.0.1:*", "http://localhost:*")
#: How an allowed origin says "on any port".
ANY_PORT = ":*"


def origin_listed(origin: str | None, allowed: tuple[str, ...] | list[str]) -> bool:
    """Whether ``origin`` is one of ``allowed``: exactly, or on any port where an entry ends in ``:*``.

    The hub's check (``oersite.hub.authenticator.RunCodeHandler``); the servers carry no settings
    module and have the same function in ``oersite.hub.notebook_server`` (a test holds them equal).
    """
    if not origin:
        return False
    return origin in allowed or any(
        entry.endswith(ANY_PORT)
        and origin.startswith(entry[: -len(ANY_PORT)] + ":")
        and origin[len(entry) - 1 :].isascii()
        and origin[len(entry) - 1 :].isdigit()
        for entry in allowed
    )


#: JupyterLab's "get notified about official Jupyter news?" pop-up, turned off on both hubs.
NEWS_PLUGIN = "@jupyterlab/apputils-extension:announcements"


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


TRUSTED_ADDRESS = TextKind("identity provider's address", trusted_address_problem)
ATTRIBUTE = TextKind("attribute name", attribute_problem)
HUB_PATH = TextKind("folder in the servers", hub_path_problem)


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
    run_code_per_minute: int = documented(
        "Servers the site's Run code button may ask for from one address in a minute; more are told to wait.", 10
    )
    run_code_trusted_proxies: tuple[str, ...] = documented(
        "Networks of the proxies in front of the Try-now hub whose X-Forwarded-For the Run code limit trusts "
        "(on Kubernetes the cluster's pod network, such as 10.0.0.0/8): a reader's address is the first from "
        "the right outside them. Empty: only proxies on the hub's own machine (the Docker bundle, hub serve).",
        (),
        kind=TextKind("network", lambda text: _network_problem(text)),
        example=("10.0.0.0/8",),
    )

    def problems(self, where: str = "oersite.hub.ephemeral") -> list[str]:
        """What is wrong with these values, each naming its key."""
        found = _resource_problems(self, where)
        for key in ("max_age_seconds", "concurrent_spawn_limit", "active_server_limit", "run_code_per_minute"):
            found += _whole_number_problem(self, key, where)
        if not isinstance(self.pool, int) or isinstance(self.pool, bool) or self.pool < 0:
            found.append(f"{where}.pool: expected 0 (no pool) or more servers, found {self.pool!r}")
        elif isinstance(self.active_server_limit, int) and self.pool >= self.active_server_limit:
            found.append(
                f"{where}.pool: {self.pool} waiting servers leave no room under active_server_limit "
                f"({self.active_server_limit}); make the pool smaller or the limit larger"
            )
        return found


def _network_problem(text: str) -> str | None:
    try:
        ipaddress.ip_network(text, strict=False)
    except ValueError:
        return f"expected a network such as 10.0.0.0/8 or fd00::/8, found {text!r}"
    return None


def client_address(peer: str, forwarded_for: str, trusted: tuple[str, ...] = ()) -> str:
    """The reader's address: the last hop before the hub's own proxies and those in ``trusted`` networks.

    The hub sits behind its configurable-http-proxy, and in the bundle behind Apache
    too, all on 127.0.0.1: each appends the address it was called from to
    ``X-Forwarded-For`` (``forwarded_for``).  Read from the right, the first address
    that is neither loopback nor in a trusted network is the one the outermost proxy
    saw, which no client can forge (what a client sends itself stays to its left).
    All trusted: the reader is on this machine, or inside the cluster.
    """
    networks = [ipaddress.ip_network(network, strict=False) for network in trusted]
    hops = [hop.strip() for hop in forwarded_for.split(",") if hop.strip()]
    for hop in reversed([*hops, peer]) if peer else reversed(hops):
        try:
            address = ipaddress.ip_address(hop)
        except ValueError:
            return hop  # not an address: nothing our proxies write, so as far as we can tell
        if not address.is_loopback and not any(address in network for network in networks):
            return hop
    return peer or "127.0.0.1"


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
    persistent_interface: str  # what Open in hub's links open: "lab" or "classic" (oersite.launch.interface)
    ephemeral_interface: str  # what Try now's links open (oersite.launch.try_interface)
    data_path: str  # where the course data is mounted read-only on a hub
    persistent_default_url: str  # what a server opens without a deep link: the course, pulled, when reachable
    ephemeral_default_url: str  # the same on the Try-now hub, in its interface
    pull_query: str  # nbgitpuller's query for the course, as the warm pool pulls it ahead; empty when unreachable
    image: str  # the single-user image, as pulled: under oersite.hub.registry when there is one
    persistent_url: str  # oersite.launch.hub_url, without a trailing slash
    ephemeral_url: str  # oersite.launch.try_url, likewise
    run_code_origins: tuple[str, ...]  # the sites whose Run code button may ask the Try-now hub; empty: off
    persistent: PersistentHubSettings
    ephemeral: EphemeralHubSettings
    sso: SignOnSettings

    def interface_of(self, hub_kind: str) -> str:
        """What the links to the ``hub_kind`` hub ("persistent" or "ephemeral") open a notebook in."""
        return self.persistent_interface if hub_kind == "persistent" else self.ephemeral_interface

    def default_url_of(self, hub_kind: str) -> str:
        """What a server of the ``hub_kind`` hub opens when no link says."""
        return self.persistent_default_url if hub_kind == "persistent" else self.ephemeral_default_url

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), indent=2, sort_keys=True) + "\n"

    def problems(self, where: str = "") -> list[str]:
        """Names the lists give that no sign-in could ever give (what ``oersite.config`` refuses too)."""
        return user_list_problems(self.persistent, self.sso, ".".join(filter(None, [where, "persistent"])))


class SettingsFileError(ValueError):
    """``hub-settings.json`` is not what ``oersite hub config`` writes."""


def read_settings(path: Path | str) -> HubBundleSettings:
    """The settings a ``jupyterhub_config.py`` finds beside it (``hub-settings.json``).

    Raises SettingsFileError naming the file and the key when it is not what
    ``oersite hub config`` writes (an edit by hand, a file of another version).
    """
    path = Path(path)
    problems: list[str] = []
    try:
        settings = load(HubBundleSettings, json.loads(path.read_text(encoding="utf-8")), "", problems, generated=True)
    except (OSError, json.JSONDecodeError) as problem:
        problems.append(str(problem))
    if problems:
        raise SettingsFileError(f"{path}: {problems[0]}; run oersite hub config to write it again")
    return settings


def url_port(url: str) -> int:
    parts = urlsplit(url)
    return parts.port or (443 if parts.scheme == "https" else 80)
