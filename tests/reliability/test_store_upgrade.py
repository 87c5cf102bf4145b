"""Out-of-date, interrupted, half-migrated, read-only and full tracking stores.

An old-schema SQLite store is built with MLflow's own Alembic migrations (stopped at an MLflow 2.x revision)
and holds two runs written with SQL. Plexus must refuse to open it in one line naming ``plexus store
upgrade``; the upgrade copies it first and, when it fails or is killed (SIGKILL from outside, at a revision
in the middle), the copy comes back: at the next open, or by ``plexus store repair``. Read-only stores and a
full disk give one line, exit 2, the store as it was.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from reliability_helpers import assert_one_line_error, run_cli, runs

OLD_REV = "acf3f17fdcc7"  # "add storage location field to model versions" (MLflow 2.x), 44 revisions behind 3.17
TRAIN = ["train", "lr", "--dataset", "synthetic-behavior", "--set", "epochs=1", "--set",
         "dataset_options.num_users=200", "--set", "tracking.log_model=false"]
OLD_RUNS = {  # run id -> (status, params, metric 'loss' per step)
    "a" * 32: ("FINISHED", {"lr": "0.1"}, [0.9, 0.7, 0.5]),
    "b" * 32: ("FAILED", {"lr": "0.3"}, [1.2]),
}


def _build_old_store(db: Path) -> None:
    import sqlalchemy
    from alembic import command
    from mlflow.store.db.utils import _get_alembic_config
    from mlflow.store.tracking.dbmodels.initial_models import Base as InitialBase

    uri = f"sqlite:///{db}"
    engine = sqlalchemy.create_engine(uri)
    InitialBase.metadata.create_all(engine)  # what MLflow creates first, then migrates
    engine.dispose()
    command.upgrade(_get_alembic_config(uri), OLD_REV)
    con = sqlite3.connect(db)
    with con:
        con.execute("INSERT INTO experiments VALUES (1, 'old-exp', '/tmp/old-artifacts', 'active', 1, 1)")
        for k, (rid, (status, params, losses)) in enumerate(OLD_RUNS.items()):
            con.execute("INSERT INTO runs (run_uuid, name, source_type, source_name, entry_point_name, user_id, "
                        "status, start_time, end_time, source_version, lifecycle_stage, artifact_uri, "
                        "experiment_id) VALUES (?, ?, 'LOCAL', '', '', 'u', ?, 1000, 2000, '', 'active', "
                        "'/tmp/a', 1)", (rid, f"old-run-{k}", status))
            for key, value in params.items():
                con.execute("INSERT INTO params VALUES (?, ?, ?)", (key, value, rid))
            for step, loss in enumerate(losses):
                con.execute("INSERT INTO metrics VALUES ('loss', ?, ?, ?, ?, 0)", (loss, 1000 + step, rid, step))
            con.execute("INSERT INTO latest_metrics VALUES ('loss', ?, ?, ?, 0, ?)",
                        (losses[-1], 1000 + len(losses) - 1, len(losses) - 1, rid))
    con.close()


@pytest.fixture(scope="module")
def old_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    db = tmp_path_factory.mktemp("old_store") / "mlflow.db"
    _build_old_store(db)
    return db


@pytest.fixture()
def store(old_store: Path, tmp_path: Path) -> Path:
    """A private copy of the old-schema store: ``<tmp>/runs/mlflow.db``."""
    db = tmp_path / "runs" / "mlflow.db"
    db.parent.mkdir()
    shutil.copyfile(old_store, db)
    return db


def revision(db: Path) -> str | None:
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=30)
    try:
        row = con.execute("SELECT version_num FROM alembic_version").fetchone()
        return row[0] if row else None
    finally:
        con.close()


def dump(db: Path) -> list[str]:
    """The SQL text of every table and row (a restored copy has the same rows, not the same header bytes)."""
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        return list(con.iterdump())
    finally:
        con.close()


def assert_old_runs_intact(uri: str) -> None:
    """The two runs of the old store, read through MLflow (the store must be current)."""
    from mlflow.tracking import MlflowClient

    client = MlflowClient(uri)
    for rid, (status, params, losses) in OLD_RUNS.items():
        run = client.get_run(rid)
        assert run.info.status == status and run.data.params == params
        assert [m.value for m in sorted(client.get_metric_history(rid, "loss"), key=lambda m: m.step)] == losses


def plexus(*args: str, env: dict | None = None, **kw) -> subprocess.Popen:
    e = {**os.environ, **(env or {})}
    e.pop("PLEXUS_DEBUG", None)
    return subprocess.Popen([sys.executable, "-m", "plexus.cli", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=e, **kw)


def test_out_of_date_store_is_refused_with_the_command(store: Path, data_home: Path,
                                                       capfd: pytest.CaptureFixture, record) -> None:
    """`plexus train` on an MLflow 2.x-schema store: one line naming `plexus store upgrade`, the file unchanged.

    (MLflow 3.17 itself would migrate it in place, without a copy, because tables are missing.)
    """
    before = store.read_bytes()
    code, _, err = run_cli([*TRAIN, "--tracking-uri", f"sqlite:///{store}"], capfd)
    assert_one_line_error(code, err, "tracking store", OLD_REV, "plexus store upgrade")
    code, out, _ = run_cli(["store", "check", f"sqlite:///{store}", "--json"], capfd)
    assert code == 1 and '"state": "out-of-date"' in out and f'"revision": "{OLD_REV}"' in out
    assert store.read_bytes() == before
    assert sorted(p.name for p in store.parent.iterdir()) == ["mlflow.db", "mlflow.db.lock"]
    record(f"schema {OLD_REV} refused; file byte-identical; no copy made")


def test_upgrade_copies_migrates_and_keeps_runs(store: Path, data_home: Path,
                                                capfd: pytest.CaptureFixture, record) -> None:
    """`plexus store upgrade` copies the file to mlflow.db.bak-<rev>, migrates it, keeps its runs; training works."""
    from plexus.platform.tracking._schema import head_revision

    before = store.read_bytes()
    uri = f"sqlite:///{store}"
    code, out, err = run_cli(["store", "upgrade", uri], capfd)
    assert code == 0, err
    assert f"upgraded from schema {OLD_REV} to {head_revision()}" in out
    backup = store.with_name(f"mlflow.db.bak-{OLD_REV}")
    assert backup.is_file() and revision(backup) == OLD_REV
    assert not store.with_name("mlflow.db.upgrading").exists()
    assert revision(store) == head_revision()
    assert_old_runs_intact(uri)
    code, out, err = run_cli([*TRAIN, "--tracking-uri", uri, "--json"], capfd)
    assert code == 0, err
    assert len(runs(uri)) == len(OLD_RUNS) + 1
    code, out, err = run_cli(["store", "check", uri, "--json"], capfd)
    assert code == 0 and '"state": "current"' in out
    record(f"upgraded {OLD_REV} -> {head_revision()}; copy kept ({len(before):,} bytes); runs intact; "
           "a new run trained")


def _wait_mid_migration(proc: subprocess.Popen, db: Path, timeout: float = 240) -> str:
    """Wait until the upgrade has written its marker and migrated at least one revision; that revision."""
    marker = Path(f"{db}.upgrading")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"upgrade ended before it was killed: {proc.communicate()}")
        if marker.exists():
            with contextlib.suppress(sqlite3.OperationalError):
                rev = revision(db)
                if rev not in (None, OLD_REV):
                    return rev
        time.sleep(0.1)
    proc.kill()
    pytest.fail("upgrade did not reach its second revision in time")


@pytest.mark.parametrize("then", ["open", "repair"])
def test_sigkill_during_upgrade_loses_nothing(then: str, store: Path, data_home: Path,
                                              capfd: pytest.CaptureFixture, record) -> None:
    """`plexus store upgrade` killed with SIGKILL mid-migration; the next open (or `plexus store repair`) restores
    the copy in one line; upgrading again works and every old run is intact."""
    from plexus.platform.tracking._schema import head_revision

    before = store.read_bytes()
    uri = f"sqlite:///{store}"
    proc = plexus("store", "upgrade", uri, env={"PLEXUS_STORE_UPGRADE_STEP_S": "1"})
    reached = _wait_mid_migration(proc, store)
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=60)
    assert proc.returncode == -signal.SIGKILL
    reached = revision(store)  # (a step or two past the one seen, on a slow machine)
    assert reached not in (OLD_REV, head_revision())  # really half-way: neither the old schema nor the new
    assert Path(f"{store}.upgrading").exists()
    if then == "open":
        code, _, err = run_cli([*TRAIN, "--tracking-uri", uri], capfd)
        assert_one_line_error(code, err, "was interrupted", f"restored the copy taken before it, mlflow.db.bak-{OLD_REV}",
                              "plexus store upgrade")
    else:
        code, out, err = run_cli(["store", "repair", uri], capfd)
        assert code == 0, err
        assert "was interrupted" in out and f"mlflow.db.bak-{OLD_REV}" in out
    assert not Path(f"{store}.upgrading").exists()
    assert revision(store) == OLD_REV
    con = sqlite3.connect(store)
    assert con.execute("SELECT count(*) FROM runs").fetchone()[0] == len(OLD_RUNS)
    con.close()
    code, _, err = run_cli(["store", "upgrade", uri], capfd)
    assert code == 0, err
    assert revision(store) == head_revision()
    assert_old_runs_intact(uri)
    code, _, err = run_cli([*TRAIN, "--tracking-uri", uri], capfd)
    assert code == 0, err
    record(f"killed at revision {reached}; restored by {then} ({len(before):,}-byte store); upgraded again; "
           "runs intact; training works")


def test_sigterm_during_upgrade_restores_at_once(store: Path, record) -> None:
    """SIGTERM during the migration: the upgrade restores its copy before exiting (exit 130, one line)."""
    before = store.read_bytes()
    proc = plexus("store", "upgrade", f"sqlite:///{store}", env={"PLEXUS_STORE_UPGRADE_STEP_S": "1"})
    reached = _wait_mid_migration(proc, store)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err, err
    assert lines[0].startswith("error: tracking store") and "upgrade interrupted" in lines[0]
    assert f"restored the copy mlflow.db.bak-{OLD_REV}" in lines[0]
    assert revision(store) == OLD_REV and not Path(f"{store}.upgrading").exists()
    con = sqlite3.connect(store)
    assert con.execute("SELECT count(*) FROM runs").fetchone()[0] == len(OLD_RUNS)
    assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    con.close()
    record(f"terminated at revision {reached}; back at {OLD_REV} at once ({len(before):,}-byte store)")


def _half_migrated(db: Path) -> None:
    con = sqlite3.connect(db)
    with con:
        con.execute("CREATE TABLE _alembic_tmp_runs (run_uuid VARCHAR(32) PRIMARY KEY)")
    con.close()


def test_half_migrated_store_with_a_copy_is_repaired(store: Path, data_home: Path,
                                                     capfd: pytest.CaptureFixture, record) -> None:
    """A half-migrated store beside its copy: open says `plexus store repair`; repair restores the copy and
    moves the broken file aside (nothing deleted)."""
    shutil.copyfile(store, store.with_name(f"mlflow.db.bak-{OLD_REV}"))
    _half_migrated(store)
    broken = store.read_bytes()
    uri = f"sqlite:///{store}"
    code, _, err = run_cli([*TRAIN, "--tracking-uri", uri], capfd)
    assert_one_line_error(code, err, "half-migrated", "plexus store repair", f"mlflow.db.bak-{OLD_REV}")
    assert store.read_bytes() == broken
    code, _out, err = run_cli(["store", "repair", uri], capfd)
    assert code == 0, err
    aside = [p for p in store.parent.iterdir() if p.name.startswith("mlflow.db.broken-")]
    assert len(aside) == 1 and aside[0].read_bytes() == broken
    assert revision(store) == OLD_REV
    con = sqlite3.connect(store)
    assert "_alembic_tmp_runs" not in {r[0] for r in con.execute("SELECT name FROM sqlite_master")}
    con.close()
    record(f"repair: broken file moved to {aside[0].name}, copy restored")


def test_half_migrated_store_without_a_copy_is_explained(store: Path, capfd: pytest.CaptureFixture) -> None:
    """`plexus store repair` with no copy to restore: one line saying what to do, exit 2, the file unchanged."""
    _half_migrated(store)
    before = store.read_bytes()
    code, _, err = run_cli(["store", "repair", f"sqlite:///{store}"], capfd)
    assert_one_line_error(code, err, "half-migrated", "no copy", "move it aside")
    assert store.read_bytes() == before


# ------------------------------------------------------------------------------------ read-only, full disk
@contextlib.contextmanager
def _read_only_mount(path: Path) -> Iterator[None]:
    """``path`` (a file or folder) read-only even for root: a read-only bind mount over it."""
    if os.geteuid() != 0:
        yield
        return
    if subprocess.run(["mount", "--bind", str(path), str(path)], check=False, capture_output=True).returncode:
        pytest.skip("running as root, which ignores file permissions, and bind mounts are not allowed here")
    try:
        if subprocess.run(["mount", "-o", "remount,bind,ro", str(path)], check=False, capture_output=True).returncode:
            pytest.skip("running as root, which ignores file permissions; a read-only remount is not allowed")
        yield
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False, capture_output=True)  # lazy: MLflow may hold it open


MAKE_CURRENT = ("import sys; from mlflow.tracking import MlflowClient; c = MlflowClient(sys.argv[1]); "
                "c.set_terminated(c.create_run(c.create_experiment('before')).info.run_id)")


@pytest.fixture(scope="module")
def current_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A current store with one run, made in another process (MLflow keeps its connections open per process:
    a store this process had opened would stay writable through them after a chmod or read-only mount)."""
    db = tmp_path_factory.mktemp("current_store") / "mlflow.db"
    subprocess.run([sys.executable, "-c", MAKE_CURRENT, f"sqlite:///{db}"], check=True, capture_output=True,
                   timeout=300)
    return db


def _copy_store(src: Path, db: Path) -> None:
    db.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(src, db)
    Path(f"{db}.lock").touch()


RO_CASES = {"folder": "the store's folder 0555 (and a read-only mount as root)",
            "file": "the store's file 0444 (and a read-only mount as root), its folder writable"}


@pytest.mark.parametrize("case", list(RO_CASES))
@pytest.mark.parametrize("command", ["train", "upgrade"])
def test_read_only_store(case: str, command: str, old_store: Path, current_store: Path, data_home: Path,
                         tmp_path: Path, capfd: pytest.CaptureFixture, record) -> None:
    """A read-only store: `plexus train` or `plexus store upgrade` gives one line, exit 2, the store as it was."""
    db = tmp_path / "ro" / "mlflow.db"
    _copy_store(old_store if command == "upgrade" else current_store, db)
    target = db.parent if case == "folder" else db
    before = {p.name: p.read_bytes() for p in db.parent.iterdir()}
    db.chmod(0o444)
    if case == "folder":
        db.parent.chmod(0o555)
    try:
        with _read_only_mount(target):
            args = [*TRAIN, "--tracking-uri", f"sqlite:///{db}"] if command == "train" else \
                ["store", "upgrade", f"sqlite:///{db}"]
            code, _, err = run_cli(args, capfd)
            line = assert_one_line_error(code, err, "tracking store")
    finally:
        db.parent.chmod(0o755)
        db.chmod(0o644)
    assert any(s in line for s in ("not writable", "readonly", "read-only", "Read-only")), line
    assert {p.name: p.read_bytes() for p in db.parent.iterdir()} == before
    record(f"{RO_CASES[case]}; euid {os.geteuid()}")


@contextlib.contextmanager
def _tmpfs(path: Path, size_kb: int) -> Iterator[Path]:
    path.mkdir(parents=True, exist_ok=True)
    if os.geteuid() != 0:
        pytest.skip("a full disk is simulated with a small tmpfs, which needs root (mount -t tmpfs)")
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size_kb}k", "tmpfs", str(path)], check=False,
                       capture_output=True, text=True)
    if r.returncode:
        pytest.skip(f"mounting a small tmpfs is not allowed here ({r.stderr.strip()})")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False, capture_output=True)


def _fill(folder: Path) -> None:
    """Write ``folder/filler`` until the file system has no block left."""
    with contextlib.suppress(OSError), open(folder / "filler", "wb", buffering=0) as f:
        while True:
            f.write(b"\0" * 4096)


def test_full_disk_on_train_is_one_line(current_store: Path, data_home: Path, tmp_path: Path,
                                        capfd: pytest.CaptureFixture, record) -> None:
    """`plexus train` on a store whose disk is full: one line, exit 2, the store as it was, no run added."""
    with _tmpfs(tmp_path / "small", 2048) as mnt:
        db = mnt / "mlflow.db"
        _copy_store(current_store, db)
        _fill(mnt)
        before = db.read_bytes()
        code, _, err = run_cli([*TRAIN, "--tracking-uri", f"sqlite:///{db}"], capfd)
        line = assert_one_line_error(code, err, "tracking store", "full")
        assert db.read_bytes() == before
        (mnt / "filler").unlink()
        assert len(runs(f"sqlite:///{db}")) == 1
    record(f"2 MiB tmpfs filled: {line[:120]}")


def test_full_disk_on_upgrade_is_one_line(old_store: Path, data_home: Path, tmp_path: Path,
                                          capfd: pytest.CaptureFixture, record) -> None:
    """`plexus store upgrade` where the copy does not fit: one line, exit 2, the store unchanged, no stray file."""
    with _tmpfs(tmp_path / "small", 2048) as mnt:
        db = mnt / "mlflow.db"
        _copy_store(old_store, db)
        before = db.read_bytes()
        _fill(mnt)
        (mnt / "filler").write_bytes(b"\0" * max(0, (mnt / "filler").stat().st_size - len(before) // 2))
        code, _, err = run_cli(["store", "upgrade", f"sqlite:///{db}"], capfd)
        line = assert_one_line_error(code, err, "cannot copy", "not changed")
        assert db.read_bytes() == before
        assert sorted(p.name for p in mnt.iterdir()) == ["filler", "mlflow.db", "mlflow.db.lock"]
    record(f"{len(before):,}-byte store, half its size free: {line[:160]}")




def _build_old_pg_store(uri: str) -> None:
    import sqlalchemy
    from alembic import command
    from mlflow.store.db.utils import _get_alembic_config
    from mlflow.store.tracking.dbmodels.initial_models import Base as InitialBase

    engine = sqlalchemy.create_engine(uri)
    InitialBase.metadata.create_all(engine)
    command.upgrade(_get_alembic_config(uri), OLD_REV)
    with engine.begin() as c:
        c.execute(sqlalchemy.text("INSERT INTO experiments VALUES (1, 'old-exp', '/tmp/a', 'active', 1, 1)"))
        for k, (rid, (status, params, losses)) in enumerate(OLD_RUNS.items()):
            c.execute(sqlalchemy.text(
                "INSERT INTO runs (run_uuid, name, source_type, source_name, entry_point_name, user_id, status, "
                "start_time, end_time, source_version, lifecycle_stage, artifact_uri, experiment_id) VALUES "
                "(:r, :n, 'LOCAL', '', '', 'u', :s, 1000, 2000, '', 'active', '/tmp/a', 1)"),
                {"r": rid, "n": f"old-run-{k}", "s": status})
            for key, value in params.items():
                c.execute(sqlalchemy.text("INSERT INTO params VALUES (:k, :v, :r)"), {"k": key, "v": value, "r": rid})
            for step, loss in enumerate(losses):
                c.execute(sqlalchemy.text("INSERT INTO metrics VALUES ('loss', :v, :t, :r, :s, false)"),
                          {"v": loss, "t": 1000 + step, "r": rid, "s": step})
            c.execute(sqlalchemy.text("INSERT INTO latest_metrics VALUES ('loss', :v, :t, :s, false, :r)"),
                      {"v": losses[-1], "t": 1000 + len(losses) - 1, "s": len(losses) - 1, "r": rid})
    engine.dispose()


@pytest.mark.postgres
def test_postgres_upgrade_is_all_or_nothing(postgres: dict, data_home: Path, tmp_path: Path,
                                            capfd: pytest.CaptureFixture, record) -> None:
    """An MLflow 2.x-schema PostgreSQL store: refused in one line; an upgrade SIGKILLed while it migrates leaves
    the old or the new schema, never one between; upgrading again keeps every run."""
    import psycopg
    from plexus.platform.tracking._schema import head_revision, inspect_store

    base = postgres["url"].rsplit("/", 1)[0]
    with psycopg.connect(f"{base}/postgres", autocommit=True) as c:
        c.execute("CREATE DATABASE tracking_old")
    uri = f"{base}/tracking_old".replace("postgresql://", "postgresql+psycopg://", 1)
    _build_old_pg_store(uri)
    code, _, err = run_cli([*TRAIN, "--tracking-uri", uri], capfd)
    line = assert_one_line_error(code, err, OLD_REV, "plexus store upgrade", ":***@")
    assert postgres["password"] not in line
    assert inspect_store(uri).revision == OLD_REV
    log = tmp_path / "upgrade.out"
    with open(log, "w") as out:
        proc = subprocess.Popen([sys.executable, "-m", "plexus.cli", "store", "upgrade", uri],
                                stdout=out, stderr=subprocess.STDOUT, text=True)
        deadline = time.monotonic() + 240
        while "in one transaction" not in log.read_text() and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(0.3)
        proc.send_signal(signal.SIGKILL)
        proc.wait(60)
    after_kill = inspect_store(uri).revision
    assert after_kill in (OLD_REV, head_revision()), after_kill
    code, out, err = run_cli(["store", "upgrade", uri], capfd)
    assert code == 0, err
    assert inspect_store(uri).state == "current"
    assert_old_runs_intact(uri)
    record(f"SIGKILL {'during' if after_kill == OLD_REV else 'after'} the one-transaction upgrade: schema "
           f"{after_kill} afterwards; upgraded again, runs intact")


# ---------------------------------------------------------------------------------------------- Optuna storage
OLD_OPTUNA_REV = "v3.0.0.d"  # Optuna 3.0's schema; the installed Optuna needs a later one


def _build_old_optuna_storage(db: Path) -> None:
    from alembic import command
    from alembic.config import Config
    from optuna.storages._rdb import storage

    here = Path(storage.__file__).parent
    cfg = Config(str(here / "alembic.ini"))
    cfg.set_main_option("script_location", str(here / "alembic"))
    cfg.set_main_option("sqlalchemy.url", f"sqlite:///{db}")
    command.upgrade(cfg, OLD_OPTUNA_REV)
    con = sqlite3.connect(db)
    with con:
        con.execute("INSERT INTO version_info VALUES (1, 12, '3.0.0')")
        con.execute("INSERT INTO studies VALUES (1, 'old-study')")
        con.execute("INSERT INTO study_directions VALUES (1, 'MAXIMIZE', 1, 0)")
        con.execute("INSERT INTO trials VALUES (1, 1, 'COMPLETE', NULL, NULL, 0)")
        con.execute("INSERT INTO trial_values VALUES (1, 1, 0.75, 0, 'FINITE')")
    con.close()


def test_old_optuna_storage_is_upgraded_with_a_copy(data_home: Path, tmp_path: Path,
                                                    capfd: pytest.CaptureFixture, record) -> None:
    """An Optuna 3.0 SQLite storage: `plexus search` refuses it in one line naming `plexus store upgrade`; the
    upgrade copies it first and keeps its study; a killed upgrade's copy comes back at the next open."""
    import optuna
    from plexus.platform.tracking._optuna_schema import _script

    db = tmp_path / "runs" / "optuna.db"
    db.parent.mkdir()
    _build_old_optuna_storage(db)
    url = f"sqlite:///{db}"
    before, old_rows = db.read_bytes(), dump(db)
    search = ["search", "lr", "--dataset", "synthetic-behavior", "--trials", "1", "--storage", url,
              "--tracking-uri", f"sqlite:///{tmp_path / 'runs' / 'mlflow.db'}", "--set", "epochs=1"]
    code, _, err = run_cli(search, capfd)
    assert_one_line_error(code, err, "storage", OLD_OPTUNA_REV, "plexus store upgrade")
    assert db.read_bytes() == before
    code, out, err = run_cli(["store", "upgrade", url], capfd)
    assert code == 0, err
    assert f"upgraded from schema {OLD_OPTUNA_REV} to {_script().get_current_head()}" in out
    copy = db.with_name(f"optuna.db.bak-{OLD_OPTUNA_REV}")
    assert dump(copy) == old_rows
    study = optuna.load_study(study_name="old-study", storage=url)
    assert [t.value for t in study.trials] == [0.75]
    # what a SIGKILL during the upgrade leaves: the marker beside the copy, the file half-way
    upgraded = db.read_bytes()
    db.write_bytes(before)
    Path(f"{db}.upgrading").write_text(json.dumps({"backup": str(copy), "from": OLD_OPTUNA_REV, "to": "head"}))
    con = sqlite3.connect(db)
    with con:
        con.execute("UPDATE alembic_version SET version_num = 'v3.2.0.a'")
    con.close()
    code, _, err = run_cli(search, capfd)
    assert_one_line_error(code, err, "was interrupted", f"optuna.db.bak-{OLD_OPTUNA_REV}", "plexus store upgrade")
    assert dump(db) == old_rows and not Path(f"{db}.upgrading").exists()
    record(f"Optuna storage {OLD_OPTUNA_REV}: refused, upgraded with a copy ({len(before):,} -> "
           f"{len(upgraded):,} bytes), study intact; a killed upgrade's marker restored the copy at the next open")
