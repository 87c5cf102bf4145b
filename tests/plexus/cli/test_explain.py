"""``plexus explain`` on logged runs (raw rows in, raw values out) and the runs' explain/ artifact."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from mlflow.tracking import MlflowClient
from plexus.platform.config import build_config
from plexus.platform.training import train_model

USERS = 120  # synthetic-behavior users: ~2,400 rows
TINY = {
    "armnet_plus": {"num_heads": 2, "num_neurons": 8, "mlp_hidden": [32], "dnn_hidden": [32]},
    "din": {"att_hidden": [16], "hidden": [32, 16]},
    "autoint_plus": {"num_layers": 2, "head_dim": 8, "dnn_hidden": [32]},
    "dtrn": {"embed_dim": 8, "tower_hidden": [16]},
    "lr": {},
}


def _mtl_frame(n: int = 800, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    f1, f2 = rng.integers(0, 6, n), rng.integers(0, 6, n)
    return pd.DataFrame({
        "user": [f"u{k}" for k in rng.integers(0, 40, n)], "item": [f"i{k}" for k in rng.integers(0, 30, n)],
        "ctx": [f"c{k}" for k in f1], "shop": [f"s{k}" for k in f2], "price": rng.normal(10, 3, n).round(2),
        "click": (rng.random(n) < 1 / (1 + np.exp(-(2.0 * (f1 < 2) - 1)))).astype(int),
        "buy": (rng.random(n) < 1 / (1 + np.exp(-(2.0 * (f2 < 2) - 1.5)))).astype(int),
    })


def _behavior_rows(n: int) -> pd.DataFrame:
    from plexus.platform.data.datasets_synthetic import behavior_frame

    df = behavior_frame(num_users=USERS).sample(n, random_state=0).reset_index(drop=True)
    for c in ("hist_item", "hist_cate"):
        df[c] = df[c].map(lambda a: " ".join(str(x) for x in a))
    return df.drop(columns=["_split"])


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory, tracking_uri: str) -> dict[str, dict]:
    """One logged run per explainable model (plus ``lr``), and a CSV of raw rows for each dataset."""
    from plexus.platform.catalog import get_catalog
    from plexus.platform.data.user import import_dataset

    tmp = tmp_path_factory.mktemp("explain")
    data = tmp / "mtl.csv"
    _mtl_frame().to_csv(data, index=False)
    schema = tmp / "mtl.yaml"
    schema.write_text(yaml.safe_dump({
        "fields": [{"name": "user", "type": "categorical", "role": "user"},
                   {"name": "item", "type": "categorical", "role": "item"},
                   {"name": "ctx", "type": "categorical"}, {"name": "shop", "type": "categorical"},
                   {"name": "price", "type": "numeric", "transform": "standardize"}],
        "labels": [{"name": "click"}, {"name": "buy"}]}))
    import_dataset(data, name="explain-mtl", schema=schema, overwrite=True)
    get_catalog(refresh=True)  # list the imported dataset
    rows = {"synthetic-behavior": tmp / "behavior.csv", "explain-mtl": tmp / "mtl_rows.csv"}
    _behavior_rows(6).to_csv(rows["synthetic-behavior"], index=False)
    _mtl_frame(5, seed=1).to_csv(rows["explain-mtl"], index=False)
    out = {}
    for model, hp in TINY.items():
        dataset = "explain-mtl" if model == "dtrn" else "synthetic-behavior"
        opts = {"num_users": USERS} if dataset == "synthetic-behavior" else {}
        cfg = build_config({"train": {"epochs": 1, "batch_size": 256, "lr": 0.01}, "hparams": hp,
                            "dataset_options": opts,
                            "tracking": {"checkpoints": False, "experiment": "explain-tests"}},
                           model=model, dataset=dataset)
        res = train_model(cfg, tracking_uri=tracking_uri, progress=False)
        out[model] = {**res, "rows": rows[dataset]}
    return out


@pytest.mark.parametrize("model,kind", [("armnet_plus", "cross_features"), ("din", "behavior_attention"),
                                        ("autoint_plus", "field_pairs"), ("dtrn", "task_gates")])
def test_explain_json_gives_raw_values(model: str, kind: str, runs, tracking_uri: str, cli) -> None:
    run = runs[model]
    code, out, err = cli(["explain", run["run_id"], "--rows", str(run["rows"]), "--top", "3", "--json",
                          "--tracking-uri", tracking_uri])
    assert code == 0, err
    res = json.loads(out)["rows"]
    raw = pd.read_csv(run["rows"], dtype=str, keep_default_na=False)
    assert [r["row"] for r in res] == list(range(2, len(raw) + 2))  # file lines, header = 1
    for r, (_, src) in zip(res, raw.iterrows()):
        assert r["kind"] == kind and r["terms"]
        probs = r["prediction"]
        assert set(probs) == ({"click", "buy"} if model == "dtrn" else {"probability"})
        assert all(0.0 < p < 1.0 for p in probs.values())
        for t in r["terms"]:
            for f, v, pos in zip(t["fields"], t["values"], t["positions"] or [None] * len(t["fields"])):
                if f in ("hist_item", "hist_cate") and pos is not None:
                    assert v in src[f].split()  # one behaviour: a token of that row's history
                elif f in ("hist_item", "hist_cate"):
                    assert v == "[" + src[f] + "]"  # the whole (mean-pooled) history, decoded
                elif f == "price":
                    assert v == src[f]
                else:
                    assert v == src[f] or v == f"{src[f]} (unseen)", (f, v, src[f])
    if model == "din":
        assert res[0]["subject"] == {"item": raw["item"][0], "cate": raw["cate"][0]}
    if model == "dtrn":
        assert {t["group"] for t in res[0]["terms"]} == {"click", "buy"}
    if model == "autoint_plus":
        assert [t["group"] for t in res[0]["terms"]] == ["layer 1"] * 3 + ["layer 2"] * 3


def test_explain_predictions_match_the_logged_scorer(runs, tracking_uri: str, cli) -> None:
    import mlflow.pyfunc

    run = runs["din"]
    code, out, err = cli(["explain", run["run_id"], "--rows", str(run["rows"]), "--json",
                          "--tracking-uri", tracking_uri])
    assert code == 0, err
    from plexus.platform.tracking import using_tracking_uri

    with using_tracking_uri(tracking_uri):
        scorer = mlflow.pyfunc.load_model(run["model_uris"]["scorer"])
    df = _behavior_rows(6)
    expected = scorer.predict(df.drop(columns=["label", "t"]))["probability"].to_numpy()
    got = [r["prediction"]["probability"] for r in json.loads(out)["rows"]]
    np.testing.assert_allclose(got, expected, rtol=1e-5)


def test_explain_text_fits_80_columns(runs, tracking_uri: str, cli) -> None:
    for model in ("armnet_plus", "din", "autoint_plus", "dtrn"):
        run = runs[model]
        code, out, err = cli(["explain", run["run_id"], "--rows", str(run["rows"]), "--tracking-uri", tracking_uri])
        assert code == 0, err
        lines = out.splitlines()
        assert lines[0].startswith("row 2: ") and max(len(x) for x in lines) <= 80
    assert "x" in out or "click:" in out


def test_explain_reads_parquet(runs, tracking_uri: str, cli, tmp_path: Path) -> None:
    run = runs["dtrn"]
    pq = tmp_path / "rows.parquet"
    pd.read_csv(run["rows"]).to_parquet(pq)
    code, out, err = cli(["explain", run["run_id"], "--rows", str(pq), "--json", "--tracking-uri", tracking_uri])
    assert code == 0, err
    assert [r["row"] for r in json.loads(out)["rows"]] == [1, 2, 3, 4, 5]


def _one_line_error(code: int, out: str, err: str) -> str:
    assert code == 2 and not out.strip(), (code, out, err)
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err, err
    return err.strip()


def test_bad_inputs_are_one_line_errors(runs, tracking_uri: str, cli, tmp_path: Path) -> None:
    run = runs["din"]
    src = pd.read_csv(run["rows"], dtype=str, keep_default_na=False)
    missing = tmp_path / "missing.csv"
    src.drop(columns=["hist_cate"]).to_csv(missing, index=False)
    line = _one_line_error(*cli(["explain", run["run_id"], "--rows", str(missing), "--tracking-uri", tracking_uri]))
    assert str(missing) in line and "row 1" in line and "'hist_cate'" in line and "missing column" in line
    extra = tmp_path / "extra.csv"
    src.assign(colour="red").to_csv(extra, index=False)
    line = _one_line_error(*cli(["explain", run["run_id"], "--rows", str(extra), "--tracking-uri", tracking_uri]))
    assert str(extra) in line and "unknown column 'colour'" in line
    ragged = tmp_path / "ragged.csv"
    ragged.write_text(run["rows"].read_text().splitlines()[0] + "\n1,2\n")
    line = _one_line_error(*cli(["explain", run["run_id"], "--rows", str(ragged), "--tracking-uri", tracking_uri]))
    assert str(ragged) in line and "row 2" in line
    line = _one_line_error(*cli(["explain", "0123456789abcdef", "--rows", str(run["rows"]),
                                 "--tracking-uri", tracking_uri]))
    assert "run '0123456789abcdef' not found" in line
    line = _one_line_error(*cli(["explain", runs["lr"]["run_id"], "--rows", str(run["rows"]),
                                 "--tracking-uri", tracking_uri]))
    assert "nothing to explain" in line and "'lr'" in line
    line = _one_line_error(*cli(["explain", run["run_id"], "--rows", str(tmp_path / "nope.csv"),
                                 "--tracking-uri", tracking_uri]))
    assert "file not found" in line


def test_bad_input_in_a_fresh_process(runs, tracking_uri: str, tmp_path: Path) -> None:
    r = subprocess.run([sys.executable, "-m", "plexus.cli", "explain", runs["lr"]["run_id"], "--rows",
                        str(runs["lr"]["rows"]), "--tracking-uri", tracking_uri],
                       check=False, capture_output=True, text=True, cwd=tmp_path, timeout=300)
    assert "nothing to explain" in _one_line_error(r.returncode, r.stdout, r.stderr)


@pytest.mark.parametrize("model,kind", [("armnet_plus", "cross_features"), ("din", "behavior_attention"),
                                        ("autoint_plus", "field_pairs"), ("dtrn", "task_gates")])
def test_runs_log_a_global_attribution(model: str, kind: str, runs, tracking_uri: str) -> None:
    client = MlflowClient(tracking_uri)
    rid = runs[model]["run_id"]
    assert {a.path for a in client.list_artifacts(rid, "explain")} == {
        "explain/global_attribution.json", "explain/global_attribution.png"}
    folder = Path(client.download_artifacts(rid, "explain"))
    data = json.loads((folder / "global_attribution.json").read_text())
    assert data["kind"] == kind and 0 < data["rows"] <= 2000 and data["summary"]["split"] == "val"
    assert len(data["matrix"]) == len(data["row_labels"]) and len(data["matrix"][0]) == len(data["col_labels"])
    assert (folder / "global_attribution.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert data["compute_seconds"] >= 0 and float(client.get_run(rid).data.tags["plexus.explain_seconds"]) > 0
    assert runs["lr"]["run_id"] and not client.list_artifacts(runs["lr"]["run_id"], "explain")
