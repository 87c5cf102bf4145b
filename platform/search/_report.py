"""The end of a search: best trial, plots and registered model on the MLflow parent run; a summary dict."""

from __future__ import annotations

import contextlib
import io
import json
import tempfile
import time
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any

from plexus.platform.search._selection import select_best
from plexus.platform.search._settings import SearchError
from plexus.platform.search._storage import RUN_ID_ATTR, SURPLUS_ATTR, budget
from plexus.platform.tracking import mask_url, using_tracking_uri

if TYPE_CHECKING:
    from plexus.platform.search._trial import _Ctx

__all__ = ["PLOTS", "finalize"]

PLOTS = ("optimization_history", "param_importances", "parallel_coordinate", "intermediate_values")


def _trial_rows(study: Any) -> list[dict[str, Any]]:
    gone: set[int] = set()
    trials = study.get_trials(deepcopy=False)
    for t in trials:
        gone.update(t.system_attrs.get("retry_history", []))
    rows = []
    for t in trials:
        if t.user_attrs.get(SURPLUS_ATTR):
            continue
        rows.append(
            {
                "number": t.number,
                "state": t.state.name,
                "value": t.value,
                "params": dict(t.params),
                "run_id": t.user_attrs.get(RUN_ID_ATTR),
                "retried": t.number in gone,
                "retry_of": t.system_attrs.get("failed_trial"),
                "duration_s": t.user_attrs.get("plexus.duration_s"),
                "epochs": t.user_attrs.get("plexus.epochs"),
                "worker": t.user_attrs.get("plexus.worker"),
                "error": t.user_attrs.get("plexus.error"),
            }
        )
    return rows


def _plots(study: Any, out: Path, plotly_js: str) -> tuple[list[Path], dict[str, str]]:
    import optuna.visualization as vis

    fns = {
        "optimization_history": vis.plot_optimization_history,
        "param_importances": vis.plot_param_importances,
        "parallel_coordinate": vis.plot_parallel_coordinate,
        "intermediate_values": vis.plot_intermediate_values,
    }
    written, skipped = [], {}
    for name in PLOTS:
        try:
            with warnings.catch_warnings():  # e.g. "too few trials to compute importances": the plot says so
                warnings.simplefilter("ignore")
                fig = fns[name](study)
            path = out / f"{name}.html"
            fig.write_html(str(path), include_plotlyjs="cdn" if plotly_js == "cdn" else True, full_html=True)
            written.append(path)
        except ImportError as exc:
            skipped[name] = f"plotly missing ({exc.name}): pip install plotly"
        except Exception as exc:  # noqa: BLE001 - e.g. importances need two finished trials with varied params
            skipped[name] = f"{type(exc).__name__}: {exc}"[:300]
    return written, skipped


def _register(ctx: _Ctx, client: Any, run_id: str, name: str) -> dict[str, Any] | None:
    import mlflow

    uri = client.get_run(run_id).data.tags.get("plexus.model_uri")
    if not uri:
        return None
    for v in client.search_model_versions(f"name='{name}'"):
        if v.run_id == run_id:
            return {"name": name, "version": int(v.version), "source": uri}
    # MLflow prints "Successfully registered ..." and "Created version ..."; the selection line says it once
    with using_tracking_uri(ctx.tracking_uri), contextlib.redirect_stdout(io.StringIO()), \
            contextlib.redirect_stderr(io.StringIO()):
        mv = mlflow.register_model(
            uri, name, tags={"plexus.study": ctx.study_name, "plexus.model": ctx.cfg.model}
        )
    client.set_tag(run_id, "plexus.registered_model", f"{name}/{mv.version}")
    return {"name": name, "version": int(mv.version), "source": uri}


def finalize(study: Any, ctx: _Ctx, client: Any) -> dict[str, Any]:
    """Write the study's outcome onto the parent run and return the search summary."""
    from mlflow.entities import Metric, Param
    from optuna.trial import TrialState

    parent = ctx.parent_run_id
    b = budget(study)
    rows = _trial_rows(study)
    complete = [
        t
        for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
        if not t.user_attrs.get(SURPLUS_ATTR)
    ]
    now = int(time.time() * 1000)
    metrics = [Metric("trials_finished", float(b.done), now, 0)]
    metrics += [Metric(f"trials_{k.lower()}", float(v), now, 0) for k, v in b.counts.items()]
    metrics += [Metric(f"trial_{ctx.monitor}", float(t.value), now, t.number) for t in complete]
    best_info: dict[str, Any] | None = None
    registered = None
    notes: dict[str, str] = {}
    sel = select_best(complete, ctx.direction, ctx.settings.min_epochs, ctx.cfg.train.epochs, ctx.monitor)
    best = sel.best
    if best is None and complete:
        notes["select"] = sel.describe(register=ctx.settings.register)
    if best is not None:
        run_id = best.user_attrs.get(RUN_ID_ATTR, "")
        metrics += [
            Metric(f"best_{ctx.monitor}", float(best.value), now, 0),
            Metric("best_trial", float(best.number), now, 0),
        ]
        hparams = best.user_attrs.get("plexus.hparams", {})
        best_info = {
            "number": best.number,
            "value": best.value,
            "params": dict(best.params),
            "hparams": hparams,
            "run_id": run_id,
            "metrics": best.user_attrs.get("plexus.metrics", {}),
            "epochs": best.user_attrs.get("plexus.epochs"),
        }
        params = [Param(f"best.{k}", str(v)[:6000]) for k, v in best.params.items()]
        try:
            if params:
                client.log_batch(parent, params=params)
        except Exception:  # noqa: BLE001 - a resumed study found a new best: params are immutable in MLflow
            for p in params:
                client.set_tag(parent, f"plexus.{p.key}", p.value)
        client.set_tag(parent, "plexus.best_trial", str(best.number))
        client.set_tag(parent, "plexus.best_run_id", run_id)
        if ctx.settings.register and run_id:
            try:
                registered = _register(ctx, client, run_id, ctx.study_name)
                if registered is None:
                    notes["register"] = f"best trial {best.number} logged no model (search.log_models=none?)"
            except Exception as exc:  # noqa: BLE001 - the search result stands without the registry
                notes["register"] = f"{type(exc).__name__}: {exc}"[:300]
    selection = {**sel.to_dict(), "message": sel.describe(registered, ctx.settings.register)}
    client.set_tag(parent, "plexus.selection", selection["message"][:5000])
    client.log_batch(parent, metrics=metrics)
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        written, skipped = _plots(study, out, ctx.settings.plotly_js) if complete else ([], {})
        for p in written:
            client.log_artifact(parent, str(p), "plots")
        for name, why in skipped.items():
            notes[f"plot.{name}"] = why
        (out / "trials.json").write_text(json.dumps(rows, indent=1, default=str))
        client.log_artifact(parent, str(out / "trials.json"))
        if best_info is not None:
            (out / "best_trial.json").write_text(json.dumps(best_info, indent=1, default=str))
            client.log_artifact(parent, str(out / "best_trial.json"))
    for key, why in notes.items():
        client.set_tag(parent, f"plexus.note.{key}", why[:500])
    spent = b.done >= ctx.settings.trials
    client.set_tag(parent, "plexus.state", "COMPLETE" if spent else "INCOMPLETE")
    client.set_terminated(parent, status="FINISHED")
    result = {
        "study": ctx.study_name,
        "storage": mask_url(ctx.storage_url),
        "tracking_uri": mask_url(ctx.tracking_uri),
        "experiment": ctx.experiment,
        "model": ctx.cfg.model,
        "dataset": ctx.cfg.dataset,
        "task": ctx.task,
        "monitor": ctx.monitor,
        "direction": ctx.direction,
        "budget": ctx.settings.trials,
        "finished": b.done,
        "complete": spent,
        "counts": b.counts,
        "best": best_info,
        "selection": selection,
        "parent_run_id": parent,
        "registered_model": registered,
        "plots": [f"plots/{n}.html" for n in PLOTS if n not in skipped] if complete else [],
        "notes": notes,
        "trials": rows,
    }
    if not complete and b.done:
        first = next((r["error"] for r in rows if r["error"]), "no trial completed")
        raise SearchError(
            f"study '{ctx.study_name}': no trial completed ({b.counts}); first failure: {first}"
        )
    return result
