"""The training service end to end: the four task families, MLflow contents, pyfunc scoring, plugins."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from mlflow.tracking import MlflowClient

from plexus.platform.config import build_config
from plexus.platform.training import Trainer, make_task, train_model

REQUIRED_TAGS = ("plexus.model", "plexus.task", "plexus.dataset", "plexus.dataset_fingerprint", "plexus.seed",
                 "plexus.device", "plexus.version", "plexus.git_commit", "torch_version", "pyg_version")


USERS = 200  # synthetic-behavior users: small for speed


def _cfg(model: str, dataset: str, tmp: Path, log_model: bool = False, **train):
    options = {"num_users": USERS} if dataset == "synthetic-behavior" else {}
    return build_config({"train": {"epochs": 2, **train}, "dataset_options": options,
                         "tracking": {"checkpoint_dir": str(tmp), "log_model": log_model, "experiment": "tests"}},
                        model=model, dataset=dataset)


# No generated multi-task or graph-classification dataset exists: those two families need the mirror.
@pytest.mark.parametrize("model,dataset,monitor,train", [
    ("gcn", "cora", "val_acc", {"epochs": 3, "lr": 0.01}),
    ("lr", "synthetic-behavior", "val_auc", {"batch_size": 512, "lr": 0.01}),
    pytest.param("shared_bottom", "census-income", "val_auc", {"epochs": 1, "batch_size": 2048},
                 marks=pytest.mark.data("census-income")),
    pytest.param("gin", "tu-mutag", "val_acc", {"batch_size": 32}, marks=pytest.mark.data("tu-mutag")),
])
def test_done_when_runs_are_fully_tracked(model, dataset, monitor, train, tmp_path: Path, tracking_uri: str) -> None:
    res = train_model(_cfg(model, dataset, tmp_path, **train), tracking_uri=tracking_uri, progress=False)
    assert res["monitor"] == monitor and 0.0 <= res["metrics"][monitor] <= 1.0
    assert any(k.startswith("test_") for k in res["metrics"])
    client = MlflowClient(tracking_uri)
    run = client.get_run(res["run_id"])
    assert run.info.status == "FINISHED"
    assert run.info.run_name.startswith(f"{model}-{dataset}-")
    for tag in REQUIRED_TAGS:
        assert run.data.tags.get(tag), tag
    assert run.data.tags["plexus.model"] == model and run.data.tags["plexus.dataset"] == dataset
    assert run.data.params["train.epochs"] == str(train.get("epochs", 2)) and "train.lr" in run.data.params
    hist = client.get_metric_history(res["run_id"], monitor)
    assert [m.step for m in hist] == list(range(1, res["epochs_run"] + 1))
    assert f"best_{monitor}" in run.data.metrics
    arts = {a.path for a in client.list_artifacts(res["run_id"])}
    assert {"config.yaml", "learning_curve.png", "history.json"} <= arts
    if model == "shared_bottom":
        assert {"val_auc_income", "val_auc_never_married"} <= set(run.data.metrics) or any(
            k.startswith("val_auc_") for k in run.data.metrics)


def _criteo_rows(n: int):
    import pandas as pd
    from plexus.platform.data.sources import ensure_raw

    raw = ensure_raw("criteo-10k")
    path = raw / "train_examples.txt" if raw.is_dir() else raw
    cols = ["label"] + [f"I{i}" for i in range(1, 14)] + [f"C{i}" for i in range(1, 27)]
    df = pd.read_csv(path, sep="\t", header=None, names=cols, nrows=n, dtype=str, keep_default_na=False)
    return df.drop(columns=["label"]), {}


def _behavior_rows(n: int):
    from plexus.platform.data.datasets_synthetic import behavior_frame

    # the generator's raw rows (positives first, so sample both labels); t and _split are not features
    df = behavior_frame(num_users=USERS).sample(n, random_state=0).reset_index(drop=True)
    return df.drop(columns=["label", "t", "_split"]), {"num_users": USERS}


@pytest.mark.parametrize("dataset,rows", [
    ("synthetic-behavior", _behavior_rows),  # sequence fields given as int arrays, as the generator writes them
    pytest.param("criteo-10k", _criteo_rows, marks=pytest.mark.data("criteo-10k")),  # raw TSV strings
])
def test_cli_train_json_and_pyfunc_scores_raw_rows(dataset: str, rows, tmp_path: Path, tracking_uri: str) -> None:
    opts = ["--set", f"dataset_options.num_users={USERS}"] if dataset == "synthetic-behavior" else []
    r = subprocess.run([sys.executable, "-m", "plexus.cli", "train", "lr", "--dataset", dataset, *opts,
                        "--set", "epochs=1", "--set", "lr=0.01", "--json", "--tracking-uri", tracking_uri],
                       capture_output=True, text=True, cwd=tmp_path, timeout=600)
    assert r.returncode == 0, r.stderr[-2000:]
    res = json.loads(r.stdout)
    assert res["run_id"] and "val_auc" in res["metrics"] and res["model_uris"]["scorer"]
    import mlflow.pyfunc

    from plexus.platform.data.service import load_dataset

    os.environ["MLFLOW_TRACKING_URI"] = tracking_uri
    try:
        scorer = mlflow.pyfunc.load_model(res["model_uris"]["scorer"])
        torch_model = mlflow.pytorch.load_model(res["model_uris"]["model"])
    finally:
        del os.environ["MLFLOW_TRACKING_URI"]
    df, options = rows(50)
    pred = scorer.predict(df)
    assert list(pred.columns) == ["probability"] and len(pred) == 50
    p = pred["probability"].to_numpy()
    assert np.all((p > 0) & (p < 1)) and p.std() > 0
    ds = load_dataset(dataset, task="ctr", **options)
    feats = ds.encoder.transform(df)
    with torch.no_grad():
        direct = torch.sigmoid(torch_model(feats)["logit"]).numpy()
    np.testing.assert_allclose(p, direct, rtol=1e-5, atol=1e-6)


def test_third_party_plugin_trains_like_a_builtin(plugin_site: Path, tmp_path: Path, tracking_uri: str) -> None:
    env = {**os.environ, "PYTHONPATH": str(plugin_site) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    r = subprocess.run([sys.executable, "-m", "plexus.cli", "train", "tiny_mlp", "--dataset", "cora",
                        "--set", "epochs=3", "--set", "hidden=16", "--set", "tracking.log_model=false", "--json",
                        "--tracking-uri", tracking_uri], capture_output=True, text=True, cwd=tmp_path, env=env,
                       timeout=600)
    assert r.returncode == 0, r.stderr[-2000:]
    res = json.loads(r.stdout)
    assert res["task"] == "node" and res["hparams"]["hidden"] == 16
    run = MlflowClient(tracking_uri).get_run(res["run_id"])
    assert run.data.tags["plexus.source"] == "plexus-demo-plugin"


def test_link_task_with_target_link_removal(tmp_path: Path, tracking_uri: str) -> None:
    cfg = build_config({"hparams": {"hidden_dim": 32, "num_layers": 1},
                        "train": {"epochs": 1, "batch_size": 2048, "lr": 0.01},
                        "tracking": {"log_model": False, "checkpoint_dir": str(tmp_path)}}, model="ncn", dataset="cora")
    res = train_model(cfg, task="link", progress=False, tracking_uri=tracking_uri)
    assert res["task"] == "link"
    for k in ("val_hits_at_100", "test_hits_at_100", "test_mrr", "test_auc"):
        assert 0.0 <= res["metrics"][k] <= 1.0
    assert res["metrics"]["test_auc"] > 0.5
    run = MlflowClient(tracking_uri).get_run(res["run_id"])
    assert "val_hits_at_100" in run.data.metrics and "test_hits_at_100" in run.data.metrics


@pytest.mark.parametrize("model,kind", [("evolvegcn_o", "dynlink"), ("evolvegcn_h", "edge")])
def test_snapshot_tasks_train_and_evaluate(model: str, kind: str) -> None:
    from plexus.platform.catalog import get_catalog
    from plexus.platform.config import TrainConfig
    from plexus.platform.data.graphs.temporal import dynamic_sbm

    ds = dynamic_sbm(num_nodes=40, steps=12, split=(6, 2, 2), p_in=0.3)
    ds.spec.task = kind
    if kind == "edge":  # label: edge inside a community or not
        comm = torch.tensor(ds.spec.extra["communities"])
        for s in ds.snapshots:
            s.edge_label = (comm[s.edge_index[0]] == comm[s.edge_index[1]]).long()
            s.edge_label_index = s.edge_index
        ds.spec.num_classes = 2
    cfg = TrainConfig(epochs=2, lr=0.01, patience=0)
    torch.manual_seed(0)
    net = get_catalog().model(model).build(ds.spec)
    trainer = Trainer(net, make_task(ds, cfg), cfg, progress=False)
    res = trainer.fit()
    if kind == "dynlink":
        assert 0.0 < res["metrics"]["test_map"] <= 1.0 and 0.0 < res["metrics"]["test_mrr"] <= 1.0
    else:
        assert 0.0 <= res["metrics"]["test_minority_f1"] <= 1.0 and res["metrics"]["test_f1_micro"] > 0.0


def test_buffered_metrics_reach_mlflow_before_a_checkpoint_and_at_the_end(tmp_path: Path, tracking_uri: str) -> None:
    """``tracking.flush_every_s`` batches per-epoch metrics; a checkpoint (``state_dict``) and the fit's end
    send the buffer, so no epoch is ever missing from MLflow; ``tracking.plots=false`` skips the PNG."""
    from plexus.platform.errors import ConfigError
    from plexus.platform.tracking import MLflowTracker

    client = MlflowClient(tracking_uri)
    tracker = MLflowTracker(tracking_uri, "tests", "buffered", {"train": {"lr": 0.1}}, {}, flush_every_s=3600,
                            params={"optuna.width": "64"})
    tracker.start()
    assert client.get_run(tracker.run_id).data.params == {"train.lr": "0.1", "optuna.width": "64"}

    class _Opt:
        param_groups = [{"lr": 0.1}]

    class _Trainer:
        optimizer = _Opt()
        epoch, monitor = 3, "val_acc"

    for epoch in (1, 2):
        tracker.on_epoch_end(_Trainer(), epoch, {"epoch": epoch, "train_loss": 1.0 / epoch})
    assert client.get_metric_history(tracker.run_id, "train_loss") == []  # still buffered
    assert tracker.state_dict()["logged_epochs"] == 2
    assert [m.step for m in client.get_metric_history(tracker.run_id, "train_loss")] == [1, 2]
    # the fit's end sends the last buffered epoch with the final metrics and the stop reason
    tracker.on_epoch_end(_Trainer(), 3, {"epoch": 3, "train_loss": 0.25})
    tracker.on_fit_end(_Trainer(), {"metrics": {"val_acc": 0.5, "test_acc": 0.4}, "best_epoch": 2,
                                    "duration_s": 1.5, "stopped": "no improvement for 1 epoch", "history": []})
    run = client.get_run(tracker.run_id)
    assert [m.step for m in client.get_metric_history(tracker.run_id, "train_loss")] == [1, 2, 3]
    assert {k: run.data.metrics[k] for k in ("best_val_acc", "test_acc", "best_epoch", "duration_s")} == {
        "best_val_acc": 0.5, "test_acc": 0.4, "best_epoch": 2.0, "duration_s": 1.5}
    assert run.data.tags["plexus.stopped"] == "no improvement for 1 epoch"
    tracker.finish()

    cfg = build_config({"train": {"epochs": 3, "lr": 0.01, "patience": 0},
                        "tracking": {"checkpoint_dir": str(tmp_path), "log_model": False, "experiment": "tests",
                                     "flush_every_s": 3600, "plots": False}}, model="gcn", dataset="cora")
    res = train_model(cfg, tracking_uri=tracking_uri, progress=False)
    assert [m.step for m in client.get_metric_history(res["run_id"], "val_acc")] == [1, 2, 3]
    arts = {a.path for a in client.list_artifacts(res["run_id"])}
    assert "history.json" in arts and "learning_curve.png" not in arts
    for bad in ({"flush_every_s": -1}, {"flush_every_s": "soon"}, {"plots": "yes"}):
        cfg = build_config({"train": {"epochs": 1}, "tracking": {"experiment": "tests", **bad}},
                           model="gcn", dataset="cora")
        with pytest.raises(ConfigError, match="tracking."):
            train_model(cfg, tracking_uri=tracking_uri, progress=False)
