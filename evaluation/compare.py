"""Compare tracked runs: pick runs (experiment, study or ids), rank them by a metric, explain the differences.

The comparison reads only the MLflow tracking store, so it works for runs trained
by ``plexus train``, by a search study (child runs nested under a parent run and
tagged ``plexus.study``) or by hand. It is the service behind ``plexus compare``;
:func:`plexus.evaluation.report.write_report` turns a :class:`Comparison` into a
self-contained HTML report.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from plexus.platform.errors import ConfigError

__all__ = [
    "Comparison",
    "RunSummary",
    "compare_runs",
    "infer_direction",
    "param_importances",
    "search_space_of",
    "select_runs",
]

# words that make a metric "lower is better"; everything else (auc, acc, f1, hits@k, map, ndcg...) is maximised
_LOWER = ("loss", "logloss", "error", "err", "rmse", "mse", "mae", "mape", "perplexity", "duration", "time",
          "latency", "memory", "mean_rank", "brier")
# metrics that describe the run rather than its quality: never the default ranking metric
_BOOKKEEPING = {"lr", "epoch", "best_epoch", "duration_s"}
_MAX_RUNS = 5000


def infer_direction(metric: str) -> str:
    """``"min"`` for losses, errors and times, ``"max"`` otherwise (AUC, accuracy, hits@k...)."""
    name = metric.lower()
    for prefix in ("best_", "final_"):
        name = name.removeprefix(prefix)
    tokens = name.replace("@", "_").replace("-", "_").replace(".", "_").split("_")
    return "min" if any(t in _LOWER for t in tokens) or "mean_rank" in name else "max"


@dataclass
class RunSummary:
    """One run as compared: identity, state, parameters and the ranking metric."""

    run_id: str
    name: str
    state: str
    params: dict[str, str]
    metrics: dict[str, float]
    tags: dict[str, str] = field(repr=False)
    duration_s: float | None = None
    parent_run_id: str | None = None
    final: float | None = None
    best: float | None = None
    rank: int | None = None
    history: list[tuple[int, float]] = field(default_factory=list, repr=False)
    train_loss: list[tuple[int, float]] = field(default_factory=list, repr=False)


@dataclass
class Comparison:
    """Runs ranked by ``metric``; ``varying`` lists the parameters whose values differ between them."""

    tracking_uri: str
    experiment: str
    experiment_id: str
    study: str | None
    metric: str
    direction: str
    runs: list[RunSummary]
    varying: list[str]
    parent_run_id: str | None = None

    def to_dict(self) -> dict[str, Any]:
        rows = []
        for r in self.runs:
            d = asdict(r)
            d.pop("tags")
            d.pop("history")
            d.pop("train_loss")
            d["params"] = {k: r.params.get(k) for k in self.varying}
            d["metrics"] = {k: v for k, v in sorted(r.metrics.items())}
            rows.append(d)
        return {"tracking_uri": self.tracking_uri, "experiment": self.experiment, "experiment_id": self.experiment_id,
                "study": self.study, "parent_run_id": self.parent_run_id, "metric": self.metric,
                "direction": self.direction, "varying_params": self.varying, "runs": rows}


def _quote(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _state(run: Any) -> str:
    tag = run.data.tags.get("plexus.state", "")
    if tag == "PRUNED":
        return "PRUNED"
    return str(run.info.status)


def _store_exists(uri: str) -> None:
    """A SQLite path that does not exist is a typo, not a request to create an empty store."""
    if uri.startswith("sqlite:///"):
        path = Path(uri.split(":///", 1)[1])
        if str(path) != ":memory:" and not path.exists():
            raise ConfigError(f"tracking store {uri}: no such database file (train a model first or pass "
                              "--tracking-uri)")


def select_runs(client: Any, *, experiment: str | None = None, study: str | None = None,
                run_ids: Iterable[str] | None = None) -> tuple[list[Any], Any | None, Any]:
    """Return ``(runs, parent_run_or_None, experiment)`` for the selection; unknown names raise ConfigError.

    Container runs (the parent of other selected runs) are left out of ``runs`` and returned as the parent.
    """
    from mlflow.exceptions import MlflowException

    run_ids = [r for r in (run_ids or []) if r]
    exp = None
    if experiment:
        exp = client.get_experiment_by_name(experiment)
        if exp is None:
            raise ConfigError(f"experiment '{experiment}' not found in the tracking store")
    if run_ids:
        runs = []
        for rid in run_ids:
            try:
                runs.append(client.get_run(rid))
            except MlflowException:
                raise ConfigError(f"run '{rid}' not found in the tracking store") from None
        if exp is None:
            exp = client.get_experiment(runs[0].info.experiment_id)
    elif study:
        exp_ids = [exp.experiment_id] if exp else [e.experiment_id for e in client.search_experiments()]
        runs = client.search_runs(exp_ids, filter_string=f"tags.`plexus.study` = {_quote(study)}",
                                  max_results=_MAX_RUNS)
        if not runs:
            where = f" in experiment '{experiment}'" if experiment else ""
            raise ConfigError(f"study '{study}' not found{where} (no run tagged plexus.study={study})")
        exp = exp or client.get_experiment(runs[0].info.experiment_id)
    else:
        if exp is None:
            exp = client.get_experiment_by_name("plexus")
            if exp is None:
                raise ConfigError("no experiment given and no experiment 'plexus' in the tracking store "
                                  "(use --experiment, --study or --runs)")
        runs = client.search_runs([exp.experiment_id], max_results=_MAX_RUNS)
        if not runs:
            raise ConfigError(f"experiment '{exp.name}' has no runs")
    parents = Counter(r.data.tags.get("mlflow.parentRunId") for r in runs if r.data.tags.get("mlflow.parentRunId"))
    children = [r for r in runs if r.info.run_id not in parents] if not run_ids else runs
    parent = None
    if parents:
        pid, n = parents.most_common(1)[0]
        if n == len(children) or study:
            try:
                parent = client.get_run(pid)
            except MlflowException:
                parent = None
    return children or runs, parent, exp


def _default_metric(runs: list[Any]) -> str:
    from plexus.platform.training.tasks import TASKS

    names: Counter[str] = Counter()
    for r in runs:
        mon = r.data.tags.get("plexus.monitor")
        if not mon:
            task = TASKS.get(r.data.tags.get("plexus.task", ""))
            mon = task.monitor if task else ""
        if mon:
            names[mon] += 1
    for name, _ in names.most_common():
        if any(name in r.data.metrics or f"best_{name}" in r.data.metrics for r in runs):
            return name
    keys = sorted({k for r in runs for k in r.data.metrics} - _BOOKKEEPING)
    for k in keys:
        if k.startswith("best_val_"):
            return k.removeprefix("best_")
    if not keys:
        raise ConfigError("the selected runs have no metrics to compare")
    return keys[0]


def _direction(metric: str, runs: list[Any]) -> str:
    modes = Counter(r.data.tags.get("plexus.mode") for r in runs if r.data.tags.get("plexus.monitor") == metric)
    if modes:
        return str(modes.most_common(1)[0][0])
    return infer_direction(metric)


def _finite(v: Any) -> float | None:
    try:
        f = float(v)
    except (TypeError, ValueError):
        return None
    return f if math.isfinite(f) else None


def compare_runs(tracking_uri: str | None = None, *, experiment: str | None = None, study: str | None = None,
                 run_ids: Iterable[str] | None = None, metric: str | None = None,
                 client: Any = None) -> Comparison:
    """Select runs and rank them by ``metric`` (default: the monitored metric the runs were trained on).

    ``final`` is the last logged value of the metric, ``best`` the value of the restored best model
    (``best_<metric>`` as the training service logs it) or else the best value in the history; runs are
    ranked by ``best`` (``min`` for losses and errors, ``max`` otherwise); runs without the metric rank last.
    """
    from mlflow.tracking import MlflowClient
    from plexus.platform.tracking import ensure_reachable, mask_url, resolve_tracking_uri

    uri = resolve_tracking_uri(tracking_uri)
    if client is None:
        _store_exists(uri)
        ensure_reachable(uri)
        client = MlflowClient(uri)
    runs, parent, exp = select_runs(client, experiment=experiment, study=study, run_ids=run_ids)
    metric = (metric or _default_metric(runs)).strip()
    base = metric.removeprefix("best_") if metric.startswith("best_") else metric
    if not any(base in r.data.metrics or f"best_{base}" in r.data.metrics for r in runs):
        known = sorted({k for r in runs for k in r.data.metrics})
        raise ConfigError(f"metric '{metric}' was not logged by the selected runs (known: {', '.join(known)})")
    direction = _direction(base, runs)
    better = min if direction == "min" else max

    summaries: list[RunSummary] = []
    for r in runs:
        hist = sorted((m.step, m.value) for m in client.get_metric_history(r.info.run_id, base))
        hist = [(s, v) for s, v in hist if _finite(v) is not None]
        loss = sorted((m.step, m.value) for m in client.get_metric_history(r.info.run_id, "train_loss"))
        final = hist[-1][1] if hist else _finite(r.data.metrics.get(base))
        best = _finite(r.data.metrics.get(f"best_{base}"))
        if best is None and hist:
            best = better(v for _, v in hist)
        if best is None:
            best = final
        dur = _finite(r.data.metrics.get("duration_s"))
        if dur is None and r.info.end_time and r.info.start_time:
            dur = (r.info.end_time - r.info.start_time) / 1000.0
        summaries.append(RunSummary(
            run_id=r.info.run_id, name=r.info.run_name or r.info.run_id[:8], state=_state(r),
            params=dict(r.data.params), metrics=dict(r.data.metrics), tags=dict(r.data.tags), duration_s=dur,
            parent_run_id=r.data.tags.get("mlflow.parentRunId"), final=final, best=best, history=hist,
            train_loss=loss))
    sign = 1.0 if direction == "min" else -1.0
    summaries.sort(key=lambda s: (s.best is None, sign * (s.best if s.best is not None else 0.0), s.name))
    for i, s in enumerate(summaries, 1):
        s.rank = i if s.best is not None else None
    return Comparison(tracking_uri=mask_url(uri), experiment=exp.name, experiment_id=exp.experiment_id,
                      study=study, metric=base, direction=direction, runs=summaries, varying=_varying(summaries),
                      parent_run_id=parent.info.run_id if parent else None)


def _varying(runs: list[RunSummary]) -> list[str]:
    """Parameters whose values differ between runs (missing counts as a value); bookkeeping keys left out."""
    keys = sorted({k for r in runs for k in r.params})
    out = []
    for k in keys:
        if k.startswith("tracking.") or k in ("search",):
            continue
        if len({r.params.get(k) for r in runs}) > 1:
            out.append(k)
    return out


# ----------------------------------------------------------------------------- parameter importances


def _as_number(v: str | None) -> float | None:
    if v is None:
        return None
    try:
        f = float(v)
    except ValueError:
        return None
    return f if math.isfinite(f) else None


def search_space_of(cmp: Comparison) -> dict[str, Any]:
    """Optuna distributions inferred from the runs' varying parameters (numbers -> ranges, text -> choices)."""
    import optuna

    dists: dict[str, Any] = {}
    for k in cmp.varying:
        values = [r.params[k] for r in cmp.runs if k in r.params]
        nums = [_as_number(v) for v in values]
        if values and all(n is not None for n in nums) and not all(v in ("True", "False") for v in values):
            lo, hi = min(nums), max(nums)  # type: ignore[type-var]
            if lo == hi:
                continue
            if all(float(n).is_integer() and "." not in v and "e" not in v.lower() for n, v in zip(nums, values)):
                dists[k] = optuna.distributions.IntDistribution(int(lo), int(hi), log=lo > 0 and hi / lo >= 100)
            else:
                dists[k] = optuna.distributions.FloatDistribution(lo, hi, log=lo > 0 and hi / lo >= 100)
        elif len(set(values)) > 1:
            dists[k] = optuna.distributions.CategoricalDistribution(sorted(set(values)))
    return dists


def param_importances(cmp: Comparison, *, seed: int = 0) -> dict[str, float]:
    """fANOVA importances of the varying parameters for the ranking metric.

    The runs are replayed as trials of an in-memory Optuna study (distributions from :func:`search_space_of`).
    Returns ``{}`` when fewer than two runs have the metric or no parameter varies.
    """
    import optuna

    dists = search_space_of(cmp)
    scored = [r for r in cmp.runs if r.best is not None]
    if len(scored) < 2 or not dists:
        return {}
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(direction="minimize" if cmp.direction == "min" else "maximize")
    for r in scored:
        params, ds = {}, {}
        for k, d in dists.items():
            if k not in r.params:
                continue
            v = r.params[k]
            if isinstance(d, optuna.distributions.CategoricalDistribution):
                params[k] = v
            elif isinstance(d, optuna.distributions.IntDistribution):
                params[k] = int(float(v))
            else:
                params[k] = float(v)
            ds[k] = d
        study.add_trial(optuna.trial.create_trial(params=params, distributions=ds, value=float(r.best)))
    try:
        imp = optuna.importance.get_param_importances(
            study, evaluator=optuna.importance.FanovaImportanceEvaluator(seed=seed))
    except (RuntimeError, ValueError):
        return {}
    return {k: float(v) for k, v in imp.items()}


def default_report_path(cmp: Comparison, tracking_uri: str | None = None) -> Path:
    """``reports/plexus-compare-<study or experiment>.html`` beside the tracking store (``files_root``)."""
    from plexus.platform.tracking import report_path

    stem = cmp.study or cmp.experiment
    safe = "".join(c if c.isalnum() or c in "-_." else "-" for c in stem)
    return report_path(f"plexus-compare-{safe}.html", tracking_uri)
