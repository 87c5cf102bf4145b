"""``plexus nas`` end to end on Cora: one parent MLflow run with one nested child run per architecture."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient
from plexus.nas.spaces.graphnas import Architecture, GraphNASSpace

SMALL = ["--choices", "hidden=4,8", "--choices", "heads=1,2"]  # keeps each 2-epoch child to a second or two
CLI = Callable[[list[str]], tuple[int, str, str]]  # the ``cli`` fixture of tests/conftest.py


def test_tiny_autognn_search_creates_one_parent_three_children_and_retrains_the_best(
        tracking_uri: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, cli: CLI) -> None:
    monkeypatch.chdir(tmp_path)
    code, out, err = cli(["nas", "--space", "graphnas", "--controller", "autognn", "--dataset", "cora",
                          "--budget", "3", "--epochs", "2", "--seed", "1", *SMALL, "--tracking-uri", tracking_uri,
                          "--experiment", "nas-cli", "--retrain-seeds", "2", "--top-k", "1", "--json"])
    assert code == 0, err
    result = json.loads(out)
    assert result["evaluated"] == 3 and len(result["history"]) == 3
    client = MlflowClient(tracking_uri)
    exp = client.get_experiment_by_name("nas-cli")
    runs = client.search_runs([exp.experiment_id])
    parents = [r for r in runs if r.data.tags.get("plexus.kind") == "nas"]
    assert len(parents) == 1
    parent = parents[0]
    assert parent.info.run_id == result["parent_run_id"] and parent.info.status == "FINISHED"
    assert parent.data.tags["plexus.nas.controller"] == "autognn"
    assert [(i.dataset.name, i.tags[0].value) for i in parent.inputs.dataset_inputs] == [("cora", "search")]
    assert parent.data.tags["mlflow.source.name"].startswith(("plexus", "python", "pytest"))
    nested = [r for r in runs if r.data.tags.get("mlflow.parentRunId") == parent.info.run_id]
    children = [r for r in nested if r.data.tags.get("plexus.nas.phase") != "retrain"]
    retrained = [r for r in nested if r.data.tags.get("plexus.nas.phase") == "retrain"]
    assert len(children) == 3 and len(retrained) == 2 and len(runs) == 6
    space = GraphNASSpace(2)
    by_step = {int(c.data.tags["plexus.nas.step"]): c for c in children}
    for h in result["history"]:
        child = by_step[h["step"]]
        assert child.data.tags["plexus.nas.controller"] == "autognn"
        assert child.data.tags["plexus.model"] == "graphnas_net"
        assert Architecture.from_json(child.data.tags["plexus.nas.arch"]) == Architecture.from_json(h["arch"])
        assert child.data.params["hparams.arch"] == child.data.tags["plexus.nas.arch"]
        assert child.info.run_id == h["run_id"] and child.data.metrics["best_val_acc"] == pytest.approx(h["reward"])
        assert h["state"] == "COMPLETE" and 0.0 <= h["reward"] <= 1.0
    # conservative steps: each child differs from the best so far in exactly the class the guider chose
    best = Architecture.from_json(result["history"][0]["arch"])
    best_r = result["history"][0]["reward"]
    for h in result["history"][1:]:
        arch = Architecture.from_json(h["arch"])
        assert space.changed_classes(best, arch) == {h["action"]}
        assert by_step[h["step"]].data.tags["plexus.nas.inherited_layers"] == (
            ",".join(map(str, h["inherited_layers"])) or "none")
        if h["reward"] > best_r:
            best, best_r = arch, h["reward"]
    assert parent.data.metrics["best_val_acc"] == pytest.approx(max(h["reward"] for h in result["history"]))
    assert Path(result["state_path"]).is_file()
    # --top-k 1: the search's best architecture, retrained from scratch with seeds 0 and 1, nested under the parent
    best_arch = max(result["history"], key=lambda h: h["reward"])["arch"]
    again = result["retrain"]
    assert again["seeds"] == [0, 1] and sorted(again["run_ids"]) == sorted(r.info.run_id for r in retrained)
    assert again["top_k"] == 1 and again["rank"] == 0 and again["arch"] == best_arch
    for r in retrained:
        assert Architecture.from_json(r.data.tags["plexus.nas.arch"]) == Architecture.from_json(best_arch)
        assert r.data.metrics["test_acc"] in again["test_acc"]
    parent = client.get_run(parent.info.run_id)
    assert parent.data.metrics["retrain_test_acc_mean"] == pytest.approx(sum(again["test_acc"]) / 2)

    # plexus nas show RUN prints the best architecture; plexus train nas:RUN retrains it like any model
    code, out, err = cli(["nas", "show", parent.info.run_id, "--tracking-uri", tracking_uri, "--json"])
    assert code == 0, err
    shown = json.loads(out)
    assert Architecture.from_json(shown["arch"]) == Architecture.from_json(best_arch)
    assert [la["attention"] for la in shown["layers"]] == [la.attention for la in Architecture.from_json(best_arch).layers]
    code, out, err = cli(["train", f"nas:{parent.info.run_id}", "--dataset", "cora", "--set", "train.epochs=2",
                          "--tracking-uri", tracking_uri, "--experiment", "nas-cli-retrain", "--json"])
    assert code == 0, err
    trained = client.get_run(json.loads(out)["run_id"])
    assert trained.data.tags["plexus.model"] == "graphnas_net"
    assert Architecture.from_json(trained.data.params["hparams.arch"]) == Architecture.from_json(best_arch)
    assert trained.data.params["train.lr"] == "0.005"  # the NAS child-training defaults come along
    code, _, err = cli(["nas", "show", retrained[0].data.tags["mlflow.parentRunId"] + "x", "--tracking-uri",
                        tracking_uri])
    assert code == 2 and "no run" in err


def test_user_errors_are_one_line(tracking_uri: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, cli: CLI) -> None:
    monkeypatch.chdir(tmp_path)
    states = _nas_states(tracking_uri)  # a rejected command must leave no NAS state beside the store
    for args, needle in [(["--controller", "darts"], "unknown NAS controller"),
                         (["--budget", "0"], "--budget"),
                         (["--choices", "hidden=5"], "hidden"),
                         (["--controller", "random", "--sampler", "tpe"], "optuna"),
                         (["--dataset", "synthetic-behavior"], "node"),
                         (["--controller", "autognn", "--workers", "2"], "sequential"),
                         (["--controller", "random", "--workers", "2", "--choices", "hidden=8"], "--choices"),
                         (["--retrain-seeds", "-1"], "--retrain-seeds"),
                         (["--top-k", "0"], "--top-k")]:
        full = ["nas", "--dataset", "cora", "--tracking-uri", tracking_uri, *args]
        if "--dataset" in args:
            full = ["nas", "--tracking-uri", tracking_uri, *args]
        code, _, err = cli(full)
        lines = [ln for ln in err.splitlines() if ln.strip()]
        assert code == 2 and len(lines) == 1 and needle in lines[0], (args, err)
    assert _nas_states(tracking_uri) == states


def _nas_states(uri: str) -> list[str]:
    from plexus.platform.tracking._locations import files_root

    root = files_root(uri) / "nas"
    return sorted(p.name for p in root.iterdir()) if root.is_dir() else []
