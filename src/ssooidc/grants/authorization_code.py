"""authorization_code: bound to the client and redirect URI, PKCE S256, single use."""

from __future__ import annotations

import base64
import hashlib
import hmac
import operator
from collections.abc import Callable, Collection
from typing import Any, ClassVar

from sqlalchemy import Connection

from ssooidc.errors import InvalidGrant
from ssooidc.grants.base import TokenRequest
from ssooidc.observability import metrics
from ssooidc.services import clients, tokens
from ssooidc.services.catalog import Application, Catalog
from ssooidc.services.token_service import TOKEN_TYPE_ACCESS, TOKEN_TYPE_REFRESH, TokenService


def pkce_s256(verifier: str) -> str:
    """RFC 7636 §4.2: BASE64URL(SHA256(ASCII(code_verifier)))."""
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def check_pkce(stored: tokens.StoredCode, verifier: str | None) -> None:
    if stored.code_challenge is None:
        return
    if verifier is None:
        raise InvalidGrant("codeVerifier is required for this code")
    if not (43 <= len(verifier) <= 128) or not verifier.isascii():
        raise InvalidGrant("codeVerifier must be 43 to 128 ASCII characters (RFC 7636)")
    if stored.code_challenge_method != "S256" or not hmac.compare_digest(
        pkce_s256(verifier), stored.code_challenge
    ):
        raise InvalidGrant("codeVerifier does not match the code challenge")


async def redeem(
    service: TokenService,
    client_id: str,
    code: str,
    redirect_uri: str,
    verifier: str | None,
    requested_scopes: tuple[str, ...] | None,
    *,
    with_refresh: bool,
    check_user: Callable[[Connection, str], object],
    registered_redirect_uris: Collection[str] | None = None,
    redirect_matches: Callable[[str, str], bool] = operator.eq,
    access_lifetime: int = tokens.ACCESS_TOKEN_LIFETIME,
    generation: int | None = None,
) -> tokens.IssuedTokens:
    """Redeem a code once; a second redemption fails and revokes what the first issued
    (RFC 6749 §4.1.2). ``redirect_matches(registered, presented)`` compares redirect URIs:
    exactly by default; public clients ignore loopback ports (RFC 8252 §7.3). ``generation``:
    that of the snapshot the request is answered from (``Store.run_write``)."""
    now = service.now()

    def write(conn: Connection) -> tokens.IssuedTokens | str | None:
        """The new tokens; or, for a code used before, the family its first use started."""
        stored = tokens.find_code(conn, code)
        if stored is None or not hmac.compare_digest(stored.client_id, client_id):
            raise InvalidGrant("the authorization code is not valid for this client")
        if stored.consumed_at is None:
            if stored.expires_at <= now:
                raise InvalidGrant("the authorization code has expired")
            if stored.redirect_uri != redirect_uri:
                raise InvalidGrant("redirectUri does not match the authorization request")
            if registered_redirect_uris is not None and not any(
                redirect_matches(r, redirect_uri) for r in registered_redirect_uris
            ):
                raise InvalidGrant("redirectUri is not a registered redirect URI of the client")
            check_pkce(stored, verifier)
            check_user(conn, stored.user_id)
            scopes = stored.scopes
            if requested_scopes:
                scopes = service.scopes(requested_scopes, stored.scopes, what="the authorization")
            family_id = tokens.new_family_id()
            if tokens.consume_code(conn, code, family_id, now):
                family = tokens.start_family(
                    conn,
                    family_id=family_id,
                    application_arn=client_id,
                    user_id=stored.user_id,
                    origin="authorization_code",
                    issuer_arn=None,
                    auth_time=stored.auth_time,
                    expires_at=stored.auth_time + service.policy.session_duration,
                )
                return tokens.issue_tokens(
                    conn,
                    family,
                    scopes,
                    with_refresh=with_refresh,
                    now=now,
                    access_lifetime=access_lifetime,
                )
            stored = tokens.find_code(conn, code) or stored
        return stored.family_id

    result = await service.store.run_write(write, generation=generation)
    if isinstance(result, tokens.IssuedTokens):
        metrics.tokens_issued("authorization_code")
        return result
    if result is not None:
        first_family = result
        await service.store.run_write(lambda conn: tokens.revoke_family(conn, first_family, now))
    raise InvalidGrant("the authorization code was already used; the tokens it issued are revoked")


class AuthorizationCodeGrant:
    grant_type: ClassVar[str] = "authorization_code"
    required: ClassVar[tuple[str, ...]] = ("code", "redirectUri")

    async def issue(
        self, service: TokenService, catalog: Catalog, app: Application, request: TokenRequest
    ) -> dict[str, Any]:
        assert request.code is not None and request.redirect_uri is not None
        with_refresh = "refresh_token" in app.grants
        issued = await redeem(
            service,
            app.arn,
            request.code,
            request.redirect_uri,
            request.code_verifier,
            request.scope,
            with_refresh=with_refresh,
            check_user=lambda conn, user_id: service.check_user(conn, app, user_id),
            registered_redirect_uris=app.grants[self.grant_type]
            .get("AuthorizationCode", {})
            .get("RedirectUris", []),
            redirect_matches=clients.redirect_uri_matches,
            generation=catalog.generation,
        )
        token_type = TOKEN_TYPE_REFRESH if with_refresh else TOKEN_TYPE_ACCESS
        return service.response(catalog, app, issued, issued_token_type=token_type)
