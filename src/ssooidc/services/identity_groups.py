"""Identity store groups and their members: unique display names, revisions, and the
memberships that tie users to groups."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Row
from sqlalchemy.exc import IntegrityError

from ssooidc.errors import Conflict
from ssooidc.services.identity_rules import (
    UNIQUENESS,
    check_group_document,
    check_revision,
    has_external_id,
    not_found,
)
from ssooidc.services.identity_store import get_user_record
from ssooidc.services.instance import bump_generation
from ssooidc.store import identity as rows


@dataclass(frozen=True)
class GroupRecord:
    """A group as the identitystore API describes it."""

    group_id: str
    identity_store_id: str
    display_name: str
    document: Mapping[str, Any]
    created_at: float
    updated_at: float
    revision: int
    created_by: str | None
    updated_by: str | None


@dataclass(frozen=True)
class MembershipRecord:
    """A user's membership of a group."""

    membership_id: str
    group_id: str
    user_id: str
    created_at: float | None
    created_by: str | None


# -- groups ---------------------------------------------------------------------------------


def _group_record(row: Row[Any]) -> GroupRecord:
    return GroupRecord(
        group_id=row.group_id,
        identity_store_id=row.identity_store_id,
        display_name=row.display_name,
        document=dict(row.document),
        created_at=row.created_at,
        updated_at=row.updated_at if row.updated_at is not None else row.created_at,
        revision=int(row.revision),
        created_by=row.created_by,
        updated_by=row.updated_by,
    )


def _unique_group_name(conn: Connection, store_id: str, name: str, group_id: str | None) -> None:
    existing = rows.group_id_named(conn, store_id, name)
    if existing is not None and existing != group_id:
        raise Conflict(f"a group named {name} already exists", reason=UNIQUENESS)


def create_group(
    conn: Connection,
    identity_store_id: str,
    document: Mapping[str, Any],
    now: float,
    *,
    actor: str | None = None,
) -> str:
    doc = check_group_document(document)
    name = str(doc["DisplayName"])
    _unique_group_name(conn, identity_store_id, name, None)
    group_id = str(uuid.uuid4())
    try:
        rows.insert_group(
            conn,
            {
                "group_id": group_id,
                "identity_store_id": identity_store_id,
                "display_name": name,
                "document": doc,
                "created_at": now,
                "updated_at": now,
                "revision": 1,
                "created_by": actor,
                "updated_by": actor,
            },
        )
    except IntegrityError:
        raise Conflict(f"a group named {name} already exists", reason=UNIQUENESS) from None
    bump_generation(conn)
    return group_id


def update_group(
    conn: Connection,
    group_id: str,
    document: Mapping[str, Any],
    now: float,
    *,
    actor: str | None,
    expected_revision: str | None = None,
) -> GroupRecord:
    """UpdateGroup: the group's new document (the operations already applied)."""
    current = get_group_record(conn, group_id)
    check_revision(current.revision, expected_revision, f"group {group_id}")
    doc = check_group_document(document)
    name = str(doc["DisplayName"])
    _unique_group_name(conn, current.identity_store_id, name, group_id)
    values = {
        "display_name": name,
        "document": doc,
        "updated_at": now,
        "updated_by": actor,
        "revision": current.revision + 1,
    }
    try:
        rows.update_group(conn, group_id, values)
    except IntegrityError:
        raise Conflict(f"a group named {name} already exists", reason=UNIQUENESS) from None
    bump_generation(conn)
    return get_group_record(conn, group_id)


def delete_group(conn: Connection, group_id: str, *, expected_revision: str | None = None) -> None:
    """Delete a group with its memberships and application assignments."""
    current = get_group_record(conn, group_id)
    check_revision(current.revision, expected_revision, f"group {group_id}")
    rows.delete_group(conn, group_id)
    bump_generation(conn)


def get_group_record(conn: Connection, group_id: str) -> GroupRecord:
    row = rows.group(conn, group_id)
    if row is None:
        raise not_found("GROUP", group_id, f"Group not found for GroupId: {group_id}")
    return _group_record(row)


def list_groups(
    conn: Connection, store_id: str, *, display_name: str | None = None
) -> list[GroupRecord]:
    return [_group_record(r) for r in rows.all_groups(conn, store_id, display_name=display_name)]


def group_ids_with_external_id(conn: Connection, store_id: str, issuer: str, id_: str) -> list[str]:
    return [
        g.group_id for g in list_groups(conn, store_id) if has_external_id(g.document, issuer, id_)
    ]


def find_group_by_name(conn: Connection, identity_store_id: str, name: str) -> str | None:
    return rows.group_id_named(conn, identity_store_id, name)


# -- memberships ----------------------------------------------------------------------------


def _membership_record(row: Row[Any]) -> MembershipRecord:
    return MembershipRecord(
        membership_id=row.membership_id,
        group_id=row.group_id,
        user_id=row.user_id,
        created_at=row.created_at,
        created_by=row.created_by,
    )


def add_membership(
    conn: Connection, group_id: str, user_id: str, *, now: float | None = None
) -> str:
    """Make the user a member of the group (idempotent: the tenant file)."""
    existing = rows.membership_of(conn, group_id, user_id)
    if existing is not None:
        return str(existing.membership_id)
    membership_id = str(uuid.uuid4())
    rows.insert_membership(
        conn,
        {
            "membership_id": membership_id,
            "group_id": group_id,
            "user_id": user_id,
            "created_at": now,
        },
    )
    bump_generation(conn)
    return membership_id


def create_membership(
    conn: Connection, group_id: str, user_id: str, now: float, *, actor: str | None
) -> str:
    """CreateGroupMembership: the group and the user must exist and not be related yet."""
    get_group_record(conn, group_id)
    get_user_record(conn, user_id)
    if rows.membership_of(conn, group_id, user_id) is not None:
        raise Conflict(f"user {user_id} is already a member of group {group_id}", reason=UNIQUENESS)
    membership_id = str(uuid.uuid4())
    values = {
        "membership_id": membership_id,
        "group_id": group_id,
        "user_id": user_id,
        "created_at": now,
        "created_by": actor,
    }
    try:
        rows.insert_membership(conn, values)
    except IntegrityError:
        raise Conflict(
            f"user {user_id} is already a member of group {group_id}", reason=UNIQUENESS
        ) from None
    bump_generation(conn)
    return membership_id


def get_membership(conn: Connection, membership_id: str) -> MembershipRecord:
    row = rows.membership(conn, membership_id)
    if row is None:
        raise not_found(
            "GROUP_MEMBERSHIP",
            membership_id,
            f"GroupMembership not found for MembershipId: {membership_id}",
        )
    return _membership_record(row)


def membership_between(conn: Connection, group_id: str, user_id: str) -> MembershipRecord:
    get_group_record(conn, group_id)
    get_user_record(conn, user_id)
    row = rows.membership_of(conn, group_id, user_id)
    if row is None:
        raise not_found(
            "GROUP_MEMBERSHIP",
            group_id,
            f"GroupMembership not found for GroupId: {group_id} and UserId: {user_id}",
        )
    return _membership_record(row)


def memberships_of_group(conn: Connection, group_id: str) -> list[MembershipRecord]:
    get_group_record(conn, group_id)
    return [_membership_record(r) for r in rows.memberships_where(conn, group_id=group_id)]


def memberships_of_user(conn: Connection, user_id: str) -> list[MembershipRecord]:
    get_user_record(conn, user_id)
    return [_membership_record(r) for r in rows.memberships_where(conn, user_id=user_id)]


def delete_membership(conn: Connection, membership_id: str) -> None:
    get_membership(conn, membership_id)
    rows.delete_membership(conn, membership_id)
    bump_generation(conn)


def member_of(conn: Connection, user_id: str, group_ids: Sequence[str]) -> set[str]:
    """Which of ``group_ids`` the user is a member of (every group must exist)."""
    get_user_record(conn, user_id)
    for group_id in dict.fromkeys(group_ids):
        get_group_record(conn, group_id)
    return rows.group_ids_with_member(conn, user_id, group_ids)
