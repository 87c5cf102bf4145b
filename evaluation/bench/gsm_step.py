"""GSM++ training-step time: this checkout against an earlier revision, side by side in one run.

    python -m plexus.evaluation.bench.gsm_step [--baseline-rev d54be04] [--rounds 3] [--out-dir evaluation/results]
        [--name gsm_step] [--dropout 0] [--current-hparams '{"attn_dropout": 0}']

For each case (MUTAG, PROTEINS: the first 64 graphs as one batch; Chameleon, Tolokers: the full graph) and each round, a
fresh process per code version imports ``plexus`` from that version (the baseline from a detached ``git worktree``),
builds ``gsmpp`` with its default hyperparameters but dropout ``--dropout`` (default 0: two versions may draw
dropout masks differently; seed 0) and, for the current version only, ``--current-hparams``; builds the HAC/PE
structures once (cached, as in training), then times ``--steps`` training steps (forward, backward, Adam step) and
reports the median. Node cases run through that version's ``NodeTask`` (its input, loss and, also timed, its
validation evaluation), so a model that declares ``output_nodes`` gets ``out_index`` as in training. Versions alternate within a
round, so the ratio baseline/current is measured under the same load. Writes ``<name>.json`` and ``<name>.md``.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
CASES = ("tu-mutag", "tu-proteins", "chameleon", "tolokers")
NODE_CASES = ("chameleon", "tolokers")  # full-graph node classification; the others: 64 graphs as one batch


def worker(case: str, steps: int, dropout: float = 0.0, hparams: dict[str, Any] | None = None) -> dict[str, Any]:
    import torch

    torch.set_num_threads(1)
    from plexus.gnn.gsmpp import GSMPP
    from plexus.platform.data.service import load_dataset

    import plexus

    ds = load_dataset(case)
    if case in NODE_CASES:
        batch = ds.data
    else:
        from torch_geometric.loader import DataLoader

        batch = next(iter(DataLoader(ds.graphs[:64], batch_size=64)))
    torch.manual_seed(0)
    model = GSMPP(ds.spec, dropout=dropout, **(hparams or {}))
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    model.train()
    task = None
    if case in NODE_CASES:  # the node task's own input, loss and evaluation (out_index for output_nodes models)
        from plexus.platform.config import TrainConfig
        from plexus.platform.training.tasks import NodeTask

        task = NodeTask(ds, TrainConfig())
        task.bind(model)
        (batch, target), = task.train_batches(1, torch.device("cpu"))
    else:
        target = batch.y.long().reshape(-1)
    times, eval_times = [], []
    for i in range(steps + 1):  # step 0 builds the cached HAC/PE structures: not timed
        t0 = time.perf_counter()
        out = model(batch)
        loss = task.loss(out, target) if task else torch.nn.functional.cross_entropy(out["logit"], target)
        opt.zero_grad()
        loss.backward()
        opt.step()
        if i:
            times.append(time.perf_counter() - t0)
    if task is not None:
        model.eval()
        for _ in range(steps):
            t0 = time.perf_counter()
            task.evaluate(model, "val", torch.device("cpu"))
            eval_times.append(time.perf_counter() - t0)
    return {"case": case, "plexus_from": str(Path(plexus.__file__).resolve().parents[1]),
            "median_step_s": statistics.median(times), "steps": steps, "loss": float(loss),
            "median_val_eval_s": statistics.median(eval_times) if eval_times else None,
            "peak_rss_gib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20}


def _spawn(code_root: Path, case: str, steps: int, dropout: float = 0.0,
           hparams: dict[str, Any] | None = None) -> dict[str, Any]:
    env = {**os.environ, "PYTHONPATH": f"{code_root}{os.pathsep}{os.environ.get('PYTHONPATH', '')}",
           "OMP_NUM_THREADS": "1"}
    out = subprocess.run([sys.executable, str(Path(__file__).resolve()), "--worker", case, "--steps", str(steps),
                          "--dropout", str(dropout), "--current-hparams", json.dumps(hparams or {})],
                         env=env, capture_output=True, text=True, check=True, cwd=tempfile.gettempdir())
    return json.loads(out.stdout.strip().splitlines()[-1])


def run(baseline_rev: str, rounds: int, steps: int, cases: tuple[str, ...], dropout: float = 0.0,
        current_hparams: dict[str, Any] | None = None) -> dict[str, Any]:
    tmp = Path(tempfile.mkdtemp(prefix="gsm-step-"))
    base = tmp / "baseline"
    subprocess.run(["git", "-C", str(REPO), "worktree", "add", "--detach", str(base), baseline_rev],
                   check=True, capture_output=True)
    head = subprocess.run(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"], capture_output=True,
                          text=True, check=True).stdout.strip()
    raw: list[dict[str, Any]] = []
    try:
        for r in range(rounds):
            for case in cases:
                for label, root in (("baseline", base), ("current", REPO)):
                    res = _spawn(root, case, steps, dropout, current_hparams if label == "current" else None)
                    if Path(res.pop("plexus_from")) != root.resolve():  # checked, not written: a local path
                        raise RuntimeError(f"{label}: plexus was not imported from the {label} tree {root}")
                    raw.append({**res, "round": r, "version": label})
                    print(json.dumps(raw[-1]), flush=True)
    finally:
        subprocess.run(["git", "-C", str(REPO), "worktree", "remove", "--force", str(base)], capture_output=True,
                       check=False)
    from plexus.evaluation.bench.fidelity import describe_machine

    with open("/proc/loadavg") as f:
        load = f.read().split()[:3]
    return {"baseline_rev": baseline_rev, "current_rev": head, "rounds": rounds, "steps": steps,
            "dropout": dropout, "current_hparams": current_hparams or {},
            "machine": f"{describe_machine(1)} per process, load average at end {' '.join(load)}",
            "rows": summarize(raw, cases, rounds), "raw": raw}


def summarize(raw: list[dict[str, Any]], cases: tuple[str, ...], rounds: int) -> list[dict[str, Any]]:
    """Per case: median step time of each version, and the per-round speedup baseline / current."""
    rows = []
    for case in cases:
        ratios = []
        for r in range(rounds):
            t = {x["version"]: x["median_step_s"] for x in raw if x["case"] == case and x["round"] == r}
            ratios.append(t["baseline"] / t["current"])
        med = {v: statistics.median(x["median_step_s"] for x in raw if x["case"] == case and x["version"] == v)
               for v in ("baseline", "current")}
        loss = {v: max(x["loss"] for x in raw if x["case"] == case and x["version"] == v)
                for v in ("baseline", "current")}
        rss = {v: max(x.get("peak_rss_gib", float("nan")) for x in raw if x["case"] == case and x["version"] == v)
               for v in ("baseline", "current")}
        val = {v: statistics.median(x["median_val_eval_s"] for x in raw if x["case"] == case and x["version"] == v
                                    and x.get("median_val_eval_s") is not None) if case in NODE_CASES else None
               for v in ("baseline", "current")}
        rows.append({"case": case, "baseline_s": med["baseline"], "current_s": med["current"],
                     "val_eval_baseline_s": val["baseline"], "val_eval_current_s": val["current"],
                     "rss_baseline_gib": rss["baseline"], "rss_current_gib": rss["current"],
                     "speedup_median": statistics.median(ratios), "speedup_per_round": ratios,
                     "loss_baseline": loss["baseline"], "loss_current": loss["current"]})
    return rows


def render(res: dict[str, Any]) -> str:
    dropout, extra = res.get("dropout", 0.0), res.get("current_hparams") or {}
    opts = (f" --dropout {dropout}" if dropout else "") + (f" --current-hparams '{json.dumps(extra)}'" if extra else "")
    cmd = (f"Command: `python -m plexus.evaluation.bench.gsm_step --baseline-rev {res['baseline_rev']} "
           f"--rounds {res['rounds']} --steps {res['steps']} --cases {' '.join(r['case'] for r in res['rows'])}{opts}` "
           f"(current: {res['current_rev']}). Machine: "
           f"{res['machine']}.")
    hp = f"dropout {dropout}" + (f"; the current version also {json.dumps(extra)}" if extra else "")
    same = ("The loss after the timed steps (same seed, same batch) shows both versions compute the same "
            "training trajectory." if not dropout and not extra else
            "With dropout or hyperparameters that differ the two losses need not agree.")
    about = (f"`gsmpp` with its default hyperparameters except {hp}; median seconds of one training step "
             "(forward, backward, Adam), HAC/PE structures already cached. MUTAG, PROTEINS: the first 64 graphs "
             "as one batch; Chameleon, Tolokers: the full graph (890 / 11,758 nodes). Speedup = baseline / current within each round "
             "(same load), median over rounds. Peak RSS: the worker process's maximum resident memory. "
             "Val evaluation: the node task's validation pass, forward and metrics (node cases). " + same)
    header = ("| case | baseline s/step | current s/step | speedup (median) | per round | peak RSS GiB (baseline / "
              "current) | val evaluation s (baseline / current) | loss after steps (baseline / current) |")
    lines = ["# GSM++ training step: side by side with an earlier revision", "", cmd, "", about, "", header,
             "|---|---|---|---|---|---|---|---|"]
    for r in res["rows"]:
        lines.append(f"| {r['case']} | {r['baseline_s']:.2f} | {r['current_s']:.2f} | {r['speedup_median']:.2f}x | "
                     + ", ".join(f"{x:.2f}" for x in r["speedup_per_round"])
                     + f" | {r.get('rss_baseline_gib', float('nan')):.2f} / {r.get('rss_current_gib', float('nan')):.2f}"
                     + (f" | {r['val_eval_baseline_s']:.2f} / {r['val_eval_current_s']:.2f}"
                        if r.get("val_eval_baseline_s") is not None else " | –")
                     + f" | {r['loss_baseline']:.6f} / {r['loss_current']:.6f} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    ap.add_argument("--baseline-rev", default="d54be04")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--steps", type=int, default=3)
    ap.add_argument("--cases", nargs="*", default=list(CASES))
    ap.add_argument("--out-dir", default=str(REPO / "evaluation" / "results"))
    ap.add_argument("--name", default="gsm_step", help="result files <name>.json and <name>.md")
    ap.add_argument("--dropout", type=float, default=0.0, help="dropout of both versions")
    ap.add_argument("--current-hparams", default="{}", help="JSON hyperparameters for the current version only")
    args = ap.parse_args()
    extra = json.loads(args.current_hparams)
    if args.worker:
        print(json.dumps(worker(args.worker, args.steps, args.dropout, extra)))
        return
    res = run(args.baseline_rev, args.rounds, args.steps, tuple(args.cases), args.dropout, extra)
    from plexus.evaluation.bench import (
        write_result,  # here, not at the top: workers import the baseline's plexus
    )

    print(write_result(res, render(res), args.out_dir, args.name).read_text())


if __name__ == "__main__":
    main()
