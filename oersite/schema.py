"""One schema for oersite's settings: each key's type, default, meaning and kind of text, and one loader.

A section is a frozen dataclass whose fields are ``documented``: the default, what
the key means, what its text may be (a ``TextKind``) and an example, declared
together, as MkDocs' ``config_options`` do.  ``load`` reads every section alike:
``_config.yml``'s (``oersite.config``), ``hub-settings.json``'s inside the hubs
(``oersite.hub.settings``) and a notebook's ``oersite.launch`` metadata
(``oersite.launch``), collecting every problem with its key path.

This module runs inside the hub containers too (copied there with the hub's
modules): standard library only, nothing else of oersite.
"""

from __future__ import annotations

import dataclasses
import difflib
import ipaddress
import re
import types
import typing
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

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
    normal: Callable[[str], str] | None = None  # the one form a text that passes is kept in (at load)

    def problem(self, value: str) -> str | None:
        return text_problem(value) or (self.check(value) if self.check else None)

    def normalised(self, value: Any) -> Any:
        """``value`` (a text, or a list of them) in its one form."""
        if self.normal is None:
            return value
        if isinstance(value, (list, tuple)):
            return [self.normal(each) if isinstance(each, str) else each for each in value]
        return self.normal(value) if isinstance(value, str) else value


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


def hub_url_problem(url: str) -> str | None:
    """Why ``url`` cannot be a hub's base URL, or None when it can.

    It becomes Apache's ``ServerName`` and what it listens on, and the start of every launch
    link: a valid http(s) address with a valid host name, nothing after its path.
    """
    problem = web_address_problem(url)
    if problem:
        return problem
    parts = urlsplit(url)
    if parts.query or parts.fragment or url.endswith(("?", "#")):
        return f"expected a base URL without ?query or #fragment, found {url!r}"
    return None


def one_of(name: str, words: tuple[str, ...]) -> TextKind:
    """The kind of a key that takes one of a few words."""

    def check(value: str) -> str | None:
        return None if value in words else f"expected {' or '.join(map(repr, words))}, found {value!r}"

    return TextKind(name, check)


def web_address(expected: str | None = None) -> TextKind:
    """The kind of a key that holds a web address (``web_address_problem``), refused in its own words."""

    def check(url: str) -> str | None:
        problem = web_address_problem(url)
        return f"{expected}, found {url!r}" if problem and expected else problem

    return TextKind("web address", check)


TEXT = TextKind("text")


WEB_ADDRESS = web_address()


GIT_SOURCE = TextKind("git repository", git_source_problem)


BRANCH = TextKind("branch", branch_problem)
#: A hub's base URL, kept without a trailing slash: every link and hub setting starts from it as it is.
HUB_URL = TextKind("hub URL", hub_url_problem, normal=lambda url: url.rstrip("/"))


def documented(
    text: str, default: Any = None, *, kind: TextKind = TEXT, example: Any = None, key: str | None = None, **kwargs: Any
) -> Any:
    """A dataclass field with its documentation next to its default (what ``_config.yml`` says).

    ``kind``: what its text (or each text of its list) may be; ``example``: a value that
    passes every check, for keys whose default does not show one; ``key``: the key, when it
    cannot be the field's name (``try``).
    """
    metadata = {"doc": text, "kind": kind, "example": example, **({"key": key} if key else {})}
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


def load(
    cls: type, raw: Any, keypath: str, problems: list[str], *, others_allowed: bool = False, generated: bool = False
) -> Any:
    """``cls`` from ``raw`` (what YAML or JSON read), a line per problem appended to ``problems``, its key path first.

    The one loader of oersite's settings.  Every key is checked against its field:
    its type (``value_fits``), then each text against its kind (``TextKind``); a
    refused text stays in place, so later checks see the section as written (the
    caller keeps the first line per key).  A key ``cls`` does not describe is a
    mistake, with the key it most resembles, unless ``others_allowed`` (the keys
    are someone else's too: Jupyter Book's top level), when it is left alone
    and a value of the wrong type is left to their checks.

    ``generated``: a file oersite wrote (``hub-settings.json``), read back as it
    was written: every key must be there, unknown keys get no hint (the file is
    written again, not edited), each section's own ``problems()`` are asked
    too, and the answer is None when anything is wrong.
    """
    if not isinstance(raw, dict):
        if others_allowed:
            return cls()
        what = "an object" if generated else "a section of key: value pairs"
        problems.append(f"{keypath or 'the file'}: expected {what}, found {raw!r}")
        return None if generated else cls()
    hints = typing.get_type_hints(cls)
    known = {each.metadata.get("key", each.name): each for each in dataclasses.fields(cls)}
    found = len(problems)
    values: dict[str, Any] = {}
    for key, value in raw.items():
        path = f"{keypath}.{key}" if keypath else str(key)
        if key not in known:
            if others_allowed:
                continue
            close = [] if generated else difflib.get_close_matches(str(key), known, n=1)
            hint = f"did you mean '{close[0]}'?" if close else f"known keys: {', '.join(known)}"
            problems.append(f"{path}: unknown key" + ("" if generated else f"; {hint}"))
            continue
        each = known[key]
        hint = hints[each.name]
        if dataclasses.is_dataclass(hint):
            section = value if value is not None or generated else {}
            values[each.name] = load(hint, section, path, problems, others_allowed=others_allowed, generated=generated)
        elif value_fits(hint, value):
            refused = text_problems(value, field_kind(each), path)
            problems += refused
            value = value if refused else field_kind(each).normalised(value)
            values[each.name] = tuple(value) if isinstance(value, list) else value
        elif not others_allowed:  # Jupyter Book's schema has said what is wrong with its own keys
            problems.append(f"{path}: expected {type_description(hint)}, found {value!r}")
    if generated:
        for key in known:
            if key not in raw:
                problems.append(f"{keypath}.{key}: missing" if keypath else f"{key}: missing")
        if len(problems) > found:
            return None
        made = cls(**values)
        problems += made.problems(keypath) if hasattr(made, "problems") else []
        return made if len(problems) == found else None
    return cls(**values)
