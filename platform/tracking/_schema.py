"""Schema revision of a tracking store; upgrading a SQLite store so that nothing is lost if it fails or is killed.

MLflow 3 upgrades an out-of-date store in place when it opens one that lacks tables of its schema, with no copy:
a process killed during that migration leaves the store half-migrated, and every later run fails. So Plexus
opens only stores at MLflow's current revision (:func:`check_schema`, called under the store lock by
``prepare_tracking_store``) and upgrades only through :func:`upgrade_store` (``plexus store upgrade``):

1. under the store lock, copy the SQLite file with SQLite's backup API to ``<db>.bak-<revision>``;
2. write the marker ``<db>.upgrading`` (which copy, from which revision), then migrate one revision at a time;
3. on success remove the marker (the copy is kept); on an error restore the copy, then remove the marker.

A process killed during step 2 leaves the marker: the next open of the store (or ``plexus store repair``)
restores the copy, says so in one line, and names the command to upgrade again. On PostgreSQL MLflow's
migrations run in one transaction: a failed upgrade leaves the database as it was (no copy is made).
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import signal
import sqlite3
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from urllib.parse import quote, urlsplit

from plexus.platform.errors import TrackingError
from plexus.platform.masking import mask_url
from plexus.platform.tracking._lock import TRACKING_LOCK_KEY, sqlite_path, sqlite_store_problem, store_lock

__all__ = ["StoreState", "UpgradeInterrupted", "check_schema", "head_revision", "inspect_store", "repair_store", "upgrade_store"]

STEP_DELAY_ENV = "PLEXUS_STORE_UPGRADE_STEP_S"  # test hook: seconds to pause after each migrated revision
Echo = Callable[[str], None]


class UpgradeInterrupted(TrackingError):
    """Ctrl-C or SIGTERM stopped an upgrade; its copy was restored (exit code 130, as for any interrupt)."""

    exit_code = 130


@dataclass
class StoreState:
    """What a tracking store holds, read without changing it.

    ``state``: ``new`` (no file or no tables yet), ``current`` (at MLflow's head revision), ``out-of-date``,
    ``newer`` (a revision this MLflow does not know: written by a newer MLflow), ``interrupted-upgrade``
    (the marker of a killed ``plexus store upgrade`` is there), ``half-migrated``, ``unreadable``, or
    ``not-checked`` (a server or folder store: its schema is the server's business).
    """

    uri: str
    state: str
    revision: str | None = None
    head: str | None = None
    detail: str = ""
    backups: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        return {**asdict(self), "uri": mask_url(self.uri)}


@functools.lru_cache(maxsize=1)
def head_revision() -> str:
    """The schema revision the installed MLflow needs."""
    from mlflow.store.db.utils import _get_latest_schema_revision

    return _get_latest_schema_revision()


@functools.lru_cache(maxsize=1)
def _script():
    from alembic.script import ScriptDirectory
    from mlflow.store.db.utils import _get_alembic_config

    return ScriptDirectory.from_config(_get_alembic_config(""))


def _known(revision: str) -> bool:
    import alembic.util

    try:
        return _script().get_revision(revision) is not None
    except alembic.util.CommandError:
        return False


def _marker(db: Path) -> Path:
    return Path(f"{db}.upgrading")


def _backups(db: Path) -> list[Path]:
    """Copies ``<db>.bak-<revision>`` beside ``db``, newest first."""
    try:
        found = [p for p in db.parent.glob(f"{db.name}.bak-*") if not p.name.endswith(".tmp")]
    except OSError:
        return []
    return sorted(found, key=lambda p: p.stat().st_mtime, reverse=True)


def _sqlite_revision(db: Path) -> tuple[set[str], str | None]:
    """(table names, schema revision) of the SQLite file, opened read-only."""
    con = sqlite3.connect(f"file:{quote(str(db))}?mode=ro", uri=True, timeout=30)
    try:
        tables = {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        rev = None
        if "alembic_version" in tables:
            row = con.execute("SELECT version_num FROM alembic_version").fetchone()
            rev = row[0] if row else None
        return tables, rev
    finally:
        con.close()


def _classify(uri: str, tables: set[str], rev: str | None, head: str) -> StoreState:
    if rev is None and "experiments" not in tables:
        return StoreState(uri, "new", None, head)
    if rev is None:
        return StoreState(uri, "half-migrated", None, head, "half-created: it has tables but no schema version")
    if rev == head:
        return StoreState(uri, "current", rev, head)
    if rev is not None and not _known(rev):
        return StoreState(uri, "newer", rev, head, "written by a newer MLflow than the one installed")
    return StoreState(uri, "out-of-date", rev, head)


def inspect_store(uri: str) -> StoreState:
    """The :class:`StoreState` of ``uri`` (SQLite and PostgreSQL are looked into; nothing is written)."""
    from plexus.platform.tracking._store import _cause

    scheme = urlsplit(uri).scheme.split("+", 1)[0]
    if scheme not in ("sqlite", "postgresql"):
        return StoreState(uri, "not-checked", detail="a tracking server or folder: its schema is not Plexus's to manage")
    head = head_revision()
    db = sqlite_path(uri) if scheme == "sqlite" else None
    if scheme == "sqlite" and db is None:
        return StoreState(uri, "new", None, head, "in-memory store")
    if db is not None:
        backups = [str(p) for p in _backups(db)]
        if _marker(db).exists():
            return StoreState(uri, "interrupted-upgrade", _try(lambda: _sqlite_revision(db)[1]), head,
                              f"an upgrade was interrupted; its copy is {_read_marker(db).get('backup', '?')}",
                              backups)
        if not db.is_file() or db.stat().st_size == 0:
            return StoreState(uri, "new", None, head, "", backups)
        from plexus.platform.tracking._optuna_schema import is_optuna_file, optuna_state

        if is_optuna_file(db):
            return optuna_state(uri, db, backups)
        problem = sqlite_store_problem(db)
        if problem:
            state = "half-migrated" if problem.startswith("is half") else "unreadable"
            return StoreState(uri, state, _try(lambda: _sqlite_revision(db)[1]), head, problem.removeprefix("is "),
                              backups)
        try:
            tables, rev = _sqlite_revision(db)
        except sqlite3.Error as exc:
            return StoreState(uri, "unreadable", None, head, str(exc), backups)
        found = _classify(uri, tables, rev, head)
        found.backups = backups
        return found
    try:
        tables, rev = _pg_revision(uri)
    except Exception as exc:  # noqa: BLE001 - unreachable, wrong password: one line, password masked
        return StoreState(uri, "unreadable", None, head, _cause(exc))
    return _classify(uri, tables, rev, head)


def _try(fn):
    try:
        return fn()
    except Exception:  # noqa: BLE001 - a best-effort detail of a broken file
        return None


def _pg_revision(uri: str) -> tuple[set[str], str | None]:
    import sqlalchemy
    from alembic.runtime.migration import MigrationContext
    from sqlalchemy.pool import NullPool

    engine = sqlalchemy.create_engine(uri, poolclass=NullPool, connect_args={"connect_timeout": 10})
    try:
        with engine.connect() as conn:
            tables = set(sqlalchemy.inspect(conn).get_table_names())
            rev = MigrationContext.configure(conn).get_current_revision() if "alembic_version" in tables else None
            return tables, rev
    finally:
        engine.dispose()


def _read_marker(db: Path) -> dict:
    try:
        return json.loads(_marker(db).read_text())
    except (OSError, ValueError):
        return {}


def _fsync_dir(folder: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _backup(src: Path, dst: Path) -> None:
    """SQLite's online backup of ``src`` (opened read-only) into ``dst``: one consistent, atomic copy."""
    source = sqlite3.connect(f"file:{quote(str(src))}?mode=ro", uri=True, timeout=60)
    try:
        target = sqlite3.connect(dst, timeout=60)
        try:
            source.backup(target)
        finally:
            target.close()
    finally:
        source.close()


def _copy_db(src: Path, dst: Path) -> None:
    """A consistent copy of SQLite ``src`` at ``dst`` (backup API into ``dst.tmp``, fsync, rename)."""
    tmp = Path(f"{dst}.tmp")
    tmp.unlink(missing_ok=True)
    try:
        _backup(src, tmp)
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        os.replace(tmp, dst)
        _fsync_dir(dst.parent)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _restore(db: Path, backup: Path) -> None:
    """Put the contents of ``backup`` back into ``db`` (SQLite's backup API: atomic; the copy stays)."""
    try:
        _backup(backup, db)
    except sqlite3.DatabaseError:
        # the half-migrated file cannot even be opened: replace it whole (its journal would not match the copy)
        tmp = Path(f"{db}.restore.tmp")
        _copy_db(backup, tmp)
        for side in ("-journal", "-wal", "-shm"):
            Path(f"{db}{side}").unlink(missing_ok=True)
        os.replace(tmp, db)
        _fsync_dir(db.parent)


def _undo_interrupted(db: Path, uri: str, what: str = "tracking store") -> str:
    """Restore the copy named by the marker of a killed upgrade; what was done, in words. Caller holds the lock."""
    info = _read_marker(db)
    backup = Path(info.get("backup", ""))
    if not info.get("backup") or not backup.is_file():
        raise TrackingError(f"{what} {mask_url(uri)}: an upgrade was interrupted and its copy "
                            f"{info.get('backup') or '(unknown)'} is missing; restore {db} from your own backup "
                            f"(then delete {_marker(db)}), or move it aside to start a new store")
    _restore(db, backup)
    _marker(db).unlink()
    _fsync_dir(db.parent)
    return (f"an upgrade to schema {info.get('to', '?')} was interrupted; restored the copy taken before it, "
            f"{backup.name} (schema {info.get('from', '?')})")


def check_schema(uri: str) -> None:
    """Refuse, in one line, a store that MLflow would migrate without a copy, or cannot use.

    Called by ``prepare_tracking_store`` with the store lock held. A SQLite store whose upgrade was killed is
    restored from its copy first (and the line says so). New and current stores pass.
    """
    scheme = urlsplit(uri).scheme.split("+", 1)[0]
    if scheme not in ("sqlite", "postgresql"):
        return

    db = sqlite_path(uri)
    undone = ""
    if db is not None and _marker(db).exists():
        undone = _undo_interrupted(db, uri) + "; "
    found = inspect_store(uri)
    where = f"tracking store {mask_url(uri)}"
    if found.state == "half-migrated":
        fix = (f"run 'plexus store repair {mask_url(uri)}' to restore its copy {Path(found.backups[0]).name}"
               if found.backups else f"restore {db} from a backup, or move it aside to start a new store")
        raise TrackingError(f"{where} is {found.detail}; {fix}")
    if found.state == "out-of-date":
        raise TrackingError(f"{where}: {undone}its schema revision {found.revision} is older than the "
                            f"{found.head} this MLflow needs; run 'plexus store upgrade {mask_url(uri)}' "
                            "(it copies a SQLite store first)")
    if found.state == "newer":
        raise TrackingError(f"{where}: schema revision {found.revision} was written by a newer MLflow; "
                            "upgrade mlflow in this environment (pip install -U mlflow)")
    if undone:
        raise TrackingError(f"{where}: {undone}run 'plexus store upgrade {mask_url(uri)}' to upgrade it again")


@contextlib.contextmanager
def _term_as_interrupt():
    """SIGTERM raises KeyboardInterrupt while the migration runs, so the copy is restored before exiting."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def _raise(signum, frame):
        raise KeyboardInterrupt

    old = signal.signal(signal.SIGTERM, _raise)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, old)


def _migrate(uri: str, start: str | None, echo: Echo) -> None:
    """Apply MLflow's migrations after ``start``.

    PostgreSQL: all in one Alembic command, hence one transaction (all or nothing). SQLite: one revision at a
    time, each in its own transaction, so that a killed upgrade stops between revisions (the copy covers it).
    """
    from alembic import command
    from mlflow.store.db.utils import _get_alembic_config

    cfg = _get_alembic_config(uri)
    if sqlite_path(uri) is None:
        command.upgrade(cfg, "heads")
        return
    steps = [r.revision for r in _script().iterate_revisions("heads", start)][::-1]
    delay = float(os.environ.get(STEP_DELAY_ENV, "0") or 0)
    for i, rev in enumerate(steps, 1):
        command.upgrade(cfg, rev)
        if delay:
            echo(f"migrated revision {rev} ({i}/{len(steps)})")
            time.sleep(delay)


def upgrade_sqlite_file(db: Path, where: str, old: str | None, new: str | None, migrate: Callable[[], None],
                        echo: Echo) -> None:
    """Copy ``db`` to ``<db>.bak-<old>``, write the marker, run ``migrate``; restore the copy if it fails.

    The caller holds the store lock. Raises :class:`TrackingError` (the store unchanged or restored), or
    :class:`UpgradeInterrupted` on Ctrl-C / SIGTERM (restored).
    """
    from plexus.platform.tracking._store import _cause

    backup = Path(f"{db}.bak-{old}")
    for path in (db, db.parent):
        if not os.access(path, os.W_OK):  # also false for root on a read-only file system
            raise TrackingError(f"{where}: {path} is not writable; the store was not changed")
    try:
        _copy_db(db, backup)
    except (OSError, sqlite3.Error) as exc:
        raise TrackingError(f"{where}: cannot copy it to {backup.name} before upgrading "
                            f"({getattr(exc, 'strerror', None) or exc}); the store was not changed") from None
    try:
        tmp = Path(f"{_marker(db)}.tmp")
        tmp.write_text(json.dumps({"backup": str(backup), "from": old, "to": new, "pid": os.getpid(),
                                   "started": time.time()}))
        os.replace(tmp, _marker(db))
        _fsync_dir(db.parent)
    except OSError as exc:
        raise TrackingError(f"{where}: cannot write {_marker(db).name} ({exc.strerror or exc}); "
                            "the store was not changed") from None
    echo(f"copied {db.name} to {backup.name} (schema {old})")
    try:
        with _term_as_interrupt():
            migrate()
    except BaseException as exc:
        try:
            _restore(db, backup)
        except (OSError, sqlite3.Error) as again:  # the marker stays: the next open tries again
            raise TrackingError(f"{where}: upgrade from {old} failed ({_cause(exc)}) and restoring the copy "
                                f"{backup.name} failed too ({again}); the copy is intact: free space or fix "
                                "permissions, then run 'plexus store repair'") from exc
        _marker(db).unlink(missing_ok=True)
        if isinstance(exc, KeyboardInterrupt):
            raise UpgradeInterrupted(f"{where}: upgrade interrupted; restored the copy {backup.name}, "
                                     "the store is as it was") from None
        if not isinstance(exc, Exception):
            raise
        raise TrackingError(f"{where}: upgrade from {old} failed ({_cause(exc)}); restored the copy "
                            f"{backup.name}, the store is as it was") from exc
    _marker(db).unlink()
    _fsync_dir(db.parent)
    echo(f"{where}: upgraded from schema {old} to {new}; the copy {backup.name} is kept")


def upgrade_store(uri: str, echo: Echo = lambda _m: None) -> StoreState:
    """Upgrade the schema of tracking store ``uri`` to this MLflow's revision; returns its new state.

    SQLite: copy, marker, stepwise migration, restore on failure (module docstring); the copy is kept.
    A SQLite Optuna storage is upgraded the same way, to the installed Optuna's schema.
    PostgreSQL: MLflow's migration in one transaction. A new store is created; a current one is left alone.
    Errors are :class:`TrackingError` saying whether the store was restored.
    """
    from plexus.platform.tracking._store import _cause, _create_schema, quiet_mlflow_logs

    quiet_mlflow_logs()
    where = f"tracking store {mask_url(uri)}"
    with store_lock(uri, key=TRACKING_LOCK_KEY, what="tracking store", error=TrackingError):
        db = sqlite_path(uri)
        if db is not None and _marker(db).exists():
            echo(_undo_interrupted(db, uri))
        from plexus.platform.tracking._optuna_schema import is_optuna_file, upgrade_optuna

        if db is not None and db.is_file() and is_optuna_file(db):
            upgrade_optuna(uri, db, echo)
            return inspect_store(uri)
        found = inspect_store(uri)
        if found.state in ("not-checked", "current"):
            echo(f"{where} is {found.state}" + (f" (schema {found.revision})" if found.revision else ""))
            return found
        if found.state in ("half-migrated", "unreadable", "newer"):
            hint = "; run 'plexus store repair'" if found.state == "half-migrated" else ""
            raise TrackingError(f"{where} cannot be upgraded: it is {found.detail}{hint}")
        if found.state == "new":
            _create_schema(uri)
            echo(f"{where}: created at schema {found.head}")
            return inspect_store(uri)
        if db is None:  # PostgreSQL
            echo(f"{where}: upgrading from schema {found.revision} in one transaction")
            try:
                _migrate(uri, found.revision, echo)
            except Exception as exc:
                raise TrackingError(f"{where}: upgrade from {found.revision} failed ({_cause(exc)}); "
                                    "the migration runs in one transaction, the database is as it was") from exc
            echo(f"{where}: upgraded from schema {found.revision} to {found.head}")
            return inspect_store(uri)
        upgrade_sqlite_file(db, where, found.revision, found.head, lambda: _migrate(uri, found.revision, echo),
                            echo)
        return inspect_store(uri)


def repair_store(uri: str, echo: Echo = lambda _m: None) -> StoreState:
    """Do what is safe for a broken SQLite store; returns its state afterwards.

    An interrupted upgrade: restore its copy. A half-migrated file with a copy ``<db>.bak-*`` beside it: move
    the file aside to ``<db>.broken-<time>`` (nothing is deleted) and restore the newest copy. Without a copy,
    a :class:`TrackingError` says what the user can do. Anything else is left alone.
    """
    where = f"tracking store {mask_url(uri)}"
    with store_lock(uri, key=TRACKING_LOCK_KEY, what="tracking store", error=TrackingError):
        db = sqlite_path(uri)
        if db is not None and _marker(db).exists():
            echo(f"{where}: " + _undo_interrupted(db, uri))
            return inspect_store(uri)
        found = inspect_store(uri)
        if found.state not in ("half-migrated", "unreadable"):
            echo(f"{where} is {found.state}: nothing to repair"
                 + ("; run 'plexus store upgrade'" if found.state == "out-of-date" else ""))
            return found
        if db is None:
            raise TrackingError(f"{where}: {found.detail}; Plexus can repair SQLite stores only: "
                                "restore the database from your own dump")
        if not found.backups:
            raise TrackingError(f"{where} is {found.detail}, and there is no copy {db.name}.bak-* beside it; "
                                f"restore {db} from your own backup, or move it aside to start a new store")
        backup = Path(found.backups[0])
        aside = db.with_name(f"{db.name}.broken-{time.strftime('%Y%m%dT%H%M%S')}")
        os.replace(db, aside)
        for side in ("-journal", "-wal", "-shm"):
            Path(f"{db}{side}").unlink(missing_ok=True)
        _copy_db(backup, db)
        echo(f"{where}: {found.detail}; moved it to {aside.name} and restored the copy {backup.name} "
             "(runs made after that copy are only in the moved file)")
        return inspect_store(uri)
