"""Bad input through the CLI: one line on stderr, exit code 2, no traceback, nothing half-written.

Builds on tests/plexus/cli/test_cli_errors.py (train-option basics) and the library-level corpora of
tests/platform/data (which check file/row/field of each DataError): here every case goes through
``plexus ...`` and the test proves what was *not* changed: the data home (caches, manifests of earlier
imports) is byte-identical, no checkpoint appears, no MLflow run is left RUNNING.
"""

from __future__ import annotations

import json
from typing import Iterator

import pytest
import yaml

from plexus.platform.catalog import get_catalog
from plexus.platform.tracking._locations import checkpoint_root
from reliability_helpers import (BAD, GRAPHS, assert_one_line_error, good_rows, run_cli, runs, tree, with_cell,
                                 write_rows)

SCHEMA = BAD / "schema.yaml"


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory, tracking_uri: str) -> Iterator[dict]:
    """A data home holding one good imported dataset (``good``) and a folder of generated bad files."""
    root = tmp_path_factory.mktemp("bad_input")
    src = root / "src"
    src.mkdir()
    rows = good_rows()
    write_rows(src / "good.csv", rows)
    write_rows(src / "label_minus_one.csv", with_cell(rows, 9, 6, "-1"))
    write_rows(src / "label_overflow.csv", with_cell(rows, 9, 6, "1e400"))
    write_rows(src / "price_overflow.csv", with_cell(rows, 5, 2, "1e400"))
    write_rows(src / "price_huge_digits.csv", with_cell(rows, 5, 2, "9" * 400))
    write_rows(src / "price_minus_inf.csv", with_cell(rows, 6, 2, "-inf"))
    write_rows(src / "ts_inf.csv", with_cell(rows, 4, 5, "inf"))
    write_rows(src / "label_huge.csv", with_cell(rows, 7, 6, "1" * 100_000))
    (src / "evil_schema.yaml").write_text(
        f"fields: !!python/object/apply:os.system ['touch {root / 'pwned'}']\nlabels: [label]\n")
    (src / "list_schema.yaml").write_text("- user\n- item\n")
    (src / "no_labels.yaml").write_text(yaml.safe_dump({"fields": [{"name": "user", "type": "categorical"}]}))
    (src / "binary.csv").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)) * 4)
    (src / "edges_text.csv").write_text("source,target\n0,1\n1,x\n")
    (src / "edges_only_header.csv").write_text("source,target\n")
    (src / "edges_good.csv").write_text("source,target\n" + "".join(f"{i},{(i * 7 + 3) % 40}\n" for i in range(40)))
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("PLEXUS_DATA", str(root / "home"))
        mp.chdir(root)
        from plexus.cli import main

        get_catalog(refresh=True)
        main(["datasets", "import", str(src / "good.csv"), "--name", "good", "--schema", str(SCHEMA)])
        main(["datasets", "import", str(src / "edges_good.csv"), "--name", "good-graph", "--kind", "graph"])
        get_catalog(refresh=True)
        yield {"root": root, "src": src, "home": root / "home", "uri": tracking_uri}
    get_catalog(refresh=True)


# (args, needles in the one stderr line); "{src}" / "{bad}" / "{graphs}" are filled in
IMPORT_CASES = {
    # wrong label values
    "label-minus-one": ("{src}/label_minus_one.csv --name x --schema {schema}", ["row 9", "'label'", "0 or 1"]),
    "label-overflow": ("{src}/label_overflow.csv --name x --schema {schema}", ["row 9", "'label'"]),
    "label-huge-field": ("{src}/label_huge.csv --name x --schema {schema}", ["row 7", "'label'"]),
    "label-not-binary": ("{bad}/label_not_binary.csv --name x --schema {schema}", ["row 5", "'label'"]),
    # NaN and infinities
    "numeric-nan": ("{bad}/numeric_nan.csv --name x --schema {schema}", ["numeric_nan.csv", "row 3", "'price'"]),
    "numeric-inf": ("{bad}/numeric_inf.csv --name x --schema {schema}", ["row 4", "'price'"]),
    "numeric-overflow": ("{src}/price_overflow.csv --name x --schema {schema}", ["row 5", "'price'", "inf"]),
    "numeric-400-digits": ("{src}/price_huge_digits.csv --name x --schema {schema}", ["row 5", "'price'"]),
    "numeric-minus-inf": ("{src}/price_minus_inf.csv --name x --schema {schema}", ["row 6", "'price'"]),
    "timestamp-inf": ("{src}/ts_inf.csv --name x --schema {schema}", ["row 4", "'ts'"]),
    # malformed CSV / Parquet / libFM
    "csv-ragged": ("{bad}/ragged_row_extra.csv --name x --schema {schema}", ["ragged_row_extra.csv", "row 4"]),
    "csv-empty-file": ("{bad}/empty.csv --name x --schema {schema}", ["empty.csv"]),
    "csv-bad-utf8": ("{bad}/bad_utf8.csv --name x --schema {schema}", ["bad_utf8.csv", "row 3"]),
    "csv-binary-garbage": ("{src}/binary.csv --name x --schema {schema}", ["binary.csv"]),
    "parquet-not-parquet": ("{bad}/not_parquet.parquet --name x --schema {schema}", ["not_parquet.parquet"]),
    "parquet-bad-label": ("{bad}/parquet_label_bad.parquet --name x --schema {schema}", ["row 2", "'label'"]),
    "parquet-inf": ("{bad}/parquet_numeric_inf.parquet --name x --schema {schema}", ["row 2", "'price'"]),
    "libfm-no-colon": ("{bad}/libfm_no_colon.libfm --name x --schema {bad}/schema_libfm.yaml", ["row 2", "'item'"]),
    "libfm-bad-label": ("{bad}/libfm_bad_label.libfm --name x --schema {bad}/schema_libfm.yaml", ["row 2", "'label'"]),
    # schemas
    "schema-python-tag": ("{src}/good.csv --name x --schema {src}/evil_schema.yaml", ["evil_schema.yaml"]),
    "schema-not-mapping": ("{src}/good.csv --name x --schema {src}/list_schema.yaml", ["list_schema.yaml"]),
    "schema-no-labels": ("{src}/good.csv --name x --schema {src}/no_labels.yaml", ["no_labels.yaml"]),
    "schema-unknown-type": ("{src}/good.csv --name x --schema {bad}/schema_unknown_type.yaml", ["'user'"]),
    "schema-missing": ("{src}/good.csv --name x --schema {src}/nope.yaml", ["nope.yaml", "not found"]),
    "schema-absent": ("{src}/good.csv --name x", ["--schema is required"]),
    # arguments
    "data-missing": ("{src}/nope.csv --name x --schema {schema}", ["nope.csv", "not found"]),
    "name-invalid": ("{src}/good.csv --name Bad/Name --schema {schema}", ["invalid dataset name"]),
    "name-builtin": ("{src}/good.csv --name criteo-10k --schema {schema}", ["builtin dataset"]),
    "name-taken": ("{src}/price_overflow.csv --name good --schema {schema}", ["already imported"]),
    "kind-unknown": ("{src}/good.csv --name x --kind tensor", ["--kind must be"]),
    # edge lists
    "edges-unknown-node": ("{graphs}/unknown_node.csv --name x --kind graph --node-file {graphs}/unknown_node.nodes.csv",
                           ["unknown_node.csv", "row 4", "'target'", "unknown node 9"]),
    "edges-node-file-missing": ("{graphs}/unknown_node.csv --name x --kind graph --node-file {src}/nodes.csv",
                                ["nodes.csv", "not found"]),
    "edges-text-id": ("{src}/edges_text.csv --name x --kind graph", ["edges_text.csv", "row 3", "'target'"]),
    "edges-header-only": ("{src}/edges_only_header.csv --name x --kind graph", ["edges_only_header.csv"]),
    "edges-negative-id": ("{graphs}/negative_id.csv --name x --kind graph", ["row 4", "'source'"]),
    "temporal-bad-time": ("{graphs}/nonnumeric_time.csv --name x --kind temporal", ["row 4", "'time'"]),
    "temporal-truncated-gz": ("{graphs}/corrupt.csv.gz --name x --kind temporal", ["corrupt.csv.gz"]),
}


@pytest.mark.parametrize("case", sorted(IMPORT_CASES))
def test_bad_import(case: str, env: dict, capfd: pytest.CaptureFixture) -> None:
    template, needles = IMPORT_CASES[case]
    args = template.format(src=env["src"], bad=BAD, graphs=GRAPHS, schema=SCHEMA).split()
    before = tree(env["home"])
    code, out, err = run_cli(["datasets", "import", *args], capfd)
    assert_one_line_error(code, err, *needles)
    assert out == ""
    # nothing half-written: caches and the earlier imports are byte-identical, no new entry, no temp file
    assert tree(env["home"]) == before
    assert not (env["root"] / "pwned").exists()


def test_earlier_imports_still_load_after_bad_ones(env: dict, capfd: pytest.CaptureFixture) -> None:
    code, out, err = run_cli(["datasets", "show", "good", "--json"], capfd)
    assert code == 0, err
    d = json.loads(out)
    assert d["source"] == "user" and sum(d["stats"]["rows"].values()) == 60
    assert sorted(p.name for p in (env["home"] / "datasets").iterdir()) == ["good", "good-graph"]


TRAIN_CASES = {
    "hparam-python-tag": (["lr", "--set", "init_std=!!python/object/apply:os.system ['touch {root}/pwned']"],
                          ["'init_std' expects float"]),
    "hparam-nan": (["lr", "--set", "init_std=.nan"], ["'init_std' expects float"]),
    "hparam-list-for-int": (["dnn", "--set", "embed_dim=[1, 2]"], ["'embed_dim' expects int"]),
    "hparam-bool-for-int": (["dnn", "--set", "embed_dim=true"], ["'embed_dim'"]),
    "hparam-bad-choice": (["dnn", "--set", "activation=swishh"], ["'activation'"]),
    "hparam-negative-width": (["dnn", "--set", "embed_dim=-4"], ["model 'dnn'", "could not be built"]),
    "hparam-dropout-above-one": (["dnn", "--set", "dropout=2.5"], ["model 'dnn'", "could not be built"]),
    "epochs-float": (["lr", "--set", "epochs=1.5"], ["train.epochs"]),
    "epochs-absurd-float": (["lr", "--set", "epochs=1e30"], ["train.epochs"]),
    "epochs-zero": (["lr", "--set", "epochs=0"], ["train.epochs must be"]),
    "batch-size-zero": (["lr", "--set", "batch_size=0"], ["train.batch_size must be"]),
    "lr-nan": (["lr", "--set", "train.lr=.nan"], ["train.lr"]),
    "lr-inf": (["lr", "--set", "train.lr=.inf"], ["train.lr", "finite"]),
    "lr-negative": (["lr", "--set", "train.lr=-0.1"], ["train.lr must be"]),
    "optimizer-typo": (["lr", "--set", "optimizer=adamm"], ["train.optimizer"]),
    "train-key-typo": (["lr", "--set", "train.epoch=3"], ["unknown setting 'train.epoch'", "did you mean 'epochs'"]),
    "dataset-option-unknown": (["lr", "--set", "dataset_options.bogus=1"], ["bogus"]),
    "task-unknown": (["lr", "--task", "clicks"], ["task 'clicks'"]),
    "resume-garbage-file": (["lr", "--resume", "{root}/garbage.pt"], ["garbage.pt", "corrupted or unsafe"]),
    "resume-empty-dir": (["lr", "--resume", "{root}/emptydir"], ["last.pt", "not found"]),
    "tracking-unreachable-postgres": (["lr", "--tracking-uri", "postgresql+psycopg://u:pw@127.0.0.1:9/db"],
                                      ["unreachable"]),
    "tracking-bad-scheme": (["lr", "--tracking-uri", "ftp://127.0.0.1/x"], ["ftp://"]),
}


def _checkpoints(uri: str) -> list[str]:
    """Checkpoint folders of the store (beside it): a rejected input must add none."""
    root = checkpoint_root(uri)
    return sorted(p.name for p in root.iterdir()) if root.is_dir() else []


@pytest.mark.parametrize("case", sorted(TRAIN_CASES))
def test_bad_train_input(case: str, env: dict, capfd: pytest.CaptureFixture) -> None:
    root = env["root"]
    (root / "garbage.pt").write_bytes(b"not a checkpoint at all" * 10)
    (root / "emptydir").mkdir(exist_ok=True)
    args, needles = TRAIN_CASES[case]
    args = [a.format(root=root) for a in args]
    if "--tracking-uri" not in args:
        args += ["--tracking-uri", env["uri"]]
    before, ckpts = set(runs(env["uri"])), _checkpoints(env["uri"])
    code, out, err = run_cli(["train", *args, "--dataset", "good", "--set", "tracking.log_model=false"], capfd)
    assert_one_line_error(code, err, *needles)
    assert _checkpoints(env["uri"]) == ckpts and not (root / "pwned").exists()
    assert set(runs(env["uri"])) == before  # checked before training: no run was created


def test_bad_config_files(env: dict, capfd: pytest.CaptureFixture) -> None:
    """Config YAML that sets an unknown or mistyped hyperparameter, or hides a Python tag deep inside."""
    root = env["root"]
    cases = {
        "unknown.yaml": ("hparams: {embed_dimm: 4}\n", ["unknown hyperparameter", "did you mean 'embed_dim'"]),
        "mistyped.yaml": ("hparams: {embed_dim: big}\n", ["'embed_dim' expects int"]),
        "section.yaml": ("train: [1, 2]\n", ["section 'train' must be a mapping"]),
        "deep_tag.yaml": (f"hparams:\n  hidden: [!!python/object/apply:os.system ['touch {root}/pwned'], 4]\n",
                          ["deep_tag.yaml", "malformed YAML"]),
        "not_utf8.yaml": (b"hparams: {embed_dim: \xff\xfe}\n", ["not UTF-8"]),
    }
    before, ckpts = set(runs(env["uri"])), _checkpoints(env["uri"])
    for name, (text, needles) in cases.items():
        p = root / name
        p.write_bytes(text if isinstance(text, bytes) else text.encode())
        code, _, err = run_cli(["train", "dnn", "--dataset", "good", "--config", str(p), "--tracking-uri", env["uri"]],
                               capfd)
        assert_one_line_error(code, err, *needles)
    assert not (root / "pwned").exists() and _checkpoints(env["uri"]) == ckpts
    assert set(runs(env["uri"])) == before


def test_failure_after_the_run_started_marks_it_failed(env: dict, capfd: pytest.CaptureFixture) -> None:
    """A weight scale of 1e38 overflows at the first step: one line, and the MLflow run ends FAILED with a reason."""
    before = set(runs(env["uri"]))
    code, _, err = run_cli(["train", "lr", "--dataset", "good", "--set", "init_std=1e38", "--set", "epochs=2",
                            "--tracking-uri", env["uri"], "--set", "tracking.log_model=false"], capfd)
    assert_one_line_error(code, err, "loss became nan")
    new = [r for rid, r in runs(env["uri"]).items() if rid not in before]
    assert len(new) == 1
    run = new[0]
    assert run.info.status == "FAILED"
    assert "loss became nan" in run.data.tags["plexus.failure_reason"]
    assert "plexus.state" not in run.data.tags or run.data.tags["plexus.state"] != "COMPLETE"
    ckpt = checkpoint_root(env["uri"]) / run.info.run_id
    assert not ckpt.exists() or not list(ckpt.glob("*.pt"))  # the failing step wrote no checkpoint


def test_unusable_device_marks_run_failed(env: dict, capfd: pytest.CaptureFixture) -> None:
    before = set(runs(env["uri"]))
    code, _, err = run_cli(["train", "lr", "--dataset", "good", "--set", "device=tpu9",
                            "--tracking-uri", env["uri"], "--set", "tracking.log_model=false"], capfd)
    assert_one_line_error(code, err, "train.device=tpu9")
    new = [r for rid, r in runs(env["uri"]).items() if rid not in before]
    assert all(r.info.status == "FAILED" and "tpu9" in r.data.tags["plexus.failure_reason"] for r in new)


def test_bare_commands_and_unknown_commands(capfd: pytest.CaptureFixture) -> None:
    code, out, err = run_cli([], capfd)
    assert code == 2 and "Usage" in out and "Traceback" not in err
    code, _, err = run_cli(["trian"], capfd)
    assert_one_line_error(code, err, "No such command 'trian'")
    code, _, err = run_cli(["datasets", "import"], capfd)  # the file is optional (a schema may name split files)
    assert_one_line_error(code, err, "Missing option '--name'")
    code, _, err = run_cli(["datasets", "show", "no-such-set"], capfd)
    assert_one_line_error(code, err, "unknown dataset 'no-such-set'")
