"""The identity store's users: unique names, required attributes, revisions, the searchable
attribute index, finding a user by an attribute value, and the store's own settings."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Row
from sqlalchemy.exc import IntegrityError

from ssooidc.errors import Conflict
from ssooidc.services.identity_rules import (
    UNIQUENESS,
    check_revision,
    check_user_document,
    has_external_id,
    not_found,
)
from ssooidc.services.instance import bump_generation
from ssooidc.store import identity as rows
from ssooidc.store import records

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


@dataclass(frozen=True)
class UserRecord:
    """A user as the identitystore API describes it."""

    user_id: str
    identity_store_id: str
    user_name: str
    status: str
    document: Mapping[str, Any]
    created_at: float
    updated_at: float
    revision: int
    created_by: str | None
    updated_by: str | None


def attribute_values(user_id: str, document: Mapping[str, Any]) -> Iterable[tuple[str, str]]:
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


# -- users ----------------------------------------------------------------------------------


def _user_record(row: Row[Any]) -> UserRecord:
    return UserRecord(
        user_id=row.user_id,
        identity_store_id=row.identity_store_id,
        user_name=row.user_name,
        status=row.status,
        document=dict(row.document),
        created_at=row.created_at,
        updated_at=row.updated_at,
        revision=int(row.revision),
        created_by=row.created_by,
        updated_by=row.updated_by,
    )


def _unique_user_name(conn: Connection, store_id: str, name: str, user_id: str | None) -> None:
    existing = rows.user_id_named(conn, store_id, name)
    if existing is not None and existing != user_id:
        raise Conflict(f"a user named {name} already exists", reason=UNIQUENESS)


def _index(conn: Connection, user_id: str, doc: Mapping[str, Any]) -> None:
    rows.replace_attributes(conn, user_id, attribute_values(user_id, doc))


def create_user(
    conn: Connection,
    identity_store_id: str,
    document: Mapping[str, Any],
    now: float,
    *,
    actor: str | None = None,
) -> str:
    """Create a user from a CreateUser-shaped document and return its UserId."""
    doc = check_user_document(document)
    user_name = str(doc["UserName"])
    _unique_user_name(conn, identity_store_id, user_name, None)
    user_id = str(uuid.uuid4())
    try:
        rows.insert_user(
            conn,
            {
                "user_id": user_id,
                "identity_store_id": identity_store_id,
                "user_name": user_name,
                "status": document.get("UserStatus", "ENABLED"),
                "document": doc,
                "created_at": now,
                "updated_at": now,
                "revision": 1,
                "created_by": actor,
                "updated_by": actor,
            },
        )
    except IntegrityError:
        raise Conflict(f"a user named {user_name} already exists", reason=UNIQUENESS) from None
    _index(conn, user_id, doc)
    bump_generation(conn)
    return user_id


def replace_user(conn: Connection, user_id: str, document: Mapping[str, Any], now: float) -> None:
    """Replace a user's attributes (UserName included) and re-index them; a replacement that
    changes nothing leaves the user (and its revision) as it was."""
    row = rows.user(conn, user_id)
    if row is None:
        raise not_found("USER", user_id, f"User not found for UserId: {user_id}")
    current = _user_record(row)
    doc = check_user_document({k: v for k, v in document.items() if k != "UserId"})
    status = str(document.get("UserStatus", current.status))
    if doc == current.document and status == current.status:
        return
    _store_user(conn, current, doc, status, now, current.updated_by)


def update_user(
    conn: Connection,
    user_id: str,
    document: Mapping[str, Any],
    status: str,
    now: float,
    *,
    actor: str | None,
    expected_revision: str | None = None,
) -> UserRecord:
    """UpdateUser: the user's new document and status (the operations already applied)."""
    current = get_user_record(conn, user_id)
    check_revision(current.revision, expected_revision, f"user {user_id}")
    return _store_user(conn, current, check_user_document(document), status, now, actor)


def _store_user(
    conn: Connection,
    current: UserRecord,
    doc: dict[str, Any],
    status: str,
    now: float,
    actor: str | None,
) -> UserRecord:
    user_name = str(doc["UserName"])
    _unique_user_name(conn, current.identity_store_id, user_name, current.user_id)
    values = {
        "user_name": user_name,
        "status": status,
        "document": doc,
        "updated_at": now,
        "updated_by": actor,
        "revision": current.revision + 1,
    }
    try:
        rows.update_user(conn, current.user_id, values)
    except IntegrityError:
        raise Conflict(f"a user named {user_name} already exists", reason=UNIQUENESS) from None
    _index(conn, current.user_id, doc)
    bump_generation(conn)
    return get_user_record(conn, current.user_id)


def set_user_status(conn: Connection, user_id: str, status: str) -> None:
    rows.update_user(conn, user_id, {"status": status})
    bump_generation(conn)


def delete_user(conn: Connection, user_id: str, *, expected_revision: str | None = None) -> None:
    """Delete a user; its memberships and application assignments go with it [AWS: deleting
    a user removes their access to AWS accounts and applications]."""
    current = get_user_record(conn, user_id)
    check_revision(current.revision, expected_revision, f"user {user_id}")
    rows.delete_user(conn, user_id)
    bump_generation(conn)


def get_user_record(conn: Connection, user_id: str) -> UserRecord:
    row = rows.user(conn, user_id)
    if row is None:
        raise not_found("USER", user_id, f"User not found for UserId: {user_id}")
    return _user_record(row)


def list_users(
    conn: Connection, store_id: str, *, user_name: str | None = None
) -> list[UserRecord]:
    return [_user_record(r) for r in rows.all_users(conn, store_id, user_name=user_name)]


def user_ids_with(conn: Connection, store_id: str, path: str, value: str) -> list[str]:
    """Users (any status) whose searchable attribute at ``path`` equals ``value``."""
    if path in CASE_INSENSITIVE_PATHS:
        value = value.lower()
    return rows.user_ids_with_attribute(conn, store_id, path, value)


def user_ids_with_external_id(conn: Connection, store_id: str, issuer: str, id_: str) -> list[str]:
    return [
        u.user_id for u in list_users(conn, store_id) if has_external_id(u.document, issuer, id_)
    ]


def user_from_row(row: tuple[Any, ...]) -> IdentityUser:
    """A user from a row of ``records.USER_COLUMNS``."""
    user_id, user_name, status = row
    return IdentityUser(user_id, user_name, status)


def get_user(conn: Connection, user_id: str) -> IdentityUser | None:
    row = records.user(conn, user_id)
    return None if row is None else user_from_row(row)


def find_user_by_name(conn: Connection, identity_store_id: str, user_name: str) -> str | None:
    return rows.user_id_named(conn, identity_store_id, user_name)


def lookup_value(path: str, value: str) -> str:
    """``value`` as the attribute at ``path`` is stored (emails without case)."""
    return value.lower() if path in CASE_INSENSITIVE_PATHS else value


def find_users_by_attribute(
    conn: Connection, path: str, value: str, *, limit: int = 2
) -> list[IdentityUser]:
    """Enabled users whose attribute at ``path`` equals ``value`` (at most ``limit``)."""
    rows = records.enabled_users_with_attribute(conn, path, lookup_value(path, value), limit)
    return [user_from_row(r) for r in rows]


def group_ids_of(conn: Connection, user_id: str) -> set[str]:
    return records.group_ids_of(conn, user_id)


# -- the store's settings -------------------------------------------------------------------


def network_configuration(conn: Connection, store_id: str) -> dict[str, Any] | None:
    return rows.network_configuration(conn, store_id)


def set_network_configuration(
    conn: Connection, store_id: str, configuration: Mapping[str, Any] | None, now: float
) -> None:
    """UpdateIdentityStore: the new configuration replaces the old one entirely [AWS]."""
    rows.put_network_configuration(conn, store_id, configuration, now)
    bump_generation(conn)
