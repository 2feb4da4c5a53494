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
from pathlib import Path

import psycopg

from ssooidc.testing import databases

POSTGRES = os.environ.get("SSOOIDC_TEST_POSTGRES", "postgresql://127.0.0.1:5432/test")
_made: list[str] = []


def kind() -> str:
    value = os.environ.get("SSOOIDC_TEST_STORE", "sqlite").lower()
    if value not in ("sqlite", "postgresql"):
        raise ValueError("SSOOIDC_TEST_STORE must be sqlite or postgresql")
    return value


def on_postgresql() -> bool:
    return kind() == "postgresql"


def new_postgres_database() -> str:
    """A new empty database; its SQLAlchemy URL."""
    url = databases.new_database(POSTGRES)
    _made.append(url)
    return url


def drop_postgres_database(url: str) -> None:
    databases.drop_database(url, POSTGRES)
    if url in _made:
        _made.remove(url)


def new_database(directory: Path) -> str:
    """A fresh store's URL: a file in ``directory``, or a new PostgreSQL database."""
    if on_postgresql():
        return new_postgres_database()
    directory.mkdir(parents=True, exist_ok=True)
    return databases.sqlite_url(directory)


def release(url: str) -> None:
    if databases.is_postgresql(url):
        drop_postgres_database(url)


@atexit.register
def _drop_leftovers() -> None:
    for url in list(_made):
        with contextlib.suppress(psycopg.Error):
            drop_postgres_database(url)


def check_postgres() -> None:
    """Raise unless the PostgreSQL server answers (the PostgreSQL run cannot go on without it)."""
    with psycopg.connect(POSTGRES, autocommit=True, connect_timeout=5) as conn:
        conn.execute("SELECT 1")
