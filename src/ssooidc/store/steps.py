"""Writes as steps: a token-path write yields its statements one at a time and is sent each
one's rows back, so that the writes of many requests can run in lockstep.

On SQLite a step work runs statement by statement inside the group commit (``drive``). On
PostgreSQL the group commit sends the current statement of every write in flight at once, in
one libpq pipeline, and reads all their results in one round trip (``PostgresPipeline``): a
batch of N jwt-bearer exchanges costs three round trips (begin and reads, writes, commit)
instead of 3N + 2, and each statement a few microseconds of Python instead of the cursor
layer's hundred. Parameters and results still go through psycopg's own adapters.

The contract of a step work (``StepWork``): a factory of fresh generators, so that a batch
can be run again from the start; statements before its last are reads; it may refuse (raise)
after a write only when that write touched no rows. A refusal after a write that touched rows
is detected: the batch is rolled back and every write in it run again on its own.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import Callable, Generator, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import psycopg
from psycopg import abc as pg_abc
from psycopg import pq
from psycopg.adapt import PyFormat, Transformer

T = TypeVar("T")

#: how long one round trip of a batch may take before the connection is given up
ROUND_TIMEOUT = 30.0
GENERATION_SQL = "SELECT generation FROM state WHERE id = 1"


@dataclass(frozen=True, slots=True)
class Statement:
    """One statement of a step work: portable SQL with ``?`` markers, and its parameters."""

    sql: str
    params: Sequence[Any] = ()

    @property
    def writes(self) -> bool:
        # Conservative: anything but a plain SELECT may have written (a data-modifying CTE
        # begins with WITH).
        return self.sql.lstrip()[:6].upper() != "SELECT"


@dataclass(frozen=True, slots=True)
class Result:
    rows: list[tuple[Any, ...]]
    rowcount: int

    def one(self) -> tuple[Any, ...] | None:
        return self.rows[0] if self.rows else None


Steps = Generator[Statement, Result, T]
StepWork = Callable[[], Steps[T]]


class StaleSnapshot(Exception):
    """The control plane's generation moved after the request read its configuration: the
    request must be answered again from the newest snapshot (nothing was written)."""


def drive(steps: Steps[T], execute: Callable[[Statement], Result]) -> T:
    """Run a step work to its end, executing each statement as it comes (SQLite, tests)."""
    try:
        statement = next(steps)
        while True:
            statement = steps.send(execute(statement))
    except StopIteration as stop:
        return stop.value  # type: ignore[no-any-return]


# -- PostgreSQL ---------------------------------------------------------------------------


_MARKER = re.compile(r"\?")


def numbered(sql: str) -> bytes:
    """``?`` markers as libpq's ``$1``, ``$2``, ... (the token path's SQL has no ``?`` in a
    literal)."""
    counter = iter(range(1, 10_000))
    return _MARKER.sub(lambda _m: f"${next(counter)}", sql).encode()


@dataclass(eq=False)
class StepItem:
    """A step work waiting in the group commit, with the generation its request read."""

    work: StepWork[Any]
    future: asyncio.Future[Any]
    generation: int | None
    steps: Steps[Any] | None = None
    statement: Statement | None = None
    #: a statement of this work touched rows with a write
    wrote: bool = False
    outcome: tuple[bool, Any] | None = None

    def start(self) -> None:
        self.steps, self.wrote, self.outcome = self.work(), False, None
        self.advance(None)

    def advance(self, result: Result | None) -> None:
        """Send ``result`` to the work: its next statement, or its outcome."""
        assert self.steps is not None
        if result is not None and self.statement is not None and self.statement.writes:
            self.wrote = self.wrote or result.rowcount > 0
        try:
            self.statement = next(self.steps) if result is None else self.steps.send(result)
        except StopIteration as stop:
            self.statement, self.outcome = None, (True, stop.value)
        except Exception as exc:
            self.statement, self.outcome = None, (False, exc)

    def stop(self, exc: Exception) -> None:
        """End the work with ``exc`` as its answer, without resuming it."""
        if self.steps is not None:
            self.steps.close()
        self.statement, self.outcome = None, (False, exc)

    @property
    def dirty(self) -> bool:
        """The work refused after a write that touched rows: its transaction must not commit."""
        return self.wrote and self.outcome is not None and not self.outcome[0]


class PipelineBroken(Exception):
    """The connection failed mid-batch; nothing of the batch was committed."""


class PostgresPipeline:
    """One PostgreSQL connection in libpq's pipeline mode, driven from the event loop
    without blocking it: statements are sent together, and the loop waits for the socket."""

    def __init__(self, conninfo: str) -> None:
        self._conninfo = conninfo
        self._conn: psycopg.Connection[Any] | None = None
        self._tx: pg_abc.Transformer | None = None
        self._prepared: dict[tuple[str, tuple[int, ...]], bytes] = {}
        self._sql: dict[str, bytes] = {}
        self._names = 0

    async def _connection(self) -> tuple[pq.abc.PGconn, pg_abc.Transformer]:
        if self._conn is None or self._conn.closed or self._conn.broken:
            conn: psycopg.Connection[Any] = await asyncio.to_thread(_connect, self._conninfo)
            conn.pgconn.nonblocking = 1
            conn.pgconn.enter_pipeline_mode()
            self._conn = conn
            self._tx = Transformer(conn)
            self._prepared.clear()
        assert self._tx is not None
        return self._conn.pgconn, self._tx

    def close(self) -> None:
        conn, self._conn = self._conn, None
        self._prepared.clear()
        if conn is not None:
            with contextlib.suppress(Exception):
                conn.close()

    async def round(self, statements: Sequence[Statement]) -> list[Result | Exception]:
        """Send ``statements`` in one pipeline and return each one's result, or the error it
        met (after a failed statement PostgreSQL skips the rest: theirs is that error too)."""
        pg, tx = await self._connection()
        try:
            return await asyncio.wait_for(self._round(pg, tx, statements), ROUND_TIMEOUT)
        except BaseException as exc:
            # The pipeline's state is unknown: never use this connection again.
            self.close()
            if isinstance(exc, psycopg.Error | OSError | TimeoutError):
                raise PipelineBroken(str(exc) or type(exc).__name__) from exc
            raise

    async def _round(
        self, pg: pq.abc.PGconn, tx: pg_abc.Transformer, statements: Sequence[Statement]
    ) -> list[Result | Exception]:
        expect: list[bytes | None] = []  # the statement name a prepare result belongs to
        for statement in statements:
            params = statement.params
            buffers: list[Any] | None = None
            types: tuple[int, ...] = ()
            formats: list[pq.Format] | None = None
            if params:
                buffers = list(tx.dump_sequence(params, [PyFormat.AUTO] * len(params)))
                types, formats = tuple(tx.types or ()), list(tx.formats or ())
            key = (statement.sql, types)
            name = self._prepared.get(key)
            if name is None:
                self._names += 1
                name = f"s{self._names}".encode()
                sql = self._sql.get(statement.sql)
                if sql is None:
                    sql = self._sql[statement.sql] = numbered(statement.sql)
                pg.send_prepare(name, sql, types or None)
                self._prepared[key] = name
                expect.append(name)
            pg.send_query_prepared(name, buffers, formats)
            expect.append(None)
        pg.pipeline_sync()
        while pg.flush() == 1:
            await _ready(pg.socket, writable=True)
            pg.consume_input()
        results: list[Result | Exception] = []
        failure: Exception | None = None
        for prepared in expect:
            res = await _next_result(pg)
            error: Exception | None = None
            if res.status == pq.ExecStatus.PIPELINE_ABORTED:
                error = failure or PipelineBroken("the pipeline was aborted")
            elif res.status not in (pq.ExecStatus.COMMAND_OK, pq.ExecStatus.TUPLES_OK):
                error = psycopg.errors.error_from_result(res, encoding="utf-8")
                failure = failure or error
            if prepared is not None:
                if error is not None:
                    # The name was never made: prepare it again next time.
                    self._forget(prepared)
                continue
            if error is not None:
                results.append(error)
                continue
            tx.set_pgresult(res)
            rows = tx.load_rows(0, res.ntuples, tuple) if res.ntuples else []
            results.append(Result(rows, int(res.command_tuples or 0)))
        sync = await _next_result(pg, terminated=False)
        if sync.status != pq.ExecStatus.PIPELINE_SYNC:
            raise PipelineBroken(f"unexpected result {sync.status!r} at the end of a pipeline")
        return results

    def _forget(self, name: bytes) -> None:
        for key, value in list(self._prepared.items()):
            if value == name:
                del self._prepared[key]


def _connect(conninfo: str) -> psycopg.Connection[Any]:
    return psycopg.connect(conninfo, autocommit=True)


async def _next_result(pg: pq.abc.PGconn, *, terminated: bool = True) -> pq.abc.PGresult:
    """The next result of the pipeline; with ``terminated``, also the end marker (None) that
    follows each query's results."""
    while True:
        while pg.is_busy():
            await _ready(pg.socket, writable=False)
            pg.consume_input()
        res = pg.get_result()
        if res is None:
            continue  # the end of the previous query's results
        if terminated:
            while pg.is_busy():
                await _ready(pg.socket, writable=False)
                pg.consume_input()
            end = pg.get_result()
            if end is not None:
                raise PipelineBroken("a statement returned more than one result")
        return res


async def _ready(fd: int, *, writable: bool) -> None:
    loop = asyncio.get_running_loop()
    future: asyncio.Future[None] = loop.create_future()

    def _wake() -> None:
        if not future.done():
            future.set_result(None)

    if writable:
        loop.add_writer(fd, _wake)
    else:
        loop.add_reader(fd, _wake)
    try:
        await future
    finally:
        if writable:
            loop.remove_writer(fd)
        else:
            loop.remove_reader(fd)


BEGIN = Statement("BEGIN")
COMMIT = Statement("COMMIT")
ROLLBACK = Statement("ROLLBACK")
GENERATION = Statement(GENERATION_SQL)


async def commit_batch(pipe: PostgresPipeline, items: Sequence[StepItem]) -> None:
    """Run ``items`` in one transaction, in lockstep, and answer each one. A batch that cannot
    commit as a whole (a statement failed, a deadlock with another instance, a work refused
    after writing) is rolled back and each work run again on its own."""
    if await _attempt(pipe, items):
        for item in items:
            _settle(item)
        return
    for item in items:
        try:
            await _attempt(pipe, [item])
        except Exception as exc:
            item.stop(exc)
        _settle(item)


async def _attempt(pipe: PostgresPipeline, items: Sequence[StepItem]) -> bool:
    """``_transaction``, tried again once on a new connection when the connection broke
    before anything was committed (a server restart leaves the idle connection dead)."""
    try:
        return await _transaction(pipe, items)
    except CommitUnknown:
        raise
    except PipelineBroken:
        return await _transaction(pipe, items)


def _settle(item: StepItem) -> None:
    assert item.outcome is not None
    ok, value = item.outcome
    if item.future.done():
        return
    if ok:
        item.future.set_result(value)
    else:
        item.future.set_exception(value)


class CommitUnknown(PipelineBroken):
    """The connection failed while the COMMIT was in flight: it may have been applied."""


async def _transaction(pipe: PostgresPipeline, items: Sequence[StepItem]) -> bool:
    """One try at ``items`` in one transaction; False when the batch must be split (only
    when it has several items: a lone item always gets its outcome)."""
    several = len(items) > 1
    check = any(item.generation is not None for item in items)
    for item in items:
        item.start()
    live = [item for item in items if item.outcome is None]
    prefix = [BEGIN, GENERATION] if check else [BEGIN]
    results = await pipe.round([*prefix, *_statements(live)])
    head, results = results[: len(prefix)], results[len(prefix) :]
    generation: Any = None
    for result in head:
        if isinstance(result, Exception):
            await _rollback(pipe, live)
            raise result
        generation = result.rows[0][0] if result.rows else None
    for item in live:
        if item.generation is not None and item.generation != generation:
            # Answered from an old snapshot: the request starts again from the newest one.
            item.wrote = item.wrote or bool(item.statement and item.statement.writes)
            item.stop(StaleSnapshot())
    while live:
        failed = next((r for r in results if isinstance(r, Exception)), None)
        if failed is not None:
            await _rollback(pipe, live)
            if several:
                return False
            live[0].stop(failed)
            return True
        following = []
        for item, result in zip(live, results, strict=True):
            if item.outcome is None and isinstance(result, Result):
                item.advance(result)
                if item.outcome is None:
                    following.append(item)
        live = following
        if live:
            results = await pipe.round(_statements(live))
    if several and any(item.dirty for item in items):
        await _rollback(pipe, [])
        return False
    if not several and not _succeeded(items[0]):
        await _rollback(pipe, [])
        return True
    try:
        (done,) = await pipe.round([COMMIT])
    except PipelineBroken as exc:
        raise CommitUnknown(str(exc)) from exc
    if isinstance(done, Exception):
        if several:
            return False
        items[0].stop(done)
    return True


def _statements(live: Sequence[StepItem]) -> list[Statement]:
    return [item.statement for item in live if item.statement is not None]


def _succeeded(item: StepItem) -> bool:
    return item.outcome is not None and item.outcome[0]


async def _rollback(pipe: PostgresPipeline, live: Sequence[StepItem]) -> None:
    for item in live:
        if item.outcome is None and item.steps is not None:
            item.steps.close()
    (done,) = await pipe.round([ROLLBACK])
    if isinstance(done, Exception):
        pipe.close()
        raise done
