"""Which store the suite runs on, and a fresh, empty database of it for each server or test.

``SSOOIDC_TEST_STORE=sqlite`` (the default) gives a file in the test's own directory.
``SSOOIDC_TEST_STORE=postgresql`` gives a new database on the PostgreSQL server that
``SSOOIDC_TEST_POSTGRES`` names (default ``postgresql://127.0.0.1:5432/test``), made with
a random name and dropped when the test run ends, so that runs and workers never collide.
Under ``CI=true`` a PostgreSQL that does not answer fails the run.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import secrets
from pathlib import Path

import psycopg
from psycopg import sql

POSTGRES = os.environ.get("SSOOIDC_TEST_POSTGRES", "postgresql://127.0.0.1:5432/test")
PREFIX = "ssooidc_t_"
_made: list[str] = []


def kind() -> str:
    value = os.environ.get("SSOOIDC_TEST_STORE", "sqlite").lower()
    if value not in ("sqlite", "postgresql"):
        raise ValueError("SSOOIDC_TEST_STORE must be sqlite or postgresql")
    return value


def on_postgresql() -> bool:
    return kind() == "postgresql"


def _admin() -> psycopg.Connection[tuple[object, ...]]:
    return psycopg.connect(POSTGRES, autocommit=True, connect_timeout=5)


def new_postgres_database() -> str:
    """A new empty database; its SQLAlchemy URL."""
    name = PREFIX + secrets.token_hex(6)
    with _admin() as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    _made.append(name)
    base = POSTGRES.rsplit("/", 1)[0]
    return f"{base}/{name}".replace("postgresql://", "postgresql+psycopg://", 1)


def drop_postgres_database(url: str) -> None:
    name = url.rsplit("/", 1)[1]
    if not name.startswith(PREFIX):
        return
    with _admin() as conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )
    if name in _made:
        _made.remove(name)


def new_database(directory: Path) -> str:
    """A fresh store's URL: a file in ``directory``, or a new PostgreSQL database."""
    if on_postgresql():
        return new_postgres_database()
    directory.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{directory / 'ssooidc.db'}"


def release(url: str) -> None:
    if url.startswith("postgresql"):
        drop_postgres_database(url)


@atexit.register
def _drop_leftovers() -> None:
    for name in list(_made):
        with contextlib.suppress(psycopg.Error):
            drop_postgres_database(f"x/{name}")


def check_postgres() -> None:
    """Raise unless the PostgreSQL server answers (the PostgreSQL run cannot go on without it)."""
    with _admin() as conn:
        conn.execute("SELECT 1")
