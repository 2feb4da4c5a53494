"""``ssooidc backup``: an online, consistent copy of the SQLite store while the server runs.

The copy is made with SQLite's online backup API in one step, inside one read transaction: it
is the database as of one commit, and the server goes on reading and writing meanwhile (a WAL
reader never blocks the writer). The at-rest key is not in the copy; it is checked against it.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import sqlite3
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidTag
from sqlalchemy import create_engine
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError

from ssooidc.services import keys
from ssooidc.services.at_rest import SecretBox


class BackupError(Exception):
    """The backup could not be made (the message says why)."""


@dataclass(frozen=True)
class KeyCheck:
    """Whether the at-rest key this command sees opens the secrets in the copy."""

    #: "opens", "does-not-open", "no-key" or "unchecked"
    outcome: str
    detail: str


def sqlite_file(store_url: str) -> Path | None:
    """The database file of a ``sqlite:///`` URL; None for another kind of store."""
    url = make_url(store_url)
    if url.get_backend_name() != "sqlite":
        return None
    if url.database in (None, "", ":memory:"):
        raise BackupError("an in-memory SQLite database cannot be backed up")
    return Path(url.database)


def backup_sqlite(source: Path, output: Path) -> int:
    """Copy the live database ``source`` to ``output`` (mode 0600, replaced atomically, so a
    reader of ``output`` never sees half a copy); return the copy's size in bytes."""
    if not source.is_file():
        raise BackupError(f"no SQLite store at {source}")
    output = output.absolute()
    if not output.parent.is_dir():
        raise BackupError(f"the directory of {output} does not exist")
    partial = output.with_name(f".{output.name}.{secrets.token_hex(4)}.partial")
    os.close(os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    try:
        _copy(source, partial)
        _fsync(partial)
        os.replace(partial, output)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            partial.unlink()
        raise
    _fsync(output.parent)
    return output.stat().st_size


def _copy(source: Path, target: Path) -> None:
    try:
        # Only read, but not opened read-only: a read-only connection to a stopped server's
        # store would leave a -wal and -shm file beside it, which closing this one removes.
        src = sqlite3.connect(f"{source.resolve().as_uri()}?mode=rw", uri=True, timeout=30)
        try:
            dst = sqlite3.connect(target)
            try:
                src.backup(dst)  # pages=-1: the whole database in one step, one snapshot
                # One self-contained file, no WAL beside it (the server turns WAL back on
                # when it opens the restored file).
                dst.execute("PRAGMA journal_mode=DELETE")
                verdict = dst.execute("PRAGMA quick_check").fetchone()[0]
            finally:
                dst.close()
        finally:
            src.close()
    except sqlite3.Error as exc:
        raise BackupError(f"{source}: {exc}") from exc
    if verdict != "ok":
        raise BackupError(f"the copy fails SQLite's quick_check: {verdict}")


def check_key(copy: Path, key_file: Path) -> KeyCheck:
    """Open the copy's current ID-token signing key with the at-rest key that ``serve`` would
    use here: a backup is only restorable together with that key."""
    try:
        box = SecretBox.load(key_file, create=False)
    except FileNotFoundError:
        return KeyCheck("no-key", f"neither SSOOIDC_AT_REST_KEY nor {key_file} is here")
    engine = create_engine(f"sqlite:///{copy}")
    try:
        with engine.connect() as conn:
            key = keys.current_signing_key(conn, box, keys.ID_TOKEN)
    except InvalidTag:
        return KeyCheck("does-not-open", "the at-rest key does not open the copy's secrets")
    except SQLAlchemyError as exc:
        return KeyCheck("unchecked", f"the copy's signing keys could not be read: {exc}")
    finally:
        engine.dispose()
    if key is None:
        return KeyCheck("unchecked", "the copy holds no signing key yet")
    return KeyCheck("opens", f"the at-rest key opens the copy's signing key {key.kid}")


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
