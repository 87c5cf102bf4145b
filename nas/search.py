"""The NAS service: a controller proposes, the platform trainer evaluates, MLflow records.

``run_nas`` opens a parent MLflow run (tags ``plexus.nas.controller``, ``plexus.nas.space``);
every evaluated architecture is a nested child run of the ``graphnas_net`` plugin trained
by :func:`plexus.platform.training.train_model` (the same path for every controller), tagged
``plexus.nas.controller``, ``plexus.nas.arch`` (JSON), ``plexus.nas.step`` and, with sharing,
``plexus.nas.inherited_layers``. After each architecture the controller's state and the
history are saved, so ``resume=`` continues an interrupted search.
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from plexus.nas.controllers import ALIASES, make_controller
from plexus.nas.retrain import (
    CHILD_TRAIN,
    NAS_MODEL,
    child_dataset_options,
    child_raw,
    retrain_architecture,
    retrain_top_k,
)
from plexus.nas.sharing import WeightSharing
from plexus.nas.spaces import get_space
from plexus.nas.spaces.graphnas import GraphNASSpace
from plexus.platform.catalog import get_catalog
from plexus.platform.config import build_config
from plexus.platform.data.service import load_dataset
from plexus.platform.errors import CheckpointError, ConfigError
from plexus.platform.search import search
from plexus.platform.tracking import (
    ensure_reachable,
    files_root,
    get_experiment_id,
    log_dataset_inputs,
    mask_url,
    resolve_tracking_uri,
    run_source,
)
from plexus.platform.training import train_model

__all__ = ["CHILD_TRAIN", "NAS_MODEL", "architecture_of", "describe", "load_state", "retrain_architecture",
           "run_nas", "train_config"]



def load_state(resume: str, client: Any) -> tuple[dict[str, Any], Path]:
    """``resume`` is a state file or the parent run id of an earlier search."""
    p = Path(resume)
    if not p.exists():
        from mlflow.exceptions import MlflowException

        try:
            run = client.get_run(resume)
        except MlflowException:
            raise CheckpointError(f"--resume {resume}: neither a NAS state file nor a run id in the tracking store") \
                from None
        p = Path(run.data.tags.get("plexus.nas.state", ""))
        if not run.data.tags.get("plexus.nas.state") or not p.exists():
            raise CheckpointError(f"run {resume} has no NAS state file (tag plexus.nas.state)")
    try:
        return torch.load(p, map_location="cpu", weights_only=True), p
    except Exception as exc:  # noqa: BLE001 - a truncated or foreign file
        raise CheckpointError(f"{p}: not a readable NAS state ({type(exc).__name__}: {exc})") from None


def _save(path: Path, state: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    torch.save(state, tmp)
    os.replace(tmp, path)


def run_nas(*, space: str = "graphnas", controller: str = "autognn", dataset: str = "cora", budget: int = 10,
            epochs: int = CHILD_TRAIN["epochs"], seed: int = 0, share: bool | None = None, sampler: str | None = None,
            pruner: str | None = None, choices: dict[str, list[Any]] | None = None, overrides: list[str] | None = None,
            tracking_uri: str | None = None, experiment: str | None = None, resume: str | None = None,
            state_path: str | None = None, workers: int = 0, storage: str | None = None, retrain_seeds: int = 3,
            top_k: int = 5, shared_epochs: int = 20, echo: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Search ``budget`` architectures of ``space`` on ``dataset`` with ``controller``; returns the best and history.

    ``overrides`` are ``--set key=value`` strings for the child runs (``train.lr=0.01``, ``dropout=0.5``).
    With sharing, a child that inherited trained layers trains ``shared_epochs`` epochs instead of ``epochs``.
    With ``workers`` or ``storage`` the ``optuna`` and ``random`` controllers run as a study of the search
    service (``plexus search graphnas_net``): trials fan out over worker processes sharing the Optuna storage,
    and a re-run of the same command resumes the study. ``autognn`` is sequential by construction (each child
    changes the current best in one class) and runs in this process.

    Children train with the protocol of :mod:`plexus.nas.retrain` (``CHILD_TRAIN``: 200 epochs, patience 100,
    Adam lr 0.005, weight decay 5e-4; row-normalised Planetoid features). At the end the ``top_k`` best distinct
    architectures are retrained from scratch with seeds ``0..retrain_seeds-1`` (nested runs, phase
    ``retrain``); the one with the best mean validation accuracy is selected and its test accuracy reported
    as mean ± std (``result["retrain"]``, :func:`plexus.nas.retrain.retrain_top_k`).
    """
    controller = ALIASES.get(controller, controller)
    if retrain_seeds < 0:
        raise ConfigError(f"--retrain-seeds must be >= 0, got {retrain_seeds}")
    if top_k < 1:
        raise ConfigError(f"--top-k must be >= 1, got {top_k}")
    if workers < 0:
        raise ConfigError(f"--workers must be >= 0, got {workers}")
    if shared_epochs < 0:
        raise ConfigError(f"--shared-epochs must be >= 0, got {shared_epochs}")
    t0 = time.perf_counter()
    if workers or storage:
        result = _run_as_study(space=space, controller=controller, dataset=dataset, budget=budget, epochs=epochs,
                               seed=seed, share=share, sampler=sampler, pruner=pruner, choices=choices,
                               overrides=overrides, tracking_uri=tracking_uri, experiment=experiment, resume=resume,
                               workers=workers, storage=storage, echo=echo)
    else:
        result = _run_in_process(space=space, controller=controller, dataset=dataset, budget=budget, epochs=epochs,
                                 seed=seed, share=share, sampler=sampler, pruner=pruner, choices=choices,
                                 overrides=overrides, tracking_uri=tracking_uri, experiment=experiment,
                                 resume=resume, state_path=state_path, shared_epochs=shared_epochs, echo=echo)
    uri = result.pop("uri")  # unmasked: it may hold a password, so it never leaves this function
    result["search_wall_s"] = round(time.perf_counter() - t0, 1)
    result["retrain"] = None
    if retrain_seeds and result["best"] is not None:
        t1 = time.perf_counter()
        result["retrain"] = _retrain(result, uri, seeds=retrain_seeds, top_k=top_k, epochs=epochs,
                                     overrides=overrides, echo=echo)
        if result["retrain"] is not None:
            result["retrain"]["wall_s"] = round(time.perf_counter() - t1, 1)
    return result


def _run_in_process(*, space: str, controller: str, dataset: str, budget: int, epochs: int, seed: int,
                    share: bool | None, sampler: str | None, pruner: str | None, choices: dict[str, list[Any]] | None,
                    overrides: list[str] | None, tracking_uri: str | None, experiment: str | None,
                    resume: str | None, state_path: str | None, shared_epochs: int,
                    echo: Callable[[str], None] | None) -> dict[str, Any]:
    from mlflow.entities import Param
    from mlflow.tracking import MlflowClient

    if budget < 1:
        raise ConfigError(f"--budget must be >= 1, got {budget}")
    if epochs < 1:
        raise ConfigError(f"--epochs must be >= 1, got {epochs}")
    schema = get_catalog().model(NAS_MODEL).schema  # raises when the plugin is missing or broken
    ds_entry = get_catalog().dataset(dataset)
    if "node" not in ds_entry.tasks:
        raise ConfigError(f"space '{space}' searches node classifiers; dataset '{dataset}' has tasks {ds_entry.tasks}")
    the_space = get_space(space, dataset, choices=choices)
    options: dict[str, Any] = {"share": share} if controller == "autognn" else {}
    if controller == "optuna":
        options.update(sampler=sampler, pruner=pruner)
    elif sampler or pruner:
        raise ConfigError(f"--sampler/--pruner apply to the optuna controller, not '{controller}'")
    ctl = make_controller(controller, the_space, seed, **options)
    raw = child_raw(dataset, epochs, seed, overrides)
    checked = build_config(raw, model=NAS_MODEL, dataset=dataset)  # validates the train settings before any run
    schema.validate(raw.get("hparams") or {}, owner=f"model '{NAS_MODEL}'")
    data = load_dataset(dataset, task="node", **checked.dataset_options)  # a data error stops the search before any run
    uri = resolve_tracking_uri(tracking_uri)
    ensure_reachable(uri)
    client = MlflowClient(uri)
    experiment = experiment or "plexus-nas"
    history: list[dict[str, Any]] = []
    if resume:
        state, state_file = load_state(resume, client)
        state["controller_name"] = ALIASES.get(state["controller_name"], state["controller_name"])
        if (state["controller_name"], state["space"], state["dataset"]) != (controller, space, dataset):
            raise CheckpointError(f"state {state_file} is a {state['controller_name']}/{state['space']} search on "
                                  f"{state['dataset']}, not {controller}/{space} on {dataset}")
        ctl.load_state_dict(state["controller"])
        history, parent_id = list(state["history"]), state["parent_run_id"]
        client.update_run(parent_id, status="RUNNING")
        client.set_tag(parent_id, "plexus.resumed", "true")
    else:
        stamp = time.strftime("%Y%m%d-%H%M%S")
        parent = client.create_run(get_experiment_id(client, experiment), run_name=f"nas-{controller}-{dataset}-{stamp}",
                                   tags={**run_source(), "plexus.kind": "nas", "plexus.nas.controller": controller,
                                         "plexus.nas.space": space, "plexus.dataset": dataset,
                                         "plexus.model": NAS_MODEL, "plexus.seed": str(seed)})
        parent_id = parent.info.run_id
        log_dataset_inputs(client, parent_id, dataset, data, splits=False)
        params = {"budget": budget, "epochs": epochs, "controller": controller, "space": space, "seed": seed,
                  "share": ctl.shares_weights, "shared_epochs": shared_epochs if ctl.shares_weights else "",
                  "num_layers": getattr(the_space, "num_layers", ""),
                  "space_size": the_space.size(), "sampler": sampler or "", "pruner": pruner or "",
                  "choices": json.dumps(choices or {}, sort_keys=True), "overrides": " ".join(overrides or [])}
        client.log_batch(parent_id, params=[Param(k, str(v)[:6000]) for k, v in params.items()])
        state_file = Path(state_path) if state_path else files_root(uri) / "nas" / parent_id / "state.pt"
        client.set_tag(parent_id, "plexus.nas.state", str(state_file.resolve()))
    monitor = "val_acc"
    started = time.perf_counter() - (history[-1].get("elapsed_s", 0.0) if history else 0.0)
    try:
        while len(history) < budget:
            step = len(history)
            proposal = ctl.propose()
            arch_json = the_space.to_json(proposal.arch)
            cfg = build_config({
                "hparams": {**(raw.get("hparams") or {}), "arch": arch_json}, "train": raw["train"],
                "dataset_options": raw.get("dataset_options") or {},
                "tracking": {"plots": False, **(raw.get("tracking") or {}), "experiment": experiment,
                             "log_model": False, "checkpoints": False, "run_name": f"nas-{controller}-{step:03d}"},
            }, model=NAS_MODEL, dataset=dataset)
            sharing = WeightSharing(proposal.arch,
                                    proposal.parent if ctl.shares_weights else None,
                                    ctl.best_weights if ctl.shares_weights else None, shared_epochs=shared_epochs)
            tags = {"plexus.nas.controller": controller, "plexus.nas.space": space, "plexus.nas.arch": arch_json,
                    "plexus.nas.step": str(step), "plexus.nas.phase": str(proposal.info.get("phase", ""))}
            if "action" in proposal.info:
                tags["plexus.nas.action"] = proposal.info["action"]
            result: dict[str, Any] = {}
            reward, status = None, "COMPLETE"
            run_ids: list[str] = []
            try:
                result = train_model(cfg, task="node", tracking_uri=uri, progress=False,
                                     callbacks=[*ctl.callbacks(proposal, monitor), sharing], parent_run_id=parent_id,
                                     extra_tags=tags, log_model=False, on_run_created=run_ids.append)
                reward = float(result["best_value"])
            except Exception as exc:
                if type(exc).__name__ == "TrialPruned":
                    status = "PRUNED"
                elif isinstance(exc, ConfigError) and "loss became" in str(exc):
                    status = "FAILED"
                else:
                    raise
            ctl.observe(proposal, reward, status, sharing.trained_state)
            record = {"step": step, "arch": arch_json,
                      "reward": reward, "state": status, "run_id": run_ids[0] if run_ids else None,
                      "test_acc": result.get("metrics", {}).get("test_acc"), "phase": proposal.info.get("phase"),
                      "action": proposal.info.get("action"), "advantage": proposal.info.get("advantage"),
                      "inherited_layers": (sharing.report.inherited_layers
                                           if proposal.parent is not None and ctl.shares_weights else None),
                      "best_reward": ctl.best_reward if ctl.best_arch is not None else None,
                      "epochs_run": result.get("epochs_run"),
                      "elapsed_s": round(time.perf_counter() - started, 2)}
            history.append(record)
            if run_ids and proposal.parent is not None and ctl.shares_weights:
                client.set_tag(run_ids[0], "plexus.nas.inherited_layers",
                               ",".join(map(str, sharing.report.inherited_layers)) or "none")
            if reward is not None:
                client.log_metric(parent_id, "reward", reward, step=step)
            if ctl.best_arch is not None:
                client.log_metric(parent_id, "best_reward", ctl.best_reward, step=step)
            _save(state_file, {"controller_name": controller, "space": space, "dataset": dataset,
                               "parent_run_id": parent_id, "history": history, "controller": ctl.state_dict()})
            if echo is not None:
                echo(f"[{step + 1}/{budget}] {status} val_acc={reward if reward is None else round(reward, 4)} "
                     f"best={ctl.best_reward:.4f}" + (f" changed={record['action']}" if record["action"] else "")
                     + (f" inherited={record['inherited_layers']}" if record["inherited_layers"] is not None else ""))
    except KeyboardInterrupt:
        client.set_terminated(parent_id, status="KILLED")
        raise
    except BaseException as exc:
        client.set_tag(parent_id, "plexus.failure_reason", f"{type(exc).__name__}: {exc}"[:5000])
        client.set_terminated(parent_id, status="FAILED")
        raise
    done = [h for h in history if h["state"] == "COMPLETE" and h["reward"] is not None]
    best = max(done, key=lambda h: h["reward"]) if done else None
    if best is not None:
        client.set_tag(parent_id, "plexus.nas.best_arch", best["arch"])
        client.set_tag(parent_id, "plexus.nas.best_run_id", best["run_id"] or "")
        client.log_metric(parent_id, "best_val_acc", best["reward"])
        if best["test_acc"] is not None:
            client.log_metric(parent_id, "best_test_acc", float(best["test_acc"]))
    with tempfile.TemporaryDirectory() as tmp:
        hist = Path(tmp) / "nas_history.json"
        hist.write_text(json.dumps(history, indent=1, default=str))
        client.log_artifact(parent_id, str(hist))
    client.set_terminated(parent_id, status="FINISHED")
    return {"parent_run_id": parent_id, "uri": uri, "controller": controller, "space": space, "dataset": dataset,
            "budget": budget, "evaluated": len(history), "best": best, "history": history,
            "state_path": str(state_file), "tracking_uri": mask_url(uri), "experiment": experiment}


def _run_as_study(*, space: str, controller: str, dataset: str, budget: int, epochs: int, seed: int,
                  share: bool | None, sampler: str | None, pruner: str | None, choices: dict[str, list[Any]] | None,
                  overrides: list[str] | None, tracking_uri: str | None, experiment: str | None, resume: str | None,
                  workers: int, storage: str | None, echo: Callable[[str], None] | None) -> dict[str, Any]:
    """``optuna``/``random`` as a study of the search service: workers share the Optuna storage."""
    from mlflow.tracking import MlflowClient

    if controller not in ("optuna", "random"):
        raise ConfigError(f"--workers/--storage: the '{controller}' controller is sequential (each child changes the "
                          "current best in one action class); run it without them, or use --controller optuna|random")
    if space != "graphnas":
        raise ConfigError(f"--workers/--storage search the 'graphnas' space of the graphnas_net plugin, not '{space}'")
    if choices or share is not None or resume:
        raise ConfigError("--choices, --share and --resume apply to in-process searches; a study with --storage "
                          "resumes when the same command runs again")
    if budget < 1 or epochs < 1:
        raise ConfigError(f"--budget and --epochs must be >= 1, got {budget} and {epochs}")
    if controller == "random" and (sampler or pruner):
        raise ConfigError("--sampler/--pruner apply to the optuna controller, not 'random'")
    raw = child_raw(dataset, epochs, seed, overrides)
    raw["hparams"] = {"dropout": 0.6, **(raw.get("hparams") or {})}
    experiment = experiment or "plexus-nas"
    study = f"nas-{controller}-{dataset}-seed{seed}"
    raw["tracking"] = {"plots": False, **(raw.get("tracking") or {}), "experiment": experiment, "log_model": False,
                       "checkpoints": False}
    raw["search"] = {"trials": budget, "sampler": "random" if controller == "random" else (sampler or "tpe"),
                     "pruner": "none" if controller == "random" else (pruner or "median"), "storage": storage or "",
                     "study": study, "workers": workers, "seed": seed, "log_models": "none", "register": False}
    cfg = build_config(raw, model=NAS_MODEL, dataset=dataset)
    summary = search(cfg, tracking_uri=tracking_uri, task="node", echo=echo)
    uri = resolve_tracking_uri(tracking_uri or cfg.tracking.get("uri"))
    client = MlflowClient(uri)
    parent_id = summary["parent_run_id"]
    history = [{"step": t["number"], "arch": _study_arch(t.get("params") or {}), "reward": t.get("value"),
                "state": t.get("state"), "run_id": t.get("run_id"), "test_acc": None, "phase": "trial",
                "action": None, "advantage": None, "inherited_layers": None, "best_reward": None}
               for t in summary.get("trials", [])]
    best = None
    if summary.get("best"):
        b = summary["best"]
        arch = b["hparams"].get("arch") or b["params"].get("arch")
        best = {"step": b["number"], "arch": arch, "reward": b["value"], "state": "COMPLETE", "run_id": b["run_id"],
                "test_acc": (b.get("metrics") or {}).get("test_acc"), "phase": "trial", "action": None,
                "inherited_layers": None}
        client.set_tag(parent_id, "plexus.nas.best_arch", arch)
        client.set_tag(parent_id, "plexus.nas.best_run_id", b["run_id"] or "")
    for k, v in {"plexus.kind": "nas", "plexus.nas.controller": controller, "plexus.nas.space": space}.items():
        client.set_tag(parent_id, k, v)
    return {"parent_run_id": parent_id, "uri": uri, "controller": controller, "space": space, "dataset": dataset,
            "budget": budget, "evaluated": len(history), "best": best, "history": history,
            "state_path": f"optuna study '{study}' in {summary.get('storage')}", "tracking_uri": mask_url(uri),
            "experiment": experiment, "workers": workers}


def _study_arch(params: dict[str, Any]) -> str | None:
    """The architecture JSON of a study trial from its ``l{layer}.{class}`` parameters (GraphNASNet's space)."""
    space = GraphNASSpace(2)
    try:
        return space.decode([d.choices.index(params[f"l{d.layer}.{d.action}"]) for d in space.decisions]).to_json()
    except (KeyError, ValueError, ConfigError):
        return None


def _retrain(result: dict[str, Any], uri: str, *, seeds: int, top_k: int, epochs: int,
             overrides: list[str] | None, echo: Callable[[str], None] | None) -> dict[str, Any] | None:
    """Retrain the search's ``top_k`` architectures as runs nested under its parent; select on validation.

    The parent run gets metrics ``retrain_val_acc_mean``, ``retrain_test_acc_mean``/``_std`` (the selected
    architecture), ``retrain_selected_rank``, and tags ``plexus.nas.selected_arch`` and
    ``plexus.nas.retrain_runs`` (the selected architecture's runs); every retrain run is tagged
    ``plexus.nas.candidate`` (its rank by search reward, 0 = the search's best).
    """
    from mlflow.tracking import MlflowClient

    parent_id = result["parent_run_id"]

    def one(arch: str, rank: int) -> dict[str, Any]:
        return retrain_architecture(arch, dataset=result["dataset"], seeds=seeds, epochs=epochs, tracking_uri=uri,
                                    experiment=result["experiment"], controller=result["controller"],
                                    space=result["space"], parent_run_id=parent_id, overrides=overrides,
                                    extra_tags={"plexus.nas.candidate": str(rank)}, echo=echo)

    out = retrain_top_k(result["history"], k=top_k, retrain=one, echo=echo)
    if out is None:
        return None
    client = MlflowClient(uri)
    client.log_metric(parent_id, "retrain_val_acc_mean", out["val_mean"])
    client.log_metric(parent_id, "retrain_test_acc_mean", out["mean"])
    client.log_metric(parent_id, "retrain_test_acc_std", out["std"])
    client.log_metric(parent_id, "retrain_selected_rank", out["rank"])
    client.set_tag(parent_id, "plexus.nas.selected_arch", out["arch"])
    client.set_tag(parent_id, "plexus.nas.retrain_runs", ",".join(out["run_ids"]))
    return out


def architecture_of(run_id: str, tracking_uri: str | None = None) -> tuple[str, dict[str, str]]:
    """The architecture JSON of a NAS run: a search's result (parent run: the architecture selected by retraining,
    else the search's best) or the one a child run trained."""
    from mlflow.exceptions import MlflowException
    from mlflow.tracking import MlflowClient

    uri = resolve_tracking_uri(tracking_uri)
    ensure_reachable(uri)
    try:
        run = MlflowClient(uri).get_run(run_id)
    except MlflowException:
        raise ConfigError(f"no run '{run_id}' in the tracking store") from None
    tags = run.data.tags
    arch = tags.get("plexus.nas.selected_arch") or tags.get("plexus.nas.best_arch") or tags.get("plexus.nas.arch")
    if not arch:
        raise ConfigError(f"run '{run_id}' is not a NAS run (no plexus.nas.best_arch / plexus.nas.arch tag)")
    get_space(tags.get("plexus.nas.space", "graphnas")).from_json(arch)  # raises on a malformed description
    info = {k: v for k, v in tags.items() if k.startswith("plexus.")}
    info.update({f"metric.{k}": f"{v:.4f}" for k, v in run.data.metrics.items()
                 if k in ("best_val_acc", "best_test_acc", "retrain_val_acc_mean", "retrain_test_acc_mean",
                          "retrain_test_acc_std", "retrain_selected_rank", "test_acc", "val_acc")})
    return arch, info


def describe(arch: str, space: str = "graphnas") -> list[dict[str, Any]]:
    """One row per layer of an architecture description (for printing)."""
    obj = json.loads(get_space(space).to_json(get_space(space).from_json(arch)))
    return [{"layer": i, **layer} for i, layer in enumerate(obj["layers"])]


def train_config(run_id: str, tracking_uri: str | None = None, dataset: str | None = None) -> dict[str, Any]:
    """The raw config that retrains the architecture of NAS run ``run_id`` (``plexus train nas:RUN``) under the
    child protocol: its training settings and the dataset options of ``dataset`` (default: the search's)."""
    arch, info = architecture_of(run_id, tracking_uri)
    return {"model": NAS_MODEL, "hparams": {"arch": arch}, "train": dict(CHILD_TRAIN),
            "dataset_options": child_dataset_options(dataset or info.get("plexus.dataset", ""))}
