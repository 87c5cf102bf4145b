"""``run_demo(quick=True)``: the three journeys leave a NAS and a search parent with nested children, ranked."""

from __future__ import annotations

from pathlib import Path

import pytest


def test_demo_quick_runs_both_searches_and_ranks_them(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from mlflow.tracking import MlflowClient
    from plexus.demo import DEMO_EXPERIMENT, QUICK, run_demo

    monkeypatch.chdir(tmp_path)
    # a fresh machine: no network, no mirror, an empty data home
    monkeypatch.setenv("PLEXUS_OFFLINE", "1")
    monkeypatch.delenv("PLEXUS_DATA_MIRROR", raising=False)
    monkeypatch.setenv("PLEXUS_DATA", str(tmp_path / "empty-data-home"))
    uri = f"sqlite:///{tmp_path / 'mlruns' / 'mlflow.db'}"
    lines: list[str] = []
    out = run_demo(progress=False, echo=lines.append, quick=True, install_plugin=False, tracking_uri=uri)

    client = MlflowClient(uri)
    exp = client.get_experiment_by_name(DEMO_EXPERIMENT)
    assert exp is not None
    runs = client.search_runs([exp.experiment_id], max_results=100)
    by_id = {r.info.run_id: r for r in runs}
    nas_parent, search_parent = out["nas"]["parent_run_id"], out["search"]["parent_run_id"]
    assert by_id[nas_parent].data.tags["plexus.kind"] == "nas"
    assert by_id[search_parent].data.tags["plexus.kind"] == "search"
    children = {p: [r for r in runs if r.data.tags.get("mlflow.parentRunId") == p] for p in (nas_parent, search_parent)}
    phases = [r.data.tags.get("plexus.nas.phase") for r in children[nas_parent]]
    assert len([p for p in phases if p != "retrain"]) == QUICK.nas_budget
    # the top 2 distinct architectures, each retrained with 2 seeds; the selected one reports its 2 test accuracies
    candidates = out["nas"]["retrain"]["candidates"]
    assert 1 <= len(candidates) <= 2 and out["nas"]["retrain"]["top_k"] == 2
    assert phases.count("retrain") == 2 * len(candidates) and len(out["nas"]["retrain"]["test_acc"]) == 2
    assert len(children[search_parent]) == QUICK.search_trials
    assert all(r.data.tags.get("plexus.dataset") == "synthetic-behavior" for r in children[search_parent])
    base = by_id[out["din_base"]["run_id"]]  # DIN's sum-pooling base on the same data, beside the search
    assert base.data.tags["plexus.model"] == "din_base" and base.data.tags["plexus.dataset"] == "synthetic-behavior"
    assert base.data.params["dataset_options.num_users"] == str(QUICK.behavior_users)
    assert any(ln.startswith("DIN against its sum-pooling base") for ln in lines)

    for key, parent, metric in (("nas", nas_parent, "val_acc"), ("search", search_parent, "val_auc")):
        cmp = out["compare"][key]
        assert cmp["metric"] == metric and cmp["parent_run_id"] == parent
        # the NAS comparison ranks the evaluated architectures, not the final retraining of the best
        assert {r["run_id"] for r in cmp["runs"]} == {r.info.run_id for r in children[parent]
                                                       if r.data.tags.get("plexus.nas.phase") != "retrain"}
        ranked = [r for r in cmp["runs"] if r["rank"] is not None]
        assert [r["rank"] for r in ranked] == list(range(1, len(ranked) + 1))
        assert [r["best"] for r in ranked] == sorted((r["best"] for r in ranked), reverse=True)
        assert Path(cmp["report"]).exists()
    assert "num_users" in str(by_id[children[search_parent][0].info.run_id].data.params)
    assert any("runs by val_acc" in ln for ln in lines) and any("runs by val_auc" in ln for ln in lines)
    assert lines[-1].endswith(out["ui_command"]) and out["ui_command"].startswith("plexus ui")
