"""A trial's checkpoint as an artifact of its MLflow run, and the retry of a dead trial that resumes from it.

A worker that dies (SIGKILL, OOM, a lost host) stops sending heartbeats; another worker fails its trial and
runs a retry with the same parameters (Optuna's ``RetryFailedTrialCallback``). The retry finds the dead
trial's run, downloads ``checkpoint/last.pt`` from it and continues the same run from that epoch: model,
optimizer, scheduler, RNG and callback states. The artifact goes through the tracking store (a served
artifact store or a local folder), so the workers need no shared filesystem.

The retry re-opens the dead trial's run rather than starting a new one: a trial stays one run, whose
per-epoch metrics are the whole curve, so ``plexus compare``, the study report and the MLflow UI see one
finished run per trial, not a failed half and a resumed half.
"""

from __future__ import annotations

import tempfile
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

from plexus.platform.search._storage import RUN_ID_ATTR
from plexus.platform.training.callbacks import Callback
from plexus.platform.training.checkpoint import load_checkpoint

__all__ = ["CHECKPOINT_ARTIFACT", "RESUMED_EPOCH_ATTR", "CheckpointUploader", "Resumed", "find_resume", "mark_resumed"]

CHECKPOINT_ARTIFACT = "checkpoint/last.pt"
RESUMED_EPOCH_ATTR = "plexus.resumed_from_epoch"  # trial user attr: the epoch the retry started after


class CheckpointUploader(Callback):
    """Upload the trainer's checkpoint as ``checkpoint/last.pt`` of the trial's run.

    At the end of an epoch once ``every_s`` seconds have passed since the fit started or the last upload
    (so every epoch when epochs are longer than that); never after the last epoch (the trial is ending).

    Args:
        tracking_uri: the tracking store of the run.
        every_s: seconds between uploads (> 0).
        run_ids: filled with the trial's run id once its run exists.
        on_upload: called after each upload (the trial writes its deferred Optuna reports then, so a retry
            resuming from this checkpoint finds the reports of every epoch before it).
    """

    def __init__(self, tracking_uri: str, every_s: float, run_ids: list[str],
                 on_upload: Callable[[], None] | None = None) -> None:
        self.tracking_uri, self.every_s, self.run_ids = tracking_uri, float(every_s), run_ids
        self.on_upload = on_upload
        self.start_epoch = 0
        self.uploads = 0
        self.upload_s = 0.0
        self._last = time.monotonic()

    def on_fit_start(self, trainer: Any) -> None:
        self.start_epoch = int(trainer.epoch)  # > 0 when the trainer was loaded from a checkpoint
        self._last = time.monotonic()

    def on_epoch_end(self, trainer: Any, epoch: int, metrics: dict[str, float]) -> None:
        if not self.run_ids or trainer.epoch >= trainer.cfg.epochs or time.monotonic() - self._last < self.every_s:
            return
        from mlflow.tracking import MlflowClient

        t0 = time.perf_counter()
        with tempfile.TemporaryDirectory() as tmp:
            path = trainer.save(Path(tmp) / "last.pt")  # also flushes the tracker's buffered metrics
            MlflowClient(self.tracking_uri).log_artifact(self.run_ids[0], str(path), "checkpoint")
        if self.on_upload is not None:
            self.on_upload()
        self.uploads += 1
        self.upload_s += time.perf_counter() - t0
        self._last = time.monotonic()


class Resumed:
    """The checkpoint a retried trial resumes from (``path`` lies in a folder the caller owns)."""

    def __init__(self, path: Path, run_id: str, failed_trial: int, epoch: int) -> None:
        self.path, self.run_id, self.failed_trial, self.epoch = path, run_id, failed_trial, epoch


def find_resume(study: Any, trial: Any, tracking_uri: str, dest: Path) -> Resumed | None:
    """The dead trial's last uploaded checkpoint, downloaded under ``dest``; None for a fresh start.

    Also copies the dead trial's intermediate values up to the checkpoint's evaluation count into
    ``trial``: pruners compare a trial's values step by step (the median pruner takes its best value over
    every step), and the retry reports only the evaluations after the checkpoint, none twice.
    """
    from optuna.storages import RetryFailedTrialCallback

    number = RetryFailedTrialCallback.retried_trial_number(study._storage.get_trial(trial._trial_id))
    if number is None:
        return None
    failed = next((t for t in study.get_trials(deepcopy=False) if t.number == number), None)
    run_id = failed.user_attrs.get(RUN_ID_ATTR) if failed is not None else None
    if not run_id:
        return None
    try:
        import mlflow.artifacts
        from mlflow.tracking import MlflowClient

        if not MlflowClient(tracking_uri).list_artifacts(run_id, "checkpoint"):
            return None
        path = Path(mlflow.artifacts.download_artifacts(
            run_id=run_id, artifact_path=CHECKPOINT_ARTIFACT, dst_path=str(dest), tracking_uri=tracking_uri))
        state = load_checkpoint(path)
    except Exception as exc:  # noqa: BLE001 - a lost or torn upload: start afresh
        warnings.warn(f"trial {trial.number}: no usable checkpoint of trial {number} ({exc}); starting afresh",
                      stacklevel=2)
        return None
    if state.get("meta", {}).get("run_id") != run_id:
        return None  # a checkpoint of another run: never continue a run with foreign weights
    reported = max((int(s.get("reported", 0)) for k, s in state.get("callbacks", {}).items()
                    if k.startswith("PruningHook#")), default=0)
    for step, value in sorted(failed.intermediate_values.items()):
        if step <= reported:
            study._storage.set_trial_intermediate_value(trial._trial_id, step, value)
    return Resumed(path, run_id, number, int(state["epoch"]))


def mark_resumed(tracking_uri: str, run_id: str, trial: Any, resumed: Resumed) -> None:
    """The re-opened run now belongs to the retry: its trial number, what it retried, the epoch it resumed at."""
    from mlflow.entities import RunTag
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri)
    client.log_batch(run_id, tags=[RunTag("plexus.trial", str(trial.number)),
                                   RunTag("plexus.retry_of", str(resumed.failed_trial)),
                                   RunTag(RESUMED_EPOCH_ATTR, str(resumed.epoch))])
    try:
        client.delete_tag(run_id, "plexus.failure_reason")  # set when its worker was found dead
    except Exception:  # noqa: BLE001,S110 - no such tag
        pass
    trial.set_user_attr(RESUMED_EPOCH_ATTR, resumed.epoch)
