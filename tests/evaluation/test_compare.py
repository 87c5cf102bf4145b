"""plexus compare: run selection, ranking direction, varying params, importances, the HTML report, errors."""

from __future__ import annotations

import json
import math
import re
import uuid
from pathlib import Path

import pytest
from plexus.evaluation.compare import compare_runs, infer_direction, param_importances
from plexus.evaluation.report import render_html

DATASET = "synthetic-behavior"  # any CTR data: the generated one needs no download
USERS = 200  # small for speed
TRIALS = [(0.01, 256), (0.05, 128), (0.002, 512)]  # (lr, batch_size) of the three child runs


@pytest.fixture(scope="module")
def study(tracking_uri: str, tmp_path_factory: pytest.TempPathFactory) -> dict:
    """A parent run and three trained child runs (lr on synthetic-behavior, 2 epochs) tagged plexus.study."""
    from mlflow.tracking import MlflowClient
    from plexus.platform.config import build_config
    from plexus.platform.tracking import get_experiment_id
    from plexus.platform.training import train_model

    name, exp = f"lr-study-{uuid.uuid4().hex[:6]}", f"compare-{uuid.uuid4().hex[:6]}"
    client = MlflowClient(tracking_uri)
    parent = client.create_run(get_experiment_id(client, exp), run_name=f"study-{name}",
                               tags={"plexus.study": name, "plexus.model": "lr"})
    ckpt = tmp_path_factory.mktemp("ckpt")
    children = []
    for i, (lr, bs) in enumerate(TRIALS):
        cfg = build_config({"train": {"seed": 1, "epochs": 2, "batch_size": bs, "lr": lr, "patience": 0},
                            "tracking": {"experiment": exp, "log_model": False, "checkpoint_dir": str(ckpt),
                                         "run_name": f"lr-{DATASET}-t{i}"},
                            "dataset_options": {"num_users": USERS}}, model="lr", dataset=DATASET)
        res = train_model(cfg, tracking_uri=tracking_uri, progress=False, parent_run_id=parent.info.run_id,
                          extra_tags={"plexus.study": name, "plexus.trial": str(i)})
        children.append(res["run_id"])
    client.set_terminated(parent.info.run_id)
    return {"name": name, "experiment": exp, "parent": parent.info.run_id, "children": children, "client": client}


@pytest.fixture(scope="module")
def synthetic(tracking_uri: str) -> dict:
    """Twelve hand-logged runs where val_auc depends on ``hparams.dim`` only and ``hparams.noise`` is irrelevant."""
    from mlflow.entities import Metric, Param
    from mlflow.tracking import MlflowClient
    from plexus.platform.tracking import get_experiment_id

    client = MlflowClient(tracking_uri)
    exp = f"synthetic-{uuid.uuid4().hex[:6]}"
    eid = get_experiment_id(client, exp)
    ids = []
    for i in range(12):
        dim, noise = [8, 16, 32, 64][i % 4], ["a", "b", "c"][i % 3]
        score = 0.5 + 0.1 * math.log2(dim / 8)
        run = client.create_run(eid, run_name=f"syn-{i}", tags={"plexus.task": "ctr"})
        rid = run.info.run_id
        hist = [Metric("val_auc", score - 0.05 * (3 - e), 0, e) for e in (1, 2, 3)]
        loss = [Metric("val_logloss", 1.0 - score + 0.01 * e, 0, e) for e in (1, 2, 3)]
        client.log_batch(rid, metrics=hist + loss, params=[Param("hparams.dim", str(dim)),
                                                           Param("hparams.noise", noise), Param("train.epochs", "3")])
        client.set_terminated(rid)
        ids.append(rid)
    return {"experiment": exp, "ids": ids, "client": client}


def test_direction_inferred_from_the_metric_name() -> None:
    for m in ("val_loss", "val_logloss", "best_val_logloss", "test_rmse", "duration_s", "val_mae"):
        assert infer_direction(m) == "min", m
    for m in ("val_auc", "best_val_auc", "val_acc", "val_hits@100", "val_map", "val_minority_f1", "test_ndcg@10"):
        assert infer_direction(m) == "max", m


def test_runs_carry_what_the_mlflow_ui_needs(study: dict) -> None:
    client = study["client"]
    for i, rid in enumerate(study["children"]):
        run = client.get_run(rid)
        assert run.info.run_name == f"lr-{DATASET}-t{i}"
        tags = run.data.tags
        assert tags["mlflow.parentRunId"] == study["parent"]
        assert tags["plexus.study"] == study["name"] and tags["plexus.model"] == "lr"
        assert tags["plexus.monitor"] == "val_auc" and tags["plexus.mode"] == "max"
        assert {"val_auc", "best_val_auc", "test_auc", "train_loss"} <= set(run.data.metrics)
        assert sorted(m.step for m in client.get_metric_history(rid, "val_auc")) == [1, 2]


def test_study_ranked_by_monitored_metric(study: dict) -> None:
    cmp = compare_runs(study["client"].tracking_uri, study=study["name"], client=study["client"])
    assert cmp.metric == "val_auc" and cmp.direction == "max"
    assert cmp.parent_run_id == study["parent"]
    assert sorted(r.run_id for r in cmp.runs) == sorted(study["children"])  # the parent is not a trial
    bests = [r.best for r in cmp.runs]
    assert bests == sorted(bests, reverse=True) and [r.rank for r in cmp.runs] == [1, 2, 3]
    for r in cmp.runs:
        hist = [m.value for m in sorted(study["client"].get_metric_history(r.run_id, "val_auc"), key=lambda m: m.step)]
        assert r.final == pytest.approx(hist[-1])
        assert r.best == pytest.approx(r.metrics["best_val_auc"]) and r.best == pytest.approx(max(hist))
        assert r.duration_s is not None and r.duration_s > 0
    assert {"train.lr", "train.batch_size"} <= set(cmp.varying)
    assert not any(k.startswith("tracking.") for k in cmp.varying) and "train.epochs" not in cmp.varying
    by_loss = compare_runs(study["client"].tracking_uri, study=study["name"], metric="val_logloss",
                           client=study["client"])
    assert by_loss.direction == "min"
    assert [r.best for r in by_loss.runs] == sorted(r.best for r in by_loss.runs)


def test_importances_find_the_parameter_that_matters(synthetic: dict) -> None:
    cmp = compare_runs(synthetic["client"].tracking_uri, experiment=synthetic["experiment"],
                       client=synthetic["client"])
    assert cmp.metric == "val_auc" and len(cmp.runs) == 12  # default metric: the ctr task's monitor
    assert cmp.varying == ["hparams.dim", "hparams.noise"]
    assert cmp.runs[0].params["hparams.dim"] == "64" and cmp.runs[-1].params["hparams.dim"] == "8"
    imp = param_importances(cmp)
    assert set(imp) == {"hparams.dim", "hparams.noise"}
    assert sum(imp.values()) == pytest.approx(1.0, abs=1e-6)
    assert imp["hparams.dim"] > 0.8 > imp["hparams.noise"]
    subset = compare_runs(synthetic["client"].tracking_uri, run_ids=synthetic["ids"][:2], client=synthetic["client"])
    assert sorted(r.run_id for r in subset.runs) == sorted(synthetic["ids"][:2]) and subset.parent_run_id is None
    html = render_html(cmp, imp)
    assert html.count("data:image/png;base64,") == 3  # curves, parallel coordinates, importances


def test_cli_compare_json_report_and_parent_artifact(study: dict, tmp_path: Path, cli) -> None:
    uri = study["client"].tracking_uri
    out = tmp_path / "report.html"
    code, stdout, _ = cli(["compare", "--study", study["name"], "--tracking-uri", uri, "--output", str(out), "--json"])
    assert code == 0
    data = json.loads(stdout)
    assert data["metric"] == "val_auc" and data["parent_run_id"] == study["parent"]
    assert [r["rank"] for r in data["runs"]] == [1, 2, 3]
    assert set(data["runs"][0]["params"]) == set(data["varying_params"])
    html = out.read_text()
    assert html.count("data:image/png;base64,") == 3
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", html)  # self-contained: nothing fetched
    for i in range(3):
        assert f"lr-{DATASET}-t{i}" in html
    arts = [a.path for a in study["client"].list_artifacts(study["parent"], "reports")]
    assert arts == ["reports/compare.html"] and data["report_artifact"].endswith("reports/compare.html")


@pytest.mark.parametrize("args, needle", [
    (["--experiment", "no-such-experiment"], "experiment 'no-such-experiment' not found"),
    (["--study", "no-such-study"], "study 'no-such-study' not found"),
    (["--runs", "0123456789abcdef0123456789abcdef"], "run '0123456789abcdef0123456789abcdef' not found"),
])
def test_cli_unknown_selection_is_one_line_exit_2(tracking_uri: str, synthetic: dict, args: list[str], needle: str,
                                                  tmp_path: Path, cli) -> None:
    code, _, err = cli(["compare", "--tracking-uri", tracking_uri, "--output", str(tmp_path / "r.html"), *args])
    err = err.strip()
    assert code == 2 and needle in err and len(err.splitlines()) == 1
    assert not (tmp_path / "r.html").exists()


def test_cli_unknown_metric_and_missing_store(synthetic: dict, tmp_path: Path, cli) -> None:
    uri = synthetic["client"].tracking_uri
    code, _, err = cli(["compare", "--experiment", synthetic["experiment"], "--tracking-uri", uri, "--metric", "val_nope"])
    assert code == 2 and "metric 'val_nope' was not logged" in err
    missing = f"sqlite:///{tmp_path / 'absent' / 'mlflow.db'}"
    code, _, err = cli(["compare", "--tracking-uri", missing])
    assert code == 2 and "no such database file" in err and not (tmp_path / "absent" / "mlflow.db").exists()
