"""A web API that acts for its users with trusted identity propagation.

A user arrives with an ID token from the company's identity provider. The API trades it for
IAM Identity Center tokens (CreateTokenWithIAM, jwt-bearer), keeps them for the user's
session, refreshes them before they expire (the refresh token rotates), and calls AWS as the
user: sts AssumeRole with the ``sts:identity_context`` of the ID token (``ProvidedContexts``)
gives an identity-enhanced role session.

Nothing here knows about ssooidc. The boto3 clients take their endpoints, region and
credentials from the environment, as they would on AWS.

    POST /sessions   Authorization: Bearer <the identity provider's ID token>  -> {"session"}
    GET  /me         X-Session: <session>  -> the user, and the role session acting for them
"""

from __future__ import annotations

import base64
import json
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import boto3
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"
IDENTITY_CENTER = "arn:aws:iam::aws:contextProvider/IdentityCenter"
#: Refresh this long before the access token expires.
REFRESH_MARGIN = 60


@dataclass
class UserTokens:
    """What the API keeps for one signed-in user."""

    access_token: str
    refresh_token: str
    id_token: str
    expires_at: float

    @classmethod
    def from_answer(cls, answer: dict[str, Any], now: float) -> UserTokens:
        return cls(
            answer["accessToken"],
            answer["refreshToken"],
            answer["idToken"],
            now + answer["expiresIn"],
        )

    def claims(self) -> dict[str, Any]:
        """The ID token's claims (it came straight from the token service over TLS)."""
        payload = self.id_token.split(".")[1]
        claims: dict[str, Any] = json.loads(
            base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))
        )
        return claims


class NotSignedIn(Exception):
    """No session, or one whose tokens can no longer be refreshed."""


class TokenBroker:
    """Trades and refreshes a user's tokens, and opens role sessions that carry the user."""

    def __init__(
        self, application_arn: str, role_arn: str, *, clock: Callable[[], float] = time.time
    ) -> None:
        self.application_arn = application_arn
        self.role_arn = role_arn
        self.clock = clock
        self.oidc = boto3.client("sso-oidc")
        self.sts = boto3.client("sts")
        self.sessions: dict[str, UserTokens] = {}

    def sign_in(self, idp_token: str) -> str:
        """A new session for the user the identity provider's token names."""
        try:
            answer = self.oidc.create_token_with_iam(
                clientId=self.application_arn, grantType=JWT_BEARER, assertion=idp_token
            )
        except (
            self.oidc.exceptions.InvalidGrantException,
            self.oidc.exceptions.AccessDeniedException,
        ) as exc:
            raise NotSignedIn(exc.response.get("error_description", str(exc))) from None
        session = secrets.token_urlsafe(24)
        self.sessions[session] = UserTokens.from_answer(answer, self.clock())
        return session

    def tokens(self, session: str) -> UserTokens:
        """The session's tokens, refreshed first when they are about to expire."""
        tokens = self.sessions.get(session)
        if tokens is None:
            raise NotSignedIn("no such session")
        now = self.clock()
        if tokens.expires_at - REFRESH_MARGIN > now:
            return tokens
        try:
            answer = self.oidc.create_token_with_iam(
                clientId=self.application_arn,
                grantType="refresh_token",
                refreshToken=tokens.refresh_token,
            )
        except (
            self.oidc.exceptions.InvalidGrantException,
            self.oidc.exceptions.ExpiredTokenException,
        ) as exc:
            del self.sessions[session]
            raise NotSignedIn(exc.response.get("error_description", str(exc))) from None
        tokens = UserTokens.from_answer(answer, now)
        self.sessions[session] = tokens
        return tokens

    def role_session(self, session: str) -> dict[str, Any]:
        """Credentials of the role, identity-enhanced with the session's user."""
        context = self.tokens(session).claims()["sts:identity_context"]
        answer: dict[str, Any] = self.sts.assume_role(
            RoleArn=self.role_arn,
            RoleSessionName="web-api",
            ProvidedContexts=[{"ProviderArn": IDENTITY_CENTER, "ContextAssertion": context}],
        )
        return answer


def build_api(broker: TokenBroker) -> Starlette:
    """The HTTP face of the broker."""

    async def sign_in(request: Request) -> JSONResponse:
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not token:
            return JSONResponse({"error": "a bearer token is required"}, 401)
        try:
            return JSONResponse({"session": broker.sign_in(token)}, 201)
        except NotSignedIn as exc:
            return JSONResponse({"error": str(exc)}, 401)

    async def me(request: Request) -> JSONResponse:
        session = request.headers.get("x-session", "")
        try:
            claims = broker.tokens(session).claims()
            role = broker.role_session(session)
        except NotSignedIn as exc:
            return JSONResponse({"error": str(exc)}, 401)
        return JSONResponse(
            {
                "user_id": claims["sub"],
                "identity_store_id": claims["aws:identity_store_id"],
                "role_session": role["AssumedRoleUser"]["Arn"],
            }
        )

    return Starlette(
        routes=[Route("/sessions", sign_in, methods=["POST"]), Route("/me", me, methods=["GET"])]
    )
