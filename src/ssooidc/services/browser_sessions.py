"""Signed-in browser sessions: a random 256-bit id in an HttpOnly cookie, only its SHA-256 in
the store; a new id on every sign-in (no fixation)."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass

from sqlalchemy import Connection

from ssooidc.store.records import hot


@dataclass(frozen=True)
class BrowserSession:
    session_id: str
    user_id: str
    auth_time: float
    expires_at: float


def _digest(session_id: str) -> bytes:
    return hashlib.sha256(session_id.encode()).digest()


def create(conn: Connection, user_id: str, now: float, lifetime: int) -> BrowserSession:
    """A new session (plain SQL: it runs in the store's group commit, ``run_write``)."""
    db = hot(conn)
    db.run(conn, "DELETE FROM browser_sessions WHERE expires_at <= ?", (now,))
    session_id = secrets.token_urlsafe(32)
    db.run(
        conn,
        "INSERT INTO browser_sessions (session_hash, user_id, auth_time, expires_at) "
        "VALUES (?, ?, ?, ?)",
        (_digest(session_id), user_id, now, now + lifetime),
    )
    return BrowserSession(session_id, user_id, now, now + lifetime)


def find(conn: Connection, session_id: str | None, now: float) -> BrowserSession | None:
    if not session_id or len(session_id) > 128:
        return None
    row = hot(conn).one(
        conn,
        "SELECT user_id, auth_time, expires_at FROM browser_sessions WHERE session_hash = ?",
        (_digest(session_id),),
    )
    if row is None or row[2] <= now:
        return None
    return BrowserSession(session_id, row[0], row[1], row[2])


def end(conn: Connection, session_id: str) -> None:
    hot(conn).run(
        conn, "DELETE FROM browser_sessions WHERE session_hash = ?", (_digest(session_id),)
    )


def csrf_token(key: bytes, binding: str) -> str:
    """The form token bound to a cookie value (the session id, or the pre-session cookie)."""
    return hmac.new(key, b"csrf:" + binding.encode(), hashlib.sha256).hexdigest()


def csrf_ok(key: bytes, binding: str | None, presented: str | None) -> bool:
    if not binding or not presented:
        return False
    return hmac.compare_digest(csrf_token(key, binding), presented)
