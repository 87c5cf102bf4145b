"""``plexus ui`` (the MLflow UI, optionally optuna-dashboard, on the configured store) and ``plexus compare``."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import typer
from plexus.platform.cli._output import console, emit_json, fits, say, summarize, table
from plexus.platform.errors import ConfigError, TrackingError
from plexus.platform.team import stop_group

__all__ = ["compare", "experiment_url", "register", "server_command", "ui"]


def register(app: typer.Typer) -> None:
    app.command("ui")(ui)
    app.command("compare")(compare)


# ----------------------------------------------------------------------------- plexus ui


def _artifact_root(uri: str) -> Path:
    """Where this project's clients put artifacts: next to a SQLite file (see get_experiment_id), else ./mlruns."""
    from plexus.platform.tracking import default_artifact_root

    if uri.startswith("sqlite:///"):
        return Path(uri.split(":///", 1)[1]).parent / "artifacts"
    return default_artifact_root()


def server_command(uri: str, host: str, port: int) -> list[str]:
    """The ``mlflow server`` command line for a database-backed store.

    A SQLite store is local, so the server reads the runs' ``file://`` artifact locations directly
    (``--default-artifact-root``, no proxy); a remote database gets a proxied artifact store
    (``--artifacts-destination``) so browsers on other machines can read artifacts too.
    """
    root = _artifact_root(uri).resolve()
    cmd = [sys.executable, "-m", "mlflow", "server", "--backend-store-uri", uri, "--host", host, "--port", str(port),
           "--workers", "1"]
    if uri.startswith("sqlite:"):
        cmd += ["--default-artifact-root", root.as_uri(), "--no-serve-artifacts"]
    else:
        cmd += ["--serve-artifacts", "--artifacts-destination", root.as_uri()]
    return cmd


def experiment_url(base: str, experiment_id: str | None) -> str:
    base = base.rstrip("/")
    return f"{base}/#/experiments/{experiment_id}/runs" if experiment_id else f"{base}/#/experiments"


def _port_free(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        try:
            s.bind((host, port))
        except OSError:
            return False
    return True


def _wait_http(url: str, proc: subprocess.Popen, log: Path, timeout: float, what: str) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc.poll() is not None:
            lines = [ln for ln in log.read_text(errors="replace").splitlines() if ln.strip()] if log.exists() else []
            from plexus.platform.tracking import mask_text

            last = mask_text(lines[-1].strip()) if lines else f"exit code {proc.returncode}"
            raise TrackingError(f"{what} exited before it was ready: {last} (log: {log})")
        try:
            with urllib.request.urlopen(url, timeout=2) as resp:
                if resp.status < 500:
                    return
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.3)
    stop_group(proc)
    raise TrackingError(f"{what} did not answer on {url} within {timeout:.0f}s (log: {log})")




def _spawn(cmd: list[str], log: Path) -> subprocess.Popen:
    env = dict(os.environ, MLFLOW_DISABLE_TELEMETRY="true", PYTHONUNBUFFERED="1")
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "ab") as fh:
        return subprocess.Popen(cmd, stdout=fh, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env,
                                start_new_session=True)


def _optuna_dashboard_cmd() -> list[str]:
    import importlib.util

    exe = shutil.which("optuna-dashboard") or shutil.which("optuna-dashboard", path=str(Path(sys.executable).parent))
    if exe:
        return [exe]
    if importlib.util.find_spec("optuna_dashboard") is not None:
        return [sys.executable, "-m", "optuna_dashboard"]
    raise ConfigError("--optuna needs optuna-dashboard, which is not installed (pip install optuna-dashboard)")


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
    from mlflow.tracking import MlflowClient
    from plexus.platform.tracking import ensure_reachable, mask_url, resolve_tracking_uri
    from plexus.platform.tracking._locations import files_root

    uri = resolve_tracking_uri(tracking_uri)
    scheme = urlsplit(uri).scheme
    if scheme in ("file", ""):
        raise ConfigError(f"tracking URI {uri}: the MLflow UI needs a database store (sqlite:///..., "
                          "postgresql://...) or an http(s) server")
    if optuna and not storage:
        raise ConfigError("--optuna needs --storage (the Optuna storage URL of the study)")
    dash_cmd = _optuna_dashboard_cmd() if optuna else None
    ensure_reachable(uri)
    exp = MlflowClient(uri).get_experiment_by_name(experiment)
    exp_id = exp.experiment_id if exp else None
    urls: dict[str, Any] = {"tracking_uri": mask_url(uri), "experiment": experiment, "experiment_id": exp_id}
    if scheme in ("http", "https"):  # a server already runs: nothing to start
        urls["mlflow"] = experiment_url(uri, exp_id)
        if not optuna:
            _announce(urls, as_json)
            return
    procs: list[subprocess.Popen] = []
    _interrupt_on_signals()
    log_dir = files_root(uri)
    try:
        if scheme not in ("http", "https"):
            if not _port_free(host, port):
                raise ConfigError(f"--port {port}: already in use on {host} (pick another with --port)")
            log = log_dir / "mlflow-server.log"
            procs.append(_spawn(server_command(uri, host, port), log))
            base = f"http://{host}:{port}"
            _wait_http(f"{base}/health", procs[-1], log, 120, "mlflow server")
            urls["mlflow"] = experiment_url(base, exp_id)
        if dash_cmd is not None:
            oport = optuna_port or port + 1
            if not _port_free(host, oport):
                raise ConfigError(f"--optuna-port {oport}: already in use on {host}")
            log = log_dir / "optuna-dashboard.log"
            procs.append(_spawn(dash_cmd + [str(storage), "--host", host, "--port", str(oport)], log))
            _wait_http(f"http://{host}:{oport}/", procs[-1], log, 60, "optuna-dashboard")
            urls["optuna"] = f"http://{host}:{oport}/"
        _announce(urls, as_json)
        if not as_json:
            console.print("Ctrl-C stops the server" + ("s" if len(procs) > 1 else "") + ".")
        while all(p.poll() is None for p in procs):
            time.sleep(0.5)
        dead = next(p for p in procs if p.poll() is not None)
        raise TrackingError(f"{' '.join(dead.args[:4]) if isinstance(dead.args, list) else dead.args} stopped "
                            f"(exit code {dead.returncode}); see {log_dir}")
    except KeyboardInterrupt:
        pass
    finally:
        for p in procs:
            stop_group(p)


def _interrupt_on_signals() -> None:
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


# ----------------------------------------------------------------------------- plexus compare


def compare(
    experiment: str | None = typer.Option(None, "--experiment", "-e", help="Experiment name (default: plexus)."),
    study: str | None = typer.Option(None, "--study", "-s", help="Study name (runs tagged plexus.study)."),
    runs: list[str] | None = typer.Option(None, "--runs", "-r", help="Run ids (repeat, or comma-separated)."),  # noqa: B008
    metric: str | None = typer.Option(None, "--metric", "-m", help="Ranking metric (default: the monitored one)."),
    tracking_uri: str | None = typer.Option(None, "--tracking-uri", help="MLflow tracking URI."),
    output: Path | None = typer.Option(  # noqa: B008
        None, "--output", "-o", help="HTML report (default: reports/plexus-compare-<name>.html beside the "
        "tracking store)."),
    no_log: bool = typer.Option(False, "--no-log", help="Do not log the report to the parent run."),
    as_json: bool = typer.Option(False, "--json", help="Print the table as JSON."),
) -> None:
    """Rank runs by a metric, show the parameters that differ, and write an HTML report."""
    from mlflow.tracking import MlflowClient
    from plexus.evaluation.compare import compare_runs, default_report_path, param_importances
    from plexus.evaluation.report import log_report, write_report
    from plexus.platform.tracking import ensure_reachable, resolve_tracking_uri

    ids = [i.strip() for r in (runs or []) for i in r.split(",") if i.strip()]
    uri = resolve_tracking_uri(tracking_uri)
    from plexus.evaluation.compare import _store_exists

    _store_exists(uri)
    ensure_reachable(uri)
    client = MlflowClient(uri)
    cmp = compare_runs(uri, experiment=experiment, study=study, run_ids=ids, metric=metric, client=client)
    imp = param_importances(cmp)
    path = write_report(cmp, output or default_report_path(cmp, uri), importances=imp)
    artifact = None
    if cmp.parent_run_id and not no_log:
        artifact = log_report(client, cmp.parent_run_id, path)
    if as_json:
        emit_json({**cmp.to_dict(), "importances": imp, "report": str(path),
                   "report_artifact": f"runs:/{cmp.parent_run_id}/{artifact}" if artifact else None})
        return
    arrow = "lower" if cmp.direction == "min" else "higher"
    # parameter columns: "hparams." dropped from the header, a search's "optuna.X" left out where it repeats
    # hparams.X, structured values (architectures) summarised
    shown = [k for k in cmp.varying if not (k.startswith("optuna.") and f"hparams.{k[7:]}" in cmp.varying and all(
        _same(r.params.get(k), r.params.get(f"hparams.{k[7:]}")) for r in cmp.runs))]
    cols = ["#", "run", "state"] + [k.removeprefix("hparams.") for k in shown] + [
        f"{cmp.metric} final", f"{cmp.metric} best", "duration s"]
    prefix = f"{cmp.study}-" if cmp.study else ""
    rows = [[r.rank or "", f"{r.name.removeprefix(prefix)} ({r.run_id[:8]})", r.state]
            + [_short(r.params.get(k, "")) for k in shown]
            + [_f(r.final), _f(r.best), _f(r.duration_s, 1)] for r in cmp.runs]
    what = f"study {cmp.study}" if cmp.study else f"experiment {cmp.experiment}"
    title = f"{what}: {len(cmp.runs)} runs by {cmp.metric} ({arrow} is better)"
    if fits(cols, rows) or not shown:
        table(title, cols, rows)
    else:  # too wide for one table: the ranking, then the parameters by rank
        n = 3 + len(shown)
        table(title, cols[:3] + cols[n:], [r[:3] + r[n:] for r in rows])
        table("parameters that differ", ["#"] + cols[3:n], [[r[0]] + r[3:n] for r in rows])
    if imp:
        say("importances (fANOVA): " + ", ".join(f"{k.removeprefix('hparams.')} {v:.2f}" for k, v in imp.items()))
    say(f"report: {path}" + (f" (logged to run {cmp.parent_run_id} as {artifact})" if artifact else ""))


def _same(a: str | None, b: str | None) -> bool:
    if a == b:
        return True
    try:
        return float(a) == float(b)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return False


def _short(v: str) -> str:
    """A parameter as a table cell: floats to 4 significant digits, architectures summarised."""
    try:
        f = float(v)
    except (TypeError, ValueError):
        return summarize(v)
    return v if f.is_integer() or len(v) <= 6 else f"{f:.4g}"


def _f(v: float | None, digits: int = 4) -> str:
    return "" if v is None else f"{v:.{digits}f}"
