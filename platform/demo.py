"""``plexus demo``: the main job on embedded defaults.

Lists the catalog, then trains the baselines on small bundled/local data, each
tracked as a run in ``./mlruns`` (open them with ``mlflow ui`` or ``plexus ui``).
"""

from __future__ import annotations

from typing import Any, Callable

from plexus.platform.catalog import get_catalog
from plexus.platform.config import build_config

__all__ = ["DEMO_RUNS", "run_demo"]

DEMO_RUNS: list[dict[str, Any]] = [
    {"model": "lr", "dataset": "criteo-10k", "train": {"epochs": 3, "batch_size": 512, "lr": 0.01}},
    {"model": "dnn", "dataset": "criteo-10k", "train": {"epochs": 3, "batch_size": 512, "lr": 0.001}},
    {"model": "gcn", "dataset": "cora", "train": {"epochs": 100, "lr": 0.01, "weight_decay": 5e-4, "patience": 20}},
    {"model": "gin", "dataset": "tu-mutag", "train": {"epochs": 30, "batch_size": 32, "lr": 0.01, "patience": 10}},
    {"model": "shared_bottom", "dataset": "census-income", "train": {"epochs": 2, "batch_size": 1024}},
]


def run_demo(progress: bool = True, echo: Callable[[str], None] | None = None) -> dict[str, Any]:
    from plexus.platform.training import train_model

    say = echo or (lambda _m: None)
    catalog = get_catalog()
    models = [e.describe() for e in catalog.models().values()]
    say(f"{len(models)} models in the catalog: " + ", ".join(
        f"{m['name']}{'' if m['status'] == 'ok' else ' (broken)'}" for m in models))
    results = []
    for run in DEMO_RUNS:
        if run["model"] not in catalog.models() or run["dataset"] not in catalog.datasets():
            continue
        cfg = build_config({"train": run["train"], "tracking": {"experiment": "plexus-demo"}},
                           model=run["model"], dataset=run["dataset"])
        res = train_model(cfg, progress=progress)
        say(f"{run['model']:>14} on {run['dataset']:<14} {res['monitor']}={res['best_value']:.4f}  "
            + "  ".join(f"{k}={v:.4f}" for k, v in sorted(res["metrics"].items()) if k.startswith("test_"))
            + f"  (run {res['run_id']})")
        results.append({k: v for k, v in res.items() if k != "history"})
    say("Runs are in ./mlruns: `plexus ui` (or `mlflow ui --backend-store-uri sqlite:///mlruns/mlflow.db`).")
    return {"models": models, "runs": results}
