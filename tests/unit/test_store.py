"""The store: migrations create exactly the tables, WAL mode, and the write lock never blocks."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Connection

from ssooidc.store.engine import Store
from ssooidc.store.records import hot
from ssooidc.store.tables import metadata
from tests import stores


@pytest.fixture(params=["sqlite", "postgresql"])
def empty_store_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty database on each store, whichever store the run is on."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 's.db'}"
        return
    url = stores.new_postgres_database()
    yield url
    stores.drop_postgres_database(url)


def test_migrations_create_exactly_the_declared_tables(empty_store_url: str) -> None:
    store = Store(empty_store_url)
    store.migrate()
    with store.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), metadata)
    store.dispose()
    assert diff == []


def test_migrate_is_idempotent_and_seeds_the_generation(empty_store_url: str) -> None:
    store = Store(empty_store_url)
    store.migrate()
    store.migrate()
    with store.read() as conn:
        rows = conn.exec_driver_sql("SELECT id, generation FROM state").all()
    store.dispose()
    assert [tuple(r) for r in rows] == [(1, 0)]


def test_sqlite_runs_in_wal_mode_with_the_chosen_synchronous_level(tmp_path: Path) -> None:
    store = Store(f"sqlite:///{tmp_path / 's.db'}", sqlite_synchronous="FULL")
    with store.read() as conn:
        mode = conn.exec_driver_sql("PRAGMA journal_mode").scalar()
        sync = conn.exec_driver_sql("PRAGMA synchronous").scalar()
    store.dispose()
    assert mode == "wal"
    assert sync == 2  # FULL


def test_a_waiting_writer_yields_to_the_event_loop(tmp_path: Path) -> None:
    """While another connection holds the write lock, a writer waits without blocking the
    loop: other tasks keep running, and the writer gets the lock once it is released."""
    path = tmp_path / "s.db"
    store = Store(f"sqlite:///{path}")
    store.migrate()
    other = Store(f"sqlite:///{path}")
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        for _ in range(20):
            await asyncio.sleep(0.001)
            ticks += 1

    async def scenario() -> int:
        with other.write_sync() as held:
            held.exec_driver_sql("UPDATE state SET generation = generation + 1")
            task = asyncio.create_task(store.run_write(_bump))
            await ticker()
            assert not task.done()
        return await task

    result = asyncio.run(scenario())
    store.dispose()
    other.dispose()
    assert ticks == 20
    assert result == 2


def _bump(conn: Connection) -> int:
    hot(conn).run(conn, "UPDATE state SET generation = generation + 1", ())
    row = hot(conn).one(conn, "SELECT generation FROM state", ())
    assert row is not None
    return int(row[0])


def test_concurrent_writes_commit_together_and_a_failure_undoes_only_its_own(
    empty_store_url: str,
) -> None:
    store = Store(empty_store_url)
    store.migrate()

    def insert(jti: str, fail: bool) -> Callable[[Connection], str]:
        def work(conn: Connection) -> str:
            hot(conn).run(
                conn,
                "INSERT INTO assertion_replay (issuer, jti, expires_at) VALUES (?, ?, 0)",
                ("i", jti),
            )
            if fail:
                raise ValueError(jti)
            return jti

        return work

    async def scenario() -> list[object]:
        jobs = [store.run_write(insert(f"j{i}", fail=i == 3)) for i in range(8)]
        return await asyncio.gather(*jobs, return_exceptions=True)

    results = asyncio.run(scenario())
    with store.read() as conn:
        stored = {r[0] for r in conn.exec_driver_sql("SELECT jti FROM assertion_replay").all()}
    store.dispose()
    assert [r for r in results if isinstance(r, ValueError)] and str(results[3]) == "j3"
    assert [r for r in results if not isinstance(r, Exception)] == [
        f"j{i}" for i in range(8) if i != 3
    ]
    assert stored == {f"j{i}" for i in range(8) if i != 3}


def test_a_failed_write_leaves_nothing(tmp_path: Path) -> None:
    store = Store(f"sqlite:///{tmp_path / 's.db'}")
    store.migrate()

    def failing(conn: Connection) -> None:
        hot(conn).run(conn, "UPDATE state SET generation = 99", ())
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        asyncio.run(store.run_write(failing))
    with store.read() as conn:
        generation = conn.exec_driver_sql("SELECT generation FROM state").scalar()
    store.dispose()
    assert generation == 0


def test_a_write_that_misuses_the_toolkit_fails_its_batch_and_the_next_batch_works(
    tmp_path: Path,
) -> None:
    store = Store(f"sqlite:///{tmp_path / 's.db'}")
    store.migrate()

    def toolkit(conn: Connection) -> None:
        conn.exec_driver_sql("UPDATE state SET generation = 5")

    async def scenario() -> tuple[BaseException | int, int]:
        first = await asyncio.gather(store.run_write(toolkit), return_exceptions=True)
        return first[0], await store.run_write(_bump)

    failed, after = asyncio.run(asyncio.wait_for(scenario(), timeout=10))
    store.dispose()
    assert isinstance(failed, Exception)
    assert after == 1


def test_an_atomic_write_that_breaks_the_transaction_fails_its_whole_batch(
    empty_store_url: str,
) -> None:
    """Atomic writes run without a savepoint of their own. One whose statement fails would
    leave a PostgreSQL transaction unable to commit: then no write of its batch may be
    reported done (each is run again alone or fails), and nothing half-done is committed."""
    store = Store(empty_store_url)
    store.migrate()

    def insert(jti: str) -> Callable[[Connection], str]:
        def work(conn: Connection) -> str:
            hot(conn).run(
                conn,
                "INSERT INTO assertion_replay (issuer, jti, expires_at) VALUES (?, ?, 0)",
                ("i", jti),
            )
            return jti

        return work

    def broken(conn: Connection) -> str:
        hot(conn).run(
            conn,
            "INSERT INTO assertion_replay (issuer, jti, expires_at) VALUES (?, ?, 0)",
            ("i", "j0"),  # a duplicate key: the statement fails
        )
        return "broken"

    async def scenario() -> list[object]:
        first = await store.run_write(insert("j0"), atomic=True)
        jobs = [store.run_write(insert(f"j{i}"), atomic=True) for i in range(1, 4)]
        jobs.insert(1, store.run_write(broken, atomic=True))
        return [first, *await asyncio.gather(*jobs, return_exceptions=True)]

    results = asyncio.run(scenario())
    with store.read() as conn:
        stored = {r[0] for r in conn.exec_driver_sql("SELECT jti FROM assertion_replay").all()}
    store.dispose()
    done = {r for r in results if isinstance(r, str)}
    assert "broken" not in done
    # whatever was reported done is stored, and nothing else
    assert done == stored
    assert "j0" in stored
