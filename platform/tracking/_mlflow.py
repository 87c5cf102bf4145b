"""MLflow tracking callback: params, tags, per-epoch metrics, artifacts and the trained model."""

from __future__ import annotations

import functools
import json
import os
import platform as _stdlib_platform
import subprocess
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml
from plexus.platform.tracking._inputs import log_dataset_inputs, run_source
from plexus.platform.tracking._lock import sqlite_path
from plexus.platform.tracking._process import process_tags
from plexus.platform.tracking._store import mask_secrets, mask_text, mask_url, prepare_tracking_store
from plexus.platform.training.callbacks import Callback

if TYPE_CHECKING:
    from plexus.platform.training.trainer import Trainer

__all__ = ["MLflowTracker", "run_name", "git_commit", "get_experiment_id"]

_REPO = Path(__file__).resolve().parents[2]


@functools.cache
def git_commit() -> str:
    """The source's commit (one ``git`` subprocess per process: the source does not change under it)."""
    try:
        out = subprocess.run(["git", "-C", str(_REPO), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5)
        return out.stdout.strip() or "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def run_name(model: str, dataset: str, suffix: str = "") -> str:
    stamp = time.strftime("%Y%m%d-%H%M%S")
    return f"{model}-{dataset}-{suffix + '-' if suffix else ''}{stamp}"


def get_experiment_id(client: Any, name: str) -> str:
    exp = client.get_experiment_by_name(name)
    if exp is not None:
        return exp.experiment_id
    uri = client.tracking_uri if hasattr(client, "tracking_uri") else ""
    artifact = None
    db = sqlite_path(str(uri))  # sqlite:///path, also sqlite:///file:path?mode=ro&uri=true
    if db is not None:
        artifact = (db.resolve().parent / "artifacts" / name).as_uri()
    try:
        return client.create_experiment(name, artifact_location=artifact)
    except Exception:  # noqa: BLE001 - created concurrently by another worker
        exp = client.get_experiment_by_name(name)
        if exp is None:
            raise
        return exp.experiment_id


@functools.cache
def _versions() -> dict[str, str]:
    import torch

    import plexus

    v = {"plexus.version": plexus.__version__, "torch_version": torch.__version__,
         "python_version": _stdlib_platform.python_version()}
    try:
        import torch_geometric

        v["pyg_version"] = torch_geometric.__version__
    except ImportError:  # pragma: no cover
        pass
    return v


def metric_key(name: str) -> str:
    """MLflow refuses ``@`` in metric names: ``val_hits@100`` is logged as ``val_hits_at_100``."""
    return name.replace("@", "_at_")


class MLflowTracker(Callback):
    """Log one training run to MLflow.

    Args:
        tracking_uri: resolved tracking URI.
        experiment: experiment name.
        run_name: readable run name (``model-dataset-...``).
        config: the resolved experiment config (logged flattened as params and as ``config.yaml``).
        tags: tags to set (``plexus.model``, ``plexus.task``, ...).
        run_id: resume this run instead of creating one.
        parent_run_id: nest the run under this parent (search studies).
        model_export: a callable ``(trainer, artifact_dir) -> None`` writing model artifacts, or None.
        flush_every_s: per-epoch metrics are buffered and sent in one batch once the oldest is this old
            (default 2.0; 0 sends every epoch). The buffer is also sent at fit end, on failure and before
            every checkpoint (:meth:`state_dict`), so a resumed run never misses an epoch. Writing one batch
            per epoch costs ~18 ms on a SQLite store: more than an epoch of a small graph model on a GPU.
        plots: log ``learning_curve.png`` at fit end (default True; a search's many short children skip it,
            the curves are in the per-epoch metrics anyway).
        params: more params for a new run, logged with the config's (a search's ``optuna.*`` names).
    """

    def __init__(self, tracking_uri: str, experiment: str, run_name: str, config: dict[str, Any],
                 tags: dict[str, str], run_id: str | None = None, parent_run_id: str | None = None,
                 model_export: Any = None, flush_every_s: float = 2.0, plots: bool = True,
                 params: dict[str, str] | None = None) -> None:
        from mlflow.tracking import MlflowClient

        prepare_tracking_store(tracking_uri)  # a new store's schema is created once, under an inter-process lock
        self.client = MlflowClient(tracking_uri)
        self.tracking_uri = tracking_uri
        self.experiment, self.run_name, self.config = experiment, run_name, config
        self.tags, self.run_id, self.parent_run_id = dict(tags), run_id, parent_run_id
        self.model_export = model_export
        self.flush_every_s, self.plots = float(flush_every_s), bool(plots)
        self.extra_params = dict(params or {})
        self.logged_epochs: int = 0
        self._pending: list[Any] = []
        self._pending_epoch = 0
        self._oldest = 0.0
        self._inputs_logged = run_id is not None  # a resumed run logged its inputs when it started

    # -- lifecycle -------------------------------------------------------
    def start(self) -> str:
        """Create (or re-open) the run; returns its id. Called before training starts."""
        from mlflow.entities import Param
        from plexus.platform.config import flatten

        if self.run_id is not None:
            # a run found RUNNING was not ended by its process (killed: SIGKILL, OOM, power loss)
            previous = self.client.get_run(self.run_id).info.status
            self.client.set_tag(self.run_id, "plexus.resumed_from_status",
                                "KILLED" if previous == "RUNNING" else previous)
            self.client.update_run(self.run_id, status="RUNNING")
            self.client.set_tag(self.run_id, "plexus.resumed", "true")
            for k, v in process_tags().items():  # the resuming process now owns the run (plexus runs gc)
                self.client.set_tag(self.run_id, k, v)
            return self.run_id
        exp_id = get_experiment_id(self.client, self.experiment)
        tags = {"mlflow.runName": self.run_name, **run_source(), **self.tags, **_versions(),
                "plexus.git_commit": git_commit(), "mlflow.user": os.environ.get("USER", "plexus"),
                **process_tags()}
        if self.parent_run_id:
            tags["mlflow.parentRunId"] = self.parent_run_id
        run = self.client.create_run(exp_id, run_name=self.run_name, tags=tags)
        self.run_id = run.info.run_id
        params = [Param(k, mask_text(str(v))[:6000]) for k, v in {**flatten(self.config), **self.extra_params}.items()]
        for i in range(0, len(params), 90):
            self.client.log_batch(self.run_id, params=params[i:i + 90])
        with tempfile.TemporaryDirectory() as tmp:
            p = Path(tmp) / "config.yaml"
            p.write_text(yaml.safe_dump(mask_secrets(json.loads(json.dumps(self.config, default=str))),
                                        sort_keys=False))
            self.client.log_artifact(self.run_id, str(p))
        return self.run_id

    def on_fit_start(self, trainer: Trainer) -> None:
        if self.run_id is None:
            self.start()
        from mlflow.entities import RunTag

        # the monitored metric and its direction, so that comparisons rank runs the way training did;
        # one batch: each call is a commit (~13 ms on a SQLite file)
        self.client.log_batch(self.run_id, tags=[
            RunTag("plexus.device", str(trainer.device)),
            RunTag("plexus.checkpoint_dir", str(trainer.checkpoint_dir or "")),
            RunTag("plexus.monitor", str(trainer.monitor)), RunTag("plexus.mode", str(trainer.mode))])
        dataset = getattr(getattr(trainer, "task", None), "dataset", None)
        if dataset is not None and not self._inputs_logged:
            log_dataset_inputs(self.client, self.run_id, self.tags.get("plexus.dataset", dataset.name), dataset)
            self._inputs_logged = True

    def on_epoch_end(self, trainer: Trainer, epoch: int, metrics: dict[str, float]) -> None:
        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        ms = [Metric(metric_key(k), float(v), now, epoch) for k, v in metrics.items() if k != "epoch" and v == v]
        ms.append(Metric("lr", float(trainer.optimizer.param_groups[0]["lr"]), now, epoch))
        if not self._pending:
            self._oldest = time.monotonic()
        self._pending.extend(ms)
        self._pending_epoch = epoch
        if time.monotonic() - self._oldest >= self.flush_every_s:
            self.flush()

    def flush(self, tags: list[Any] | None = None) -> None:
        """Send the buffered per-epoch metrics (MLflow takes at most 1000 metrics per batch), and ``tags``
        with the first batch."""
        tags = list(tags or [])
        while self._pending or tags:
            self.client.log_batch(self.run_id, metrics=self._pending[:1000], tags=tags)
            del self._pending[:1000]
            tags = []
        self.logged_epochs = max(self.logged_epochs, self._pending_epoch)

    def on_fit_end(self, trainer: Trainer, result: dict[str, Any]) -> None:
        from mlflow.entities import Metric, RunTag

        now = int(time.time() * 1000)
        # validation metrics of the restored best model get a "best_" prefix so the per-epoch curves stay clean
        ms = [Metric(metric_key(k if k.startswith("test_") else f"best_{k}"), float(v), now, trainer.epoch)
              for k, v in result["metrics"].items()]
        ms += [Metric("best_epoch", float(result["best_epoch"]), now, trainer.epoch),
               Metric("duration_s", float(result["duration_s"]), now, trainer.epoch)]
        # the last epochs' buffered metrics, the final ones and the stop reason: one commit, not three
        self._pending.extend(ms)
        self.flush([RunTag("plexus.stopped", result["stopped"][:500])] if result.get("stopped") else None)
        with tempfile.TemporaryDirectory() as tmp:
            curve = (_learning_curve(result["history"], trainer.monitor, Path(tmp) / "learning_curve.png")
                     if self.plots else None)
            if curve is not None:
                self.client.log_artifact(self.run_id, str(curve))
            hist = Path(tmp) / "history.json"
            hist.write_text(json.dumps(result["history"], indent=1))
            self.client.log_artifact(self.run_id, str(hist))
        if self.model_export is not None:
            self.model_export(self, trainer)

    def finish(self, status: str = "FINISHED", reason: str = "") -> None:
        if self.run_id is None:
            return
        try:
            self.flush()
        except Exception:  # noqa: BLE001 - the run's status must still be recorded when the store hiccups
            self._pending.clear()
        if reason:
            self.client.set_tag(self.run_id, "plexus.failure_reason", mask_text(reason)[:5000])
        self.client.set_terminated(self.run_id, status=status)

    def on_exception(self, trainer: Trainer, exc: BaseException) -> None:
        name = type(exc).__name__
        if name == "TrialPruned":
            self.client.set_tag(self.run_id, "plexus.state", "PRUNED")
            self.finish("FINISHED")
        elif isinstance(exc, KeyboardInterrupt):
            self.finish("KILLED", "interrupted")
        else:
            self.finish("FAILED", f"{name}: {exc}")

    def state_dict(self) -> dict[str, Any]:
        self.flush()
        return {"run_id": self.run_id or "", "logged_epochs": self.logged_epochs}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.logged_epochs = state["logged_epochs"]

    def describe_uri(self) -> str:
        return mask_url(self.tracking_uri)


def _learning_curve(history: list[dict[str, float]], monitor: str, path: Path) -> Path | None:
    if not history:
        return None
    from matplotlib.figure import Figure  # no pyplot: no global figure state, no GUI backend to pick

    epochs = [h["epoch"] for h in history if "epoch" in h]
    fig = Figure(figsize=(6, 3.5))
    ax1 = fig.add_subplot()
    ax1.plot(epochs, [h.get("train_loss", float("nan")) for h in history if "epoch" in h], "o-", label="train_loss")
    ax1.set_xlabel("epoch")
    ax1.set_ylabel("train loss")
    ax2 = ax1.twinx()
    ax2.plot(epochs, [h.get(monitor, float("nan")) for h in history if "epoch" in h], "s-", color="tab:orange",
             label=monitor)
    ax2.set_ylabel(monitor)
    fig.legend(loc="upper center", ncol=2, fontsize=8)
    fig.subplots_adjust(left=0.13, right=0.86, bottom=0.14, top=0.86)  # fixed margins: tight_layout drew twice
    fig.savefig(path, dpi=90)
    return path
