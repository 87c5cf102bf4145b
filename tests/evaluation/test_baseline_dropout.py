"""The dropout-sensitivity report of the fidelity baselines: selection on validation, per fold."""

from __future__ import annotations

import statistics

import pytest
from plexus.evaluation.bench.baseline_dropout import summary


def _run(model: str, fold: int, dropout: float, val: float, test: float) -> dict:
    return {"config": "c", "model": model, "fold": fold, "dropout": dropout, "val_acc": val, "test_acc": test}


def test_selection_follows_validation_not_test() -> None:
    runs = [_run("gcn", 0, 0.0, 70.0, 60.0), _run("gcn", 0, 0.5, 65.0, 80.0),   # val picks 0.0, test would pick 0.5
            _run("gcn", 1, 0.0, 60.0, 50.0), _run("gcn", 1, 0.5, 61.0, 70.0),   # val picks 0.5
            _run("gcn", 2, 0.0, 64.0, 66.0), _run("gcn", 2, 0.5, 64.0, 90.0)]   # tie: the smaller dropout
    (row,) = summary(runs)
    assert row["folds"] == [0, 1, 2]
    assert row["selected dropouts"] == [0.0, 0.5, 0.0]
    mean, std, n = row["selected on val"]
    assert n == 3 and mean == pytest.approx((60 + 70 + 66) / 3) and std == pytest.approx(statistics.stdev([60, 70, 66]))
    assert row["dropout 0.5"][0] == pytest.approx(80.0) and row["dropout 0"][2] == 3


def test_models_and_configs_are_kept_apart() -> None:
    runs = [_run("gcn", 0, 0.0, 70.0, 60.0), _run("gin", 0, 0.0, 10.0, 20.0),
            {**_run("gcn", 0, 0.0, 50.0, 40.0), "config": "d"}]
    rows = {(r["config"], r["model"]): r for r in summary(runs)}
    assert set(rows) == {("c", "gcn"), ("c", "gin"), ("d", "gcn")}
    assert rows[("c", "gin")]["selected on val"][0] == pytest.approx(20.0)
    assert rows[("d", "gcn")]["selected on val"][0] == pytest.approx(40.0)
