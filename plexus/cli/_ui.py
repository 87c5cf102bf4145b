"""``plexus ui``: the MLflow UI (optionally optuna-dashboard) on the configured store, until Ctrl-C."""

from __future__ import annotations

import signal
from typing import Any

import typer

from plexus.cli._output import console, emit_json
from plexus.platform.errors import ConfigError

__all__ = ["interrupt_on_signals", "ui"]


def ui(
    port: int = typer.Option(5000, "--port", "-p", help="Port of the MLflow UI."),
    host: str = typer.Option("127.0.0.1", "--host", help="Interface to listen on (127.0.0.1: this machine only)."),
    tracking_uri: str | None = typer.Option(None, "--tracking-uri", help="MLflow tracking URI (default: "
                                               "$MLFLOW_TRACKING_URI or sqlite:///mlruns/mlflow.db)."),
    experiment: str = typer.Option("plexus", "--experiment", help="Experiment whose runs page is printed."),
    optuna: bool = typer.Option(False, "--optuna", help="Also start optuna-dashboard on --storage."),
    storage: str | None = typer.Option(None, "--storage", help="Optuna storage URL (with --optuna)."),
    optuna_port: int | None = typer.Option(None, "--optuna-port", help="Port of optuna-dashboard (default: "
                                              "--port + 1)."),
    as_json: bool = typer.Option(False, "--json", help="Print the URLs as JSON before blocking."),
) -> None:
    """Start the MLflow UI on the tracking store and print the experiment's URL; Ctrl-C stops it."""
    # imported here: `plexus --help` must not pay for MLflow's import
    from mlflow.tracking import MlflowClient

    from plexus.platform.team import Viewer, experiment_url
    from plexus.platform.tracking import ensure_reachable, files_root, mask_url, resolve_tracking_uri

    uri = resolve_tracking_uri(tracking_uri)
    if optuna and not storage:
        raise ConfigError("--optuna needs --storage (the Optuna storage URL of the study)")
    viewer = Viewer(uri, host=host, port=port, log_dir=files_root(uri), optuna_storage=storage if optuna else None,
                    optuna_port=optuna_port)
    ensure_reachable(uri)
    exp = MlflowClient(uri).get_experiment_by_name(experiment)
    exp_id = exp.experiment_id if exp else None
    urls: dict[str, Any] = {"tracking_uri": mask_url(uri), "experiment": experiment, "experiment_id": exp_id}
    if not viewer.needs_processes:  # a server already runs: nothing to start
        urls["mlflow"] = experiment_url(uri, exp_id)
        _announce(urls, as_json)
        return
    interrupt_on_signals()
    try:
        started = viewer.start()
        urls["mlflow"] = experiment_url(started["mlflow"], exp_id)
        if "optuna" in started:
            urls["optuna"] = started["optuna"]
        _announce(urls, as_json)
        if not as_json:
            console.print("Ctrl-C stops the server" + ("s" if len(viewer.procs) > 1 else "") + ".")
        viewer.wait()
    except KeyboardInterrupt:
        pass
    finally:
        viewer.stop()


def interrupt_on_signals() -> None:
    """SIGTERM / SIGHUP / SIGINT (even when inherited as ignored) stop the servers like Ctrl-C does."""

    def _raise(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    for sig in (signal.SIGTERM, signal.SIGHUP, signal.SIGINT):
        try:
            signal.signal(sig, _raise)
        except (ValueError, OSError):  # not the main thread
            pass


def _announce(urls: dict[str, Any], as_json: bool) -> None:
    if as_json:
        emit_json(urls)
        return
    if urls.get("mlflow"):
        console.print(f"MLflow UI: {urls['mlflow']}" + ("" if urls.get("experiment_id") else
                                                       f"  (no experiment '{urls['experiment']}' yet)"))
    if urls.get("optuna"):
        console.print(f"Optuna dashboard: {urls['optuna']}")
