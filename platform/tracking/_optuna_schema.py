"""Optuna storages in SQLite files: their schema version, upgraded with a copy like tracking stores.

Optuna refuses a storage made by an older Optuna and tells the user to run ``optuna storage upgrade``, which
migrates it in place with no copy. ``plexus store upgrade sqlite:///…/optuna.db`` instead copies it, leaves
the marker and restores the copy if the upgrade fails or is killed (``_schema.upgrade_sqlite_file``);
:func:`optuna_sqlite_problem` (called by ``open_storage`` under the storage lock) restores a killed upgrade's
copy and names the command to run for an out-of-date storage.
"""

from __future__ import annotations

import functools
import sqlite3
from pathlib import Path

from plexus.platform.masking import mask_url
from plexus.platform.tracking._lock import sqlite_path

__all__ = ["is_optuna_file", "optuna_sqlite_problem", "optuna_state", "upgrade_optuna"]


def is_optuna_file(db: Path) -> bool:
    """Whether the SQLite file ``db`` holds an Optuna storage (and no MLflow tables)."""
    from plexus.platform.tracking._schema import _sqlite_revision

    try:
        tables, _ = _sqlite_revision(db)
    except sqlite3.Error:
        return False
    return {"studies", "version_info"} <= tables and "experiments" not in tables


@functools.lru_cache(maxsize=1)
def _script():
    from alembic.config import Config
    from alembic.script import ScriptDirectory
    from optuna.storages._rdb import storage

    here = Path(storage.__file__).parent
    cfg = Config(str(here / "alembic.ini"))
    cfg.set_main_option("script_location", str(here / "alembic"))
    return ScriptDirectory.from_config(cfg)


def optuna_state(uri: str, db: Path, backups: list[str]):
    """The ``StoreState`` of the Optuna storage file ``db`` (read-only look)."""
    import alembic.util
    from plexus.platform.tracking._schema import StoreState, _sqlite_revision

    head = _script().get_current_head()
    _, rev = _sqlite_revision(db)
    if rev == head:
        return StoreState(uri, "current", rev, head, "an Optuna storage", backups)
    try:
        known = rev is None or _script().get_revision(rev) is not None
    except alembic.util.CommandError:
        known = False
    if not known:
        return StoreState(uri, "newer", rev, head, "an Optuna storage written by a newer Optuna", backups)
    return StoreState(uri, "out-of-date", rev, head, "an Optuna storage", backups)


def optuna_sqlite_problem(url: str) -> str | None:
    """Why the SQLite Optuna storage at ``url`` must not be opened as it is (None: open it). Caller holds its lock.

    A killed ``plexus store upgrade`` is undone first (its copy restored) and the reason says so.
    """
    from plexus.platform.tracking._schema import _marker, _undo_interrupted
    db = sqlite_path(url)
    if db is None or not db.is_file():
        return None
    undone = _undo_interrupted(db, url, "Optuna storage") + "; " if _marker(db).exists() else ""
    if db.stat().st_size == 0 or not is_optuna_file(db):
        return undone + "run 'plexus store check' on it" if undone else None
    state = optuna_state(url, db, [])
    if state.state == "out-of-date":
        return (f"{undone}its schema {state.revision} is older than the {state.head} this Optuna needs; run "
                f"'plexus store upgrade {mask_url(url)}' (it copies the file first)")
    if state.state == "newer":
        return f"schema {state.revision} was written by a newer Optuna; upgrade optuna in this environment"
    return f"{undone}run 'plexus store upgrade {mask_url(url)}' to upgrade it again" if undone else None


def upgrade_optuna(uri: str, db: Path, echo) -> None:
    """Upgrade the Optuna storage file ``db`` with a copy (the caller holds the storage lock)."""
    from plexus.platform.errors import TrackingError
    from plexus.platform.tracking._schema import upgrade_sqlite_file
    where = f"Optuna storage {mask_url(uri)}"
    state = optuna_state(uri, db, [])
    if state.state == "current":
        echo(f"{where} is current (schema {state.revision})")
        return
    if state.state == "newer":
        raise TrackingError(f"{where}: {state.detail}; upgrade optuna in this environment")

    def migrate() -> None:
        import warnings

        import optuna

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            storage = optuna.storages.RDBStorage(uri, skip_compatibility_check=True)
        try:
            storage.upgrade()
        finally:
            storage.engine.dispose()

    upgrade_sqlite_file(db, where, state.revision, state.head, migrate, echo)
