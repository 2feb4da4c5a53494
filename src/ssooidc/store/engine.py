"""Engine, sessions and migrations for the two stores: SQLite (embedded) and PostgreSQL."""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
import random
import sqlite3
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar, cast

import psycopg
from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.pool import ConnectionPoolEntry

from ssooidc.store import records, steps
from ssooidc.store.steps import StaleSnapshot, StepItem, StepWork

T = TypeVar("T")
MIGRATIONS = Path(__file__).parent / "migrations"
SYNCHRONOUS_LEVELS = ("OFF", "NORMAL", "FULL", "EXTRA")
#: the PostgreSQL advisory lock held during start-up (any constant no other code uses)
STARTUP_LOCK_ID = 0x550_01DC


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
        self._reader: Connection | None = None
        self._writer: Connection | None = None
        self._pending: list[_Pending] = []
        self._drainer: asyncio.Task[None] | None = None
        self._drainer_loop: asyncio.AbstractEventLoop | None = None
        self._pipeline: steps.PostgresPipeline | None = None
        self._step_pending: list[StepItem] = []
        self._step_drainer: asyncio.Task[None] | None = None
        self._step_drainer_loop: asyncio.AbstractEventLoop | None = None
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
        token path (``records``). On SQLite it is one long-lived connection per process: the
        token path never awaits while holding it, so it is never used by two requests at once.
        On PostgreSQL too (in autocommit, so every statement sees the newest commit): a pool
        checkout with its liveness ping would cost a round trip per request."""
        if self._reader is None:
            conn = self.engine.connect()
            if not self.is_sqlite:
                conn = conn.execution_options(isolation_level="AUTOCOMMIT")
            self._reader = conn
        conn = self._reader
        try:
            yield conn
        except Exception as exc:
            if _connection_lost(conn, exc):
                # The server went away: the next request takes a new connection.
                self._reader = None
                with contextlib.suppress(Exception):
                    conn.invalidate()
                    conn.close()
            raise
        finally:
            # Toolkit statements (a catalog reload) begin a transaction implicitly; end it so
            # that the next read sees the newest commit.
            if conn.in_transaction():
                conn.rollback()

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
    async def transaction(self) -> AsyncIterator[Connection]:
        """A write transaction for the control plane (toolkit statements allowed). On SQLite it
        takes the write lock at once, waiting for it by yielding to the event loop."""
        attempt = 0
        while True:
            try:
                conn = self._begin_write()
                break
            except OperationalError as exc:
                if not (self.is_sqlite and _is_locked(exc)) or attempt >= 5000:
                    raise
            await asyncio.sleep(_backoff(attempt))
            attempt += 1
        with _finish(conn) as c:
            yield c

    async def run_write(
        self,
        work: Callable[[Connection], T],
        *,
        atomic: bool = False,
        generation: int | None = None,
    ) -> T:
        """Run ``work`` in a write transaction and return its result once it has committed.

        ``work`` is synchronous and uses only ``records`` statements. The writes of the
        requests in flight in this process are committed together (group commit): each runs
        in a savepoint of one transaction, so one's failure undoes only its own writes, and
        every caller is answered after the one commit that makes its writes durable.

        ``atomic``: ``work`` writes nothing when it raises (every refusal comes before its
        first write, and that write is one statement), so on PostgreSQL it needs no savepoint
        of its own: two round trips fewer.

        ``generation``: the control-plane generation of the snapshot the request was answered
        from. When the store's has moved, ``work`` is not run and ``StaleSnapshot`` raised."""
        loop = asyncio.get_running_loop()
        if atomic:
            work = _Atomic(work)
        future: asyncio.Future[Any] = loop.create_future()
        self._pending.append(_Pending(work, future, generation))
        if self._drainer is None or self._drainer.done() or self._drainer_loop is not loop:
            self._drainer_loop = loop
            self._drainer = loop.create_task(self._drain())
        return cast(T, await future)

    async def run_steps(self, work: StepWork[T], *, generation: int | None = None) -> T:
        """Run a step work (``steps``) in a write transaction and return its result once it
        has committed; ``generation`` as in ``run_write``. On PostgreSQL the step works in
        flight run in lockstep, their statements pipelined; on SQLite in the group commit."""
        if self.is_sqlite:
            return await self.run_write(
                lambda conn: records.run_steps(conn, work()), generation=generation
            )
        loop = asyncio.get_running_loop()
        item = StepItem(work, loop.create_future(), generation)
        self._step_pending.append(item)
        drainer = self._step_drainer
        if drainer is None or drainer.done() or self._step_drainer_loop is not loop:
            self._step_drainer_loop = loop
            self._step_drainer = loop.create_task(self._drain_steps())
        return cast(T, await item.future)

    async def _drain_steps(self) -> None:
        """Run batches of pending step works until none is left (PostgreSQL)."""
        while self._step_pending:
            batch, self._step_pending = self._step_pending, []
            try:
                await steps.commit_batch(self._postgres_pipeline(), batch)
            except BaseException as exc:
                for item in batch:
                    if not item.future.done():
                        item.future.set_exception(exc)
                if not isinstance(exc, Exception):
                    raise

    def _postgres_pipeline(self) -> steps.PostgresPipeline:
        if self._pipeline is None:
            url = self.engine.url.set(drivername="postgresql")
            self._pipeline = steps.PostgresPipeline(url.render_as_string(hide_password=False))
        return self._pipeline

    async def _drain(self) -> None:
        """Commit batches of pending writes until none is left (SQLite). Every caller gets an
        answer: a batch that cannot commit fails all of its callers."""
        while self._pending:
            batch, self._pending = self._pending, []
            works = [_checked(item) for item in batch]
            try:
                if self.is_sqlite:
                    outcomes = await self._commit_batch(works)
                else:
                    # The round trips and the commit's flush happen off the event loop,
                    # which meanwhile gathers the next batch.
                    outcomes = await asyncio.to_thread(self._commit_batch_postgres, works)
            except BaseException as exc:
                _fail(batch, exc)
                if not isinstance(exc, Exception):
                    raise
                continue
            for item, (ok, value) in zip(batch, outcomes, strict=True):
                future = item.future
                if future.done():
                    continue
                if ok:
                    future.set_result(value)
                else:
                    future.set_exception(value)

    async def _commit_batch(
        self, works: list[Callable[[Connection], Any]]
    ) -> list[tuple[bool, Any]]:
        """Run each write of ``works`` in a savepoint of one transaction and commit it."""
        conn = await self._begin_immediate()
        raw = conn.connection.dbapi_connection
        assert raw is not None
        outcomes: list[tuple[bool, Any]] = []
        try:
            _Generation.reset(works)
            for work in works:
                raw.execute("SAVEPOINT w")
                try:
                    outcomes.append((True, work(conn)))
                except Exception as exc:
                    outcomes.append((False, exc))
                    failed = True
                else:
                    failed = False
                if conn.in_transaction():
                    # A toolkit statement began a transaction of its own on the writer
                    # connection: the batch's state is unknown, so none of it may commit.
                    raise RuntimeError("run_write work must use records statements only")
                raw.execute("ROLLBACK TO w" if failed else "RELEASE w")
                if failed:
                    raw.execute("RELEASE w")
            raw.commit()
        except BaseException:
            with contextlib.suppress(Exception):
                raw.rollback()
            # Start the next batch on a fresh connection.
            with contextlib.suppress(Exception):
                conn.invalidate()
            self._writer = None
            raise
        return outcomes

    def _commit_batch_postgres(
        self, works: list[Callable[[Connection], Any]]
    ) -> list[tuple[bool, Any]]:
        """PostgreSQL's group commit, on a worker thread: one transaction for the batch, a
        savepoint per write when there are several. A batch that cannot commit (a deadlock
        with another instance's batch, a serialization failure) is run again one write per
        transaction, so each caller gets its own answer."""
        conn = self._postgres_writer()
        raw = conn.connection.dbapi_connection
        assert raw is not None
        several = len(works) > 1
        outcomes: list[tuple[bool, Any]] = []
        _Generation.reset(works)
        try:
            if several:
                _pg_command(raw, b"BEGIN")  # psycopg sees the open transaction and adds none
            for work in works:
                guarded = several and not _is_atomic(work)
                if guarded:
                    _pg_command(raw, b"SAVEPOINT w")
                try:
                    outcomes.append((True, work(conn)))
                    failed = False
                except Exception as exc:
                    outcomes.append((False, exc))
                    failed = True
                if conn.in_transaction():
                    raise RuntimeError("run_write work must use records statements only")
                if guarded:
                    _pg_command(
                        raw, b"ROLLBACK TO SAVEPOINT w" if failed else b"RELEASE SAVEPOINT w"
                    )
                elif failed and not several:
                    raw.rollback()
                    return outcomes
            if raw.info.transaction_status == psycopg.pq.TransactionStatus.INERROR:
                # A statement failed outside a savepoint: PostgreSQL would turn the COMMIT
                # into a ROLLBACK, and the writes reported done above would be lost.
                raise RuntimeError("a write of the batch failed its transaction")
            raw.commit()
            return outcomes
        except Exception as exc:
            with contextlib.suppress(Exception):
                raw.rollback()
            if several and _is_transient(exc):
                return [self._alone(work) for work in works]
            self._writer = None
            with contextlib.suppress(Exception):
                conn.invalidate()
                conn.close()
            raise

    def _alone(self, work: Callable[[Connection], Any]) -> tuple[bool, Any]:
        """``work`` in a transaction of its own; its failure is its caller's answer."""
        try:
            return self._commit_batch_postgres([work])[0]
        except Exception as exc:
            return (False, exc)

    def _postgres_writer(self) -> Connection:
        if self._writer is None:
            self._writer = self.engine.connect()
        return self._writer

    async def _begin_immediate(self) -> Connection:
        """The process's writer connection inside BEGIN IMMEDIATE: the database's write lock,
        waited for by yielding to the event loop, never by sleeping inside it."""
        if self._writer is None:
            self._writer = self.engine.connect()
            raw = self._writer.connection.dbapi_connection
            assert raw is not None
            # Checkpoints run in the background (Checkpointer), not inside a request.
            raw.execute("PRAGMA wal_autocheckpoint=0")
        raw = self._writer.connection.dbapi_connection
        assert raw is not None
        attempt = 0
        while True:
            try:
                raw.execute("BEGIN IMMEDIATE")
                return self._writer
            except sqlite3.OperationalError as exc:
                if not _locked_text(str(exc)) or attempt >= 5000:
                    raise
            await asyncio.sleep(_backoff(attempt))
            attempt += 1

    def checkpoint(self, mode: str = "PASSIVE") -> None:
        """Copy the SQLite WAL into the database file (no-op on PostgreSQL)."""
        if not self.is_sqlite or self.engine.url.database in (None, "", ":memory:"):
            return
        raw = sqlite3.connect(str(self.engine.url.database), timeout=0)
        try:
            raw.execute(f"PRAGMA wal_checkpoint({mode})")
        except sqlite3.OperationalError:
            pass  # another process is checkpointing; the next round catches up
        finally:
            raw.close()

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

    # -- start-up -------------------------------------------------------------------------

    @contextlib.contextmanager
    def startup_lock(self) -> Iterator[None]:
        """Held while a process migrates, bootstraps and applies its tenant file, so that
        several instances started at once on one store do that one after another: a
        PostgreSQL advisory lock, or on SQLite a file lock beside the database."""
        if self.is_sqlite:
            path = self.engine.url.database
            if not path or path == ":memory:":
                yield
                return
            fd = os.open(f"{path}.startup-lock", os.O_RDWR | os.O_CREAT, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX)
                yield
            finally:
                fcntl.flock(fd, fcntl.LOCK_UN)
                os.close(fd)
            return
        with self.engine.connect() as conn:
            conn.exec_driver_sql(f"SELECT pg_advisory_lock({STARTUP_LOCK_ID})")
            conn.commit()
            try:
                yield
            finally:
                conn.exec_driver_sql(f"SELECT pg_advisory_unlock({STARTUP_LOCK_ID})")
                conn.commit()

    # -- schema ---------------------------------------------------------------------------

    def migrate(self) -> None:
        """Bring the schema to the newest migration (idempotent)."""
        from alembic import command

        with self.engine.connect() as conn:
            config = alembic_config(conn)
            command.upgrade(config, "head")
            conn.commit()

    def dispose(self) -> None:
        for conn in (self._reader, self._writer):
            if conn is not None:
                conn.close()
        self._reader = self._writer = None
        if self._pipeline is not None:
            self._pipeline.close()
            self._pipeline = None
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


@dataclass(frozen=True, slots=True)
class _Pending:
    work: Callable[[Connection], Any]
    future: asyncio.Future[Any]
    generation: int | None


def _checked(item: _Pending) -> Callable[[Connection], Any]:
    return item.work if item.generation is None else _Generation(item.work, item.generation)


class _Generation:
    """A ``run_write`` work that runs only when the store's generation is still the one its
    request was answered from. The generation is read once per batch, by its first such work
    (``reset`` forgets the previous batch's reading)."""

    __slots__ = ("expected", "reading", "work")

    def __init__(self, work: Callable[[Connection], Any], expected: int) -> None:
        self.work = work
        self.expected = expected
        self.reading: list[int] = []

    @staticmethod
    def reset(works: list[Callable[[Connection], Any]]) -> None:
        shared: list[int] = []
        for work in works:
            if isinstance(work, _Generation):
                work.reading = shared

    def __call__(self, conn: Connection) -> Any:
        if not self.reading:
            self.reading.append(records.generation(conn))
        if self.reading[0] != self.expected:
            raise StaleSnapshot()
        return self.work(conn)


def _is_atomic(work: Callable[[Connection], Any]) -> bool:
    if isinstance(work, _Generation):
        work = work.work
    return isinstance(work, _Atomic)


class _Atomic:
    """A ``run_write`` work that writes nothing when it raises (see ``run_write``)."""

    __slots__ = ("work",)

    def __init__(self, work: Callable[[Connection], Any]) -> None:
        self.work = work

    def __call__(self, conn: Connection) -> Any:
        return self.work(conn)


def _pg_command(raw: Any, command: bytes) -> None:
    """A statement without parameters or rows, straight through libpq: a savepoint costs a
    round trip but almost none of the driver's Python work (it runs between every two writes
    of a batch)."""
    result = raw.pgconn.exec_(command)
    if result.status != psycopg.pq.ExecStatus.COMMAND_OK:
        message = result.error_message.decode(errors="replace").strip()
        raise RuntimeError(f"{command.decode()} failed: {message}")


def _connection_lost(conn: Connection, exc: BaseException) -> bool:
    if isinstance(exc, DBAPIError) and exc.connection_invalidated:
        return True
    try:
        raw = conn.connection.dbapi_connection
    except Exception:
        return True
    # psycopg marks a connection whose server went away as broken (sqlite3 has neither)
    return bool(getattr(raw, "closed", False) or getattr(raw, "broken", False))


def _is_transient(exc: BaseException) -> bool:
    """A PostgreSQL failure that running the same work again may not meet (SQLSTATE class 40:
    deadlock detected, serialization failure)."""
    orig = getattr(exc, "orig", exc)
    state = getattr(orig, "sqlstate", None) or getattr(
        getattr(orig, "diag", None), "sqlstate", None
    )
    return isinstance(state, str) and state.startswith("40")


def _is_locked(exc: OperationalError) -> bool:
    return _locked_text(str(exc.orig) if exc.orig is not None else str(exc))


def _fail(batch: list[_Pending], exc: BaseException) -> None:
    for item in batch:
        if not item.future.done():
            item.future.set_exception(exc)


class Checkpointer:
    """Copies the SQLite WAL into the database file every ``interval`` seconds on a thread of
    its own, so that no request pays for a checkpoint (and its fsyncs) inside the write lock."""

    def __init__(self, store: Store, interval: float = 1.0) -> None:
        self._store = store
        self._interval = interval
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if not self._store.is_sqlite or self._thread is not None:
            return
        self._thread = threading.Thread(target=self._run, name="sqlite-checkpoint", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            self._store.checkpoint()

    def stop(self) -> None:
        if self._thread is None:
            return
        self._stop.set()
        self._thread.join()
        self._thread = None
        self._store.checkpoint()


def _locked_text(text: str) -> bool:
    return "locked" in text or "busy" in text


def _backoff(attempt: int) -> float:
    """A short, jittered wait for the write lock: from 0.1 ms growing to at most 1 ms (the
    other process's batch holds it for about that long)."""
    jitter = 0.5 + random.random()  # noqa: S311 - scheduling jitter, not a secret
    return min(0.0001 * (attempt + 1), 0.001) * jitter


def _sleep_sync(attempt: int) -> None:
    import time

    time.sleep(min(0.001 * (attempt + 1), 0.02))
