"""Step works (``store.steps``): the writes in flight run in lockstep, pipelined on PostgreSQL,
each answered alone; a refusal, a failed statement or a stale snapshot costs only its own."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ssooidc.store import records
from ssooidc.store.engine import Store
from ssooidc.store.steps import StaleSnapshot, Statement, Steps
from tests import stores

INSERT = "INSERT INTO assertion_replay (issuer, jti, expires_at) VALUES (?, ?, ?)"
COUNT = "SELECT count(*) FROM assertion_replay WHERE issuer = ?"


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    if request.param == "sqlite":
        yield from _migrated(f"sqlite:///{tmp_path / 's.db'}")
    else:
        yield from _postgres()


@pytest.fixture
def postgres_store() -> Iterator[Store]:
    yield from _postgres()


def _postgres() -> Iterator[Store]:
    url = stores.new_postgres_database()
    yield from _migrated(url)
    stores.drop_postgres_database(url)


def _migrated(url: str) -> Iterator[Store]:
    store = Store(url)
    store.migrate()
    yield store
    store.dispose()


def _marks(store: Store) -> list[str]:
    with store.read() as conn:
        rows = conn.exec_driver_sql("SELECT jti FROM assertion_replay WHERE issuer = 'i'").all()
    return sorted(r[0] for r in rows)


def _mark(jti: str, *, refuse_after: bool = False) -> Any:
    """A work that reads, then writes one marker; with ``refuse_after`` it refuses after its
    write touched a row (what the contract forbids: the engine must undo it)."""

    def work() -> Steps[str]:
        before = yield Statement(COUNT, ("i",))
        assert before.one() is not None
        written = yield Statement(INSERT, ("i", jti, 1e12))
        assert written.rowcount == 1
        if refuse_after:
            raise ValueError(f"refused {jti}")
        return jti

    return work


def _refuse_before_writing(jti: str) -> Any:
    def work() -> Steps[str]:
        yield Statement(COUNT, ("i",))
        raise LookupError(f"refused {jti}")

    return work


def _bad_statement() -> Steps[str]:
    yield Statement("INSERT INTO no_such_table (x) VALUES (?)", (1,))
    return "never"


async def _gather(store: Store, works: list[Any], **kwargs: Any) -> list[Any]:
    return await asyncio.gather(
        *(store.run_steps(w, **kwargs) for w in works), return_exceptions=True
    )


def test_writes_in_flight_each_get_their_own_answer(store: Store) -> None:
    works = [_mark(f"a{i}") for i in range(40)]
    answers = asyncio.run(_gather(store, works))
    assert answers == [f"a{i}" for i in range(40)]
    assert _marks(store) == sorted(f"a{i}" for i in range(40))


def test_a_refusal_before_writing_costs_nothing_else(store: Store) -> None:
    works = [_mark("ok1"), _refuse_before_writing("r1"), _mark("ok2")]
    answers = asyncio.run(_gather(store, works))
    assert answers[0] == "ok1" and answers[2] == "ok2"
    assert isinstance(answers[1], LookupError)
    assert _marks(store) == ["ok1", "ok2"]


def test_a_refusal_after_a_write_undoes_that_write_only(store: Store) -> None:
    works = [_mark("ok1"), _mark("dirty", refuse_after=True), _mark("ok2")]
    answers = asyncio.run(_gather(store, works))
    assert answers[0] == "ok1" and answers[2] == "ok2"
    assert isinstance(answers[1], ValueError)
    assert _marks(store) == ["ok1", "ok2"]


def test_a_failed_statement_fails_its_own_write_only(store: Store) -> None:
    works = [_mark("ok1"), _bad_statement, _mark("ok2")]
    answers = asyncio.run(_gather(store, works))
    assert answers[0] == "ok1" and answers[2] == "ok2"
    assert isinstance(answers[1], Exception) and "no_such_table" in str(answers[1])
    assert _marks(store) == ["ok1", "ok2"]


def test_a_stale_snapshot_writes_nothing(store: Store) -> None:
    with store.read() as conn:
        generation = records.generation(conn)

    async def scenario() -> list[Any]:
        fresh = await _gather(store, [_mark("fresh")], generation=generation)
        with store.write_sync() as conn:
            conn.exec_driver_sql("UPDATE state SET generation = generation + 1")
        stale = await _gather(store, [_mark("stale1"), _mark("stale2")], generation=generation)
        classic = await asyncio.gather(
            store.run_write(lambda c: "ran", generation=generation), return_exceptions=True
        )
        current = await _gather(store, [_mark("current")], generation=generation + 1)
        return [*fresh, *stale, *classic, *current]

    answers = asyncio.run(scenario())
    assert answers[0] == "fresh" and answers[4] == "current"
    assert all(isinstance(a, StaleSnapshot) for a in answers[1:4])
    assert _marks(store) == ["current", "fresh"]


def test_the_lockstep_batch_does_not_block_the_event_loop(postgres_store: Store) -> None:
    """A write waiting on a row another connection has locked leaves the loop free (SQLite's
    writers wait for the database lock by yielding: test_store)."""
    store = postgres_store
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        for _ in range(20):
            await asyncio.sleep(0.002)
            ticks += 1

    def bump() -> Steps[int]:
        done = yield Statement("UPDATE state SET generation = generation + 1 WHERE id = 1")
        return done.rowcount

    async def scenario() -> int:
        with store.write_sync() as held:
            held.exec_driver_sql("SELECT generation FROM state WHERE id = 1 FOR UPDATE")
            task = asyncio.create_task(store.run_steps(bump))
            await ticker()
            assert not task.done()
        return await asyncio.wait_for(task, 10)

    assert asyncio.run(scenario()) == 1
    assert ticks == 20


def test_a_lost_connection_is_replaced_before_the_next_batch(postgres_store: Store) -> None:
    store = postgres_store

    def backend_pid() -> Steps[int]:
        row = (yield Statement("SELECT pg_backend_pid()")).one()
        assert row is not None
        return int(row[0])

    async def scenario() -> list[Any]:
        pid = await store.run_steps(backend_pid)
        with store.write_sync() as conn:
            conn.exec_driver_sql(f"SELECT pg_terminate_backend({pid})")
        await asyncio.sleep(0.1)
        return await _gather(store, [_mark("after1"), _mark("after2"), backend_pid])

    answers = asyncio.run(scenario())
    assert answers[:2] == ["after1", "after2"]
    assert isinstance(answers[2], int)
    assert _marks(store) == ["after1", "after2"]


def test_statement_writes_is_conservative() -> None:
    assert not Statement(" select 1").writes
    assert Statement("WITH r AS (INSERT INTO t VALUES (1) RETURNING 1) SELECT 1").writes
    assert Statement("UPDATE t SET x = 1").writes
