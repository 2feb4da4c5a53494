"""The ID-token key schedule: which key signs when, what the JWKS shows, scheduled rotation
made once however many processes run it, and revocation."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from ssooidc.services import keys
from ssooidc.services.at_rest import SecretBox
from ssooidc.services.clock import FrozenClock
from ssooidc.services.instance import read_generation
from ssooidc.services.key_rotation import KeyRotationJob
from ssooidc.store.engine import Store
from tests import stores

T0 = 1_800_000_000.0
HOUR = 3600.0


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    url = (
        f"sqlite:///{tmp_path / 's.db'}"
        if request.param == "sqlite"
        else stores.new_postgres_database()
    )
    s = Store(url)
    s.migrate()
    yield s
    s.dispose()
    stores.release(url)


@pytest.fixture
def box() -> SecretBox:
    return SecretBox(b"k" * 32)


def first_key(store: Store, box: SecretBox) -> keys.SigningKey:
    with store.write_sync() as conn:
        return keys.create_signing_key(conn, box, purpose=keys.ID_TOKEN, alg="ES256", now=T0)


def kids(store: Store, now: float) -> list[str]:
    with store.read() as conn:
        return [k["kid"] for k in keys.published_keys(conn, keys.ID_TOKEN, now)]


def signing(store: Store, box: SecretBox, now: float) -> str:
    with store.read() as conn:
        key = keys.current_signing_key(conn, box, keys.ID_TOKEN, now)
    assert key is not None
    return key.kid


def test_a_rotated_key_is_published_first_signs_later_and_the_old_stays_while_its_tokens_live(
    store: Store, box: SecretBox
) -> None:
    old = first_key(store, box)
    at = T0 + 10 * HOUR
    with store.write_sync() as conn:
        new = keys.rotate(conn, box, purpose=keys.ID_TOKEN, alg="ES256", now=at)
    # published at once, but the old key still signs until the JWKS cache time has passed
    assert kids(store, at) == [new.kid, old.kid]
    assert signing(store, box, at) == old.kid
    assert signing(store, box, at + keys.PREPUBLISH - 1) == old.kid
    switch = at + keys.PREPUBLISH
    assert signing(store, box, switch) == new.kid
    # the old key verifies the tokens it signed for as long as they live, then leaves
    assert kids(store, switch + keys.TOKEN_LIFETIME - 1) == [new.kid, old.kid]
    assert kids(store, switch + keys.TOKEN_LIFETIME) == [new.kid]


def test_a_rotation_at_once_signs_at_once(store: Store, box: SecretBox) -> None:
    old = first_key(store, box)
    with store.write_sync() as conn:
        before = read_generation(conn)
        new = keys.rotate(
            conn, box, purpose=keys.ID_TOKEN, alg="RS256", now=T0 + HOUR, prepublish=0
        )
        assert read_generation(conn) == before + 1  # every process reloads its snapshot
    assert signing(store, box, T0 + HOUR) == new.kid
    assert kids(store, T0 + HOUR) == [new.kid, old.kid]


def test_scheduled_rotation_is_made_once_when_due_and_only_then(
    store: Store, box: SecretBox
) -> None:
    first_key(store, box)
    interval = 24 * HOUR
    early = T0 + interval - keys.PREPUBLISH - 1
    with store.write_sync() as conn:
        assert (
            keys.rotate_if_due(
                conn, box, purpose=keys.ID_TOKEN, alg="ES256", now=early, interval=interval
            )
            is None
        )
    due = T0 + interval - keys.PREPUBLISH
    made = []
    for _ in range(3):  # three processes' maintenance runs, one after the other
        with store.write_sync() as conn:
            made.append(
                keys.rotate_if_due(
                    conn, box, purpose=keys.ID_TOKEN, alg="ES256", now=due, interval=interval
                )
            )
    assert made[0] is not None and made[1:] == [None, None]
    # the new key takes over exactly when the old one has signed for `interval`
    assert signing(store, box, T0 + interval) == made[0].kid
    with store.write_sync() as conn:
        assert (
            keys.rotate_if_due(conn, box, purpose=keys.ID_TOKEN, alg="ES256", now=due, interval=0)
            is None
        )


def test_a_revoked_key_stops_signing_and_leaves_the_jwks_at_once(
    store: Store, box: SecretBox
) -> None:
    old = first_key(store, box)
    with store.write_sync() as conn, pytest.raises(ValueError, match="last key"):
        keys.revoke(conn, old.kid, T0)
    with store.write_sync() as conn:
        new = keys.rotate(conn, box, purpose=keys.ID_TOKEN, alg="ES256", now=T0)
    with store.write_sync() as conn:
        assert keys.revoke(conn, old.kid, T0 + 1)
        assert not keys.revoke(conn, old.kid, T0 + 1)  # once
        assert not keys.revoke(conn, "no-such-key", T0 + 1)
    # the pending key signs at once: it is the only one left
    assert signing(store, box, T0 + 1) == new.kid
    assert kids(store, T0 + 1) == [new.kid]


def test_the_maintenance_job_rotates_on_schedule_from_many_processes_at_once(
    store: Store, box: SecretBox
) -> None:
    """Four jobs (four workers) run together whenever they look: one new key per interval."""
    first_key(store, box)
    clock = FrozenClock(T0)
    interval = 24 * HOUR
    jobs = [KeyRotationJob(store, box, clock, alg="ES256", interval=interval) for _ in range(4)]
    assert jobs[0].check_interval == 600.0

    async def gather() -> list[keys.SigningKey | None]:
        return await asyncio.gather(*(job() for job in jobs))

    def everyone() -> list[keys.SigningKey | None]:
        # A loop of its own on a thread of its own: another test of this worker may have
        # left an event loop running on the main thread.
        with ThreadPoolExecutor(1) as pool:
            return pool.submit(asyncio.run, gather()).result()

    assert everyone() == [None] * 4
    clock.advance(interval - keys.PREPUBLISH)
    made = [k for k in everyone() if k is not None]
    assert len(made) == 1
    clock.advance(keys.PREPUBLISH)
    assert signing(store, box, clock.now()) == made[0].kid
    assert everyone() == [None] * 4
    off = KeyRotationJob(store, box, clock, alg="ES256", interval=0)
    assert off.check_interval == 0 and off.rotate_if_due() is None
