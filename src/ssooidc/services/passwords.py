"""Passwords of identity-store users (argon2id) and the throttle on failed sign-ins.

The throttle counts failures per user name (whether or not such a user exists, so that a lock
says nothing about existence) and per client address, in this process: each worker counts for
itself, so with N workers an attacker gets at most N times the allowance before every worker
locks. A restart forgets the counts."""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlalchemy import Connection, select, update

from ssooidc.services.clock import Clock
from ssooidc.store import tables as t

HASHER = PasswordHasher()  # argon2id with argon2-cffi's RFC 9106 low-memory profile
MAX_PASSWORD = 1024
MAX_TRACKED = 10_000


@functools.cache
def _dummy_hash() -> str:
    """Verified when the user does not exist or has no password, so both take as long as a
    miss. Made on first use: hashing costs a quarter second, which a start need not pay."""
    return HASHER.hash("ssooidc: no such user")


def hash_password(password: str) -> str:
    if not password:
        raise ValueError("the password is empty")
    if len(password) > MAX_PASSWORD:
        raise ValueError(f"the password is longer than {MAX_PASSWORD} characters")
    return HASHER.hash(password)


def check_hash(value: str) -> str:
    """An argon2 hash as ``ssooidc export`` writes it (PasswordHash in a tenant file)."""
    if not value.startswith("$argon2"):
        raise ValueError("is not an argon2 hash")
    try:
        HASHER.check_needs_rehash(value)
    except (InvalidHashError, ValueError):
        raise ValueError("is not a valid argon2 hash") from None
    return value


class PasswordError(ValueError):
    def __init__(self, member: str, reason: str) -> None:
        super().__init__(f"{member}: {reason}")
        self.member = member
        self.reason = reason


def from_document(user: Mapping[str, Any]) -> str | None:
    """A tenant user's ``Password`` (plain text, for development tenants; hashed here) or
    ``PasswordHash`` (an argon2 hash, as ``ssooidc export`` writes it); None for neither."""
    if "Password" in user and "PasswordHash" in user:
        raise PasswordError("Password", "give Password or PasswordHash, not both")
    for member, convert in (("Password", hash_password), ("PasswordHash", check_hash)):
        if member not in user:
            continue
        value = user[member]
        if not isinstance(value, str):
            raise PasswordError(member, "must be a string")
        try:
            return convert(value)
        except ValueError as exc:
            raise PasswordError(member, str(exc)) from None
    return None


def verify(stored: str | None, password: str) -> bool:
    """True when ``password`` matches ``stored``; a missing hash costs the same and fails."""
    if len(password) > MAX_PASSWORD:
        password = password[:MAX_PASSWORD]
    try:
        return HASHER.verify(stored or _dummy_hash(), password) and stored is not None
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def password_hash_of(conn: Connection, user_id: str) -> str | None:
    row = conn.execute(
        select(t.identity_users.c.password_hash).where(t.identity_users.c.user_id == user_id)
    ).first()
    return None if row is None else row.password_hash


def set_password_hash(conn: Connection, user_id: str, value: str | None) -> None:
    conn.execute(
        update(t.identity_users)
        .where(t.identity_users.c.user_id == user_id)
        .values(password_hash=value)
    )


@dataclass
class _Failures:
    count: int
    first_at: float
    locked_until: float


class SignInThrottle:
    """Failed sign-ins per user name and per address: after ``max_per_user`` (or
    ``max_per_address``) failures within ``lockout`` seconds, that key is locked for
    ``lockout`` seconds; a successful sign-in clears the user's count."""

    def __init__(
        self, clock: Clock, *, max_per_user: int, max_per_address: int, lockout: int
    ) -> None:
        self.clock = clock
        self.max_per_user = max_per_user
        self.max_per_address = max_per_address
        self.lockout = lockout
        self._entries: dict[str, _Failures] = {}

    @staticmethod
    def _keys(user_name: str, address: str | None) -> tuple[str, str]:
        return "u:" + user_name.strip().casefold(), "a:" + (address or "-")

    def locked(self, user_name: str, address: str | None) -> bool:
        now = self.clock.now()
        return any(
            (entry := self._entries.get(key)) is not None and entry.locked_until > now
            for key in self._keys(user_name, address)
        )

    def failed(self, user_name: str, address: str | None) -> None:
        now = self.clock.now()
        user_key, address_key = self._keys(user_name, address)
        for key, limit in ((user_key, self.max_per_user), (address_key, self.max_per_address)):
            entry = self._entries.pop(key, None)
            if entry is None or now - entry.first_at > self.lockout:
                entry = _Failures(0, now, 0.0)
            entry.count += 1
            if limit > 0 and entry.count >= limit:
                entry.locked_until = now + self.lockout
                entry.count = 0
                entry.first_at = now
            self._entries[key] = entry
        while len(self._entries) > MAX_TRACKED:
            del self._entries[next(iter(self._entries))]

    def succeeded(self, user_name: str) -> None:
        self._entries.pop(self._keys(user_name, None)[0], None)
