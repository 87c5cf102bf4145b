"""Runs name their data: dataset inputs per split, the command line as source, masked."""

from __future__ import annotations

import json
from pathlib import Path

from mlflow.tracking import MlflowClient

from plexus.platform.config import build_config
from plexus.platform.data.service import load_dataset
from plexus.platform.tracking._inputs import dataset_inputs, run_source, split_sizes
from plexus.platform.training import train_model


def test_a_trained_run_logs_each_split_as_a_dataset_input(tmp_path: Path, tracking_uri: str) -> None:
    cfg = build_config({"train": {"epochs": 1}, "tracking": {"checkpoint_dir": str(tmp_path), "log_model": False,
                                                             "experiment": "inputs"}}, model="gcn", dataset="cora")
    res = train_model(cfg, tracking_uri=tracking_uri, progress=False)
    run = MlflowClient(tracking_uri).get_run(res["run_id"])
    inputs = run.inputs.dataset_inputs
    by_context = {next(t.value for t in i.tags if t.key == "mlflow.data.context"): i.dataset for i in inputs}
    assert set(by_context) == {"training", "validation", "testing"}
    assert {d.name for d in by_context.values()} == {"cora"}
    sizes = {ctx: json.loads(d.profile)["size"] for ctx, d in by_context.items()}
    assert sizes == {"training": 140, "validation": 500, "testing": 1000}  # Planetoid's public split
    assert len({d.digest for d in by_context.values()}) == 3  # one input per split, so digests must differ
    fingerprint = run.data.tags["plexus.dataset_fingerprint"]
    assert all(json.loads(d.schema)["fingerprint"] == fingerprint for d in by_context.values())
    assert "github.com/kimiyoung/planetoid" in by_context["training"].source
    assert run.data.tags["mlflow.source.name"]


def test_a_different_dataset_version_gets_different_digests() -> None:
    a = load_dataset("cora", task="node")
    b = load_dataset("cora", task="node", normalize_features=True)
    assert a.fingerprint != b.fingerprint
    assert {i.dataset.digest for i in dataset_inputs("cora", a)}.isdisjoint(
        {i.dataset.digest for i in dataset_inputs("cora", b)})
    (search,) = dataset_inputs("cora", a, splits=False)
    assert search.tags[0].value == "search"
    assert json.loads(search.dataset.profile)["splits"] == split_sizes(a)


def test_the_source_is_the_command_line_with_secrets_masked() -> None:
    tags = run_source(["/usr/bin/plexus", "search", "gcn", "--storage", "postgresql://bob:hunter2@db:5432/studies"])
    assert tags["mlflow.source.name"].startswith("plexus search gcn --storage postgresql://bob:")
    assert "hunter2" not in json.dumps(tags)
