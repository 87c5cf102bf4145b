"""``plexus compare``: rank runs by a metric, show the parameters that differ, write an HTML report."""

from __future__ import annotations

from pathlib import Path

import typer

from plexus.cli._output import emit_json, fits, say, summarize, table

__all__ = ["compare"]


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
    from plexus.platform.tracking import resolve_tracking_uri

    ids = [i.strip() for r in (runs or []) for i in r.split(",") if i.strip()]
    uri = resolve_tracking_uri(tracking_uri)
    cmp = compare_runs(uri, experiment=experiment, study=study, run_ids=ids, metric=metric)  # checks the store
    client = MlflowClient(uri)
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
