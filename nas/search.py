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
from plexus.nas.controllers import make_controller
from plexus.nas.sharing import WeightSharing
from plexus.nas.spaces import get_space
from plexus.platform.config import apply_overrides, build_config, parse_set
from plexus.platform.errors import CheckpointError, ConfigError

__all__ = ["NAS_MODEL", "load_state", "run_nas"]

NAS_MODEL = "graphnas_net"
#: GraphNAS' child-training defaults (Adam lr 0.005, weight decay 5e-4, dropout 0.6)
CHILD_TRAIN = {"lr": 0.005, "weight_decay": 5e-4, "no_decay_embeddings": False, "patience": 20}


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


def run_nas(*, space: str = "graphnas", controller: str = "rcnas", dataset: str = "cora", budget: int = 10,
            epochs: int = 100, seed: int = 0, share: bool | None = None, sampler: str | None = None,
            pruner: str | None = None, choices: dict[str, list[Any]] | None = None, overrides: list[str] | None = None,
            tracking_uri: str | None = None, experiment: str | None = None, resume: str | None = None,
            state_path: str | None = None, echo: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Search ``budget`` architectures of ``space`` on ``dataset`` with ``controller``; returns the best and history.

    ``overrides`` are ``--set key=value`` strings for the child runs (``train.lr=0.01``, ``dropout=0.5``).
    """
    from mlflow.entities import Param
    from mlflow.tracking import MlflowClient
    from plexus.platform.catalog import get_catalog
    from plexus.platform.tracking import ensure_reachable, get_experiment_id, mask_url, resolve_tracking_uri
    from plexus.platform.training import train_model

    if budget < 1:
        raise ConfigError(f"--budget must be >= 1, got {budget}")
    if epochs < 1:
        raise ConfigError(f"--epochs must be >= 1, got {epochs}")
    schema = get_catalog().model(NAS_MODEL).schema  # raises when the plugin is missing or broken
    ds_entry = get_catalog().dataset(dataset)
    if "node" not in ds_entry.tasks:
        raise ConfigError(f"space '{space}' searches node classifiers; dataset '{dataset}' has tasks {ds_entry.tasks}")
    the_space = get_space(space, dataset, choices=choices)
    options: dict[str, Any] = {"share": share} if controller == "rcnas" else {}
    if controller == "optuna":
        options.update(sampler=sampler, pruner=pruner)
    elif sampler or pruner:
        raise ConfigError(f"--sampler/--pruner apply to the optuna controller, not '{controller}'")
    ctl = make_controller(controller, the_space, seed, **options)
    raw = apply_overrides({"train": {**CHILD_TRAIN, "epochs": epochs, "seed": seed}}, parse_set(overrides))
    build_config(raw, model=NAS_MODEL, dataset=dataset)  # validates the train settings before any run
    schema.validate(raw.get("hparams") or {}, owner=f"model '{NAS_MODEL}'")
    uri = resolve_tracking_uri(tracking_uri)
    ensure_reachable(uri)
    client = MlflowClient(uri)
    experiment = experiment or "plexus-nas"
    history: list[dict[str, Any]] = []
    if resume:
        state, state_file = load_state(resume, client)
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
                                   tags={"plexus.kind": "nas", "plexus.nas.controller": controller,
                                         "plexus.nas.space": space, "plexus.dataset": dataset,
                                         "plexus.model": NAS_MODEL, "plexus.seed": str(seed)})
        parent_id = parent.info.run_id
        params = {"budget": budget, "epochs": epochs, "controller": controller, "space": space, "seed": seed,
                  "share": ctl.shares_weights, "num_layers": getattr(the_space, "num_layers", ""),
                  "space_size": the_space.size(), "sampler": sampler or "", "pruner": pruner or "",
                  "choices": json.dumps(choices or {}, sort_keys=True), "overrides": " ".join(overrides or [])}
        client.log_batch(parent_id, params=[Param(k, str(v)[:6000]) for k, v in params.items()])
        state_file = Path(state_path) if state_path else Path.cwd() / "mlruns" / "nas" / parent_id / "state.pt"
        client.set_tag(parent_id, "plexus.nas.state", str(state_file.resolve()))
    monitor = "val_acc"
    try:
        while len(history) < budget:
            step = len(history)
            proposal = ctl.propose()
            arch_json = the_space.to_json(proposal.arch)
            cfg = build_config({
                "hparams": {**(raw.get("hparams") or {}), "arch": arch_json}, "train": raw["train"],
                "dataset_options": raw.get("dataset_options") or {},
                "tracking": {**(raw.get("tracking") or {}), "experiment": experiment, "log_model": False,
                             "checkpoints": False, "run_name": f"nas-{controller}-{step:03d}"},
            }, model=NAS_MODEL, dataset=dataset)
            sharing = WeightSharing(proposal.arch,
                                    proposal.parent if ctl.shares_weights else None,
                                    ctl.best_weights if ctl.shares_weights else None)
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
                      "best_reward": ctl.best_reward if ctl.best_arch is not None else None}
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
    return {"parent_run_id": parent_id, "controller": controller, "space": space, "dataset": dataset,
            "budget": budget, "evaluated": len(history), "best": best, "history": history,
            "state_path": str(state_file), "tracking_uri": mask_url(uri), "experiment": experiment}
