"""What the metrics see of the store: how long token-path writes wait for their commit, and
on PostgreSQL the connection pool. Observed from outside the store's code."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, TypeVar

from sqlalchemy import Connection, event

from ssooidc.observability import metrics
from ssooidc.store.engine import Store
from ssooidc.store.steps import StepWork

T = TypeVar("T")


class ObservedStore(Store):
    """A Store whose ``run_write`` and ``run_steps`` are timed: the wait for the group commit, the statements
    and the commit (on SQLite also the wait for the database's write lock)."""

    def __init__(self, url: str, **kwargs: Any) -> None:
        super().__init__(url, **kwargs)
        self._kind = "sqlite" if self.is_sqlite else "postgresql"

    async def run_write(
        self,
        work: Callable[[Connection], T],
        *,
        atomic: bool = False,
        generation: int | None = None,
    ) -> T:
        started = time.perf_counter()
        try:
            return await super().run_write(work, atomic=atomic, generation=generation)
        finally:
            metrics.store_write(self._kind, time.perf_counter() - started)

    async def run_steps(self, work: StepWork[T], *, generation: int | None = None) -> T:
        if self.is_sqlite:  # runs through run_write, timed there
            return await super().run_steps(work, generation=generation)
        started = time.perf_counter()
        try:
            return await super().run_steps(work, generation=generation)
        finally:
            metrics.store_write(self._kind, time.perf_counter() - started)


def watch_pool(store: Store) -> None:
    """Publish the PostgreSQL pool's size, and how many of its connections are in use, each
    time one is taken or given back (the pool's own count, so it never drifts)."""
    pool: Any = store.engine.pool
    if not callable(getattr(pool, "checkedout", None)):
        return
    metrics.pool_size(int(pool.size()))

    @event.listens_for(store.engine, "checkout")
    def _checked_out(*_args: Any) -> None:
        metrics.pool_checked_out(pool.checkedout())

    @event.listens_for(store.engine, "checkin")
    def _checked_in(*_args: Any) -> None:
        # Called before the connection is back in the pool.
        metrics.pool_checked_out(max(0, pool.checkedout() - 1))
