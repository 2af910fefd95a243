"""The hubs' authenticators: the single-sign-on proxy's user header, and Try now's warm pool.

``ProxyHeaderAuthenticator`` signs students in with the user name the
single-sign-on proxy passes in a header.

The persistent hub sits behind Apache httpd, which authenticates the user
(CoSign, mod_auth_mellon, Shibboleth, OpenID Connect; Basic auth as the
stand-in) and passes the user name in a request header.  A header is only
trustworthy if it came from that proxy, so Apache also sends a shared secret in
a second header, and removes any copy of either that the browser sent.  This
handler refuses a request without the right secret (403: it did not come
through the proxy) and one without a user header (401: the proxy let it through
unauthenticated, a misconfiguration).  Who the user is follows one rule,
``oersite.hub.settings.hub_user_name``: a name it refuses (two values of the
attribute, none, a name of another domain or one no hub user can have) gets a
page that says why, and what to ask the identity provider's team.

No header authenticator on PyPI is maintained and safe (the old
``jhub_remote_user_authenticator`` trusts the header from anyone), so this is
the small one we need.  It goes through JupyterHub's ``login_user()``, which
normalises the name and applies ``allowed_users``/``blocked_users``/
``admin_users``; ``next`` is restricted to paths on this hub.

``PooledTemporaryAuthenticator`` gives a new visitor of the ephemeral hub a
server of the warm pool when one is waiting (see ``oersite.hub.pool``), and
answers the site's Run code button (``RunCodeHandler``, ``/hub/run-code``).
"""

from __future__ import annotations

import hmac
import json
import os
import time
import uuid
from collections import deque
from datetime import datetime
from urllib.parse import urlsplit

from jupyterhub import orm
from jupyterhub.auth import Authenticator
from jupyterhub.handlers import BaseHandler, LogoutHandler
from jupyterhub.utils import url_path_join
from tmpauthenticator import TmpAuthenticateHandler, TmpAuthenticator
from tornado import web
from traitlets import Integer, List, Unicode, default

from oersite.hub.pool import HANDED_OUT_GROUP, READY_GROUP
from oersite.hub.settings import (
    PROXY_SECRET_VARIABLE,
    SIGNED_OUT_PATH,
    VALUES_HEADER,
    NameRefused,
    client_address,
    hub_user_name,
    origin_listed,
)


class ProxyHeaderLoginHandler(BaseHandler):
    """``/hub/login``: the proxy has already authenticated the user; trust its header."""

    async def get(self) -> None:
        authenticator: ProxyHeaderAuthenticator = self.authenticator
        if not authenticator.came_through_proxy(self.request.headers):
            self.log.warning("Refused a login that did not come through the proxy (no or wrong secret header)")
            raise web.HTTPError(403, "Sign in through the course hub's address, not the hub's internal one.")
        if authenticator.user_header not in self.request.headers:
            raise web.HTTPError(401, "The single sign-on passed no user name; ask the hub's operator.")
        try:
            name = authenticator.name_from(self.request.headers)
        except NameRefused as refused:
            self.log.warning("Refused a sign-in: %s", refused)
            raise web.HTTPError(403, str(refused)) from None
        user = await self.login_user({"name": name})
        if user is None:
            # login_user returns None when the allow or block lists refuse the name.
            raise web.HTTPError(403, f"{name} may not use this hub; ask the course's instructor.")
        self.redirect(self._next_on_this_hub(user))

    def _next_on_this_hub(self, user) -> str:
        """JupyterHub's validated ``next``, further limited to a path on this hub."""
        next_url = self.get_next_url(user)
        parts = urlsplit(next_url)
        if parts.scheme or parts.netloc or not parts.path.startswith(self.base_url):
            self.log.warning("Refused next=%r: not a path on this hub", next_url)
            return url_path_join(self.hub.base_url, "home")
        return next_url


class SignOnLogoutHandler(LogoutHandler):
    """``/hub/logout``: out of the hub, then out of the single sign-on, so a shared computer is left signed out.

    JupyterHub clears its own cookies; the browser then goes to the sign-on
    module's logout URL (which ends its session, and the identity provider's),
    and ends on the signed-out page.  Cookies the module cannot clear itself
    (mod_auth_cas's) are cleared here.
    """

    async def render_logout_page(self) -> None:
        authenticator: ProxyHeaderAuthenticator = self.authenticator
        for name in authenticator.sign_on_cookies:
            self.clear_cookie(name, path="/")
        self.redirect(authenticator.sign_on_logout_url or url_path_join(self.hub.base_url, "signed-out"))


class SignedOutHandler(BaseHandler):
    """``/hub/signed-out``: where logging out ends; Apache lets it through without signing in."""

    async def get(self) -> None:
        html = await self.render_template("logout.html", announcement_logout=None)
        self.finish(html)


class ProxyHeaderAuthenticator(Authenticator):
    """Trust the proxy's user header, and only from the proxy (see the module docstring)."""

    user_header = Unicode(
        "X-Remote-User", help="Request header in which the proxy passes the authenticated user name."
    ).tag(config=True)
    secret_header = Unicode(
        "X-Oersite-Proxy-Secret", help="Request header in which the proxy sends the shared secret."
    ).tag(config=True)
    proxy_secret = Unicode(
        help=f"The secret the proxy sends; default: the {PROXY_SECRET_VARIABLE} environment variable. "
        "Never written in a config file."
    ).tag(config=True)

    user_attribute = Unicode(
        "user name", help="What the sign-on names the user by (a SAML attribute, a claim), for refusals' pages."
    ).tag(config=True)
    allowed_domains = List(
        Unicode(),
        help="Only names scoped with one of these domains sign in; with exactly one, the scope is dropped "
        "(oersite.hub.settings.hub_user_name).",
    ).tag(config=True)
    sign_on_logout_url = Unicode(
        help="Where logging out of the hub sends the browser to end the single sign-on's session too; "
        f"empty: straight to {SIGNED_OUT_PATH}."
    ).tag(config=True)
    sign_on_cookies = List(
        Unicode(), help="The sign-on module's session cookies that logging out clears (mod_auth_cas's)."
    ).tag(config=True)

    def name_from(self, headers) -> str:
        """The hub's name for who the proxy's headers say signed in; ``NameRefused`` says why there is none.

        The values header (SAML) says how many values the user attribute had; without
        it (the other protocols) the user header holds the one name.
        """
        values = headers.get(VALUES_HEADER)
        count = 1 if values is None else int(values) if values.strip().isdigit() else 0
        signed_in_as = headers.get(self.user_header, "")
        return hub_user_name(signed_in_as, self.allowed_domains, values=count, attribute=self.user_attribute)

    def normalize_username(self, username: str) -> str:
        """JupyterHub's normalisation, then the allowed domain dropped: the same name for lists and logins."""
        name = super().normalize_username(username)
        try:
            return hub_user_name(name, self.allowed_domains)
        except NameRefused:
            return name

    def check_blocked_users(self, username: str, authentication=None) -> bool:
        """JupyterHub normalises allow and admin lists but compares blocked names as written: normalise them too."""
        return username not in {self.normalize_username(name) for name in self.blocked_users}

    @default("proxy_secret")
    def _proxy_secret_from_environment(self) -> str:
        return os.environ.get(PROXY_SECRET_VARIABLE, "")

    @default("auth_refresh_age")
    def _refresh_often(self) -> int:
        # refresh_user only compares two strings: cheap enough to notice a change of identity soon.
        return 5

    def came_through_proxy(self, headers) -> bool:
        """Whether the request carries the proxy's secret (constant-time comparison)."""
        if not self.proxy_secret:
            self.log.error("No proxy secret: set %s for the hub and the proxy", PROXY_SECRET_VARIABLE)
            return False
        sent = headers.get(self.secret_header, "")
        return hmac.compare_digest(sent.encode(), self.proxy_secret.encode())

    async def authenticate(self, handler, data):
        # The proxy did the authenticating; the login handler passes its user name here.
        return {"name": data["name"]}

    async def refresh_user(self, user, handler=None):
        """Sign the browser in again when the proxy now says it is someone else.

        Requests without the proxy's secret (API calls from servers and
        services, with their own tokens) are left alone.
        """
        if handler is None or not self.came_through_proxy(handler.request.headers):
            return True
        if not handler.request.headers.get(self.user_header, "").strip():
            return True  # no user (a token's request under Basic auth): nothing to compare
        try:
            return self.name_from(handler.request.headers) == user.name
        except NameRefused:
            return False  # signed in again, where the refusal's page says why

    def get_handlers(self, app):
        return [
            ("/login", ProxyHeaderLoginHandler),
            ("/logout", SignOnLogoutHandler),
            (SIGNED_OUT_PATH.removeprefix("/hub"), SignedOutHandler),
        ]


# The ephemeral hub's warm pool (oersite.hub.pool).


class PooledTemporaryAuthenticator(TmpAuthenticator):
    """tmpauthenticator, but a new visitor first gets a waiting server of the pool, if there is one.

    It also serves the site's Run code button (``RunCodeHandler``) when
    ``run_code_origins`` names the sites allowed to ask.
    """

    run_code_origins = List(
        Unicode(),
        help="Origins (scheme://host[:port]) of the sites whose Run code button may ask for a server; "
        "empty: /hub/run-code answers 404.",
    ).tag(config=True)
    run_code_per_minute = Integer(
        10, help="Run-code servers one client address may ask for in a minute; beyond that, 429."
    ).tag(config=True)
    run_code_trusted_proxies = List(
        Unicode(),
        help="Networks (CIDR) of proxies in front of the hub whose X-Forwarded-For the Run code limit trusts, "
        "besides loopback (oersite.hub.settings.client_address).",
    ).tag(config=True)
    run_code_token_seconds = Integer(
        3600, help="How long a Run-code token lasts: the server's maximum age, after which the culler stops it."
    ).tag(config=True)

    def get_handlers(self, app):
        return [*super().get_handlers(app), (RUN_CODE_PATH.removeprefix("/hub"), RunCodeHandler)]

    async def authenticate(self, handler, data):
        # Only the Try-now sign-in takes a server from the pool; a token asked for
        # through the REST API with credentials gets a plain new user, as before.
        if not isinstance(handler, TmpAuthenticateHandler):
            return await super().authenticate(handler, data)
        pooled = claim_pooled_user(handler.db, handler.users)
        if pooled is not None:
            self.log.info("Warm pool: visitor gets %s", pooled)
            return {"name": pooled}
        self.log.info("Warm pool: empty, a new server for this visitor")
        return await super().authenticate(handler, data)


def claim_pooled_user(db, users) -> str | None:
    """Take one ready pool user out of the pool and return its name; None when none is ready.

    No ``await`` here: within the hub's event loop this is one step, so two
    visitors can never take the same server.
    """
    group, handed_out = orm.Group.find(db, READY_GROUP), orm.Group.find(db, HANDED_OUT_GROUP)
    if group is None or handed_out is None:
        return None
    taken = {user.id for user in handed_out.users}
    for orm_user in sorted(group.users, key=lambda user: user.created or datetime.min):
        if orm_user.id not in taken and users[orm_user].spawner.ready:
            group.users.remove(orm_user)
            handed_out.users.append(orm_user)
            _count(group, "handed_out")
            db.commit()
            return orm_user.name
    _count(group, "found_empty")
    db.commit()
    return None


def _count(group, key: str) -> None:
    properties = dict(group.properties or {})
    properties[key] = int(properties.get(key, 0)) + 1
    group.properties = properties


# The site's Run code button: a server of the pool, and a token for it alone.

#: Where the page asks for a server (below the hub's base URL).
RUN_CODE_PATH = "/hub/run-code"
#: A token made for Run code opens its one server, nothing else: not the hub's API, no other server.
RUN_CODE_NOTE = "oersite run code"


def run_code_scopes(name: str) -> list[str]:
    """The only scope a Run-code token has: access to ``name``'s default server."""
    return [f"access:servers!server={name}/"]


class RunCodeHandler(BaseHandler):
    """``POST /hub/run-code``: one server for one reader of the course site, and a token for it alone.

    The page's Run code button asks here, from the course site's origin (checked
    against ``run_code_origins``; others get 403 and no CORS header, so their
    pages cannot read the answer).  The reader gets a waiting server of the warm
    pool, taken by ``claim_pooled_user`` in one step of the hub's event loop as
    Try now's sign-in takes one, so no two readers or visitors share a server; or,
    with the pool empty, a new user whose server starts as Try now's would, under
    ``concurrent_spawn_limit`` and ``active_server_limit`` (their 429 reaches the
    page, which says the hub is full).  The answer holds a token scoped to that
    server alone (``access:servers!server=<name>/``), never a hub or admin token,
    expiring with the server's maximum age.  The hand-out reads no cookie: the
    request carries nothing a cross-site page could use, so tornado's XSRF check,
    made for cookies, is replaced by the origin check.  A client address may ask
    ``run_code_per_minute`` times a minute (429 with Retry-After beyond that).

    ``POST /hub/run-code`` with ``open`` (a form the page submits, token in the
    body, never the URL) signs the browser in to the hub as that server's user and
    continues to JupyterLab with the page's notebook: "Open in JupyterLab".
    """

    _asked: dict[str, deque] = {}  # client address -> times of its requests in the last minute

    def check_xsrf_cookie(self) -> None:
        """No cookie authenticates these requests: the origin check (``allowed_origin``) guards them."""

    def allowed_origin(self) -> str | None:
        origin = self.request.headers.get("Origin", "")
        allowed = self.authenticator.run_code_origins
        return origin if origin_listed(origin, tuple(allowed)) else None

    def set_cors(self, origin: str) -> None:
        self.set_header("Access-Control-Allow-Origin", origin)
        self.set_header("Access-Control-Allow-Methods", "POST, OPTIONS")
        self.set_header("Access-Control-Allow-Headers", "Content-Type")
        self.set_header("Access-Control-Expose-Headers", "Retry-After")
        self.set_header("Access-Control-Max-Age", "600")
        self.set_header("Vary", "Origin")

    def refuse(self, status: int, message: str, retry_after: int | None = None) -> None:
        self.set_status(status)
        if retry_after is not None:
            self.set_header("Retry-After", str(retry_after))
        self.set_header("Content-Type", "application/json")
        self.finish(json.dumps({"message": message}))

    def options(self) -> None:
        origin = self.allowed_origin()
        if not self.authenticator.run_code_origins:
            raise web.HTTPError(404)
        if origin is None:
            raise web.HTTPError(403, "This hub runs code only for its course's site.")
        self.set_cors(origin)
        self.set_status(204)
        self.finish()

    def over_rate(self) -> int | None:
        """Seconds to wait when this client address asked too often in the last minute; None when it may ask."""
        now = time.monotonic()
        peer = getattr(self.request.connection.context, "address", None)  # the socket's, before X-Forwarded-For
        address = client_address(
            peer[0] if isinstance(peer, tuple) else "",
            self.request.headers.get("X-Forwarded-For", ""),
            tuple(self.authenticator.run_code_trusted_proxies),
        )
        asked = self._asked.setdefault(address, deque())
        while asked and now - asked[0] > 60:
            asked.popleft()
        if len(asked) >= self.authenticator.run_code_per_minute:
            return max(1, int(60 - (now - asked[0])) + 1)
        asked.append(now)
        if len(self._asked) > 10000:  # forget addresses that went quiet
            for address in [address for address, times in self._asked.items() if not times]:
                del self._asked[address]
        return None

    async def post(self) -> None:
        authenticator: PooledTemporaryAuthenticator = self.authenticator
        if not authenticator.run_code_origins:
            raise web.HTTPError(404)
        origin = self.allowed_origin()
        if origin is None:
            self.log.warning("Run code: refused a request from origin %r", self.request.headers.get("Origin"))
            raise web.HTTPError(403, "This hub runs code only for its course's site.")
        self.set_cors(origin)
        if self.get_body_argument("open", None) is not None:
            await self.open_in_lab()
            return
        wait = self.over_rate()
        if wait is not None:
            self.refuse(429, "Too many servers asked for from this address; try again in a minute.", wait)
            return
        name = claim_pooled_user(self.db, self.users)
        pooled = name is not None
        if name is None:
            name = f"run-{uuid.uuid4().hex[:12]}"
        user = self.user_from_username(name)
        if not pooled:
            try:
                await self.spawn_single_user(user)
            except web.HTTPError as error:
                if error.status_code == 429:
                    self.forget(user)
                    retry = (getattr(error, "headers", None) or {}).get("Retry-After", 60)
                    self.refuse(429, "The hub is full.", int(retry))
                    return
                raise
        spawner = user.spawner
        if spawner._spawn_pending and spawner._spawn_future is not None:
            try:
                await spawner._spawn_future
            except Exception as error:  # noqa: BLE001 (the page says the hub is unreachable; the log says why)
                self.log.warning("Run code: the server of %s did not start (%s)", name, error)
                self.refuse(503, "The server did not start.")
                return
        if not spawner.ready:
            self.refuse(503, "The server did not start.")
            return
        token = user.new_api_token(
            note=RUN_CODE_NOTE,
            expires_in=authenticator.run_code_token_seconds,
            scopes=run_code_scopes(name),
        )
        self.log.info("Run code: %s for a reader (%s)", name, "from the warm pool" if pooled else "started now")
        self.set_header("Content-Type", "application/json")
        self.set_header("Cache-Control", "no-store")
        self.finish(
            json.dumps(
                {
                    "user": name,
                    "server": user.url,
                    "token": token,
                    "pooled": pooled,
                    "expires_in": authenticator.run_code_token_seconds,
                }
            )
        )

    def forget(self, user) -> None:
        """A user made for a server the hub would not start: gone again, so it holds no place."""
        try:
            self.users.delete(user.name)
        except Exception as error:  # noqa: BLE001 (the culler deletes it later)
            self.log.warning("Run code: could not delete %s (%s)", user.name, error)

    async def open_in_lab(self) -> None:
        """Sign the browser in as the token's user and continue to JupyterLab (the form's ``next``)."""
        token = self.get_body_argument("token", "")
        orm_token = orm.APIToken.find(self.db, token) if token else None
        expired = orm_token is not None and orm_token.expires_in is not None and orm_token.expires_in <= 0
        if orm_token is None or expired or orm_token.user is None or orm_token.note != RUN_CODE_NOTE:
            raise web.HTTPError(403, "This server has gone; press Run code again.")
        user = self.users[orm_token.user]
        self.set_login_cookie(user)
        path = self.get_body_argument("path", "lab")
        if urlsplit(path).scheme or urlsplit(path).netloc or path.startswith("/") or ".." in path.split("/"):
            raise web.HTTPError(400, "Not a path on the server.")
        self.redirect(url_path_join(user.url, path))
