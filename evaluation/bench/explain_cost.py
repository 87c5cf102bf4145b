"""What the end-of-run global attribution (``explain/``) costs, as a share of the run.

Trains each explainable model once (one epoch by default: the worst case for the share, as
the attribution's cost does not grow with the epochs) with tracking on, and reads the run's
``plexus.explain_seconds`` tag (compute over at most 2,000 validation rows, JSON, PNG heatmap,
artifact upload) against the training time of the run:

    PLEXUS_DATA_MIRROR=file:///path/to/mirror python -m plexus.evaluation.bench.explain_cost \\
        --out evaluation/results/explain_cost.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from pathlib import Path
from typing import Any

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


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--epochs", type=int, default=1)
    ap.add_argument("--models", nargs="*", default=None)
    ap.add_argument("--out", type=Path, default=Path("evaluation/results/explain_cost.json"))
    args = ap.parse_args(argv)
    out = []
    with tempfile.TemporaryDirectory() as tmp:
        store = f"sqlite:///{Path(tmp) / 'mlflow.db'}"
        for model, dataset, options in RUNS:
            if args.models and model not in args.models:
                continue
            r = measure(model, dataset, options, args.epochs, store)
            print(json.dumps(r))
            out.append(r)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"machine": f"{platform.machine()}, {os.cpu_count()} CPUs", "runs": out}, indent=1))


if __name__ == "__main__":
    main()
