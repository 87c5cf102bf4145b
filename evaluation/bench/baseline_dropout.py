"""How much the GCN/GIN baselines of a fidelity row depend on their dropout, fold by fold.

The TU rows train the baselines with each model's default dropout (0.5). GCN drops its *input*
features (one-hot atom types on NCI109), GIN only its pooled read-outs (Xu et al. 2019). Xu et al. chose
dropout in {0, 0.5} on validation. This script retrains each baseline of a row with every dropout given,
on the row's folds and seeds and with its ``baseline_config`` otherwise unchanged. It then reports test
accuracy per dropout and for the dropout that is best on validation, fold by fold:

    python -m plexus.evaluation.bench.baseline_dropout --configs gsmpp-proteins gsmpp-nci109 \\
        --dropouts 0 0.5 --out evaluation/results/baseline_dropout.json

Results accumulate in ``--out`` after every run; runs already there are skipped, so the script resumes.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any


def _select(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Per (config, model, fold): the run with the best validation accuracy (ties: the smaller dropout)."""
    best: dict[tuple, dict[str, Any]] = {}
    for r in sorted(runs, key=lambda r: r["dropout"]):
        k = (r["config"], r["model"], r["fold"])
        if k not in best or r["val_acc"] > best[k]["val_acc"]:
            best[k] = r
    return best


def summary(runs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Mean test accuracy per (config, model) and dropout, and for the validation-selected dropout."""
    from plexus.evaluation.bench.fidelity import mean_std

    rows = []
    for cfg, model in sorted({(r["config"], r["model"]) for r in runs}):
        mine = [r for r in runs if r["config"] == cfg and r["model"] == model]
        folds = sorted({r["fold"] for r in mine})
        row: dict[str, Any] = {"config": cfg, "model": model, "folds": folds}
        for d in sorted({r["dropout"] for r in mine}):
            vals = [r["test_acc"] for r in mine if r["dropout"] == d]
            row[f"dropout {d:g}"] = mean_std(vals) + (len(vals),)
        sel = list(_select(mine).values())
        row["selected on val"] = mean_std([r["test_acc"] for r in sel]) + (len(sel),)
        row["selected dropouts"] = [r["dropout"] for r in sorted(sel, key=lambda r: r["fold"])]
        rows.append(row)
    return rows


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--configs", nargs="+", default=["gsmpp-proteins", "gsmpp-nci109"])
    ap.add_argument("--dropouts", nargs="+", type=float, default=[0.0, 0.5])
    ap.add_argument("--folds", default="0-9", help="repetitions of the row, e.g. 0-4,7")
    ap.add_argument("--tracking-uri", default=None)
    ap.add_argument("--out", default="baseline_dropout.json")
    args = ap.parse_args()
    from plexus.evaluation.bench.fidelity import _experiment, load_bench_config, parse_runs, repetitions
    from plexus.platform.training import train_model

    out = Path(args.out)
    runs: list[dict[str, Any]] = json.loads(out.read_text())["runs"] if out.exists() else []
    done = {(r["config"], r["model"], r["fold"], r["dropout"]) for r in runs}
    for name in args.configs:
        bc = load_bench_config(name)
        every = repetitions(bc, 1)
        for i in parse_runs(args.folds):
            seed, options = every[i]
            for model in bc["baselines"]:
                for d in args.dropouts:
                    if (name, model, i, d) in done:
                        continue
                    base = bc.get("baseline_config") or {}
                    section = {**base, "hparams": {**(base.get("hparams") or {}), "dropout": d}}
                    cfg = _experiment(model, bc["dataset"], section, seed=seed, epochs_scale=1.0, max_steps=0,
                                      tracking_uri=args.tracking_uri, options=options)
                    res = train_model(cfg, progress=False, extra_tags={"plexus.bench": "baseline_dropout"})
                    m = res["metrics"]
                    runs.append({"config": name, "model": model, "fold": i, "seed": seed, "dropout": d,
                                 "val_acc": round(100 * m["val_acc"], 4), "test_acc": round(100 * m["test_acc"], 4),
                                 "best_epoch": res["best_epoch"], "epochs_run": res["epochs_run"],
                                 "run_id": res["run_id"]})
                    out.write_text(json.dumps({"summary": summary(runs), "runs": runs}, indent=1))
                    print(json.dumps(runs[-1]), flush=True)


if __name__ == "__main__":
    main()
