"""GCN and SAGE node-classification step time: sparse CSR adjacency against the edge list, side by side.

    python -m plexus.evaluation.bench.sparse_adjacency [--dataset tolokers] [--steps 5] [--rounds 3]
        [--out-dir evaluation/results] [--name sparse_adjacency]

One process, one torch thread. For each model (the Tolokers row's baseline settings: hidden 256, 2 layers,
dropout 0 so both paths see the same inputs) and each round, the same model times ``--steps`` full-batch
training steps (forward, backward, Adam) on each path in turn: ``sparse_adjacency = True`` (one cached
``torch.sparse`` CSR matrix product per layer) and ``False`` (PyG's gather and scatter over the edge list).
Reports the median step time of each, the ratio edge list / sparse per round, and the largest difference
of the logits of the two paths from the same weights. Writes ``<name>.json`` and ``<name>.md``.
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path
from typing import Any

import torch
from plexus.evaluation.bench import write_result

REPO = Path(__file__).resolve().parents[2]


def _steps(model: Any, data: Any, steps: int) -> float:
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    y, mask = data.y.long().view(-1), data.train_mask
    times = []
    for _ in range(steps):
        t0 = time.perf_counter()
        loss = torch.nn.functional.cross_entropy(model(data)["logit"][mask], y[mask])
        opt.zero_grad()
        loss.backward()
        opt.step()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def run(dataset: str, steps: int, rounds: int) -> dict[str, Any]:
    from plexus.evaluation.bench.fidelity import describe_machine
    from plexus.gnn.baselines import GCN, SAGE
    from plexus.platform.data.service import load_dataset

    torch.set_num_threads(1)
    ds = load_dataset(dataset)
    data = ds.data
    rows = []
    for name, cls in (("gcn", GCN), ("sage", SAGE)):
        torch.manual_seed(0)
        model = cls(ds.spec, hidden=256, num_layers=2, dropout=0.0)
        model.eval()
        with torch.no_grad():
            model.sparse_adjacency = True
            a = model(data)["logit"]
            model.sparse_adjacency = False
            b = model(data)["logit"]
        model.train()
        per_round = []
        for _ in range(rounds):
            t = {}
            for flag in (False, True):
                model.sparse_adjacency = flag
                _steps(model, data, 1)  # warm-up (and the CSR conversion, cached afterwards)
                t[flag] = _steps(model, data, steps)
            per_round.append(t)
        rows.append({"model": name, "edge_list_s": statistics.median(r[False] for r in per_round),
                     "sparse_s": statistics.median(r[True] for r in per_round),
                     "ratio_per_round": [r[False] / r[True] for r in per_round],
                     "max_abs_logit_diff": float((a - b).abs().max())})
    with open("/proc/loadavg") as f:
        load = " ".join(f.read().split()[:3])
    return {"dataset": dataset, "num_nodes": int(data.num_nodes), "num_edges": int(data.edge_index.size(1)),
            "steps": steps, "rounds": rounds, "machine": f"{describe_machine(1)}, load average at end {load}",
            "rows": rows}


def render(res: dict[str, Any]) -> str:
    lines = ["# GCN and SAGE on a sparse CSR adjacency against the edge list", "",
             (f"Command: `python -m plexus.evaluation.bench.sparse_adjacency --dataset {res['dataset']} --steps "
             f"{res['steps']} --rounds {res['rounds']}`. Machine: {res['machine']}."), "",
             (f"{res['dataset']}: {res['num_nodes']:,} nodes, {res['num_edges']:,} directed edges; hidden 256, 2 layers, "
             "dropout 0; median seconds of one full-batch training step (forward, backward, Adam); speedup = edge "
             "list / sparse within each round, median over rounds. Max |logit difference|: the two paths' "
             "outputs from the same weights."), "",
             "| model | edge list s/step | sparse s/step | speedup (median) | per round | max abs logit difference |",
             "|---|---|---|---|---|---|"]
    for r in res["rows"]:
        lines.append(f"| {r['model']} | {r['edge_list_s']:.3f} | {r['sparse_s']:.3f} | "
                     f"{statistics.median(r['ratio_per_round']):.2f}x | "
                     + ", ".join(f"{x:.2f}" for x in r["ratio_per_round"]) + f" | {r['max_abs_logit_diff']:.2e} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--dataset", default="tolokers")
    ap.add_argument("--steps", type=int, default=5)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--out-dir", default=str(REPO / "evaluation" / "results"))
    ap.add_argument("--name", default="sparse_adjacency")
    args = ap.parse_args()
    res = run(args.dataset, args.steps, args.rounds)
    print(write_result(res, render(res), args.out_dir, args.name).read_text())


if __name__ == "__main__":
    main()
