#!/usr/bin/env bash
# Install everything the test suite needs on a fresh Debian machine (run as root or with sudo),
# then the README's test command runs:  bash tests/install-deps.sh && python -m pytest
#
# - Debian packages: Chromium (the browser the tests drive with Playwright; never a downloaded
#   build), Apache httpd (the single-sign-on proxy in front of the persistent hub), git, and the
#   Docker engine with docker-compose and debootstrap (the bundle's end-to-end test starts its
#   own dockerd and builds the images on a debootstrapped Debian; see tests/dockerhelpers.py).
# - npm: configurable-http-proxy, JupyterHub's proxy.
# - PyPI: oersite itself, editable, with its test and hub extras (installing oersite also runs
#   npm in assets/ to vendor the browser libraries every built site ships).
set -euo pipefail
cd "$(dirname "$0")/.."

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi

export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends \
    chromium git apache2 apache2-utils openssl iproute2 docker.io docker-compose debootstrap >/dev/null

if ! command -v configurable-http-proxy >/dev/null; then
    $SUDO npm install --global --no-audit --no-fund configurable-http-proxy@5.3.0 >/dev/null
fi

python3 -m pip install --quiet --disable-pip-version-check -e ".[test,hub]"
echo "test dependencies installed"
