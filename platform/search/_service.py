"""The search service: Optuna studies over a plugin's search space, every trial a nested MLflow run.

``search`` creates (or resumes) a study and its MLflow parent run, runs trials in
this process or in ``workers`` local worker processes, and finishes with the best
trial's parameters, plots and registered model on the parent run. ``run_worker``
joins an existing study (``plexus worker``) and runs trials until its budget is spent.
Everything a worker needs is stored on the study (user attr ``plexus.search``), so a
worker needs only the study name and the storage URL.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import time
import warnings
from collections.abc import Callable, Iterable
from dataclasses import replace
from typing import Any

from mlflow.tracking import MlflowClient
from plexus.platform.catalog import get_catalog
from plexus.platform.config import ExperimentConfig, build_config
from plexus.platform.data.service import load_dataset, pick_task
from plexus.platform.errors import ConfigError
from plexus.platform.search._report import finalize
from plexus.platform.search._settings import SearchError, SearchSettings
from plexus.platform.search._space import check_space, distribution_clash
from plexus.platform.search._storage import budget, default_storage_url, open_storage
from plexus.platform.search._study import (
    IDENTITY,
    STUDY_ATTR,
    _config_for_workers,
    _create_or_load,
    _existing_attrs,
    _identity,
    _n_trials,
    _requeue_interrupted,
    _samplers,
    _seed,
)
from plexus.platform.search._trial import Echo, _Ctx, _loop
from plexus.platform.search._workers import spawn_workers
from plexus.platform.tracking import (
    MLflowTracker,
    ensure_reachable,
    log_dataset_inputs,
    mask_url,
    resolve_tracking_uri,
)
from plexus.platform.training.tasks import TASKS

__all__ = ["STUDY_ATTR", "run_worker", "search"]



def _quiet() -> None:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.ERROR)  # failed trials are reported in one line by us
    logging.getLogger("alembic").setLevel(logging.WARNING)
    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)


def _direction(task: str, monitor_override: str) -> tuple[str, str]:
    cls = TASKS[task]
    monitor = monitor_override or cls.monitor
    if not monitor_override or monitor_override == cls.monitor:
        mode = cls.mode
    else:
        mode = "min" if "loss" in monitor else "max"
    return monitor, ("maximize" if mode == "max" else "minimize")


def _stored_uri(uri: str) -> str:
    """The tracking URI as stored on the study: never with its password."""
    return mask_url(uri)


def search(
    cfg: ExperimentConfig,
    *,
    tracking_uri: str | None = None,
    task: str | None = None,
    echo: Echo | None = None,
    search_space: Callable[[Any], dict[str, Any]] | None = None,
    sampler: Any = None,
    pruner: Any = None,
    enqueue: Iterable[dict[str, Any]] = (),
    worker_output: Any = None,
    progress: bool = False,
) -> dict[str, Any]:
    """Run (or resume) a hyperparameter search for ``cfg.model`` on ``cfg.dataset``.

    Settings come from ``cfg.search`` (:class:`SearchSettings`); fixed hyperparameters from
    ``cfg.hparams`` win over the plugin's search space and are not sampled.

    Args:
        cfg: the experiment config (``search`` section: trials, sampler, pruner, storage, ...).
        tracking_uri: MLflow tracking URI (default: ``cfg.tracking.uri``, ``$MLFLOW_TRACKING_URI``,
            ``$PLEXUS_HOME/mlflow.db``, ``./mlruns/mlflow.db``); the study's ``optuna.db`` goes beside it.
        task: task kind when model and dataset share several.
        echo: called with one line per trial (None: silent).
        search_space: replaces the plugin's ``search_space(trial)`` (in-process searches only).
        sampler: an Optuna sampler instance replacing ``search.sampler`` (in-process only).
        pruner: an Optuna pruner instance replacing ``search.pruner`` (in-process only).
        enqueue: parameter dicts to try first (``study.enqueue_trial``), e.g. known good settings.
        worker_output: where local worker processes write their output (default: this process's stderr).
        progress: a line per epoch of each trial on stderr (trial, epoch, monitored value, elapsed time),
            rewritten in place when stderr is a terminal; workers print plain lines prefixed ``worker i``.

    Returns:
        A summary: study, storage (masked), counts per state, best trial, parent run, registered model, trials.
    """

    _quiet()
    settings = SearchSettings.from_dict(cfg.search)
    if settings.workers and (search_space is not None or sampler is not None or pruner is not None):
        raise ConfigError("search_space/sampler/pruner objects apply to in-process searches only (workers=0)")
    catalog = get_catalog()
    entry = catalog.model(cfg.model)
    ds_entry = catalog.dataset(cfg.dataset)
    kind = pick_task(entry.tasks, ds_entry.tasks, task, model=cfg.model, dataset=cfg.dataset)
    names = entry.schema.names()
    fixed_hp = {k: v for k, v in cfg.hparams.items() if k in names}
    entry.schema.validate(fixed_hp, owner=f"model '{cfg.model}'")
    space = search_space or entry.search_space
    dists: dict[str, Any] = {}
    sampled = check_space(space, dict(cfg.hparams), names, cfg.model, overrides=settings.space, seen=dists)
    if not sampled and echo is not None:
        echo("warning: every parameter of the search space is fixed; all trials train the same model")
    data = load_dataset(cfg.dataset, task=kind, **cfg.dataset_options)  # a data error stops the search before any trial
    monitor, direction = _direction(kind, cfg.train.monitor)
    study_name = settings.study or f"{cfg.model}-{cfg.dataset}"
    uri = resolve_tracking_uri(tracking_uri or cfg.tracking.get("uri"))
    storage_url = settings.storage or default_storage_url(uri)
    experiment = cfg.tracking.get("experiment", "plexus")
    storage = open_storage(
        storage_url,
        heartbeat_interval=settings.heartbeat_interval,
        grace=settings.grace,
        max_retry=settings.max_retry,
    )
    ensure_reachable(uri)

    ident = _identity(cfg, kind)
    ctx = _Ctx(
        cfg=cfg,
        settings=settings,
        task=kind,
        monitor=monitor,
        direction=direction,
        study_name=study_name,
        storage_url=storage_url,
        tracking_uri=uri,
        experiment=experiment,
        parent_run_id="",
        space=space,
        names=names,
        target=entry.target,
        worker=f"{socket.gethostname()}:{os.getpid()}",
        echo=echo,
        progress=progress,
        live=None,
    )
    existing = _existing_attrs(storage, study_name)
    _check_resumable(existing, ident, direction, study_name, storage_url)
    smp, prn = _samplers(
        settings, cfg, _seed(settings.seed, _n_trials(storage, study_name), 0), sampler, pruner
    )
    study = _create_or_load(storage, ctx, smp, prn, create=True)
    clash = distribution_clash(study.get_trials(deepcopy=False), dists) if existing is not None else ""
    if clash:
        raise ConfigError(
            f"study '{study_name}' cannot resume: {clash}; pass --study NEW_NAME, or set search.space "
            "to the study's distribution"
        )

    client = MlflowClient(uri)
    parent = _open_parent(client, ctx, existing, entry.source, data)
    ctx.parent_run_id = parent
    client.set_tag(parent, "plexus.trials_budget", str(settings.trials))
    client.set_tag(parent, "plexus.sampler", settings.sampler if sampler is None else type(sampler).__name__)
    client.set_tag(parent, "plexus.pruner", settings.pruner if pruner is None else type(pruner).__name__)
    attrs = {
        "identity": ident,
        "config": _config_for_workers(cfg),
        "task": kind,
        "monitor": monitor,
        "direction": direction,
        "settings": {**settings.to_dict(), "storage": "", "study": study_name},
        "tracking_uri": _stored_uri(uri),
        "experiment": experiment,
        "parent_run_id": parent,
    }
    study.set_user_attr(STUDY_ATTR, attrs)
    study.set_user_attr("n_trials", settings.trials)
    requeued = _requeue_interrupted(study)
    for params in enqueue:
        study.enqueue_trial(dict(params))
    handler = getattr(storage, "plexus_stale_handler", None)
    if handler is not None:
        handler.tracking_uri, handler.echo = uri, echo

    start_counts = budget(study)
    if echo is not None:
        verb = "resuming" if existing is not None else "created"
        echo(
            f"study '{study_name}' {verb} in {mask_url(storage_url)}: {start_counts.done}/{settings.trials} "
            f"trials finished; {direction} {monitor}; parent run {parent}"
        )
        if requeued:
            echo(f"interrupted trials {requeued} are queued again with the same parameters")
    worker_codes: list[int] = []
    try:
        if settings.workers:
            worker_codes = spawn_workers(
                settings, study_name, storage_url, uri, echo, worker_output, progress=progress
            )
        else:
            deadline = time.time() + settings.timeout if settings.timeout else 0.0
            _loop(ctx, study, deadline=deadline)
    except KeyboardInterrupt:
        client.set_tag(parent, "plexus.state", "INTERRUPTED")
        client.set_terminated(parent, status="KILLED")
        raise
    result = finalize(study, ctx, client)
    result["workers"] = {"count": settings.workers, "exit_codes": worker_codes}
    return result


def _check_resumable(existing: dict[str, Any] | None, ident: dict[str, Any], direction: str, study_name: str,
                     storage_url: str) -> None:
    """An existing study resumes only when ``plexus search`` created it with the same identity and direction."""
    if existing == {}:
        raise ConfigError(
            f"study '{study_name}' exists in {mask_url(storage_url)} but was not created by "
            "'plexus search'; pass --study NEW_NAME"
        )
    if existing is None:
        return
    old = existing.get("identity", {})
    diff = [
        k
        for k in IDENTITY
        if json.dumps(old.get(k), sort_keys=True, default=str)
        != json.dumps(ident.get(k), sort_keys=True, default=str)
    ]
    if diff:
        raise ConfigError(
            f"study '{study_name}' exists with a different {diff[0]} "
            f"({json.dumps(old.get(diff[0]), default=str)[:200]}); pass --study NEW_NAME "
            "to start another study"
        )
    if existing.get("direction") != direction:
        raise ConfigError(f"study '{study_name}' optimises {existing.get('direction')}, not {direction}")


def _open_parent(client: MlflowClient, ctx: _Ctx, existing: dict[str, Any] | None, source: str, data: Any) -> str:
    """The study's parent run: created once per study, re-opened (RUNNING, tagged resumed) on resume."""
    cfg, settings = ctx.cfg, ctx.settings
    parent = (existing or {}).get("parent_run_id", "")
    if parent:
        try:
            client.get_run(parent)
            client.update_run(parent, status="RUNNING")
            client.set_tag(parent, "plexus.resumed", "true")
            return parent
        except Exception:  # noqa: BLE001, S110 - the study moved to another tracking store: a new parent
            pass
    tags = {
        "plexus.study": ctx.study_name,
        "plexus.kind": "search",
        "plexus.task": ctx.task,
        "plexus.model": cfg.model,
        "plexus.storage": mask_url(ctx.storage_url),
        "plexus.source": source,
        "plexus.dataset": cfg.dataset,
    }
    cfg_dict = cfg.to_dict()
    cfg_dict["tracking"] = {k: v for k, v in cfg.tracking.items() if k != "uri"}
    cfg_dict["search"] = {
        **settings.to_dict(),
        "storage": mask_url(ctx.storage_url),
        "study": ctx.study_name,
        "monitor": ctx.monitor,
        "direction": ctx.direction,
    }
    parent = MLflowTracker(ctx.tracking_uri, ctx.experiment, ctx.study_name, cfg_dict, tags).start()
    log_dataset_inputs(client, parent, cfg.dataset, data, splits=False)
    return parent


def run_worker(
    study_name: str,
    storage_url: str | None = None,
    *,
    tracking_uri: str | None = None,
    max_trials: int = 0,
    timeout: float = 0.0,
    worker_index: int | None = None,
    echo: Echo | None = None,
    progress: bool = False,
) -> dict[str, Any]:
    """Join study ``study_name`` and run trials until its budget is spent (``plexus worker``).

    Args:
        study_name: a study created by :func:`search`.
        storage_url: its Optuna storage (default: ``$PLEXUS_STORAGE``, then ``optuna.db`` beside the tracking
            store, see ``default_storage_url``).
        tracking_uri: MLflow tracking URI (default: ``$MLFLOW_TRACKING_URI``, then the one the study was created with).
        max_trials: stop after this many trials of this worker (0: until the study's budget is spent).
        timeout: seconds after which this worker starts no new trial (0: no limit).
        worker_index: index of a local worker started by ``search`` (selects its sampler seed).
        echo: called with one line per trial.
        progress: a plain line per epoch of each trial on stderr, prefixed ``worker i trial n``.
    """
    _quiet()
    storage_url = (storage_url or os.environ.get("PLEXUS_STORAGE")
                   or default_storage_url(tracking_uri or os.environ.get("MLFLOW_TRACKING_URI")))
    probe = open_storage(storage_url)
    attrs = _existing_attrs(probe, study_name)
    if attrs is None:
        raise SearchError(
            f"study '{study_name}' does not exist in {mask_url(storage_url)} (create it with 'plexus search')"
        )
    if not attrs:
        raise SearchError(
            f"study '{study_name}' was not created by 'plexus search' (no {STUDY_ATTR} attribute)"
        )
    settings = SearchSettings.from_dict(
        {k: v for k, v in attrs["settings"].items() if k in SearchSettings.__annotations__}
    )
    n_trials = int(
        probe.get_study_user_attrs(probe.get_study_id_from_name(study_name)).get("n_trials", settings.trials)
    )
    settings = replace(settings, trials=n_trials)
    stored = attrs.get("tracking_uri", "")
    uri = resolve_tracking_uri(
        tracking_uri or os.environ.get("MLFLOW_TRACKING_URI") or (stored if "***" not in stored else None)
    )
    ensure_reachable(uri)
    cfg = build_config(attrs["config"])
    entry = get_catalog().model(cfg.model)
    storage = open_storage(
        storage_url,
        heartbeat_interval=settings.heartbeat_interval,
        grace=settings.grace,
        max_retry=settings.max_retry,
    )
    index = worker_index if worker_index is not None else os.getpid()
    host = f"{socket.gethostname()}:{os.getpid()}"
    worker = f"{host}:w{worker_index}" if worker_index is not None else host
    ctx = _Ctx(
        cfg=cfg,
        settings=settings,
        task=attrs["task"],
        monitor=attrs["monitor"],
        direction=attrs["direction"],
        study_name=study_name,
        storage_url=storage_url,
        tracking_uri=uri,
        experiment=attrs["experiment"],
        parent_run_id=attrs["parent_run_id"],
        space=entry.search_space,
        names=entry.schema.names(),
        target=entry.target,
        worker=worker,
        label=f"worker {worker_index}" if worker_index is not None else "",
        echo=echo,
        progress=progress,
        live=False,
    )
    smp, prn = _samplers(
        settings, cfg, _seed(settings.seed, _n_trials(storage, study_name), index + 1), None, None
    )
    study = _create_or_load(storage, ctx, smp, prn, create=False)
    handler = getattr(storage, "plexus_stale_handler", None)
    if handler is not None:
        handler.tracking_uri, handler.echo = uri, ctx.say
    MlflowClient(uri).get_run(ctx.parent_run_id)  # fail early when the tracking store is not the study's
    deadline = time.time() + timeout if timeout else 0.0
    _loop(ctx, study, max_trials=max_trials, deadline=deadline)
    b = budget(study)
    return {
        "study": study_name,
        "worker": worker,
        "trials_run": list(ctx.ran),
        "done": b.done,
        "budget": settings.trials,
        "counts": b.counts,
    }
