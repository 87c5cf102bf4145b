"""What the end-of-run global attribution (``explain/``) costs, as a share of the run.

Trains each explainable model once (one epoch by default: the worst case for the share, as
the attribution's cost does not grow with the epochs) with tracking on, and reads the run's
``plexus.explain_seconds`` tag (compute over at most 2,000 validation rows, JSON, PNG heatmap,
artifact upload) against the training time of the run:

    plexus bench explain-cost [--epochs 1] [--models din --models dtrn] [--out evaluation/results]

Writes ``explain_cost.json`` and ``explain_cost.md``.
"""

from __future__ import annotations

import json
import tempfile
import time
from pathlib import Path
from typing import Any

from plexus.evaluation.bench._harness import RESULTS, describe, machine_info, write_result

__all__ = ["DESCRIPTION", "RUNS", "measure", "run"]

DESCRIPTION = "What the end-of-run global attribution (explain/) costs, as a share of the run (explain_cost.md/.json)."

RUNS: list[tuple[str, str, dict[str, Any]]] = [
    ("armnet_plus", "criteo-10k", {}),
    ("autoint_plus", "criteo-10k", {}),
    ("din", "synthetic-behavior", {}),
    ("dtrn", "movielens-mtl", {}),
]


def measure(model: str, dataset: str, options: dict[str, Any], epochs: int, store: str) -> dict[str, Any]:
    from mlflow.tracking import MlflowClient
    from plexus.platform.config import build_config
    from plexus.platform.training import train_model

    cfg = build_config({"train": {"epochs": epochs}, "dataset_options": options,
                        "tracking": {"checkpoints": False, "experiment": "explain-cost"}},
                       model=model, dataset=dataset)
    t0 = time.perf_counter()
    res = train_model(cfg, tracking_uri=store, progress=False)
    wall = time.perf_counter() - t0
    run = MlflowClient(store).get_run(res["run_id"])
    explain_s = float(run.data.tags["plexus.explain_seconds"])
    folder = Path(MlflowClient(store).download_artifacts(res["run_id"], "explain"))
    data = json.loads((folder / "global_attribution.json").read_text())
    return {"model": model, "dataset": dataset, "epochs": epochs, "rows": data["rows"],
            "compute_s": data["compute_seconds"], "explain_s": explain_s, "train_s": res["duration_s"],
            "run_wall_s": wall, "share_of_run": explain_s / wall}


def run(epochs: int = 1, models: list[str] | None = None, out: Path | None = RESULTS) -> dict[str, Any]:
    """Train each explainable model of :data:`RUNS` once, tracked, and time its attribution.

    Args:
        epochs: training epochs per run (1: the worst case for the share).
        models: only these models (default: armnet_plus, autoint_plus, din, dtrn).
        out: results folder for explain_cost.json/.md (None: write nothing).
    """
    runs = []
    with tempfile.TemporaryDirectory() as tmp:
        store = f"sqlite:///{Path(tmp) / 'mlflow.db'}"
        for model, dataset, options in RUNS:
            if models and model not in models:
                continue
            runs.append(measure(model, dataset, options, epochs, store))
    info = machine_info()
    res = {"machine": describe(info), "machine_info": info, "runs": runs}
    if out is not None:
        md = ["# Cost of the end-of-run global attribution", "",
              f"One tracked run per model, {epochs} epoch(s); {describe(info)}.", "",
              "| model | dataset | rows | compute s | explain s | run s | share of run |", "|---|---|---|---|---|---|---|"]
        md += [f"| {r['model']} | {r['dataset']} | {r['rows']:,} | {r['compute_s']:.2f} | {r['explain_s']:.2f} | "
               f"{r['run_wall_s']:.1f} | {100 * r['share_of_run']:.1f} % |" for r in runs]
        md += ["", f"Reproduce: `plexus bench explain-cost --epochs {epochs}`.", ""]
        write_result(res, "\n".join(md), out, "explain_cost")
    return res
