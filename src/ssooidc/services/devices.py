"""Device authorizations (RFC 8628): started by a registered client, approved or denied by a
signed-in user on the device page, polled for by the client until it is decided."""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass

from sqlalchemy import Connection

from ssooidc.errors import SlowDown
from ssooidc.services import tokens
from ssooidc.store import public_records
from ssooidc.store.engine import Store

# Consonants only, without look-alikes (no vowels, so no words either; no I, O, U, Y).
USER_CODE_ALPHABET = "BCDFGHJKLMNPQRSTVWXZ"
USER_CODE_LENGTH = 8
LIFETIME = 600  # expiresIn [AWS]
INTERVAL = 1  # interval [AWS]
SLOW_DOWN_STEP = 5  # RFC 8628 §3.5
POLL_LEEWAY = 0.2  # network jitter between two polls one interval apart
KEEP_EXPIRED = 24 * 3600  # an expired authorization still answers ExpiredToken for a day

PENDING, APPROVED, DENIED, CONSUMED = "pending", "approved", "denied", "consumed"


@dataclass(frozen=True)
class StartedDevice:
    device_code: str
    user_code: str  # as shown: ABCD-EFGH
    expires_in: int
    interval: int


@dataclass(frozen=True)
class DeviceAuthorization:
    user_code: str
    client_id: str
    scopes: tuple[str, ...]
    status: str
    user_id: str | None
    interval: int
    last_polled_at: float | None
    created_at: float
    expires_at: float
    decided_at: float | None


@dataclass(frozen=True)
class PendingDevice:
    """What the device page shows before the user decides: which client asks, for what."""

    user_code: str
    client_id: str
    client_name: str
    scopes: tuple[str, ...]
    expires_at: float


def new_user_code() -> str:
    return "".join(secrets.choice(USER_CODE_ALPHABET) for _ in range(USER_CODE_LENGTH))


def display_user_code(code: str) -> str:
    half = USER_CODE_LENGTH // 2
    return f"{code[:half]}-{code[half:]}"


def normalize_user_code(text: str) -> str | None:
    """A user code as typed (any case, with or without the dash or spaces), or None."""
    code = "".join(text.split()).replace("-", "").upper()
    if len(code) != USER_CODE_LENGTH or any(c not in USER_CODE_ALPHABET for c in code):
        return None
    return code


# -- start ----------------------------------------------------------------------------------


async def start(store: Store, client_id: str, scopes: tuple[str, ...], now: float) -> StartedDevice:
    """A new pending authorization; its device code is stored only as a hash, its user code is
    unique among live authorizations."""
    device_code = tokens.new_secret("aod")
    digest = tokens.token_hash(device_code)

    def write(conn: Connection) -> str:
        public_records.purge_devices(conn, now - KEEP_EXPIRED)
        for _attempt in range(8):
            code = new_user_code()
            public_records.free_user_code(conn, code, now)
            values = (digest, code, client_id, " ".join(scopes), PENDING, INTERVAL, now)
            if public_records.insert_device(conn, (*values, now + LIFETIME)):
                return code
        raise SlowDown("no user code is free at the moment; try again")

    code = await store.run_write(write)
    return StartedDevice(device_code, display_user_code(code), LIFETIME, INTERVAL)


# -- polling --------------------------------------------------------------------------------


def find(conn: Connection, device_code: str) -> DeviceAuthorization | None:
    row = public_records.device(conn, tokens.token_hash(device_code))
    if row is None:
        return None
    return DeviceAuthorization(
        user_code=row[0],
        client_id=row[1],
        scopes=tuple(row[2].split()),
        status=row[3],
        user_id=row[4],
        interval=int(row[5]),
        last_polled_at=row[6],
        created_at=row[7],
        expires_at=row[8],
        decided_at=row[9],
    )


def pace(last_polled_at: float | None, interval: int, now: float) -> tuple[bool, float, int]:
    """(too quick?, the poll time to record, the interval from now on).

    A poll sooner than the interval after the last one is told to slow down, and the
    interval grows by 5 s (RFC 8628 §3.5). The first poll is recorded one interval early, so
    that a second poll right after it passes: the AWS CLI polls twice without a pause."""
    if last_polled_at is None:
        return False, now - interval, interval
    if now - last_polled_at < interval - POLL_LEEWAY:
        return True, now, interval + SLOW_DOWN_STEP
    return False, now, interval


def record_poll(
    conn: Connection, device_code: str, device: DeviceAuthorization, now: float
) -> bool:
    """Count a poll of a pending authorization; True when it came too quickly."""
    too_quick, polled_at, interval = pace(device.last_polled_at, device.interval, now)
    public_records.record_poll(conn, tokens.token_hash(device_code), polled_at, interval)
    return too_quick


def consume(conn: Connection, device_code: str, family_id: str) -> bool:
    """approved -> consumed, once: False when another poll got there first."""
    return public_records.consume_device(conn, tokens.token_hash(device_code), family_id)


# -- the user's decision (the device page) ------------------------------------------------


def pending(conn: Connection, user_code: str, now: float) -> PendingDevice | None:
    code = normalize_user_code(user_code)
    row = public_records.pending_device(conn, code, now) if code else None
    if code is None or row is None:
        return None
    return PendingDevice(display_user_code(code), row[0], row[1], tuple(row[2].split()), row[3])


async def approve_device(
    store: Store, user_code: str, user_id: str, *, now: float | None = None
) -> bool:
    """The signed-in user approves the live pending authorization with ``user_code``; False
    when there is none (unknown, expired or already decided)."""
    return await _decide(store, user_code, APPROVED, user_id, now)


async def deny_device(
    store: Store, user_code: str, user_id: str, *, now: float | None = None
) -> bool:
    """The signed-in user denies it: the client's next poll gets AccessDeniedException."""
    return await _decide(store, user_code, DENIED, user_id, now)


async def _decide(
    store: Store, user_code: str, status: str, user_id: str, now: float | None
) -> bool:
    code = normalize_user_code(user_code)
    if code is None:
        return False
    when = time.time() if now is None else now
    return await store.run_write(
        lambda conn: public_records.decide_device(conn, code, status, user_id, when)
    )
