"""Role sessions (sts): temporary credentials whose secret is stored encrypted and whose
session token is stored only as a hash."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, delete, insert, select

from ssooidc.services.at_rest import SecretBox
from ssooidc.services.iam import AccessKeyPair, new_access_key_id, new_secret_access_key
from ssooidc.store import tables as t


def create_session(
    conn: Connection,
    box: SecretBox,
    *,
    role: str,
    session_name: str,
    expires_at: float,
    now: float,
    context: dict[str, Any] | None = None,
) -> tuple[AccessKeyPair, str]:
    """Temporary credentials for a role session: key pair and session token."""
    pair = AccessKeyPair(new_access_key_id("ASIA"), new_secret_access_key())
    token = "IQo" + secrets.token_urlsafe(96)
    conn.execute(
        insert(t.iam_sessions).values(
            access_key_id=pair.access_key_id,
            token_hash=hashlib.sha256(token.encode()).digest(),
            secret_enc=box.seal(pair.secret_access_key.encode(), f"session:{pair.access_key_id}"),
            role_arn=role,
            session_name=session_name,
            context=context,
            expires_at=expires_at,
            created_at=now,
        )
    )
    return pair, token


@dataclass(frozen=True)
class Session:
    """A role session as SigV4 verification needs it."""

    access_key_id: str
    token_hash: bytes
    secret_access_key: str
    role_arn: str
    session_name: str
    context: dict[str, Any] | None
    expires_at: float


def find_session(conn: Connection, box: SecretBox, access_key_id: str) -> Session | None:
    """The session behind a temporary access key id, secret decrypted, if there is one."""
    row = conn.execute(
        select(t.iam_sessions).where(t.iam_sessions.c.access_key_id == access_key_id)
    ).first()
    if row is None:
        return None
    return Session(
        access_key_id=row.access_key_id,
        token_hash=row.token_hash,
        secret_access_key=box.open(row.secret_enc, f"session:{row.access_key_id}").decode(),
        role_arn=row.role_arn,
        session_name=row.session_name,
        context=row.context,
        expires_at=row.expires_at,
    )


def delete_expired_sessions(conn: Connection, before: float) -> None:
    """Forget sessions that expired before ``before`` (until then they answer ExpiredToken)."""
    conn.execute(delete(t.iam_sessions).where(t.iam_sessions.c.expires_at < before))
