"""The training service: one function from a validated config to a tracked, trained model."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Iterable

from plexus.platform.catalog import get_catalog
from plexus.platform.config import ExperimentConfig
from plexus.platform.data.service import load_dataset, pick_task
from plexus.platform.errors import CheckpointError, ConfigError
from plexus.platform.training.callbacks import Callback
from plexus.platform.training.checkpoint import load_checkpoint
from plexus.platform.training.tasks import make_task
from plexus.platform.training.trainer import Trainer, dist_info, seed_everything

__all__ = ["train_model", "resolve_resume"]

EXPLAIN_SHARE = 0.05  # of the fit's duration: the most the end-of-run attribution may add to a run


def resolve_resume(resume: str, tracking_uri: str) -> tuple[Path, str | None]:
    """``--resume`` accepts a checkpoint file or folder, or an MLflow run id."""
    p = Path(resume)
    if p.exists():
        return p, None
    from mlflow.exceptions import MlflowException
    from mlflow.tracking import MlflowClient

    try:
        run = MlflowClient(tracking_uri).get_run(resume)
    except MlflowException:
        raise CheckpointError(f"--resume {resume}: neither a checkpoint path nor a run id in the tracking store") from None
    ckpt = run.data.tags.get("plexus.checkpoint_dir", "")
    if not ckpt:
        raise CheckpointError(f"run {resume} has no checkpoint (plexus.checkpoint_dir tag missing)")
    return Path(ckpt), resume


def train_model(
    cfg: ExperimentConfig,
    *,
    task: str | None = None,
    tracking_uri: str | None = None,
    resume: str | None = None,
    progress: bool = True,
    callbacks: Iterable[Callback] = (),
    parent_run_id: str | None = None,
    extra_tags: dict[str, str] | None = None,
    log_model: bool | None = None,
    on_run_created: Any = None,
    extra_params: dict[str, str] | None = None,
) -> dict[str, Any]:
    """Train ``cfg.model`` on ``cfg.dataset``; track the run in MLflow; return metrics and the run id.

    Everything that can be checked before training is checked first (plugin, task
    kind, hyperparameters, tracking store, dataset), so a bad input leaves no run behind.
    """
    from plexus.platform.tracking import (
        MLflowTracker,
        checkpoint_root,
        ensure_reachable,
        log_trained_model,
        mask_secrets,
        resolve_tracking_uri,
    )
    from plexus.platform.tracking import run_name as make_run_name

    catalog = get_catalog()
    entry = catalog.model(cfg.model)
    ds_entry = catalog.dataset(cfg.dataset)
    kind = pick_task(entry.tasks, ds_entry.tasks, task, model=cfg.model, dataset=cfg.dataset)
    hparams = entry.schema.validate(cfg.hparams, owner=f"model '{cfg.model}'")
    tracking_cfg = dict(cfg.tracking)
    uri = resolve_tracking_uri(tracking_uri or tracking_cfg.get("uri"))
    rank, world, _ = dist_info()
    track = rank == 0 and tracking_cfg.get("enabled", True)
    flush_every_s, plots = tracking_cfg.get("flush_every_s", 2.0), tracking_cfg.get("plots", True)
    if isinstance(flush_every_s, bool) or not isinstance(flush_every_s, (int, float)) or not flush_every_s >= 0:
        raise ConfigError(f"tracking.flush_every_s must be a number of seconds >= 0, got {flush_every_s!r}")
    if not isinstance(plots, bool):
        raise ConfigError(f"tracking.plots must be true or false, got {plots!r}")
    if track:
        ensure_reachable(uri)
    ckpt_state = None
    resume_run_id = None
    if resume:
        ckpt_path, resume_run_id = resolve_resume(resume, uri)
        ckpt_state = load_checkpoint(ckpt_path)
        resume_run_id = resume_run_id or ckpt_state.get("meta", {}).get("run_id") or None

    seed_everything(cfg.train.seed, cfg.train.deterministic)
    dataset = load_dataset(cfg.dataset, task=kind, **cfg.dataset_options)
    model = entry.build(dataset.spec, **hparams)
    the_task = make_task(dataset, cfg.train)

    config_dict = cfg.to_dict()
    config_dict["hparams"] = {**entry.schema.defaults(), **hparams}
    config_dict["task"] = kind
    tracker = None
    all_callbacks = list(callbacks)
    if track:
        tags = {"plexus.model": cfg.model, "plexus.task": kind, "plexus.dataset": cfg.dataset,
                "plexus.dataset_fingerprint": dataset.fingerprint or "", "plexus.seed": str(cfg.train.seed),
                "plexus.source": entry.source, **(extra_tags or {})}
        tracker = MLflowTracker(uri, tracking_cfg.get("experiment", "plexus"),
                                tracking_cfg.get("run_name") or make_run_name(cfg.model, cfg.dataset),
                                config_dict, tags, run_id=resume_run_id, parent_run_id=parent_run_id,
                                flush_every_s=flush_every_s, plots=plots, params=extra_params)
        tracker.start()
        all_callbacks.insert(0, tracker)
        if on_run_created is not None:
            on_run_created(tracker.run_id)
    ckpt_root = tracking_cfg.get("checkpoint_dir")
    checkpoint_dir = None
    if rank == 0 and tracking_cfg.get("checkpoints", True):
        if resume:  # a resumed run keeps writing where it left off
            checkpoint_dir = ckpt_path if ckpt_path.is_dir() else ckpt_path.parent
        else:
            base = Path(ckpt_root) if ckpt_root else checkpoint_root(uri)  # follows the tracking store
            checkpoint_dir = base / (tracker.run_id if tracker else make_run_name(cfg.model, cfg.dataset))
    try:
        trainer = Trainer(model, the_task, cfg.train, all_callbacks, checkpoint_dir=checkpoint_dir, progress=progress)
        trainer.meta = {"run_id": tracker.run_id if tracker else "",
                        "config": json.dumps(mask_secrets(json.loads(json.dumps(config_dict, default=str))))}
        if ckpt_state is not None:
            trainer.load_state_dict(ckpt_state)
            trainer.meta["run_id"] = tracker.run_id if tracker else ""
        result = trainer.fit()
        keep_model = log_model if log_model is not None else tracking_cfg.get("log_model", True)
        if tracker is not None and plots and keep_model:  # explain/: the model's global attribution, if any
            from plexus.platform.explain import log_global_attribution

            cost = log_global_attribution(trainer.model, dataset, tracker.client, tracker.run_id,
                                          budget_s=EXPLAIN_SHARE * float(result.get("duration_s", 0.0)))
            if cost is not None:
                result["explain_s"] = cost["total_s"]
        if tracker is not None and keep_model:
            result["model_uris"] = log_trained_model(uri, tracker.run_id, trainer.model, target=entry.target,
                                                     hparams=hparams, spec=dataset.spec,
                                                     encoder=getattr(dataset, "encoder", None))
    except BaseException as exc:
        if tracker is not None:
            status = "KILLED" if isinstance(exc, KeyboardInterrupt) else "FAILED"
            if type(exc).__name__ == "TrialPruned":
                tracker.client.set_tag(tracker.run_id, "plexus.state", "PRUNED")
                tracker.finish("FINISHED")
            else:
                tracker.finish(status, f"{type(exc).__name__}: {exc}")
        if isinstance(exc, FloatingPointError):
            raise ConfigError(str(exc)) from None
        raise
    if tracker is not None:
        tracker.client.set_tag(tracker.run_id, "plexus.state", "COMPLETE")
        tracker.finish("FINISHED")
    result.update(run_id=tracker.run_id if tracker else None, model=cfg.model, dataset=cfg.dataset, task=kind,
                  tracking_uri=tracker.describe_uri() if tracker else None,
                  checkpoint_dir=str(checkpoint_dir) if checkpoint_dir else None, hparams=config_dict["hparams"],
                  world_size=world, rank=rank)
    return result


