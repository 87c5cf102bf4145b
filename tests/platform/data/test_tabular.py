"""Tabular data service: schema, readers, encoder, cache, splits, streaming, bad inputs, user import."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
import yaml
from plexus.platform.data.tabular import (
    Schema,
    TabularEncoder,
    cache_path,
    fit_encoder_parquet,
    iter_parquet_batches,
    leave_last_out_split,
    load_tabular,
    random_split,
    read_libfm,
    read_table,
    time_split,
    user_split,
)
from plexus.platform.errors import DataError

BAD = Path(__file__).resolve().parents[2] / "fixtures" / "bad_data"
CASES = yaml.safe_load((BAD / "cases.yaml").read_text())


@pytest.fixture(autouse=True)
def _data_home(tmp_path, monkeypatch):
    monkeypatch.setenv("PLEXUS_DATA", str(tmp_path / "home"))


def _schema(**over):
    d = {"fields": [{"name": "user", "type": "categorical", "role": "user"},
                    {"name": "item", "type": "categorical", "role": "item"},
                    {"name": "price", "type": "numeric", "transform": "standardize"},
                    {"name": "tags", "type": "multi", "separator": "|", "max_len": 2, "padding": "right"},
                    {"name": "hist", "type": "sequence", "separator": " ", "max_len": 3, "share_vocab": "item",
                     "role": "behavior"}],
         "labels": [{"name": "label"}], "group": "user", "timestamp": "ts"}
    d.update(over)
    return Schema.from_dict(d)


def _frame(n=60, seed=0):
    rng = np.random.default_rng(seed)
    items = np.array([f"i{k}" for k in range(8)])
    return pd.DataFrame({
        "user": [f"u{k}" for k in rng.integers(0, 10, n)],
        "item": items[rng.integers(0, 8, n)],
        "price": rng.normal(5, 2, n).round(3).astype(str),
        "tags": ["|".join(sorted(set(rng.choice(list("abcd"), rng.integers(0, 4))))) for _ in range(n)],
        "hist": [" ".join(items[rng.integers(0, 8, rng.integers(0, 6))]) for _ in range(n)],
        "ts": np.arange(n) * 10,
        "label": rng.integers(0, 2, n),
    })


def _write_csv(path: Path, df: pd.DataFrame) -> Path:
    df.to_csv(path, index=False)
    return path


# ----------------------------------------------------------------------------- schema
def test_schema_yaml_roundtrip(tmp_path):
    p = tmp_path / "s.yaml"
    p.write_text(yaml.safe_dump(_schema().to_dict()))
    s = Schema.from_yaml(p)
    assert [f.name for f in s.fields] == ["user", "item", "price", "tags", "hist"]
    assert s.field_by_name("hist").share_vocab == "item" if hasattr(s, "field_by_name") else True
    assert Schema.from_json_dict(s.to_dict()) == s


@pytest.mark.parametrize("bad, field", [
    ({"fields": [{"name": "a", "type": "blob"}]}, "a"),
    ({"fields": [{"name": "a", "type": "categorical"}, {"name": "a", "type": "numeric"}]}, "a"),
    ({"fields": [{"name": "m", "type": "multi"}]}, "m"),
    ({"fields": [{"name": "s", "type": "sequence", "separator": " ", "padding": "middle"}]}, "s"),
    ({"fields": [{"name": "x", "type": "numeric", "transform": "bucketize", "bins": [3, 1]}]}, "x"),
    ({"fields": [{"name": "c", "type": "categorical", "transform": "log"}]}, "c"),
    ({"fields": [{"name": "c", "type": "categorical", "colour": "red"}]}, "c"),
])
def test_schema_validation_names_field(bad, field):
    with pytest.raises(DataError) as e:
        Schema.from_dict({**bad, "labels": ["y"]}, source="my.yaml")
    assert e.value.file == "my.yaml" and e.value.field == field
    assert "my.yaml" in str(e.value) and f"'{field}'" in str(e.value)


def test_schema_needs_labels_and_split_columns():
    with pytest.raises(DataError, match="labels"):
        Schema.from_dict({"fields": [{"name": "a", "type": "categorical"}]})
    with pytest.raises(DataError, match="timestamp"):
        Schema.from_dict({"fields": [{"name": "a", "type": "categorical"}], "labels": ["y"],
                          "split": {"method": "time"}})


# ----------------------------------------------------------------------------- readers
def test_csv_reader_line_numbers_and_strings(tmp_path):
    p = tmp_path / "d.csv"
    p.write_text("user,item,price,tags,hist,ts,label\nu1,007,1.5,a|b,,1,1\n\nu2,i2,,b,i1 i2,2,0\n")
    t = read_table(p, _schema())
    assert t.lines.tolist() == [2, 4]  # header is line 1, the blank line 3 is skipped but counted
    assert t.df["item"].iloc[0] == "007"  # kept as a string (no int coercion)
    assert t.df["price"].iloc[1] == ""


def test_tsv_without_header_and_libfm(tmp_path):
    p = tmp_path / "d.tsv"
    p.write_text("1\tu1\ti1\n0\tu2\ti2\n")
    s = Schema.from_yaml(BAD / "schema_noheader.yaml")
    t = read_table(p, s)
    assert list(t.df.columns) == ["label", "user", "item"] and t.df["user"].tolist() == ["u1", "u2"]
    q = tmp_path / "d.libfm"
    q.write_text("1 3:1 17:0.5\n-1 4:1 18:1\n")
    t = read_libfm(q, ["label", "user", "item"])
    assert t.df["label"].tolist() == [1.0, -1.0]
    assert t.df["item"].tolist() == ["17", "18"] and t.df["item:val"].tolist() == [0.5, 1.0]


def test_parquet_reader(tmp_path):
    p = tmp_path / "d.parquet"
    _frame(10).to_parquet(p, index=False)
    t = read_table(p, _schema())
    assert len(t) == 10 and t.lines.tolist() == list(range(1, 11))


# ----------------------------------------------------------------------------- encoder
def test_encoder_padding_oov_min_count():
    df = pd.DataFrame({"c": ["a", "a", "a", "b", "b", "z"], "s": ["a b", "a", "", "b a a a", "q", "a"],
                       "y": [1, 0, 1, 0, 1, 0]})
    s = Schema.from_dict({"fields": [{"name": "c", "type": "categorical", "min_count": 2},
                                     {"name": "s", "type": "sequence", "separator": " ", "max_len": 3,
                                      "share_vocab": "c"}], "labels": ["y"]})
    enc = TabularEncoder(s).fit(df)
    # counts over c and s together: a=8, b=3, z=1, q=1 -> vocab [a, b]; z, q below min_count -> OOV
    assert enc.vocabs["c"] == ["a", "b"]
    out = enc.transform(df)
    assert out["c"].tolist() == [2, 2, 2, 3, 3, 1]
    assert out["s"].tolist() == [[0, 2, 3], [0, 0, 2], [0, 0, 0], [2, 2, 2], [0, 0, 1], [0, 0, 2]]
    assert out["s"].dtype == torch.int64
    unseen = enc.transform(pd.DataFrame({"c": ["never"], "s": ["never a"]}))
    assert unseen["c"].tolist() == [1] and unseen["s"].tolist() == [[0, 1, 2]]
    spec = {f.name: f for f in enc.field_specs()}
    assert spec["c"].vocab_size == 4 and spec["s"].vocab_size == 4 and spec["s"].embedding_key == "c"


def test_multi_keeps_first_sequence_keeps_last_and_right_padding():
    df = pd.DataFrame({"m": ["a|b|c", "c"], "q": ["a b c", "c"], "y": [0, 1]})
    s = Schema.from_dict({"fields": [{"name": "m", "type": "multi", "separator": "|", "max_len": 2,
                                      "padding": "right"},
                                     {"name": "q", "type": "sequence", "separator": " ", "max_len": 2}],
                          "labels": ["y"]})
    enc = TabularEncoder(s).fit(df)
    out = enc.transform(df)
    a, b, c = (enc.vocabs["m"].index(x) + 2 for x in "abc")
    assert out["m"].tolist() == [[a, b], [c, 0]]
    _qa, qb, qc = (enc.vocabs["q"].index(x) + 2 for x in "abc")
    assert out["q"].tolist() == [[qb, qc], [0, qc]]


def test_numeric_transforms_criteo_rule_and_train_stats():
    vals = np.array([-1.0, 0.0, 2.0, 3.0, 10.0, 1000.0])
    df = pd.DataFrame({"a": vals.astype(str), "b": vals.astype(str), "c": vals.astype(str), "y": [0] * 6})
    s = Schema.from_dict({"fields": [{"name": "a", "type": "numeric", "transform": "criteo_log2"},
                                     {"name": "b", "type": "numeric", "transform": "log"},
                                     {"name": "c", "type": "numeric", "transform": "bucketize", "bins": [0, 5]}],
                          "labels": ["y"]})
    out = TabularEncoder(s).fit(df).transform(df)
    expect = np.where(vals > 2, np.floor(np.log(np.maximum(vals, 1)) ** 2), vals)
    assert np.allclose(out["a"].numpy(), expect) and out["a"][3] == 1.0 and out["a"][5] == 47.0
    assert np.allclose(out["b"].numpy(), np.sign(vals) * np.log1p(np.abs(vals)), atol=1e-6)
    assert out["c"].tolist() == [2, 3, 3, 3, 4, 4]  # digitize + 2; missing would be 1
    train = pd.DataFrame({"x": ["1", "3"], "y": [0, 1]})
    test = pd.DataFrame({"x": ["5"], "y": [0]})
    s2 = Schema.from_dict({"fields": [{"name": "x", "type": "numeric", "transform": "standardize"}], "labels": ["y"]})
    enc = TabularEncoder(s2).fit(train)
    std = np.std([1.0, 3.0])  # population std (as sklearn's StandardScaler)
    assert enc.transform(test)["x"].item() == pytest.approx((5 - 2) / std)  # train mean/std, not test's


def test_encoder_serialises_json_and_matches():
    df = _frame()
    enc = TabularEncoder(_schema()).fit(df)
    d = json.loads(json.dumps(enc.to_dict()))
    enc2 = TabularEncoder.from_dict(d)
    a, b = enc.transform(df), enc2.transform(df)
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert [f for f in enc2.field_specs()] == enc.field_specs()


def test_encoder_accepts_typed_raw_rows():
    fit = pd.DataFrame({"c": ["1", "2", "2"], "s": ["1 2", "2", ""], "y": [0, 1, 0]})
    s = Schema.from_dict({"fields": [{"name": "c", "type": "categorical"},
                                     {"name": "s", "type": "sequence", "separator": " ", "share_vocab": "c"}],
                          "labels": ["y"]})
    enc = TabularEncoder(s).fit(fit)
    raw = pd.DataFrame({"c": [1, 2.0], "s": [[1, 2], []]})  # ints / floats / lists as users may pass them
    out = enc.transform(raw)
    ref = enc.transform(pd.DataFrame({"c": ["1", "2"], "s": ["1 2", ""]}))
    assert torch.equal(out["c"], ref["c"]) and torch.equal(out["s"], ref["s"])


# ----------------------------------------------------------------------------- splits
def test_random_split_disjoint_and_seeded():
    a = random_split(1000, seed=3)
    allidx = np.concatenate(list(a.values()))
    assert len(allidx) == 1000 and len(np.unique(allidx)) == 1000
    assert [len(a[k]) for k in ("train", "val", "test")] == [800, 100, 100]
    assert np.array_equal(random_split(1000, seed=3)["test"], a["test"])
    assert not np.array_equal(random_split(1000, seed=4)["test"], a["test"])


def test_time_split_respects_order():
    ts = np.random.default_rng(0).permutation(500).astype(float)
    p = time_split(ts)
    assert ts[p["train"]].max() < ts[p["val"]].min() and ts[p["val"]].max() < ts[p["test"]].min()


def test_leave_last_out_picks_latest():
    rng = np.random.default_rng(1)
    users = rng.integers(0, 30, 400)
    ts = rng.permutation(400).astype(float)
    p = leave_last_out_split(users, ts)
    for u in np.unique(users):
        rows = np.flatnonzero(users == u)
        if len(rows) < 3:
            assert np.isin(rows, p["train"]).all()
            continue
        order = rows[np.argsort(ts[rows])]
        assert np.intersect1d(rows, p["test"]).tolist() == [order[-1]]
        assert np.intersect1d(rows, p["val"]).tolist() == [order[-2]]
    assert sum(len(v) for v in p.values()) == 400


def test_user_split_no_user_in_two_splits():
    users = np.random.default_rng(2).integers(0, 50, 1000)
    p = user_split(users, seed=0)
    sets = [set(users[p[k]]) for k in ("train", "val", "test")]
    assert not (sets[0] & sets[1]) and not (sets[0] & sets[2]) and not (sets[1] & sets[2])
    assert sum(len(v) for v in p.values()) == 1000


# ----------------------------------------------------------------------------- pipeline + cache
def test_load_tabular_dataset_and_cache_hit(tmp_path, monkeypatch):
    p = _write_csv(tmp_path / "d.csv", _frame(200))
    ds = load_tabular([p], _schema(), name="toy")
    assert sum(ds.num_rows(s) for s in ("train", "val", "test")) == 200
    assert ds.features["train"]["hist"].shape[1] == 3 and ds.groups["test"] is not None
    assert ds.spec.field("hist").share_vocab == "item" and ds.spec.tasks == ["label"]
    assert cache_path(ds.fingerprint).joinpath("meta.json").is_file()
    import plexus.platform.data.tabular.pipeline as pl

    def boom(*a, **k):
        raise AssertionError("the raw file was read again")

    monkeypatch.setattr(pl, "read_table", boom)
    ds2 = load_tabular([p], _schema(), name="toy")
    assert ds2.fingerprint == ds.fingerprint
    assert torch.equal(ds2.features["val"]["item"], ds.features["val"]["item"])
    # a changed schema or split option is a different fingerprint (and would read again)
    with pytest.raises(AssertionError, match="read again"):
        load_tabular([p], _schema(min_count=2), name="toy")
    with pytest.raises(AssertionError, match="read again"):
        load_tabular([p], _schema(), name="toy", seed=1)


def test_vocab_fit_on_train_only(tmp_path):
    df = _frame(100)
    df.loc[:, "item"] = [f"x{k}" for k in range(100)]  # every item unique
    ds = load_tabular([_write_csv(tmp_path / "d.csv", df)], _schema(), name="toy")
    assert ds.spec.field("item").vocab_size >= 80 + 2
    assert (ds.features["test"]["item"] == 1).all()  # items only seen in test are OOV


def test_cache_write_is_atomic(tmp_path, monkeypatch):
    p = _write_csv(tmp_path / "d.csv", _frame(50))
    good = load_tabular([p], _schema(), name="toy")
    root = cache_path(good.fingerprint).parent
    before = {q: q.read_bytes() for q in cache_path(good.fingerprint).iterdir()}
    import plexus.platform.data.tabular.cache as cache_mod

    calls = {"n": 0}
    real_save = np.save

    def flaky(*a, **k):
        calls["n"] += 1
        if calls["n"] == 3:
            raise OSError("disk full")
        return real_save(*a, **k)

    monkeypatch.setattr(cache_mod.np, "save", flaky)
    with pytest.raises(OSError, match="disk full"):
        load_tabular([p], _schema(min_count=2), name="toy")
    monkeypatch.setattr(cache_mod.np, "save", real_save)
    assert sorted(x.name for x in root.iterdir()) == [good.fingerprint]  # no partial entry, no tmp dir left
    assert {q: q.read_bytes() for q in cache_path(good.fingerprint).iterdir()} == before


def test_streaming_parquet_row_groups(tmp_path):
    df = _frame(103)
    p = tmp_path / "big.parquet"
    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(pa.Table.from_pandas(df, preserve_index=False), p, row_group_size=20)
    assert pq.ParquetFile(p).num_row_groups == 6
    enc = fit_encoder_parquet(p, _schema(), batch_size=7)
    full = TabularEncoder(_schema()).fit(read_table(p, _schema()))
    assert enc.vocabs == full.vocabs and enc.max_lens == full.max_lens
    assert enc.stats["price"]["mean"] == pytest.approx(full.stats["price"]["mean"])
    assert enc.stats["price"]["std"] == pytest.approx(full.stats["price"]["std"])
    batches = list(iter_parquet_batches(p, enc, batch_size=8))
    assert max(len(b[1]["label"]) for b in batches) <= 8 and len(batches) == 16  # 5 groups of 20 -> 8+8+4, then 3
    got = {k: torch.cat([b[0][k] for b in batches]) for k in batches[0][0]}
    ref = full.transform(df)
    assert all(torch.allclose(got[k].float(), ref[k].float()) for k in ref)


def test_streaming_error_counts_rows_from_file_start(tmp_path):
    df = _frame(30)
    df["label"] = df["label"].astype(int)
    df.loc[25, "label"] = 7
    import pyarrow as pa
    import pyarrow.parquet as pq

    p = tmp_path / "bad.parquet"
    pq.write_table(pa.Table.from_pandas(df, preserve_index=False), p, row_group_size=10)
    enc = TabularEncoder(_schema()).fit(df.iloc[:10])
    with pytest.raises(DataError) as e:
        list(iter_parquet_batches(p, enc, batch_size=4))
    assert e.value.row == 26 and e.value.field == "label"


# ----------------------------------------------------------------------------- bad inputs
@pytest.mark.parametrize("case", CASES, ids=[c["data"] or c["schema"] for c in CASES])
def test_bad_input_corpus(case):
    with pytest.raises(DataError) as e:
        schema = Schema.from_yaml(BAD / case["schema"])
        load_tabular([BAD / case["data"]], schema, name="bad", use_cache=False)
    err = e.value
    named = case["data"] or case["schema"]
    assert err.file is not None and Path(err.file).name == named and named in str(err)
    assert case.get("row") is not None or case.get("field") is not None or case["data"].startswith("not_")
    if case.get("row") is not None:
        assert err.row == case["row"] and f"row {case['row']}" in str(err)
    if case.get("field") is not None:
        assert err.field == case["field"] and f"'{case['field']}'" in str(err)


def test_bad_input_leaves_existing_cache_intact(tmp_path):
    p = _write_csv(tmp_path / "good.csv", _frame(40))
    good = load_tabular([p], _schema(), name="toy")
    root = cache_path(good.fingerprint).parent
    snapshot = {q.relative_to(root): q.read_bytes() for q in root.rglob("*") if q.is_file()}
    for case in CASES:
        if case["data"] and case["schema"] == "schema.yaml":
            with pytest.raises(DataError):
                load_tabular([BAD / case["data"]], Schema.from_yaml(BAD / "schema.yaml"), name="bad")
    after = {q.relative_to(root): q.read_bytes() for q in root.rglob("*") if q.is_file()}
    assert after == snapshot and sorted(x.name for x in root.iterdir()) == [good.fingerprint]
    assert load_tabular([p], _schema(), name="toy").fingerprint == good.fingerprint


# ----------------------------------------------------------------------------- user import
def test_import_tabular_dataset(tmp_path):
    from plexus.platform.data.user import import_dataset, user_dataset_entries

    data = _write_csv(tmp_path / "clicks.csv", _frame(80))
    sch = tmp_path / "clicks.yaml"
    sch.write_text(yaml.safe_dump(_schema().to_dict()))
    m = import_dataset(data, name="my-clicks", schema=sch)
    home = Path(os.environ["PLEXUS_DATA"])
    assert json.loads((home / "datasets" / "my-clicks" / "manifest.json").read_text())["fingerprint"] == m["fingerprint"]
    entries = {e.name: e for e in user_dataset_entries()}
    e = entries["my-clicks"]
    assert e.source == "user" and e.status == "ok" and e.tasks == ("ctr",)
    ds = e.load()
    assert ds.fingerprint == m["fingerprint"] and ds.num_rows("train") == 64
    with pytest.raises(Exception, match="already imported"):
        import_dataset(data, name="my-clicks", schema=sch)
    # a malformed file is refused and leaves no manifest
    with pytest.raises(DataError):
        import_dataset(BAD / "numeric_text.csv", name="broken", schema=BAD / "schema.yaml")
    assert not (home / "datasets" / "broken" / "manifest.json").exists()
    assert "broken" not in {e.name for e in user_dataset_entries()}


@pytest.mark.parametrize("column", [
    pd.Series(["a", "b", "", "a", "10", "b"], dtype=object),
    pd.Series([1.0, np.nan, -0.0, 0.0, 2.5, 1e20, 1.0, np.inf]),
    pd.Series([3, 1, 3, -7, 0], dtype=np.int64),
    pd.Series([True, False, True]),
    pd.Series([1, 1.0, "1", None, "x", 2.5, 1], dtype=object),  # 1 and 1.0 hash alike, print differently
    pd.Series(["z", None, "z", ""], dtype="string"),
])
def test_factorised_strings_equal_the_row_by_row_conversion(column):
    """Encoding converts each distinct value once; the strings must be those of the row-by-row conversion."""
    from plexus.platform.data.tabular.encoder import _as_str, _factor_str

    codes, strings = _factor_str(column)
    assert list(strings[codes]) == list(_as_str(column).to_numpy())
