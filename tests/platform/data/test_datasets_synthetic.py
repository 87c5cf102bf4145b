"""synthetic-behavior: seeded, amazon-beauty layout, planted interest signal that DIN's attention exploits."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from plexus.platform.catalog import get_catalog
from plexus.platform.data.datasets_synthetic import behavior_frame, synthetic_behavior
from plexus.platform.errors import ConfigError

SMALL = {"num_users": 300, "num_items": 400, "num_categories": 100, "min_len": 15, "max_len": 25, "min_hist": 10,
         "max_hist": 12, "interests": 3, "noise": 0.1}


@pytest.fixture(scope="module")
def frame() -> pd.DataFrame:
    return behavior_frame(**SMALL, seed=0)


def _same(a: pd.DataFrame, b: pd.DataFrame) -> bool:
    flat = ["user", "item", "cate", "t", "label", "_split"]
    return (a[flat].equals(b[flat]) and all(np.array_equal(x, y) for x, y in zip(a.hist_item, b.hist_item))
            and all(np.array_equal(x, y) for x, y in zip(a.hist_cate, b.hist_cate)))


def test_seeded_generation_is_deterministic(frame: pd.DataFrame) -> None:
    assert _same(frame, behavior_frame(**SMALL, seed=0))
    other = behavior_frame(**SMALL, seed=1)
    assert not _same(frame, other)
    assert not np.array_equal(frame.item[:100], other.item[:100])


def test_counts_and_positive_rate(frame: pd.DataFrame) -> None:
    n_users = SMALL["num_users"]
    pos, neg = frame[frame.label == 1], frame[frame.label == 0]
    assert len(pos) == len(neg) == len(frame) // 2
    # every user: one target per position t in [min_hist, len), so between min_len - min_hist and max_len - min_hist
    per_user = pos.groupby("user").size()
    assert len(per_user) == n_users
    assert per_user.between(SMALL["min_len"] - SMALL["min_hist"], SMALL["max_len"] - SMALL["min_hist"]).all()
    assert per_user.nunique() > 5  # sequence lengths vary
    sizes = frame["_split"].value_counts()
    assert sizes["val"] == sizes["test"] == 2 * n_users and sizes["train"] == len(frame) - 4 * n_users
    for _, part in frame.groupby("_split"):
        assert part.label.mean() == 0.5
    # per user as many positives as negatives: a user bias alone carries no signal
    assert (frame.groupby("user").label.mean() == 0.5).all()
    assert frame.item.between(1, SMALL["num_items"]).all() and frame.cate.between(1, SMALL["num_categories"]).all()
    lens = frame.hist_item.map(len)
    assert lens.min() == SMALL["min_hist"] and lens.max() == SMALL["max_hist"]
    # the item -> category map is one function, shared by candidates and histories
    cate_of = dict(zip(frame.item, frame.cate))
    for h, hc in zip(frame.hist_item[:500], frame.hist_cate[:500]):
        assert [cate_of.get(int(i), int(c)) for i, c in zip(h, hc)] == hc.tolist()


def test_planted_signal_is_candidate_vs_history(frame: pd.DataFrame) -> None:
    match = np.array([c in set(h.tolist()) for c, h in zip(frame.cate, frame.hist_cate)])
    share = np.array([float(np.mean(h == c)) for c, h in zip(frame.cate, frame.hist_cate)])
    pos = frame.label.to_numpy() == 1
    # positives' category is in the history far more often than sampled negatives'
    assert match[pos].mean() > 0.75 and match[~pos].mean() < 0.1
    assert share[pos].mean() > 5 * share[~pos].mean()
    # ... while the candidate alone says little: positive and negative categories are spread alike
    cnt_pos = np.bincount(frame.cate[pos], minlength=SMALL["num_categories"] + 1)[1:]
    cnt_neg = np.bincount(frame.cate[~pos], minlength=SMALL["num_categories"] + 1)[1:]
    assert (cnt_pos > 0).all() and (cnt_neg > 0).all()
    assert cnt_pos.max() < 4 * cnt_pos.mean() and cnt_neg.max() < 4 * cnt_neg.mean()
    # negatives are items the user never clicked
    clicked = {(u, int(i)) for u, h in zip(frame.user, frame.hist_item) for i in h} | set(zip(frame.user[pos],
                                                                                              frame.item[pos]))
    assert not any((u, i) in clicked for u, i in zip(frame.user[~pos], frame.item[~pos]))


def test_histories_precede_target_and_split_is_leave_last_out(frame: pd.DataFrame) -> None:
    m = SMALL["max_hist"]
    pos = frame[frame.label == 1]
    neg = frame[frame.label == 0]
    assert (pos.user.to_numpy() == neg.user.to_numpy()).all() and (pos.t.to_numpy() == neg.t.to_numpy()).all()
    assert all(np.array_equal(a, b) for a, b in zip(pos.hist_item, neg.hist_item))
    for _, rows in pos.groupby("user"):
        rows = rows.sort_values("t")
        items, hists, ts = rows.item.tolist(), rows.hist_item.tolist(), rows.t.to_numpy()
        assert (np.diff(ts) == 1).all() and ts[0] == SMALL["min_hist"]
        for k in range(1, len(rows)):  # history at t+1 = (history at t + target at t), last max_hist
            assert hists[k].tolist() == (hists[k - 1].tolist() + [items[k - 1]])[-m:]
        assert rows["_split"].tolist() == ["train"] * (len(rows) - 2) + ["val", "test"]


def test_loader_matches_amazon_beauty_layout() -> None:
    ds = synthetic_behavior(**SMALL, seed=3)
    spec = ds.spec
    assert [f.name for f in spec.fields] == ["user", "item", "cate", "hist_item", "hist_cate"]
    assert spec.field("user").role == "user" and spec.field("item").role == spec.field("cate").role == "item"
    for s, v in (("hist_item", "item"), ("hist_cate", "cate")):
        f = spec.field(s)
        assert f.kind == "sequence" and f.role == "behavior" and f.share_vocab == v and f.max_len == SMALL["max_hist"]
    assert spec.extra["behaviors"] == {"pos": ["hist_item", "hist_cate"]}
    assert ds.num_rows("val") == ds.num_rows("test") == 2 * SMALL["num_users"]
    for s in ("train", "val", "test"):
        assert float(ds.labels[s]["label"].mean()) == 0.5
    again = synthetic_behavior(**SMALL, seed=3)
    assert again.fingerprint == ds.fingerprint
    assert torch.equal(again.features["train"]["hist_cate"], ds.features["train"]["hist_cate"])
    assert synthetic_behavior(**SMALL, seed=4).fingerprint != ds.fingerprint
    with pytest.raises(ConfigError, match="min_len"):
        synthetic_behavior(num_users=10, min_len=5, min_hist=10)
    with pytest.raises(ConfigError, match="task"):
        synthetic_behavior(task="multitask")


def test_registered_bundled_and_shown(cli: Callable[[list[str]], tuple[int, str, str]]) -> None:
    entry = get_catalog().dataset("synthetic-behavior")
    d = entry.describe()
    assert d["status"] == "ok" and d["source"] == "builtin" and d["tasks"] == ["ctr"]
    assert d["bundled"] is True and "generated by Plexus" in d["origin"]
    code, out, err = cli(["datasets", "show", "synthetic-behavior"])
    assert code == 0, err
    assert "synthetic-behavior" in out and "hist_cate" in out


def test_din_beats_sum_pooling(cli: Callable[[list[str]], tuple[int, str, str]], tmp_path: Path,
                               monkeypatch: pytest.MonkeyPatch) -> None:
    """Same data, budget and seed: attention over the history clearly beats sum pooling (~0.85 vs ~0.76)."""
    monkeypatch.chdir(tmp_path)
    tracking_uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    auc = {}
    for model in ("din", "din_base"):
        code, out, err = cli(["train", model, "--dataset", "synthetic-behavior", "--json", "--tracking-uri",
                              tracking_uri, "--set", "epochs=3", "--set", "batch_size=256",
                              "--set", "tracking.log_model=false",
                              "--set", f"tracking.checkpoint_dir={tmp_path / model}"])
        assert code == 0, err
        auc[model] = json.loads(out)["metrics"]["val_auc"]
    assert auc["din"] > auc["din_base"] + 0.02, auc
