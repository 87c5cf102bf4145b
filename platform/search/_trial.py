"""One trial of a study: sample, train as a nested MLflow run, report to Optuna; the loop that runs trials.

``_Ctx`` is one worker's view of a study (built by ``search`` or ``run_worker``); ``_loop`` runs
trials until the study's budget is spent, each through ``_objective``.
"""

from __future__ import annotations

import json
import math
import shutil
import tempfile
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from plexus.platform.catalog import get_catalog
from plexus.platform.config import ExperimentConfig
from plexus.platform.search._reports import TrialReports, freeze_heap
from plexus.platform.search._resume import CheckpointUploader, find_resume, mark_resumed
from plexus.platform.search._selection import EPOCHS_ATTR, qualifies, required_epochs
from plexus.platform.search._settings import SearchError, SearchSettings
from plexus.platform.search._space import sample
from plexus.platform.search._storage import RUN_ID_ATTR, SURPLUS_ATTR, budget, is_surplus
from plexus.platform.tracking import get_experiment_id, log_trained_model, mask_text
from plexus.platform.training import train_model
from plexus.platform.training.callbacks import Callback, Progress, PruningHook

__all__ = ["Echo"]

Echo = Callable[[str], None]


@dataclass
class _Ctx:
    """One worker's view of a study (``label``: ``worker 1`` in a local worker process, else '')."""

    cfg: ExperimentConfig
    settings: SearchSettings
    task: str
    monitor: str
    direction: str
    study_name: str
    storage_url: str
    tracking_uri: str
    experiment: str
    parent_run_id: str
    space: Callable[[Any], dict[str, Any]]
    names: list[str]
    target: str
    worker: str = ""
    label: str = ""
    echo: Echo | None = None
    progress: bool = False  # one line per epoch of each trial on stderr
    live: bool | None = False  # rewrite the progress line in place (None: when stderr is a terminal)
    ran: list[int] = field(default_factory=list)
    surplus: bool = False

    def say(self, msg: str) -> None:
        if self.echo is not None:
            self.echo(f"[{self.label}] {msg}" if self.label else msg)


class _ModelLogger(Callback):
    """``log_models=best``: log the trained model when this trial beats every finished trial.

    Only trials that trained ``search.min_epochs`` epochs count, on both sides: a trial cut short neither logs
    its model nor keeps a later, longer trial from logging its own.
    """

    def __init__(self, ctx: _Ctx, study: Any, run_ids: list[str], hparams: dict[str, Any]) -> None:
        self.ctx, self.study, self.run_ids, self.hparams = ctx, study, run_ids, hparams
        self.logged = False

    def on_fit_end(self, trainer: Any, result: dict[str, Any]) -> None:
        from optuna.trial import TrialState

        value = result.get("best_value")
        if value is None or not self.run_ids or (isinstance(value, float) and math.isnan(value)):
            return
        need = required_epochs(self.ctx.settings.min_epochs, self.ctx.cfg.train.epochs)
        if qualifies(int(result.get("epochs_run", 0)), need):
            return
        done = [
            t.value
            for t in self.study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
            if t.value is not None and not qualifies(t.user_attrs.get(EPOCHS_ATTR), need)
        ]
        better = max if self.ctx.direction == "maximize" else min
        if done and better(done + [value]) != value:
            return
        dataset = trainer.task.dataset
        log_trained_model(
            self.ctx.tracking_uri,
            self.run_ids[0],
            trainer.model_for_export(),
            target=self.ctx.target,
            hparams=self.hparams,
            spec=dataset.spec,
            encoder=getattr(dataset, "encoder", None),
        )
        self.logged = True


class _Surplus(Exception):
    """The budget was spent by other workers between our check and our ask."""


def _failed_run(ctx: _Ctx, trial: Any, hp: dict[str, Any], exc: BaseException, tags: dict[str, str]) -> str:
    """A failed trial that never reached training still gets its nested run."""
    from mlflow.entities import Param
    from mlflow.tracking import MlflowClient

    client = MlflowClient(ctx.tracking_uri)
    name = f"{ctx.study_name}-trial-{trial.number}"
    run = client.create_run(
        get_experiment_id(client, ctx.experiment),
        run_name=name,
        tags={
            "mlflow.runName": name,
            "mlflow.parentRunId": ctx.parent_run_id,
            "plexus.dataset": ctx.cfg.dataset,
            "plexus.task": ctx.task,
            **tags,
            "plexus.state": "FAIL",
            "plexus.failure_reason": mask_text(f"{type(exc).__name__}: {exc}")[:5000],
        },
    )
    params = [Param(f"hparams.{k}", mask_text(str(v))[:6000]) for k, v in hp.items()]
    params += [Param(f"optuna.{k}", str(v)[:6000]) for k, v in trial.params.items()]
    if params:
        client.log_batch(run.info.run_id, params=params)
    client.set_terminated(run.info.run_id, status="FAILED")
    return run.info.run_id


def _objective(ctx: _Ctx, study: Any, trial: Any) -> float:
    import optuna
    from mlflow.tracking import MlflowClient

    if is_surplus(study, trial.number, ctx.settings.trials):
        trial.set_user_attr(SURPLUS_ATTR, True)
        ctx.surplus = True
        raise _Surplus(f"trial {trial.number} is beyond the budget of {ctx.settings.trials}")
    start = time.time()
    ctx.ran.append(trial.number)
    trial.set_user_attr("plexus.worker", ctx.worker)
    tags = {"plexus.trial": str(trial.number), "plexus.study": ctx.study_name, "plexus.model": ctx.cfg.model}
    retry_of = study._storage.get_trial(trial._trial_id).system_attrs.get("failed_trial")
    if retry_of is not None:
        tags["plexus.retry_of"] = str(retry_of)
    run_ids: list[str] = []
    hp: dict[str, Any] = {}
    last: list[Any] = [0, float("nan")]
    shown: Progress | None = None
    fixed = dict(ctx.cfg.hparams)
    ckpt_tmp = ""
    try:
        hp = sample(ctx.space, trial, fixed, ctx.names, ctx.settings.space)
        entry = get_catalog().model(ctx.cfg.model)
        valid_hp = entry.schema.validate(hp, owner=f"model '{ctx.cfg.model}'")
        trial.set_user_attr("plexus.hparams", json.loads(json.dumps(valid_hp, default=str)))
        ctx.say(f"trial {trial.number} started {_fmt(trial.params)}".rstrip())
        tracking = {
            **ctx.cfg.tracking,
            "experiment": ctx.experiment,
            "run_name": f"{ctx.study_name}-trial-{trial.number}",
        }
        tracking.setdefault("checkpoints", False)
        tracking.setdefault("plots", False)  # a learning-curve PNG per trial: ~0.27 s, 9 % of a 3 s trial
        tracking.pop("uri", None)
        cfg = replace(ctx.cfg, hparams=hp, tracking=tracking)
        ckpt_tmp = tempfile.mkdtemp(prefix="plexus-trial-")
        resumed = find_resume(study, trial, ctx.tracking_uri, Path(ckpt_tmp))  # a dead worker's checkpoint
        if resumed is not None:
            ctx.say(f"trial {trial.number} resumes trial {resumed.failed_trial} after epoch {resumed.epoch}")

        def created(run_id: str) -> None:
            run_ids.append(run_id)
            trial.set_user_attr(RUN_ID_ATTR, run_id)
            if resumed is not None:
                mark_resumed(ctx.tracking_uri, run_id, trial, resumed)

        reports = TrialReports(study, trial)

        def report(value: float, step: int) -> bool:
            last[:] = [hook.reported, value]
            # steps are evaluation counts: epochs unless eval_every is set
            return reports.report(value, hook.reported)

        hook = PruningHook(ctx.monitor, report, optuna.TrialPruned)
        callbacks: list[Callback] = [hook]
        if ctx.progress:  # before the model logger: its line is cleared before the model is saved
            who = f"{ctx.label} trial {trial.number}" if ctx.label else f"trial {trial.number}"
            shown = Progress(ctx.monitor, cfg.train.epochs, prefix=who, live=ctx.live, start_line=False)
            callbacks.append(shown)
        logger = None
        if ctx.settings.log_models == "best":
            logger = _ModelLogger(ctx, study, run_ids, valid_hp)
            callbacks.append(logger)
        uploader = None
        if ctx.settings.checkpoint_every_s:
            uploader = CheckpointUploader(ctx.tracking_uri, ctx.settings.checkpoint_every_s, run_ids,
                                          on_upload=reports.flush)
            callbacks.append(uploader)
        done = False
        try:
            result = train_model(
                cfg,
                task=ctx.task,
                tracking_uri=ctx.tracking_uri,
                progress=False,
                callbacks=callbacks,
                parent_run_id=ctx.parent_run_id,
                extra_tags=tags,
                log_model=ctx.settings.log_models == "all",
                on_run_created=created,
                resume=str(resumed.path) if resumed is not None else None,
                extra_params={f"optuna.{k}": str(v)[:6000] for k, v in trial.params.items()},
            )
            done = True
        finally:
            if not done:  # a finished trial writes its reports below, with its attributes, in one transaction
                reports.flush()
            if shown is not None:
                shown.close()  # also after a failure outside the epochs (the final evaluation)
            if uploader is not None and uploader.uploads:
                trial.set_user_attr("plexus.checkpoint_uploads", [uploader.uploads, round(uploader.upload_s, 3)])
    except KeyboardInterrupt:
        trial.set_user_attr("plexus.interrupted", True)  # queued again when the study is resumed
        raise
    except optuna.TrialPruned:
        trial.set_user_attr("plexus.duration_s", round(time.time() - start, 2))
        ctx.say(
            f"trial {trial.number} PRUNED at step {last[0]} ({ctx.monitor}={last[1]:.4f}) {_fmt(trial.params)}"
        )
        raise
    except Exception as exc:
        reason = mask_text(f"{type(exc).__name__}: {exc}").replace("\n", " ")
        trial.set_user_attr("plexus.error", reason[:1000])
        trial.set_user_attr("plexus.duration_s", round(time.time() - start, 2))
        try:
            if run_ids:
                MlflowClient(ctx.tracking_uri).set_tag(run_ids[0], "plexus.state", "FAIL")
            else:
                trial.set_user_attr(RUN_ID_ATTR, _failed_run(ctx, trial, hp, exc, tags))
        except Exception:  # noqa: BLE001,S110 - keep the original failure
            pass
        ctx.say(f"trial {trial.number} FAIL: {reason[:300]} {_fmt(trial.params)}")
        raise
    finally:
        if ckpt_tmp:
            shutil.rmtree(ckpt_tmp, ignore_errors=True)
    value = result.get("best_value")
    attrs = {"plexus.duration_s": round(time.time() - start, 2), EPOCHS_ATTR: int(result["epochs_run"]),
             "plexus.metrics": {k: float(v) for k, v in result["metrics"].items()}}
    if logger is not None and logger.logged or ctx.settings.log_models == "all":
        attrs["plexus.model_logged"] = True
    reports.flush(attrs)
    if value is None or (isinstance(value, float) and math.isnan(value)):
        MlflowClient(ctx.tracking_uri).set_tag(result["run_id"], "plexus.state", "FAIL")
        ctx.say(f"trial {trial.number} FAIL: {ctx.monitor} is {value}")
        raise SearchError(f"monitored metric {ctx.monitor} is {value}")
    epochs = int(result["epochs_run"])
    ctx.say(
        f"trial {trial.number} COMPLETE {ctx.monitor}={value:.4f} after {epochs} epoch{'s' * (epochs != 1)} "
        f"in {time.time() - start:.1f}s {_fmt(trial.params)}".rstrip()
    )
    return float(value)


def _fmt(params: dict[str, Any]) -> str:
    return " ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in params.items())


def _loop(ctx: _Ctx, study: Any, *, max_trials: int = 0, deadline: float = 0.0) -> None:
    """Run trials until the study's budget is spent (waiting for trials other workers are running)."""
    import optuna

    poll = max(1.0, min(5.0, ctx.settings.heartbeat_interval / 2 or 1.0))
    heartbeat = bool(ctx.settings.heartbeat_interval)
    while True:
        if deadline and time.time() >= deadline:
            ctx.say("timeout reached: no new trial is started")
            return
        if max_trials and len(ctx.ran) >= max_trials:
            return
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            optuna.storages.fail_stale_trials(study)
        b = budget(study)
        if b.done >= ctx.settings.trials:
            return
        if b.waiting == 0 and b.done + b.running >= ctx.settings.trials:
            if not heartbeat:
                return  # without heartbeats a dead worker's trial cannot be told apart from a running one
            time.sleep(poll)  # the last trials run elsewhere; stay to retry them if their worker dies
            continue
        freeze_heap()  # the collection after each trial then scans what trials create, not every imported module
        study.optimize(
            lambda tr: _objective(ctx, study, tr), n_trials=1, catch=(Exception,), gc_after_trial=True
        )
        if ctx.surplus:
            return
