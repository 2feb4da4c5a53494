"""urn:ietf:params:oauth:grant-type:token-exchange (RFC 8693): another application's access
token, issued for a scope that names this application as an authorized target."""

from __future__ import annotations

from typing import Any, ClassVar

from sqlalchemy import Connection

from ssooidc.errors import InvalidGrant, InvalidRequest, UnauthorizedClient
from ssooidc.grants.base import TokenRequest
from ssooidc.observability import metrics
from ssooidc.services import tokens
from ssooidc.services.applications import DEFAULT_SCOPES
from ssooidc.services.catalog import Application, Catalog
from ssooidc.services.token_service import TOKEN_TYPE_ACCESS, TOKEN_TYPE_REFRESH, TokenService


class TokenExchangeGrant:
    grant_type: ClassVar[str] = "urn:ietf:params:oauth:grant-type:token-exchange"
    required: ClassVar[tuple[str, ...]] = ("subjectToken", "subjectTokenType")

    @staticmethod
    def check_members(app: Application, request: TokenRequest) -> str:
        """The token types (row 7) and, for a refresh token, the RefreshToken grant."""
        if request.subject_token_type != TOKEN_TYPE_ACCESS:
            raise InvalidRequest(f"subjectTokenType must be {TOKEN_TYPE_ACCESS}")
        # Absent means access_token; any other value, the empty string too, is refused.
        requested = request.requested_token_type
        if requested is None:
            requested = TOKEN_TYPE_ACCESS
        if requested not in (TOKEN_TYPE_ACCESS, TOKEN_TYPE_REFRESH):
            raise InvalidRequest(
                f"requestedTokenType must be {TOKEN_TYPE_ACCESS} or {TOKEN_TYPE_REFRESH}"
            )
        if requested == TOKEN_TYPE_REFRESH and "refresh_token" not in app.grants:
            raise UnauthorizedClient("a refresh token needs the application's RefreshToken grant")
        return requested

    async def issue(
        self, service: TokenService, catalog: Catalog, app: Application, request: TokenRequest
    ) -> dict[str, Any]:
        subject_token = request.subject_token
        assert subject_token is not None
        requested_type = self.check_members(app, request)
        now = service.now()

        def write(conn: Connection) -> tokens.IssuedTokens:
            subject = tokens.find_token(conn, subject_token, "access")
            if subject is None or subject.expires_at <= now or subject.family.revoked:
                raise InvalidGrant("the subject token is not a live access token")
            if subject.application_arn == app.arn:
                raise InvalidGrant("the subject token was issued to this same application")
            source = catalog.applications.get(subject.application_arn)
            targets = {app.arn, catalog.instance.arn}
            authorizing = [
                s
                for s in subject.scopes
                if source is not None and targets.intersection(source.access_scopes.get(s, ()))
            ]
            if not authorizing:
                raise InvalidGrant("no scope of the subject token authorizes this application")
            service.check_user(conn, app, subject.family.user_id)
            available = (set(authorizing) & app.all_scopes()) | set(DEFAULT_SCOPES)
            scopes = service.scopes(request.scope, available, what="this exchange")
            family = tokens.start_family(
                conn,
                application_arn=app.arn,
                user_id=subject.family.user_id,
                origin="token_exchange",
                issuer_arn=subject.family.issuer_arn,
                auth_time=subject.family.auth_time,
                expires_at=subject.family.expires_at,
            )
            return tokens.issue_tokens(
                conn, family, scopes, with_refresh=requested_type == TOKEN_TYPE_REFRESH, now=now
            )

        issued = await service.store.run_write(write, generation=catalog.generation)
        metrics.tokens_issued("token-exchange")
        return service.response(catalog, app, issued, issued_token_type=requested_type)
