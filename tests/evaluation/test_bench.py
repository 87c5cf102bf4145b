"""The benchmark harness: configs, the fidelity runner on a tiny config, result-file formats.

Timings are never asserted; only that the harness runs, tracks and writes well-formed files.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
import yaml
from plexus.evaluation.bench import CONFIGS, RESULTS
from plexus.evaluation.bench.fidelity import (
    COLUMNS,
    EXPERIMENT,
    list_configs,
    load_bench_config,
    merge_fidelity,
    parse_runs,
    repetitions,
    run_fidelity,
)
from plexus.evaluation.bench.speed import render_markdown, summarize
from plexus.platform.catalog import get_catalog
from plexus.platform.errors import ConfigError

# The harness needs some dataset, not Criteo: the generated CTR data runs on a fresh, offline machine.
TINY = {"dataset_options": {"num_users": 200}}  # synthetic-behavior, small for speed

HOSTED = ["din", "autoint", "autoint_plus", "armnet", "armnet_plus", "dtrn", "mmoe", "ple", "evolvegcn_h",
          "evolvegcn_o", "ncn", "ncnc", "gsmpp"]


def test_every_hosted_model_has_a_valid_config() -> None:
    """Each config names registered plugins and hyperparameters they accept, and states its paper source."""
    catalog = get_catalog()
    assert set(HOSTED) <= set(list_configs())
    for name in list_configs():
        bc = load_bench_config(name)
        entry = catalog.model(bc["model"])
        ds = catalog.dataset(bc["dataset"])
        assert set(entry.tasks) & set(ds.tasks), name
        entry.schema.validate(bc["config"].get("hparams") or {}, owner=name)  # raises on unknown/invalid values
        assert bc["paper"]["source"].strip() and bc["protocol"].strip()
        assert bc["metric"].startswith("test_")
        for base in bc["baselines"]:
            assert set(catalog.model(base).tasks) & set(ds.tasks), (name, base)


def test_bad_configs_are_rejected(tmp_path: Path) -> None:
    (tmp_path / "broken.yaml").write_text("model: lr\ndataset: criteo-10k\n")
    with pytest.raises(ConfigError, match="missing key 'metric'"):
        load_bench_config("broken", tmp_path)
    with pytest.raises(ConfigError, match="no fidelity config for 'nope'"):
        load_bench_config("nope", tmp_path)
    with pytest.raises(ConfigError, match="--seeds"):
        run_fidelity(["broken"], seeds=0, config_dir=tmp_path, out=None)


def test_fidelity_runs_a_tiny_config_tracked(tmp_path: Path, tracking_uri: str) -> None:
    """1 model, 1 seed, 1 epoch: a tracked run, its baseline, and well-formed fidelity.csv / .md that merge rows."""
    cfg = {"model": "lr", "dataset": "synthetic-behavior", "metric": "test_auc",
           "paper": {"value": 0.782, "source": "autoint.md (c) Table 2 LR", "dataset": "Criteo"},
           "protocol": "tiny", "differences": ["one epoch"], "baselines": ["fm"],
           "config": {"train": {"epochs": 3, "batch_size": 4096, "lr": 0.01}, **TINY},
           "baseline_config": {"hparams": {"embed_dim": 4, "not_an_fm_arg": 1}, "train": {"epochs": 3, "batch_size": 4096},
                               **TINY}}
    (tmp_path / "lr.yaml").write_text(yaml.safe_dump(cfg))
    out = tmp_path / "results"
    old = {c: "" for c in COLUMNS} | {"model": "zz_kept", "dataset": "x", "baselines": "[]", "seeds": 1}
    out.mkdir()
    with (out / "fidelity.csv").open("w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=COLUMNS)
        w.writeheader()
        w.writerow(old)

    rows = run_fidelity(["lr"], seeds=1, epochs_scale=0.3, tracking_uri=tracking_uri, config_dir=tmp_path, out=out)
    (row,) = rows
    assert row["status"] == "ok" and row["seeds"] == 1 and row["epochs"] == 1  # ceil(3 * 0.3)
    assert 0.0 < row["ours_mean"] < 1.0 and row["ours_std"] == 0.0
    (base,) = json.loads(row["baselines"])
    assert base["model"] == "fm" and 0.0 < base["mean"] < 1.0 and len(base["run_ids"]) == 1

    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri)
    run = client.get_run(row["run_ids"])
    assert client.get_experiment(run.info.experiment_id).name == EXPERIMENT
    assert run.data.tags["plexus.bench"] == "fidelity" and run.data.params["train.epochs"] == "1"
    assert abs(run.data.metrics["test_auc"] - row["ours_mean"]) < 1e-6

    with (out / "fidelity.csv").open(newline="") as fh:
        written = list(csv.DictReader(fh))
    assert [r["model"] for r in written] == ["lr", "zz_kept"]  # merged, sorted, old row kept
    assert list(written[0]) == COLUMNS
    md = (out / "fidelity.md").read_text()
    assert "| lr | lr | synthetic-behavior | test_auc | 0.782 (Criteo) |" in md and row["run_ids"] in md
    assert "Difference: one epoch." in md and base["run_ids"][0] in md
    assert row["machine"] in md and row["config"] == "lr" and row["repeat"] == "seed 0..0"

    # rows measured elsewhere (another machine's fidelity.csv) merge in by config name, replacing older rows
    other = tmp_path / "elsewhere.csv"
    moved = dict(written[0]) | {"ours_mean": "0.5", "machine": "NVIDIA H100 (CUDA), 16 CPUs"}
    with other.open("w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=COLUMNS)
        w.writeheader()
        w.writerow(moved)
    merge_fidelity([other], out, config_dir=tmp_path)
    with (out / "fidelity.csv").open(newline="") as fh:
        merged = {r["config"]: r for r in csv.DictReader(fh)}
    assert set(merged) == {"lr", "zz_kept"} and merged["lr"]["ours_mean"] == "0.5"
    assert "NVIDIA H100 (CUDA)" in (out / "fidelity.md").read_text()
    with pytest.raises(ConfigError, match="no fidelity rows"):
        merge_fidelity([tmp_path / "missing.csv"], out, config_dir=tmp_path)


def test_repeat_runs_folds_with_matching_seeds(tmp_path: Path) -> None:
    """A ``repeat`` config runs fold/split i with training seed i (baselines the same); otherwise seeds 0..n-1."""
    base = {"model": "gin", "dataset": "tu-mutag", "metric": "test_acc", "paper": {"source": "s"}, "protocol": "p",
            "config": {}}
    (tmp_path / "cv.yaml").write_text(yaml.safe_dump(base | {"repeat": {"option": "fold", "count": 10}}))
    (tmp_path / "plain.yaml").write_text(yaml.safe_dump(base))
    (tmp_path / "bad.yaml").write_text(yaml.safe_dump(base | {"repeat": {"option": "fold", "count": 0}}))
    runs = repetitions(load_bench_config("cv", tmp_path), seeds=3)
    assert runs == [(i, {"fold": i}) for i in range(10)]
    assert repetitions(load_bench_config("plain", tmp_path), seeds=3) == [(0, {}), (1, {}), (2, {})]
    with pytest.raises(ConfigError, match="'repeat' must be"):
        load_bench_config("bad", tmp_path)


def test_shards_run_chosen_repetitions_and_merge_into_one_row(tmp_path: Path, tracking_uri: str) -> None:
    """``only`` runs a shard of a repeat config; --merge joins disjoint shards per run index (values, run ids and
    baselines aligned, mean recomputed, machines listed), while an overlapping row replaces the old one."""
    cfg = {"model": "lr", "dataset": "synthetic-behavior", "metric": "test_auc", "paper": {"source": "s"},
           "protocol": "p", "baselines": ["fm"], "repeat": {"option": "seed", "count": 3},
           "config": {"train": {"epochs": 1, "batch_size": 4096, "lr": 0.01}, **TINY},
           "baseline_config": {"hparams": {"embed_dim": 4}, "train": {"epochs": 1, "batch_size": 4096}, **TINY}}
    cfg["repeat"] = None  # plain seeds: repetition i = training seed i
    (tmp_path / "lr.yaml").write_text(yaml.safe_dump({k: v for k, v in cfg.items() if v is not None}))
    a, b, full, out = (tmp_path / n for n in ("a", "b", "full", "out"))
    (ra,) = run_fidelity(["lr"], seeds=3, only=[2], tracking_uri=tracking_uri, config_dir=tmp_path, out=a)
    assert ra["runs"] == "2" and ra["seeds"] == 1 and ra["status"] == "partial: 1 of 3 runs"
    assert ra["repeat"] == "seed 2..2"
    (rb,) = run_fidelity(["lr"], seeds=3, only=[0, 1], tracking_uri=tracking_uri, config_dir=tmp_path, out=b)
    (rf,) = run_fidelity(["lr"], seeds=3, tracking_uri=tracking_uri, config_dir=tmp_path, out=full)
    assert rf["runs"] == "0 1 2" and rf["status"] == "ok"
    # the same seed gives the same number in a shard and in the full run: shards are the full row, cut up
    assert json.loads(rb["values"]) + json.loads(ra["values"]) == pytest.approx(json.loads(rf["values"]), abs=1e-9)

    with (a / "fidelity.csv").open(newline="") as fh:
        shard_a = next(r for r in csv.DictReader(fh) if r["config"] == "lr")
    shard_a["machine"] = "NVIDIA H100 (CUDA), 16 CPUs"  # as if measured elsewhere
    with (a / "fidelity.csv").open("w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=COLUMNS)
        w.writeheader()
        w.writerow(shard_a)
    merge_fidelity([a, b], out, config_dir=tmp_path)
    with (out / "fidelity.csv").open(newline="") as fh:
        (joined,) = [r for r in csv.DictReader(fh) if r["config"] == "lr"]
    full_vals = json.loads(rf["values"])
    assert joined["runs"] == "0 1 2" and joined["status"] == "ok" and joined["seeds"] == "3"
    assert json.loads(joined["values"]) == pytest.approx(full_vals, abs=1e-9)
    assert float(joined["ours_mean"]) == pytest.approx(rf["ours_mean"], abs=1e-6)
    assert joined["run_ids"].split() == rb["run_ids"].split() + [ra["run_ids"]]
    (fm,) = json.loads(joined["baselines"])
    (fm_full,) = json.loads(rf["baselines"])
    assert fm["values"] == pytest.approx(fm_full["values"], abs=1e-9) and len(fm["run_ids"]) == 3
    assert "NVIDIA H100" in joined["machine"] and "CPU" in joined["machine"]
    # an overlapping row (the full run again) replaces the joined one instead of doubling runs
    merge_fidelity([full], out, config_dir=tmp_path)
    with (out / "fidelity.csv").open(newline="") as fh:
        (again,) = [r for r in csv.DictReader(fh) if r["config"] == "lr"]
    assert again["run_ids"] == rf["run_ids"] and again["machine"] == rf["machine"]

    assert parse_runs("0-2,7, 5") == [0, 1, 2, 5, 7]
    for bad in ("x", "3-1", "-1", ""):
        with pytest.raises(ConfigError, match="--runs"):
            parse_runs(bad)
    with pytest.raises(ConfigError, match="has runs 0..2"):
        run_fidelity(["lr"], seeds=3, only=[3], config_dir=tmp_path, out=None)


def test_merged_shards_keep_the_extra_metrics_of_all_their_runs(tmp_path: Path) -> None:
    """--merge recomputes each extra metric (model and baselines) over the union of the shards' runs: the joined
    row's mean and sample std equal those of the unsharded row (per-run values are not stored, only mean/std)."""
    from plexus.evaluation.bench.fidelity import _row, write_fidelity

    cfg = {"model": "lr", "dataset": "synthetic-behavior", "metric": "test_auc", "paper": {"source": "s"},
           "protocol": "p", "baselines": ["fm"], "extra_metrics": ["test_logloss", "val_auc"],
           "config": {"train": {"epochs": 1}}}
    (tmp_path / "lr.yaml").write_text(yaml.safe_dump(cfg))
    bc = load_bench_config("lr", tmp_path)
    vals = [0.71, 0.74, 0.69, 0.80, 0.77]
    extra = {"test_logloss": [0.50, 0.43, 0.61, 0.38, 0.47], "val_auc": [0.70, 0.76, 0.66, 0.83, 0.75]}
    bextra = {"test_logloss": [0.55, 0.52, 0.58, 0.49, 0.51], "val_auc": [0.68, 0.70, 0.65, 0.73, 0.71]}

    def row(idx: list[int]) -> dict:
        mine = {"values": [vals[i] for i in idx], "run_ids": [f"m{i}" for i in idx], "epochs_run": [1] * len(idx),
                "extra": {k: [v[i] for i in idx] for k, v in extra.items()}}
        base = {"values": [v - 0.1 for v in mine["values"]], "run_ids": [f"b{i}" for i in idx], "error": "",
                "extra": {k: [v[i] for i in idx] for k, v in bextra.items()}}
        return _row(bc, mine, {"fm": base}, idx, 5, "", 1.0, 0, "machine", 1.0)

    full = row([0, 1, 2, 3, 4])
    for name, idx in (("a", [0, 3]), ("b", [1, 2]), ("c", [4])):  # three shards, joined one after another
        write_fidelity([row(idx)], tmp_path / name, config_dir=tmp_path)
    merge_fidelity([tmp_path / n for n in "abc"], tmp_path / "out", config_dir=tmp_path)
    with (tmp_path / "out" / "fidelity.csv").open(newline="") as fh:
        (joined,) = list(csv.DictReader(fh))
    assert joined["runs"] == "0 1 2 3 4" and json.loads(joined["values"]) == pytest.approx(vals)
    got, want = json.loads(joined["extra"]), json.loads(full["extra"])
    assert set(got) == {"test_logloss", "val_auc"} and want["val_auc"][1] > 0
    for k in want:
        assert got[k] == pytest.approx(want[k], abs=1e-12), k
    (fm,) = json.loads(joined["baselines"])
    (fm_full,) = json.loads(full["baselines"])
    assert set(fm["extra"]) == set(bextra)
    for k in bextra:
        assert fm["extra"][k] == pytest.approx(fm_full["extra"][k], abs=1e-12), k
    assert "test_logloss" in (tmp_path / "out" / "fidelity.md").read_text()
    # a shard measured without one of the metrics: that metric is dropped, not shown as the other shard's mean
    one = row([0, 1])
    one["extra"] = json.dumps({k: v for k, v in json.loads(one["extra"]).items() if k == "val_auc"})
    write_fidelity([one], tmp_path / "d", config_dir=tmp_path)
    write_fidelity([row([2])], tmp_path / "e", config_dir=tmp_path)
    merge_fidelity([tmp_path / "d", tmp_path / "e"], tmp_path / "out2", config_dir=tmp_path)
    with (tmp_path / "out2" / "fidelity.csv").open(newline="") as fh:
        (joined,) = list(csv.DictReader(fh))
    assert set(json.loads(joined["extra"])) == {"val_auc"}
    assert json.loads(joined["extra"])["val_auc"][0] == pytest.approx(sum(extra["val_auc"][:3]) / 3)


def test_fidelity_records_a_failing_model_and_goes_on(tmp_path: Path, tracking_uri: str) -> None:
    cfg = {"model": "lr", "dataset": "synthetic-behavior", "metric": "test_auc", "paper": {"source": "none"},
           "protocol": "p", "config": {"hparams": {"init_std": "not a number"}, "train": {"epochs": 1, "batch_size": 4096},
                                       **TINY}}
    (tmp_path / "bad_hp.yaml").write_text(yaml.safe_dump(cfg))
    (row,) = run_fidelity(["bad_hp"], seeds=1, tracking_uri=tracking_uri, config_dir=tmp_path, out=tmp_path)
    assert row["status"].startswith("failed:") and row["ours_mean"] == "" and row["run_ids"] == ""
    assert "init_std" in row["status"]  # the model's own error, not a missing dataset
    assert "failed" in (tmp_path / "fidelity.md").read_text()


def test_speed_summary_ratios_and_markdown() -> None:
    raw = [{"bench": "din-train", "library": lib, "metric": "samples_per_s", "round": r,
            "result": {"samples_per_s": v, "peak_rss_mb": 100.0}}
           for r, (a, b) in enumerate([(2000.0, 1000.0), (3000.0, 1000.0), (2500.0, 2000.0)])
           for lib, v in (("plexus", a), ("deepctr-torch 0.3.0", b))]
    raw += [{"bench": "gcn-cora", "library": "plexus", "metric": "epoch_ms", "round": 0, "result": {"epoch_ms": 10.0}},
            {"bench": "gcn-cora", "library": "plain PyG script", "metric": "epoch_ms", "round": 0,
             "result": {"epoch_ms": 15.0}},
            {"bench": "trial-overhead", "library": "untracked train_model", "metric": "trial_s", "round": 0,
             "result": {"trial_s": 9.0}},
            {"bench": "trial-overhead", "library": "plexus search (Optuna + MLflow)", "metric": "trial_s", "round": 0,
             "result": {"trial_s": 10.0}},
            {"bench": "gcn-cora", "library": "broken", "metric": "epoch_ms", "round": 0, "result": {"error": "boom"}}]
    summary = {(r["bench"], r["library"]): r for r in summarize(raw)}
    peer = summary[("din-train", "deepctr-torch 0.3.0")]
    assert (peer["median"], peer["min"], peer["max"], peer["n"]) == (1000.0, 1000.0, 2000.0, 3)
    assert summary[("din-train", "plexus")]["median"] == 2500.0
    assert peer["ratio_plexus_over_peer"] == pytest.approx(2.5)
    assert peer["ratio_per_round"] == pytest.approx([2.0, 3.0, 1.25])  # Plexus / peer within each round
    assert summary[("gcn-cora", "plain PyG script")]["speedup_plexus"] == pytest.approx(1.5)
    over = summary[("trial-overhead", "plexus search (Optuna + MLflow)")]
    assert (over["overhead_s"], over["overhead_pct"], over["overhead_pct_of_3s"]) == pytest.approx((1.0, 10.0, 100 / 3))
    assert summary[("gcn-cora", "broken")]["median"] is None
    md = render_markdown({"environment": {"machine": "m", "threads": 1, "repeats": 3, "load_start": "1",
                                          "load_end": "2"}, "summary": list(summary.values()), "notes": ["n1"]})
    assert "Plexus / peer throughput = 2.50" in md and "failed: boom" in md and "- n1" in md
    assert "overhead = +1.000 s per trial = 10.0 % of this trial, 33.3 % of a 3-s trial" in md


def test_speed_ctr_peers_are_compared_with_their_like_for_like_variant() -> None:
    from plexus.evaluation.bench.speed import CTR_VARIANTS

    paper, deep = CTR_VARIANTS["autoint"]["paper"][0], CTR_VARIANTS["autoint"]["deepctr"][0]
    rates = {paper: (1000.0, 1500.0), deep: (2000.0, 2400.0), "deepctr-torch 0.3.0": (1000.0, 2000.0),
             "fuxictr 2.3.10 (model_zoo)": (500.0, 1000.0)}
    raw = [{"bench": "autoint-train", "library": lib, "metric": "samples_per_s", "round": r,
            "result": {"samples_per_s": v[r], "samples_per_cpu_s": 2 * v[r]}}
           for lib, v in rates.items() for r in (0, 1)]
    summary = {r["library"]: r for r in summarize(raw)}
    deepctr, fuxi = summary["deepctr-torch 0.3.0"], summary["fuxictr 2.3.10 (model_zoo)"]
    assert deepctr["like_for_like"] == deep and fuxi["like_for_like"] == paper
    assert deepctr["ratio_per_round"] == pytest.approx([2.0, 1.2])  # 26-field variant / DeepCTR, per round
    assert deepctr["ratio_paper_over_peer"] == pytest.approx(1250 / 1500)
    assert fuxi["ratio_per_round"] == pytest.approx([2.0, 1.5]) and "ratio_paper_over_peer" not in fuxi
    assert deepctr["cpu_ratio"] == pytest.approx(2200 / 1500)
    assert deepctr["cpu_ratio_per_round"] == pytest.approx([2.0, 1.2])
    md = render_markdown({"environment": {"machine": "m", "threads": 1, "repeats": 2, "load_start": "1",
                                          "load_end": "2", "date": "d", "commit": "abc1234"},
                          "summary": list(summary.values()), "notes": []})
    assert f"{deep} / peer throughput = 1.47 (per round: 2.00, 1.20)" in md and "commit abc1234" in md


def test_committed_result_files_are_well_formed() -> None:
    """The committed results parse, carry the columns/keys the renderers write, and link run ids."""
    fid, spd = RESULTS / "fidelity.csv", RESULTS / "speed.json"
    if not fid.exists() and not spd.exists():
        pytest.skip("no committed benchmark results yet (run `plexus bench fidelity` / `plexus bench speed`)")
    if fid.exists():
        with fid.open(newline="") as fh:
            rows = list(csv.DictReader(fh))
        assert rows and list(rows[0]) == COLUMNS
        for r in rows:
            if r["status"] == "ok":
                assert len(r["run_ids"].split()) == int(r["seeds"]) and r["ours_mean"] != ""
            json.loads(r["baselines"])
        assert (RESULTS / "fidelity.md").exists()
    if spd.exists():
        res = json.loads(spd.read_text())
        assert {"environment", "summary", "raw", "notes"} <= set(res)
        for r in res["summary"]:
            assert {"bench", "library", "metric", "median", "min", "max"} <= set(r)
            if r["median"] is not None:
                assert r["min"] <= r["median"] <= r["max"]
        assert (RESULTS / "speed.md").exists()


def test_configs_folder_is_the_committed_one() -> None:
    assert CONFIGS.is_dir() and (CONFIGS / "din.yaml").is_file()


def test_cli_bench_reports_user_errors(capfd: pytest.CaptureFixture) -> None:
    from plexus.cli import main

    with pytest.raises(SystemExit) as exc:
        main(["bench", "fidelity", "--models", "no_such_model", "--seeds", "1"])
    assert exc.value.code == 2
    err = capfd.readouterr().err
    assert "no fidelity config for 'no_such_model'" in err and len(err.strip().splitlines()) == 1
    with pytest.raises(SystemExit) as exc:
        main(["bench", "speed", "--part", "nope", "--repeats", "1"])
    assert exc.value.code == 2 and "unknown speed part 'nope'" in capfd.readouterr().err


def test_a_time_budget_shows_in_the_epochs_column_and_marks_the_row_reduced() -> None:
    """A config whose runs stop at ``train.time_limit`` is not trained to convergence: the row says so."""
    from plexus.evaluation.bench.fidelity import _row, render_markdown

    bc = {"_name": "t", "model": "gsmpp", "dataset": "tolokers", "metric": "test_auc", "paper": {"source": "s"},
          "protocol": "p", "differences": [], "repeat": {"option": "split", "count": 10},
          "config": {"train": {"epochs": 200, "time_limit": 1100}}}
    mine = {"values": [0.8, 0.7, 0.75], "run_ids": ["a", "b", "c"], "epochs_run": [47, 52, 50], "extra": {}}
    row = _row(bc, mine, {}, [0, 1, 2], 10, "", 1.0, 0, "cpu", 1.0)
    assert row["epochs"] == "200 (max 1100 s)"
    assert "200 (max 1100 s) (47 52 50)" in render_markdown([row | {"status": "ok"}])
    assert "| ok (reduced) |" in render_markdown([row | {"status": "ok"}])
    plain = _row(bc | {"config": {"train": {"epochs": 200}}}, mine, {}, [0, 1, 2], 10, "", 1.0, 0, "cpu", 1.0)
    assert plain["epochs"] == 200 and "| ok |" in render_markdown([plain | {"status": "ok"}])
    capped = _row(bc, mine, {}, [0, 1, 2], 10, "", 1.0, 30, "cpu", 1.0)
    assert capped["epochs"] == "200 (max 30 steps, max 1100 s)"


def test_fidelity_report_gives_the_paired_difference_to_each_baseline() -> None:
    """Baselines run on the same splits and seeds, so the report pairs runs: the difference per run, not of means."""
    from plexus.evaluation.bench.fidelity import _row, render_markdown

    bc = {"_name": "t", "model": "dtrn", "dataset": "census-income", "metric": "test_auc", "paper": {"source": "s"},
          "protocol": "p", "differences": [], "config": {"train": {"epochs": 20}}}
    mine = {"values": [0.90, 0.80, 0.70], "run_ids": ["a", "b", "c"], "epochs_run": [5, 5, 5], "extra": {}}
    base = {"values": [0.89, 0.78, 0.72], "run_ids": ["d", "e", "f"], "error": "", "extra": {}}
    md = render_markdown([_row(bc, mine, {"mmoe": base}, [0, 1, 2], 3, "", 1.0, 0, "cpu", 1.0)])
    # differences +0.01, +0.02, -0.02: mean 0.0033, sample std 0.0208 (the means' gap alone hides the spread)
    assert "ours − mmoe = 0.0033 ± 0.0208, ours ahead in 2 of 3" in md
