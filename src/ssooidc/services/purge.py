"""The purge of expired rows: what grows with use and is needed only for a while.

Each row goes once nothing can need it any more:

- access tokens, at their expiry: an expired access token is refused whether or not its row
  is there (token exchange and the portal answer the same errors);
- refresh tokens, a day after their family ends (every refresh token ends with its family):
  a rotated one must stay while the family lives, so that presenting it again revokes the
  family, and an expired family answers ExpiredTokenException for a day;
- token families, a day after they end, as their refresh tokens;
- authorization codes, at their expiry when unused; a used one stays while the family its
  first redemption started is kept, so that a second redemption still revokes that family;
- assertion ``jti`` markers, at their expiry (the assertion's ``exp`` and the leeway: after
  that the assertion is refused as expired anyway);
- device authorizations, role sessions and public-client registrations a day after they
  expire (until then they answer that they expired); browser sessions at their expiry;
- ClientToken records after the 24 hours they are honoured.

Every sweep walks the table in the order of its indexed expiry column, ``batch`` rows at a
time: the next boundary is read without a lock, then the rows up to it are deleted in one
short write transaction, so neither SQLite's write lock nor PostgreSQL's row locks are held
for long. Between batches the purge rests about as long as the batch took, leaving the write
lock to requests. Several workers or instances may purge at once: a delete is idempotent.

``SKEW`` is added to every retention, for instances whose clocks differ a little.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from sqlalchemy import Column, ColumnElement, Table, delete, exists, or_, select, true

from ssooidc.observability import metrics
from ssooidc.services import client_tokens, devices
from ssooidc.services.clock import Clock
from ssooidc.store import tables as t
from ssooidc.store.engine import Store

log = logging.getLogger("ssooidc.purge")

BATCH = 500
SKEW = 300.0
#: Expired credentials answer "expired" for a day (device codes, role sessions, refresh
#: tokens of an ended family) before they are forgotten.
KEEP_EXPIRED = 24 * 3600.0
DEFAULT_INTERVAL = 300


@dataclass(frozen=True)
class Sweep:
    """One table's purge: rows whose ``column`` is older than ``keep`` seconds, and that
    ``also`` (when given) allows, go."""

    table: Table
    column: Column[float]
    keep: float
    also: Callable[[float], ColumnElement[bool]] | None = None

    @property
    def name(self) -> str:
        return self.table.name


def _refresh_tokens_past_their_family(now: float) -> ColumnElement[bool]:
    tok = t.tokens.c
    return or_(tok.kind == "access", tok.expires_at < now - KEEP_EXPIRED - SKEW)


def _codes_nothing_depends_on(_now: float) -> ColumnElement[bool]:
    code = t.authorization_codes.c
    family = t.token_families.c
    return or_(
        code.consumed_at.is_(None),
        code.family_id.is_(None),
        ~exists(select(family.family_id).where(family.family_id == code.family_id)),
    )


SWEEPS: tuple[Sweep, ...] = (
    Sweep(t.tokens, t.tokens.c.expires_at, SKEW, _refresh_tokens_past_their_family),
    Sweep(t.token_families, t.token_families.c.expires_at, KEEP_EXPIRED + SKEW),
    Sweep(
        t.authorization_codes,
        t.authorization_codes.c.expires_at,
        SKEW,
        _codes_nothing_depends_on,
    ),
    Sweep(t.assertion_replay, t.assertion_replay.c.expires_at, SKEW),
    Sweep(
        t.device_authorizations, t.device_authorizations.c.expires_at, devices.KEEP_EXPIRED + SKEW
    ),
    Sweep(t.oidc_clients, t.oidc_clients.c.secret_expires_at, KEEP_EXPIRED + SKEW),
    Sweep(t.browser_sessions, t.browser_sessions.c.expires_at, SKEW),
    Sweep(t.iam_sessions, t.iam_sessions.c.expires_at, KEEP_EXPIRED + SKEW),
    Sweep(t.client_tokens, t.client_tokens.c.created_at, client_tokens.TOKEN_LIFETIME + SKEW),
)


@dataclass
class PurgeReport:
    """Rows removed, by table."""

    removed: dict[str, int] = field(default_factory=dict)

    @property
    def total(self) -> int:
        return sum(self.removed.values())

    def summary(self) -> str:
        parts = [f"{name} {count}" for name, count in self.removed.items() if count]
        return ", ".join(parts) if parts else "nothing"


def purge_expired(
    store: Store,
    now: float,
    *,
    batch: int = BATCH,
    stop: threading.Event | None = None,
    rest: Callable[[float], None] = time.sleep,
    sweeps: tuple[Sweep, ...] = SWEEPS,
) -> PurgeReport:
    """Remove what has expired as of ``now``, ``batch`` rows per transaction (blocking: run it
    on a thread). ``stop`` ends it between two batches."""
    report = PurgeReport()
    for sweep in sweeps:
        if stop is not None and stop.is_set():
            break
        removed = _sweep(store, sweep, now, batch, stop, rest)
        report.removed[sweep.name] = removed
        metrics.rows_purged(sweep.name, removed)
    return report


def _sweep(
    store: Store,
    sweep: Sweep,
    now: float,
    batch: int,
    stop: threading.Event | None,
    rest: Callable[[float], None],
) -> int:
    column = sweep.column
    end = now - sweep.keep
    extra = sweep.also(now) if sweep.also is not None else true()
    removed = 0
    lower: float | None = None
    while stop is None or not stop.is_set():
        started = time.perf_counter()
        # The batch's upper bound: the ``batch``-th oldest time still to be looked at.
        bound = select(column).where(column < end)
        if lower is not None:
            bound = bound.where(column > lower)
        with store.read() as conn:
            upper = conn.execute(bound.order_by(column).offset(batch - 1).limit(1)).scalar()
            # Fewer than a batch left: none at all needs no write transaction (and, on
            # SQLite, no turn at the write lock).
            if upper is None and conn.execute(bound.limit(1)).first() is None:
                break
        window = [column <= upper] if upper is not None else [column < end]
        if lower is not None:
            window.append(column > lower)
        with store.write_sync() as conn:
            removed += conn.execute(delete(sweep.table).where(*window, extra)).rowcount or 0
        if upper is None:
            break
        lower = upper
        rest(max(0.001, time.perf_counter() - started))
    return removed


class PurgeJob:
    """The purge as a maintenance job: it runs on a thread, so the event loop goes on
    answering requests; cancelling it stops the thread after its current batch."""

    name = "purge"

    def __init__(self, store: Store, clock: Clock) -> None:
        self._store = store
        self._clock = clock
        self._stop = threading.Event()

    async def __call__(self) -> PurgeReport:
        work = asyncio.ensure_future(
            asyncio.to_thread(purge_expired, self._store, self._clock.now(), stop=self._stop)
        )
        try:
            report = await asyncio.shield(work)
        except asyncio.CancelledError:
            self._stop.set()
            with contextlib.suppress(Exception):
                await work
            raise
        if report.total:
            log.info("purged %d expired rows: %s", report.total, report.summary())
        return report
