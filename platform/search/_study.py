"""A study's setup and bookkeeping: open or create it, seed its samplers, its identity, requeued trials.

``STUDY_ATTR`` is the study user attribute holding everything a worker needs (config, budget, tracking,
parent run).
"""

from __future__ import annotations

import json
from typing import Any

from plexus.platform.config import ExperimentConfig
from plexus.platform.search._settings import SearchError, SearchSettings, make_pruner, make_sampler
from plexus.platform.search._trial import _Ctx
from plexus.platform.tracking import mask_text, mask_url

__all__ = ["IDENTITY", "STUDY_ATTR"]

STUDY_ATTR = (
    "plexus.search"  # study user attr: everything a worker needs (config, budget, tracking, parent run)
)
IDENTITY = ("model", "dataset", "task", "hparams", "train", "dataset_options")  # a resumed study must match


def _create_or_load(storage: Any, ctx: _Ctx, sampler: Any, pruner: Any, create: bool) -> Any:
    import optuna

    if create:
        try:
            study = optuna.create_study(
                study_name=ctx.study_name,
                storage=storage,
                direction=ctx.direction,
                sampler=sampler,
                pruner=pruner,
                load_if_exists=True,
            )
        except Exception as exc:  # noqa: BLE001 - schema races, permission errors: one line
            raise SearchError(
                f"study '{ctx.study_name}' in {mask_url(ctx.storage_url)}: {mask_text(str(exc))}"
            ) from None
    else:
        try:
            study = optuna.load_study(
                study_name=ctx.study_name, storage=storage, sampler=sampler, pruner=pruner
            )
        except KeyError:
            raise SearchError(
                f"study '{ctx.study_name}' does not exist in {mask_url(ctx.storage_url)} "
                "(create it with 'plexus search')"
            ) from None
    return study


def _seed(seed_base: int, n_existing: int, worker_index: int) -> int:
    """Distinct sampler seeds per session and worker (a resumed study must not replay its first samples)."""
    return (seed_base + 7919 * n_existing + 104729 * worker_index) % (2**31)


def _samplers(
    settings: SearchSettings, cfg: ExperimentConfig, seed: int, sampler: Any, pruner: Any
) -> tuple[Any, Any]:
    max_resource = cfg.train.epochs if not cfg.train.eval_every else None
    return (
        sampler if sampler is not None else make_sampler(settings.sampler, seed),
        pruner
        if pruner is not None
        else make_pruner(settings.pruner, startup=settings.pruner_startup, max_resource=max_resource),
    )


def _requeue_interrupted(study: Any) -> list[int]:
    """Trials stopped by Ctrl-C / SIGTERM ended FAIL; queue them again (once) like a dead worker's trial."""
    import optuna
    from optuna.trial import TrialState

    trials = study.get_trials(deepcopy=False)
    gone: set[int] = set()
    for t in trials:
        gone.update(t.system_attrs.get("retry_history", []))
    out = []
    for t in trials:
        if t.state == TrialState.FAIL and t.user_attrs.get("plexus.interrupted") and t.number not in gone:
            history = [*t.system_attrs.get("retry_history", []), t.number]
            attrs = {k: v for k, v in t.user_attrs.items() if k != "plexus.interrupted"}
            study.add_trial(
                optuna.trial.create_trial(
                    state=TrialState.WAITING,
                    params=t.params,
                    distributions=t.distributions,
                    user_attrs=attrs,
                    system_attrs={
                        **t.system_attrs,
                        "failed_trial": t.system_attrs.get("failed_trial", t.number),
                        "retry_history": history,
                    },
                )
            )
            out.append(t.number)
    return out


def _identity(cfg: ExperimentConfig, kind: str) -> dict[str, Any]:
    d = cfg.to_dict()
    return json.loads(
        json.dumps(
            {
                "model": cfg.model,
                "dataset": cfg.dataset,
                "task": kind,
                "hparams": d["hparams"],
                "train": d["train"],
                "dataset_options": d["dataset_options"],
            },
            default=str,
        )
    )


def _config_for_workers(cfg: ExperimentConfig) -> dict[str, Any]:
    d = json.loads(json.dumps(cfg.to_dict(), default=str))
    d["tracking"] = {k: v for k, v in d.get("tracking", {}).items() if k != "uri"}
    d["search"] = {}
    return d


def _existing_attrs(storage: Any, name: str) -> dict[str, Any] | None:
    try:
        study_id = storage.get_study_id_from_name(name)
    except KeyError:
        return None
    return storage.get_study_user_attrs(study_id).get(STUDY_ATTR, {})


def _n_trials(storage: Any, name: str) -> int:
    try:
        return storage.get_n_trials(storage.get_study_id_from_name(name))
    except KeyError:
        return 0
