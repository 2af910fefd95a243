"""A real OpenID Connect provider for the tests: panva's oidc-provider (MIT) on 127.0.0.1, run by Node.

What a university's provider does for the hub: discovery, its own login page,
signed ID tokens with the user's claims (``preferred_username``, ``email``), and
RP-initiated logout that asks "sign out?" and returns to the hub's signed-out
page.  It knows one confidential client, the hub, registered with the hub's
redirect URI, as the institution's identity team would register it.  Its login
form (oidc-provider's development interactions) takes any password: tests check
who signs in, not passwords.  ``tests/install-deps.sh`` installs it
(``npm ci`` in ``tests/oidc``).
"""

from __future__ import annotations

import json
import secrets
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from support.providers import ProviderProcess, free_port, launch, wait_until_answering

HERE = Path(__file__).resolve().parent.parent / "oidc"


@dataclass
class OidcProvider(ProviderProcess):
    issuer: str = ""
    client_id: str = ""
    client_secret: str = ""


def start_oidc_provider(hub_url: str, users: dict[str, str]) -> OidcProvider:
    """The provider on a free port, with the hub as its client; ``users``: login name → preferred_username."""
    node = shutil.which("node")
    if node is None or not (HERE / "node_modules" / "oidc-provider").is_dir():
        raise RuntimeError("the test OpenID Connect provider is not installed: run tests/install-deps.sh")
    port = free_port()
    folder = Path(tempfile.mkdtemp(prefix="oersite-oidc-"))
    client = {
        "client_id": "course-hub",
        "client_secret": secrets.token_urlsafe(24),
        "redirect_uris": [f"{hub_url}/oidc/callback"],
        "post_logout_redirect_uris": [f"{hub_url}/hub/signed-out"],
        "grant_types": ["authorization_code"],
        "response_types": ["code"],
        "token_endpoint_auth_method": "client_secret_basic",
    }
    config = {
        "port": port,
        "client": client,
        "cookie_key": secrets.token_hex(16),
        "users": [
            {"name": name, "preferred_username": preferred, "email": f"{preferred}"}
            for name, preferred in users.items()
        ],
    }
    (folder / "config.json").write_text(json.dumps(config), encoding="utf-8")
    process = launch([node, str(HERE / "provider.mjs"), str(folder / "config.json")], folder, cwd=HERE)
    provider = OidcProvider(
        process,
        folder,
        issuer=f"http://127.0.0.1:{port}",
        client_id=client["client_id"],
        client_secret=client["client_secret"],
    )
    return wait_until_answering(provider, f"{provider.issuer}/.well-known/openid-configuration", "the OIDC provider")
