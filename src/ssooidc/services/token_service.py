"""The checks every grant shares (client, user, assignment, scope) and the token response:
the one place where tokens, the ID token and the identity context are put together."""

from __future__ import annotations

import time
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection

from ssooidc.errors import AccessDenied, InvalidClient, InvalidScope
from ssooidc.services import identity_store, keys
from ssooidc.services.applications import CUSTOM_PROVIDER
from ssooidc.services.at_rest import SecretBox
from ssooidc.services.catalog import Application, Catalog, CatalogCache
from ssooidc.services.clock import Clock
from ssooidc.services.identity_store import IdentityUser
from ssooidc.services.issuers import IssuerKeyCache
from ssooidc.services.tokens import IssuedTokens
from ssooidc.store import records
from ssooidc.store.engine import Store
from ssooidc.store.steps import Steps

MAX_SCOPES = 25
TOKEN_TYPE_ACCESS = "urn:ietf:params:oauth:token-type:access_token"
TOKEN_TYPE_REFRESH = "urn:ietf:params:oauth:token-type:refresh_token"


@dataclass(frozen=True)
class TokenPolicy:
    """The instance settings that shape tokens."""

    public_url: str
    region: str
    session_duration: int
    refresh_reuse_grace_iam: int
    refresh_reuse_grace_public: int
    id_token_alg: str
    development: bool


class TokenService:
    """Shared state of the token path in one process: store, keys, caches, clock."""

    def __init__(
        self,
        store: Store,
        box: SecretBox,
        policy: TokenPolicy,
        clock: Clock,
        issuer_keys: IssuerKeyCache,
    ) -> None:
        self.store = store
        self.box = box
        self.policy = policy
        self.clock = clock
        self.issuer_keys = issuer_keys
        self.catalogs = CatalogCache(box, policy.region)
        self._signer: keys.JwtSigner | None = None
        self._sealer: keys.ContextSealer | None = None

    def now(self) -> float:
        return self.clock.now()

    def catalog(self, conn: Connection) -> Catalog:
        return self.catalogs.get(conn)

    def snapshot(self) -> Catalog:
        """The newest snapshot this process holds, without reading the store's generation
        (loaded when there is none yet). Whoever answers from it must check its generation
        where it writes (``Store.run_write(generation=...)``)."""
        current = self.catalogs.current
        return current if current is not None else self.fresh_catalog()

    def fresh_catalog(self) -> Catalog:
        """The snapshot of the store's current generation."""
        with self.store.connect() as conn:
            return self.catalogs.get(conn)

    # -- keys -----------------------------------------------------------------------------

    def signer(self, catalog: Catalog | None = None) -> keys.JwtSigner:
        """The signer of the ID-token key that signs now, by the schedule in ``catalog`` (the
        request's snapshot) or in the newest snapshot. A rotation made by any process moves
        the generation; a key whose time comes is picked up by the next request."""
        if catalog is None:
            with self.store.read() as conn:
                catalog = self.catalog(conn)
        kid = keys.signing_kid(catalog.id_token_keys, self.now())
        signer = self._signer
        if signer is not None and signer.kid == kid:
            return signer
        if kid is None:
            raise RuntimeError("no ID-token signing key: the bootstrap did not run")
        with self.store.read() as conn:
            key = keys.signing_key(conn, self.box, kid)
        if key is None:  # keys are revoked, never deleted
            raise RuntimeError(f"signing key {kid} is missing from the store")
        self._signer = keys.JwtSigner(key)
        return self._signer

    def sealer(self) -> keys.ContextSealer:
        if self._sealer is None:
            with self.store.write_sync() as conn:
                secret = keys.instance_secret(conn, self.box, keys.CONTEXT_SECRET, self.now())
            self._sealer = keys.ContextSealer(secret)
        return self._sealer

    # -- shared checks --------------------------------------------------------------------

    @staticmethod
    def application(catalog: Catalog, client_id: str) -> Application:
        """Row 3: a customer-managed, enabled application of this instance."""
        app = catalog.applications.get(client_id)
        if app is None:
            raise InvalidClient("clientId is not an application of this instance")
        if app.provider_arn != CUSTOM_PROVIDER:
            raise InvalidClient("the application is not a customer managed application")
        if app.status != "ENABLED":
            raise InvalidClient("the application is disabled")
        return app

    @staticmethod
    def check_user(
        conn: Connection, app: Application, user_id: str, known: IdentityUser | None = None
    ) -> IdentityUser:
        """``check_user_steps`` run on ``conn``."""
        return records.run_steps(conn, TokenService.check_user_steps(app, user_id, known))

    @staticmethod
    def passes_without_reads(app: Application, user: IdentityUser) -> bool:
        """Whether ``check_user_steps`` accepts ``user`` (as read already) with no read of its
        groups: it is enabled and needs no assignment, or is assigned directly."""
        return user.enabled and (not app.assignment_required or user.user_id in app.assigned_users)

    @staticmethod
    def check_user_steps(
        app: Application, user_id: str, known: IdentityUser | None = None
    ) -> Steps[IdentityUser]:
        """Row 9: the user exists, is enabled and, where required, is assigned. ``known``: the
        user as read in this transaction already (no second read)."""
        user = known if known is not None and known.user_id == user_id else None
        if user is None:
            row = (yield records.user_statement(user_id)).one()
            user = None if row is None else identity_store.user_from_row(row)
        if user is None or not user.enabled:
            raise AccessDenied("the user does not exist or is disabled")
        if app.assignment_required and user_id not in app.assigned_users:
            groups: set[str] = set()
            if app.assigned_groups:
                found = yield records.group_ids_statement(user_id)
                groups = {row[0] for row in found.rows}
            if not groups & app.assigned_groups:
                raise AccessDenied("the user is not assigned to the application")
        return user

    @staticmethod
    def scopes(
        requested: Sequence[str] | None,
        available: Collection[str],
        *,
        what: str = "the application",
    ) -> tuple[str, ...]:
        """Row 10: requested scopes must be available; none requested means all of them."""
        if not requested:
            return tuple(sorted(available))
        if len(requested) > MAX_SCOPES:
            raise InvalidScope(f"at most {MAX_SCOPES} scopes may be requested")
        unknown = [s for s in requested if s not in available]
        if unknown:
            raise InvalidScope(f"scope {unknown[0]!r} is not a scope of {what}")
        return tuple(dict.fromkeys(requested))

    # -- the response ---------------------------------------------------------------------

    def response(
        self, catalog: Catalog, app: Application, issued: IssuedTokens, *, issued_token_type: str
    ) -> dict[str, Any]:
        """The CreateTokenWithIAM answer: tokens, ID token and identity context."""
        now = int(self.now())
        instance = catalog.instance
        family = issued.family
        exp = now + issued.expires_in
        sealed = {
            "v": 1,
            "ins": instance.instance_id,
            "ids": instance.identity_store_id,
            "u": family.user_id,
            "app": app.arn,
            "fam": family.family_id,
            "exp": exp,
        }
        context = self.sealer().seal(sealed)
        audit = self.sealer().seal({**sealed, "k": "audit"})
        claims: dict[str, Any] = {
            "iss": instance.issuer(self.policy.public_url),
            "sub": family.user_id,
            "aud": app.client_id,
            "iat": now,
            "exp": exp,
            "auth_time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(family.auth_time)),
            "aws:identity_store_id": instance.identity_store_id,
            "aws:identity_store_arn": instance.identity_store_arn,
            "aws:instance_account": instance.account_id,
            "aws:instance_arn": instance.arn,
            "aws:application_arn": app.arn,
            "aws:credential_id": family.family_id,
            "sts:identity_context": context,
            "sts:audit_context": audit,
        }
        if family.issuer_arn:
            claims["act"] = {"sub": family.issuer_arn}
        body: dict[str, Any] = {
            "accessToken": issued.access_token,
            "tokenType": "Bearer",
            "expiresIn": issued.expires_in,
            "idToken": self.signer(catalog).sign(claims),
            "issuedTokenType": issued_token_type,
            "scope": list(issued.scopes),
            "awsAdditionalDetails": {"identityContext": context},
        }
        if issued.refresh_token is not None:
            body["refreshToken"] = issued.refresh_token
        return body
