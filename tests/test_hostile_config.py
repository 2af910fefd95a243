"""Every text of _config.yml, written hostile: refused when the course is loaded, naming its key, or written safely.

Generated from the configuration schema: every key that holds text (or a list of texts) in the
dataclasses that describe ``oersite:`` (``oersite.config.OersiteSettings``, the hubs' sections
in ``oersite.hub.settings``) and the Jupyter Book keys oersite reads (``oersite.config.BookSettings``),
written first with a value that passes (its default, or the ``example`` its field declares) and
then with each hostile text of ``HOSTILE`` added at its end and in its middle. Each hostile
value is either refused by ``oersite hub config`` (exit 1, one line naming the key, nothing
written), or the hub bundle it writes still parses (``apache2 -t``, YAML, JSON, Python, .env as
Compose reads it) with the same structure as the passing value's: no directive, key, variable or
line more. A key added to the schema is in this test without a line here.
"""

from __future__ import annotations

import ast
import dataclasses
import functools
import json
import os
import re
import shutil
import subprocess
import tempfile
import types
import typing
from pathlib import Path

import pytest
import yaml
from support.cli import oersite
from support.coursehelpers import make_course

from oersite.config import BookSettings, OersiteSettings, load_course
from oersite.errors import ConfigError
from oersite.hub import bundle
from oersite.hub.bundle import secret_files
from oersite.hub.layout import APACHE_SERVER_ROOT

pytestmark = pytest.mark.slow  # hundreds of bundles, and apache2 -t on those whose Apache config changes

HOSTILE = {
    "newline": "\n",
    "carriage-return": "\r",
    "quote": '"',
    "backslash": "\\",
    "dollar-brace": "${X}",
    "percent-brace": "%{X}",
    "script-end": "</script>",
    "comment": "<!--",
    "nul": "\x00",
    "line-separator": "\u2028",
}
#: Courses a key's example is tried in, in turn: the first that loads is the key's (a key of the OpenID
#: Connect sign-on needs that protocol's other keys, a tile attribution needs the tiles).
LAUNCH = {"hub_url": "https://hub.example.edu", "try_url": "https://try.example.edu"}
BASES = [
    {"oersite": {"launch": LAUNCH, "maps": {"tiles": "https://tile.example.org/{z}/{x}/{y}.png", "attribution": "x"}}},
    {"oersite": {"launch": LAUNCH, "hub": {"sso": {"protocol": "saml", "idp_metadata": "idp.xml"}}}},
    {
        "oersite": {
            "launch": LAUNCH,
            "hub": {
                "sso": {
                    "protocol": "oidc",
                    "issuer": "https://login.example.edu",
                    "client_id": "hub",
                    "client_secret_file": "../secret",
                    "user_attribute": "email",
                }
            },
        }
    },
    {"oersite": {"launch": LAUNCH, "hub": {"sso": {"protocol": "cas", "cas_url": "https://cas.example.edu/cas"}}}},
    {"oersite": {"launch": LAUNCH, "publish": {"remote": "../site.git"}}},
    {"oersite": {"launch": LAUNCH, "publish": {"dir": "../public"}}},
]


def _holds_text(hint) -> bool:
    kinds = typing.get_args(hint) if isinstance(hint, types.UnionType) else (hint,)
    return any(kind is str or typing.get_args(kind)[:1] == (str,) for kind in kinds)


def text_keys(cls: type, prefix: tuple[str, ...]):
    """(key path, field) of every key of ``cls`` and its sections that holds text or a list of texts."""
    hints = typing.get_type_hints(cls)
    for field in dataclasses.fields(cls):
        path = (*prefix, field.name)
        if dataclasses.is_dataclass(hints[field.name]):
            yield from text_keys(hints[field.name], path)
        elif _holds_text(hints[field.name]):
            yield path, field


KEYS = dict([*text_keys(BookSettings, ()), *text_keys(OersiteSettings, ("oersite",))])


def example(path: tuple[str, ...]):
    field = KEYS[path]
    value = field.metadata.get("example")
    if value is None and field.default not in (None, "", (), dataclasses.MISSING):
        value = field.default
    assert value is not None, f"{'.'.join(path)}: give its field an example= value that passes, for this test"
    return list(value) if isinstance(value, tuple) else value


def hostile_versions(value, text: str) -> list:
    """``text`` at the end of the value and in its middle (of its first item, for a list)."""
    first = value[0] if isinstance(value, list) else value
    middle = len(first) // 2
    versions = [first + text, first[:middle] + text + first[middle:]]
    return [[each, *value[1:]] if isinstance(value, list) else each for each in versions]


def with_value(base: dict, path: tuple[str, ...], value) -> dict:
    config = json.loads(json.dumps(base))
    section = config
    for key in path[:-1]:
        section = section.setdefault(key, {})
    section[path[-1]] = value
    return config


@pytest.fixture(scope="module")
def course(tmp_path_factory):
    root = make_course(tmp_path_factory.mktemp("hostile") / "course", {"lessons/a.ipynb": ["import json"]})
    (root / "idp.xml").write_text("<EntityDescriptor/>")
    (root.parent / "secret").write_text("s3cret\n")
    return root


def write_config(root: Path, config: dict) -> None:
    settings = {
        "title": "Test course",
        "author": "Tests",
        "repository": {"url": "https://github.com/example/course"},
        "html": {"baseurl": "https://course.example.org/"},
        "execute": {"execute_notebooks": "cache"},
        "oersite": {"license": {"id": "CC-BY-4.0"}},
    }
    (root / "_config.yml").write_text(yaml.safe_dump(_merged(settings, config), sort_keys=False, allow_unicode=True))


def _merged(base: dict, more: dict) -> dict:
    merged = dict(base)
    for key, value in more.items():
        both = isinstance(value, dict) and isinstance(base.get(key), dict)
        merged[key] = _merged(base[key], value) if both else value
    return merged


@functools.cache
def base_for(path: tuple[str, ...], root: Path) -> int:
    """The first of BASES in which the key's example loads."""
    problems = []
    for number, base in enumerate(BASES):
        write_config(root, with_value(base, path, example(path)))
        try:
            load_course(root)
            return number
        except ConfigError as error:
            problems.append(error.message)
    raise AssertionError(f"{'.'.join(path)}: its example loads in none of BASES: {problems}")


def generated(root: Path) -> dict[str, str]:
    """What ``oersite hub config`` writes from the course's _config.yml (.env as it is first written).

    The secrets in .env are fresh each time: written as the same placeholder, so that two .env files
    differ only where a setting does.
    """
    course = load_course(root)
    files = bundle.bundle_files(course)
    files[".env"] = re.sub(
        rf"^({'|'.join(secret_files.SECRET_VARIABLES)})=.*$", r"\1=secret", secret_files.env_text(course), flags=re.M
    )
    return files


def structure(relative: str, text: str):
    """What a file says, as its format reads it, with every value replaced by its type."""
    if relative.endswith(".json"):
        return _shape(json.loads(text))
    if relative.endswith((".yml", ".yaml")):
        return _shape(yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader)))
    if relative.endswith(".py"):
        tree = ast.parse(text)
        for node in ast.walk(tree):
            if isinstance(node, ast.Constant):
                node.value = type(node.value).__name__
        return ast.dump(tree)
    if relative.endswith(".conf"):
        return apache_directives(text)
    if relative == ".env":
        return env_names(text)
    return [line.split(" ", 1)[0] for line in text.split("\n")]  # Dockerfiles, requirements, READMEs


def _shape(data):
    if isinstance(data, dict):
        return {key: _shape(value) for key, value in data.items()}
    if isinstance(data, list):
        return [_shape(value) for value in data]
    return type(data).__name__


def apache_directives(text: str) -> list[tuple[str, int]]:
    """Each directive of an Apache config with its number of arguments, read as ap_getword_conf reads them."""
    directives = []
    for line in text.replace("\\\n", " ").split("\n"):
        line = line.strip(" \t\r")
        if not line or line.startswith("#"):
            continue
        words, at = [], 0
        while at < len(line):
            if line[at] in " \t":
                at += 1
            elif line[at] in "\"'":
                quote, end = line[at], at + 1
                while end < len(line) and line[end] != quote:
                    end += 2 if line[end] == "\\" and line[end + 1 : end + 2] in (quote, "\\") else 1
                assert end < len(line), f"unterminated quote: {line!r}"
                words.append(line[at + 1 : end])
                at = end + 1
            else:
                end = at
                while end < len(line) and line[end] not in " \t":
                    end += 1
                words.append(line[at:end])
                at = end
        directives.append((words[0], len(words)))
    return directives


def env_names(text: str) -> list[str]:
    """The variables of a .env file, as Compose 1 (python-dotenv) reads them."""
    with tempfile.NamedTemporaryFile("w", suffix=".env", delete=False) as file:
        file.write(text)
    try:
        read = subprocess.run(
            ["/usr/bin/python3", "-c", READ_ENV, file.name], capture_output=True, text=True, check=True
        )
    finally:
        os.unlink(file.name)
    return json.loads(read.stdout)


READ_ENV = """import json, sys
sys.path.insert(0, "/usr/lib/python3/dist-packages")
from compose.config.environment import env_vars_from_file
print(json.dumps(sorted(env_vars_from_file(sys.argv[1]))))
"""


def apache_accepts(files: dict[str, str]) -> str:
    """What ``apache2 -t`` says of the bundle's httpd.conf and sso.conf ("" when it takes them)."""
    scratch = Path(tempfile.mkdtemp(prefix="oersite-hostile-"))
    try:
        for relative in ("apache/httpd.conf", "apache/sso.conf"):
            (scratch / relative).parent.mkdir(parents=True, exist_ok=True)
            (scratch / relative).write_text(files[relative], encoding="utf-8")
        (scratch / "users").write_text("")
        for name in ("fullchain.pem", "privkey.pem"):
            shutil.copy(TEST_CERTIFICATE[name], scratch / name)
        checked = subprocess.run(
            ["apache2", "-d", APACHE_SERVER_ROOT, "-f", str(scratch / "apache/httpd.conf"), "-t"]
            + ["-C", f"Define TLS_DIR {scratch}", "-C", f"Define SSO_CONF {scratch / 'apache/sso.conf'}"]
            + ["-C", f"Define SAML_DIR {scratch}", "-C", f"Define RUNTIME_DIR {scratch}"],
            capture_output=True,
            text=True,
            env={**os.environ, "OERSITE_PROXY_SECRET": "x"},
        )
        return "" if checked.returncode == 0 else checked.stderr
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _certificate() -> dict[str, Path]:
    folder = Path(tempfile.mkdtemp(prefix="oersite-hostile-tls-"))
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=test"]
        + ["-keyout", str(folder / "privkey.pem"), "-out", str(folder / "fullchain.pem")],
        capture_output=True,
        check=True,
    )
    return {name: folder / name for name in ("fullchain.pem", "privkey.pem")}


TEST_CERTIFICATE = _certificate()


@functools.cache
def benign(path: tuple[str, ...], root: Path) -> dict[str, str]:
    write_config(root, with_value(BASES[base_for(path, root)], path, example(path)))
    return generated(root)


def test_every_text_key_of_the_schema_is_here():
    names = {".".join(path) for path in KEYS}
    assert {"title", "author", "html.baseurl", "repository.url", "oersite.launch.hub_url"} <= names
    assert {"oersite.launch.interface", "oersite.launch.try_interface"} <= names
    assert {"oersite.data.hub_path", "oersite.hub.sso.user_attribute", "oersite.hub.persistent.admin_users"} <= names


@pytest.mark.parametrize("hostile", list(HOSTILE), ids=list(HOSTILE))
@pytest.mark.parametrize("path", list(KEYS), ids=[".".join(path) for path in KEYS])
def test_a_hostile_text_is_refused_naming_its_key_or_written_safely(course, path, hostile, tmp_path):
    key = ".".join(path)
    before = benign(path, course)
    base = BASES[base_for(path, course)]
    for value in hostile_versions(example(path), HOSTILE[hostile]):
        write_config(course, with_value(base, path, value))
        try:
            load_course(course)
        except ConfigError:
            output = tmp_path / "hub"
            result = oersite("hub", "config", str(course), "--output", str(output))
            lines = result.output.strip().splitlines()
            assert result.exit_code == 1 and len(lines) == 1, result.output
            assert f"_config.yml: {key}" in lines[0] and "Traceback" not in result.output, result.output
            assert not output.exists(), "nothing is written"
            continue
        after = generated(course)  # the files oersite hub config writes
        assert sorted(after) == sorted(before)
        for relative, text in after.items():
            if text != before[relative]:
                assert structure(relative, text) == structure(relative, before[relative]), (key, relative, value)
        if any(after[name] != before[name] for name in ("apache/httpd.conf", "apache/sso.conf")):
            assert apache_accepts(after) == "", (key, value)


def test_a_hostile_title_and_author_are_text_on_every_page(tmp_path):
    """The title reaches the theme's logo and the search page's <title>, which print it as they find it."""
    from bs4 import BeautifulSoup

    title = 'Data <b id="injected">bold</b> "quoted" & </script><!-- \\'
    author = '<img id="injected" src=x onerror=alert(1)> Ada & "Co"'
    root = make_course(tmp_path / "course", {"lessons/a.md": ["1 + 1"]}, config={"title": title, "author": author})
    result = oersite("build", str(root), "--strict")
    assert result.exit_code == 0, result.output
    pages = sorted((root / "_build" / "html").rglob("*.html"))
    assert len(pages) >= 4
    for page in pages:
        text = page.read_text(encoding="utf-8")
        soup = BeautifulSoup(text, "html.parser")
        assert soup.find(id="injected") is None and "<b id=" not in text, page
        logo = soup.select_one(".logo__title")
        if logo is not None:
            assert logo.get_text() == title, page
    search = BeautifulSoup((root / "_build" / "html" / "search.html").read_text(encoding="utf-8"), "html.parser")
    assert search.title.get_text() == f"Search - {title}"
