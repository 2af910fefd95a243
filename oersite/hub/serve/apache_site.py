"""Apache in front of the local persistent hub, with the sign-on ``oersite.hub.sso`` names and its files."""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
import tempfile
from pathlib import Path

from oersite.config import Course
from oersite.errors import HubError
from oersite.hub import sign_on
from oersite.hub.apache import OIDC_PASSPHRASE_VARIABLE, OIDC_SECRET_VARIABLE, ProxiedSite, httpd_conf, sign_on_conf
from oersite.hub.bundle.apache_config import SAML_FOLDER
from oersite.hub.layout import APACHE_SERVER_ROOT
from oersite.hub.serve.supervisor import RunningHubs, copy_keeping_mode

APACHE = "apache2"


def users_file_for(course: Course, state: Path, given: Path | None, announce) -> Path:
    configured = course.settings.hub.users_file
    path = given or (course.root / configured if configured else state / "users.htpasswd")
    if path.exists():
        return path.resolve()
    if given or configured:
        raise HubError(f"{path}: no such users file; create it with: htpasswd -cB {path} USER")
    password = secrets.token_urlsafe(9)
    subprocess.run(["htpasswd", "-cbB", str(path), "student", password], check=True, capture_output=True)
    path.chmod(0o600)
    announce(f"Created {path} with user 'student', password {password} (add users: htpasswd -B {path} NAME)")
    return path.resolve()


def write_apache_config(running: RunningHubs, course: Course, users: Path | None, settings) -> Path:
    """Apache's config for the persistent hub, with the sign-on ``oersite.hub.sso`` names and what it needs.

    As root, Apache's workers run as www-data and read the sign-on's files on
    requests (the htpasswd file, the IdP's metadata); the state folder is
    private (0700), so they get copies in a folder of their own.
    """
    state, ports, sso = running.state, running.ports, settings.sso
    folder = state / "apache"
    (folder / "logs").mkdir(parents=True, exist_ok=True)
    readable = folder
    user = f"#{os.getuid()}"
    if os.geteuid() == 0:
        user = "www-data"
        readable = Path(tempfile.mkdtemp(prefix="oersite-apache-"))
        running.private_dirs.append(readable)
        shutil.chown(readable, group=user)
        readable.chmod(0o750)
    public_url = running.persistent_url
    users_for_apache = readable / "users.htpasswd"
    if users is not None:
        if readable != folder:
            users_for_apache.touch(mode=0o640)
            shutil.chown(users_for_apache, group=user)
            copy_keeping_mode(users, users_for_apache)
        else:
            users_for_apache = users
        running.users_file, running.users_for_apache = users, users_for_apache
    sso_files = folder / "saml"
    if sso.protocol == "saml":
        # The bundle's key when it is for this address: the one oersite hub config said to register.
        bundle = course.root / "hub" / SAML_FOLDER
        metadata = sign_on.prepare_saml(sso, course.root, sso_files, public_url, shared=bundle, prefer_shared=True)
        running.saml_metadata = metadata
        if readable != folder:
            for name in sign_on.SAML_FILES:
                _readable_copy(sso_files / name, readable / name, user)
            sso_files = readable
    if sso.protocol == "oidc":
        running.apache_environment[OIDC_SECRET_VARIABLE] = sign_on.oidc_client_secret(sso, course.root)
        running.apache_environment[OIDC_PASSPHRASE_VARIABLE] = sign_on.kept_secret(state / "oidc-passphrase")
    cas_cookies = readable / "cas-sessions"
    if sso.protocol == "cas":
        cas_cookies.mkdir(mode=0o700, exist_ok=True)
        if os.geteuid() == 0:
            shutil.chown(cas_cookies, user=user)
    include = folder / "sso.conf"
    include.write_text(
        sign_on_conf(
            sso,
            public_url=public_url,
            folder=str(sso_files),
            users_file=str(users_for_apache),
            title=settings.course_title,
            cas_cookies=str(cas_cookies),
        ),
        encoding="utf-8",
    )
    hub = settings.persistent
    site = ProxiedSite(
        server_name="127.0.0.1",
        port=ports.persistent,
        tls=False,
        backend=f"http://127.0.0.1:{ports.persistent_proxy}",
        sso_include=str(include),
        sso_protocol=sso.protocol,
        user_header=hub.user_header,
        secret_header=hub.secret_header,
    )
    conf = folder / "httpd.conf"
    conf.write_text(
        httpd_conf(
            [site],
            runtime_dir=str(folder),
            error_log=str(folder / "logs" / "error.log"),
            access_log=str(folder / "logs" / "access.log"),
            user=user,
            header="# oersite hub serve: Apache in front of the persistent hub (generated on each start)\n"
            f"ServerRoot {APACHE_SERVER_ROOT}",
        ),
        encoding="utf-8",
    )
    return conf


def _readable_copy(source: Path, copy: Path, group: str) -> None:
    """A copy of ``source`` that Apache's workers (``group``) may read, and no one else.

    A private key stays root's alone: mod_auth_mellon reads it with the config, as root.
    """
    shutil.copyfile(source, copy)
    if source.suffix == ".key":
        copy.chmod(0o600)
        return
    copy.chmod(0o640)
    shutil.chown(copy, group=group)
