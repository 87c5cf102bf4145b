"""Inter-process locks around creating or migrating a database store, and a check for half-migrated SQLite.

Several ``plexus`` processes started together on a new store would otherwise all create its schema at once
(MLflow and Optuna run Alembic migrations on first use), fail, and leave the store half-migrated.
:func:`store_lock` serialises that first use: a ``flock`` on ``<file>.lock`` beside a SQLite file, a
PostgreSQL advisory lock (``pg_advisory_lock``) for ``postgresql://``; other schemes need no lock.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import quote, urlsplit

from plexus.platform.errors import PlexusError
from plexus.platform.locks import file_lock
from plexus.platform.masking import mask_url

__all__ = ["OPTUNA_LOCK_KEY", "TRACKING_LOCK_KEY", "sqlite_path", "sqlite_store_problem", "store_lock"]

TRACKING_LOCK_KEY = 0x706C_6578_7573_0001  # "plexus" + 1: creating an MLflow tracking schema
OPTUNA_LOCK_KEY = 0x706C_6578_7573_0002  # "plexus" + 2: creating an Optuna storage schema
WAIT_NOTICE_S = 3.0  # after this long waiting, one line on stderr says why the process is idle
LOCK_TIMEOUT_S = float(os.environ.get("PLEXUS_STORE_LOCK_TIMEOUT", "600"))
_POLL_S = 0.1


def sqlite_path(uri: str) -> Path | None:
    """The database file of ``sqlite:///path`` (query string dropped); None for in-memory or non-SQLite URIs."""
    if not uri.startswith("sqlite") or ":///" not in uri:
        return None
    path = uri.split(":///", 1)[1].split("?", 1)[0]
    path = path.removeprefix("file:")
    if not path or path == ":memory:":
        return None
    return Path(path)


def _masked(uri: str) -> str:
    return mask_url(uri)


def _wait(try_lock: Callable[[], bool], what: str, uri: str, timeout: float,
          error: type[PlexusError]) -> None:
    """Poll ``try_lock`` until it succeeds; one stderr line after :data:`WAIT_NOTICE_S`; ``error`` on timeout."""
    start = time.monotonic()
    told = False
    while not try_lock():
        waited = time.monotonic() - start
        if waited >= timeout:
            raise _timed_out(what, uri, waited, error)
        if not told and waited >= WAIT_NOTICE_S:
            _notice(what, uri)
            told = True
        time.sleep(_POLL_S)


def _timed_out(what: str, uri: str, waited: float, error: type[PlexusError]) -> PlexusError:
    return error(f"{what} {_masked(uri)}: timed out after {waited:.0f} s waiting for another process "
                 "to create it (is one stuck? stop it and try again)")


def _notice(what: str, uri: str) -> None:
    sys.stderr.write(f"waiting for another process to create the {what} {_masked(uri)} ...\n")
    sys.stderr.flush()


@contextlib.contextmanager
def _file_lock(path: Path, what: str, uri: str, timeout: float, error: type[PlexusError]) -> Iterator[None]:
    lock = Path(f"{path}.lock")
    held = contextlib.ExitStack()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        held.enter_context(file_lock(lock, notice_after=WAIT_NOTICE_S, notice=lambda _w: _notice(what, uri),
                                     timeout=timeout, on_timeout=lambda w: _timed_out(what, uri, w, error)))
    except OSError as exc:
        raise error(f"{what} {_masked(uri)}: cannot create the lock file {lock} "
                    f"({exc.strerror or exc}); is the directory writable?") from None
    with held:
        yield


@contextlib.contextmanager
def _advisory_lock(uri: str, key: int, what: str, timeout: float, error: type[PlexusError]) -> Iterator[None]:
    import sqlalchemy
    from sqlalchemy.pool import NullPool

    try:
        engine = sqlalchemy.create_engine(uri, poolclass=NullPool, connect_args={"connect_timeout": 10})
        conn = engine.connect().execution_options(isolation_level="AUTOCOMMIT")
    except Exception:  # noqa: BLE001 - unreachable, wrong password, driver missing: the store's own open
        conn = None  # reports it in its words (one line, password masked); there is nothing to serialise
    if conn is None:
        yield
        return
    stmt = sqlalchemy.text("SELECT pg_try_advisory_lock(:k)")
    try:
        _wait(lambda: bool(conn.execute(stmt, {"k": key}).scalar()), what, uri, timeout, error)
        try:
            yield
        finally:
            with contextlib.suppress(Exception):
                conn.execute(sqlalchemy.text("SELECT pg_advisory_unlock(:k)"), {"k": key})
    finally:
        conn.close()  # ends the session: PostgreSQL drops its advisory locks (also when the process dies)
        engine.dispose()


@contextlib.contextmanager
def store_lock(uri: str, *, key: int, what: str, error: type[PlexusError],
               timeout: float | None = None) -> Iterator[None]:
    """Hold the inter-process lock of store ``uri`` (SQLite: file lock; PostgreSQL: advisory lock ``key``).

    Waiting longer than 3 s prints ``waiting for another process to create the <what> <uri> ...`` on stderr;
    waiting longer than ``timeout`` (default ``$PLEXUS_STORE_LOCK_TIMEOUT`` or 600 s) raises ``error``.
    Other schemes (MySQL, http(s) servers, folders) are entered without a lock.
    """
    timeout = LOCK_TIMEOUT_S if timeout is None else timeout
    if os.environ.get("PLEXUS_NO_STORE_LOCK") == "1":  # test hook: proves the race the lock prevents
        yield
        return
    scheme = urlsplit(uri).scheme.split("+", 1)[0]
    path = sqlite_path(uri) if scheme == "sqlite" else None
    if path is not None:
        with _file_lock(path, what, uri, timeout, error):
            yield
    elif scheme == "postgresql":
        with _advisory_lock(uri, key, what, timeout, error):
            yield
    else:
        yield


def sqlite_store_problem(path: Path, marker: str = "experiments") -> str | None:
    """What is wrong with the SQLite file at ``path`` (read-only look, file unchanged), or None when usable.

    Finds what an interrupted schema creation or upgrade leaves behind: an ``_alembic_tmp_*`` table, or
    store tables (``marker`` among them) without a schema version (``alembic_version`` missing or empty);
    and files that are not SQLite.
    A missing or empty file is fine (the store is created).
    """
    try:
        if not path.is_file() or path.stat().st_size == 0:
            return None
    except OSError:
        return None
    try:
        con = sqlite3.connect(f"file:{quote(str(path))}?mode=ro", uri=True, timeout=30)
    except sqlite3.Error as exc:
        return f"cannot be read ({exc})"
    try:
        tables = {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        tmp = sorted(t for t in tables if t.startswith("_alembic_tmp_"))
        if tmp:
            return (f"is half-migrated: table {tmp[0]} was left by an interrupted schema upgrade")
        if marker in tables and "alembic_version" not in tables:
            return "is half-created: it has tables but no schema version (no alembic_version table)"
        if marker in tables and not con.execute("SELECT count(*) FROM alembic_version").fetchone()[0]:
            return "is half-created: it has tables but no schema version (alembic_version is empty)"
    except sqlite3.DatabaseError as exc:
        return f"is not a usable SQLite database ({exc})"
    finally:
        con.close()
    return None
