"""Every controller evaluates through the same path (platform trainer, graphnas_net child runs); NAS resumes."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from mlflow.tracking import MlflowClient
from plexus.nas.search import run_nas
from plexus.platform.errors import CheckpointError

SMALL = {"hidden": [4, 8], "heads": [1, 2]}


def children(client: MlflowClient, parent_id: str) -> list:
    parent = client.get_run(parent_id)
    runs = client.search_runs([parent.info.experiment_id], f"tags.mlflow.parentRunId = '{parent_id}'")
    return sorted(runs, key=lambda r: int(r.data.tags["plexus.nas.step"]))


def test_random_rcnas_and_optuna_share_one_evaluation_path_and_rcnas_resumes(
        tracking_uri: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    common = {"dataset": "cora", "epochs": 1, "seed": 0, "choices": SMALL, "tracking_uri": tracking_uri,
              "retrain_seeds": 0,
              "experiment": "nas-paths"}
    rnd = run_nas(controller="random", budget=1, **common)
    opt = run_nas(controller="optuna", budget=1, sampler="random", **common)
    # rcnas: stop after one architecture, then resume the same search to a budget of 2
    first = run_nas(controller="autognn", budget=1, **common)
    state = torch.load(first["state_path"], weights_only=True)
    assert state["controller"]["best_weights"] is not None  # CPS keeps the best's trained weights
    rc = run_nas(controller="autognn", budget=2, resume=first["parent_run_id"], **common)
    assert rc["parent_run_id"] == first["parent_run_id"] and rc["evaluated"] == 2
    assert rc["history"][0] == first["history"][0]
    assert rc["history"][1]["phase"] == "mutate" and rc["history"][1]["inherited_layers"] is not None

    client = MlflowClient(tracking_uri)
    kids = {name: children(client, res["parent_run_id"]) for name, res in
            [("random", rnd), ("optuna", opt), ("autognn", rc)]}
    assert {k: len(v) for k, v in kids.items()} == {"random": 1, "optuna": 1, "autognn": 2}
    reference = kids["random"][0]
    for name, runs in kids.items():
        for run in runs:
            tags, params = run.data.tags, run.data.params
            assert tags["plexus.nas.controller"] == name
            assert tags["plexus.model"] == "graphnas_net" and tags["plexus.task"] == "node"
            assert tags["plexus.state"] == "COMPLETE" and run.info.status == "FINISHED"
            # the same trainer settings and the same logged quantities for every controller
            assert set(params) == set(reference.data.params)
            assert {k: v for k, v in params.items() if k.startswith("train.")} == \
                {k: v for k, v in reference.data.params.items() if k.startswith("train.")}
            assert params["train.lr"] == "0.005" and params["train.epochs"] == "1"
            assert {"best_val_acc", "test_acc", "val_acc", "train_loss"} <= set(run.data.metrics)
    for res in (rnd, opt, rc):
        parent = client.get_run(res["parent_run_id"])
        assert parent.info.status == "FINISHED"
        assert parent.data.metrics["best_val_acc"] == pytest.approx(max(h["reward"] for h in res["history"]))
    with pytest.raises(CheckpointError, match="not autognn|is a random"):
        run_nas(controller="autognn", budget=3, resume=rnd["parent_run_id"], **common)


def test_random_search_fans_out_over_worker_processes_sharing_one_study(
        tracking_uri: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """--workers: two worker processes share one Optuna study; the budget is met once, the best is retrained."""
    monkeypatch.chdir(tmp_path)
    storage = f"sqlite:///{tmp_path / 'nas-study.db'}"
    res = run_nas(controller="random", dataset="cora", budget=3, epochs=1, seed=0, workers=2, storage=storage,
                  tracking_uri=tracking_uri, experiment="nas-workers", retrain_seeds=1, top_k=2)
    done = [h for h in res["history"] if h["state"] == "COMPLETE"]
    assert len(done) == 3 and len({h["step"] for h in done}) == 3
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri)
    parent = client.get_run(res["parent_run_id"])
    assert parent.data.tags["plexus.kind"] == "nas" and parent.data.tags["plexus.nas.controller"] == "random"
    assert parent.data.tags["plexus.nas.best_arch"] == res["best"]["arch"]
    exp = client.get_experiment_by_name("nas-workers")
    nested = client.search_runs([exp.experiment_id], f"tags.mlflow.parentRunId = '{parent.info.run_id}'")
    assert len(nested) == 5 and res["retrain"]["seeds"] == [0]
    # the study's trials carry their architectures, so the top 2 of the study are retrained
    cands = res["retrain"]["candidates"]
    assert [c["search_val_acc"] for c in cands] == sorted((h["reward"] for h in done), reverse=True)[:2]
    assert {c["arch"] for c in cands} <= {h["arch"] for h in done} and None not in {c["arch"] for c in cands}
    import optuna

    study = optuna.load_study(study_name="nas-random-cora-seed0", storage=storage)
    # a worker that asks for a trial once the budget is taken gets a surplus trial it never runs (no worker attr)
    ran = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    assert len(ran) == 3
    workers = {t.user_attrs["plexus.worker"].rsplit(":", 1)[-1] for t in ran}
    assert workers and workers <= {"w0", "w1"}  # the trials ran in the worker processes
    # the same command again resumes the finished study: nothing new is trained but the retrain
    again = run_nas(controller="random", dataset="cora", budget=3, epochs=1, seed=0, workers=2, storage=storage,
                    tracking_uri=tracking_uri, experiment="nas-workers", retrain_seeds=0)
    assert again["parent_run_id"] == res["parent_run_id"] and len(again["history"]) == 3
