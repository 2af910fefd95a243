#!/usr/bin/env bash
# Install everything the test suite needs on a fresh Debian machine (run as root or with sudo),
# then the README's test command runs:  bash tests/install-deps.sh && python -m pytest
#
# - Debian packages: Chromium (the browser the tests drive with Playwright; never a downloaded
#   build), Apache httpd (the single-sign-on proxy in front of the persistent hub), git, and the
#   Docker engine with docker-compose and debootstrap (the bundle's end-to-end test starts its
#   own dockerd and builds the images on a debootstrapped Debian; see tests/support/dockerhelpers.py).
# - Single sign-on: Apache's SAML, OpenID Connect and CAS modules (the hub's service provider), and
#   SimpleSAMLphp with PHP for Apache as the identity provider the SAML tests sign in at
#   (tests/support/saml_idp.py; SimpleSAMLphp needs PHP's XML and mbstring extensions, which it does not pull).
# - npm: configurable-http-proxy, JupyterHub's proxy; in tests/oidc, the OpenID Connect provider the
#   OIDC sign-on test signs in at (panva's oidc-provider, pinned by its package-lock.json).
# - PyPI: oersite itself, editable, with its test and hub extras (installing oersite also runs
#   npm in assets/ to vendor the browser libraries every built site ships).
set -euo pipefail
cd "$(dirname "$0")/.."

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi

export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends \
    chromium git apache2 apache2-utils openssl iproute2 acl docker.io docker-compose debootstrap \
    libapache2-mod-auth-mellon libapache2-mod-auth-openidc libapache2-mod-auth-cas \
    simplesamlphp libapache2-mod-php8.2 php8.2-xml php8.2-mbstring >/dev/null

if ! command -v configurable-http-proxy >/dev/null; then
    $SUDO npm install --global --no-audit --no-fund configurable-http-proxy@5.3.0 >/dev/null
fi

npm ci --prefix tests/oidc --no-audit --no-fund >/dev/null
# The CAS server the CAS sign-on test signs in at, in an environment of its own (tests/support/cas_server.py).
if [ ! -x tests/cas/.venv/bin/python ]; then python3 -m venv tests/cas/.venv; fi
tests/cas/.venv/bin/python -m pip install --quiet --disable-pip-version-check -r tests/cas/requirements.txt

# The committed hub/ pins the versions that built the sample site (oersite hub config reads them from
# this environment); installing under those pins keeps a new release on PyPI from making the
# committed bundle differ from what this environment generates.
grep -ho '[A-Za-z0-9_.-]*==[0-9][^ ]*' hub/notebook-requirements.txt hub/hub.Dockerfile > "${TMPDIR:-/tmp}/oersite-constraints.txt"
python3 -m pip install --quiet --disable-pip-version-check -c "${TMPDIR:-/tmp}/oersite-constraints.txt" -e ".[test,hub]"

# oersite hub serve, started as root as the tests start it, runs every server as the unprivileged
# account oersite-hub (oersite.hub.local_account), which must be able to run this Python. Where the
# Python lives in a folder private to root (pyenv under /root), that account is allowed to enter
# the folder (an ACL, search permission only), nothing more.
if ! id oersite-hub >/dev/null 2>&1; then
    $SUDO useradd --system --create-home --home-dir /var/lib/oersite-hub --shell /usr/sbin/nologin oersite-hub
fi
python3 -c '
import stat, sys
from pathlib import Path
for folder in Path(sys.executable).parents:
    if folder != folder.parent and not folder.stat().st_mode & stat.S_IXOTH:
        print(folder)
' | while read -r folder; do
    $SUDO setfacl -m u:oersite-hub:x "$folder"
    echo "allowed oersite-hub to enter $folder (to run $(python3 -c 'import sys; print(sys.executable)'))"
done
echo "test dependencies installed"
