"""After a search: the top-k architectures are retrained and one is selected on validation, never on test."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from mlflow.tracking import MlflowClient
from plexus.nas.retrain import CHILD_TRAIN, child_raw, retrain_top_k, top_candidates
from plexus.nas.search import architecture_of, run_nas
from plexus.nas.spaces.graphnas import GraphNASSpace
from plexus.platform.errors import ConfigError


def _arch(hidden: int) -> str:
    space = GraphNASSpace(2, choices={"hidden": [4, 8, 16, 32, 64, 128, 256]})
    layers = list(space.default().layers)
    layers[0] = type(layers[0])(hidden=hidden)
    return type(space.default())(tuple(layers)).to_json()


A, B, C, D, E = (_arch(h) for h in (4, 8, 16, 32, 64))
HISTORY = [
    {"step": 0, "arch": A, "reward": 0.70, "state": "COMPLETE"},
    {"step": 1, "arch": B, "reward": 0.80, "state": "COMPLETE"},
    {"step": 2, "arch": C, "reward": 0.90, "state": "PRUNED"},  # pruned: never a candidate
    {"step": 3, "arch": D, "reward": None, "state": "FAILED"},
    {"step": 4, "arch": A, "reward": 0.82, "state": "COMPLETE"},  # A again, better: counts once, with 0.82
    {"step": 5, "arch": E, "reward": 0.75, "state": "COMPLETE"},
    {"step": 6, "arch": C, "reward": 0.60, "state": "COMPLETE"},
]


def test_top_candidates_are_distinct_finished_architectures_by_search_reward() -> None:
    assert [h["arch"] for h in top_candidates(HISTORY, 2)] == [A, B]
    top = top_candidates(HISTORY, 10)
    assert [h["arch"] for h in top] == [A, B, E, C] and top[0]["reward"] == 0.82
    assert top_candidates([], 3) == []
    with pytest.raises(ConfigError, match="--top-k"):
        top_candidates(HISTORY, 0)


def _stub(table: dict[str, tuple[float, float]]) -> tuple[Any, list[tuple[str, int]]]:
    """A retrain function returning fixed (val, test) per architecture; it records its calls."""
    calls: list[tuple[str, int]] = []

    def retrain(arch: str, rank: int) -> dict[str, Any]:
        calls.append((arch, rank))
        val, test = table[arch]
        return {"seeds": [0, 1], "val_acc": [val, val], "val_mean": val, "test_acc": [test, test], "mean": test,
                "std": 0.0, "run_ids": [f"{rank}-0", f"{rank}-1"]}
    return retrain, calls


def test_selection_picks_best_mean_validation_and_ignores_test() -> None:
    # B is best on validation; A (the search's best) has the best test accuracy and must not win
    retrain, calls = _stub({A: (0.78, 0.90), B: (0.81, 0.70), E: (0.80, 0.85), C: (0.60, 0.99)})
    out = retrain_top_k(HISTORY, k=3, retrain=retrain)
    assert calls == [(A, 0), (B, 1), (E, 2)]  # exactly k candidates, best search reward first
    assert out is not None and out["arch"] == B and out["rank"] == 1 and out["mean"] == 0.70
    assert out["top_k"] == 3 and [c["arch"] for c in out["candidates"]] == [A, B, E]
    assert out["search_val_acc"] == 0.80 and out["run_ids"] == ["1-0", "1-1"]


def test_selection_honours_k_and_breaks_ties_by_search_rank() -> None:
    retrain, calls = _stub({A: (0.80, 0.5), B: (0.80, 0.9), E: (0.95, 0.1), C: (0.99, 0.1)})
    out = retrain_top_k(HISTORY, k=1, retrain=retrain)
    assert calls == [(A, 0)] and out is not None and out["arch"] == A
    calls.clear()
    out = retrain_top_k(HISTORY, k=2, retrain=retrain)
    assert len(calls) == 2 and out is not None and out["arch"] == A  # equal validation: the better-ranked one
    calls.clear()
    out = retrain_top_k(HISTORY, k=4, retrain=retrain)
    assert len(calls) == 4 and out is not None and out["arch"] == C  # k=4 reaches C, best on validation
    assert retrain_top_k([], k=5, retrain=retrain) is None


def test_child_protocol_normalises_planetoid_features_and_overrides_win() -> None:
    raw = child_raw("cora", 200, 3, None)
    assert raw["train"] == {**CHILD_TRAIN, "epochs": 200, "seed": 3} and CHILD_TRAIN["patience"] == 100
    assert raw["dataset_options"] == {"normalize_features": True}
    assert child_raw("cora", 5, 0, ["dataset_options.normalize_features=false"])["dataset_options"] == {
        "normalize_features": False}
    assert child_raw("synthetic-behavior", 5, 0, None)["dataset_options"] == {}


def test_search_retrains_top_k_with_the_real_trainer_and_reports_the_selected(
        tracking_uri: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    res = run_nas(controller="random", dataset="cora", budget=3, epochs=2, seed=0, tracking_uri=tracking_uri,
                  choices={"hidden": [4, 8], "heads": [1, 2]}, experiment="nas-topk", retrain_seeds=2, top_k=2)
    again = res["retrain"]
    assert again["top_k"] == 2 and len(again["candidates"]) == 2 and again["seeds"] == [0, 1]
    expect = top_candidates(res["history"], 2)
    assert [c["arch"] for c in again["candidates"]] == [h["arch"] for h in expect]
    best_val = max(c["val_mean"] for c in again["candidates"])
    assert again["val_mean"] == best_val and again["arch"] == again["candidates"][again["rank"]]["arch"]
    client = MlflowClient(tracking_uri)
    parent = client.get_run(res["parent_run_id"])
    runs = client.search_runs([parent.info.experiment_id],
                              f"tags.mlflow.parentRunId = '{parent.info.run_id}' and tags.`plexus.nas.phase` = 'retrain'")
    assert sorted(r.data.tags["plexus.nas.candidate"] for r in runs) == ["0", "0", "1", "1"]
    for r in runs:
        cand = again["candidates"][int(r.data.tags["plexus.nas.candidate"])]
        assert r.data.tags["plexus.nas.arch"] == cand["arch"] and r.info.run_id in cand["run_ids"]
        assert r.data.params["dataset_options.normalize_features"] == "True"
    assert parent.data.tags["plexus.nas.selected_arch"] == again["arch"]
    assert parent.data.tags["plexus.nas.retrain_runs"] == ",".join(again["run_ids"])
    assert parent.data.metrics["retrain_val_acc_mean"] == pytest.approx(again["val_mean"])
    assert parent.data.metrics["retrain_test_acc_mean"] == pytest.approx(again["mean"])
    assert parent.data.metrics["retrain_selected_rank"] == again["rank"]
    arch, info = architecture_of(res["parent_run_id"], tracking_uri)
    assert json.loads(arch) == json.loads(again["arch"]) and "metric.retrain_val_acc_mean" in info
