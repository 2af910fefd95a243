"""What the generated Apache passes on, and to whom: Debian's apache2 with oersite's config, a recording backend.

The persistent hub trusts the user header only with the proxy's secret, so the
secret must reach the hub and nothing else: not students' servers (``/user/...``),
which run code the student controls and share the host's network with the hub.
Nor may a server behind Apache see the sign-on's own credentials.  A plain HTTP
server on 127.0.0.1 stands in for configurable-http-proxy and records what it gets.
"""

from __future__ import annotations

import http.client
import http.server
import json
import os
import shutil
import subprocess
import tempfile
import threading
import time
from pathlib import Path

import pytest
import requests
from support.hub_clients import free_port, write_users

from oersite.hub.apache import ProxiedSite, httpd_conf, sign_on_conf
from oersite.hub.layout import APACHE_SERVER_ROOT
from oersite.hub.settings import SignOnSettings

pytestmark = pytest.mark.slow

SECRET = "the-proxy-secret-0123456789"
#: A course title as hostile as _config.yml lets through (a newline, ${...} and %{...} are refused there):
#: quotes and backslashes that would end AuthName's string and add a directive, an expression's escape.
TITLE = 'Data" Require all granted "\\ \\" 100% $1 </script> <!--\\'


class Recorder(http.server.BaseHTTPRequestHandler):
    seen: list[tuple[str, dict[str, str]]] = []

    def do_GET(self):
        Recorder.seen.append((self.path, {name.lower(): value for name, value in self.headers.items()}))
        body = b"{}"
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def apache():
    """Apache with the Basic-auth sign-on in front of the recorder, as oersite hub serve writes it."""
    folder = Path(tempfile.mkdtemp(prefix="oersite-apache-test-"))
    folder.chmod(0o755)
    backend = http.server.ThreadingHTTPServer(("127.0.0.1", free_port()), Recorder)
    threading.Thread(target=backend.serve_forever, daemon=True).start()
    users = write_users(folder / "users.htpasswd", {"ada": "ada-password"})
    users.chmod(0o644)
    include = folder / "sso.conf"
    include.write_text(
        sign_on_conf(
            SignOnSettings(), public_url="http://127.0.0.1", folder=str(folder), users_file=str(users), title=TITLE
        ),
        encoding="utf-8",
    )
    port = free_port()
    site = ProxiedSite("127.0.0.1", port, False, f"http://127.0.0.1:{backend.server_port}", str(include), "basic")
    user = "www-data" if os.geteuid() == 0 else f"#{os.getuid()}"
    conf = folder / "httpd.conf"
    conf.write_text(
        httpd_conf([site], runtime_dir=str(folder), error_log=str(folder / "error.log"),
                   access_log=str(folder / "access.log"), user=user, header=f"ServerRoot {APACHE_SERVER_ROOT}"),
        encoding="utf-8",
    )  # fmt: skip
    process = subprocess.Popen(
        ["apache2", "-f", str(conf), "-DFOREGROUND"],
        env={**os.environ, "OERSITE_PROXY_SECRET": SECRET},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 20
    while True:
        try:
            if requests.get(f"{url}/hub/", timeout=2).status_code == 401:
                break
        except requests.ConnectionError:
            pass
        assert process.poll() is None, (folder / "error.log").read_text()
        assert time.monotonic() < deadline, "Apache did not start"
        time.sleep(0.1)
    yield url
    process.terminate()
    process.wait(10)
    backend.shutdown()
    shutil.rmtree(folder, ignore_errors=True)


def test_a_hostile_course_title_lets_no_anonymous_request_through(apache):
    before = len(Recorder.seen)
    for path in ("/hub/", "/hub/login", "/user/ada/api/contents", "/"):
        response = requests.get(f"{apache}{path}", headers={"X-Remote-User": "ada"})
        assert response.status_code == 401, (path, response.status_code)
        # The realm is the title, as the header's quoted string carries it: no variable read, nothing added.
        realm = TITLE.replace("\\", "\\\\").replace('"', '\\"')
        assert response.headers["WWW-Authenticate"] == f'Basic realm="{realm}"'
    assert len(Recorder.seen) == before


def test_an_identity_providers_cookies_on_the_same_host_stay_at_apache(apache):
    cookies = {"SimpleSAMLSessionID": "idp", "PHPSESSID": "php", "jupyterhub-user-ada": "kept", "_xsrf": "x"}
    response = requests.get(f"{apache}/user/ada/lab", auth=("ada", "ada-password"), cookies=cookies)
    assert response.status_code == 200
    _path, headers = last_request()
    sent = {pair.split("=", 1)[0] for pair in headers["cookie"].replace(" ", "").split(";") if pair}
    assert sent == {"jupyterhub-user-ada", "_xsrf"}


def last_request() -> tuple[str, dict[str, str]]:
    assert Recorder.seen, "nothing reached the backend"
    return Recorder.seen[-1]


def test_the_hub_hears_the_signed_in_user_with_the_secret_whatever_the_browser_claims(apache):
    cookies = {"mellon-cookie": "abc", "MOD_AUTH_CAS_S": "def", "_xsrf": "kept"}
    response = requests.get(
        f"{apache}/hub/login", auth=("ada", "ada-password"), headers={"X-Remote-User": "mallory"}, cookies=cookies
    )
    assert response.status_code == 200
    path, headers = last_request()
    assert path == "/hub/login"
    assert headers["x-remote-user"] == "ada"
    assert headers["x-oersite-proxy-secret"] == SECRET
    assert "mellon-cookie" not in headers["cookie"] and "MOD_AUTH_CAS" not in headers["cookie"]
    assert "_xsrf=kept" in headers["cookie"]
    assert not headers.get("authorization")  # ada's password stays at Apache


def test_a_students_server_gets_neither_the_secret_nor_a_user_header_nor_sign_on_credentials(apache):
    response = requests.get(
        f"{apache}/user/ada/api/contents",
        auth=("ada", "ada-password"),
        headers={"X-Remote-User": "mallory", "X-Oersite-Proxy-Secret": "guessed"},
        cookies={"mod_auth_openidc_session": "xyz", "jupyterhub-session-id": "kept"},
    )
    assert response.status_code == 200
    path, headers = last_request()
    assert path == "/user/ada/api/contents"
    assert "x-oersite-proxy-secret" not in headers
    assert "x-remote-user" not in headers
    assert "mod_auth_openidc_session" not in headers["cookie"] and "jupyterhub-session-id=kept" in headers["cookie"]
    assert not headers.get("authorization")


def test_a_backslash_path_that_the_proxy_would_route_to_a_students_server_is_refused(apache):
    before = len(Recorder.seen)
    connection = http.client.HTTPConnection("127.0.0.1", int(apache.rsplit(":", 1)[1]), timeout=10)
    connection.request("GET", "/hub/static/..\\..\\user\\ada\\api\\contents")
    assert connection.getresponse().status == 403
    connection.close()
    assert len(Recorder.seen) == before


def test_the_open_signed_out_page_passes_no_user_even_when_the_browser_names_one(apache):
    response = requests.get(f"{apache}/hub/signed-out", headers={"X-Remote-User": "mallory"})
    assert response.status_code == 200
    path, headers = last_request()
    assert path == "/hub/signed-out"
    assert headers.get("x-remote-user", "") == ""
    # Anything else under /hub/ still asks for the sign-in.
    assert requests.get(f"{apache}/hub/signed-out/../login").status_code == 401
    assert json.loads(response.text) == {}
