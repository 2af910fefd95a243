"""The hubs' settings: described once, validated with the rest of ``_config.yml``, read by the hubs.

``PersistentHubSettings`` and ``EphemeralHubSettings`` are the
``oersite.hub.persistent`` and ``oersite.hub.ephemeral`` sections of
``_config.yml``: each key's type, default, meaning and constraints here, once.
``oersite.config`` loads them into the Course; ``hub_settings`` adds what both
hubs share (repository, branch, clone folder, interface and URLs from the
Course's launch target, the data path, the image) into one frozen value that
``oersite hub config`` writes as ``hub-settings.json`` beside the generated
``jupyterhub_config.py`` files, which read it back with :func:`read_settings`
into the same classes; the setters of ``oersite.hub.configurer`` turn it into
JupyterHub's configuration, for Docker, local processes and the Helm values.

This module runs inside the hub containers too: standard library only.
"""

from __future__ import annotations

import dataclasses
import json
import re
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlsplit

if TYPE_CHECKING:
    from oersite.config import Course

SETTINGS_FILE = "hub-settings.json"
#: What each interface opens when a server starts without a deep link.
DEFAULT_URLS = {"lab": "/lab", "classic": "/tree"}
#: The environment variable notebooks read the data folder from (notebooks/course_data.py).
COURSE_DATA_VARIABLE = "COURSE_DATA"
#: Environment variable holding the shared secret between Apache and the persistent hub.
PROXY_SECRET_VARIABLE = "OERSITE_PROXY_SECRET"
#: JupyterLab's "get notified about official Jupyter news?" pop-up, turned off on both hubs.
NEWS_PLUGIN = "@jupyterlab/apputils-extension:announcements"


def documented(text: str, default: Any = None, **kwargs: Any) -> Any:
    """A dataclass field with its documentation next to its default (what ``_config.yml`` says)."""
    if isinstance(default, (list, dict)):
        return field(default_factory=lambda: type(default)(default), metadata={"doc": text}, **kwargs)
    return field(default=default, metadata={"doc": text}, **kwargs)


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
    admin_users: tuple[str, ...] = documented("User names that administer the hub.", ())
    allowed_users: tuple[str, ...] = documented(
        "Only these users may use the hub; empty: everyone the single sign-on lets through.", ()
    )
    blocked_users: tuple[str, ...] = documented("Users refused even when the single sign-on lets them through.", ())

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
    )
    allowed_domains: tuple[str, ...] = documented(
        "Only names scoped with one of these domains may sign in (s1234567@ed.ac.uk); with exactly one, the "
        "hub drops it (s1234567). Empty: names as the identity provider gives them.",
        (),
    )
    idp_metadata: str | None = documented(
        "saml: the identity provider's metadata, a URL (https://idp.example.edu/metadata) or a file relative "
        "to the course.",
    )
    issuer: str | None = documented(
        "oidc: the provider's issuer URL; its /.well-known/openid-configuration is read.",
    )
    client_id: str | None = documented("oidc: the client id the provider registered for the hub.")
    client_secret_file: str | None = documented(
        "oidc: a file holding the client secret (relative to the course, kept out of git); never the secret "
        "itself in _config.yml.",
    )
    cas_url: str | None = documented("cas: the CAS server's base URL, e.g. https://cas.example.edu/cas.")

    @property
    def attribute(self) -> str | None:
        """The attribute or claim the module reads the user name from (None: the protocol's own)."""
        return self.user_attribute or DEFAULT_USER_ATTRIBUTES.get(self.protocol)

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
            parts = urlsplit(value)
            if parts.scheme == "https" or (parts.scheme == "http" and parts.hostname in _LOOPBACK):
                continue
            found.append(
                f"{where}.{key}: expected an https URL (what the hub trusts must come over TLS; "
                f"plain http only on this machine), found {value!r}"
            )
        for domain in self.allowed_domains:
            if not _DOMAIN.match(domain.lower()):
                found.append(f"{where}.allowed_domains: expected domain names such as ed.ac.uk, found {domain!r}")
        return found


def hub_user_name(signed_in_as: str, allowed_domains: tuple[str, ...] | list[str]) -> str | None:
    """The hub's name for who the single sign-on says signed in; None when their domain may not use the hub.

    Every protocol goes through this one rule: lower case; with allowed
    domains, the name must be scoped with one of them (``s1234567@ed.ac.uk``),
    and with exactly one allowed domain the scope is dropped (``s1234567``),
    since no other domain can then give the same name.
    """
    name = signed_in_as.strip().lower()
    if not allowed_domains:
        return name
    local, at, domain = name.rpartition("@")
    domains = [each.lower() for each in allowed_domains]
    if not at or not local or domain not in domains:
        return None
    return local if len(domains) == 1 else name


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
    image: str  # the single-user image, as pulled: under oersite.hub.registry when there is one
    persistent_url: str  # oersite.launch.hub_url, without a trailing slash
    ephemeral_url: str  # oersite.launch.try_url, likewise
    persistent: PersistentHubSettings
    ephemeral: EphemeralHubSettings
    sso: SignOnSettings

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), indent=2, sort_keys=True) + "\n"


def hub_settings(course: Course, *, local: bool = False) -> HubBundleSettings:
    """The hubs' settings for ``course``: the launch buttons' values and ``oersite.hub``.

    ``local``: for hubs on this machine, which can pull from a ``file://``
    repository; containers cannot, so the bundle leaves such a repository out
    (the launch links still carry it) and keeps no path of this machine.
    """
    from oersite.errors import HubError
    from oersite.launch import git_pull_url

    target = course.launch
    if target is None:
        raise HubError(
            f"{course.relative(course.config_path)}: oersite.launch is off, so no buttons point at a hub; "
            "add an oersite.launch section (hub_url, try_url) to configure the hubs"
        )
    hub = course.settings.hub
    repository: str | None = target.repository
    default_url = DEFAULT_URLS[target.interface]
    if repository.startswith("file://") and not local:
        repository = None
    if repository:
        # The course folder, pulled with nbgitpuller: the same link the buttons make, without the hub part.
        link = git_pull_url(
            "",
            repository=repository,
            branch=target.branch,
            clone_folder=target.clone_folder,
            notebook=target.path_in_repository or ".",
            interface=target.interface,
        )
        default_url = link.removeprefix("/hub/user-redirect")
    return HubBundleSettings(
        course_title=course.title,
        repository=repository,
        branch=target.branch,
        clone_folder=target.clone_folder,
        interface=target.interface,
        data_path=course.settings.data.hub_path,
        default_url=default_url,
        image=hub.in_registry(hub.image),
        persistent_url=target.hub_url.rstrip("/"),
        ephemeral_url=target.try_url.rstrip("/"),
        persistent=hub.persistent,
        ephemeral=hub.ephemeral,
        sso=hub.sso,
    )


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
    names = {f.name for f in dataclasses.fields(cls)}
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
