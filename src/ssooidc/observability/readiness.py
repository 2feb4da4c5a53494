"""``/readyz``: whether the store answers a real query now.

PostgreSQL is asked through the server's own pool, which checks each connection before use,
so a database that refuses connections or dropped them is seen at once. SQLite is asked on
a new connection opened read-write without creating anything: the server's long-lived
connections keep reading a database file even after it was deleted or replaced, which a
restart would not survive.

The query runs on a thread of its own with a deadline, so a store that hangs never stalls
the event loop; while an earlier probe still hangs, the answer is "not ready" at once."""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import quote

from sqlalchemy import Engine, create_engine
from sqlalchemy.exc import DBAPIError
from sqlalchemy.pool import NullPool

from ssooidc.store import records
from ssooidc.store.engine import Store

log = logging.getLogger("ssooidc.readiness")


class StoreReadiness:
    def __init__(self, store: Store, *, timeout: float = 2.0) -> None:
        self._store = store
        self._timeout = timeout
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="readiness")
        self._probe: asyncio.Future[None] | None = None
        self._sqlite = _sqlite_probe_engine(store) if store.is_sqlite else None

    def check(self) -> None:
        """Read the store's generation; raises when the store cannot answer."""
        if self._sqlite is not None:
            with self._sqlite.connect() as conn:
                records.generation(conn)
            return
        with self._store.read() as conn:
            records.generation(conn)

    async def ready(self) -> bool:
        if self._probe is not None and not self._probe.done():
            log.warning("readiness check failed: the previous check of the store still waits")
            return False
        probe = asyncio.get_running_loop().run_in_executor(self._executor, self.check)
        probe.add_done_callback(_retrieve)
        self._probe = probe
        try:
            await asyncio.wait_for(asyncio.shield(probe), self._timeout)
        except TimeoutError:
            log.warning("readiness check failed: the store did not answer in %s s", self._timeout)
            return False
        except Exception as exc:
            log.warning("readiness check failed: the store did not answer (%s)", _describe(exc))
            return False
        return True

    def close(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)
        if self._sqlite is not None:
            self._sqlite.dispose()


def _sqlite_probe_engine(store: Store) -> Engine | None:
    path = store.engine.url.database
    if not path or path == ":memory:":
        return None
    uri = f"file:{quote(path)}?mode=rw"
    return create_engine(
        "sqlite://",
        creator=lambda: sqlite3.connect(uri, uri=True, timeout=0, check_same_thread=False),
        poolclass=NullPool,
    )


def _retrieve(future: asyncio.Future[None]) -> None:
    """Mark a late probe's failure as seen (it was reported, or timed out, already)."""
    if not future.cancelled():
        future.exception()


def _describe(exc: BaseException) -> str:
    """The driver's message (never the statement's parameters)."""
    if isinstance(exc, DBAPIError) and exc.orig is not None:
        return f"{type(exc.orig).__name__}: {str(exc.orig).strip()[:300]}"
    return type(exc).__name__
