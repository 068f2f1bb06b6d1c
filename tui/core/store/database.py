"""Opening the job store's SQLite file and writing to it in transactions.

Opening makes the file private (0600, in a 0700 directory), switches it to WAL mode, brings its schema up to date
(tui/core/store/schema.py) and refuses a damaged file (what `PRAGMA quick_check` reports) with a one-line message
that says what to do. Every failure is a StoreError with a message a user can act on. No Textual here.
"""

from __future__ import annotations

import contextlib
import errno
import os
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path

from tui.core.store.records import StoreError
from tui.core.store.schema import MIGRATIONS, SCHEMA_VERSION


def damaged(path: Path, detail: str) -> str:
    """One line: what is wrong with the store file and what to do (comfyq writes nothing more into it)."""
    detail = detail.splitlines()[0][:200] if detail else "unknown damage"
    return (
        f"{path}: the job store is damaged ({detail}); comfyq will not write into it. Move it aside "
        f"(`comfyq locate` shows where it is) to start a new one, or recover rows with `sqlite3 FILE .recover`"
    )


# Less free space than this when SQLite fails, and the failure is taken for a full disk: SQLite reports a full disk
# as SQLITE_FULL when a page write fails, but as a plain "disk I/O error" when the shared-memory file cannot grow.
_NEARLY_FULL_BYTES = 64 * 1024


def disk_full(path: Path, error: BaseException | None = None) -> bool:
    """Did `error` (an SQLite error on the store at `path`) come from a full disk?"""
    if getattr(error, "sqlite_errorname", None) == "SQLITE_FULL":
        return True
    try:
        usage = os.statvfs(path.parent)
    except OSError:
        return False
    return usage.f_bavail * usage.f_frsize < _NEARLY_FULL_BYTES


def store_error(path: Path, action: str, error: BaseException) -> StoreError:
    """`PATH: cannot ACTION the job store: ...` — saying so plainly when the disk is full (nothing stored is lost:
    a transaction that could not be written is rolled back whole)."""
    if str(path) != ":memory:" and disk_full(path, error):
        return StoreError(
            f"{path}: cannot {action} the job store: the disk is full ({error}); what is stored is kept: "
            "free some space and try again"
        )
    return StoreError(f"{path}: cannot {action} the job store: {error}")


def open_database(path: Path) -> sqlite3.Connection:
    """A connection to the store at `path` (or ":memory:"), configured, migrated and checked. Raises StoreError."""
    memory = str(path) == ":memory:"
    if not memory:
        _create_private_file(path)
    try:
        # isolation_level=None: we issue BEGIN/COMMIT ourselves (BEGIN IMMEDIATE takes the write lock up front,
        # so two writers never deadlock upgrading a read lock).
        db = sqlite3.connect(str(path), timeout=10.0, isolation_level=None, check_same_thread=False)
    except sqlite3.Error as error:
        raise store_error(path, "open", error) from error
    try:
        _configure(db, path, memory)
        _migrate(db, path)
        if not memory:
            _check_integrity(db, path)
    except sqlite3.DatabaseError as error:
        db.close()
        text = str(error)
        if isinstance(error, sqlite3.OperationalError) and not any(
            word in text for word in ("malformed", "not a database", "corrupt")
        ):
            raise store_error(path, "use", error) from error  # locked, read-only, disk full ...
        raise StoreError(damaged(path, text)) from error
    except StoreError:
        db.close()
        raise
    if not memory:
        _chmod_sidecars(path)
    return db


@contextlib.contextmanager
def write_transaction(db: sqlite3.Connection, path: Path) -> Iterator[sqlite3.Connection]:
    """One write transaction: all or nothing, durable (against a process kill) once it returns. The caller holds
    the connection's lock (JobStore does). An SQLite error (disk full, read-only, ...) becomes a StoreError."""
    try:
        db.execute("BEGIN IMMEDIATE")
    except sqlite3.OperationalError as error:
        raise store_error(path, "write", error) from error
    try:
        yield db
    except BaseException as error:
        # SQLite may have rolled back already (e.g. disk full): never let that hide the real error.
        with contextlib.suppress(sqlite3.Error):
            db.execute("ROLLBACK")
        if isinstance(error, sqlite3.Error):
            raise store_error(path, "write", error) from error
        raise
    try:
        db.execute("COMMIT")
    except sqlite3.Error as error:
        with contextlib.suppress(sqlite3.Error):
            db.execute("ROLLBACK")
        raise store_error(path, "write", error) from error


def _create_private_file(path: Path) -> None:
    """Create the file 0600 before SQLite opens it: jobs hold workflows and results nobody else should read."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        os.close(fd)
        os.chmod(path, 0o600)
    except OSError as error:
        if error.errno in (errno.ENOSPC, errno.EDQUOT):
            raise StoreError(f"{path}: cannot create the job store: the disk is full ({error.strerror})") from error
        raise StoreError(f"{path}: cannot create the job store: {error.strerror or error}") from error


def _check_integrity(db: sqlite3.Connection, path: Path) -> None:
    """Refuse a damaged file at open (what `PRAGMA integrity_check` reports, by its quicker sibling that skips
    only the index-content cross-check): writing on into it could lose what is still readable."""
    rows = db.execute("PRAGMA quick_check(3)").fetchall()
    problems = [str(row[0]) for row in rows if row and row[0] != "ok"]
    if problems:
        raise StoreError(damaged(path, "; ".join(problems)))


def _chmod_sidecars(path: Path) -> None:
    # SQLite creates -wal/-shm with the database file's mode; make sure anyway (an older file may differ).
    for suffix in ("-wal", "-shm"):
        sidecar = Path(f"{path}{suffix}")
        with contextlib.suppress(OSError):
            if sidecar.exists():
                os.chmod(sidecar, 0o600)


def _configure(db: sqlite3.Connection, path: Path, memory: bool) -> None:
    db.execute("PRAGMA busy_timeout = 10000")  # another comfyq process may be writing: wait, do not fail
    if not memory:
        mode = _switch_to_wal(db)
        if str(mode).lower() != "wal":
            raise StoreError(f"{path}: cannot switch the job store to WAL mode (got {mode})")
    # synchronous=NORMAL is safe in WAL mode: every commit is written to the WAL file before COMMIT returns, so
    # a killed process (kill -9, crash) loses nothing committed; only an OS crash or power cut may roll back the
    # last few commits (the database itself never corrupts). FULL would fsync on every commit for that.
    db.execute("PRAGMA synchronous = NORMAL")
    db.execute("PRAGMA foreign_keys = OFF")


def _switch_to_wal(db: sqlite3.Connection, patience: float = 10.0) -> str:
    """`PRAGMA journal_mode = WAL`, waiting out another process doing the same.

    Two processes opening a new store at once both ask for the exclusive lock the switch needs; SQLite answers
    one of them "database is locked" at once instead of waiting (waiting could deadlock), so the busy timeout
    does not cover it. The file keeps WAL mode once set, so the retry usually finds it done."""
    deadline = time.monotonic() + patience
    delay = 0.005
    while True:
        try:
            return str(db.execute("PRAGMA journal_mode = WAL").fetchone()[0])
        except sqlite3.OperationalError as error:
            if "locked" not in str(error) and "busy" not in str(error):
                raise
            if time.monotonic() + delay > deadline:
                raise
            time.sleep(delay)
            delay = min(delay * 2, 0.1)


def _migrate(db: sqlite3.Connection, path: Path) -> None:
    """Apply the migrations the file has not had, each in one transaction (another process may migrate too)."""
    version = db.execute("PRAGMA user_version").fetchone()[0]
    if version > SCHEMA_VERSION:
        raise StoreError(
            f"{path}: the job store has schema version {version}, newer than this comfyq knows "
            f"({SCHEMA_VERSION}); upgrade comfyq or use another --data-dir"
        )
    while version < SCHEMA_VERSION:
        with write_transaction(db, path):
            # Re-read inside the write lock: another process may have migrated meanwhile.
            version = db.execute("PRAGMA user_version").fetchone()[0]
            if version >= SCHEMA_VERSION:
                break
            for step in MIGRATIONS[version]:
                if callable(step):
                    step(db)
                else:
                    db.execute(step)
            version += 1
            db.execute(f"PRAGMA user_version = {version}")
