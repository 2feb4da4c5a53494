"""The identity store's rows: users and their searchable attributes, groups, memberships and
the store's settings (SQLAlchemy Core)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from sqlalchemy import Connection, Row, delete, insert, select, update

from ssooidc.store import tables as t

users = t.identity_users
attributes = t.identity_user_attributes
groups = t.identity_groups
memberships = t.identity_memberships
settings = t.identity_store_settings
assignments = t.application_assignments
account_assignments = t.account_assignments


# -- users ----------------------------------------------------------------------------------


def user(conn: Connection, user_id: str) -> Row[Any] | None:
    return conn.execute(select(users).where(users.c.user_id == user_id)).first()


def all_users(conn: Connection, store_id: str, *, user_name: str | None = None) -> list[Row[Any]]:
    """Users of a store in a stable order (creation, then id)."""
    query = select(users).where(users.c.identity_store_id == store_id)
    if user_name is not None:
        query = query.where(users.c.user_name == user_name)
    return list(conn.execute(query.order_by(users.c.created_at, users.c.user_id)))


def user_id_named(conn: Connection, store_id: str, user_name: str) -> str | None:
    row = conn.execute(
        select(users.c.user_id).where(
            users.c.identity_store_id == store_id, users.c.user_name == user_name
        )
    ).first()
    return None if row is None else str(row.user_id)


def user_ids_with_attribute(conn: Connection, store_id: str, path: str, value: str) -> list[str]:
    """Users (any status) with an indexed attribute value, in a stable order."""
    rows = conn.execute(
        select(users.c.user_id)
        .where(
            users.c.identity_store_id == store_id,
            users.c.user_id.in_(
                select(attributes.c.user_id).where(
                    attributes.c.path == path, attributes.c.value == value
                )
            ),
        )
        .order_by(users.c.created_at, users.c.user_id)
    )
    return [str(r.user_id) for r in rows]


def insert_user(conn: Connection, values: Mapping[str, Any]) -> None:
    conn.execute(insert(users).values(**values))


def update_user(conn: Connection, user_id: str, values: Mapping[str, Any]) -> int:
    result = conn.execute(update(users).where(users.c.user_id == user_id).values(**values))
    return int(result.rowcount)


def replace_attributes(conn: Connection, user_id: str, rows: Iterable[tuple[str, str]]) -> None:
    """Make ``rows`` (path, value) the user's searchable attributes."""
    conn.execute(delete(attributes).where(attributes.c.user_id == user_id))
    values = [{"user_id": user_id, "path": p, "value": v} for p, v in rows]
    if values:
        conn.execute(insert(attributes), values)


def delete_user(conn: Connection, user_id: str) -> None:
    """A user with its attributes, memberships, application and account assignments."""
    conn.execute(delete(attributes).where(attributes.c.user_id == user_id))
    conn.execute(delete(memberships).where(memberships.c.user_id == user_id))
    for table in (assignments, account_assignments):
        conn.execute(
            delete(table).where(table.c.principal_type == "USER", table.c.principal_id == user_id)
        )
    conn.execute(delete(users).where(users.c.user_id == user_id))


# -- groups ---------------------------------------------------------------------------------


def group(conn: Connection, group_id: str) -> Row[Any] | None:
    return conn.execute(select(groups).where(groups.c.group_id == group_id)).first()


def all_groups(
    conn: Connection, store_id: str, *, display_name: str | None = None
) -> list[Row[Any]]:
    """Groups of a store in a stable order (creation, then id)."""
    query = select(groups).where(groups.c.identity_store_id == store_id)
    if display_name is not None:
        query = query.where(groups.c.display_name == display_name)
    return list(conn.execute(query.order_by(groups.c.created_at, groups.c.group_id)))


def group_id_named(conn: Connection, store_id: str, display_name: str) -> str | None:
    row = conn.execute(
        select(groups.c.group_id).where(
            groups.c.identity_store_id == store_id, groups.c.display_name == display_name
        )
    ).first()
    return None if row is None else str(row.group_id)


def insert_group(conn: Connection, values: Mapping[str, Any]) -> None:
    conn.execute(insert(groups).values(**values))


def update_group(conn: Connection, group_id: str, values: Mapping[str, Any]) -> int:
    result = conn.execute(update(groups).where(groups.c.group_id == group_id).values(**values))
    return int(result.rowcount)


def delete_group(conn: Connection, group_id: str) -> None:
    """A group with its memberships, application and account assignments."""
    conn.execute(delete(memberships).where(memberships.c.group_id == group_id))
    for table in (assignments, account_assignments):
        conn.execute(
            delete(table).where(table.c.principal_type == "GROUP", table.c.principal_id == group_id)
        )
    conn.execute(delete(groups).where(groups.c.group_id == group_id))


# -- memberships ----------------------------------------------------------------------------


def membership(conn: Connection, membership_id: str) -> Row[Any] | None:
    return conn.execute(
        select(memberships).where(memberships.c.membership_id == membership_id)
    ).first()


def membership_of(conn: Connection, group_id: str, user_id: str) -> Row[Any] | None:
    return conn.execute(
        select(memberships).where(
            memberships.c.group_id == group_id, memberships.c.user_id == user_id
        )
    ).first()


def memberships_where(
    conn: Connection, *, group_id: str | None = None, user_id: str | None = None
) -> list[Row[Any]]:
    """Memberships of a group or of a user, in a stable order (creation, then id)."""
    query = select(memberships)
    if group_id is not None:
        query = query.where(memberships.c.group_id == group_id)
    if user_id is not None:
        query = query.where(memberships.c.user_id == user_id)
    order = (memberships.c.created_at, memberships.c.membership_id)
    return list(conn.execute(query.order_by(*order)))


def group_ids_with_member(conn: Connection, user_id: str, group_ids: Sequence[str]) -> set[str]:
    rows = conn.execute(
        select(memberships.c.group_id).where(
            memberships.c.user_id == user_id, memberships.c.group_id.in_(list(group_ids))
        )
    )
    return {str(r.group_id) for r in rows}


def insert_membership(conn: Connection, values: Mapping[str, Any]) -> None:
    conn.execute(insert(memberships).values(**values))


def delete_membership(conn: Connection, membership_id: str) -> int:
    result = conn.execute(delete(memberships).where(memberships.c.membership_id == membership_id))
    return int(result.rowcount)


# -- settings -------------------------------------------------------------------------------


def network_configuration(conn: Connection, store_id: str) -> dict[str, Any] | None:
    row = conn.execute(
        select(settings.c.network_configuration).where(settings.c.identity_store_id == store_id)
    ).first()
    return (
        None
        if row is None or row.network_configuration is None
        else dict(row.network_configuration)
    )


def put_network_configuration(
    conn: Connection, store_id: str, configuration: Mapping[str, Any] | None, now: float
) -> None:
    value = None if configuration is None else dict(configuration)
    changed = conn.execute(
        update(settings)
        .where(settings.c.identity_store_id == store_id)
        .values(network_configuration=value, updated_at=now)
    ).rowcount
    if not changed:
        conn.execute(
            insert(settings).values(
                identity_store_id=store_id, network_configuration=value, updated_at=now
            )
        )
