"""``plexus nas``: neural architecture search and ``plexus nas show`` (the service is ``plexus.nas.search``)."""

from __future__ import annotations

from typing import Any

import typer

from plexus.cli._output import console, emit_json, table
from plexus.platform.errors import ConfigError

app = typer.Typer(invoke_without_command=True, help="Neural architecture search; 'plexus nas show RUN' prints "
                      "an architecture.")



def _parse_choices(items: list[str] | None) -> dict[str, list[Any]] | None:
    if not items:
        return None
    out: dict[str, list[Any]] = {}
    for item in items:
        if "=" not in item:
            raise ConfigError(f"--choices expects class=v1,v2,..., got '{item}'")
        key, values = item.split("=", 1)
        out[key.strip()] = [int(v) if v.strip().lstrip("-").isdigit() else v.strip() for v in values.split(",") if v.strip()]
    return out


@app.callback()
def nas(
    ctx: typer.Context,
    dataset: str | None = typer.Option(None, "--dataset", "-d", help="Dataset name (node classification)."),
    space: str = typer.Option("graphnas", "--space", help="Search space."),
    controller: str = typer.Option("autognn", "--controller", help="autognn | optuna | random."),
    budget: int = typer.Option(10, "--budget", help="Number of architectures to evaluate."),
    epochs: int = typer.Option(200, "--epochs", help="Training epochs per architecture (the epoch of best "
                               "validation accuracy is kept; early stop after 100 without a better one)."),
    seed: int = typer.Option(0, "--seed", help="Seed of the controller and of child training."),
    share: bool | None = typer.Option(None, "--share/--no-share", help="autognn: constrained parameter sharing."),
    sampler: str | None = typer.Option(None, "--sampler", help="optuna: tpe | random | nsga2 | qmc."),
    pruner: str | None = typer.Option(None, "--pruner", help="optuna: median | hyperband | none."),
    choices: list[str] | None = typer.Option(None, "--choices", help="Restrict a class: hidden=8,16 (repeatable)."),
    set_: list[str] | None = typer.Option(None, "--set", help="Child-run override: key=value (train.lr=0.01)."),
    tracking_uri: str | None = typer.Option(None, "--tracking-uri", help="MLflow tracking URI."),
    experiment: str | None = typer.Option(None, "--experiment", help="MLflow experiment (default plexus-nas)."),
    resume: str | None = typer.Option(None, "--resume", help="NAS state file or parent run id to resume."),
    workers: int = typer.Option(0, "--workers", help="optuna/random: worker processes sharing the study "
                                "(one GPU each when several are visible)."),
    storage: str | None = typer.Option(None, "--storage", help="optuna/random: Optuna storage URL of the study "
                                       "(SQLite file or PostgreSQL for shared studies)."),
    shared_epochs: int = typer.Option(20, "--shared-epochs", help="autognn with sharing: epochs of a child that "
                                      "inherited trained layers (0: the full --epochs)."),
    retrain_seeds: int = typer.Option(3, "--retrain-seeds", help="Retrain the top architectures from scratch "
                                      "with this many seeds (0: skip)."),
    top_k: int = typer.Option(5, "--top-k", help="Retrain the K best distinct architectures of the search and "
                              "select the one with the best mean validation accuracy."),
    as_json: bool = typer.Option(False, "--json", help="Print the result as JSON."),
) -> None:
    """Search neural architectures: a parent MLflow run with one child run per architecture."""
    if ctx.invoked_subcommand:
        return
    if not dataset:
        raise ConfigError("plexus nas: --dataset is required (a node-classification dataset, e.g. cora)")
    from plexus.nas import search as service  # imported here: torch only when a command runs

    result = service.run_nas(space=space, controller=controller, dataset=dataset, budget=budget, epochs=epochs,
                             seed=seed, share=share, sampler=sampler, pruner=pruner, choices=_parse_choices(choices),
                             overrides=set_, tracking_uri=tracking_uri, experiment=experiment, resume=resume,
                             workers=workers, storage=storage, retrain_seeds=retrain_seeds, top_k=top_k,
                             shared_epochs=shared_epochs,
                             echo=None if as_json else console.print)
    if as_json:
        emit_json(result)
        return
    table(f"nas {controller} on {dataset} ({space})", ["step", "state", "val_acc", "test_acc", "changed", "inherited"],
          [[h["step"], h["state"], None if h["reward"] is None else f"{h['reward']:.4f}",
            None if h["test_acc"] is None else f"{h['test_acc']:.4f}", h["action"], h["inherited_layers"]]
           for h in result["history"]])
    best = result["best"]
    if best is not None:
        console.print(f"best val_acc {best['reward']:.4f} (test {best['test_acc']:.4f}) run {best['run_id']}")
        console.print(f"arch {best['arch']}")
    again = result.get("retrain")
    if again:
        console.print(f"top {len(again['candidates'])} retrained from scratch over seeds {again['seeds']}; selected "
                      f"candidate {again['rank'] + 1} by mean val_acc {again['val_mean']:.4f}: test_acc "
                      f"{again['mean']:.4f} ± {again['std']:.4f}")
        console.print(f"selected arch {again['arch']}")
    console.print(f"parent run {result['parent_run_id']} in {result['tracking_uri']}; state {result['state_path']}")


@app.command("show")
def show(
    run_id: str = typer.Argument(..., help="A NAS parent run (the architecture selected by retraining, else its "
                                 "best) or child run."),
    tracking_uri: str | None = typer.Option(None, "--tracking-uri", help="MLflow tracking URI."),
    as_json: bool = typer.Option(False, "--json", help="Print the architecture as JSON."),
) -> None:
    """Print the architecture of a NAS run, layer by layer."""
    from plexus.nas import search as service  # imported here: torch only when a command runs

    arch, info = service.architecture_of(run_id, tracking_uri)
    rows = service.describe(arch, info.get("plexus.nas.space", "graphnas"))
    if as_json:
        emit_json({"run_id": run_id, "arch": arch, "layers": rows, "info": info})
        return
    cols = list(rows[0])
    table(f"architecture of run {run_id}", cols, [[r[c] for c in cols] for r in rows])
    for k in ("plexus.nas.controller", "plexus.dataset", "metric.best_val_acc", "metric.best_test_acc",
              "metric.retrain_selected_rank", "metric.retrain_val_acc_mean", "metric.retrain_test_acc_mean",
              "metric.retrain_test_acc_std", "metric.val_acc", "metric.test_acc"):
        if k in info:
            console.print(f"{k.split('.', 1)[1] if k.startswith('metric.') else k}: {info[k]}")
    console.print(f"retrain it: plexus train nas:{run_id} --dataset {info.get('plexus.dataset', 'DATASET')}")
