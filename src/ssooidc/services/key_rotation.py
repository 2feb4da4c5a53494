"""Scheduled rotation of the ID-token signing key, as a maintenance job of every process.

Every worker of every instance runs the check (``keys.rotate_if_due``): it reads the key
schedule and, when the newest key will have signed for ``--key-rotation-interval`` by the time
a new key could take over, makes that key, published at once and signing ``keys.PREPUBLISH``
seconds later. The check and the new key are one write transaction that writes the generation
row first, so however many processes find the rotation due at once, one key is made.
"""

from __future__ import annotations

import asyncio
import logging

from ssooidc.services import keys
from ssooidc.services.at_rest import SecretBox
from ssooidc.services.clock import Clock
from ssooidc.store.engine import Store

log = logging.getLogger("ssooidc.keys")

#: how often each process looks at the schedule (a read; a key is made only when due)
CHECK_INTERVAL = 600.0


class KeyRotationJob:
    def __init__(
        self, store: Store, box: SecretBox, clock: Clock, *, alg: str, interval: float
    ) -> None:
        self._store = store
        self._box = box
        self._clock = clock
        self._alg = alg
        self.interval = interval

    @property
    def check_interval(self) -> float:
        """0 (off) when rotation is off; else the check's period, never longer than a tenth
        of the rotation interval."""
        return 0.0 if self.interval <= 0 else min(CHECK_INTERVAL, self.interval / 10)

    def due(self) -> bool:
        with self._store.read() as conn:
            schedule = keys.key_schedule(conn, keys.ID_TOKEN)
        return keys.rotation_due(schedule, self._clock.now(), self.interval)

    def rotate_if_due(self) -> keys.SigningKey | None:
        if not self.due():
            return None
        with self._store.write_sync() as conn:
            key = keys.rotate_if_due(
                conn,
                self._box,
                purpose=keys.ID_TOKEN,
                alg=self._alg,
                now=self._clock.now(),
                interval=self.interval,
            )
        if key is not None:
            log.info("made ID-token signing key %s; it signs in %.0f s", key.kid, keys.PREPUBLISH)
        return key

    async def __call__(self) -> keys.SigningKey | None:
        # Off the event loop: the write may wait for SQLite's lock or PostgreSQL's row lock.
        return await asyncio.to_thread(self.rotate_if_due)
