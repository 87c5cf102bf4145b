"""Task kinds: what each one monitors, on real datasets."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from plexus.platform.config import TrainConfig, build_config
from plexus.platform.training import train_model
from plexus.platform.training.tasks import NodeTask


def test_node_task_monitors_auc_only_on_binary_auc_datasets(need_raw: Callable[[str], Path]) -> None:
    from plexus.platform.data.datasets_graph import chameleon, tolokers

    need_raw("heterophilous-graphs")
    assert NodeTask(tolokers(split=0), TrainConfig()).monitor == "val_auc"
    assert NodeTask(chameleon(split=0), TrainConfig()).monitor == "val_acc"


def test_tolokers_test_auc_is_read_at_the_best_val_auc_epoch(tmp_path: Path, tracking_uri: str, need_raw: Callable[[str], Path]) -> None:
    """Tolokers is 78% one class: validation accuracy sits at the majority rate while the AUC climbs, so
    selecting on accuracy keeps epoch 1 (what the stop-20 GPU run did to GCN: test AUC 0.40)."""
    need_raw("heterophilous-graphs")
    cfg = build_config({"hparams": {"hidden": 64, "num_layers": 2},
                        "train": {"epochs": 8, "lr": 0.01, "patience": 50, "seed": 0},
                        "tracking": {"checkpoint_dir": str(tmp_path / "ckpt"), "log_model": False}},
                       model="gcn", dataset="tolokers")
    res = train_model(cfg, tracking_uri=tracking_uri, progress=False)
    assert res["monitor"] == "val_auc"
    hist = [h for h in res["history"] if "val_auc" in h]
    best = max(hist, key=lambda h: h["val_auc"])
    assert res["best_epoch"] == best["epoch"]
    assert res["metrics"]["val_auc"] == pytest.approx(best["val_auc"], abs=1e-6)
    assert best["epoch"] > 1  # the AUC does move; on accuracy the best epoch would stay at 1
