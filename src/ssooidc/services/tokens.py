"""Access and refresh tokens, authorization codes, token families: minted, stored as SHA-256
hashes, and consumed exactly once by conditional updates."""

from __future__ import annotations

import enum
import hashlib
import secrets
import uuid
from dataclasses import dataclass

from sqlalchemy import Connection, insert, select, update

from ssooidc.store import tables as t

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
    conn.execute(
        insert(t.token_families).values(
            family_id=family.family_id,
            application_arn=application_arn,
            user_id=user_id,
            origin=origin,
            issuer_arn=issuer_arn,
            auth_time=auth_time,
            expires_at=expires_at,
        )
    )
    return family


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
    access = new_secret("aoa")
    refresh = new_secret("aor") if with_refresh else None
    scope_text = " ".join(scopes)
    rows = [
        {
            "token_hash": token_hash(access),
            "kind": "access",
            "family_id": family.family_id,
            "application_arn": family.application_arn,
            "scopes": scope_text,
            "issued_at": now,
            "expires_at": min(now + access_lifetime, family.expires_at),
        }
    ]
    if refresh is not None:
        rows.append({**rows[0], "token_hash": token_hash(refresh), "kind": "refresh", "expires_at": family.expires_at})
    conn.execute(insert(t.tokens), rows)
    return IssuedTokens(access, refresh, family, scopes, access_lifetime)


def find_token(conn: Connection, token: str, kind: str) -> StoredToken | None:
    """The stored token of ``kind`` with this value, joined with its family."""
    tok, fam = t.tokens, t.token_families
    row = conn.execute(
        select(tok, fam.c.user_id, fam.c.origin, fam.c.issuer_arn, fam.c.auth_time,
               fam.c.expires_at.label("family_expires_at"), fam.c.revoked_at,
               fam.c.application_arn.label("family_application_arn"))
        .join(fam, fam.c.family_id == tok.c.family_id)
        .where(tok.c.token_hash == token_hash(token), tok.c.kind == kind)
    ).first()
    if row is None:
        return None
    family = Family(
        family_id=row.family_id,
        application_arn=row.family_application_arn,
        user_id=row.user_id,
        origin=row.origin,
        issuer_arn=row.issuer_arn,
        auth_time=row.auth_time,
        expires_at=row.family_expires_at,
        revoked=row.revoked_at is not None,
    )
    return StoredToken(
        kind=row.kind,
        family=family,
        application_arn=row.application_arn,
        scopes=tuple(row.scopes.split()),
        issued_at=row.issued_at,
        expires_at=row.expires_at,
        consumed_at=row.consumed_at,
    )


class Consumed(enum.Enum):
    NOW = "now"  # this request consumed it
    WITHIN_GRACE = "grace"  # consumed moments ago; accepted again inside the grace window
    REUSED = "reused"  # consumed before: the family must be revoked


def consume_refresh_token(conn: Connection, token: str, now: float, grace_seconds: int) -> Consumed:
    """Retire a refresh token: one atomic conditional update, so racing requests see one success."""
    result = conn.execute(
        update(t.tokens)
        .where(
            t.tokens.c.token_hash == token_hash(token),
            t.tokens.c.kind == "refresh",
            t.tokens.c.consumed_at.is_(None),
        )
        .values(consumed_at=now)
    )
    if result.rowcount == 1:
        return Consumed.NOW
    row = conn.execute(
        select(t.tokens.c.consumed_at).where(t.tokens.c.token_hash == token_hash(token))
    ).first()
    if row is not None and row.consumed_at is not None and now - row.consumed_at <= grace_seconds:
        return Consumed.WITHIN_GRACE
    return Consumed.REUSED


def revoke_family(conn: Connection, family_id: str, now: float) -> None:
    conn.execute(
        update(t.token_families)
        .where(t.token_families.c.family_id == family_id, t.token_families.c.revoked_at.is_(None))
        .values(revoked_at=now)
    )


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
    conn.execute(
        insert(t.authorization_codes).values(
            code_hash=token_hash(code),
            client_id=client_id,
            redirect_uri=redirect_uri,
            user_id=user_id,
            scopes=" ".join(scopes),
            code_challenge=code_challenge,
            code_challenge_method=code_challenge_method,
            auth_time=auth_time,
            expires_at=now + CODE_LIFETIME,
        )
    )
    return code


def find_code(conn: Connection, code: str) -> StoredCode | None:
    row = conn.execute(
        select(t.authorization_codes).where(t.authorization_codes.c.code_hash == token_hash(code))
    ).first()
    if row is None:
        return None
    return StoredCode(
        client_id=row.client_id,
        redirect_uri=row.redirect_uri,
        user_id=row.user_id,
        scopes=tuple(row.scopes.split()),
        code_challenge=row.code_challenge,
        code_challenge_method=row.code_challenge_method,
        auth_time=row.auth_time,
        expires_at=row.expires_at,
        consumed_at=row.consumed_at,
        family_id=row.family_id,
    )


def consume_code(conn: Connection, code: str, family_id: str, now: float) -> bool:
    """Mark a code redeemed by ``family_id``; False when another request redeemed it first."""
    result = conn.execute(
        update(t.authorization_codes)
        .where(t.authorization_codes.c.code_hash == token_hash(code), t.authorization_codes.c.consumed_at.is_(None))
        .values(consumed_at=now, family_id=family_id)
    )
    return result.rowcount == 1


# -- assertion replay ---------------------------------------------------------------------


def assertion_seen(conn: Connection, issuer: str, jti: str) -> bool:
    return (
        conn.execute(
            select(t.assertion_replay.c.jti).where(
                t.assertion_replay.c.issuer == issuer, t.assertion_replay.c.jti == jti
            )
        ).first()
        is not None
    )


def remember_assertion(conn: Connection, issuer: str, jti: str, expires_at: float) -> None:
    """Record (iss, jti); a second insert fails on the primary key, on any instance."""
    conn.execute(insert(t.assertion_replay).values(issuer=issuer, jti=jti, expires_at=expires_at))
