"""refresh_token: rotation with reuse detection, downscoping, bound to the application."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar

from sqlalchemy import Connection

from ssooidc.errors import ExpiredToken, InvalidGrant
from ssooidc.grants.base import TokenRequest
from ssooidc.observability import metrics
from ssooidc.services import tokens
from ssooidc.services.catalog import Application, Catalog
from ssooidc.services.token_service import TOKEN_TYPE_REFRESH, TokenService


class RefreshTokenGrant:
    grant_type: ClassVar[str] = "refresh_token"
    required: ClassVar[tuple[str, ...]] = ("refreshToken",)

    async def issue(
        self, service: TokenService, catalog: Catalog, app: Application, request: TokenRequest
    ) -> dict[str, Any]:
        assert request.refresh_token is not None
        issued = await rotate(
            service,
            app.arn,
            request.refresh_token,
            request.scope,
            grace_seconds=service.policy.refresh_reuse_grace_iam,
            check_user=lambda conn, user_id: service.check_user(conn, app, user_id),
            generation=catalog.generation,
        )
        return service.response(catalog, app, issued, issued_token_type=TOKEN_TYPE_REFRESH)


async def rotate(
    service: TokenService,
    client_id: str,
    refresh_token: str,
    requested_scopes: tuple[str, ...] | None,
    *,
    grace_seconds: int,
    check_user: Callable[[Connection, str], object],
    generation: int | None = None,
) -> tokens.IssuedTokens:
    """Retire ``refresh_token`` and issue its successors in the same family.

    A retired token presented again (outside the grace window) revokes the whole family.
    ``generation``: that of the snapshot the request is answered from (``Store.run_write``)."""
    now = service.now()

    def write(conn: Connection) -> tokens.IssuedTokens | str:
        """The new tokens, or the id of a family to revoke for a reused token."""
        stored = tokens.find_token(conn, refresh_token, "refresh")
        if stored is None or stored.application_arn != client_id:
            raise InvalidGrant("the refresh token is not valid for this client")
        if stored.family.revoked:
            raise InvalidGrant("the refresh token has been revoked")
        if stored.family.expires_at <= now:
            raise ExpiredToken("the refresh token's session has expired")
        # A retired token (row 8) is refused before the user (row 9) and scope (row 10) checks.
        retired = stored.consumed_at is not None and now - stored.consumed_at > grace_seconds
        if not retired:
            check_user(conn, stored.family.user_id)
            scopes = stored.scopes
            if requested_scopes:
                scopes = service.scopes(requested_scopes, stored.scopes, what="the refresh token")
            outcome = tokens.consume_refresh_token(conn, refresh_token, now, grace_seconds)
            if outcome is not tokens.Consumed.REUSED:
                return tokens.issue_tokens(conn, stored.family, scopes, with_refresh=True, now=now)
        return stored.family.family_id

    result = await service.store.run_write(write, generation=generation)
    if isinstance(result, tokens.IssuedTokens):
        metrics.tokens_issued("refresh_token")
        return result
    # A rotated token presented again: nothing was written above; revoke the family.
    await service.store.run_write(lambda conn: tokens.revoke_family(conn, result, now))
    raise InvalidGrant("the refresh token was already used; its session has been revoked")
