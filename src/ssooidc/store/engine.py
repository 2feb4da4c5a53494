"""Engine, sessions and migrations for the two stores: SQLite (embedded) and PostgreSQL."""

from __future__ import annotations

import asyncio
import contextlib
import random
import sqlite3
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.exc import OperationalError
from sqlalchemy.pool import ConnectionPoolEntry

MIGRATIONS = Path(__file__).parent / "migrations"
SYNCHRONOUS_LEVELS = ("OFF", "NORMAL", "FULL", "EXTRA")


class Store:
    """One database: a pooled engine, read transactions, and write transactions that never
    block the event loop on SQLite's write lock (they yield and retry instead)."""

    def __init__(self, url: str, *, sqlite_synchronous: str = "NORMAL", pool_size: int = 5) -> None:
        if sqlite_synchronous.upper() not in SYNCHRONOUS_LEVELS:
            raise ValueError(f"sqlite synchronous level must be one of {SYNCHRONOUS_LEVELS}")
        self.url = url
        self.is_sqlite = url.startswith("sqlite")
        if url.startswith("postgresql://"):
            url = "postgresql+psycopg://" + url[len("postgresql://") :]
        kwargs: dict[str, Any] = {}
        if not self.is_sqlite:
            kwargs.update(pool_size=pool_size, max_overflow=pool_size, pool_pre_ping=True)
        self.engine: Engine = create_engine(url, **kwargs)
        if self.is_sqlite:
            self._prepare_sqlite(sqlite_synchronous.upper())

    def _prepare_sqlite(self, synchronous: str) -> None:
        @event.listens_for(self.engine, "connect")
        def _on_connect(dbapi_connection: Any, _record: ConnectionPoolEntry) -> None:
            # Transactions are begun by hand below, so that writes can take the lock at once.
            dbapi_connection.isolation_level = None
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute(f"PRAGMA synchronous={synchronous}")
            cursor.execute("PRAGMA foreign_keys=ON")
            # No busy handler: a waiting writer would sleep inside the event loop.
            cursor.execute("PRAGMA busy_timeout=0")
            cursor.close()

        @event.listens_for(self.engine, "begin")
        def _on_begin(conn: Connection) -> None:
            mode = conn.get_execution_options().get("sqlite_begin", "DEFERRED")
            conn.exec_driver_sql(f"BEGIN {mode}")

    # -- transactions ---------------------------------------------------------------------

    @contextlib.contextmanager
    def read(self) -> Iterator[Connection]:
        """A read transaction: a consistent snapshot (WAL readers never wait for the writer)."""
        with self.engine.connect() as conn, conn.begin():
            yield conn

    @contextlib.contextmanager
    def connect(self) -> Iterator[Connection]:
        """A connection without an explicit transaction, for single-statement reads on the
        token path (``records``); toolkit statements on it still begin one implicitly."""
        with self.engine.connect() as conn:
            yield conn

    @contextlib.contextmanager
    def write_sync(self) -> Iterator[Connection]:
        """A write transaction for start-up and command-line work (may block)."""
        for attempt in range(400):
            try:
                conn = self._begin_write()
            except OperationalError as exc:
                if not (self.is_sqlite and _is_locked(exc)) or attempt == 399:
                    raise
                _sleep_sync(attempt)
                continue
            with _finish(conn) as c:
                yield c
            return

    @contextlib.asynccontextmanager
    async def write(self) -> AsyncIterator[Connection]:
        """A write transaction for the token path; on SQLite it holds the write lock from the
        start (BEGIN IMMEDIATE).

        A writer that finds the lock taken yields to the event loop and tries again, so the
        process keeps serving its other connections meanwhile. The transaction is driven on
        the driver connection itself: only ``records`` statements belong inside it."""
        conn = self.engine.connect()
        try:
            raw = conn.connection.dbapi_connection
            assert raw is not None
            if self.is_sqlite:
                attempt = 0
                while True:
                    try:
                        raw.execute("BEGIN IMMEDIATE")
                        break
                    except sqlite3.OperationalError as exc:
                        if not _locked_text(str(exc)) or attempt >= 5000:
                            raise
                    await asyncio.sleep(_backoff(attempt))
                    attempt += 1
            try:
                yield conn
            except BaseException:
                raw.rollback()
                raise
            raw.commit()
        finally:
            conn.close()

    def _begin_write(self) -> Connection:
        conn = self.engine.connect()
        if self.is_sqlite:
            conn = conn.execution_options(sqlite_begin="IMMEDIATE")
        try:
            conn.begin()
        except BaseException:
            conn.close()
            raise
        return conn

    # -- schema ---------------------------------------------------------------------------

    def migrate(self) -> None:
        """Bring the schema to the newest migration (idempotent)."""
        from alembic import command

        with self.engine.connect() as conn:
            config = alembic_config(conn)
            command.upgrade(config, "head")
            conn.commit()

    def dispose(self) -> None:
        self.engine.dispose()


def alembic_config(connection: Connection | None = None) -> Any:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    if connection is not None:
        config.attributes["connection"] = connection
    return config


@contextlib.contextmanager
def _finish(conn: Connection) -> Iterator[Connection]:
    try:
        yield conn
    except BaseException:
        with contextlib.suppress(Exception):
            conn.rollback()
        conn.close()
        raise
    try:
        conn.commit()
    finally:
        conn.close()


def _is_locked(exc: OperationalError) -> bool:
    text = str(exc.orig) if exc.orig is not None else str(exc)
    return "locked" in text or "busy" in text


def _locked_text(text: str) -> bool:
    return "locked" in text or "busy" in text


def _backoff(attempt: int) -> float:
    """A short, jittered wait for the write lock: from 0.1 ms growing to at most 5 ms."""
    jitter = 0.5 + random.random()  # noqa: S311 - scheduling jitter, not a secret
    return min(0.0002 * (attempt + 1), 0.005) * jitter


def _sleep_sync(attempt: int) -> None:
    import time

    time.sleep(min(0.001 * (attempt + 1), 0.02))
