"""urn:ietf:params:oauth:grant-type:jwt-bearer (RFC 7523): a trusted issuer's assertion for tokens."""

from __future__ import annotations

from typing import Any, ClassVar

from ssooidc.errors import AwsError, InvalidGrant
from ssooidc.grants.base import TokenRequest
from ssooidc.observability import metrics
from ssooidc.services import assertions, identity_store, tokens
from ssooidc.services.catalog import Application, Catalog, TrustedIssuer
from ssooidc.services.identity_store import IdentityUser
from ssooidc.services.issuers import IssuerKeyError
from ssooidc.services.token_service import TOKEN_TYPE_ACCESS, TOKEN_TYPE_REFRESH, TokenService
from ssooidc.store import records
from ssooidc.store.steps import Steps

LEEWAY = 60


class JwtBearerGrant:
    grant_type: ClassVar[str] = "urn:ietf:params:oauth:grant-type:jwt-bearer"
    required: ClassVar[tuple[str, ...]] = ("assertion",)

    async def issue(
        self, service: TokenService, catalog: Catalog, app: Application, request: TokenRequest
    ) -> dict[str, Any]:
        assert request.assertion is not None
        unverified = assertions.peek(request.assertion)
        issuer, audiences = _authorized_issuer(catalog, app, unverified.iss)
        try:
            key = service.issuer_keys.get_key_cached(
                issuer.issuer_url, unverified.kid, unverified.alg
            )
            if key is None:
                key = await service.issuer_keys.get_key(
                    issuer.issuer_url, unverified.kid, unverified.alg
                )
        except IssuerKeyError as exc:
            raise InvalidGrant(f"the issuer's keys could not be used: {exc}") from None
        assertions.verify_signature(unverified, key)
        now = service.now()
        claims = assertions.check_claims(
            unverified,
            authorized_audiences=audiences,
            claim_attribute_path=str(issuer.oidc["ClaimAttributePath"]),
            now=now,
            leeway=LEEWAY,
        )
        store_path = str(issuer.oidc["IdentityStoreAttributePath"])
        with_refresh = "refresh_token" in app.grants

        lookup = identity_store.lookup_value(store_path, claims.attribute_value)
        sqlite = service.store.is_sqlite
        # The user as this snapshot last read it: when it passes rows 9 and 10 with no read,
        # the write alone settles row 8 (it writes nothing for a replayed jti), so the
        # request costs one statement. Otherwise everything is read first, in check order.
        known = _known_user(service, catalog, app, store_path, lookup, request.scope)

        def write() -> Steps[tokens.IssuedTokens]:
            replayed = InvalidGrant("the assertion was already exchanged (jti replayed)")
            user = known
            if user is None:
                # Replay (row 8), the user (row 9) and the scopes (row 10), read together
                # before the one statement that writes the replay marker, the family and its
                # tokens: a refusal writes nothing.
                found = yield records.assertion_and_users(
                    unverified.iss, claims.jti, store_path, lookup, limit=2
                )
                seen, users = records.seen_and_users(found)
                if seen:
                    raise replayed
                catalog.remember_users(store_path, lookup, users)
                if len(users) != 1:
                    raise InvalidGrant("the assertion does not identify exactly one enabled user")
                first = identity_store.user_from_row(users[0])
                user = yield from service.check_user_steps(app, first.user_id, first)
            scopes = service.scopes(request.scope, app.all_scopes())
            family = tokens.Family(
                family_id=tokens.new_family_id(),
                application_arn=app.arn,
                user_id=user.user_id,
                origin="jwt_bearer",
                issuer_arn=issuer.arn,
                auth_time=now,
                expires_at=now + service.policy.session_duration,
                revoked=False,
            )
            issued = yield from tokens.issue_for_assertion(
                sqlite=sqlite,
                issuer=unverified.iss,
                jti=claims.jti,
                marker_expires_at=claims.exp + LEEWAY,
                family=family,
                scopes=scopes,
                with_refresh=with_refresh,
                now=now,
            )
            if issued is None:  # exchanged by a racing request meanwhile
                raise replayed
            return issued

        issued = await service.store.run_steps(write, generation=catalog.generation)
        metrics.tokens_issued("jwt-bearer")
        return service.response(
            catalog,
            app,
            issued,
            issued_token_type=TOKEN_TYPE_REFRESH if with_refresh else TOKEN_TYPE_ACCESS,
        )


def _known_user(
    service: TokenService,
    catalog: Catalog,
    app: Application,
    path: str,
    value: str,
    requested_scopes: tuple[str, ...] | None,
) -> IdentityUser | None:
    """The one enabled user ``catalog`` holds for (path, value), when rows 9 and 10 pass
    without a read; None when the request must read first."""
    rows = catalog.user_lookups.get((path, value))
    if rows is None or len(rows) != 1:
        return None
    user = identity_store.user_from_row(rows[0])
    if not service.passes_without_reads(app, user):
        return None
    try:
        service.scopes(requested_scopes, app.all_scopes())
    except AwsError:
        return None
    return user


def _authorized_issuer(
    catalog: Catalog, app: Application, iss: str
) -> tuple[TrustedIssuer, list[str]]:
    """The trusted issuer of the application's JwtBearer grant whose IssuerUrl is exactly ``iss``."""
    grant = app.grants[JwtBearerGrant.grant_type].get("JwtBearer", {})
    for entry in grant.get("AuthorizedTokenIssuers", []):
        issuer = catalog.issuers.get(entry.get("TrustedTokenIssuerArn", ""))
        if issuer is not None and issuer.issuer_url == iss:
            return issuer, list(entry.get("AuthorizedAudiences", []))
    raise InvalidGrant("the assertion's issuer is not authorized for this application")
