"""Stores for test servers: SQLite in the server's own directory, or a new PostgreSQL database
made for one server on the PostgreSQL server a URL names, and dropped when it stops, so that
test runs (and xdist workers) never share a store."""

from __future__ import annotations

import secrets
from pathlib import Path

__all__ = ["drop_database", "is_postgresql", "new_database", "sqlite_url"]

PREFIX = "ssooidc_test_"


def is_postgresql(url: str) -> bool:
    return url.startswith(("postgresql://", "postgresql+psycopg://", "postgres://"))


def _libpq(url: str) -> str:
    """The URL as psycopg (libpq) reads it."""
    scheme, _, rest = url.partition("://")
    return f"postgresql://{rest}" if scheme.startswith("postgres") else url


def sqlite_url(directory: Path) -> str:
    return f"sqlite:///{directory / 'ssooidc.db'}"


def new_database(server_url: str) -> str:
    """A new, empty database on the PostgreSQL server of ``server_url`` (which names any
    database the role may connect to, and needs CREATEDB); its SQLAlchemy URL."""
    import psycopg
    from psycopg import sql

    name = PREFIX + secrets.token_hex(6)
    with psycopg.connect(_libpq(server_url), autocommit=True, connect_timeout=5) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    base = _libpq(server_url).split("?", 1)[0].rsplit("/", 1)[0]
    return f"{base}/{name}".replace("postgresql://", "postgresql+psycopg://", 1)


def drop_database(url: str, server_url: str) -> None:
    """Drop a database that ``new_database(server_url)`` made (any other URL is left alone)."""
    import psycopg
    from psycopg import sql

    name = _libpq(url).rsplit("/", 1)[1]
    if not name.startswith(PREFIX):
        return
    with psycopg.connect(_libpq(server_url), autocommit=True, connect_timeout=5) as conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )
