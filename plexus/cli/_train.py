"""``plexus train`` and ``plexus demo``."""

from __future__ import annotations

import sys
from pathlib import Path

import typer

from plexus.cli._output import console, emit_json, table


def train(
    model: str = typer.Argument(..., help="Model name (see 'plexus models list'), or nas:RUN_ID for an "
                                "architecture found by 'plexus nas'."),
    dataset: str | None = typer.Option(None, "--dataset", "-d", help="Dataset name."),
    config: Path | None = typer.Option(None, "--config", "-c", help="Experiment YAML file."),
    set_: list[str] | None = typer.Option(None, "--set", help="Override: key=value (dotted keys allowed)."),
    task: str | None = typer.Option(None, "--task", help="Task kind when model and dataset share several."),
    tracking_uri: str | None = typer.Option(None, "--tracking-uri", help="MLflow tracking URI."),
    experiment: str | None = typer.Option(None, "--experiment", help="MLflow experiment name."),
    resume: str | None = typer.Option(None, "--resume", help="Checkpoint path or MLflow run id to resume."),
    as_json: bool = typer.Option(False, "--json", help="Print the result as JSON (no progress bars)."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress: only the final metrics."),
) -> None:
    """Train MODEL on a dataset, tracked in MLflow; prints the final metrics.

    Progress: bars on a terminal; when stdout is not a terminal, one line per epoch on stderr.
    """
    from plexus.platform.config import apply_overrides, build_config, load_yaml, parse_set
    from plexus.platform.training import train_model
    from plexus.platform.training.callbacks import Progress

    raw = load_yaml(config) if config else {}
    if model.startswith("nas:"):
        from plexus.nas.search import train_config

        found = train_config(model[4:], tracking_uri, dataset)
        model = found.pop("model")
        raw = {**raw, **{key: {**found[key], **(raw.get(key) or {})}
                         for key in ("hparams", "train", "dataset_options")}}
    raw = apply_overrides(raw, parse_set(set_))
    if experiment:
        raw.setdefault("tracking", {})["experiment"] = experiment
    cfg = build_config(raw, model=model, dataset=dataset)
    show = not (as_json or quiet)
    # piped: one line per finished epoch (no start line, so an input that fails at once stays one line)
    lines = [Progress(live=False, start_line=False)] if show and not sys.stdout.isatty() else []
    result = train_model(cfg, task=task, tracking_uri=tracking_uri, resume=resume, progress=show, callbacks=lines)
    if result["rank"] != 0:
        return  # under torchrun only the first process reports
    if as_json:
        emit_json({k: v for k, v in result.items() if k != "history"})
        return
    table(f"{result['model']} on {result['dataset']} ({result['task']})", ["metric", "value"],
          [[k, f"{v:.4f}"] for k, v in sorted(result["metrics"].items())])
    console.print(f"epochs {result['epochs_run']}, best epoch {result['best_epoch']}, "
                  f"{result['duration_s']:.1f}s; run {result['run_id']} in {result['tracking_uri']}")


def demo(as_json: bool = typer.Option(False, "--json", help="Print results as JSON.")) -> None:
    """Catalog (with a third-party plugin), a NAS search and a DIN search, then compare (tracked in ./mlruns)."""
    from plexus.demo import run_demo

    def _say(msg: str) -> None:
        console.print(msg, markup=False, highlight=False, soft_wrap=True)

    results = run_demo(progress=not as_json, echo=None if as_json else _say)
    if as_json:
        emit_json(results)
