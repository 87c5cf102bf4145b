"""Concurrent first use of a new store, half-migrated and read-only stores.

Several ``plexus`` processes started together on a new tracking store (or Optuna storage) must create its
schema once, under an inter-process lock, and all succeed; a store left half-migrated or that cannot be
written is refused in one line (exit 2), the file unchanged.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from reliability_helpers import assert_one_line_error, run_cli, runs

EPOCHS = 2
TRAIN = ["train", "lr", "--dataset", "synthetic-behavior", "--set", f"epochs={EPOCHS}", "--set",
         "dataset_options.num_users=200", "--set", "tracking.log_model=false"]
PROCS = 8
LIMIT_S = 560  # all eight together, on a busy two-core machine (each process imports torch and MLflow)
EPOCH_METRICS = {"train_loss", "val_auc", "val_logloss"}  # one value per epoch
FINAL_METRICS = {"best_val_auc", "test_auc", "test_logloss", "best_epoch", "duration_s"}


def _train_cmd(seed: int) -> list[str]:
    return [sys.executable, "-m", "plexus.cli", *TRAIN, "--set", f"seed={seed}", "--json"]


def _env(uri: str, tmp_path: Path) -> dict:
    env = {**os.environ, "MLFLOW_TRACKING_URI": uri, "PLEXUS_DATA": str(tmp_path / "data"),
           "PLEXUS_OFFLINE": "1", "OMP_NUM_THREADS": "1"}
    env.pop("PLEXUS_DEBUG", None)
    return env


def _start_trains(n: int, env: dict, cwd: Path) -> list[subprocess.Popen]:
    return [subprocess.Popen(_train_cmd(i), cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             text=True) for i in range(1, n + 1)]


def _finish(procs: list[subprocess.Popen], start: float) -> list[tuple[str, str]]:
    outs = []
    try:
        for p in procs:
            outs.append(p.communicate(timeout=max(1.0, LIMIT_S - (time.monotonic() - start))))
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
    return outs


def assert_trained(uri: str, procs: list[subprocess.Popen], outs: list[tuple[str, str]]) -> list[dict]:
    """Every process exited 0 without a traceback or a lock error; every run FINISHED with all its metrics."""
    from mlflow.tracking import MlflowClient

    for p, (_, err) in zip(procs, outs):
        assert p.returncode == 0, err[-3000:]
        assert "Traceback" not in err and "locked" not in err, err[-3000:]
    results = [json.loads(out) for out, _ in outs]
    found = runs(uri)
    client = MlflowClient(uri)
    assert len({r["run_id"] for r in results}) == len(procs)
    for r in results:
        run = found[r["run_id"]]
        assert run.info.status == "FINISHED"
        assert EPOCH_METRICS | FINAL_METRICS <= set(run.data.metrics), sorted(run.data.metrics)
        for key in EPOCH_METRICS:
            assert sorted(m.step for m in client.get_metric_history(r["run_id"], key)) == list(range(1, EPOCHS + 1))
    return results


def _train_together(uri: str, tmp_path: Path, record) -> list[dict]:
    """``PROCS`` ``plexus train`` processes started at once on ``uri`` with a shared, new ``$PLEXUS_DATA``.

    Asserts that all exit 0 and every run is FINISHED with all its metrics; then a further single run works.
    """
    env = _env(uri, tmp_path)
    start = time.monotonic()
    procs = _start_trains(PROCS, env, tmp_path)
    outs = _finish(procs, start)
    codes = [p.returncode for p in procs]
    waited = sum("waiting for another process to create the tracking store" in err for _, err in outs)
    record(f"{PROCS} concurrent `plexus train` processes on a new store: exit codes {codes}, "
           f"{waited} printed the waiting line, {time.monotonic() - start:.0f} s")
    results = assert_trained(uri, procs, outs)
    one_more = subprocess.run(_train_cmd(PROCS + 1), check=False, cwd=tmp_path, env=env, capture_output=True,
                              text=True, timeout=300)
    assert one_more.returncode == 0, one_more.stderr[-3000:]
    assert runs(uri)[json.loads(one_more.stdout)["run_id"]].info.status == "FINISHED"
    record(f"run {PROCS + 1} afterwards: exit 0, FINISHED")
    return results


def test_concurrent_train_on_new_sqlite_store(tmp_path: Path, record) -> None:
    """Eight `plexus train` processes started together on a new SQLite tracking store all succeed.

    The store is created once under the file lock ``mlflow.db.lock``; the shared, new data cache is filled by
    the eight processes at once too. Every run FINISHED with every per-epoch and final metric; a 9th run
    afterwards works.
    """
    db = tmp_path / "runs" / "mlflow.db"
    _train_together(f"sqlite:///{db}", tmp_path, record)
    assert (tmp_path / "runs" / "mlflow.db.lock").exists()




@pytest.mark.postgres
def test_concurrent_train_on_new_postgres_store(postgres: dict, tmp_path: Path, record) -> None:
    """Eight `plexus train` processes started together on a new PostgreSQL tracking database all succeed.

    The schema is created once under a PostgreSQL advisory lock; every run FINISHED with all its metrics;
    a 9th run afterwards works.
    """
    import psycopg

    base = postgres["url"].rsplit("/", 1)[0]
    with psycopg.connect(f"{base}/postgres", autocommit=True) as c:
        c.execute("CREATE DATABASE tracking_concurrency")
    uri = f"{base}/tracking_concurrency".replace("postgresql://", "postgresql+psycopg://", 1)
    _train_together(uri, tmp_path, record)


# a search with worker processes and trainings started at once on one new store; 4 + 2 rather than 8 + 4 because
# 8 trainings next to 4 workers (13 processes importing torch) take over 10 minutes on a loaded two-core box
TRAINS_WITH_SEARCH = 4
SEARCH_WORKERS = 2
SEARCH_TRIALS = 4


def test_trainings_and_a_search_share_a_new_store(tmp_path: Path, record) -> None:
    """`plexus train` processes and a `plexus search --workers 2` started together on one new SQLite store.

    The tracking store and the Optuna storage (beside it) are both new; every training FINISHED with all its
    metrics; the search ran its whole budget, each worker exited 0, no trial or run is left RUNNING.
    """
    import optuna

    db = tmp_path / "runs" / "mlflow.db"
    uri, storage = f"sqlite:///{db}", f"sqlite:///{db.parent / 'optuna.db'}"
    env = _env(uri, tmp_path)
    start = time.monotonic()
    search = subprocess.Popen(
        [sys.executable, "-m", "plexus.cli", "search", "lr", "--dataset", "synthetic-behavior",
         "--trials", str(SEARCH_TRIALS), "--workers", str(SEARCH_WORKERS), "--study", "shared", "--storage",
         storage, "--set", "epochs=1", "--set", "dataset_options.num_users=200", "--set",
         "search.log_models=none", "--set", "search.register=false", "--json"],
        cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    procs = _start_trains(TRAINS_WITH_SEARCH, env, tmp_path)
    outs = _finish([search, *procs], start)
    record(f"{TRAINS_WITH_SEARCH} trainings and a {SEARCH_WORKERS}-worker search on a new store: exit codes "
           f"{[search.returncode] + [p.returncode for p in procs]}, {time.monotonic() - start:.0f} s")
    assert search.returncode == 0, outs[0][1][-3000:]
    assert "Traceback" not in outs[0][1] and "locked" not in outs[0][1]
    result = json.loads(outs[0][0])
    assert result["workers"] == {"count": SEARCH_WORKERS, "exit_codes": [0] * SEARCH_WORKERS}
    assert_trained(uri, procs, outs[1:])
    counted = [t for t in optuna.load_study(study_name="shared", storage=storage).trials
               if not t.user_attrs.get("plexus.surplus")]
    assert len(counted) == SEARCH_TRIALS and all(t.state.name in ("COMPLETE", "PRUNED") for t in counted)
    found = runs(uri)
    assert all(r.info.status != "RUNNING" for r in found.values())
    assert {t.user_attrs["mlflow_run_id"] for t in counted} <= set(found)


OPEN_PROCS = 4
OPEN_STORAGE = "import sys; from plexus.platform.search._storage import open_storage; open_storage(sys.argv[1])"


def test_concurrent_open_of_new_optuna_storage(tmp_path: Path, record) -> None:
    """Four processes opening a new SQLite Optuna storage at once all succeed (schema created once, locked)."""
    url = f"sqlite:///{tmp_path / 'optuna.db'}"
    procs = [subprocess.Popen([sys.executable, "-c", OPEN_STORAGE, url], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for _ in range(OPEN_PROCS)]
    outs = [p.communicate(timeout=240) for p in procs]
    codes = [p.returncode for p in procs]
    record(f"{OPEN_PROCS} concurrent open_storage() on a new SQLite storage: exit codes {codes}")
    assert codes == [0] * OPEN_PROCS, [err[-2000:] for _, err in outs]
    import optuna

    optuna.create_study(storage=url, study_name="after")  # the storage is complete and usable


HALF_MIGRATED = {
    "alembic-tmp-table": ["CREATE TABLE experiments (experiment_id INTEGER PRIMARY KEY)",
                          "CREATE TABLE alembic_version (version_num VARCHAR(32) NOT NULL)",
                          "INSERT INTO alembic_version VALUES ('451aebb31d03')",
                          "CREATE TABLE _alembic_tmp_experiments (experiment_id INTEGER PRIMARY KEY)"],
    "no-schema-version": ["CREATE TABLE experiments (experiment_id INTEGER PRIMARY KEY)",
                          "CREATE TABLE runs (run_uuid VARCHAR(32) PRIMARY KEY)"],
    "empty-schema-version": ["CREATE TABLE experiments (experiment_id INTEGER PRIMARY KEY)",
                             "CREATE TABLE alembic_version (version_num VARCHAR(32) NOT NULL)"],
}


@pytest.mark.parametrize("case", list(HALF_MIGRATED))
def test_half_migrated_store_is_refused(case: str, data_home: Path, tmp_path: Path,
                                        capfd: pytest.CaptureFixture) -> None:
    """A SQLite tracking store left half-migrated is refused in one line, exit 2, the file unchanged."""
    db = tmp_path / "store" / "mlflow.db"
    db.parent.mkdir()
    con = sqlite3.connect(db)
    for stmt in HALF_MIGRATED[case]:
        con.execute(stmt)
    con.commit()
    con.close()
    before = db.read_bytes()
    code, _, err = run_cli([*TRAIN, "--tracking-uri", f"sqlite:///{db}"], capfd)
    line = assert_one_line_error(code, err, "tracking store", "half-", "move it aside")
    assert str(db) in line
    assert db.read_bytes() == before
    assert sorted(p.name for p in db.parent.iterdir()) == ["mlflow.db", "mlflow.db.lock"]


def test_read_only_store_is_one_line(data_home: Path, tmp_path: Path, capfd: pytest.CaptureFixture) -> None:
    """A tracking store opened read-only (``?mode=ro``) fails at the first write in one line, exit 2."""
    db = tmp_path / "ro" / "mlflow.db"
    db.parent.mkdir()
    from mlflow.tracking import MlflowClient

    MlflowClient(f"sqlite:///{db}").search_experiments(max_results=1)  # a complete, current store
    before = db.read_bytes()
    code, _, err = run_cli([*TRAIN, "--tracking-uri", f"sqlite:///file:{db}?mode=ro&uri=true"], capfd)
    assert_one_line_error(code, err, "tracking store sqlite:///", "readonly database")
    assert db.read_bytes() == before


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only directories")
def test_read_only_store_directory_is_one_line(data_home: Path, tmp_path: Path,
                                               capfd: pytest.CaptureFixture) -> None:
    """A tracking store in a read-only directory is refused in one line, exit 2, nothing written."""
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(0o555)
    try:
        code, _, err = run_cli([*TRAIN, "--tracking-uri", f"sqlite:///{folder / 'mlflow.db'}"], capfd)
        assert_one_line_error(code, err, "tracking store", "not writable")
        assert list(folder.iterdir()) == []
    finally:
        folder.chmod(0o755)


def test_waiting_process_says_why(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    """A process waiting over 3 s for another's store lock prints one line; past its timeout it stops in one."""
    from plexus.platform.errors import TrackingError
    from plexus.platform.tracking._lock import TRACKING_LOCK_KEY, store_lock

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    held, release = threading.Event(), threading.Event()

    def holder() -> None:
        with store_lock(uri, key=TRACKING_LOCK_KEY, what="tracking store", error=TrackingError):
            held.set()
            release.wait(30)

    t = threading.Thread(target=holder)
    t.start()
    try:
        assert held.wait(30)
        with (pytest.raises(TrackingError, match="timed out after"),
              store_lock(uri, key=TRACKING_LOCK_KEY, what="tracking store", error=TrackingError, timeout=0.5)):
            pass
        threading.Timer(3.6, release.set).start()
        with store_lock(uri, key=TRACKING_LOCK_KEY, what="tracking store", error=TrackingError):
            pass
    finally:
        release.set()
        t.join(30)
    err = capsys.readouterr().err
    assert err == f"waiting for another process to create the tracking store {uri} ...\n"


def test_only_store_errors_become_one_line() -> None:
    """Database errors map to one line naming the store; other MLflow errors (bugs) keep their traceback."""
    import sqlalchemy.exc
    from mlflow.exceptions import MlflowException
    from plexus.platform.tracking._store import describe_store_error, note_store

    note_store("tracking store", "postgresql://u:s3cret@db/mlflow")
    try:
        try:
            raise sqlalchemy.exc.OperationalError("INSERT", {}, Exception("database is locked"))
        except sqlalchemy.exc.OperationalError as e:
            raise MlflowException(str(e), error_code="TEMPORARILY_UNAVAILABLE") from e
    except MlflowException as exc:
        line = describe_store_error(exc)
    assert line == "tracking store postgresql://u:***@db/mlflow: database is locked"
    assert describe_store_error(MlflowException("bad param", error_code="INVALID_PARAMETER_VALUE")) is None
    assert describe_store_error(ValueError("a bug")) is None
