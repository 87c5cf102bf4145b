"""``plexus nas`` end to end on Cora: one parent MLflow run with one nested child run per architecture."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient
from plexus.nas.spaces.graphnas import Architecture, GraphNASSpace
from plexus.platform.cli import main

SMALL = ["--choices", "hidden=4,8", "--choices", "heads=1,2"]  # keeps each 2-epoch child to a second or two


def run_cli(args: list[str], capfd: pytest.CaptureFixture) -> tuple[int, str, str]:
    code = 0
    try:
        main(args)
    except SystemExit as exc:
        code = int(exc.code or 0)
    out, err = capfd.readouterr()
    return code, out, err


def test_tiny_rcnas_search_creates_one_parent_and_three_children(
        tracking_uri: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture) -> None:
    monkeypatch.chdir(tmp_path)
    code, out, err = run_cli(["nas", "--space", "graphnas", "--controller", "rcnas", "--dataset", "cora",
                              "--budget", "3", "--epochs", "2", "--seed", "1", *SMALL, "--tracking-uri", tracking_uri,
                              "--experiment", "nas-cli", "--json"], capfd)
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
    assert parent.data.tags["plexus.nas.controller"] == "rcnas"
    children = [r for r in runs if r.data.tags.get("mlflow.parentRunId") == parent.info.run_id]
    assert len(children) == 3 and len(runs) == 4
    space = GraphNASSpace(2)
    by_step = {int(c.data.tags["plexus.nas.step"]): c for c in children}
    for h in result["history"]:
        child = by_step[h["step"]]
        assert child.data.tags["plexus.nas.controller"] == "rcnas"
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


def test_user_errors_are_one_line(tracking_uri: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                  capfd: pytest.CaptureFixture) -> None:
    monkeypatch.chdir(tmp_path)
    for args, needle in [(["--controller", "darts"], "unknown NAS controller"),
                         (["--budget", "0"], "--budget"),
                         (["--choices", "hidden=5"], "hidden"),
                         (["--controller", "random", "--sampler", "tpe"], "optuna"),
                         (["--dataset", "criteo-10k"], "node")]:
        full = ["nas", "--dataset", "cora", "--tracking-uri", tracking_uri, *args]
        if "--dataset" in args:
            full = ["nas", "--tracking-uri", tracking_uri, *args]
        code, _, err = run_cli(full, capfd)
        lines = [ln for ln in err.splitlines() if ln.strip()]
        assert code == 2 and len(lines) == 1 and needle in lines[0], (args, err)
    assert not (tmp_path / "mlruns" / "nas").exists()
