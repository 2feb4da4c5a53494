"""Local IAM: users and roles, their inline policies and access keys, and temporary sessions."""

from __future__ import annotations

import hashlib
import secrets
import string
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, delete, insert, select

from ssooidc.errors import Conflict, ResourceNotFound, Validation
from ssooidc.services import iam_policy
from ssooidc.services.at_rest import SecretBox
from ssooidc.services.instance import bump_generation
from ssooidc.store import tables as t

ADMIN_USER = "admin"
_KEY_ALPHABET = string.ascii_uppercase + "234567"


@dataclass(frozen=True)
class AccessKeyPair:
    access_key_id: str
    secret_access_key: str


def user_arn(account_id: str, name: str, path: str = "/") -> str:
    return f"arn:aws:iam::{account_id}:user{path}{name}"


def role_arn(account_id: str, name: str, path: str = "/") -> str:
    return f"arn:aws:iam::{account_id}:role{path}{name}"


def _principal_id(kind: str) -> str:
    prefix = "AIDA" if kind == "user" else "AROA"
    return prefix + "".join(secrets.choice(_KEY_ALPHABET) for _ in range(17))


def new_access_key_id(prefix: str = "AKIA") -> str:
    return prefix + "".join(secrets.choice(_KEY_ALPHABET) for _ in range(16))


def new_secret_access_key() -> str:
    return secrets.token_urlsafe(30)[:40]


def create_principal(
    conn: Connection,
    *,
    kind: str,
    account_id: str,
    name: str,
    now: float,
    path: str = "/",
    assume_role_policy: Any = None,
    tags: dict[str, str] | None = None,
) -> str:
    """Create an IAM user or role and return its ARN."""
    arn = user_arn(account_id, name, path) if kind == "user" else role_arn(account_id, name, path)
    if kind == "role" and assume_role_policy is not None:
        _check_policy(assume_role_policy, "resource")
    exists = conn.execute(
        select(t.iam_principals.c.arn).where(
            t.iam_principals.c.kind == kind, t.iam_principals.c.name == name
        )
    ).first()
    if exists:
        raise Conflict(f"{kind} {name} already exists")
    conn.execute(
        insert(t.iam_principals).values(
            arn=arn,
            kind=kind,
            name=name,
            principal_id=_principal_id(kind),
            path=path,
            account_id=account_id,
            assume_role_policy=assume_role_policy,
            tags=tags or {},
            created_at=now,
        )
    )
    bump_generation(conn)
    return arn


def find_principal(conn: Connection, kind: str, name: str) -> str | None:
    row = conn.execute(
        select(t.iam_principals.c.arn).where(
            t.iam_principals.c.kind == kind, t.iam_principals.c.name == name
        )
    ).first()
    return None if row is None else str(row.arn)


def put_policy(conn: Connection, principal_arn: str, name: str, document: Any) -> None:
    """Store an inline identity policy; a malformed one is refused here, never at use."""
    _check_policy(document, "identity")
    _require_principal(conn, principal_arn)
    conn.execute(
        delete(t.iam_policies).where(
            t.iam_policies.c.principal_arn == principal_arn, t.iam_policies.c.name == name
        )
    )
    conn.execute(
        insert(t.iam_policies).values(principal_arn=principal_arn, name=name, document=document)
    )
    bump_generation(conn)


def create_access_key(
    conn: Connection,
    box: SecretBox,
    principal_arn: str,
    now: float,
    *,
    pair: AccessKeyPair | None = None,
) -> AccessKeyPair:
    """A new (or the given) access key for a user; the secret is stored encrypted."""
    _require_principal(conn, principal_arn)
    pair = pair or AccessKeyPair(new_access_key_id(), new_secret_access_key())
    if conn.execute(
        select(t.iam_access_keys.c.principal_arn).where(
            t.iam_access_keys.c.access_key_id == pair.access_key_id
        )
    ).first():
        raise Conflict(f"access key {pair.access_key_id} already exists")
    conn.execute(
        insert(t.iam_access_keys).values(
            access_key_id=pair.access_key_id,
            principal_arn=principal_arn,
            secret_enc=box.seal(
                pair.secret_access_key.encode(), f"access-key:{pair.access_key_id}"
            ),
            status="Active",
            created_at=now,
        )
    )
    bump_generation(conn)
    return pair


def access_key_owner(conn: Connection, access_key_id: str) -> str | None:
    row = conn.execute(
        select(t.iam_access_keys.c.principal_arn).where(
            t.iam_access_keys.c.access_key_id == access_key_id
        )
    ).first()
    return None if row is None else str(row.principal_arn)


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


def _require_principal(conn: Connection, arn: str) -> None:
    if (
        conn.execute(select(t.iam_principals.c.arn).where(t.iam_principals.c.arn == arn)).first()
        is None
    ):
        raise ResourceNotFound(f"no IAM principal {arn}")


def _check_policy(document: Any, kind: str) -> None:
    try:
        iam_policy.parse_policy(document, kind=kind)  # type: ignore[arg-type]
    except iam_policy.MalformedPolicy as exc:
        raise Validation(f"malformed policy document: {exc}") from None


@dataclass(frozen=True)
class Session:
    access_key_id: str
    token_hash: bytes
    secret_access_key: str
    role_arn: str
    session_name: str
    context: dict[str, Any] | None
    expires_at: float


def find_session(conn: Connection, box: SecretBox, access_key_id: str) -> Session | None:
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
