"""Given splits (split files, a split column), libSVM with ``fields: auto``, typed options of imported datasets."""

from __future__ import annotations

import json
import random
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from plexus.platform.catalog import get_catalog, schema_from_callable
from plexus.platform.config import build_config
from plexus.platform.data.service import load_dataset
from plexus.platform.data.tabular import Schema, load_tabular, read_libfm
from plexus.platform.data.user import import_dataset
from plexus.platform.errors import ConfigError, DataError
from plexus.platform.training import train_model
from plexus.platform.training.callbacks import Callback

SPLITS = ("train", "val", "test")


@pytest.fixture(autouse=True)
def _data_home(tmp_path, monkeypatch):
    monkeypatch.setenv("PLEXUS_DATA", str(tmp_path / "home"))
    get_catalog(refresh=True)
    yield
    get_catalog(refresh=True)


def _libsvm_lines(r: random.Random, n: int, *, unseen: bool = False) -> list[str]:
    """``+1/-1 user:1 item:1 [ctx:1]``: ragged (some rows lack the context token); ``unseen``: items 900+."""
    out = []
    for _ in range(n):
        user, item = r.randrange(12), r.randrange(15) + (900 if unseen and r.random() < 0.3 else 0)
        toks = [f"{user}:1", f"{100 + item}:1"] + ([f"{200 + r.randrange(3)}:1"] if r.random() < 0.7 else [])
        y = r.random() < (0.8 if item % 2 == 0 else 0.2)
        out.append(("+1 " if y else "-1 ") + " ".join(toks))
    return out


def _libsvm_split(root: Path, sizes=(200, 50, 60)) -> dict[str, list[str]]:
    r = random.Random(1)
    lines = {sp: _libsvm_lines(r, n, unseen=sp == "test") for sp, n in zip(SPLITS, sizes)}
    (root / "data").mkdir(parents=True, exist_ok=True)
    for sp in SPLITS:
        (root / "data" / f"{sp}.svm").write_text("\n".join(lines[sp]) + "\n")
    (root / "schema.yaml").write_text(
        "format: libsvm\nfields: auto\n"
        "split: {method: files, train: data/train.svm, val: data/val.svm, test: data/test.svm}\n")
    return lines


class _Keep(Callback):
    def on_fit_end(self, trainer, result) -> None:
        self.model = trainer.model


# ----------------------------------------------------------------------------- libSVM, given files
def test_libsvm_given_files_import_train_and_score_exactly_the_test_file(tmp_path: Path) -> None:
    lines = _libsvm_split(tmp_path)
    m = import_dataset(None, name="svm", schema=tmp_path / "schema.yaml")  # no data argument: the schema names them
    assert m["split"] == "files" and Path(m["files"]["test"]) == (tmp_path / "data" / "test.svm").resolve()
    ds = load_dataset("svm")
    assert {sp: ds.num_rows(sp) for sp in SPLITS} == {sp: len(lines[sp]) for sp in SPLITS}
    assert [f.name for f in ds.spec.fields] == ["f0", "f1", "f2"]  # widest row: 3 tokens after the label
    # row identity: the test split holds the test file's rows, in file order (tokens decoded back)
    vocab = {k: ["<pad>", "<oov>", *v] for k, v in ds.encoder.vocabs.items()}
    train_items = {ln.split()[2].split(":")[0] for ln in lines["train"]}
    for k, ln in enumerate(lines["test"]):
        toks = ln.split()
        assert ds.labels["test"]["label"][k].item() == (1.0 if toks[0] == "+1" else 0.0)  # -1 -> 0
        item = toks[2].split(":")[0]
        got = vocab["f1"][int(ds.features["test"]["f1"][k])]
        assert got == (item if item in train_items else "<oov>")  # vocabularies come from train only
        ctx = toks[3].split(":")[0] if len(toks) > 3 else ""  # a short row: its missing position is ""
        assert vocab["f2"][int(ds.features["test"]["f2"][k])] == ctx
    assert any(int(x) == 1 for x in ds.features["test"]["f1"])  # the planted unseen items are OOV

    keep = _Keep()
    cfg = build_config({"train": {"epochs": 4, "batch_size": 64, "lr": 0.01}, "tracking": {"enabled": False}},
                       model="dnn", dataset="svm")
    res = train_model(cfg, progress=False, callbacks=[keep])
    # the reported test metrics are those of the raw test file, scored row by row
    raw = read_libfm(tmp_path / "data" / "test.svm", ragged=True).df
    for c in ("f0", "f1", "f2"):
        raw[c] = raw[c].fillna("") if c in raw else ""
    keep.model.eval()
    import torch
    from sklearn.metrics import roc_auc_score

    with torch.no_grad():
        logit = keep.model(ds.encoder.transform(raw))["logit"].double().numpy()
    y = (raw["label"].to_numpy() > 0).astype(float)
    assert len(y) == len(lines["test"])
    assert res["metrics"]["test_auc"] == pytest.approx(roc_auc_score(y, 1 / (1 + np.exp(-logit))), abs=1e-6)
    assert res["metrics"]["test_auc"] > 0.7  # it learned the planted signal


def test_libsvm_auto_fields_accept_zero_one_labels_and_refuse_mixed(tmp_path: Path) -> None:
    p = tmp_path / "a.libsvm"
    p.write_text("1 3:1 7:1\n0 4:1\n1 3:1 8:1 9:1\n0 5:1 7:1\n")
    ds = load_tabular([p], Schema.from_dict({"format": "libsvm"}), name="a", split="random", fractions=(1, 0, 0))
    assert [f.name for f in ds.spec.fields] == ["f0", "f1", "f2"]
    assert sorted(ds.labels["train"]["label"].tolist()) == [0, 0, 1, 1]
    p.write_text("1 3:1\n0 4:1\n-1 3:1\n")
    with pytest.raises(DataError, match=r"a.libsvm, row 3, field 'label'.*-1/\+1, not mixed with 0"):
        load_tabular([p], Schema.from_dict({"format": "libsvm"}), name="a", split="random", fractions=(1, 0, 0))


def test_libsvm_errors_name_the_file_and_row(tmp_path: Path) -> None:
    _libsvm_split(tmp_path)
    (tmp_path / "data" / "val.svm").write_text("+1 1:1 101:1\n-1 2:1 oops\n")
    with pytest.raises(DataError, match=r"val.svm, row 2, field 'f1'.*idx:value"):
        import_dataset(None, name="svm", schema=tmp_path / "schema.yaml")
    (tmp_path / "data" / "test.svm").unlink()
    (tmp_path / "data" / "val.svm").write_text("+1 1:1 101:1\n")
    with pytest.raises(DataError, match=r"test.svm: file not found"):
        import_dataset(None, name="svm", schema=tmp_path / "schema.yaml")
    assert not (tmp_path / "home" / "datasets" / "svm").exists()


# ----------------------------------------------------------------------------- CSV, split column
def _column_csv(root: Path, n: int = 90) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    df = pd.DataFrame({"user": [f"u{k}" for k in rng.integers(0, 9, n)], "item": [f"i{k}" for k in rng.integers(0, 7, n)],
                       "clicked": rng.integers(0, 2, n),
                       "part": rng.choice(["train", "train", "train", "val", "test"], n)})
    df["row_id"] = np.arange(n)
    df.to_csv(root / "d.csv", index=False)
    (root / "s.yaml").write_text(yaml.safe_dump({
        "fields": [{"name": "user", "type": "categorical"}, {"name": "item", "type": "categorical"},
                   {"name": "row_id", "type": "numeric"}],
        "labels": [{"name": "click", "column": "clicked"}], "split": {"method": "column", "column": "part"}}))
    return df


def test_split_column_reproduces_the_given_split(tmp_path: Path) -> None:
    df = _column_csv(tmp_path)
    import_dataset(tmp_path / "d.csv", name="col", schema=tmp_path / "s.yaml")
    ds = load_dataset("col")
    for sp in SPLITS:
        got = ds.features[sp]["row_id"].numpy().astype(int).tolist()
        assert got == df.index[df["part"] == sp].tolist()  # exactly the rows marked sp, in file order
    assert "part" not in [f.name for f in ds.spec.fields]  # the split column is not a feature
    # seeds and fractions do not apply to a given split: the option does not exist
    with pytest.raises(ConfigError, match="unknown option 'seed' for dataset 'col'"):
        load_dataset("col", seed=3)


def test_bad_split_value_is_one_error_with_file_row_field(tmp_path: Path) -> None:
    _column_csv(tmp_path)
    lines = (tmp_path / "d.csv").read_text().splitlines()
    lines[6] = lines[6].rsplit(",", 2)[0] + ",valid," + lines[6].rsplit(",", 1)[1]
    (tmp_path / "d.csv").write_text("\n".join(lines) + "\n")
    with pytest.raises(DataError) as exc:
        import_dataset(tmp_path / "d.csv", name="col", schema=tmp_path / "s.yaml")
    assert exc.value.file.endswith("d.csv") and exc.value.row == 7 and exc.value.field == "part"
    assert "'valid' must be train, val or test" in str(exc.value)


@pytest.mark.parametrize("split, needle", [
    ({"method": "column"}, "needs 'column'"),
    ({"method": "column", "column": "user"}, "never a feature"),
    ({"method": "files", "train": "a.csv", "test": "c.csv"}, "missing ['val']"),
    ({"method": "files", "train": "a", "val": "b", "test": "c", "seed": 1}, "unknown key(s) ['seed']"),
    ({"method": "folds"}, "split method must be one of"),
])
def test_bad_split_declarations(split: dict, needle: str) -> None:
    with pytest.raises(DataError) as exc:
        Schema.from_dict({"fields": [{"name": "user", "type": "categorical"}], "labels": ["y"], "split": split},
                         source="s.yaml")
    assert needle in str(exc.value) and str(exc.value).startswith("s.yaml")


def test_auto_fields_need_libfm_data() -> None:
    with pytest.raises(DataError, match="needs libFM/libSVM data"):
        Schema.from_dict({"format": "csv", "fields": "auto"})
    with pytest.raises(DataError, match="'fields' must be a non-empty list"):
        Schema.from_dict({"labels": ["y"]})
    s = Schema.from_dict({"format": "libsvm"})
    assert s.format == "libfm" and s.auto_fields and [lab.name for lab in s.labels] == ["label"]
    assert Schema.from_json_dict(s.to_dict()) == s


# ----------------------------------------------------------------------------- typed options
def test_imported_dataset_options_are_typed_from_the_schema(tmp_path: Path) -> None:
    df = _column_csv(tmp_path)
    sch = yaml.safe_load((tmp_path / "s.yaml").read_text())
    sch["split"] = {"method": "random", "seed": 5, "fractions": [0.6, 0.2, 0.2]}
    (tmp_path / "r.yaml").write_text(yaml.safe_dump(sch))
    import_dataset(tmp_path / "d.csv", name="rnd", schema=tmp_path / "r.yaml")
    entry = get_catalog().dataset("rnd")
    opts = {o["name"]: o for o in schema_from_callable(entry.obj, skip=("task",)).to_list()}
    assert list(opts) == ["path", "seed", "fractions", "min_count"]
    assert (opts["seed"]["type"], opts["seed"]["default"]) == ("int", 5)
    assert (opts["fractions"]["type"], opts["fractions"]["default"]) == ("tuple[float, float, float]", [0.6, 0.2, 0.2])
    assert opts["seed"]["help"] and opts["min_count"]["help"]
    a = load_dataset("rnd")
    assert a.num_rows("train") == round(0.6 * len(df))
    b = load_dataset("rnd", seed="7", fractions="0.8,0.1,0.1")  # strings, as from --set, are parsed
    assert b.num_rows("train") == round(0.8 * len(df)) and b.fingerprint != a.fingerprint
    with pytest.raises(ConfigError, match="option 'seed' expects int"):
        load_dataset("rnd", seed="abc")
    with pytest.raises(ConfigError, match=r"unknown option 'sed' .*did you mean 'seed'"):
        load_dataset("rnd", sed=1)
    with pytest.raises(ConfigError, match="'fractions' must be three numbers"):
        load_dataset("rnd", fractions=[0.5, 0.5])
    with pytest.raises(ConfigError, match="'min_count' must be an integer >= 1"):
        load_dataset("rnd", min_count=0)
    manifest = json.loads((tmp_path / "home" / "datasets" / "rnd" / "manifest.json").read_text())
    assert manifest["split"] == "random"
