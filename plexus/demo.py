"""``plexus demo``: the three user journeys, end to end, on bundled/local data.

1. **Catalog**: lists every registered model, including a third-party plugin registered
   through an entry point (the example package in ``examples/plugin`` is
   pip-installed into the running environment when it is not there yet).
2. **Search**: a small Auto-GNN architecture search (the NAS service, controller ``autognn``)
   on the bundled ``cora``, its best architecture retrained beside a plain GCN, and a small
   Optuna hyperparameter search of ``din`` on the generated ``synthetic-behavior`` data with
   median pruning, its best trial beside DIN's sum-pooling base ``din_base``; each search is
   a parent MLflow run with one nested child run per architecture / trial, in ``./mlruns``.
   Nothing is downloaded: the demo runs offline.
3. **Compare**: ranks the children of both searches (the ``plexus compare`` service),
   writes the HTML reports and prints the command that opens the MLflow UI on the runs.

``run_demo(quick=True)`` runs the same journeys with smaller sizes (used by the tests).
"""

from __future__ import annotations

import importlib
import json
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from plexus.platform.catalog import get_catalog
from plexus.platform.config import build_config

__all__ = ["DEMO_EXPERIMENT", "PLUGIN_MODEL", "DemoSizes", "run_demo"]

DEMO_EXPERIMENT = "plexus-demo"
BEHAVIOR = "synthetic-behavior"  # generated: the recommender journey needs no download
# the single runs printed beside each search: tracked in the demo's experiment, no model, checkpoint or plot
_SIDE_RUN = {"experiment": DEMO_EXPERIMENT, "log_model": False, "checkpoints": False, "plots": False}
PLUGIN_MODEL = "tiny_mlp"  # the model of the example third-party plugin
_PLUGIN_DIR = Path(__file__).resolve().parent.parent / "examples" / "plugin"


@dataclass(frozen=True)
class DemoSizes:
    """How much work each journey does.

    Args:
        nas_budget: architectures the NAS controller evaluates.
        nas_epochs: training epochs per architecture.
        nas_choices: subsets of the GraphNAS space's values. Small widths keep it fast; the sum aggregator
            and four activations keep out the operators that need far more than the budget's epochs
            (mean/max aggregators through a per-message network, sigmoid/softplus), so a 5-architecture
            search reaches a GCN's level (measured 2026-12-05 with normalised features and the top 2
            architectures retrained with 2 seeds each: 0.809 and 0.803 test accuracy for NAS seeds 0 and 1,
            98-123 s per search on a loaded 2-core CPU).
        gcn_epochs: epochs of the plain GCN the NAS result is printed beside (Kipf & Welling's protocol).
        search_trials: Optuna trials of the DIN search.
        search_epochs: training epochs per trial (>= 2 lets the median pruner stop a trial).
        behavior_users: users generated for ``synthetic-behavior``.
        batch_size: DIN's batch size.
    """

    nas_budget: int = 5
    nas_epochs: int = 100
    nas_choices: tuple[tuple[str, tuple[Any, ...]], ...] = (
        ("aggregator", ("sum",)), ("activation", ("relu", "elu", "tanh", "linear")), ("hidden", (8, 16)),
        ("heads", (1, 2)))
    gcn_epochs: int = 200
    search_trials: int = 4
    search_epochs: int = 3
    behavior_users: int = 2000
    batch_size: int = 256


FULL = DemoSizes()
QUICK = DemoSizes(nas_budget=2, nas_epochs=3, nas_choices=(("hidden", (4,)), ("heads", (1,))), gcn_epochs=3,
                  search_trials=2,
                  search_epochs=2, behavior_users=200, batch_size=256)


def _ensure_plugin(say: Callable[[str], None], install: bool) -> str:
    """Make the example third-party plugin visible in the catalog; return a one-line status."""
    if PLUGIN_MODEL in get_catalog().models():
        return f"third-party plugin '{PLUGIN_MODEL}' is registered through the 'plexus.models' entry point"
    if not install:
        return f"third-party plugin '{PLUGIN_MODEL}' is not installed (install skipped)"
    if not (_PLUGIN_DIR / "pyproject.toml").exists():
        return (f"third-party plugin '{PLUGIN_MODEL}' not shown: its example package ({_PLUGIN_DIR}) is not part "
                "of this installation (it ships with the source checkout)")
    say(f"installing the example third-party plugin from {_PLUGIN_DIR} ...")
    base = [sys.executable, "-m", "pip", "install", "--no-deps", "--quiet", "--disable-pip-version-check"]
    err = ""
    for extra in ([], ["--no-build-isolation"]):  # offline machines cannot fetch the build backend
        proc = subprocess.run(base + extra + [str(_PLUGIN_DIR)], capture_output=True, text=True, check=False)
        if proc.returncode == 0:
            break
        err = (proc.stderr.strip().splitlines() or [f"exit code {proc.returncode}"])[-1]
    else:
        return f"third-party plugin '{PLUGIN_MODEL}' not shown: pip install failed ({err})"
    importlib.invalidate_caches()
    if PLUGIN_MODEL in get_catalog(refresh=True).models():
        return f"third-party plugin '{PLUGIN_MODEL}' installed; registered through the 'plexus.models' entry point"
    return f"third-party plugin '{PLUGIN_MODEL}' installed but not visible yet (restart to see it)"


def _text_table(title: str, cols: list[str], rows: list[list[Any]]) -> list[str]:
    cells = [[str(c) for c in cols]] + [[str(c) for c in r] for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(cols))]
    fmt = lambda r: "  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip()
    return [title, fmt(cells[0]), "  ".join("-" * w for w in widths)] + [fmt(r) for r in cells[1:]]


def _short(value: str) -> str:
    try:
        return f"{float(value):.4g}" if "." in value or "e" in value else value
    except ValueError:
        return value if len(value) <= 48 else value[:45] + "..."


def _arch_text(arch: str | None) -> str:
    """A GraphNAS architecture in one short line: per layer attention/aggregator/activation, width x heads."""
    try:
        layers = json.loads(arch or "")["layers"]
    except (ValueError, KeyError, TypeError):
        return str(arch or "")[:60]
    return " | ".join(f"{lay.get('attention')}/{lay.get('aggregator')}/{lay.get('activation')} "
                      f"{lay.get('hidden') or 'out'}x{lay.get('heads')}" for lay in layers)


def _metric(metrics: dict[str, Any], key: str) -> str:
    v = metrics.get(key, metrics.get(f"best_{key}"))
    return "" if v is None else f"{float(v):.4f}"


def _compare(uri: str, say: Callable[[str], None], *, study: str | None = None,
             run_ids: list[str] | None = None, label: str) -> dict[str, Any]:
    """``plexus compare`` on the runs: print the ranking table and write the HTML report."""
    from plexus.evaluation.compare import compare_runs, default_report_path
    from plexus.evaluation.report import write_report

    cmp = compare_runs(uri, study=study, run_ids=run_ids)
    arrow = "lower" if cmp.direction == "min" else "higher"
    varying = [k for k in cmp.varying if not k.startswith("optuna.")]  # duplicates of hparams.*
    cols = (["#", "run", "state"] + [k.removeprefix("hparams.") for k in varying]
            + [f"{cmp.metric} final", f"{cmp.metric} best", "duration s"])
    f = lambda v, d=4: "" if v is None else f"{v:.{d}f}"
    rows = [[r.rank or "", f"{r.name} ({r.run_id[:8]})", r.state] + [_short(r.params.get(k, "")) for k in varying]
            + [f(r.final), f(r.best), f(r.duration_s, 1)] for r in cmp.runs]
    for line in _text_table(f"{label}: {len(cmp.runs)} runs by {cmp.metric} ({arrow} is better)", cols, rows):
        say(line)
    path = write_report(cmp, default_report_path(cmp, uri))  # beside the demo's tracking store
    say(f"report: {path}")
    return {**cmp.to_dict(), "report": str(path)}


def run_demo(progress: bool = True, echo: Callable[[str], None] | None = None, *, quick: bool = False,
             install_plugin: bool = True, tracking_uri: str | None = None) -> dict[str, Any]:
    """Run the three journeys; returns the catalog, both searches and both comparisons.

    Args:
        progress: show training progress (unused by the searches, which print one line per run).
        echo: called with each output line (None: silent).
        quick: smaller sizes (:data:`QUICK`) for tests.
        install_plugin: pip-install the example third-party plugin when it is missing.
        tracking_uri: MLflow store (default: ``$MLFLOW_TRACKING_URI`` or ``./mlruns``).
    """
    del progress  # searches report one line per child run instead of progress bars
    import torch

    threads = torch.get_num_threads()
    # the demo's models are tiny: on a busy 2-core CPU two threads made the NAS step 5x slower (301 s vs 51 s)
    torch.set_num_threads(1)
    try:
        return _journeys(echo, quick=quick, install_plugin=install_plugin, tracking_uri=tracking_uri)
    finally:
        torch.set_num_threads(threads)


def _journeys(echo: Callable[[str], None] | None, *, quick: bool, install_plugin: bool,
              tracking_uri: str | None) -> dict[str, Any]:
    from plexus.nas.search import run_nas
    from plexus.platform.search import search
    from plexus.platform.tracking import mask_url, resolve_tracking_uri
    from plexus.platform.training import train_model

    say = echo or (lambda _m: None)
    sizes = QUICK if quick else FULL
    uri = resolve_tracking_uri(tracking_uri)
    t0 = time.time()

    # 1. the catalog, with a third-party plugin
    say("== 1. Plugin catalog")
    plugin = _ensure_plugin(say, install_plugin)
    catalog = get_catalog()
    models = [e.describe() for e in catalog.models().values()]
    say(f"{len(models)} models: " + ", ".join(
        f"{m['name']}{'' if m['status'] == 'ok' else ' (broken)'}" for m in models))
    say(f"{len(catalog.datasets())} datasets: " + ", ".join(sorted(catalog.datasets())))
    say(plugin)

    # 2a. Auto-GNN architecture search on cora
    say(f"\n== 2a. Auto-GNN search (autognn) on cora: {sizes.nas_budget} architectures, {sizes.nas_epochs} epochs each")
    nas_res = run_nas(space="graphnas", controller="autognn", dataset="cora", budget=sizes.nas_budget,
                      epochs=sizes.nas_epochs, seed=0, choices={k: list(v) for k, v in sizes.nas_choices},
                      tracking_uri=uri, experiment=DEMO_EXPERIMENT, retrain_seeds=2, top_k=2, echo=say)
    best, again = nas_res["best"] or {}, nas_res["retrain"] or {}
    say(f"NAS parent run {nas_res['parent_run_id']}: best val_acc={best.get('reward')} "
        f"test_acc={best.get('test_acc')}; retrained from scratch: test_acc {again.get('mean', float('nan')):.4f} "
        f"± {again.get('std', float('nan')):.4f} over {len(again.get('test_acc', []))} seeds")
    gcn_cfg = build_config({"hparams": {"hidden": 16, "dropout": 0.5},  # the fidelity benchmark's gcn.yaml
                            "train": {"epochs": sizes.gcn_epochs, "lr": 0.01, "weight_decay": 5e-4, "patience": 50,
                                      "seed": 0},
                            "tracking": dict(_SIDE_RUN)}, model="gcn", dataset="cora")
    gcn = train_model(gcn_cfg, tracking_uri=uri, progress=False)
    side = [["autognn best", _arch_text(best.get("arch")), _metric(best, "reward"),
             f"{again.get('mean', float('nan')):.4f} (retrained, {len(again.get('test_acc', []))} seeds)"],
            ["gcn", "2 layers, 16 hidden (Kipf & Welling)", _metric(gcn["metrics"], "val_acc"),
             _metric(gcn["metrics"], "test_acc")]]
    for line in _text_table("The searched architecture beside a plain GCN on cora (standard split)",
                            ["model", "architecture", "val_acc", "test_acc"], side):
        say(line)

    # 2b. hyperparameter search of DIN on generated behaviour sequences, with pruning; then its base model
    stamp = time.strftime("%Y%m%d-%H%M%S")
    study = f"demo-din-{BEHAVIOR}-{stamp}"
    say(f"\n== 2b. Hyperparameter search of din on {BEHAVIOR} ({sizes.behavior_users} generated users): "
        f"{sizes.search_trials} trials, {sizes.search_epochs} epochs, median pruner")
    train = {"epochs": sizes.search_epochs, "batch_size": sizes.batch_size, "lr": 0.001}
    options = {"num_users": sizes.behavior_users}
    cfg = build_config({
        "train": train, "dataset_options": options,
        "tracking": {"experiment": DEMO_EXPERIMENT, "log_model": False, "checkpoints": False},
        "search": {"trials": sizes.search_trials, "sampler": "tpe", "pruner": "median", "pruner_startup": 1,
                   "study": study, "seed": 0, "log_models": "none", "register": False},
    }, model="din", dataset=BEHAVIOR)
    search_res = search(cfg, tracking_uri=uri, echo=say)
    say(f"search parent run {search_res['parent_run_id']}: trials {search_res['counts']}")
    base_cfg = build_config({"train": train, "dataset_options": options,
                             "tracking": dict(_SIDE_RUN)}, model="din_base", dataset=BEHAVIOR)
    base = train_model(base_cfg, tracking_uri=uri, progress=False)
    best_din = search_res["best"] or {}
    side = [["din", f"best trial #{best_din.get('number', '?')}", best_din.get("run_id", "")[:8],
             _metric(best_din.get("metrics", {}), "val_auc"), _metric(best_din.get("metrics", {}), "test_auc")],
            ["din_base", "sum pooling, default hparams", base["run_id"][:8], _metric(base["metrics"], "val_auc"),
             _metric(base["metrics"], "test_auc")]]
    for line in _text_table(f"DIN against its sum-pooling base on {BEHAVIOR} (same data, {sizes.search_epochs} "
                            "epochs each)", ["model", "what", "run", "val_auc", "test_auc"], side):
        say(line)

    # 3. compare both searches, then the UI
    say("\n== 3. plexus compare")
    nas_ids = [h["run_id"] for h in nas_res["history"] if h.get("run_id")]
    nas_cmp = _compare(uri, say, run_ids=nas_ids, label=f"NAS {nas_res['parent_run_id'][:8]} (cora)")
    search_cmp = _compare(uri, say, study=study, label=f"study {study}")
    default_uri = resolve_tracking_uri(None)
    ui = f"plexus ui --experiment {DEMO_EXPERIMENT}" + ("" if uri == default_uri else f" --tracking-uri {uri}")
    say(f"\ndemo done in {time.time() - t0:.0f}s; runs are in {mask_url(uri)}.")
    say(f"Open the MLflow UI on these runs: {ui}")
    return {"models": models, "plugin": plugin, "sizes": asdict(sizes), "tracking_uri": mask_url(uri),
            "experiment": DEMO_EXPERIMENT, "nas": {k: v for k, v in nas_res.items() if k != "history"},
            "gcn": {"run_id": gcn["run_id"], "metrics": gcn["metrics"]}, "search": search_res,
            "din_base": {"run_id": base["run_id"], "metrics": base["metrics"]},
            "compare": {"nas": nas_cmp, "search": search_cmp}, "ui_command": ui}
