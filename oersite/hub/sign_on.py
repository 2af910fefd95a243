"""What Apache's single-sign-on module needs beside its configuration: keys, metadata, secrets.

``oersite hub config`` (for the bundle's Apache image) and ``oersite hub serve``
(for this machine's Apache) both call these; ``oersite.hub.apache.sign_on_conf``
writes the directives that point at the files made here.

- SAML: the service provider's key, certificate and metadata, made once with
  mod_auth_mellon's own ``mellon_create_metadata`` and kept (a new key means
  registering the hub with the IdP again); made anew only when the hub's URL
  changes, since the entity ID is that URL.  One key per entity ID: the
  bundle's (``hub/apache/saml``) and ``oersite hub serve``'s (in its state
  folder) are the same files when both serve the same address, whichever was
  made first.  The IdP's metadata is fetched from its URL (or copied from the
  file) on every run, so a rolled-over IdP key is picked up.
- OpenID Connect: the client secret from the file ``client_secret_file`` names
  (never from ``_config.yml``), and a passphrase for mod_auth_openidc's session
  cookies, generated once.
- The module itself must be installed where Apache runs: each missing piece is
  one line naming the Debian package.
"""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
import tempfile
import urllib.error
import urllib.request
from pathlib import Path

from oersite.errors import HubError
from oersite.files import write_atomically
from oersite.hub.layout import APACHE_SERVER_ROOT
from oersite.hub.settings import MELLON_PATH, SIGN_ON_MODULES, SignOnSettings

SSO_KEY = "oersite.hub.sso"
#: The SP's files in the sign-on folder, as ``oersite.hub.apache.sign_on_conf`` names them.
SAML_FILES = ("sp.key", "sp.crt", "sp-metadata.xml", "idp-metadata.xml")


def require_module(sso: SignOnSettings) -> None:
    """The protocol's Apache module is installed on this machine, or one line saying which package has it."""
    module, package = SIGN_ON_MODULES[sso.protocol]
    if sso.protocol == "basic":
        return
    if not (Path(APACHE_SERVER_ROOT) / "modules" / f"mod_{module}.so").exists():
        raise HubError(
            f"{SSO_KEY}.protocol is {sso.protocol}, but Apache's mod_{module} is not installed here; "
            f"install it with: apt-get install {package}"
        )


def entity_id(public_url: str) -> str:
    """The hub's SAML entity ID: the URL of its metadata, as mod_auth_mellon serves it."""
    return f"{public_url.rstrip('/')}{MELLON_PATH}/metadata"


def prepare_saml(
    sso: SignOnSettings,
    course_root: Path,
    folder: Path,
    public_url: str,
    *,
    shared: Path | None = None,
    prefer_shared: bool = False,
) -> Path:
    """The SP's key, certificate and metadata in ``folder`` (kept), and the IdP's metadata beside them.

    ``shared``: where the other way of running the hub keeps its SP files. When
    they are for the same entity ID they are taken over (``prefer_shared``: even
    over ``folder``'s own), so the IdP meets one key, the one registered there.
    Returns the SP metadata file: what the operator hands to the IdP.  The
    IdP's metadata is read first: when it cannot be had, nothing is written.
    """
    idp_metadata = _idp_metadata(sso.idp_metadata, course_root)
    folder.mkdir(parents=True, exist_ok=True)
    folder.chmod(0o755)
    wanted = entity_id(public_url)
    own, theirs = _is_sp_of(folder, wanted), shared is not None and _is_sp_of(shared, wanted)
    if theirs and (prefer_shared or not own):
        for name in ("sp.key", "sp.crt", "sp-metadata.xml"):  # the metadata last: the mark that all three match
            source = shared / name
            if not (folder / name).exists() or (folder / name).read_bytes() != source.read_bytes():
                write_atomically(folder / name, source.read_bytes(), mode=0o600 if name == "sp.key" else 0o644)
    elif not own:
        _create_sp(folder, wanted, public_url)
    write_atomically(folder / "idp-metadata.xml", idp_metadata, mode=0o644)
    return folder / "sp-metadata.xml"


def _is_sp_of(folder: Path, wanted: str) -> bool:
    """Whether ``folder`` holds a whole SP (key, certificate, metadata) for the entity ID ``wanted``."""
    metadata = folder / "sp-metadata.xml"
    try:
        whole = (folder / "sp.key").is_file() and (folder / "sp.crt").is_file()
        return whole and f'entityID="{wanted}"' in metadata.read_text(encoding="utf-8")
    except OSError:
        return False


def _create_sp(folder: Path, wanted: str, public_url: str) -> None:
    program = shutil.which("mellon_create_metadata")
    if program is None:
        raise HubError(
            f"{SSO_KEY}.protocol is saml: making the hub's SAML key and metadata needs mellon_create_metadata; "
            "install it with: apt-get install libapache2-mod-auth-mellon"
        )
    with tempfile.TemporaryDirectory(prefix="oersite-sp-") as scratch:
        made = subprocess.run(
            [program, wanted, f"{public_url.rstrip('/')}{MELLON_PATH}"], cwd=scratch, capture_output=True, text=True
        )
        outputs = {path.suffix: path for path in Path(scratch).iterdir()}
        if made.returncode != 0 or not {".key", ".cert", ".xml"} <= outputs.keys():
            last = (made.stderr or made.stdout).strip().splitlines()[-1:] or ["no output"]
            raise HubError(f"mellon_create_metadata could not make the hub's SAML key: {last[0]}")
        # The key first, private from its first byte; the metadata last, as the mark that all three match.
        for suffix, name in ((".key", "sp.key"), (".cert", "sp.crt"), (".xml", "sp-metadata.xml")):
            write_atomically(folder / name, outputs[suffix].read_bytes(), mode=0o600 if name == "sp.key" else 0o644)


def _idp_metadata(source: str, course_root: Path) -> bytes:
    """The IdP's metadata from its URL or file; one line when it cannot be had."""
    where = f"{SSO_KEY}.idp_metadata"
    if source.startswith(("http://", "https://")):
        try:
            with urllib.request.urlopen(source, timeout=15) as answer:
                text = answer.read()
        except (urllib.error.URLError, OSError, ValueError) as problem:
            reason = getattr(problem, "reason", problem)
            raise HubError(
                f"{where}: could not fetch {source} ({reason}); check the URL, or save it as a file"
            ) from None
    else:
        path = course_root / source
        try:
            text = path.read_bytes()
        except OSError as problem:
            raise HubError(f"{where}: cannot read {path} ({problem.strerror}); give the IdP's metadata file") from None
    if b"IDPSSODescriptor" not in text:
        raise HubError(f"{where}: {source} is not a SAML identity provider's metadata (no IDPSSODescriptor)")
    return text


def oidc_client_secret(sso: SignOnSettings, course_root: Path) -> str:
    """The OpenID Connect client secret from its file; one line when the file is missing or empty."""
    path = course_root / sso.client_secret_file
    try:
        secret = path.read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError) as problem:
        reason = getattr(problem, "strerror", None) or "not text"
        raise HubError(
            f"{SSO_KEY}.client_secret_file: cannot read {path} ({reason}); save the client secret the "
            "provider gave you there (and keep the file out of git)"
        ) from None
    if not secret:
        raise HubError(f"{SSO_KEY}.client_secret_file: {path} is empty; save the client secret there")
    if any(character.isspace() or character in "\"'\\$#" for character in secret):
        raise HubError(
            f"{SSO_KEY}.client_secret_file: {path} holds more than one secret word (spaces, quotes, $ or #); "
            "ask the provider for a client secret without them"
        )
    return secret


def kept_secret(path: Path) -> str:
    """A random secret generated once into a 0600 file, and read back on later runs."""
    if not path.exists():
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "w") as file:
            file.write(secrets.token_hex(32))
    return path.read_text().strip()
