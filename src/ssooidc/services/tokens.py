"""Access and refresh tokens, authorization codes, token families: minted, stored as SHA-256
hashes, and consumed exactly once by conditional updates."""

from __future__ import annotations

import enum
import hashlib
import secrets
import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection

from ssooidc.store import records
from ssooidc.store.steps import Steps

ACCESS_TOKEN_LIFETIME = 3600
CODE_LIFETIME = 300


def token_hash(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


def new_secret(prefix: str) -> str:
    """A URL-safe credential with 256 bits of randomness and a recognisable prefix."""
    return prefix + secrets.token_urlsafe(32)


@dataclass(frozen=True)
class Family:
    family_id: str
    application_arn: str
    user_id: str
    origin: str
    issuer_arn: str | None
    auth_time: float
    expires_at: float
    revoked: bool


@dataclass(frozen=True)
class StoredToken:
    kind: str
    family: Family
    application_arn: str
    scopes: tuple[str, ...]
    issued_at: float
    expires_at: float
    consumed_at: float | None


@dataclass(frozen=True)
class IssuedTokens:
    access_token: str
    refresh_token: str | None
    family: Family
    scopes: tuple[str, ...]
    expires_in: int


def new_family_id() -> str:
    return uuid.uuid4().hex


def start_family(
    conn: Connection,
    *,
    application_arn: str,
    user_id: str,
    origin: str,
    issuer_arn: str | None,
    auth_time: float,
    expires_at: float,
    family_id: str | None = None,
) -> Family:
    family = Family(
        family_id=family_id or new_family_id(),
        application_arn=application_arn,
        user_id=user_id,
        origin=origin,
        issuer_arn=issuer_arn,
        auth_time=auth_time,
        expires_at=expires_at,
        revoked=False,
    )
    records.insert_family(conn, _family_row(family))
    return family


def _family_row(family: Family) -> tuple[Any, ...]:
    """``family`` as a row of ``records.FAMILY_COLUMNS``."""
    return (
        family.family_id,
        family.application_arn,
        family.user_id,
        family.origin,
        family.issuer_arn,
        family.auth_time,
        family.expires_at,
    )


def issue_tokens(
    conn: Connection,
    family: Family,
    scopes: tuple[str, ...],
    *,
    with_refresh: bool,
    now: float,
    access_lifetime: int = ACCESS_TOKEN_LIFETIME,
) -> IssuedTokens:
    """An access token (and a refresh token) in ``family``; only their hashes are stored."""
    issued, rows = _new_tokens(family, scopes, with_refresh, now, access_lifetime)
    records.insert_tokens(
        conn, [(digest, kind, family.family_id, *rest) for digest, kind, *rest in rows]
    )
    return issued


def _new_tokens(
    family: Family,
    scopes: tuple[str, ...],
    with_refresh: bool,
    now: float,
    access_lifetime: int,
) -> tuple[IssuedTokens, list[tuple[Any, ...]]]:
    """New tokens of ``family`` and their rows: (hash, kind, application, scopes, issued,
    expires), without the family id."""
    access = new_secret("aoa")
    refresh = new_secret("aor") if with_refresh else None
    scope_text = " ".join(scopes)
    access_expires = min(now + access_lifetime, family.expires_at)
    rows: list[tuple[Any, ...]] = [
        (token_hash(access), "access", family.application_arn, scope_text, now, access_expires)
    ]
    if refresh is not None:
        rows.append(
            (
                token_hash(refresh),
                "refresh",
                family.application_arn,
                scope_text,
                now,
                family.expires_at,
            )
        )
    # A family ending within the hour cuts its access token short (and says so in expiresIn).
    issued = IssuedTokens(access, refresh, family, scopes, max(0, round(access_expires - now)))
    return issued, rows


def issue_for_assertion(
    *,
    sqlite: bool,
    issuer: str,
    jti: str,
    marker_expires_at: float,
    family: Family,
    scopes: tuple[str, ...],
    with_refresh: bool,
    now: float,
) -> Steps[IssuedTokens | None]:
    """Record the assertion's (iss, jti) and start ``family`` with its tokens, all or
    nothing: None, with nothing written, when the assertion was exchanged already (by any
    request, on any instance)."""
    issued, rows = _new_tokens(family, scopes, with_refresh, now, ACCESS_TOKEN_LIFETIME)
    marker = (issuer, jti, marker_expires_at)
    started = yield from records.start_family_once(sqlite, marker, _family_row(family), rows)
    return issued if started else None


def find_token(conn: Connection, token: str, kind: str) -> StoredToken | None:
    """The stored token of ``kind`` with this value, with its family."""
    row = records.find_token(conn, token_hash(token), kind)
    if row is None:
        return None
    (
        kind_,
        family_id,
        app_arn,
        scopes,
        issued_at,
        expires_at,
        consumed_at,
        family_app,
        user_id,
        origin,
        issuer_arn,
        auth_time,
        family_expires,
        revoked_at,
    ) = row
    family = Family(
        family_id=family_id,
        application_arn=family_app,
        user_id=user_id,
        origin=origin,
        issuer_arn=issuer_arn,
        auth_time=auth_time,
        expires_at=family_expires,
        revoked=revoked_at is not None,
    )
    return StoredToken(
        kind=kind_,
        family=family,
        application_arn=app_arn,
        scopes=tuple(scopes.split()),
        issued_at=issued_at,
        expires_at=expires_at,
        consumed_at=consumed_at,
    )


class Consumed(enum.Enum):
    NOW = "now"  # this request consumed it
    WITHIN_GRACE = "grace"  # consumed moments ago; accepted again inside the grace window
    REUSED = "reused"  # consumed before: the family must be revoked


def consume_refresh_token(conn: Connection, token: str, now: float, grace_seconds: int) -> Consumed:
    """Retire a refresh token: one atomic conditional update, so racing requests see one success."""
    digest = token_hash(token)
    if records.consume_token(conn, digest, "refresh", now):
        return Consumed.NOW
    consumed_at = records.token_consumed_at(conn, digest)
    # ``now`` was read when this request began, so a racing request may have consumed the
    # token "later" than now: without a grace window, any earlier consumption is reuse.
    if grace_seconds > 0 and consumed_at is not None and now - consumed_at <= grace_seconds:
        return Consumed.WITHIN_GRACE
    return Consumed.REUSED


def revoke_family(conn: Connection, family_id: str, now: float) -> None:
    records.revoke_family(conn, family_id, now)


# -- authorization codes ------------------------------------------------------------------


@dataclass(frozen=True)
class StoredCode:
    client_id: str
    redirect_uri: str
    user_id: str
    scopes: tuple[str, ...]
    code_challenge: str | None
    code_challenge_method: str | None
    auth_time: float
    expires_at: float
    consumed_at: float | None
    family_id: str | None


def mint_code(
    conn: Connection,
    *,
    client_id: str,
    redirect_uri: str,
    user_id: str,
    scopes: tuple[str, ...],
    code_challenge: str | None,
    code_challenge_method: str | None,
    auth_time: float,
    now: float,
) -> str:
    """A single-use authorization code for ``client_id`` (an application ARN or a client id)."""
    code = new_secret("aoc")
    records.insert_code(
        conn,
        token_hash(code),
        (
            client_id,
            redirect_uri,
            user_id,
            " ".join(scopes),
            code_challenge,
            code_challenge_method,
            auth_time,
            now + CODE_LIFETIME,
        ),
    )
    return code


def find_code(conn: Connection, code: str) -> StoredCode | None:
    row = records.find_code(conn, token_hash(code))
    if row is None:
        return None
    (
        client_id,
        redirect_uri,
        user_id,
        scopes,
        challenge,
        method,
        auth_time,
        expires_at,
        consumed_at,
        family_id,
    ) = row
    return StoredCode(
        client_id=client_id,
        redirect_uri=redirect_uri,
        user_id=user_id,
        scopes=tuple(scopes.split()),
        code_challenge=challenge,
        code_challenge_method=method,
        auth_time=auth_time,
        expires_at=expires_at,
        consumed_at=consumed_at,
        family_id=family_id,
    )


def consume_code(conn: Connection, code: str, family_id: str, now: float) -> bool:
    """Mark a code redeemed by ``family_id``; False when another request redeemed it first."""
    return records.consume_code(conn, token_hash(code), family_id, now)
