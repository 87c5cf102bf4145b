"""Tracking store resolution, reachability checks and secret masking."""

from __future__ import annotations

import logging
import os
import sys
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit

from plexus.platform.errors import TrackingError
from plexus.platform.masking import mask_secrets, mask_text, mask_url

__all__ = [
    "default_artifact_root",
    "describe_store_error",
    "ensure_reachable",
    "mask_secrets",
    "mask_text",
    "mask_url",
    "note_store",
    "prepare_tracking_store",
    "quiet_mlflow_logs",
    "resolve_tracking_uri",
    "using_tracking_uri",
]

os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")


def quiet_mlflow_logs() -> None:
    """MLflow's INFO lines ("Creating initial MLflow database tables...") off the CLI's stderr.

    ``import mlflow`` configures its logger (level INFO, own handler) when it first runs, so the level is set
    after that import; a level set before it would be overwritten. Without ``--debug`` the database errors
    MLflow's store logs (with their SQL) before raising them are silenced too: the CLI reports them.
    """
    import mlflow  # noqa: F401

    logging.getLogger("mlflow").setLevel(logging.WARNING)
    if not os.environ.get("PLEXUS_DEBUG"):
        # the store logs each database error with its SQL before raising it; the CLI reports it in one line
        logging.getLogger("mlflow.store.db.utils").setLevel(logging.CRITICAL)


def default_artifact_root() -> Path:
    """The default tracking store's folder: ``$PLEXUS_HOME`` when set, else ``./mlruns``."""
    home = os.environ.get("PLEXUS_HOME")
    return (Path(home).expanduser().absolute() if home else Path.cwd() / "mlruns")


def resolve_tracking_uri(uri: str | None = None) -> str:
    """``uri`` > ``$MLFLOW_TRACKING_URI`` > ``sqlite:///<default_artifact_root()>/mlflow.db``."""
    quiet_mlflow_logs()
    uri = uri or os.environ.get("MLFLOW_TRACKING_URI")
    if uri:
        return uri
    root = default_artifact_root()
    root.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{root / 'mlflow.db'}"


def ensure_reachable(uri: str, timeout: float = 5.0) -> None:
    """Fail fast, in one line, when the tracking store cannot be used."""
    scheme = urlsplit(uri).scheme
    if scheme.split("+", 1)[0] not in ("", "file", "http", "https", "sqlite", "postgresql", "mysql", "mssql",
                                       "databricks", "databricks-uc", "uc"):
        raise TrackingError(f"tracking URI {mask_url(uri)}: unsupported scheme '{scheme}' "
                            "(use sqlite:///..., postgresql://..., http(s)://... or a folder)")
    if scheme in ("http", "https"):
        url = uri.rstrip("/") + "/health"
        try:
            with urllib.request.urlopen(url, timeout=timeout) as resp:
                if resp.status >= 400:
                    raise TrackingError(f"tracking server {mask_url(uri)} answered HTTP {resp.status}")
        except (urllib.error.URLError, OSError, ValueError) as exc:
            reason = getattr(exc, "reason", exc)
            raise TrackingError(f"tracking server {mask_url(uri)} is unreachable ({mask_text(str(reason))})") from None
        from plexus.platform.tracking._http import check_http_credentials

        check_http_credentials(uri, mask_url(uri))
    elif scheme == "sqlite":
        path = Path(uri.split(":///", 1)[1]) if ":///" in uri else None
        if path is not None and not os.access(path.parent if path.parent.exists() else Path.cwd(), os.W_OK):
            raise TrackingError(f"tracking store {uri}: directory is not writable")
    elif scheme.startswith(("postgresql", "mysql")):
        import sqlalchemy

        try:
            eng = sqlalchemy.create_engine(uri, connect_args={"connect_timeout": int(timeout)}
                                           if scheme.startswith("postgresql") else {})
            with eng.connect():
                pass
        except Exception as exc:  # noqa: BLE001 - driver errors vary; one line with the password masked
            first = mask_text(str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__)
            raise TrackingError(f"tracking store {mask_url(uri)} is unreachable: {first}") from None
    prepare_tracking_store(uri)


_PREPARED: set[str] = set()
_PREPARING = threading.Lock()


def prepare_tracking_store(uri: str) -> None:
    """Create the schema of a new SQLite / PostgreSQL tracking store under an inter-process lock.

    Once per process and URI. Concurrent processes on a new store wait for the first one (a line on stderr
    after 3 s). A store at an older schema revision, or left half-migrated, is refused, unchanged, with a
    :class:`TrackingError` naming the command to run (``plexus store upgrade`` / ``repair``); a SQLite store
    whose ``plexus store upgrade`` was killed is first restored from its copy (see ``_schema``).
    Other schemes (http(s) servers, folders) are left alone.
    """
    from plexus.platform.tracking._lock import TRACKING_LOCK_KEY, store_lock
    from plexus.platform.tracking._schema import check_schema

    note_store("tracking store", uri)
    scheme = urlsplit(uri).scheme.split("+", 1)[0]
    if scheme not in ("sqlite", "postgresql") or uri in _PREPARED:
        return
    with _PREPARING:
        if uri in _PREPARED:
            return
        with store_lock(uri, key=TRACKING_LOCK_KEY, what="tracking store", error=TrackingError):
            check_schema(uri)  # refuses half-migrated and out-of-date stores (MLflow would migrate without a copy)
            _create_schema(uri)
        _PREPARED.add(uri)


def _create_schema(uri: str) -> None:
    """Open the store once: MLflow creates the tables of a new store and checks the schema version."""
    import alembic.util
    import sqlalchemy.exc
    from mlflow.exceptions import MlflowException
    from mlflow.tracking import MlflowClient

    quiet_mlflow_logs()
    _seed_new_sqlite_store(uri)
    try:
        MlflowClient(uri).search_experiments(max_results=1)
    except (MlflowException, sqlalchemy.exc.SQLAlchemyError, alembic.util.CommandError) as exc:
        if os.environ.get("PLEXUS_DEBUG"):
            raise
        raise TrackingError(f"tracking store {mask_url(uri)} cannot be opened: {_cause(exc)}") from exc


def _seed_new_sqlite_store(uri: str) -> None:
    """A new SQLite store starts as a copy of an empty one already at MLflow's schema head.

    MLflow creates a store by running its ~50 schema migrations, about 1 s, which every new store (each
    project, each test, each benchmark trial in fresh stores) would pay again. The empty, migrated store is
    made once per MLflow version under ``$PLEXUS_DATA/cache/tracking`` and copied in; MLflow then finds its
    tables at head and adds only the default experiment, with this store's artifact root. Any problem
    leaves the store to MLflow, as before.
    """
    import mlflow
    from plexus.platform.data.paths import cache_dir
    from plexus.platform.tracking._lock import sqlite_path
    from plexus.platform.tracking._schema import _copy_db, inspect_store

    db = sqlite_path(uri)
    if db is None or db.exists():
        return
    try:
        template = cache_dir("tracking") / f"mlflow-{mlflow.__version__}-empty.db"
        if not template.exists():
            import sqlalchemy
            from mlflow.store.db.utils import _initialize_tables

            tmp = template.with_name(f"{template.name}.{os.getpid()}.tmp")
            engine = sqlalchemy.create_engine(f"sqlite:///{tmp}")
            try:
                _initialize_tables(engine)  # the migrations only: no default experiment, no artifact root
                engine.dispose()
                os.replace(tmp, template)
            finally:
                engine.dispose()
                tmp.unlink(missing_ok=True)
        if inspect_store(f"sqlite:///{template}").state != "current":
            template.unlink(missing_ok=True)
            return
        db.parent.mkdir(parents=True, exist_ok=True)
        _copy_db(template, db)  # the caller holds the store's lock: its fixed temporary name is safe
    except Exception:  # noqa: BLE001 - only a shortcut (_copy_db leaves no partial file): MLflow creates the schema
        return


def _cause(exc: BaseException) -> str:
    """The database's reason for a store error: the first line of the driver's message, secrets masked."""
    text = str(getattr(exc, "orig", None) or getattr(exc, "message", None) or exc).strip()
    return mask_text(text.splitlines()[0] if text else type(exc).__name__)


_LAST_STORE: dict[str, str] = {}  # "tracking store" / "storage" -> the URI this process opened last


def note_store(kind: str, uri: str) -> None:
    """Remember the store of ``kind`` this process uses, to name it in :func:`describe_store_error`."""
    _LAST_STORE[kind] = uri


def _chain(exc: BaseException) -> list[BaseException]:
    out: list[BaseException] = []
    cur: BaseException | None = exc
    while cur is not None and cur not in out and len(out) < 10:
        out.append(cur)
        cur = cur.__cause__ or cur.__context__
    return out


def _frames(exc: BaseException) -> list[str]:
    files: list[str] = []
    for e in _chain(exc):
        tb = e.__traceback__
        while tb is not None:
            files.append(tb.tb_frame.f_code.co_filename.replace("\\", "/"))
            tb = tb.tb_next
    return files


def describe_store_error(exc: BaseException) -> str | None:
    """One line for a storage failure (SQLAlchemy, Alembic, or MLflow's store errors), None for anything else.

    Names the store (password masked) and the database's reason: ``tracking store sqlite:///…/mlflow.db:
    attempt to write a readonly database``. An ``MlflowException`` counts only when it comes from the
    database (wraps a SQLAlchemy error, is TEMPORARILY_UNAVAILABLE, or is raised by ``mlflow/store/db``,
    e.g. a schema of the wrong version); others (invalid parameters, missing runs) stay bugs with tracebacks.
    """
    families: list[type] = []
    sa = sys.modules.get("sqlalchemy.exc")
    if sa is not None:
        families.append(sa.SQLAlchemyError)
    al = sys.modules.get("alembic.util.exc")
    if al is not None:
        families.append(al.CommandError)
    ml = sys.modules.get("mlflow.exceptions")
    if not families and ml is None:
        return None
    chain = _chain(exc)
    frames = _frames(exc)
    root = next((e for e in chain if families and isinstance(e, tuple(families))), None)
    if not (families and isinstance(exc, tuple(families))):
        if ml is None or not isinstance(exc, ml.MlflowException):
            return None
        if root is None and exc.error_code != "TEMPORARILY_UNAVAILABLE" and not any(
                "/mlflow/store/db/" in f for f in frames):
            return None
    root = root or exc
    cause = _cause(root)[:500]
    kind = "storage" if any("/optuna/" in f for f in frames) else "tracking store"
    uri = _LAST_STORE.get(kind) or next(iter(_LAST_STORE.values()), "")
    return f"{kind} {mask_url(uri)}: {cause}" if uri else f"{kind}: {cause}"


@contextmanager
def using_tracking_uri(uri: str) -> Iterator[None]:
    """Point MLflow's fluent API (``mlflow.start_run``, ``models:/`` URIs) at ``uri`` for a block, then back.

    ``mlflow.set_tracking_uri`` is process-global, outranks ``MLFLOW_TRACKING_URI`` and rewrites that
    variable: a service that left it set would send a later ``mlflow.pyfunc.load_model`` in the same
    process, and every subprocess, to the wrong store. Both are restored."""
    from mlflow.tracking._tracking_service import utils

    previous, env = utils._tracking_uri, os.environ.get("MLFLOW_TRACKING_URI")
    utils.set_tracking_uri(uri)
    try:
        yield
    finally:
        utils.set_tracking_uri(previous)  # also resets MLflow's tracer provider
        if env is None:
            os.environ.pop("MLFLOW_TRACKING_URI", None)
        else:
            os.environ["MLFLOW_TRACKING_URI"] = env
