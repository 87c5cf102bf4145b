"""EvolveGCN cost: seconds per training epoch and peak memory on the paper's temporal datasets.

    python -m plexus.evaluation.bench.evolvegcn_cost [--epochs 1] [--out-dir evaluation/results]

For ``evolvegcn_h`` and ``evolvegcn_o`` (GRU cell) it measures

* link prediction (``dynlink``) on uci-messages, bitcoin-alpha and bitcoin-otc with the models' default widths: one
  training epoch (every training step, 1 negative per positive, Adam) and the all-pairs evaluation of one validation
  step (MAP / MRR over the N(N-1) ordered pairs, :meth:`DynLinkTask.evaluate`: the positives scored once, then
  one pass over all pairs in chunks, :meth:`pair_scorer` with the pair MLP's first layer split). When N(N-1)
  exceeds ``--full-eval-max-pairs`` the step is not scored in full: the node embeddings and ``--sample-chunks``
  chunks of 2^18 pairs are timed and the step's time is extrapolated (marked ``estimated``);
* edge-sign classification (``edge``) on bitcoin-alpha and bitcoin-otc with the settings of
  :mod:`plexus.evaluation.bench.evolvegcn_edge` (reference widths, uncapped one-hot degree): one training epoch and
  the evaluation of the validation split.

Each case runs in its own process, so the peak resident memory (``ru_maxrss``, which includes the interpreter,
torch and the dataset: ``rss_after_load_mib`` is the same process before training) and, on CUDA,
``torch.cuda.max_memory_allocated`` belong to that case alone. The training loop is the trainer's inner loop
(``task.train_batches`` → model → ``task.loss`` → backward → Adam step) without validation, checkpoints or MLflow.
Writes ``evolvegcn_cost.json`` and ``evolvegcn_cost.md`` (with the machine) after every case.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

CASES = [(ds, model, "dynlink") for ds in ("uci-messages", "bitcoin-alpha", "bitcoin-otc")
         for model in ("evolvegcn_h", "evolvegcn_o")]
CASES += [(ds, model, "edge") for ds in ("bitcoin-alpha", "bitcoin-otc") for model in ("evolvegcn_h", "evolvegcn_o")]
CHUNK = 1 << 18


def _rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def machine() -> dict[str, Any]:
    import torch

    cpu = platform.processor()
    try:
        cpu = next(ln.split(":", 1)[1].strip() for ln in Path("/proc/cpuinfo").read_text().splitlines()
                   if ln.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return {"cpu": cpu, "cpus_visible": os.cpu_count(), "torch_threads": torch.get_num_threads(),
            "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
            "torch": torch.__version__, "python": platform.python_version(), "platform": platform.platform()}


def run_case(dataset: str, model: str, kind: str, epochs: int, threads: int, full_eval_max_pairs: float,
             sample_chunks: int) -> dict[str, Any]:
    import torch
    from plexus.evaluation.bench.evolvegcn_edge import DATASET_OPTIONS, HPARAMS, REFERENCE
    from plexus.platform.catalog import get_catalog
    from plexus.platform.config import TrainConfig
    from plexus.platform.data.service import load_dataset
    from plexus.platform.training.tasks import make_task
    from plexus.platform.training.trainer import seed_everything

    torch.set_num_threads(threads)
    dev = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if kind == "edge":
        hp, opts, lr = dict(HPARAMS[(dataset, model)]), dict(DATASET_OPTIONS), REFERENCE["lr"]
        cfg = TrainConfig(lr=lr, seed=0, class_weights=REFERENCE["class_weights"], amp=False)
    else:
        hp, opts, lr = {}, {}, 0.005
        cfg = TrainConfig(lr=lr, seed=0, num_neg=1, amp=False)
    t0 = time.perf_counter()
    ds = load_dataset(dataset, task=kind, **opts)
    load_s = time.perf_counter() - t0
    seed_everything(0, False)
    net = get_catalog().model(model).build(ds.spec, **hp).to(dev)
    task = make_task(ds, cfg)
    task.bind(net)
    opt = torch.optim.Adam(net.parameters(), lr=lr)
    rss_load = _rss_mib()
    if dev.type == "cuda":
        torch.cuda.reset_peak_memory_stats()
    ep_times = []
    for ep in range(epochs):
        net.train()
        t0 = time.perf_counter()
        steps = 0
        for inp, target in task.train_batches(ep, dev):
            loss = task.loss(net(inp), target)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            steps += 1
        if dev.type == "cuda":
            torch.cuda.synchronize()
        ep_times.append(time.perf_counter() - t0)
    net.eval()
    row: dict[str, Any] = {"dataset": dataset, "model": model, "task": kind, "hparams": hp, "dataset_options": opts,
                           "num_nodes": ds.spec.num_nodes, "num_features": ds.spec.num_features,
                           "train_steps": steps, "epochs_timed": epochs,
                           "epoch_s": round(sum(ep_times) / len(ep_times), 2), "load_s": round(load_s, 1)}
    if kind == "edge":
        t0 = time.perf_counter()
        task.evaluate(net, "val", dev)
        row["eval"] = {"what": f"validation split ({len(ds.steps['val'])} steps)",
                       "seconds": round(time.perf_counter() - t0, 2), "estimated": False}
    else:
        t = ds.steps["val"][0]
        n = ds.spec.num_nodes
        pairs = n * (n - 1)
        if pairs <= full_eval_max_pairs:
            ds.steps = {**ds.steps, "val": [t]}
            t0 = time.perf_counter()
            task.evaluate(net, "val", dev)
            row["eval"] = {"what": f"all {pairs:,} pairs of val step {t}",
                           "seconds": round(time.perf_counter() - t0, 2), "estimated": False}
        else:
            with torch.no_grad():
                t0 = time.perf_counter()
                h = net.node_embeddings([s.to(dev) for s in task.history(t)])
                emb_s = time.perf_counter() - t0
                g = torch.Generator().manual_seed(0)
                t0 = time.perf_counter()
                score = net.pair_scorer(h)
                for _ in range(sample_chunks):
                    src, dst = torch.randint(0, n, (2, CHUNK), generator=g)
                    score(torch.stack([src, dst]).to(dev)).float().cpu()
                if dev.type == "cuda":
                    torch.cuda.synchronize()
                per_pair = (time.perf_counter() - t0) / (sample_chunks * CHUNK)
            row["eval"] = {"what": f"all {pairs:,} pairs of val step {t}: embeddings timed, "
                                   f"scoring extrapolated from {sample_chunks} chunks of {CHUNK} pairs "
                                   "(ranking bookkeeping not included)",
                           "seconds": round(emb_s + pairs * per_pair, 1), "estimated": True}
    row["peak_rss_mib"] = round(_rss_mib(), 1)
    row["rss_after_load_mib"] = round(rss_load, 1)
    row["peak_gpu_mib"] = round(torch.cuda.max_memory_allocated() / 2**20, 1) if dev.type == "cuda" else None
    return row


def write(rows: list[dict[str, Any]], mach: dict[str, Any], cmd: str, out_dir: Path) -> None:
    (out_dir / "evolvegcn_cost.json").write_text(json.dumps({"machine": mach, "command": cmd, "rows": rows}, indent=1))
    lines = ["# EvolveGCN cost: epoch time and peak memory", "",
             f"Command: `{cmd}`", "",
             (f"Machine: {mach['cpu']}, {mach['cpus_visible']} CPUs visible, torch {mach['torch']} with "
              f"{mach['torch_threads']} thread(s), GPU: {mach['gpu'] or 'none'}. The CPU is shared with other jobs, "
              "so the seconds are indicative (one timed epoch per case)."), "",
             ("`epoch`: one pass over the training steps (forward, loss, backward, Adam; no validation). `eval`: "
              "link: the all-pairs MAP/MRR of one validation step (*estimated* where marked: embeddings timed, "
              "scoring extrapolated from sampled chunks); edge: the whole validation split. `peak RSS`: the "
              "process's maximum resident memory over data loading, the timed epoch(s) and the evaluation "
              "(interpreter and torch included; for link prediction the all-pairs scoring chunks dominate), "
              "`after load` the same process before training."), "",
             ("| task | dataset | model | nodes | features | train steps | epoch s | eval s | eval | peak RSS MiB "
              "| after load MiB | peak GPU MiB |"),
             "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        if "error" in r:
            lines.append(f"| {r['task']} | {r['dataset']} | {r['model']} | failed: {r['error']} |||||||||")
            continue
        e = r["eval"]
        lines.append(f"| {r['task']} | {r['dataset']} | {r['model']} | {r['num_nodes']} | {r['num_features']} | "
                     f"{r['train_steps']} | {r['epoch_s']} | {e['seconds']}{' (est.)' if e['estimated'] else ''} | "
                     f"{e['what']} | {r['peak_rss_mib']} | {r['rss_after_load_mib']} | {r['peak_gpu_mib'] or '-'} |")
    (out_dir / "evolvegcn_cost.md").write_text("\n".join(lines) + "\n")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--epochs", type=int, default=1)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--full-eval-max-pairs", type=float, default=4e7)
    ap.add_argument("--sample-chunks", type=int, default=4)
    ap.add_argument("--out-dir", default="evaluation/results")
    ap.add_argument("--only", nargs=3, metavar=("DATASET", "MODEL", "TASK"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.only:  # child process: one case, one JSON line
        print("RESULT " + json.dumps(run_case(*args.only, args.epochs, args.threads, args.full_eval_max_pairs,
                                              args.sample_chunks)), flush=True)
        return
    import torch

    torch.set_num_threads(args.threads)
    mach = machine()
    cmd = "python -m plexus.evaluation.bench.evolvegcn_cost " + " ".join(sys.argv[1:])
    out_dir = Path(args.out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    rows: list[dict[str, Any]] = []
    for ds, model, kind in CASES:
        p = subprocess.run([sys.executable, "-m", "plexus.evaluation.bench.evolvegcn_cost", "--only", ds, model, kind,
                            "--epochs", str(args.epochs), "--threads", str(args.threads),
                            "--full-eval-max-pairs", str(args.full_eval_max_pairs),
                            "--sample-chunks", str(args.sample_chunks)], capture_output=True, text=True, check=False)
        res = [ln for ln in p.stdout.splitlines() if ln.startswith("RESULT ")]
        row = json.loads(res[-1][7:]) if res else {"dataset": ds, "model": model, "task": kind,
                                                   "error": (p.stderr.strip().splitlines() or ["?"])[-1][:200]}
        rows.append(row)
        print(json.dumps(row), flush=True)
        write(rows, mach, cmd, out_dir)


if __name__ == "__main__":
    main()
