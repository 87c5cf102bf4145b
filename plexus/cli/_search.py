"""``plexus search`` and ``plexus worker``."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import typer

from plexus.cli._output import emit_json, err_console, say, table


def _echo(msg: str) -> None:
    # progress lines go to stderr so that --json keeps stdout clean
    err_console.print(msg, markup=False, soft_wrap=True)


def _warnings_only(msg: str) -> None:
    # --json: the machine-readable result is the whole story; only warnings still reach stderr
    if msg.startswith("warning"):
        _echo(msg)


def _echo_for(quiet: bool, as_json: bool) -> Callable[[str], None] | None:
    return None if quiet else (_warnings_only if as_json else _echo)


def search(
    model: str = typer.Argument(..., help="Model name (see 'plexus models list')."),
    dataset: str | None = typer.Option(None, "--dataset", "-d", help="Dataset name."),
    trials: int | None = typer.Option(None, "--trials", "-n", help="Trials to finish (the study's budget)."),
    sampler: str | None = typer.Option(
        None, "--sampler", help="tpe | random | cmaes | gp | qmc (default tpe)."
    ),
    pruner: str | None = typer.Option(
        None, "--pruner", help="median | hyperband | successive-halving | none (default median)."
    ),
    storage: str | None = typer.Option(
        None,
        "--storage",
        envvar="PLEXUS_STORAGE",
        show_envvar=False,
        help="Optuna storage URL (default: optuna.db beside the tracking store; postgresql://... for shared "
        "studies).",
    ),
    study: str | None = typer.Option(
        None, "--study", help="Study name (default MODEL-DATASET); resumed if it exists."
    ),
    workers: int | None = typer.Option(
        None, "--workers", help="Local worker processes, one GPU each (0: in process)."
    ),
    timeout: float | None = typer.Option(
        None, "--timeout", help="Start no new trial after this many seconds."
    ),
    seed: int | None = typer.Option(None, "--seed", help="Sampler seed."),
    min_epochs: int | None = typer.Option(
        None, "--min-epochs", help="The best trial must have trained this many epochs (default 3)."
    ),
    set_: list[str] | None = typer.Option(  # noqa: B008
        None, "--set", help="Fixed value key=value (not sampled); search.KEY too."
    ),
    config: Path | None = typer.Option(  # noqa: B008
        None, "--config", "-c", help="Experiment YAML file (with a search: section)."
    ),
    task: str | None = typer.Option(None, "--task", help="Task kind when model and dataset share several."),
    tracking_uri: str | None = typer.Option(None, "--tracking-uri", help="MLflow tracking URI."),
    experiment: str | None = typer.Option(None, "--experiment", help="MLflow experiment name."),
    as_json: bool = typer.Option(False, "--json", help="Print the result as JSON (no per-epoch progress)."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="Print no progress on stderr, only the result."),
) -> None:
    """Search MODEL's hyperparameters with Optuna; every trial is a nested MLflow run.

    Progress goes to stderr: a line when each trial starts and ends, and one per epoch (rewritten in place
    on a terminal). The best trial is chosen among completed trials that trained search.min_epochs epochs.
    """
    from plexus.platform.config import apply_overrides, build_config, load_yaml, parse_set
    from plexus.platform.search import search as run_search

    raw = load_yaml(config) if config else {}
    raw = apply_overrides(raw, parse_set(set_))
    opts = {
        "trials": trials,
        "sampler": sampler,
        "pruner": pruner,
        "storage": storage,
        "study": study,
        "workers": workers,
        "timeout": timeout,
        "seed": seed,
        "min_epochs": min_epochs,
    }
    sec = raw.setdefault("search", {}) if isinstance(raw.get("search", {}), dict) else raw["search"]
    for key, value in opts.items():
        if value is not None:
            sec[key] = value
    if experiment:
        raw.setdefault("tracking", {})["experiment"] = experiment
    cfg = build_config(raw, model=model, dataset=dataset)
    result = run_search(cfg, task=task, tracking_uri=tracking_uri, echo=_echo_for(quiet, as_json),
                        progress=not (quiet or as_json))
    if as_json:
        emit_json(result)
        return
    rows = [
        [
            r["number"],
            r["state"] + (" (retried)" if r["retried"] else ""),
            "" if r["value"] is None else f"{r['value']:.4f}",
            "" if r.get("epochs") is None else r["epochs"],
            "" if r["duration_s"] is None else f"{r['duration_s']:.1f}s",
            " ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in r["params"].items()),
        ]
        for r in result["trials"]
    ]
    table(
        f"study {result['study']}: {result['direction']} {result['monitor']}",
        ["trial", "state", "value", "epochs", "time", "params"],
        rows,
        wrap=["params"],
    )
    best = result["best"]
    if best:
        hp = best["hparams"] or best["params"]
        say(f"best trial {best['number']}: {result['monitor']}={best['value']:.4f}; "
            + ", ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in hp.items()))
    selection = result.get("selection") or {}
    if selection.get("message"):
        say(selection["message"])
    say(
        f"{result['finished']}/{result['budget']} trials finished; parent run {result['parent_run_id']} "
        f"in {result['tracking_uri']}; storage {result['storage']}"
    )


def worker(
    study: str = typer.Option(..., "--study", help="Study to join (created by 'plexus search')."),
    storage: str | None = typer.Option(
        None,
        "--storage",
        envvar="PLEXUS_STORAGE",
        show_envvar=False,
        help="Optuna storage URL of the study (default: optuna.db beside the tracking store).",
    ),
    trials_budget: int = typer.Option(
        0, "--trials-budget", help="Stop after this many trials of this worker (0: none)."
    ),
    timeout: float = typer.Option(0.0, "--timeout", help="Start no new trial after this many seconds."),
    tracking_uri: str | None = typer.Option(None, "--tracking-uri", help="MLflow tracking URI."),
    worker_index: int | None = typer.Option(None, "--worker-index", hidden=True),
    as_json: bool = typer.Option(False, "--json", help="Print the result as JSON (no per-epoch progress)."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="Print no progress on stderr, only the result."),
    no_progress: bool = typer.Option(False, "--no-progress", help="No per-epoch lines (trial lines only)."),
) -> None:
    """Join a study and run its trials until the study's budget is spent."""
    import signal

    from plexus.platform.search import run_worker

    # a terminated worker stops like Ctrl-C: its trial ends FAIL (MLflow: KILLED) and is queued again on resume
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    result = run_worker(
        study,
        storage,
        tracking_uri=tracking_uri,
        max_trials=trials_budget,
        timeout=timeout,
        worker_index=worker_index,
        echo=_echo_for(quiet, as_json),
        progress=not (quiet or as_json or no_progress),
    )
    if as_json:
        emit_json(result)
        return
    if worker_index is not None:
        return  # a worker started by 'plexus search': the search prints the outcome
    say(
        f"{result['worker']}: ran trials {result['trials_run']}; study {result['study']} has "
        f"{result['done']}/{result['budget']} trials finished"
    )
