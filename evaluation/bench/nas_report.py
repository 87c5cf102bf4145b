"""Summarise ``plexus nas`` searches into ``evaluation/results/nas.{md,json}``.

Input: a folder with one sub-folder per search named ``nas-<variant>-<seed>`` holding the search's
``result.json`` (``plexus nas --json``; empty when the search was stopped by a time limit) and/or
``state.json`` (the history exported from the search's ``state.pt``), as written by
``evaluation/bench/device_suite.sh``. Every number in the report is computed from those histories:
    plexus bench nas --folder RUN_FOLDER [--out evaluation/results] [--note TEXT]
        [--retrain-missing 3 --tracking-uri URI]

``--retrain-missing N`` retrains, on this machine, the best architecture of every search that was stopped
by its time limit before its own retraining (seeds ``0..N-1``, the NAS child-training settings), and
writes the numbers into that search's folder (``retrain.json``) so the report shows them.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from plexus.evaluation.bench._harness import RESULTS, write_result
from plexus.evaluation.bench.fidelity import mean_std

__all__ = ["DESCRIPTION", "best_within", "load_searches", "render", "run", "summarise"]

DESCRIPTION = "NAS controllers compared at an equal budget, from `plexus nas` search folders (nas.md/.json)."

_NAME = re.compile(r"^nas-(?P<variant>.+)-(?P<seed>\d+)$")
CHECKPOINTS_S = (100, 200, 300, 400)


def load_searches(folder: Path) -> list[dict[str, Any]]:
    """One record per search folder: variant, seed, history, and the final result when it finished."""
    out = []
    for d in sorted(Path(folder).iterdir()):
        m = _NAME.match(d.name)
        if not m or not d.is_dir():
            continue
        result = None
        rp = d / "result.json"
        if rp.is_file() and rp.stat().st_size:
            result = json.loads(rp.read_text())
        history = result["history"] if result else None
        if history is None and (d / "state.json").is_file():
            history = json.loads((d / "state.json").read_text())["history"]
        if not history:
            continue
        retrain = (result or {}).get("retrain")
        if retrain is None and (d / "retrain.json").is_file():
            retrain = json.loads((d / "retrain.json").read_text())
        out.append({"variant": m["variant"], "seed": int(m["seed"]), "history": history, "result": result,
                    "retrain": retrain, "folder": str(d)})
    return out


def best_within(history: list[dict[str, Any]], *, steps: int | None = None,
                seconds: float | None = None) -> dict[str, Any] | None:
    """The best completed architecture among the first ``steps`` evaluations or those done by ``seconds``."""
    done = [h for h in history[:steps] if h.get("state") == "COMPLETE" and h.get("reward") is not None
            and (seconds is None or float(h.get("elapsed_s") or 0.0) <= seconds)]
    return max(done, key=lambda h: h["reward"]) if done else None


def summarise(searches: list[dict[str, Any]]) -> dict[str, Any]:
    """Per search and per variant (mean ± std over seeds): budget reached, best val/test, retrain, time curves."""
    common = min(len(s["history"]) for s in searches)
    rows = []
    for s in searches:
        h, res = s["history"], s["result"]
        best, at_common = best_within(h), best_within(h, steps=common)
        retrain = s.get("retrain") or None
        rows.append({
            "variant": s["variant"], "seed": s["seed"], "evaluated": len(h), "finished": res is not None,
            "pruned": sum(1 for x in h if x.get("state") == "PRUNED"),
            "wall_s": float(h[-1].get("elapsed_s") or 0.0),
            "best_val": best["reward"] if best else None, "best_test": best["test_acc"] if best else None,
            "best_arch": best["arch"] if best else None,
            "best_val_at_common": at_common["reward"] if at_common else None,
            "best_test_at_common": at_common["test_acc"] if at_common else None,
            "retrain_mean": retrain["mean"] if retrain else None, "retrain_std": retrain["std"] if retrain else None,
            "retrain_where": (retrain or {}).get("machine", "with the search"),
            "inherited": sum(1 for x in h if x.get("inherited_layers")),
            "best_val_by_s": {t: (b["reward"] if (b := best_within(h, seconds=t)) else None) for t in CHECKPOINTS_S},
        })
    variants: dict[str, dict[str, Any]] = {}
    for v in sorted({r["variant"] for r in rows}):
        mine = [r for r in rows if r["variant"] == v]
        agg: dict[str, Any] = {"seeds": sorted(r["seed"] for r in mine),
                               "evaluated": [r["evaluated"] for r in mine]}
        for k in ("best_val", "best_test", "best_val_at_common", "best_test_at_common", "wall_s", "retrain_mean"):
            agg[k] = mean_std([r[k] for r in mine if r[k] is not None])
        agg["best_val_by_s"] = {t: mean_std([r["best_val_by_s"][t] for r in mine if r["best_val_by_s"][t] is not None])
                                for t in CHECKPOINTS_S}
        variants[v] = agg
    return {"common_budget": common, "searches": rows, "variants": variants}


def _f(ms: tuple[float | None, float | None], scale: float = 100.0, digits: int = 1) -> str:
    mean, std = ms
    if mean is None:
        return "–"
    return f"{mean * scale:.{digits}f} ± {(std or 0.0) * scale:.{digits}f}"


def render(summary: dict[str, Any], note: str = "") -> str:
    c = summary["common_budget"]
    lines = ["# NAS on Cora (Planetoid split): Auto-GNN against Optuna TPE and random search", "",
             ("Generated by `plexus bench nas` from the searches' own histories "
             "(evaluation/results/nas.json holds every number below, per search)."), ""]
    if note:
        lines += [note, ""]
    lines += [f"## At equal budget: the first {c} architectures of every search (accuracy in %)", "",
              ("| controller | seeds | architectures evaluated | best val acc (first "
              f"{c}) | its test acc | best val acc (all) | its test acc | search wall s | best retrained, 3 seeds |"),
              "|---|---|---|---|---|---|---|---|---|"]
    for v, a in summary["variants"].items():
        lines.append(f"| {v} | {', '.join(map(str, a['seeds']))} | {', '.join(map(str, a['evaluated']))} | "
                     f"{_f(a['best_val_at_common'])} | {_f(a['best_test_at_common'])} | {_f(a['best_val'])} | "
                     f"{_f(a['best_test'])} | {_f(a['wall_s'], 1, 0)} | {_f(a['retrain_mean'])} |")
    lines += ["", "## Best validation accuracy reached by wall time (%, mean ± std over seeds)", "",
              "| controller | " + " | ".join(f"≤ {t} s" for t in CHECKPOINTS_S) + " |",
              "|---|" + "---|" * len(CHECKPOINTS_S)]
    for v, a in summary["variants"].items():
        lines.append(f"| {v} | " + " | ".join(_f(a["best_val_by_s"][t]) for t in CHECKPOINTS_S) + " |")
    lines += ["", "## Per search", "", ("| controller | seed | evaluated | finished | pruned | children that "
              "inherited | best val | its test | retrain test | best architecture |"), "|---|---|---|---|---|---|---|---|---|---|"]
    for r in summary["searches"]:
        arch = json.loads(r["best_arch"]) if r["best_arch"] else {"layers": []}
        short = " → ".join(f"{la['attention']}/{la['aggregator']}/{la['activation']}/{la['heads']}h"
                           + (f"x{la['hidden']}" if la.get("hidden") else "") for la in arch["layers"])
        rt = "–" if r["retrain_mean"] is None else (f"{100 * r['retrain_mean']:.1f} ± {100 * r['retrain_std']:.1f}"
                                                   + ("" if r["retrain_where"] == "with the search" else " (CPU, after)"))
        lines.append(f"| {r['variant']} | {r['seed']} | {r['evaluated']} | {'yes' if r['finished'] else 'time limit'} "
                     f"| {r['pruned']} | {r['inherited']} | {100 * (r['best_val'] or 0):.1f} | "
                     f"{100 * (r['best_test'] or 0):.1f} | {rt} | {short} |")
    lines.append("")
    return "\n".join(lines)


def retrain_missing_runs(searches: list[dict[str, Any]], seeds: int, tracking_uri: str | None,
                    epochs: int = 100) -> None:
    """Retrain the best architecture of each search that has no retraining yet; writes ``retrain.json``."""
    import torch
    from plexus.evaluation.bench.fidelity import describe_machine
    from plexus.nas.search import retrain_architecture

    for s in searches:
        best = best_within(s["history"])
        if s.get("retrain") or best is None:
            continue
        s["retrain"] = retrain_architecture(best["arch"], dataset="cora", seeds=seeds, epochs=epochs,
                                            tracking_uri=tracking_uri, experiment="plexus-nas-retrain",
                                            controller=s["variant"])
        s["retrain"]["machine"] = describe_machine(torch.get_num_threads())
        Path(s["folder"], "retrain.json").write_text(json.dumps(s["retrain"], indent=1))
        print(f"{s['variant']} seed {s['seed']}: retrained {s['retrain']['mean']:.4f} ± {s['retrain']['std']:.4f}",
              flush=True)


def run(folder: Path, out: Path | None = RESULTS, note: str = "", retrain_missing: int = 0,
        tracking_uri: str | None = None) -> dict[str, Any]:
    """Summarise the searches under ``folder`` into ``nas.json`` and ``nas.md``.

    Args:
        folder: a folder of nas-<variant>-<seed> search folders (result.json and/or state.json).
        out: results folder (None: write nothing).
        note: a paragraph on how the searches were run.
        retrain_missing: retrain with this many seeds the best architecture of every search stopped before its
            own retraining (0: none).
        tracking_uri: MLflow tracking URI of those retrainings.
    """
    from plexus.platform.errors import ConfigError

    searches = load_searches(folder) if Path(folder).is_dir() else []
    if not searches:
        raise ConfigError(f"{folder}: no nas-<variant>-<seed> folders with a history")
    if retrain_missing:
        retrain_missing_runs(searches, retrain_missing, tracking_uri)
    summary = summarise(searches)
    if out is not None:
        write_result(summary, render(summary, note), out, "nas")
    return summary
