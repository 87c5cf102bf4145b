"""GPU check: the CUDA path, bf16 autocast and GPU throughput (``plexus bench gpu-check``).

Runs without MLflow/Optuna (a bare accelerator image) and without an installed
distribution: plugins are resolved from ``pyproject.toml``'s entry points. On a
machine without CUDA it runs the CPU half only. Writes ``gpu_check.json`` and ``gpu_check.md``.
torch is imported inside the functions: the module is read when ``plexus --help`` builds the bench commands.

Checks (each recorded with its numbers):
1. ``pick_device("auto")`` chooses CUDA when present.
2. Every registered model runs forward/backward on CUDA under bf16 autocast on
   its tiny problem with finite outputs and gradients.
3. GCN on Cora trains on CPU and on CUDA(bf16) to the same accuracy band.
4. DIN and AutoInt train on a synthetic CTR problem on CUDA with bf16 autocast
   (AUC well above chance) and report samples/s against fp32 and against CPU.
"""

from __future__ import annotations

import copy
import json
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from plexus.evaluation.bench._harness import RESULTS, ROOT, describe, machine_info, write_result

if TYPE_CHECKING:
    import torch

__all__ = ["DESCRIPTION", "run"]

DESCRIPTION = "CUDA path, bf16 autocast and GPU throughput of every model (gpu_check.json/.md; CPU half without CUDA)."
REPO = ROOT


def plugin_classes() -> dict[str, type]:
    """Every model declared in ``pyproject.toml`` that loads here (an optional backend such as DGL may be
    absent): the catalog over the entry points as written, so no installed distribution is needed."""
    import importlib.metadata as md

    import tomllib
    from plexus.platform.catalog import MODEL_GROUP, Catalog

    declared = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["entry-points"][MODEL_GROUP]
    catalog = Catalog(md.EntryPoints(md.EntryPoint(n, v, MODEL_GROUP) for n, v in declared.items()))
    out = {}
    for name, entry in catalog.models().items():
        if entry.obj is None:
            print(f"skip {name}: {entry.error}", file=sys.stderr)
        else:
            out[name] = entry.obj
    return out


def _to(batch, device):
    if isinstance(batch, dict):
        return {k: v.to(device) for k, v in batch.items()}
    return batch.to(device)


def check_contract_on_cuda(classes: dict[str, type], device: torch.device) -> dict:
    import torch
    from plexus.platform.testing import tiny_problem

    res = {}
    for name, cls in sorted(classes.items()):
        for kind in cls.__plexus__.tasks:
            spec, batch = tiny_problem(kind)
            torch.manual_seed(0)
            try:
                model = cls(spec).to(device)
                amp = device.type == "cuda" and getattr(cls, "autocast", True)
                with torch.autocast("cuda", dtype=torch.bfloat16, enabled=amp):
                    out = model(_to(copy.copy(batch), device))
                    loss = sum(v.float().pow(2).mean() for k, v in out.items() if k not in ("attention",)
                               and v.is_floating_point())
                loss.backward()
                ok = all(torch.isfinite(v).all().item() for v in out.values() if v.is_floating_point())
                ok = ok and all(torch.isfinite(p.grad).all().item() for p in model.parameters() if p.grad is not None)
                res[f"{name}/{kind}"] = ("ok" if amp or device.type != "cuda" else "ok (fp32: plugin opts out of autocast)"
                                         ) if ok else "non-finite"
            except Exception as exc:  # noqa: BLE001 - record and go on
                res[f"{name}/{kind}"] = f"error: {type(exc).__name__}: {str(exc)[:200]}"
    return res


def synthetic_ctr(n: int = 60_000, seed: int = 0):
    import torch
    from plexus.platform.data import TabularDataset
    from plexus.platform.testing import tabular_batch, tiny_tabular_spec

    spec = tiny_tabular_spec()
    g = torch.Generator().manual_seed(seed)
    feats = tabular_batch(spec, g, n)
    # click iff the candidate's category appears in the history, or a numeric signal
    hit = (feats["hist_cate"] == feats["cate"].unsqueeze(1)).any(1).float()
    logit = 2.5 * hit + 0.8 * feats["price"] - 1.0
    y = (torch.rand(n, generator=g) < torch.sigmoid(logit)).float()
    cut = [int(n * 0.8), int(n * 0.9)]
    sl = {"train": slice(0, cut[0]), "val": slice(cut[0], cut[1]), "test": slice(cut[1], n)}
    return TabularDataset(name="synthetic-ctr", spec=spec,
                          features={s: {k: v[i] for k, v in feats.items()} for s, i in sl.items()},
                          labels={s: {"label": y[i]} for s, i in sl.items()}, groups={})


def train(cls, dataset, device: str, amp: bool, epochs: int, batch_size: int, lr: float) -> dict:
    import torch
    from plexus.platform.config import TrainConfig
    from plexus.platform.training.tasks import make_task
    from plexus.platform.training.trainer import Trainer, seed_everything

    cfg = TrainConfig(epochs=epochs, batch_size=batch_size, lr=lr, device=device, amp=amp, patience=0, seed=0,
                      deterministic=False)
    seed_everything(0, False)
    model = cls(dataset.spec)
    trainer = Trainer(model, make_task(dataset, cfg), cfg, progress=False)
    if trainer.device.type == "cuda":
        torch.cuda.synchronize()
    t0 = time.perf_counter()
    res = trainer.fit()
    if trainer.device.type == "cuda":
        torch.cuda.synchronize()
    dt = time.perf_counter() - t0
    n = trainer.task.num_train_items() * res["epochs_run"]
    return {"device": str(trainer.device), "amp": trainer.amp, "metrics": res["metrics"], "seconds": round(dt, 3),
            "train_items_per_s": round(n / dt, 1)}


def run(epochs: int = 3, out: Path | None = RESULTS) -> dict[str, Any]:
    """Run the four checks; write ``gpu_check.json`` and a short ``gpu_check.md`` into ``out``.

    Args:
        epochs: training epochs of DIN and AutoInt on the synthetic CTR problem.
        out: results folder (None: write nothing).
    """
    import torch
    from plexus.platform.training.trainer import pick_device

    report: dict = {"torch": torch.__version__, "cuda_available": torch.cuda.is_available(),
                    "machine_info": machine_info()}
    dev = pick_device("auto")
    report["auto_device"] = str(dev)
    if dev.type == "cuda":
        report["gpu"] = torch.cuda.get_device_name(0)
    classes = plugin_classes()
    report["contract_cuda_bf16"] = check_contract_on_cuda(classes, dev)
    from plexus.platform.data.datasets_planetoid import cora

    ds = cora(task="node")
    report["gcn_cora"] = {d: train(classes["gcn"], ds, d, True, 100, 1, 0.01)
                          for d in (["cpu", "cuda"] if dev.type == "cuda" else ["cpu"])}
    from plexus.platform.data.graphs.temporal import dynamic_sbm

    link = cora(task="link")
    sbm = dynamic_sbm(num_nodes=200, steps=20)
    devices = ["cpu", "cuda"] if dev.type == "cuda" else ["cpu"]
    report["ncn_cora_link"] = {d: train(classes["ncn"], link, d, True, 2, 2048, 0.01) for d in devices}
    report["evolvegcn_o_sbm"] = {d: train(classes["evolvegcn_o"], sbm, d, True, 3, 1, 0.01) for d in devices}
    ctr = synthetic_ctr()
    for name in ("din", "autoint"):
        runs = {"cpu_fp32": train(classes[name], ctr, "cpu", False, epochs, 1024, 1e-3)}
        if dev.type == "cuda":
            runs["cuda_fp32"] = train(classes[name], ctr, "cuda", False, epochs, 1024, 1e-3)
            runs["cuda_bf16"] = train(classes[name], ctr, "cuda", True, epochs, 1024, 1e-3)
            runs["speedup_bf16_vs_cpu"] = round(runs["cuda_bf16"]["train_items_per_s"]
                                                / runs["cpu_fp32"]["train_items_per_s"], 2)
        report[f"{name}_synthetic_ctr"] = runs
    bad = {k: v for k, v in report["contract_cuda_bf16"].items() if not v.startswith("ok")}
    summary = {"auto_device": report["auto_device"], "contract_failures": bad,
               "gcn": {k: v["metrics"].get("test_acc") for k, v in report["gcn_cora"].items()},
               "ncn_hits_at_100": {k: v["metrics"].get("test_hits_at_100") for k, v in report["ncn_cora_link"].items()},
               "evolvegcn_map": {k: v["metrics"].get("test_map") for k, v in report["evolvegcn_o_sbm"].items()},
               **{f"{m}_auc": {k: v["metrics"]["test_auc"] for k, v in report[f"{m}_synthetic_ctr"].items()
                               if isinstance(v, dict)} for m in ("din", "autoint")}}
    report["summary"] = summary
    if out is not None:
        md = ["# GPU check: CUDA path, bf16 autocast, throughput", "",
              f"Machine: {describe(report['machine_info'])}. Device chosen by `auto`: {report['auto_device']}.", "",
              f"Contract failures (forward/backward under bf16 autocast): {len(bad)} of "
              f"{len(report['contract_cuda_bf16'])}" + ("" if not bad else f": {', '.join(sorted(bad))}") + ".", "",
              "```json", json.dumps(summary, indent=1), "```", "", "Reproduce: `plexus bench gpu-check`.", ""]
        write_result(report, "\n".join(md), out, "gpu_check")
    return report
