"""A web application that signs its users in through IAM Identity Center in the browser: the
authorization-code flow with PKCE (RFC 7636, S256), redeemed with CreateTokenWithIAM.

``/login`` sends the browser to the service's ``/authorize`` with a fresh ``state`` and code
challenge; ``/callback`` checks the state, redeems the code with the verifier, and shows who
signed in. The authorize URL is the sso-oidc endpoint's ``/authorize``, so the same code runs
against AWS and against ssooidc; boto3 takes the endpoint, region and credentials from the
environment.
"""

from __future__ import annotations

import base64
import hashlib
import html
import json
import secrets
from typing import Any
from urllib.parse import urlencode

import boto3
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Route

SCOPES = "openid files:read"


def pkce_pair() -> tuple[str, str]:
    """A code verifier and its S256 challenge."""
    verifier = secrets.token_urlsafe(48)
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return verifier, base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def build_files_app(application_arn: str) -> Starlette:
    oidc = boto3.client("sso-oidc")
    authorize_url = f"{oidc.meta.endpoint_url}/authorize"
    pending: dict[str, str] = {}  # state -> code verifier

    def redirect_uri(request: Request) -> str:
        return str(request.url_for("callback"))

    async def login(request: Request) -> Response:
        state = secrets.token_urlsafe(16)
        verifier, challenge = pkce_pair()
        pending[state] = verifier
        query = urlencode(
            {
                "response_type": "code",
                "client_id": application_arn,
                "redirect_uri": redirect_uri(request),
                "state": state,
                "code_challenge_method": "S256",
                "code_challenge": challenge,
                "scope": SCOPES,
            }
        )
        return RedirectResponse(f"{authorize_url}?{query}", status_code=302)

    async def callback(request: Request) -> Response:
        verifier = pending.pop(request.query_params.get("state", ""), None)
        if verifier is None:
            return HTMLResponse("<h1>Unknown sign-in</h1>", 400)
        if "error" in request.query_params:
            message = html.escape(request.query_params["error"])
            return HTMLResponse(f"<h1>Not signed in</h1><p id=error>{message}</p>", 403)
        tokens = oidc.create_token_with_iam(
            clientId=application_arn,
            grantType="authorization_code",
            code=request.query_params["code"],
            redirectUri=redirect_uri(request),
            codeVerifier=verifier,
        )
        claims = _claims(tokens["idToken"])
        return HTMLResponse(
            "<h1>Signed in</h1>"
            f"<p>user <span id=user>{html.escape(claims['sub'])}</span></p>"
            f"<p>scopes <span id=scopes>{html.escape(' '.join(tokens['scope']))}</span></p>"
        )

    return Starlette(routes=[Route("/login", login), Route("/callback", callback, name="callback")])


def _claims(jwt: str) -> dict[str, Any]:
    payload = jwt.split(".")[1]
    claims: dict[str, Any] = json.loads(
        base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))
    )
    return claims
