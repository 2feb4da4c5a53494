"""A reports service that another application calls with its user's access token.

The frontend signed the user in and holds Identity Center tokens for them. It calls this
service with its access token. The service does not trust that token as it is: it exchanges
it for a token of its own (CreateTokenWithIAM, token exchange, RFC 8693). That succeeds only
while a scope of the frontend's token names this service among its authorized targets; then
the service knows the user, and which scopes it may act on.

Nothing here knows about ssooidc: boto3 takes its endpoint, region and credentials from the
environment.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from typing import Any

import boto3

TOKEN_EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange"
ACCESS_TOKEN = "urn:ietf:params:oauth:token-type:access_token"


class NotAuthorized(Exception):
    """The caller's token does not reach this service."""


@dataclass(frozen=True)
class Caller:
    """Who the exchanged token is for."""

    user_id: str
    scopes: frozenset[str]
    access_token: str
    #: for sts AssumeRole's ProvidedContexts, to reach AWS as the user
    identity_context: str


class ReportsService:
    """Answers report requests for the user behind another application's access token."""

    def __init__(self, application_arn: str) -> None:
        self.application_arn = application_arn
        self.oidc = boto3.client("sso-oidc")

    def caller(self, bearer_token: str) -> Caller:
        """Exchange the caller's access token for this service's own."""
        try:
            answer = self.oidc.create_token_with_iam(
                clientId=self.application_arn,
                grantType=TOKEN_EXCHANGE,
                subjectToken=bearer_token,
                subjectTokenType=ACCESS_TOKEN,
                requestedTokenType=ACCESS_TOKEN,
            )
        except self.oidc.exceptions.InvalidGrantException as exc:
            raise NotAuthorized(exc.response.get("error_description", str(exc))) from None
        claims = _claims(answer["idToken"])
        return Caller(
            claims["sub"],
            frozenset(answer["scope"]),
            answer["accessToken"],
            claims["sts:identity_context"],
        )

    def monthly_report(self, bearer_token: str) -> dict[str, Any]:
        """A report, for callers whose token carries ``reports:read``."""
        caller = self.caller(bearer_token)
        if "reports:read" not in caller.scopes:
            raise NotAuthorized("the token does not carry reports:read")
        return {"for": caller.user_id, "rows": []}


def _claims(jwt: str) -> dict[str, Any]:
    payload = jwt.split(".")[1]
    claims: dict[str, Any] = json.loads(
        base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))
    )
    return claims
