"""A dead worker's trial is retried from its last uploaded checkpoint, not from epoch 0."""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import optuna
import pytest
import torch

EPOCHS = 10


def _args(storage: str, tracking_uri: str, pruner: str = "median") -> list[str]:
    sets = {
        "search.pruner": pruner,
        "dataset_options.num_users": 1000,
        "epochs": EPOCHS,
        "batch_size": 16,  # ~0.6 s an epoch on a 2-core CPU box: the poll below sees checkpoints mid-trial
        "patience": 100,  # every trial trains every epoch
        "search.heartbeat_interval": 1,
        "search.grace_period": 3,
        "search.checkpoint_every_s": 1,
        "search.log_models": "none",
        "search.register": "false",
    }
    args = ["search", "lr", "--dataset", "synthetic-behavior", "--trials", "2", "--study", "resume",
            "--storage", storage, "--tracking-uri", tracking_uri, "--sampler", "random", "--json"]
    for k, v in sets.items():
        args += ["--set", f"{k}={v}"]
    return args


# with a pruner that never prunes the trial writes its Optuna reports in one go: at the end, and at each upload
@pytest.mark.parametrize("pruner", ["median", "none"])
def test_retried_trial_resumes_from_the_dead_trials_checkpoint(tmp_path: Path, tracking_uri: str,
                                                               pruner: str) -> None:
    import mlflow.artifacts
    from mlflow.tracking import MlflowClient
    from plexus.platform.search._resume import RESUMED_EPOCH_ATTR

    storage = f"sqlite:///{tmp_path / 'optuna.db'}"
    args = _args(storage, tracking_uri, pruner)
    cmd = [sys.executable, "-m", "plexus.cli", *args]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    client = MlflowClient(tracking_uri)
    proc = subprocess.Popen(cmd, cwd=tmp_path, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    victim, killed_ms, deadline = None, 0.0, time.time() + 300
    try:
        while time.time() < deadline and proc.poll() is None:  # kill it once a checkpoint was uploaded
            time.sleep(0.3)
            try:
                running = optuna.load_study(study_name="resume", storage=storage).get_trials(
                    states=(optuna.trial.TrialState.RUNNING,))
            except Exception:  # noqa: BLE001,S112 - study not created yet
                continue
            run_id = running[0].user_attrs.get("mlflow_run_id") if running else None
            if run_id and len(running[0].intermediate_values) >= 3 and client.list_artifacts(run_id, "checkpoint"):
                proc.send_signal(signal.SIGKILL)
                killed_ms, victim = time.time() * 1000, running[0]
                break
    finally:
        if proc.poll() is None and victim is None:
            proc.kill()
        proc.wait()
    assert victim is not None, "the search finished or stalled before a trial uploaded a checkpoint"
    run_id = victim.user_attrs["mlflow_run_id"]
    ckpt = mlflow.artifacts.download_artifacts(run_id=run_id, artifact_path="checkpoint/last.pt",
                                               dst_path=str(tmp_path / "ckpt"), tracking_uri=tracking_uri)
    saved_epoch = int(torch.load(ckpt, map_location="cpu", weights_only=True)["epoch"])
    assert 1 <= saved_epoch < EPOCHS

    done = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads(done.stdout)
    assert result["finished"] == 2 and result["complete"] is True

    trials = optuna.load_study(study_name="resume", storage=storage).trials
    assert trials[victim.number].state.name == "FAIL"
    retries = [t for t in trials if t.system_attrs.get("failed_trial") == victim.number]
    assert len(retries) == 1, [t.system_attrs for t in trials]  # retried once, not lost or run twice
    retry = retries[0]
    assert retry.state.name == "COMPLETE" and retry.params == victim.params
    assert [t.state.name for t in trials].count("COMPLETE") == 2 and len(trials) == 3
    # it trained from the checkpoint on: its first epoch is the one after the checkpoint's
    assert retry.user_attrs[RESUMED_EPOCH_ATTR] == saved_epoch
    assert retry.user_attrs["plexus.epochs"] == EPOCHS
    # the earlier evaluations were copied, the later ones reported once each: one value per epoch
    assert sorted(retry.intermediate_values) == list(range(1, EPOCHS + 1))
    for step in range(1, saved_epoch + 1):
        assert retry.intermediate_values[step] == victim.intermediate_values[step]

    # the same run continues: one finished run per trial, the whole curve in it
    assert retry.user_attrs["mlflow_run_id"] == run_id
    run = client.get_run(run_id)
    assert run.info.status == "FINISHED" and run.data.tags["plexus.state"] == "COMPLETE"
    assert run.data.tags["plexus.retry_of"] == str(victim.number)
    assert run.data.tags["plexus.trial"] == str(retry.number)
    assert "plexus.failure_reason" not in run.data.tags
    losses = client.get_metric_history(run_id, "train_loss")
    assert {m.step for m in losses} == set(range(1, EPOCHS + 1))
    # epochs up to the checkpoint were trained once, before the kill; the retry trained only the later ones
    assert all(m.timestamp < killed_ms for m in losses if m.step <= saved_epoch)
    assert any(m.timestamp > killed_ms for m in losses if m.step == saved_epoch + 1)
    history = json.loads(Path(mlflow.artifacts.download_artifacts(
        run_id=run_id, artifact_path="history.json", dst_path=str(tmp_path / "h"), tracking_uri=tracking_uri,
    )).read_text())
    assert [h["epoch"] for h in history] == list(range(1, EPOCHS + 1))
    assert math.isfinite(retry.value) and 0.5 < retry.value <= 1.0  # val_auc of a trained model
    assert retry.value == retry.user_attrs["plexus.metrics"]["val_auc"]
