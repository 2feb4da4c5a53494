"""The identity store: users, groups, memberships, and finding a user by an attribute value."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, delete, insert, select, update

from ssooidc.errors import Conflict, ResourceNotFound, Validation
from ssooidc.services.instance import bump_generation
from ssooidc.store import records
from ssooidc.store import tables as t

#: The attribute paths a trusted issuer may map a claim to, and how each is compared:
#: emails case-insensitively [decide], everything else exactly.
CASE_INSENSITIVE_PATHS = frozenset({"emails.value"})
SEARCHABLE_PATHS = frozenset(
    {
        "userName",
        "displayName",
        "nickName",
        "profileUrl",
        "title",
        "userType",
        "preferredLanguage",
        "locale",
        "timezone",
        "name.givenName",
        "name.familyName",
        "name.formatted",
        "emails.value",
        "externalIds.id",
        "id",
    }
)


@dataclass(frozen=True)
class IdentityUser:
    """What the token path needs of a user."""

    user_id: str
    user_name: str
    status: str

    @property
    def enabled(self) -> bool:
        return self.status == "ENABLED"


def attribute_values(user_id: str, document: dict[str, Any]) -> Iterable[tuple[str, str]]:
    """Every searchable (path, value) of a user document, normalised for lookup."""
    yield "id", user_id
    for path in SEARCHABLE_PATHS:
        head, _, tail = path.partition(".")
        value = document.get(_member(head))
        items = value if isinstance(value, list) else [value]
        for item in items:
            if tail:
                item = item.get(_member(tail)) if isinstance(item, dict) else None
            if isinstance(item, str) and item:
                yield path, item.lower() if path in CASE_INSENSITIVE_PATHS else item


def _member(path_segment: str) -> str:
    """SCIM-style path segment (``emails``) to the API member name (``Emails``)."""
    special = {"id": "UserId", "externalIds": "ExternalIds"}
    return special.get(path_segment, path_segment[:1].upper() + path_segment[1:])


def create_user(
    conn: Connection, identity_store_id: str, document: dict[str, Any], now: float
) -> str:
    """Create a user from a CreateUser-shaped document and return its UserId."""
    user_name = document.get("UserName")
    if not isinstance(user_name, str) or not user_name:
        raise Validation("UserName is required")
    if conn.execute(
        select(t.identity_users.c.user_id).where(
            t.identity_users.c.identity_store_id == identity_store_id,
            t.identity_users.c.user_name == user_name,
        )
    ).first():
        raise Conflict(
            f"a user named {user_name} already exists", reason="UNIQUENESS_CONSTRAINT_VIOLATION"
        )
    user_id = str(uuid.uuid4())
    status = document.get("UserStatus", "ENABLED")
    doc = {k: v for k, v in document.items() if k not in ("IdentityStoreId", "UserStatus")}
    conn.execute(
        insert(t.identity_users).values(
            user_id=user_id,
            identity_store_id=identity_store_id,
            user_name=user_name,
            status=status,
            document=doc,
            created_at=now,
            updated_at=now,
        )
    )
    _index(conn, user_id, doc)
    bump_generation(conn)
    return user_id


def replace_user(conn: Connection, user_id: str, document: dict[str, Any], now: float) -> None:
    """Replace a user's attributes (UserName included) and re-index them."""
    doc = {
        k: v for k, v in document.items() if k not in ("IdentityStoreId", "UserStatus", "UserId")
    }
    values: dict[str, Any] = {"document": doc, "updated_at": now, "user_name": doc["UserName"]}
    if "UserStatus" in document:
        values["status"] = document["UserStatus"]
    result = conn.execute(
        update(t.identity_users).where(t.identity_users.c.user_id == user_id).values(**values)
    )
    if result.rowcount == 0:
        raise ResourceNotFound(f"no user {user_id}")
    conn.execute(
        delete(t.identity_user_attributes).where(t.identity_user_attributes.c.user_id == user_id)
    )
    _index(conn, user_id, doc)
    bump_generation(conn)


def set_user_status(conn: Connection, user_id: str, status: str) -> None:
    conn.execute(
        update(t.identity_users).where(t.identity_users.c.user_id == user_id).values(status=status)
    )
    bump_generation(conn)


def _index(conn: Connection, user_id: str, doc: dict[str, Any]) -> None:
    rows = [{"user_id": user_id, "path": p, "value": v} for p, v in attribute_values(user_id, doc)]
    if rows:
        conn.execute(insert(t.identity_user_attributes), rows)


def _user(row: tuple[Any, ...]) -> IdentityUser:
    user_id, user_name, status = row
    return IdentityUser(user_id, user_name, status)


def get_user(conn: Connection, user_id: str) -> IdentityUser | None:
    row = records.user(conn, user_id)
    return None if row is None else _user(row)


def find_user_by_name(conn: Connection, identity_store_id: str, user_name: str) -> str | None:
    row = conn.execute(
        select(t.identity_users.c.user_id).where(
            t.identity_users.c.identity_store_id == identity_store_id,
            t.identity_users.c.user_name == user_name,
        )
    ).first()
    return None if row is None else str(row.user_id)


def find_users_by_attribute(
    conn: Connection, path: str, value: str, *, limit: int = 2
) -> list[IdentityUser]:
    """Enabled users whose attribute at ``path`` equals ``value`` (at most ``limit``)."""
    if path in CASE_INSENSITIVE_PATHS:
        value = value.lower()
    return [_user(r) for r in records.enabled_users_with_attribute(conn, path, value, limit)]


def create_group(
    conn: Connection, identity_store_id: str, document: dict[str, Any], now: float
) -> str:
    name = document.get("DisplayName")
    if not isinstance(name, str) or not name:
        raise Validation("DisplayName is required")
    if conn.execute(
        select(t.identity_groups.c.group_id).where(
            t.identity_groups.c.identity_store_id == identity_store_id,
            t.identity_groups.c.display_name == name,
        )
    ).first():
        raise Conflict(
            f"a group named {name} already exists", reason="UNIQUENESS_CONSTRAINT_VIOLATION"
        )
    group_id = str(uuid.uuid4())
    doc = {k: v for k, v in document.items() if k != "IdentityStoreId"}
    conn.execute(
        insert(t.identity_groups).values(
            group_id=group_id,
            identity_store_id=identity_store_id,
            display_name=name,
            document=doc,
            created_at=now,
        )
    )
    bump_generation(conn)
    return group_id


def find_group_by_name(conn: Connection, identity_store_id: str, name: str) -> str | None:
    row = conn.execute(
        select(t.identity_groups.c.group_id).where(
            t.identity_groups.c.identity_store_id == identity_store_id,
            t.identity_groups.c.display_name == name,
        )
    ).first()
    return None if row is None else str(row.group_id)


def add_membership(conn: Connection, group_id: str, user_id: str) -> str:
    existing = conn.execute(
        select(t.identity_memberships.c.membership_id).where(
            t.identity_memberships.c.group_id == group_id,
            t.identity_memberships.c.user_id == user_id,
        )
    ).first()
    if existing:
        return str(existing.membership_id)
    membership_id = str(uuid.uuid4())
    conn.execute(
        insert(t.identity_memberships).values(
            membership_id=membership_id, group_id=group_id, user_id=user_id
        )
    )
    bump_generation(conn)
    return membership_id


def group_ids_of(conn: Connection, user_id: str) -> set[str]:
    return records.group_ids_of(conn, user_id)
