"""``plexus nas``: neural architecture search (the service lives in ``plexus.nas``, loaded by name)."""

from __future__ import annotations

import importlib
from typing import Any

import typer
from plexus.platform.cli._output import console, emit_json, table
from plexus.platform.errors import ConfigError

NAS_SERVICE = "plexus.nas.search"  # platform/ never imports nas/ statically (design §10)


def register(app: typer.Typer) -> None:
    app.command("nas")(nas)


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


def nas(
    dataset: str = typer.Option(..., "--dataset", "-d", help="Dataset name (node classification)."),
    space: str = typer.Option("graphnas", "--space", help="Search space."),
    controller: str = typer.Option("rcnas", "--controller", help="rcnas | optuna | random."),
    budget: int = typer.Option(10, "--budget", help="Number of architectures to evaluate."),
    epochs: int = typer.Option(100, "--epochs", help="Training epochs per architecture."),
    seed: int = typer.Option(0, "--seed", help="Seed of the controller and of child training."),
    share: bool | None = typer.Option(None, "--share/--no-share", help="rcnas: constrained parameter sharing."),
    sampler: str | None = typer.Option(None, "--sampler", help="optuna: tpe | random | nsga2 | qmc."),
    pruner: str | None = typer.Option(None, "--pruner", help="optuna: median | hyperband | none."),
    choices: list[str] | None = typer.Option(None, "--choices", help="Restrict a class: hidden=8,16 (repeatable)."),
    set_: list[str] | None = typer.Option(None, "--set", help="Child-run override: key=value (train.lr=0.01)."),
    tracking_uri: str | None = typer.Option(None, "--tracking-uri", help="MLflow tracking URI."),
    experiment: str | None = typer.Option(None, "--experiment", help="MLflow experiment (default plexus-nas)."),
    resume: str | None = typer.Option(None, "--resume", help="NAS state file or parent run id to resume."),
    as_json: bool = typer.Option(False, "--json", help="Print the result as JSON."),
) -> None:
    """Search neural architectures: a parent MLflow run with one child run per architecture."""
    service = importlib.import_module(NAS_SERVICE)
    result = service.run_nas(space=space, controller=controller, dataset=dataset, budget=budget, epochs=epochs,
                             seed=seed, share=share, sampler=sampler, pruner=pruner, choices=_parse_choices(choices),
                             overrides=set_, tracking_uri=tracking_uri, experiment=experiment, resume=resume,
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
    console.print(f"parent run {result['parent_run_id']} in {result['tracking_uri']}; state {result['state_path']}")
