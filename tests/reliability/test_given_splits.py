"""Given splits and dataset options through the CLI: one line on stderr, exit 2, nothing written.

Split values that are not train/val/test, split files that are missing or malformed, a file argument that
contradicts the schema's split files, and unknown or mistyped ``dataset_options`` of imported and built-in
datasets (checked before any file is read or any run is created).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import yaml
from plexus.platform.catalog import get_catalog
from reliability_helpers import assert_one_line_error, run_cli, runs, tree

LIBSVM = "format: libsvm\nsplit: {method: files, train: tr.svm, val: va.svm, test: te.svm}\n"


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory, tracking_uri: str) -> Iterator[dict]:
    """A data home with one imported dataset (``good``: a CSV with a random split) and bad inputs beside it."""
    root = tmp_path_factory.mktemp("given_splits")
    rows = ["user,item,clicked,part"] + [f"u{i % 5},i{i % 7},{i % 2},{('train', 'val', 'test')[i % 3]}"
                                         for i in range(30)]
    (root / "good.csv").write_text("\n".join(rows) + "\n")
    fields = [{"name": "user", "type": "categorical"}, {"name": "item", "type": "categorical"}]
    (root / "random.yaml").write_text(yaml.safe_dump({"fields": fields, "labels": [{"name": "click", "column": "clicked"}],
                                                      "split": {"method": "random", "seed": 0}}))
    (root / "column.yaml").write_text(yaml.safe_dump({"fields": fields, "labels": [{"name": "click", "column": "clicked"}],
                                                      "split": {"method": "column", "column": "part"}}))
    bad = list(rows)
    bad[12] = bad[12].rsplit(",", 1)[0] + ",Test set"
    (root / "bad_part.csv").write_text("\n".join(bad) + "\n")
    (root / "no_val.csv").write_text("\n".join(r for r in rows if not r.endswith(",val")) + "\n")
    (root / "tr.svm").write_text("+1 1:1 10:1\n-1 2:1 11:1\n+1 1:1 12:1\n")
    (root / "va.svm").write_text("+1 1:1 10:1\n-1 2:1 11:1\n")
    (root / "svm.yaml").write_text(LIBSVM)  # te.svm is missing
    (root / "sub").mkdir()
    for name in ("tr.svm", "te.svm"):
        (root / "sub" / name).write_text("+1 1:1 10:1\n-1 2:1 11:1\n")
    (root / "sub" / "va.svm").write_text("+1 1:1 10:1\n-1 2:1 11 1\n")  # no colon in row 2
    (root / "sub" / "svm.yaml").write_text(LIBSVM)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("PLEXUS_DATA", str(root / "home"))
        mp.chdir(root)
        from plexus.cli import main

        get_catalog(refresh=True)
        main(["datasets", "import", str(root / "good.csv"), "--name", "good", "--schema", str(root / "random.yaml")])
        get_catalog(refresh=True)
        yield {"root": root, "home": root / "home", "uri": tracking_uri}
    get_catalog(refresh=True)


IMPORT_CASES = {
    "split-value-unknown": ("{root}/bad_part.csv --schema {root}/column.yaml",
                            ["bad_part.csv", "row 13", "field 'part'", "'Test set' must be train, val or test"]),
    "split-value-absent": ("{root}/no_val.csv --schema {root}/column.yaml", ["no_val.csv", "'part'", "no val rows"]),
    "split-file-missing": ("--schema {root}/svm.yaml", ["te.svm", "file not found"]),
    "split-file-malformed": ("--schema {root}/sub/svm.yaml", ["va.svm", "row 2", "idx:value"]),
    "split-file-argument-differs": ("{root}/va.svm --schema {root}/sub/svm.yaml", ["as train file", "va.svm"]),
    "no-file-no-split-files": ("--schema {root}/column.yaml", ["name the file to import"]),
}


@pytest.mark.parametrize("case", sorted(IMPORT_CASES))
def test_bad_given_split(case: str, env: dict, capfd: pytest.CaptureFixture) -> None:
    template, needles = IMPORT_CASES[case]
    before = tree(env["home"])
    code, out, err = run_cli(["datasets", "import", *template.format(root=env["root"]).split(), "--name", "x"], capfd)
    assert_one_line_error(code, err, *needles)
    assert out == "" and tree(env["home"]) == before


OPTION_CASES = {
    "imported-unknown": ("good", ["--set", "dataset_options.bogus=1"], ["unknown option 'bogus'", "dataset 'good'"]),
    "imported-typo": ("good", ["--set", "dataset_options.sed=1"], ["did you mean 'seed'"]),
    "imported-mistyped": ("good", ["--set", "dataset_options.seed=abc"], ["'good' option 'seed' expects int"]),
    "imported-fractions": ("good", ["--set", "dataset_options.fractions=[0.5,0.6,0.1]"],
                           ["'fractions' must be three numbers"]),
    "builtin-unknown": ("criteo-10k", ["--set", "dataset_options.bogus=1"], ["unknown option 'bogus'", "criteo-10k"]),
    "builtin-mistyped": ("criteo-10k", ["--set", "dataset_options.seed=abc"], ["'criteo-10k' option 'seed' expects int"]),
    "builtin-bad-choice": ("criteo-10k", ["--set", "dataset_options.numeric_transform=log3"], ["'numeric_transform'"]),
}


@pytest.mark.parametrize("case", sorted(OPTION_CASES))
def test_bad_dataset_option(case: str, env: dict, capfd: pytest.CaptureFixture) -> None:
    dataset, args, needles = OPTION_CASES[case]
    before_runs, before = set(runs(env["uri"])), tree(env["home"])
    code, _, err = run_cli(["train", "lr", "--dataset", dataset, *args, "--tracking-uri", env["uri"]], capfd)
    assert_one_line_error(code, err, *needles)
    assert set(runs(env["uri"])) == before_runs and tree(env["home"]) == before  # checked before anything ran


def test_bad_dataset_option_in_an_experiment_file(env: dict, capfd: pytest.CaptureFixture) -> None:
    cfg = env["root"] / "exp.yaml"
    cfg.write_text("dataset_options: {min_cout: 2}\n")
    code, _, err = run_cli(["train", "lr", "--dataset", "good", "--config", str(cfg), "--tracking-uri", env["uri"]],
                           capfd)
    assert_one_line_error(code, err, "unknown option 'min_cout'", "did you mean 'min_count'")
