"""Finds the secret behind an access key for SigV4: long-term keys from the catalog snapshot,
temporary session keys from the store. Every failure looks the same to the caller."""

from __future__ import annotations

import hashlib
import hmac

from ssooidc.errors import ExpiredSessionToken, UnrecognizedClient
from ssooidc.http.sigv4 import ResolvedKey
from ssooidc.services import role_sessions
from ssooidc.services.at_rest import SecretBox
from ssooidc.services.catalog import Catalog
from ssooidc.services.principals import Caller
from ssooidc.store.engine import Store

INVALID = "The security token included in the request is invalid."


class CatalogKeyResolver:
    """A KeyResolver over one catalog snapshot."""

    def __init__(self, catalog: Catalog, store: Store, box: SecretBox, now: float) -> None:
        self._catalog = catalog
        self._store = store
        self._box = box
        self._now = now

    def resolve(self, access_key_id: str, session_token: str | None) -> ResolvedKey:
        if session_token is None:
            key = self._catalog.access_keys.get(access_key_id)
            principal = self._catalog.principals.get(key.principal_arn) if key else None
            if key is None or not key.active or principal is None:
                raise UnrecognizedClient(INVALID)
            caller = Caller(
                access_key_id=access_key_id,
                principal_arn=principal.arn,
                account=principal.account_id,
                user_name=principal.name if principal.kind == "user" else None,
            )
            return ResolvedKey(key.secret, caller)
        with self._store.read() as conn:
            session = role_sessions.find_session(conn, self._box, access_key_id)
        given = hashlib.sha256(session_token.encode()).digest()
        if session is None or not hmac.compare_digest(given, session.token_hash):
            raise UnrecognizedClient(INVALID)
        role = self._catalog.principals.get(session.role_arn)
        if role is None:
            raise UnrecognizedClient(INVALID)
        if session.expires_at <= self._now:
            raise ExpiredSessionToken("The security token included in the request is expired")
        caller = Caller(
            access_key_id=access_key_id,
            principal_arn=f"arn:aws:sts::{role.account_id}:assumed-role/{role.name}/{session.session_name}",
            account=role.account_id,
            role_arn=role.arn,
            session_context=(session.context or {}).get("identity_context"),
        )
        return ResolvedKey(session.secret_access_key, caller)
