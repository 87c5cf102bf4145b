"""SIGKILL at the worst moment: in the middle of a cache write, of a manifest write, of training.

Each child is a real ``plexus`` process with one function wrapped to pause at the chosen moment (it
writes a marker file and sleeps); the test then SIGKILLs it, so the kill lands exactly there.
The resumable checkpoint itself is covered by tests/platform/training; here: the MLflow run state.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from reliability_helpers import BAD, good_rows, run_cli, runs, tree, write_rows

CHILD = textwrap.dedent('''
    import os, sys, time
    marker, where, args = sys.argv[1], sys.argv[2], sys.argv[3:]

    def pause():
        open(marker, "w").close()
        time.sleep(600)

    if where == "cache":
        import numpy as np
        real_save, calls = np.save, [0]

        def save(*a, **k):
            real_save(*a, **k)
            calls[0] += 1
            if calls[0] == 3:
                pause()
        np.save = save
    elif where == "manifest":
        real_replace = os.replace

        def replace(src, dst):
            if str(dst).endswith("manifest.json"):
                pause()
            return real_replace(src, dst)
        os.replace = replace
    elif where == "train":
        import plexus.platform.training.trainer as tr
        real_ckpt = tr.save_checkpoint

        def save_checkpoint(path, state):
            out = real_ckpt(path, state)
            if state.get("epoch", 0) >= 1:
                pause()
            return out
        tr.save_checkpoint = save_checkpoint
    from plexus.cli import main
    main(args)
''')


def kill_at(tmp: Path, where: str, args: list[str], env: dict[str, str]) -> None:
    """Run ``plexus ARGS`` in a child, SIGKILL it once it reached ``where``."""
    script = tmp / "child.py"
    script.write_text(CHILD)
    marker = tmp / f"reached-{where}"
    proc = subprocess.Popen([sys.executable, str(script), str(marker), where, *args], env=env, cwd=tmp,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 240
    while not marker.exists():
        if proc.poll() is not None:
            raise AssertionError(f"child ended before reaching {where}: {proc.stderr.read()[-2000:]}")
        if time.monotonic() > deadline:
            proc.kill()
            raise AssertionError(f"child never reached {where}")
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    assert proc.wait(timeout=60) == -signal.SIGKILL


@pytest.fixture()
def home(data_home: Path, tmp_path: Path, capfd: pytest.CaptureFixture) -> Path:
    """A data home with one earlier import (``earlier``)."""
    write_rows(tmp_path / "earlier.csv", good_rows(40, seed=1))
    code, _, err = run_cli(["datasets", "import", str(tmp_path / "earlier.csv"), "--name", "earlier", "--schema",
                            str(BAD / "schema.yaml")], capfd)
    assert code == 0, err
    return data_home


@pytest.mark.parametrize("where", ["cache", "manifest"])
def test_kill_during_import(where: str, home: Path, tmp_path: Path, capfd: pytest.CaptureFixture) -> None:
    data = write_rows(tmp_path / "new.csv", good_rows(300, seed=2))
    args = ["datasets", "import", str(data), "--name", "new", "--schema", str(BAD / "schema.yaml")]
    earlier = {k: v for k, v in tree(home).items()}
    kill_at(tmp_path, where, args, dict(os.environ))
    after_kill = tree(home)
    # the kill landed mid-write: the writer's temporary files are there
    prefix = ".tmp-" if where == "cache" else ".manifest."
    assert any(Path(k).parts[-2 if where == "cache" else -1].startswith(prefix) for k in after_kill)
    # the earlier dataset and its cache entry are untouched
    assert all(after_kill.get(k) == v for k, v in earlier.items())
    # no published cache entry without its meta.json, and no manifest for the killed import
    cache = home / "cache" / "tabular"
    assert all((d / "meta.json").is_file() for d in cache.iterdir() if not d.name.startswith(".tmp-"))
    assert not (home / "datasets" / "new" / "manifest.json").exists()
    code, out, err = run_cli(["datasets", "list", "--json"], capfd)
    assert code == 0, err
    assert {r["name"]: r["status"] for r in json.loads(out) if r["source"] == "user"} == {"earlier": "ok"}
    # the next import works without --overwrite, and cleans what the killed process left
    code, _, err = run_cli(args, capfd)
    assert code == 0, err
    code, out, err = run_cli(["datasets", "show", "new", "--json"], capfd)
    assert code == 0, err
    assert sum(json.loads(out)["stats"]["rows"].values()) == 300
    leftovers = [p for p in home.rglob("*") if p.name.startswith((".tmp-", ".manifest."))]
    assert leftovers == []
    code, _, err = run_cli(["datasets", "show", "earlier", "--json"], capfd)
    assert code == 0, err


def test_kill_during_training_then_resume(home: Path, tmp_path: Path, tracking_uri: str,
                                         capfd: pytest.CaptureFixture) -> None:
    """A SIGKILLed run stays RUNNING (nothing can end it); ``--resume`` reopens it, records that it was
    killed (tag ``plexus.resumed_from_status=KILLED``) and ends it FINISHED, with no duplicate run."""
    uri = tracking_uri
    args = ["train", "lr", "--dataset", "earlier", "--tracking-uri", uri, "--set", "epochs=2", "--set", "patience=0",
            "--set", "tracking.log_model=false", "--set", "tracking.experiment=killed", "--json"]
    before = set(runs(uri))
    kill_at(tmp_path, "train", args, dict(os.environ))
    (run,) = [r for k, r in runs(uri).items() if k not in before]
    assert run.info.status == "RUNNING"  # documented: a killed process cannot mark its run
    ckpt = Path(run.data.tags["plexus.checkpoint_dir"]) / "last.pt"
    assert ckpt.is_file()
    code, out, err = run_cli(["train", "lr", "--dataset", "earlier", "--tracking-uri", uri, "--resume",
                              run.info.run_id, "--json", "--set", "epochs=2", "--set", "patience=0",
                              "--set", "tracking.log_model=false"], capfd)
    assert code == 0, err
    result = json.loads(out)
    assert result["run_id"] == run.info.run_id and result["epochs_run"] == 2
    (after,) = [r for k, r in runs(uri).items() if k not in before]
    assert after.info.status == "FINISHED" and after.data.tags["plexus.state"] == "COMPLETE"
    assert after.data.tags["plexus.resumed_from_status"] == "KILLED"
    # one metric point per epoch: the resumed run did not repeat the epoch finished before the kill
    from mlflow.tracking import MlflowClient

    steps = [m.step for m in MlflowClient(uri).get_metric_history(run.info.run_id, "train_loss")]
    assert sorted(steps) == [1, 2]
