"""EvolveGCN edge-sign classification on BC-Alpha / BC-OTC (one seed), results as JSON.

    python -m plexus.evaluation.bench.evolvegcn_edge bitcoin-alpha [--epochs 15 --patience 5]

Runs ``evolvegcn_o`` (GRU cell) and ``evolvegcn_h`` through :func:`plexus.platform.training.train_model` with the
``edge`` task (class-weighted cross-entropy, early stopping on validation minority-class F1; test micro-F1 and
minority F1) and writes ``edge-<dataset>.json`` after every model.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

MODELS = (("evolvegcn_o", {"cell": "gru"}), ("evolvegcn_h", {}))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("dataset", choices=["bitcoin-alpha", "bitcoin-otc"])
    ap.add_argument("--epochs", type=int, default=15)
    ap.add_argument("--patience", type=int, default=5)
    ap.add_argument("--lr", type=float, default=0.005)
    ap.add_argument("--tracking-uri", default=None)
    args = ap.parse_args()
    from plexus.platform.config import build_config
    from plexus.platform.training import train_model

    torch.set_num_threads(1)
    out, path = [], Path(f"edge-{args.dataset}.json")
    for model, hp in MODELS:
        t0 = time.time()
        cfg = build_config({"hparams": hp, "train": {"epochs": args.epochs, "lr": args.lr, "seed": 0,
                                                     "patience": args.patience},
                            "tracking": {"experiment": "evolvegcn-edge", "log_model": False, "checkpoints": False}},
                           model=model, dataset=args.dataset)
        res = train_model(cfg, task="edge", tracking_uri=args.tracking_uri, progress=False)
        out.append({"dataset": args.dataset, "model": model, "hparams": hp, "epochs_run": res["epochs_run"],
                    "metrics": {k: round(v, 4) for k, v in res["metrics"].items()}, "best_epoch": res["best_epoch"],
                    "seconds": round(time.time() - t0, 1), "run_id": res["run_id"]})
        print(json.dumps(out[-1]), flush=True)
        path.write_text(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
