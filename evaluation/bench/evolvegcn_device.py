"""EvolveGCN link prediction on the paper's temporal datasets, for an accelerator machine.

Trains ``evolvegcn_h`` and ``evolvegcn_o`` (GRU cell, the reference code's variant) with the
shared trainer and the ``dynlink`` task (MAP / MRR over all non-self pairs of each test step, scored
in chunks), without MLflow so it runs on a bare GPU image:

    PLEXUS_DATA_MIRROR=<folder with bitcoin-otc/ bitcoin-alpha/ uci-messages/> \\
        python -m plexus.evaluation.bench.evolvegcn_device --epochs 8 --out results.json

Results accumulate in ``--out`` after every run, so a run stopped at its time limit keeps what finished; the
run in progress writes its validation/test history to ``<out>.partial.json`` after every epoch. ``--hparams``
overrides the models' constructor arguments (JSON), e.g. the reference yaml's ``{"cls_feats": 100}``.
``--reference`` takes, per dataset and model, every setting of the reference's ``experiments/parameters_*.yaml``
that the trainer expresses (:data:`REFERENCE`); flags given beside it override it.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

import torch

RUNS = [("uci-messages", "evolvegcn_o", {"cell": "gru"}), ("uci-messages", "evolvegcn_h", {}),
        ("bitcoin-alpha", "evolvegcn_o", {"cell": "gru"}), ("bitcoin-alpha", "evolvegcn_h", {}),
        ("bitcoin-otc", "evolvegcn_o", {"cell": "gru"}), ("bitcoin-otc", "evolvegcn_h", {})]

#: The reference yamls' settings (IBM/EvolveGCN ``experiments/parameters_<data>[_linkpred]_egcn_<h|o>.yaml``):
#: learning_rate, negative_mult_training, class_weights, layer_1_feats (= layer 2), cls_feats. All of them use
#: smart negative sampling, 10 history steps, early_stop_patience 50 and target_measure MAP.
REFERENCE: dict[tuple[str, str], dict[str, Any]] = {
    ("uci-messages", "evolvegcn_o"): {"lr": 0.001, "num_neg": 50, "class_weights": [0.1, 0.9],
                                      "hparams": {"hidden_dim": 100, "cls_feats": 100}},
    ("uci-messages", "evolvegcn_h"): {"lr": 0.001, "num_neg": 50, "class_weights": [0.1, 0.9],
                                      "hparams": {"hidden_dim": 100, "cls_feats": 100}},
    ("bitcoin-alpha", "evolvegcn_o"): {"lr": 0.005, "num_neg": 100, "class_weights": [0.05, 0.95],
                                       "hparams": {"hidden_dim": 100, "cls_feats": 400}},
    ("bitcoin-alpha", "evolvegcn_h"): {"lr": 0.005, "num_neg": 100, "class_weights": [0.1, 0.9],
                                       "hparams": {"hidden_dim": 50, "cls_feats": 100}},
    ("bitcoin-otc", "evolvegcn_o"): {"lr": 0.01, "num_neg": 100, "class_weights": [0.05, 0.95],
                                     "hparams": {"hidden_dim": 100, "cls_feats": 400}},
    ("bitcoin-otc", "evolvegcn_h"): {"lr": 0.005, "num_neg": 100, "class_weights": [0.05, 0.95],
                                     "hparams": {"hidden_dim": 33, "cls_feats": 400}},
}


def run_settings(
    dataset: str, model: str, reference: bool, flags: dict[str, Any], hparams: dict[str, Any]
) -> tuple[dict[str, Any], dict[str, Any]]:
    """(trainer settings, constructor arguments) of one run: the defaults, or with ``reference`` the yaml's
    (:data:`REFERENCE`, smart negatives, patience 50); a flag that is not None and ``hparams`` override them."""
    ref = REFERENCE[dataset, model] if reference else {}
    base = {"lr": 0.005, "num_neg": 1, "class_weights": None, "neg_sampling": "uniform", "patience": 0,
            **({"neg_sampling": "active", "patience": 50} if ref else {}),
            **{k: v for k, v in ref.items() if k != "hparams"}}
    run = {k: v if flags.get(k) is None else flags[k] for k, v in base.items()}
    return run, {**ref.get("hparams", {}), **hparams}


def _rounded(history: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{k: round(v, 5) if isinstance(v, float) else v for k, v in h.items()} for h in history]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--epochs", type=int, default=8)
    ap.add_argument("--reference", action="store_true", help="each run with its reference yaml's settings "
                    "(REFERENCE: lr, negatives, class weights, widths; smart negatives, patience 50)")
    ap.add_argument("--lr", type=float, default=None, help="default 0.005 (or the reference's)")
    ap.add_argument("--num-neg", type=int, default=None, help="random non-edges per positive in training "
                    "(default 1; reference: negative_mult_training 50-100)")
    ap.add_argument("--neg-sampling", choices=["uniform", "active"], default=None,
                    help="training negatives: uniform, or the reference's smart sampling among active nodes")
    ap.add_argument("--class-weights", type=float, nargs=2, default=None, metavar=("NON_EDGE", "EDGE"),
                    help="fixed loss weights (reference: 0.1 0.9); default: balanced BCE")
    ap.add_argument("--patience", type=int, default=None, help="early stopping on the monitored metric "
                    "(default 0: none; reference: 50)")
    ap.add_argument("--monitor", default=None, help="selection metric (default: the task's, val_map as in the "
                    "reference's target_measure); e.g. val_mrr")
    ap.add_argument("--time-limit", type=float, default=0.0, help="seconds of training per run (0: none); a run "
                    "stopped by it still reports its test metrics at the best validation epoch")
    ap.add_argument("--out", default="evolvegcn_device.json")
    ap.add_argument("--datasets", nargs="*", default=None, help="only these datasets (default: all three)")
    ap.add_argument("--models", nargs="*", default=None, help="only these models (default: both)")
    ap.add_argument("--hparams", type=json.loads, default={}, help="constructor arguments for every run (JSON)")
    args = ap.parse_args()
    from plexus.evaluation.gpu_check import plugin_classes
    from plexus.platform.config import TrainConfig
    from plexus.platform.data.datasets_graph import bitcoin_alpha, bitcoin_otc, uci_messages
    from plexus.platform.training.callbacks import Callback
    from plexus.platform.training.tasks import make_task
    from plexus.platform.training.trainer import Trainer, seed_everything

    class _Progress(Callback):
        """The history so far, rewritten after every epoch (a time limit then keeps the curve)."""

        def __init__(self, path: Path, settings: dict[str, Any]) -> None:
            self.path, self.settings = path, settings

        def on_epoch_end(self, trainer: Trainer, epoch: int, metrics: dict[str, float]) -> None:
            self.path.write_text(json.dumps({**self.settings, "monitor": trainer.monitor,
                                             "history": _rounded(trainer.history)}, indent=1))

    loaders = {"uci-messages": uci_messages, "bitcoin-alpha": bitcoin_alpha, "bitcoin-otc": bitcoin_otc}
    classes = plugin_classes()
    out = Path(args.out)
    results = []
    for dataset, model, hp in RUNS:
        if (args.datasets and dataset not in args.datasets) or (args.models and model not in args.models):
            continue
        run, hp = run_settings(dataset, model, args.reference, vars(args), {**hp, **args.hparams})
        ds = loaders[dataset](task="dynlink")
        cfg = TrainConfig(epochs=args.epochs, seed=0, deterministic=False, amp=True, monitor=args.monitor or "",
                          time_limit=args.time_limit, **run)
        settings = {"dataset": dataset, "model": model, "hparams": hp, "epochs": args.epochs, **run,
                    "reference": args.reference, "time_limit": args.time_limit, "edge_targets": "pairs"}
        seed_everything(0, False)
        net = classes[model](ds.spec, **hp)
        t0 = time.perf_counter()
        trainer = Trainer(net, make_task(ds, cfg), cfg,
                          callbacks=[_Progress(out.with_suffix(".partial.json"), settings)], progress=False)
        res = trainer.fit()
        results.append({**settings, "monitor": trainer.monitor, "epochs_run": res["epochs_run"],
                        "stopped": res["stopped"],
                        "device": str(trainer.device), "best_epoch": res["best_epoch"],
                        "seconds": round(time.perf_counter() - t0, 1),
                        "metrics": {k: round(v, 5) for k, v in res["metrics"].items()},
                        "peak_gpu_mem_gib": round(torch.cuda.max_memory_allocated() / 2**30, 2)
                        if torch.cuda.is_available() else None,
                        "history": _rounded(res.get("history", []))})
        out.write_text(json.dumps(results, indent=1))
        print(json.dumps(results[-1]), flush=True)


if __name__ == "__main__":
    main()
