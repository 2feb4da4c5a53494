"""Local IAM: users and roles, their inline policies and access keys (sessions: role_sessions)."""

from __future__ import annotations

import json
import secrets
import string
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, delete, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from ssooidc.errors import (
    ConcurrentModification,
    DeleteConflict,
    EntityAlreadyExists,
    InvalidInput,
    LimitExceeded,
    MalformedPolicyDocument,
    NoSuchEntity,
)
from ssooidc.services import iam_policy
from ssooidc.services.at_rest import SecretBox
from ssooidc.services.instance import bump_generation
from ssooidc.store import tables as t

ADMIN_USER = "admin"
_KEY_ALPHABET = string.ascii_uppercase + "234567"
#: AWS quotas: access keys per user, and the aggregate size of an entity's inline policies
#: (characters other than white space).
MAX_ACCESS_KEYS = 2
INLINE_POLICY_QUOTA = {"user": 2048, "role": 10240}
DEFAULT_MAX_SESSION_DURATION = 3600
RESERVED_PATH_PREFIX = "/aws-reserved/"


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
    max_session_duration: int | None = None,
    reserved: bool = False,
) -> str:
    """Create an IAM user or role and return its ARN (names are unique ignoring case, as in IAM).

    Paths under ``/aws-reserved/`` are AWS's own (Identity Center's roles): only ``reserved``
    callers (provisioning a permission set) may create there."""
    if path.startswith(RESERVED_PATH_PREFIX) and not reserved:
        raise InvalidInput(f"The path {path} is reserved for AWS services.")
    arn = user_arn(account_id, name, path) if kind == "user" else role_arn(account_id, name, path)
    if kind == "role" and assume_role_policy is not None:
        assume_role_policy = _checked_policy(assume_role_policy, "resource")
    exists = EntityAlreadyExists(f"{kind.capitalize()} with name {name} already exists.")
    if find_principal(conn, kind, name) is not None:
        raise exists
    try:
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
                max_session_duration=max_session_duration,
                created_at=now,
            )
        )
    except IntegrityError:  # a concurrent create of the same name won
        raise exists from None
    bump_generation(conn)
    return arn


def find_principal(conn: Connection, kind: str, name: str) -> str | None:
    """The ARN of the user or role named ``name`` (ignoring case), if there is one."""
    row = conn.execute(
        select(t.iam_principals.c.arn).where(
            t.iam_principals.c.kind == kind,
            func.lower(t.iam_principals.c.name) == name.lower(),
        )
    ).first()
    return None if row is None else str(row.arn)


@dataclass(frozen=True)
class PrincipalRecord:
    """An IAM user or role as the control plane reads and shows it."""

    arn: str
    kind: str
    name: str
    principal_id: str
    path: str
    account_id: str
    assume_role_policy: Any
    tags: dict[str, str]
    max_session_duration: int | None
    created_at: float


def get_principal(conn: Connection, kind: str, name: str) -> PrincipalRecord:
    """The user or role named ``name`` (ignoring case); NoSuchEntity as IAM words it."""
    row = conn.execute(
        select(t.iam_principals).where(
            t.iam_principals.c.kind == kind,
            func.lower(t.iam_principals.c.name) == name.lower(),
        )
    ).first()
    if row is None:
        raise NoSuchEntity(f"The {kind} with name {name} cannot be found.")
    return _record(row)


def list_principals(conn: Connection, kind: str, path_prefix: str = "/") -> list[PrincipalRecord]:
    """Every user or role under ``path_prefix``, by name ignoring case."""
    rows = conn.execute(select(t.iam_principals).where(t.iam_principals.c.kind == kind))
    found = [_record(row) for row in rows if str(row.path).startswith(path_prefix)]
    return sorted(found, key=lambda p: (p.name.lower(), p.name))


def _record(row: Any) -> PrincipalRecord:
    return PrincipalRecord(
        arn=row.arn,
        kind=row.kind,
        name=row.name,
        principal_id=row.principal_id,
        path=row.path,
        account_id=row.account_id,
        assume_role_policy=row.assume_role_policy,
        tags=dict(row.tags or {}),
        max_session_duration=row.max_session_duration,
        created_at=row.created_at,
    )


def delete_principal(conn: Connection, principal: PrincipalRecord) -> None:
    """Delete a user or role that has no access keys and no inline policies left (IAM's
    DeleteConflict otherwise); a role's sessions end with it."""
    if list_access_keys(conn, principal.arn):
        raise DeleteConflict("Cannot delete entity, must delete access keys first.")
    if list_policy_names(conn, principal.arn):
        raise DeleteConflict("Cannot delete entity, must delete policies first.")
    conn.execute(delete(t.iam_sessions).where(t.iam_sessions.c.role_arn == principal.arn))
    conn.execute(delete(t.iam_principals).where(t.iam_principals.c.arn == principal.arn))
    bump_generation(conn)


def put_policy(conn: Connection, principal_arn: str, name: str, document: Any) -> None:
    """Store an inline identity policy; a malformed one is refused here, never at use."""
    document = _checked_policy(document, "identity")
    kind, entity = _require_principal(conn, principal_arn)
    quota = INLINE_POLICY_QUOTA[kind]
    others = conn.execute(
        select(t.iam_policies.c.document).where(
            t.iam_policies.c.principal_arn == principal_arn, t.iam_policies.c.name != name
        )
    )
    size = _policy_size(document) + sum(_policy_size(row.document) for row in others)
    if size > quota:
        raise LimitExceeded(f"Maximum policy size of {quota} bytes exceeded for {kind} {entity}")
    conn.execute(
        delete(t.iam_policies).where(
            t.iam_policies.c.principal_arn == principal_arn, t.iam_policies.c.name == name
        )
    )
    try:
        conn.execute(
            insert(t.iam_policies).values(principal_arn=principal_arn, name=name, document=document)
        )
    except IntegrityError:  # a concurrent put of the same policy won
        raise ConcurrentModification(
            "The request was rejected because multiple requests to change this object "
            "were submitted simultaneously."
        ) from None
    bump_generation(conn)


def get_policy(conn: Connection, principal: PrincipalRecord, name: str) -> Any:
    """An inline policy document of a user or role."""
    row = conn.execute(
        select(t.iam_policies.c.document).where(
            t.iam_policies.c.principal_arn == principal.arn, t.iam_policies.c.name == name
        )
    ).first()
    if row is None:
        raise NoSuchEntity(f"The {principal.kind} policy with name {name} cannot be found.")
    return row.document


def list_policy_names(conn: Connection, principal_arn: str) -> list[str]:
    """The names of a user's or role's inline policies, in order."""
    rows = conn.execute(
        select(t.iam_policies.c.name).where(t.iam_policies.c.principal_arn == principal_arn)
    )
    return sorted(str(row.name) for row in rows)


def delete_policy(conn: Connection, principal: PrincipalRecord, name: str) -> None:
    """Remove an inline policy."""
    result = conn.execute(
        delete(t.iam_policies).where(
            t.iam_policies.c.principal_arn == principal.arn, t.iam_policies.c.name == name
        )
    )
    if result.rowcount == 0:
        raise NoSuchEntity(f"The {principal.kind} policy with name {name} cannot be found.")
    bump_generation(conn)


def policy_text(document: Any) -> str:
    """A stored policy as the JSON text IAM returns (before its URL encoding)."""
    return document if isinstance(document, str) else json.dumps(document)


def _policy_size(document: Any) -> int:
    return sum(1 for c in policy_text(document) if not c.isspace())


def create_access_key(
    conn: Connection,
    box: SecretBox,
    principal_arn: str,
    now: float,
    *,
    pair: AccessKeyPair | None = None,
    limit: int | None = None,
) -> AccessKeyPair:
    """A new (or the given) access key for a user; the secret is stored encrypted. With
    ``limit``, a user who already has that many keys gets LimitExceeded (IAM's quota)."""
    _require_principal(conn, principal_arn)
    if limit is not None and len(list_access_keys(conn, principal_arn)) >= limit:
        raise LimitExceeded(f"Cannot exceed quota for AccessKeysPerUser: {limit}")
    pair = pair or AccessKeyPair(new_access_key_id(), new_secret_access_key())
    if conn.execute(
        select(t.iam_access_keys.c.principal_arn).where(
            t.iam_access_keys.c.access_key_id == pair.access_key_id
        )
    ).first():
        raise EntityAlreadyExists(f"Access key {pair.access_key_id} already exists.")
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


@dataclass(frozen=True)
class AccessKeyRecord:
    """An access key's metadata (never its secret)."""

    access_key_id: str
    status: str
    created_at: float


def list_access_keys(conn: Connection, principal_arn: str) -> list[AccessKeyRecord]:
    """A user's access keys, oldest first."""
    rows = conn.execute(
        select(
            t.iam_access_keys.c.access_key_id,
            t.iam_access_keys.c.status,
            t.iam_access_keys.c.created_at,
        )
        .where(t.iam_access_keys.c.principal_arn == principal_arn)
        .order_by(t.iam_access_keys.c.created_at, t.iam_access_keys.c.access_key_id)
    )
    return [AccessKeyRecord(row.access_key_id, row.status, row.created_at) for row in rows]


def set_access_key_status(
    conn: Connection, principal_arn: str, access_key_id: str, status: str
) -> None:
    """Activate or deactivate a user's key: an inactive key fails SigV4 from the next request."""
    result = conn.execute(
        update(t.iam_access_keys)
        .where(
            t.iam_access_keys.c.principal_arn == principal_arn,
            t.iam_access_keys.c.access_key_id == access_key_id,
        )
        .values(status=status)
    )
    if result.rowcount == 0:
        raise NoSuchEntity(f"The Access Key with id {access_key_id} cannot be found.")
    bump_generation(conn)


def delete_access_key(conn: Connection, principal_arn: str, access_key_id: str) -> None:
    """Delete a user's key."""
    result = conn.execute(
        delete(t.iam_access_keys).where(
            t.iam_access_keys.c.principal_arn == principal_arn,
            t.iam_access_keys.c.access_key_id == access_key_id,
        )
    )
    if result.rowcount == 0:
        raise NoSuchEntity(f"The Access Key with id {access_key_id} cannot be found.")
    bump_generation(conn)


def access_key_owner(conn: Connection, access_key_id: str) -> str | None:
    row = conn.execute(
        select(t.iam_access_keys.c.principal_arn).where(
            t.iam_access_keys.c.access_key_id == access_key_id
        )
    ).first()
    return None if row is None else str(row.principal_arn)


def _require_principal(conn: Connection, arn: str) -> tuple[str, str]:
    """The kind and name of the principal ``arn``; NoSuchEntity if there is none."""
    row = conn.execute(
        select(t.iam_principals.c.kind, t.iam_principals.c.name).where(
            t.iam_principals.c.arn == arn
        )
    ).first()
    if row is None:
        raise NoSuchEntity(f"The principal {arn} cannot be found.")
    return str(row.kind), str(row.name)


def _checked_policy(document: Any, kind: iam_policy.PolicyKind) -> Any:
    """The document as it is stored (JSON text parsed), refused as IAM does if malformed."""
    try:
        iam_policy.parse_policy(document, kind=kind)
    except iam_policy.MalformedPolicy as exc:
        raise MalformedPolicyDocument(f"Syntax errors in policy: {exc}") from None
    return json.loads(document) if isinstance(document, str) else document
