"""The store: migrations create exactly the tables, WAL mode, and the write lock never blocks."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from ssooidc.store.engine import Store
from ssooidc.store.records import hot
from ssooidc.store.tables import metadata


def test_migrations_create_exactly_the_declared_tables(tmp_path: Path) -> None:
    store = Store(f"sqlite:///{tmp_path / 's.db'}")
    store.migrate()
    with store.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), metadata)
    store.dispose()
    assert diff == []


def test_migrate_is_idempotent_and_seeds_the_generation(tmp_path: Path) -> None:
    store = Store(f"sqlite:///{tmp_path / 's.db'}")
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
    """While one connection holds the write lock, a second writer waits without blocking the
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
            task = asyncio.create_task(_write(store))
            await ticker()
            assert not task.done()
        return await task

    async def _write(s: Store) -> int:
        async with s.write() as conn:
            hot(conn).run(conn, "UPDATE state SET generation = generation + 1", ())
            row = hot(conn).one(conn, "SELECT generation FROM state", ())
            assert row is not None
            return int(row[0])

    result = asyncio.run(scenario())
    store.dispose()
    other.dispose()
    assert ticks == 20
    assert result == 2


def test_a_failed_write_transaction_leaves_nothing(tmp_path: Path) -> None:
    store = Store(f"sqlite:///{tmp_path / 's.db'}")
    store.migrate()

    async def failing() -> None:
        async with store.write() as conn:
            hot(conn).run(conn, "UPDATE state SET generation = 99", ())
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        asyncio.run(failing())
    with store.read() as conn:
        generation = conn.exec_driver_sql("SELECT generation FROM state").scalar()
    store.dispose()
    assert generation == 0
