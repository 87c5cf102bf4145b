"""A search's per-trial savings lose nothing: every epoch reaches MLflow and Optuna, per-process caches hold."""

from __future__ import annotations

import gc
from pathlib import Path

import optuna
import pytest
from plexus.platform.config import build_config

DATASET = "synthetic-behavior"
EPOCHS = 4


def _search(tmp_path: Path, tracking_uri: str, study: str, pruner: str, flush_every_s: float) -> tuple:
    from plexus.platform.search import search

    storage = f"sqlite:///{tmp_path / 'optuna.db'}"
    raw = {
        "hparams": {"width": 16, "embed_dim": 4},
        "train": {"epochs": EPOCHS, "batch_size": 2048, "patience": 0},
        "tracking": {"experiment": "overhead-test", "flush_every_s": flush_every_s, "log_model": False},
        "search": {"trials": 2, "study": study, "storage": storage, "sampler": "random", "seed": 1,
                   "pruner": pruner, "log_models": "none", "register": False},
        "dataset_options": {"num_users": 150},
    }
    result = search(build_config(raw, model="dnn", dataset=DATASET), tracking_uri=tracking_uri, echo=None)
    return result, optuna.load_study(study_name=study, storage=storage)


@pytest.mark.parametrize(("pruner", "flush_every_s"), [("none", 60.0), ("median", 0.0)])
def test_every_epoch_reaches_mlflow_and_optuna(
    tmp_path: Path, tracking_uri: str, monkeypatch: pytest.MonkeyPatch, pruner: str, flush_every_s: float
) -> None:
    from mlflow.tracking import MlflowClient
    from plexus.platform.search import RUN_ID_ATTR

    monkeypatch.chdir(tmp_path)
    study_name = f"overhead-{pruner}"
    result, study = _search(tmp_path, tracking_uri, study_name, pruner, flush_every_s)
    assert result["counts"] == {"COMPLETE": 2}
    client = MlflowClient(tracking_uri)
    for t in study.trials:
        # Optuna: one intermediate value per epoch, written live (median) or in one transaction at the end (none)
        assert sorted(t.intermediate_values) == list(range(1, EPOCHS + 1))
        run = client.get_run(t.user_attrs[RUN_ID_ATTR])
        assert run.info.status == "FINISHED" and run.data.tags["plexus.state"] == "COMPLETE"
        # MLflow: every epoch's metrics, also those still buffered when training ended (flush_every_s=60)
        for key in ("val_auc", "train_loss", "lr"):
            assert [m.step for m in client.get_metric_history(run.info.run_id, key)] == list(range(1, EPOCHS + 1))
        assert [m.value for m in client.get_metric_history(run.info.run_id, "val_auc")] == pytest.approx(
            [t.intermediate_values[s] for s in range(1, EPOCHS + 1)]
        )
        # the tags batched at fit start all arrive
        assert {"plexus.device", "plexus.checkpoint_dir", "plexus.monitor", "plexus.mode"} <= set(run.data.tags)
        assert run.data.tags["plexus.monitor"] == "val_auc" and run.data.tags["plexus.git_commit"]
        # search trials skip the learning-curve PNG (the curves are the metrics above); history.json stays
        arts = {a.path for a in client.list_artifacts(run.info.run_id)}
        assert "history.json" in arts and "learning_curve.png" not in arts


def test_deferred_reports_are_written_after_a_failure(tmp_path: Path) -> None:
    from plexus.platform.search._reports import TrialReports

    study = optuna.create_study(storage=f"sqlite:///{tmp_path / 'o.db'}", pruner=optuna.pruners.NopPruner())
    trial = study.ask()
    reports = TrialReports(study, trial)
    try:
        for step in (1, 2, 3):
            assert reports.report(0.1 * step, step) is False
        assert study.trials[0].intermediate_values == {}  # nothing written while training
        raise RuntimeError("training failed")
    except RuntimeError:
        pass
    finally:
        reports.flush()
    assert study.trials[0].intermediate_values == pytest.approx({1: 0.1, 2: 0.2, 3: 0.3})
    # a pruner that can prune sees every report at once
    live = optuna.create_study(pruner=optuna.pruners.MedianPruner())
    t = live.ask()
    TrialReports(live, t).report(0.5, 1)
    assert live.trials[0].intermediate_values == {1: 0.5}


@pytest.mark.parametrize("rdb", [True, False])
def test_reports_and_trial_attributes_are_written_together(tmp_path: Path, rdb: bool) -> None:
    from plexus.platform.search._reports import TrialReports

    storage = f"sqlite:///{tmp_path / 'o.db'}" if rdb else None
    study = optuna.create_study(storage=storage, pruner=optuna.pruners.NopPruner())
    trial = study.ask()
    reports = TrialReports(study, trial)
    reports.report(0.5, 1)
    reports.report(0.7, 2)
    reports.flush({"plexus.metrics": {"val_auc": 0.7}, "plexus.epochs_run": 2})
    stored = study.trials[0]
    assert stored.intermediate_values == pytest.approx({1: 0.5, 2: 0.7})
    assert stored.user_attrs == {"plexus.metrics": {"val_auc": 0.7}, "plexus.epochs_run": 2}
    reports.flush()  # nothing pending: no second write
    assert study.trials[0].intermediate_values == pytest.approx({1: 0.5, 2: 0.7})


def test_freeze_heap_collects_garbage_then_freezes_what_is_alive() -> None:
    import weakref

    from plexus.platform.search import _reports

    class Node:
        pass

    dead, alive = Node(), Node()
    dead.self = dead  # a reference cycle that is garbage: collected, never frozen
    gone = weakref.ref(dead)
    del dead
    alive.self = alive
    _reports.freeze_heap()
    try:
        assert gone() is None
        assert not any(o is alive for o in gc.get_objects())  # frozen: the next collection does not scan it
        assert gc.get_freeze_count() > 0
    finally:
        gc.unfreeze()


def test_git_commit_and_versions_are_computed_once_per_process(monkeypatch: pytest.MonkeyPatch) -> None:
    import subprocess

    from plexus.platform.tracking import _mlflow

    first = _mlflow.git_commit()
    calls: list[object] = []
    monkeypatch.setattr(subprocess, "run", lambda *a, **k: calls.append(a))
    assert _mlflow.git_commit() == first and calls == []
    assert _mlflow._versions() is _mlflow._versions() and "torch_version" in _mlflow._versions()
