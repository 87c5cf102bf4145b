"""Optuna storage: opening it safely (passwords masked), heartbeats, retries and the trial budget."""

from __future__ import annotations

import contextlib
import os
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from plexus.platform.search._settings import StorageError
from plexus.platform.tracking import (
    OPTUNA_LOCK_KEY,
    files_root,
    mask_text,
    mask_url,
    note_store,
    optuna_sqlite_problem,
    store_lock,
)

__all__ = [
    "RUN_ID_ATTR",
    "SURPLUS_ATTR",
    "Budget",
    "StaleTrialHandler",
    "budget",
    "default_storage_url",
    "is_surplus",
    "open_storage",
]

RUN_ID_ATTR = "mlflow_run_id"  # user attr on each Optuna trial: its MLflow run
SURPLUS_ATTR = (
    "plexus.surplus"  # a trial asked after the budget was spent (a race between workers); not counted
)


def default_storage_url(tracking_uri: str | None = None) -> str:
    """``optuna.db`` in the folder of Plexus's files for ``tracking_uri`` (see ``tracking._locations``)."""

    return f"sqlite:///{files_root(tracking_uri) / 'optuna.db'}"


def _first_line(exc: BaseException) -> str:
    text = str(getattr(exc, "orig", None) or exc).strip()
    return mask_text(text.splitlines()[0] if text else type(exc).__name__)


class StaleTrialHandler:
    """Called (by any worker) for a trial whose worker stopped sending heartbeats.

    Marks the trial's MLflow run FAILED (``plexus.state=FAIL``) and enqueues a retry
    with the same parameters (Optuna's ``RetryHeartbeatStaleTrialCallback``).
    """

    def __init__(self, max_retry: int, grace: int) -> None:
        from optuna.storages import RetryHeartbeatStaleTrialCallback

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            self.retry = RetryHeartbeatStaleTrialCallback(max_retry=max_retry)
        self.grace = grace
        self.tracking_uri: str | None = None
        self.echo: Any = None

    def __call__(self, study: Any, trial: Any) -> None:
        run_id = trial.user_attrs.get(RUN_ID_ATTR)
        if run_id and self.tracking_uri:
            try:
                from mlflow.tracking import MlflowClient

                client = MlflowClient(self.tracking_uri)
                if client.get_run(run_id).info.status == "RUNNING":
                    client.set_tag(run_id, "plexus.state", "FAIL")
                    client.set_tag(
                        run_id, "plexus.failure_reason", f"worker died: no heartbeat for {self.grace} s"
                    )
                    client.set_terminated(run_id, status="FAILED")
            except Exception:  # noqa: BLE001,S110 - the Optuna retry matters more than the MLflow mark
                pass
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            self.retry(study, trial)
        if self.echo is not None:
            self.echo(
                f"trial {trial.number}: its worker died (no heartbeat for {self.grace} s); "
                f"retrying it with the same parameters"
            )


_CREATED: set[str] = set()  # storages this process created or opened (their schema exists): no lock needed


def open_storage(url: str, *, heartbeat_interval: int = 0, grace: int = 0, max_retry: int = 3) -> Any:
    """Open (and create the schema of) an Optuna RDB storage; errors are one masked line.

    The first open in a process holds an inter-process lock (SQLite: ``<file>.lock``; PostgreSQL: an
    advisory lock), so that workers started together on a new storage create its schema once.
    """
    import optuna

    try:
        scheme = urlsplit(url).scheme
    except ValueError:
        scheme = ""
    if not scheme or "://" not in url:
        raise StorageError(
            f"storage '{mask_text(url)}' is not a URL (e.g. sqlite:///optuna.db or "
            "postgresql://user:password@host/db)"
        )
    engine: dict[str, Any] = {}
    if scheme == "sqlite":
        path = url.split(":///", 1)[1] if ":///" in url else ""
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
            if not os.access(Path(path).parent, os.W_OK):
                raise StorageError(f"storage {url}: directory is not writable")
        engine = {"connect_args": {"timeout": 60}}
    elif scheme.startswith("postgresql"):
        engine = {"connect_args": {"connect_timeout": 10}, "pool_pre_ping": True}
    elif scheme.startswith("mysql"):
        engine = {"pool_pre_ping": True}
    handler = StaleTrialHandler(max_retry, grace) if heartbeat_interval else None
    note_store("storage", url)
    # a new storage's schema is created once, under an inter-process lock (concurrent workers would race)
    lock = contextlib.nullcontext() if url in _CREATED else store_lock(
        url, key=OPTUNA_LOCK_KEY, what="Optuna storage", error=StorageError)
    try:
        with lock, warnings.catch_warnings():
            warnings.simplefilter("ignore")  # heartbeat options are experimental
            # an out-of-date SQLite storage is upgraded with a copy by 'plexus store upgrade', not in place
            problem = None if url in _CREATED or scheme != "sqlite" else optuna_sqlite_problem(url)
            if problem:
                raise StorageError(f"storage {mask_url(url)}: {problem}")
            storage = optuna.storages.RDBStorage(
                url,
                engine_kwargs=engine,
                heartbeat_interval=heartbeat_interval or None,
                grace_period=grace if heartbeat_interval else None,
                heartbeat_stale_trial_callback=handler,
            )
        _CREATED.add(url)
    except StorageError:
        raise
    except ModuleNotFoundError as exc:
        hint = " (pip install 'psycopg[binary]')" if scheme.startswith("postgresql") else ""
        raise StorageError(f"storage {mask_url(url)}: database driver missing: {exc.name}{hint}") from None
    except Exception as exc:  # noqa: BLE001 - driver errors vary; one line, password masked
        raise StorageError(f"storage {mask_url(url)} is unusable: {_first_line(exc)}") from None
    storage.plexus_stale_handler = handler
    return storage


@dataclass
class Budget:
    """Where a study stands against its budget (retried and surplus trials are not counted)."""

    done: int
    running: int
    waiting: int
    counts: dict[str, int]


def _superseded(trials: list[Any]) -> set[int]:
    out: set[int] = set()
    for t in trials:
        out.update(t.system_attrs.get("retry_history", []))
    return out


def budget(study: Any) -> Budget:
    from optuna.trial import TrialState

    trials = study.get_trials(deepcopy=False)
    gone = _superseded(trials)
    counts: dict[str, int] = {}
    done = running = waiting = 0
    for t in trials:
        if t.user_attrs.get(SURPLUS_ATTR):
            continue
        retried = t.number in gone
        state = "RETRIED" if retried else t.state.name
        counts[state] = counts.get(state, 0) + 1
        if retried:
            continue
        if t.state in (TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL):
            done += 1
        elif t.state == TrialState.RUNNING:
            running += 1
        elif t.state == TrialState.WAITING:
            waiting += 1
    return Budget(done, running, waiting, counts)


def is_surplus(study: Any, number: int, n_trials: int) -> bool:
    """True when ``number`` lies beyond the budget among the study's live trials (decided by trial number)."""
    trials = study.get_trials(deepcopy=False)
    gone = _superseded(trials)
    live = sorted(t.number for t in trials if t.number not in gone and not t.user_attrs.get(SURPLUS_ATTR))
    return number in live and live.index(number) >= n_trials
