"""Speed benchmark: Plexus side by side with peer libraries, each measurement in a fresh process.

Protocol (the project's benchmark protocol): the same data, model sizes, batch
size and thread count for every library; ``repeats`` rounds, interleaved between
libraries; median [min – max] and the ratio to the peer measured in the same run.

Parts:

- ``ctr``: training throughput (samples/s) and peak RSS of DIN (Amazon Beauty,
  352,278 samples, history 20) and AutoInt (criteo-10k replicated to 200,000 rows,
  3 layers, 2 heads, no DNN) in Plexus vs DeepCTR-Torch 0.3.0 and FuxiCTR 2.3.10 (run
  by ``peers.py`` in the separate ``.venv-bench``). Batch 1024, d = 16, Adam 1e-3,
  1 warm-up epoch, then 2 timed epochs. Plexus runs each model twice: as the paper
  writes it, and as the peer builds it (:data:`CTR_VARIANTS`, hyperparameters of the
  same plugins); each peer's ratio is taken against its like-for-like variant.
- ``gnn``: epoch time of GCN (2 layers, hidden 16, input dropout on) and NCN (puregcn,
  hidden 256, batch 1152) on Cora in Plexus vs the plain PyG scripts in ``plain_pyg.py``.
- ``encode``: Plexus' encoding of the 200,000-row Criteo CSV (``bench_encode``).
- ``overhead``: tracking overhead of ``train_model`` (MLflow run, params, per-epoch
  metrics) vs the same training untracked, as a share of the trial time.

Workers print one JSON line; ``run_speed`` collects them into ``speed.json`` and ``speed.md``.
"""

from __future__ import annotations

import json
import os
import platform
import resource
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from plexus.evaluation.bench._harness import RESULTS, ROOT, commit, run_fresh, worker_command
from plexus.evaluation.bench.speed_notes import NOTES

__all__ = ["PARTS", "render_markdown", "run_speed", "summarize"]

PARTS = ("ctr", "gnn", "encode", "overhead")
DESCRIPTION = "Plexus side by side with DeepCTR-Torch, FuxiCTR and plain PyG scripts (speed.md/.json)."
HERE = Path(__file__).resolve().parent
BENCH_VENV = Path(os.environ.get("PLEXUS_BENCH_VENV") or ROOT / ".venv-bench")  # the peers' venv, never Plexus'
BENCH_PY = BENCH_VENV / "bin" / "python"
FUXI_REPO = BENCH_VENV / "fuxictr-repo"  # `git archive` of reczoo/FuxiCTR's model_zoo (never in Plexus)

# model -> variant -> (library label, hyperparameters over the protocol's base ones)
CTR_VARIANTS: dict[str, dict[str, tuple[str, dict[str, Any]]]] = {
    "din": {
        "paper": ("plexus (paper: Dice in the DNN, MBA L2)", {}),
        "peers": ("plexus (as the peers: ReLU DNN, q-k and q*k inputs, no MBA)",
                  {"activation": "relu", "use_diff": True, "l2_reg": 0.0}),
    },
    "autoint": {
        "paper": ("plexus (paper: 39 attended fields)", {}),
        "deepctr": ("plexus (as DeepCTR: 26 attended fields, numerics linear)",
                    {"attend_numeric": False, "has_wide": True}),
    },
}
# (model, peer) -> the Plexus variant with the peer's architecture
LIKE_FOR_LIKE = {("din", "deepctr"): "peers", ("din", "fuxictr"): "peers",
                 ("autoint", "deepctr"): "deepctr", ("autoint", "fuxictr"): "paper"}
_BASE_HP = {"din": {"embed_dim": 16, "att_hidden": (80, 40), "hidden": (200, 80)},
            "autoint": {"embed_dim": 16, "num_layers": 3, "num_heads": 2, "head_dim": 8}}


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


# ------------------------------------------------------------------------------------------------ data
def ctr_dataset(model: str, rows: int = 0):
    """The protocol's CTR data as a Plexus TabularDataset (all splits pooled into ``train``)."""
    import torch
    from plexus.platform.data.service import load_dataset

    if model == "din":
        ds = load_dataset("amazon-beauty", task="ctr", max_hist=20)
        reps = 1
    else:
        ds = load_dataset("criteo-10k", task="ctr", numeric_transform="log")
        reps = 20
    feats = {k: torch.cat([ds.features[s][k] for s in ("train", "val", "test")]) for k in ds.features["train"]}
    labels = {k: torch.cat([ds.labels[s][k] for s in ("train", "val", "test")]) for k in ds.labels["train"]}
    if reps > 1:
        feats = {k: v.repeat(reps, *([1] * (v.dim() - 1))) for k, v in feats.items()}
        labels = {k: v.repeat(reps) for k, v in labels.items()}
    if rows:
        feats = {k: v[:rows] for k, v in feats.items()}
        labels = {k: v[:rows] for k, v in labels.items()}
    ds.features["train"], ds.labels["train"] = feats, labels
    return ds


def dump_ctr(model: str, path: Path, rows: int = 0) -> dict[str, Any]:
    """Write the protocol data as ``.npz`` (arrays by field) plus vocab sizes, for the peer workers."""
    import numpy as np

    ds = ctr_dataset(model, rows)
    arrays = {k: v.numpy() for k, v in ds.features["train"].items()}
    arrays["label"] = next(iter(ds.labels["train"].values())).numpy()
    np.savez(path, **arrays)
    meta = {"fields": [{"name": f.name, "kind": f.kind, "vocab_size": f.vocab_size, "max_len": f.max_len,
                        "share_vocab": f.share_vocab} for f in ds.spec.fields], "rows": len(arrays["label"])}
    Path(str(path) + ".json").write_text(json.dumps(meta))
    return meta


# ------------------------------------------------------------------------------------------------ workers
def _timed_epochs(net: Any, task: Any, opt: Any, epochs: int) -> tuple[float, float]:
    """One warm-up epoch of the Trainer's inner loop (task batches, task loss plus any ``aux_loss``), then
    ``epochs`` timed epochs; returns their wall time and this process' CPU time in seconds."""
    import torch

    dev = torch.device("cpu")

    def one_epoch(ep: int) -> None:
        net.train()
        for batch, target in task.train_batches(ep, dev):
            out = net(batch)
            loss = task.loss(out, target)
            if "aux_loss" in out:
                loss = loss + out["aux_loss"]
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()

    one_epoch(0)
    t0, c0 = time.perf_counter(), time.process_time()
    for ep in range(1, epochs + 1):
        one_epoch(ep)
    return time.perf_counter() - t0, time.process_time() - c0


def worker_plexus_ctr(model: str, epochs: int = 2, rows: int = 0, variant: str = "paper") -> dict[str, Any]:
    """The Trainer's optimizer (fused Adam on CPU) and its denormal flushing, around :func:`_timed_epochs`."""
    import torch
    from plexus.platform.catalog import get_catalog
    from plexus.platform.config import TrainConfig
    from plexus.platform.training.tasks import make_task
    from plexus.platform.training.trainer import flush_denormal, make_optimizer

    ds = ctr_dataset(model, rows)
    hp = {**_BASE_HP[model], **CTR_VARIANTS[model][variant][1]}
    torch.manual_seed(0)
    net = get_catalog().model(model).build(ds.spec, **hp)
    cfg = TrainConfig(batch_size=1024, lr=1e-3)
    task = make_task(ds, cfg)
    task.bind(net)
    with flush_denormal(cfg.flush_denormal):
        dt, cpu = _timed_epochs(net, task, make_optimizer(net, cfg, torch.device("cpu")), epochs)
    n = ds.num_rows("train")
    return {"samples_per_s": epochs * n / dt, "seconds": dt, "rows": n, "peak_rss_mb": _rss_mb(),
            "samples_per_cpu_s": epochs * n / cpu,
            "params": sum(p.numel() for p in net.parameters())}


def worker_plexus_gnn(model: str, epochs: int = 200) -> dict[str, Any]:
    import torch
    from plexus.platform.catalog import get_catalog
    from plexus.platform.config import TrainConfig
    from plexus.platform.data.service import load_dataset
    from plexus.platform.training.tasks import make_task

    if model == "gcn":
        ds, hp, bs, lr = load_dataset("cora", task="node"), {"hidden": 16, "dropout": 0.5}, 1024, 0.01
    else:
        ds = load_dataset("cora", task="link", split="70/10/20")
        hp, bs, lr = {"hidden_dim": 256, "num_layers": 1, "mpnn": "puregcn"}, 1152, 0.0043
    torch.manual_seed(0)
    net = get_catalog().model(model).build(ds.spec, **hp)
    task = make_task(ds, TrainConfig(batch_size=bs, lr=lr))
    task.bind(net)
    opt = torch.optim.Adam(net.parameters(), lr=lr, weight_decay=5e-4 if model == "gcn" else 0.0)
    dt, _ = _timed_epochs(net, task, opt, epochs)
    return {"epochs_per_s": epochs / dt, "epoch_ms": 1000 * dt / epochs, "peak_rss_mb": _rss_mb(),
            "params": sum(p.numel() for p in net.parameters())}


def worker_overhead(mode: str, epochs: int = 30, trials: int = 3, warm: int = 0) -> dict[str, Any]:
    """``trials`` trials of GCN on Cora (fixed hyperparameters), all in this process, timed.

    ``off``: ``train_model`` untracked; ``on``: ``train_model`` tracked in a fresh SQLite
    store; ``search``: ``plexus.platform.search.search`` (Optuna study + nested MLflow runs).
    ``warm`` > 0: that many untimed trials first (a study of their own), so the timed ones run in
    stores and a process that already exist, as every trial after a search's first does.
    """
    from plexus.platform.config import build_config
    from plexus.platform.training import train_model

    hp = {"hidden": 16, "num_layers": 2, "dropout": 0.5, "decoder": "dot"}
    with tempfile.TemporaryDirectory() as tmp:
        tracking = {"enabled": mode != "off", "experiment": "plexus-speed-overhead", "log_model": False,
                    "checkpoints": False, "uri": f"sqlite:///{tmp}/mlflow.db"}

        def run(n: int, study: str) -> None:
            raw = {"train": {"epochs": epochs, "lr": 0.01, "patience": 0}, "tracking": tracking, "hparams": hp,
                   "search": {"trials": n, "sampler": "random", "pruner": "none", "study": study,
                              "storage": f"sqlite:///{tmp}/optuna.db", "heartbeat_interval": 0,
                              "log_models": "none", "register": False}}
            cfg = build_config(raw, model="gcn", dataset="cora")
            if mode == "search":
                from plexus.platform.search import search

                search(cfg, tracking_uri=tracking["uri"], echo=None)
            else:
                for _ in range(n):
                    train_model(cfg, progress=False)

        if warm:
            run(warm, "warm-up")
        t0, c0 = time.perf_counter(), time.process_time()
        run(trials, "timed")
        dt, cpu = time.perf_counter() - t0, time.process_time() - c0
    return {"trial_s": dt / trials, "trial_cpu_s": cpu / trials, "trials": trials, "warm_trials": warm,
            "epochs": epochs, "peak_rss_mb": _rss_mb()}


def worker_encode() -> dict[str, Any]:
    from plexus.evaluation.bench import encode

    with tempfile.TemporaryDirectory() as tmp:
        res = encode.run(out=Path(tmp))
    return {"seconds": res["cold_seconds"], "rows_per_s": res["rows_per_second"], "peak_rss_mb": res["peak_rss_mb"]}


# ------------------------------------------------------------------------------------------------ orchestration
def _spawn(cmd: list[str], threads: int, timeout: float) -> dict[str, Any]:
    return run_fresh(cmd, threads, timeout, env={"PLEXUS_FUXICTR_REPO": str(FUXI_REPO)})


def _plan(parts: tuple[str, ...], rows: int, gnn_epochs: int, ctr_epochs: int, data_dir: Path,
          peers: bool) -> list[tuple[str, str, str, list[str]]]:
    """(benchmark, library, metric, command) for one round."""
    plan = []
    if "ctr" in parts:
        for model in ("din", "autoint"):
            for variant, (label, _) in CTR_VARIANTS[model].items():
                plan.append((f"{model}-train", label, "samples_per_s",
                             worker_command(worker_plexus_ctr, model=model, epochs=ctr_epochs, rows=rows,
                                            variant=variant)))
            if peers and BENCH_PY.exists():
                plan.append((f"{model}-train", "deepctr-torch 0.3.0", "samples_per_s",
                             [str(BENCH_PY), str(HERE / "peers.py"), "deepctr", model,
                              str(data_dir / f"{model}.npz"), "--epochs", str(ctr_epochs)]))
                if FUXI_REPO.is_dir():
                    plan.append((f"{model}-train", "fuxictr 2.3.10 (model_zoo)", "samples_per_s",
                                 [str(BENCH_PY), str(HERE / "peers.py"), "fuxictr", model,
                                  str(data_dir / f"{model}.npz"), "--epochs", str(ctr_epochs)]))
    if "gnn" in parts:
        for model in ("gcn", "ncn"):
            ep = gnn_epochs if model == "gcn" else max(1, gnn_epochs // 20)
            plan.append((f"{model}-cora", "plexus", "epoch_ms",
                         worker_command(worker_plexus_gnn, model=model, epochs=ep)))
            plan.append((f"{model}-cora", "plain PyG script", "epoch_ms",
                         [sys.executable, str(HERE / "plain_pyg.py"), model, "--epochs", str(ep)]))
    if "encode" in parts:
        plan.append(("criteo-200k-encode", "plexus", "seconds", worker_command(worker_encode)))
    if "overhead" in parts:
        for bench, warm in (("trial-overhead", 0), ("trial-overhead-steady", 3)):
            for mode, label in (("off", "untracked train_model"), ("on", "tracked train_model (MLflow)"),
                                ("search", "plexus search (Optuna + MLflow)")):
                plan.append((bench, label, "trial_s", worker_command(worker_overhead, mode=mode, warm=warm)))
    return plan


def _per_round(raw: list[dict[str, Any]], bench: str, ref: str, peer: str, metric: str) -> list[float]:
    """Plexus / peer within each round (the two ran back to back, under the same load)."""
    by = {(m["library"], m["round"]): m["result"].get(metric) for m in raw if m["bench"] == bench}
    rounds = sorted({m["round"] for m in raw if m["bench"] == bench})
    return [by[(ref, k)] / by[(peer, k)] for k in rounds if by.get((ref, k)) and by.get((peer, k))]


def _like_for_like(bench: str, library: str) -> tuple[str, str] | None:
    """(like-for-like Plexus label, paper Plexus label) for a peer's CTR row, else None."""
    model = bench.split("-")[0]
    peer = "deepctr" if library.startswith("deepctr") else "fuxictr" if library.startswith("fuxictr") else ""
    if model not in CTR_VARIANTS or (model, peer) not in LIKE_FOR_LIKE:
        return None
    return CTR_VARIANTS[model][LIKE_FOR_LIKE[(model, peer)]][0], CTR_VARIANTS[model]["paper"][0]


def summarize(raw: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Median [min, max] per (benchmark, library) and the ratio Plexus / peer (same run); a CTR peer is
    compared with the Plexus variant of its own architecture (and with the paper variant)."""
    groups: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for m in raw:
        groups.setdefault((m["bench"], m["library"]), []).append(m)
    out = []
    for (bench, lib), ms in groups.items():
        metric = ms[0]["metric"]
        vals = [m["result"][metric] for m in ms if metric in m["result"]]
        mem = [m["result"]["peak_rss_mb"] for m in ms if "peak_rss_mb" in m["result"]]
        errors = [m["result"]["error"] for m in ms if "error" in m["result"]]
        row = {"bench": bench, "library": lib, "metric": metric, "n": len(vals),
               "median": statistics.median(vals) if vals else None, "min": min(vals) if vals else None,
               "max": max(vals) if vals else None, "peak_rss_mb": statistics.median(mem) if mem else None,
               "errors": errors[:1]}
        cpu = [m["result"]["samples_per_cpu_s"] for m in ms if "samples_per_cpu_s" in m["result"]]
        if cpu:
            row["cpu_median"] = statistics.median(cpu)
        out.append(row)
    by_bench: dict[str, list[dict[str, Any]]] = {}
    for r in out:
        by_bench.setdefault(r["bench"], []).append(r)
    for bench, rs in by_bench.items():
        ref = next((r for r in rs if r["library"] in ("plexus", "untracked train_model")), None)
        labels = {r["library"]: r for r in rs}
        for r in rs:
            like, paper = (labels.get(x) for x in (_like_for_like(bench, r["library"]) or ("", "")))
            if like and like["median"] and r["median"]:
                r["like_for_like"] = like["library"]
                r["ratio_plexus_over_peer"] = like["median"] / r["median"]
                r["ratio_per_round"] = _per_round(raw, bench, like["library"], r["library"], r["metric"])
                if like.get("cpu_median") and r.get("cpu_median"):
                    r["cpu_ratio"] = like["cpu_median"] / r["cpu_median"]
                    r["cpu_ratio_per_round"] = _per_round(raw, bench, like["library"], r["library"],
                                                          "samples_per_cpu_s")
                if paper and paper["median"] and paper is not like:
                    r["ratio_paper_over_peer"] = paper["median"] / r["median"]
                continue
            if ref is None or r is ref or not r["median"] or not ref["median"]:
                continue
            if r["metric"] == "samples_per_s":  # higher is better: Plexus / peer
                r["ratio_plexus_over_peer"] = ref["median"] / r["median"]
                r["ratio_per_round"] = _per_round(raw, bench, ref["library"], r["library"], r["metric"])
            elif bench.startswith("trial-overhead"):  # time spent outside training, per trial
                r["overhead_s"] = r["median"] - ref["median"]
                r["overhead_pct"] = 100 * r["overhead_s"] / r["median"]
                r["overhead_pct_of_3s"] = 100 * r["overhead_s"] / 3.0
            else:  # times: peer / Plexus (> 1 means Plexus is faster)
                r["speedup_plexus"] = r["median"] / ref["median"]
    return out


def render_markdown(result: dict[str, Any]) -> str:
    env = result["environment"]
    lines = ["# Speed: Plexus side by side with peer libraries", "",
             ("Generated by `plexus bench speed` (evaluation/bench/speed.py). Each measurement ran in a fresh "
              f"process; {env['repeats']} rounds interleaved between libraries; median [min – max]. "
              f"Threads: {env['threads']} torch/OMP thread(s) for every library."), "",
             (f"Machine: {env['machine']}; run {env.get('date', '?')} at commit {env.get('commit', '?')}; load average "
              f"(1, 5, 15 min) at start {env['load_start']}, at end {env['load_end']} (the benchmark's own workers "
              "count in it; ratios within a round are the meaningful part, absolute numbers move with the load)."),
             "",
             "| benchmark | library | metric | median [min – max] | peak RSS MiB | vs Plexus |", "|---|---|---|---|---|---|"]
    for r in result["summary"]:
        if r["median"] is None:
            val = "failed: " + "; ".join(r["errors"])
        else:
            d = 0 if r["median"] > 100 else 2
            val = f"{r['median']:,.{d}f} [{r['min']:,.{d}f} – {r['max']:,.{d}f}]"
        rel = ""
        if "ratio_plexus_over_peer" in r:
            who = f"{r['like_for_like']} / peer" if r.get("like_for_like") else "Plexus / peer"
            rel = f"{who} throughput = {r['ratio_plexus_over_peer']:.2f}"
            if r.get("ratio_per_round"):
                rel += " (per round: " + ", ".join(f"{x:.2f}" for x in r["ratio_per_round"]) + ")"
            if "cpu_ratio" in r:
                rel += f"; per CPU second: {r['cpu_ratio']:.2f}"
                if r.get("cpu_ratio_per_round"):
                    rel += " (per round: " + ", ".join(f"{x:.2f}" for x in r["cpu_ratio_per_round"]) + ")"
            if "ratio_paper_over_peer" in r:
                rel += f"; paper variant / peer = {r['ratio_paper_over_peer']:.2f}"
        elif "speedup_plexus" in r:
            rel = f"peer / Plexus epoch time = {r['speedup_plexus']:.2f}"
        elif "overhead_pct" in r:
            rel = (f"overhead = {r['overhead_s']:+.3f} s per trial = {r['overhead_pct']:.1f} % of this trial, "
                   f"{r['overhead_pct_of_3s']:.1f} % of a 3-s trial" + (" (negative: noise)" if r["overhead_s"] < 0 else ""))
        mem = f"{r['peak_rss_mb']:,.0f}" if r.get("peak_rss_mb") else "–"
        lines.append(f"| {r['bench']} | {r['library']} | {r['metric']} | {val} | {mem} | {rel} |")
    lines += ["", "## Protocol and notes", ""] + [f"- {n}" for n in result["notes"]] + [""]
    return "\n".join(lines)



def run_speed(parts: tuple[str, ...] = PARTS, *, repeats: int = 3, threads: int = 2, rows: int = 0,
              gnn_epochs: int = 200, ctr_epochs: int = 2, peers: bool = True, out: Path | None = RESULTS,
              timeout: float = 1800, echo: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Run the speed benchmarks; write ``speed.json`` and ``speed.md`` into ``out``."""
    from plexus.platform.errors import ConfigError

    bad = [p for p in parts if p not in PARTS]
    if bad:
        raise ConfigError(f"unknown speed part '{bad[0]}' (choose from {', '.join(PARTS)})")
    if repeats < 1:
        raise ConfigError(f"--repeats must be >= 1, got {repeats}")
    say = echo or (lambda _m: None)
    load_start = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    raw: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as tmp:
        data_dir = Path(tmp)
        if "ctr" in parts and peers and BENCH_PY.exists():
            for model in ("din", "autoint"):
                dump_ctr(model, data_dir / f"{model}.npz", rows)
        plan = _plan(tuple(parts), rows, gnn_epochs, ctr_epochs, data_dir, peers)
        for rnd in range(repeats):
            for bench, lib, metric, cmd in plan:
                t0 = time.perf_counter()
                res = _spawn(cmd, threads, timeout)
                raw.append({"bench": bench, "library": lib, "metric": metric, "round": rnd, "result": res,
                            "wall_s": round(time.perf_counter() - t0, 1), "load_1min": round(os.getloadavg()[0], 1)})
                say(f"round {rnd}: {bench} / {lib}: " + (res.get("error") or f"{metric} = {res.get(metric, 0):,.2f}"))
    notes = list(NOTES)
    if peers and not BENCH_PY.exists():
        notes.append(".venv-bench not found: the peer libraries were not run (see docs/benchmarks.md to install).")
    if rows:
        notes.append(f"Reduced data: only the first {rows:,} CTR rows were used.")
    result = {
        "environment": {"machine": f"{platform.machine()} {os.cpu_count()} CPUs, Python {platform.python_version()}",
                        "threads": threads, "repeats": repeats, "load_start": load_start,
                        "load_end": ", ".join(f"{x:.1f}" for x in os.getloadavg()), "date": time.strftime("%Y-%m-%d"),
                        "gnn_epochs": gnn_epochs, "ctr_epochs": ctr_epochs, "ctr_rows": rows or "all",
                        "commit": commit()},
        "summary": summarize(raw), "raw": raw, "notes": notes,
    }
    if out is not None:
        out = Path(out)
        out.mkdir(parents=True, exist_ok=True)
        (out / "speed.json").write_text(json.dumps(result, indent=2, default=str) + "\n")
        (out / "speed.md").write_text(render_markdown(result))
    return result
