"""The NAS report: every number comes from the searches' histories (equal-budget cut, wall-time cut)."""

from __future__ import annotations

import json
from pathlib import Path

from plexus.evaluation.bench.nas_report import best_within, load_searches, render, summarise


def _h(rewards: list[float | None], dt: float = 10.0) -> list[dict]:
    return [{"step": i, "arch": json.dumps({"layers": [{"attention": "gcn", "aggregator": "sum", "activation": "relu",
                                                        "heads": 1, "hidden": None}]}),
             "reward": r, "test_acc": None if r is None else r - 0.01, "state": "PRUNED" if r is None else "COMPLETE",
             "elapsed_s": dt * (i + 1), "inherited_layers": [0] if i % 2 else None} for i, r in enumerate(rewards)]


def test_best_within_cuts_by_steps_and_by_wall_time() -> None:
    h = _h([0.5, None, 0.7, 0.6, 0.9])
    assert best_within(h)["reward"] == 0.9
    assert best_within(h, steps=4)["reward"] == 0.7  # the pruned one never counts
    assert best_within(h, seconds=25.0)["reward"] == 0.5
    assert best_within(h, seconds=5.0) is None


def test_searches_load_and_summarise_at_the_common_budget(tmp_path: Path) -> None:
    a, b, c = tmp_path / "nas-random-0", tmp_path / "nas-random-1", tmp_path / "nas-autognn-0"
    for d in (a, b, c):
        d.mkdir()
    (a / "result.json").write_text(json.dumps({"history": _h([0.5, 0.8, 0.6]),
                                               "retrain": {"mean": 0.79, "std": 0.01}}))
    (b / "result.json").write_text("")  # stopped by a time limit: the state export is used
    (b / "state.json").write_text(json.dumps({"history": _h([0.4, 0.45])}))
    (c / "state.json").write_text(json.dumps({"history": _h([0.3, 0.9, 0.95, 0.99])}))
    (tmp_path / "not-a-search").mkdir()
    searches = load_searches(tmp_path)
    assert sorted((s["variant"], s["seed"]) for s in searches) == [("autognn", 0), ("random", 0), ("random", 1)]
    summary = summarise(searches)
    assert summary["common_budget"] == 2
    rnd = summary["variants"]["random"]
    assert rnd["best_val_at_common"][0] == (0.8 + 0.45) / 2 and rnd["best_val"][0] == (0.8 + 0.45) / 2
    assert rnd["retrain_mean"] == (0.79, 0.0) and rnd["evaluated"] == [3, 2]
    auto = summary["variants"]["autognn"]
    assert auto["best_val_at_common"][0] == 0.9 and auto["best_val"][0] == 0.99
    assert auto["best_val_by_s"][100] == (0.99, 0.0)
    md = render(summary, "a note")
    assert "first 2 architectures" in md and "a note" in md and "time limit" in md
