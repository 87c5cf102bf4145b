"""Secrets never leak; untrusted files never execute code.

A password given in a storage / tracking URL must not appear on stdout, stderr, in MLflow params, tags
or artifacts, in checkpoints or in log files. YAML is read with ``safe_load``; checkpoints with
``weights_only=True``: a pickle whose ``__reduce__`` would create a marker file must fail cleanly.
"""

from __future__ import annotations

import json
import os
import pickle
from pathlib import Path

import pytest
import torch

from plexus.platform.errors import CheckpointError
from plexus.platform.tracking import mask_text, mask_url
from plexus.platform.training.checkpoint import load_checkpoint
from reliability_helpers import BAD, assert_one_line_error, good_rows, run_cli, runs, write_rows

SECRET = "Hunter2-pw_S3cret"
DATA = "synthetic-behavior"  # generated: these errors never depend on which data is at hand


@pytest.mark.parametrize("url", [
    f"postgresql+psycopg://alice:{SECRET}@db.example:5432/optuna",
    f"mysql://alice:{SECRET}@127.0.0.1/x?charset=utf8",
    f"https://alice:{SECRET}@mlflow.example/",
    f"postgresql://:{SECRET}@10.0.0.1/db",
    f"postgresql://alice:{SECRET}%40x@db/d",
])
def test_mask_url_and_text(url: str) -> None:
    assert SECRET not in mask_url(url) and "***" in mask_url(url)
    text = f"error: could not connect to {url} (timeout); retry {url}"
    masked = mask_text(text)
    assert SECRET not in masked and masked.count("***") == 2
    assert mask_url("sqlite:///tmp/x.db") == "sqlite:///tmp/x.db"  # nothing to hide, nothing changed


@pytest.mark.parametrize("uri", [f"postgresql+psycopg://alice:{SECRET}@127.0.0.1:9/db",
                                 f"http://alice:{SECRET}@127.0.0.1:9", f"ftp://alice:{SECRET}@127.0.0.1/x"])
def test_unreachable_store_error_is_masked(uri: str, data_home: Path, capfd: pytest.CaptureFixture) -> None:
    code, out, err = run_cli(["train", "lr", "--dataset", DATA, "--tracking-uri", uri], capfd)
    line = assert_one_line_error(code, err, "alice:***@127.0.0.1")
    assert SECRET not in line and SECRET not in out


def test_successful_run_leaks_no_secret(data_home: Path, tmp_path: Path, tracking_uri: str,
                                        capfd: pytest.CaptureFixture) -> None:
    """A secret in the config (the search study's storage URL) is masked everywhere the run writes."""
    write_rows(tmp_path / "d.csv", good_rows(40))
    code, _, err = run_cli(["datasets", "import", str(tmp_path / "d.csv"), "--name", "d", "--schema",
                            str(BAD / "schema.yaml")], capfd)
    assert code == 0, err
    storage = f"postgresql+psycopg://alice:{SECRET}@db.example/optuna"
    cfg = tmp_path / "exp.yaml"
    cfg.write_text(f"search: {{storage: '{storage}'}}\ntrain: {{epochs: 1}}\n")
    before = set(runs(tracking_uri))
    code, out, err = run_cli(["train", "lr", "--dataset", "d", "--config", str(cfg), "--tracking-uri", tracking_uri,
                              "--set", "tracking.log_model=false", "--json"], capfd)
    assert code == 0, err
    assert SECRET not in out and SECRET not in err
    (run,) = [r for k, r in runs(tracking_uri).items() if k not in before]
    assert run.data.params["search.storage"] == "postgresql+psycopg://alice:***@db.example/optuna"
    assert not any(SECRET in v for v in [*run.data.params.values(), *run.data.tags.values()])
    # artifacts (config.yaml, history), the checkpoint and every file the run wrote
    from mlflow.artifacts import download_artifacts

    art = Path(download_artifacts(run_id=run.info.run_id, tracking_uri=tracking_uri, dst_path=str(tmp_path / "a")))
    files = [p for p in art.rglob("*") if p.is_file()]
    files += [p for p in Path(run.data.tags["plexus.checkpoint_dir"]).rglob("*") if p.is_file()]
    files += [p for p in (tmp_path / "mlruns").rglob("*") if p.is_file()] if (tmp_path / "mlruns").exists() else []
    assert any(p.name == "config.yaml" for p in files) and any(p.suffix == ".pt" for p in files)
    leaks = [str(p) for p in files if SECRET.encode() in p.read_bytes()]
    assert leaks == []


class _Evil:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_malicious_checkpoint_never_executes(data_home: Path, tmp_path: Path, capfd: pytest.CaptureFixture) -> None:
    marker = tmp_path / "pwned"
    evil = tmp_path / "evil.pt"
    torch.save({"format": 1, "model": _Evil(marker)}, evil)  # a real torch file that runs os.system when unpickled
    raw = tmp_path / "raw.pt"
    raw.write_bytes(pickle.dumps(_Evil(marker)))
    for p in (evil, raw):
        with pytest.raises(CheckpointError, match="corrupted or unsafe"):
            load_checkpoint(p)
        assert not marker.exists()
    # the control: an unrestricted unpickler would have run it (so the test above can fail)
    pickle.loads(raw.read_bytes())
    assert marker.exists()
    marker.unlink()
    code, out, err = run_cli(["train", "lr", "--dataset", DATA, "--resume", str(evil),
                              "--tracking-uri", f"sqlite:///{tmp_path / 'm.db'}"], capfd)
    assert_one_line_error(code, err, "evil.pt", "corrupted or unsafe checkpoint")
    assert not marker.exists()


def test_yaml_tags_never_execute(data_home: Path, tmp_path: Path, capfd: pytest.CaptureFixture) -> None:
    marker = tmp_path / "pwned"
    payloads = [f"!!python/object/apply:os.system ['touch {marker}']",
                f"!!python/object/new:os.system ['touch {marker}']",
                "!!python/name:os.system", "!!python/module:os"]
    write_rows(tmp_path / "d.csv", good_rows(20))
    for i, payload in enumerate(payloads):
        cfg = tmp_path / f"c{i}.yaml"
        cfg.write_text(f"hparams:\n  init_std: {payload}\n")
        code, _, err = run_cli(["train", "lr", "--dataset", DATA, "--config", str(cfg)], capfd)
        assert_one_line_error(code, err, f"c{i}.yaml")
        sch = tmp_path / f"s{i}.yaml"
        sch.write_text(f"fields:\n  - {{name: user, type: categorical, role: {payload}}}\nlabels: [label]\n")
        code, _, err = run_cli(["datasets", "import", str(tmp_path / "d.csv"), "--name", "d", "--schema", str(sch)],
                               capfd)
        assert_one_line_error(code, err, f"s{i}.yaml")
        code, _, err = run_cli(["train", "lr", "--dataset", DATA, "--set", f"init_std={payload}"], capfd)
        assert_one_line_error(code, err, "init_std")
    assert not marker.exists()
