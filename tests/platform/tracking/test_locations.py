"""Checkpoints, Optuna studies and reports follow the tracking store (or $PLEXUS_HOME), not the working folder."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from plexus.platform.search import default_storage_url
from plexus.platform.tracking import resolve_tracking_uri
from plexus.platform.tracking._locations import checkpoint_root, files_root, report_path

PLEXUS = [sys.executable, "-m", "plexus.cli"]


def test_files_root_follows_the_tracking_store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("PLEXUS_HOME", raising=False)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    store = tmp_path / "runs" / "db"
    assert files_root(f"sqlite:///{store / 'mlflow.db'}") == store
    assert files_root("sqlite:///rel/mlflow.db") == tmp_path / "rel"  # relative to the working folder
    assert files_root(f"file://{tmp_path / 'fs' / 'mlruns'}") == tmp_path / "fs" / "plexus"
    assert files_root(str(tmp_path / "fs" / "mlruns")) == tmp_path / "fs" / "plexus"
    assert files_root("http://tracking.example:5000") == tmp_path / "mlruns"
    assert files_root() == tmp_path / "mlruns"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{store / 'mlflow.db'}")
    assert files_root() == store and checkpoint_root() == store / "checkpoints"
    assert default_storage_url() == f"sqlite:///{store / 'optuna.db'}"
    assert report_path("r.html") == store / "reports" / "r.html"
    home = tmp_path / "home"
    monkeypatch.setenv("PLEXUS_HOME", str(home))  # wins over the tracking store's folder
    assert files_root() == home and default_storage_url("postgresql://u:p@h/db") == f"sqlite:///{home / 'optuna.db'}"
    monkeypatch.delenv("MLFLOW_TRACKING_URI")
    assert resolve_tracking_uri() == f"sqlite:///{home / 'mlflow.db'}"  # the default store moves there too


def test_train_and_compare_write_beside_the_tracking_store(tmp_path: Path) -> None:
    store, work = tmp_path / "store", tmp_path / "work"
    work.mkdir()
    env = {**os.environ, "MLFLOW_TRACKING_URI": f"sqlite:///{store / 'mlflow.db'}", "COLUMNS": "80",
           "OMP_NUM_THREADS": "1"}
    env.pop("PLEXUS_HOME", None)
    out = subprocess.run([*PLEXUS, "train", "dnn", "--dataset", "synthetic-behavior", "--set",
                          "dataset_options.num_users=120", "--set", "train.epochs=2"],
                         capture_output=True, text=True, env=env, cwd=work, timeout=600, check=False)
    assert out.returncode == 0, out.stderr[-2000:]
    # stdout is a pipe: no bars, one progress line per epoch on stderr
    epochs = [ln for ln in out.stderr.splitlines() if ln.startswith("epoch ")]
    assert [ln.split()[1] for ln in epochs if "val_auc" in ln] == ["1/2", "2/2"], out.stderr[-2000:]
    ckpts = list((store / "checkpoints").glob("*/last.pt"))
    assert len(ckpts) == 1
    out = subprocess.run([*PLEXUS, "compare", "--no-log"], capture_output=True, text=True, env=env, cwd=work,
                         timeout=300, check=False)
    assert out.returncode == 0, out.stderr[-2000:]
    assert (store / "reports" / "plexus-compare-plexus.html").is_file()
    assert max(len(ln) for ln in out.stdout.splitlines()) <= 80
    assert list(work.iterdir()) == []  # nothing in the working folder
