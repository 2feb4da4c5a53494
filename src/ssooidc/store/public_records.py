"""The public-client path's statements: registrations (read) and device authorizations.
Plain SQL on the driver's cursor, like ``records``.

``interval`` is quoted everywhere: it is a type keyword in PostgreSQL."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection

from ssooidc.store.hot import Row
from ssooidc.store.records import hot

# -- registrations ------------------------------------------------------------------------


def client(conn: Connection, client_id: str) -> Row | None:
    """(client_id, secret_hash, client_name, scopes, redirect_uris, grant_types, issuer_url,
    entitled_application_arn, issued_at, secret_expires_at) of one registration."""
    return hot(conn).one(
        conn,
        "SELECT client_id, secret_hash, client_name, scopes, redirect_uris, grant_types, "
        "issuer_url, entitled_application_arn, issued_at, secret_expires_at "
        "FROM oidc_clients WHERE client_id = ?",
        (client_id,),
    )


# -- device authorizations ----------------------------------------------------------------


def purge_devices(conn: Connection, before: float) -> None:
    """Forget authorizations that expired before ``before``."""
    hot(conn).run(conn, "DELETE FROM device_authorizations WHERE expires_at < ?", (before,))


def free_user_code(conn: Connection, user_code: str, now: float) -> None:
    """Drop an expired authorization that still holds ``user_code`` (the column is unique)."""
    hot(conn).run(
        conn,
        "DELETE FROM device_authorizations WHERE user_code = ? AND expires_at <= ?",
        (user_code, now),
    )


def insert_device(conn: Connection, values: Sequence[Any]) -> bool:
    """(device_code_hash, user_code, client_id, scopes, status, interval, created_at,
    expires_at); False when a live authorization holds the user code already."""
    return (
        hot(conn).run(
            conn,
            'INSERT INTO device_authorizations (device_code_hash, user_code, client_id, scopes, status, "interval", '
            "created_at, expires_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?) "
            "ON CONFLICT (user_code) DO NOTHING",
            values,
        )
        == 1
    )


def device(conn: Connection, digest: bytes) -> Row | None:
    """(user_code, client_id, scopes, status, user_id, interval, last_polled_at, created_at,
    expires_at, decided_at, family_id) of the authorization with this device-code hash."""
    return hot(conn).one(
        conn,
        'SELECT user_code, client_id, scopes, status, user_id, "interval", last_polled_at, '
        "created_at, expires_at, decided_at, family_id "
        "FROM device_authorizations WHERE device_code_hash = ?",
        (digest,),
    )


def record_poll(conn: Connection, digest: bytes, polled_at: float, interval: int) -> None:
    hot(conn).run(
        conn,
        'UPDATE device_authorizations SET last_polled_at = ?, "interval" = ? '
        "WHERE device_code_hash = ?",
        (polled_at, interval, digest),
    )


def consume_device(conn: Connection, digest: bytes, family_id: str) -> bool:
    """approved -> consumed: a conditional update that only one poll can win."""
    return (
        hot(conn).run(
            conn,
            "UPDATE device_authorizations SET status = 'consumed', family_id = ? "
            "WHERE device_code_hash = ? AND status = 'approved'",
            (family_id, digest),
        )
        == 1
    )


def decide_device(conn: Connection, user_code: str, status: str, user_id: str, now: float) -> bool:
    """pending -> ``status`` for the live authorization with ``user_code``."""
    return (
        hot(conn).run(
            conn,
            "UPDATE device_authorizations SET status = ?, user_id = ?, decided_at = ? "
            "WHERE user_code = ? AND status = 'pending' AND expires_at > ?",
            (status, user_id, now, user_code, now),
        )
        == 1
    )


def pending_device(conn: Connection, user_code: str, now: float) -> Row | None:
    """(client_id, client_name, scopes, expires_at) of the live pending authorization with
    ``user_code``: what the device page shows before the user decides."""
    return hot(conn).one(
        conn,
        "SELECT d.client_id, c.client_name, d.scopes, d.expires_at "
        "FROM device_authorizations d JOIN oidc_clients c ON c.client_id = d.client_id "
        "WHERE d.user_code = ? AND d.status = 'pending' AND d.expires_at > ?",
        (user_code, now),
    )
