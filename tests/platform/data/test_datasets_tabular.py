"""Every registered tabular dataset loads from the shared raw copies with its documented shape.

Loads use the normal data home, so the (expensive) first encoding is cached
across runs; the properties checked do not depend on the cache.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
import torch
from plexus.platform.catalog import get_catalog
from plexus.platform.errors import DataError

# name -> (raw folder, total rows, {task: (lo, hi) positive rate}, field kinds that must be present)
EXPECTED = {
    "criteo-10k": ("criteo-10k", 10_000, {"label": (0.19, 0.25)}, {"numeric": 13, "categorical": 26}),
    "census-income": ("census-income-kdd", 99_762, {"income": (0.055, 0.07), "marital": (0.41, 0.45)},
                      {"numeric": 7, "categorical": 32}),
    "frappe": ("frappe", 86_582, {"label": (0.31, 0.35)}, {"categorical": 10}),
    "movielens-100k": ("movielens-100k", 100_000 - 27_145, {"label": (0.74, 0.78)},
                       {"categorical": 6, "multi": 1, "numeric": 1}),
    "movielens-mtl": ("movielens-100k", 100_000, {"like": (0.5, 0.6), "dislike": (0.14, 0.2)},
                      {"categorical": 5, "multi": 1, "sequence": 2}),
    "amazon-beauty": ("amazon-beauty-seq", 2 * (198_502 - 22_363), {"label": (0.5, 0.5)},
                      {"categorical": 3, "sequence": 2}),
}


@pytest.mark.parametrize("name", list(EXPECTED))
def test_dataset_loads(name: str, need_raw: Callable[[str], Path]) -> None:
    _folder, rows, rates, kinds = EXPECTED[name]
    need_raw(name)
    entry = get_catalog().dataset(name)
    assert entry.status == "ok", entry.error
    ds = entry.load()
    assert ds.name == name and ds.fingerprint and ds.description
    assert sum(ds.num_rows(s) for s in ("train", "val", "test")) == rows
    assert ds.spec.tasks == list(rates)
    for task, (lo, hi) in rates.items():
        r = float(torch.cat([ds.labels[s][task] for s in ("train", "val", "test")]).mean())
        assert lo - 1e-9 <= r <= hi + 1e-9, (task, r)
    for kind, n in kinds.items():
        assert len(ds.spec.fields_of(kind)) == n
    for s in ("train", "val", "test"):
        n = ds.num_rows(s)
        assert n > 0
        for f in ds.spec.fields:
            x = ds.features[s][f.name]
            assert x.shape[0] == n
            if f.kind == "numeric":
                assert x.dtype == torch.float32 and torch.isfinite(x).all()
            else:
                assert x.dtype == torch.int64 and x.min() >= 0 and x.max() < f.vocab_size
                if f.kind in ("multi", "sequence"):
                    assert x.shape[1] == f.max_len
    # the fitted encoder reproduces the stored features from raw-row semantics (JSON round trip)
    from plexus.platform.data.tabular import TabularEncoder

    enc = TabularEncoder.from_dict(ds.encoder.to_dict())
    assert enc.field_specs() == ds.spec.fields


def test_criteo_split_and_rule(need_raw: Callable[[str], Path]) -> None:
    need_raw("criteo-10k")
    from plexus.platform.data.datasets_tabular import criteo_10k

    ds = criteo_10k()
    assert [ds.num_rows(s) for s in ("train", "val", "test")] == [8000, 1000, 1000]
    x = ds.features["train"]["I5"]
    small = x <= 2
    assert torch.equal(x[~small], x[~small].floor())  # floor(log(v)^2) is an integer
    ds1 = criteo_10k(seed=1)
    assert ds1.fingerprint != ds.fingerprint


def test_amazon_beauty_protocol(need_raw: Callable[[str], Path]) -> None:
    need_raw("amazon-beauty")
    from plexus.platform.data.datasets_tabular import amazon_beauty

    ds = amazon_beauty()
    assert ds.spec.field("hist_item").share_vocab == "item" and ds.spec.field("hist_item").role == "behavior"
    assert ds.spec.field("cate").role == "item"
    # one test pair (positive + negative) and one val pair per user
    users = ds.features["test"]["user"]
    assert ds.num_rows("test") == 2 * 22_363 and len(torch.unique(users)) >= 22_363 * 0.9
    h = ds.features["train"]["hist_item"]
    nz = h != 0
    # left padding: once a row has an item, all later positions do too
    assert (nz[:, 1:] | ~nz[:, :-1]).all()


def test_movielens_mtl_histories_precede_row(need_raw: Callable[[str], Path]) -> None:
    need_raw("movielens-100k")
    from plexus.platform.data.datasets_tabular import movielens_mtl

    ds = movielens_mtl(max_hist=10)
    assert ds.spec.extra["behaviors"] == {"pos": ["hist_like"], "neg": ["hist_dislike"]}
    assert ds.spec.field("hist_like").max_len == 10
    like, dislike = ds.labels["train"]["like"], ds.labels["train"]["dislike"]
    assert not bool((like * dislike).any())  # the two tasks are exclusive
    # time split: train rows' histories exist; the first rows of a user have empty histories
    assert (ds.features["train"]["hist_like"] == 0).all(dim=1).any()
    assert (ds.features["test"]["hist_like"] != 0).any(dim=1).float().mean() > 0.8


def test_missing_raw_data_says_where(tmp_path):
    from plexus.platform.data.datasets_tabular import criteo_10k

    with pytest.raises(DataError, match="train_examples.txt not found in the given path.*public home: https://"):
        criteo_10k(path=str(tmp_path / "nowhere"))  # a given path is used as is: nothing is downloaded into it
    assert not (tmp_path / "nowhere").exists()


def test_offline_without_files_names_folder_and_mirror(tmp_path, monkeypatch):
    from plexus.platform.data.datasets_tabular import criteo_10k

    monkeypatch.setenv("PLEXUS_DATA", str(tmp_path / "home"))
    monkeypatch.setenv("PLEXUS_OFFLINE", "1")
    monkeypatch.delenv("PLEXUS_DATA_MIRROR", raising=False)
    with pytest.raises(DataError) as info:
        criteo_10k()
    msg = str(info.value)
    assert "\n" not in msg and "PLEXUS_DATA_MIRROR" in msg
    assert str(tmp_path / "home" / "raw" / "criteo-10k") in msg
