"""The token path's statements, written once as plain SQL and run on the driver's cursor.

Every CreateTokenWithIAM runs a handful of these; going through the driver directly saves the
query-building and result-wrapping work of the SQL toolkit on each one. The SQL is portable
between SQLite and PostgreSQL; only the parameter marker differs.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import Connection

from ssooidc.store.steps import Result, Statement

Row = tuple[Any, ...]


class HotStatements:
    """Plain-SQL access to tokens, codes, families, replay markers and user lookups."""

    def __init__(self, dialect: str) -> None:
        self.is_sqlite = dialect == "sqlite"
        self._marker = "?" if self.is_sqlite else "%s"

    def _sql(self, text: str) -> str:
        return text if self._marker == "?" else text.replace("?", self._marker)

    def _cursor(self, conn: Connection) -> Any:
        return conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]

    def one(self, conn: Connection, sql: str, params: Sequence[Any]) -> Row | None:
        cur = self._cursor(conn)
        try:
            cur.execute(self._sql(sql), params)
            row = cur.fetchone()
        finally:
            cur.close()
        return None if row is None else tuple(row)

    def all(self, conn: Connection, sql: str, params: Sequence[Any]) -> list[Row]:
        cur = self._cursor(conn)
        try:
            cur.execute(self._sql(sql), params)
            rows = cur.fetchall()
        finally:
            cur.close()
        return [tuple(r) for r in rows]

    def run(self, conn: Connection, sql: str, params: Sequence[Any]) -> int:
        """Execute a write; returns the number of rows it touched."""
        cur = self._cursor(conn)
        try:
            cur.execute(self._sql(sql), params)
            return int(cur.rowcount)
        finally:
            cur.close()

    def execute(self, conn: Connection, statement: Statement) -> Result:
        """A step work's statement (``steps``): its rows, and how many rows it touched."""
        cur = self._cursor(conn)
        try:
            cur.execute(self._sql(statement.sql), statement.params)
            rows = [tuple(r) for r in cur.fetchall()] if cur.description else []
            return Result(rows, int(cur.rowcount))
        finally:
            cur.close()

    def run_many(self, conn: Connection, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        cur = self._cursor(conn)
        try:
            cur.executemany(self._sql(sql), list(rows))
        finally:
            cur.close()


def json_value(value: Any) -> Any:
    """A JSON column as read by the driver: text on SQLite, already decoded on PostgreSQL."""
    return json.loads(value) if isinstance(value, str | bytes) else value
