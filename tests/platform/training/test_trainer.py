"""Trainer: exact resume, SIGKILL resume, DDP, early stopping, checkpoints, weight-decay groups."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from plexus.platform.config import TrainConfig, build_config
from plexus.platform.errors import CheckpointError
from plexus.platform.training import (
    EarlyStopping,
    StopTraining,
    TimeLimit,
    load_checkpoint,
    save_checkpoint,
    train_model,
)
from plexus.platform.training.callbacks import Callback
from plexus.platform.training.trainer import flush_denormal, flushing_denormals, param_groups

REPO = Path(__file__).resolve().parents[3]

# The services under test need some CTR dataset, not Criteo: the generated one runs on a fresh, offline machine.
DATASET = "synthetic-behavior"
USERS = 200  # small for speed (about 4k training rows)
DATA_ARGS = ["--dataset", DATASET, "--set", f"dataset_options.num_users={USERS}"]


def cfg(model: str, dataset: str, tmp: Path, **train) -> object:
    return build_config({"train": {"seed": 3, "deterministic": True, **train},
                         "tracking": {"checkpoint_dir": str(tmp / "ckpt"), "log_model": False},
                         "dataset_options": {"num_users": USERS}},
                        model=model, dataset=dataset)


def weights(path: Path) -> dict[str, torch.Tensor]:
    return load_checkpoint(path)["model"]


def test_exact_resume_matches_uninterrupted(tmp_path: Path, tracking_uri: str) -> None:
    full = train_model(cfg("dnn", DATASET, tmp_path / "a", epochs=4, batch_size=256, patience=0),
                       tracking_uri=tracking_uri, progress=False)
    half = train_model(cfg("dnn", DATASET, tmp_path / "b", epochs=2, batch_size=256, patience=0),
                       tracking_uri=tracking_uri, progress=False)
    resumed = train_model(cfg("dnn", DATASET, tmp_path / "b", epochs=4, batch_size=256, patience=0),
                          tracking_uri=tracking_uri, progress=False, resume=half["run_id"])
    assert resumed["run_id"] == half["run_id"]
    wa = weights(Path(full["checkpoint_dir"]) / "last.pt")
    wb = weights(Path(resumed["checkpoint_dir"]) / "last.pt")
    assert wa.keys() == wb.keys()
    for k in wa:
        assert torch.equal(wa[k], wb[k]), k
    assert [h["val_auc"] for h in full["history"]] == [h["val_auc"] for h in resumed["history"]]
    assert full["metrics"] == resumed["metrics"]
    # the resumed run continued the same MLflow run: 4 epochs of val_auc in one history
    from mlflow.tracking import MlflowClient

    hist = MlflowClient(tracking_uri).get_metric_history(half["run_id"], "val_auc")
    assert sorted(m.step for m in hist) == [1, 2, 3, 4]


def _plexus(*args: str, cwd: Path, **kw) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "plexus.cli", *args], cwd=cwd, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, **kw)


def test_sigkill_in_epoch_three_resumes_to_same_result(tmp_path: Path, tracking_uri: str) -> None:
    args = ["train", "lr", *DATA_ARGS, "--json", "--tracking-uri", tracking_uri,
            "--set", "epochs=5", "--set", "batch_size=32", "--set", "patience=0", "--set", "seed=5",
            "--set", "tracking.log_model=false"]
    ref = _plexus(*args, "--set", f"tracking.checkpoint_dir={tmp_path / 'ref'}", cwd=tmp_path)
    out, err = ref.communicate(timeout=900)
    assert ref.returncode == 0, err
    reference = json.loads(out)

    victim = _plexus(*args, "--set", f"tracking.checkpoint_dir={tmp_path / 'victim'}", cwd=tmp_path)
    deadline = time.time() + 900
    ckpts = tmp_path / "victim"
    killed_at = None
    while time.time() < deadline and victim.poll() is None:
        found = list(ckpts.glob("*/last.pt"))
        if found:
            try:
                epoch = torch.load(found[0], weights_only=True)["epoch"]
            except Exception:  # noqa: BLE001 - file being replaced; look again
                epoch = 0
            if epoch >= 2:
                victim.send_signal(signal.SIGKILL)
                killed_at = epoch
                break
        time.sleep(0.05)
    victim.wait(timeout=60)
    assert killed_at is not None and killed_at < 5, "the process was not killed mid-training"
    assert victim.returncode == -signal.SIGKILL
    run_dir = next(ckpts.glob("*/last.pt")).parent
    resumed = _plexus(*args, "--resume", run_dir.name, cwd=tmp_path)
    out, err = resumed.communicate(timeout=900)
    assert resumed.returncode == 0, err
    result = json.loads(out)
    assert result["run_id"] == run_dir.name
    assert result["metrics"] == reference["metrics"]
    wa = weights(Path(reference["checkpoint_dir"]) / "last.pt")
    wb = weights(run_dir / "last.pt")
    assert all(torch.equal(wa[k], wb[k]) for k in wa)


def test_ddp_two_processes_match_one(tmp_path: Path) -> None:
    common = [*DATA_ARGS, "--json", "--set", "epochs=2", "--set", "batch_size=256",
              "--set", "patience=0", "--set", "tracking.enabled=false", "--set", "seed=1"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    one = subprocess.run([sys.executable, "-m", "plexus.cli", "train", "dnn", *common],
                         check=False, capture_output=True, text=True, cwd=tmp_path, env=env, timeout=900)
    assert one.returncode == 0, one.stderr
    two = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2", "--master_port=29533",
                          "-m", "plexus.cli", "train", "dnn", *common],
                         check=False, capture_output=True, text=True, cwd=tmp_path, env=env, timeout=900)
    assert two.returncode == 0, two.stderr[-3000:]
    r1 = json.loads(one.stdout)
    r2 = json.loads(two.stdout[two.stdout.index("{"):])
    assert r2["world_size"] == 2 and r1["world_size"] == 1
    for k in ("val_auc", "test_auc", "val_logloss"):
        assert abs(r1["metrics"][k] - r2["metrics"][k]) < 2e-3, (k, r1["metrics"][k], r2["metrics"][k])


def test_early_stopping_state_round_trip() -> None:
    es = EarlyStopping("val_auc", "max", patience=2, min_delta=0.01)
    es.on_evaluate(None, 1, {"val_auc": 0.7})
    es.on_evaluate(None, 2, {"val_auc": 0.705})  # below min_delta: no improvement
    other = EarlyStopping("val_auc", "max", patience=2, min_delta=0.01)
    other.load_state_dict(es.state_dict())
    assert other.best == 0.7 and other.bad == 1
    with pytest.raises(StopTraining):
        other.on_evaluate(None, 3, {"val_auc": 0.6})
    lo = EarlyStopping("val_loss", "min", patience=1)
    lo.on_evaluate(None, 1, {"val_loss": 1.0})
    lo.on_evaluate(None, 2, {"val_loss": 0.5})
    assert lo.best == 0.5 and lo.bad == 0


def test_time_limit_stops_at_a_validation_and_still_tests(tmp_path: Path, tracking_uri: str) -> None:
    """A budget spent by the first validation ends the run there: the epoch is checkpointed and the best
    state's test metrics are reported; an ample budget changes nothing."""
    cut = train_model(cfg("dnn", DATASET, tmp_path / "a", epochs=3, batch_size=256, patience=0,
                          time_limit=1e-6), tracking_uri=tracking_uri, progress=False)
    assert cut["epochs_run"] == 1 and cut["stopped"].startswith("time limit")
    assert 0.0 <= cut["metrics"]["test_auc"] <= 1.0
    ckpt = load_checkpoint(Path(cut["checkpoint_dir"]) / "last.pt")
    assert ckpt["epoch"] == 1
    saved = next(v for k, v in ckpt["callbacks"].items() if k.startswith("TimeLimit"))
    assert saved["spent"] > 0 and saved["longest"] > 0
    ample = train_model(cfg("dnn", DATASET, tmp_path / "b", epochs=2, batch_size=256, patience=0,
                            time_limit=1e6), tracking_uri=tracking_uri, progress=False)
    assert ample["epochs_run"] == 2 and ample["stopped"] == ""


def test_time_limit_counts_time_spent_before_a_resume() -> None:
    """A resumed run's earlier time counts: with 99 of 100 s spent and 5 s per validation, the first
    validation after resuming stops it; a fresh limiter does not stop."""
    fresh = TimeLimit(100)
    fresh.on_fit_start(None)
    fresh.on_evaluate(None, 1, {})
    resumed = TimeLimit(100)
    resumed.load_state_dict({"spent": 99.0, "longest": 5.0})
    resumed.on_fit_start(None)
    with pytest.raises(StopTraining, match="time limit"):
        resumed.on_evaluate(None, 1, {})
    with pytest.raises(ValueError):
        TimeLimit(0)


def test_weight_decay_groups_skip_embeddings_and_biases() -> None:
    model = torch.nn.Sequential(torch.nn.Embedding(10, 4), torch.nn.Linear(4, 2))
    decay, no_decay = param_groups(model, 0.1, True)
    assert [p.shape for p in decay["params"]] == [torch.Size([2, 4])]
    assert {tuple(p.shape) for p in no_decay["params"]} == {(10, 4), (2,)}
    assert no_decay["weight_decay"] == 0.0
    assert len(param_groups(model, 0.1, False)[0]["params"]) == 3


def test_corrupted_and_mismatched_checkpoints(tmp_path: Path, tracking_uri: str) -> None:
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError, match="corrupted"):
        load_checkpoint(bad)
    with pytest.raises(CheckpointError, match="not found"):
        load_checkpoint(tmp_path / "missing.pt")
    save_checkpoint(tmp_path / "foreign.pt", {"model": {}})
    torch.save({"hello": 1}, tmp_path / "plain.pt")
    with pytest.raises(CheckpointError, match="not a Plexus checkpoint"):
        load_checkpoint(tmp_path / "plain.pt")
    # a checkpoint of another model does not load into this one
    res = train_model(cfg("lr", DATASET, tmp_path / "lr", epochs=1), tracking_uri=tracking_uri, progress=False)
    with pytest.raises(CheckpointError, match="does not match"):
        train_model(cfg("dnn", DATASET, tmp_path / "dnn", epochs=2), tracking_uri=tracking_uri,
                    progress=False, resume=str(Path(res["checkpoint_dir"]) / "last.pt"))


def test_train_config_rejects_nonsense() -> None:
    from plexus.platform.errors import ConfigError

    for bad in ({"epochs": 0}, {"batch_size": -1}, {"lr": 0}, {"patience": -1}):
        with pytest.raises(ConfigError):
            TrainConfig(**bad)


class _Probe(Callback):
    """Records, at every epoch end, whether denormals are flushed and the optimizer's fused flag."""

    def __init__(self) -> None:
        self.flushing: list[bool] = []
        self.fused: list[bool] = []

    def on_epoch_end(self, trainer, epoch, metrics) -> None:
        self.flushing.append(flushing_denormals())
        self.fused.append(bool(trainer.optimizer.defaults.get("fused")))


@pytest.mark.parametrize("flush", [True, False])
def test_cpu_fit_flushes_denormals_and_restores_the_setting(tmp_path: Path, tracking_uri: str, flush: bool) -> None:
    probe = _Probe()
    assert not flushing_denormals()
    res = train_model(cfg("dnn", DATASET, tmp_path, epochs=2, batch_size=512, patience=0, device="cpu",
                          flush_denormal=flush),
                      tracking_uri=tracking_uri, progress=False, callbacks=[probe])
    assert probe.flushing == [flush, flush]
    assert probe.fused == [True, True]  # CPU: one fused Adam kernel per step, not a Python loop
    assert not flushing_denormals()  # the previous (default) setting is back after the fit
    from mlflow.tracking import MlflowClient

    params = MlflowClient(tracking_uri).get_run(res["run_id"]).data.params
    assert params["train.flush_denormal"] == str(flush)


def test_flush_denormal_context_restores_an_enabled_state() -> None:
    torch.set_flush_denormal(True)
    try:
        with flush_denormal(True):
            assert flushing_denormals()
        assert flushing_denormals()  # was on before: stays on
        with flush_denormal(False):
            assert flushing_denormals()  # disabled: leaves the state alone
    finally:
        torch.set_flush_denormal(False)
    threads = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        big = torch.full((1 << 20,), 1e-39)
        big.mul(1.0)  # the intra-op threads exist before the switch, as in a fit
        with flush_denormal(True):
            assert torch.count_nonzero(big.mul(1.0)) == 0  # every intra-op thread flushes, not only this one
        assert torch.count_nonzero(big.mul(1.0)) == big.numel()
    finally:
        torch.set_num_threads(threads)
