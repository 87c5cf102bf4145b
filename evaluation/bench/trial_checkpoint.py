"""What uploading a trial's checkpoint costs, and what resuming a dead worker's trial saves.

    plexus bench trial-checkpoint [--rounds 3] [--out evaluation/results]

Overhead: one short trial (``lr`` on synthetic-behavior, 100 users, 8 epochs of ~0.1 s) with
``search.checkpoint_every_s=0`` (off) and with ``0.001`` (an upload after every epoch but the last, the
worst case), interleaved, each in a fresh study on a local SQLite store; the trial's own ``duration_s`` and
the uploads' time (``plexus.checkpoint_uploads``) are recorded. Savings: the seconds per epoch of the
configuration of ``tests/platform/search/test_resume.py`` (1000 users, batch 16), from its per-epoch metric
timestamps; a retry that resumes after epoch E skips E of them. Writes ``trial_checkpoint.json``/``.md``.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from plexus.evaluation.bench._harness import RESULTS, describe, machine_info, write_result

__all__ = ["DESCRIPTION", "run"]

DESCRIPTION = "Cost of uploading trial checkpoints, and the epoch a resumed retry skips (trial_checkpoint.md/.json)."


def _trial(root: Path, name: str, sets: dict[str, object]) -> dict[str, object]:
    import optuna
    from mlflow.tracking import MlflowClient

    storage, uri = f"sqlite:///{root / 'optuna.db'}", f"sqlite:///{root / 'mlflow.db'}"
    args = ["search", "lr", "--dataset", "synthetic-behavior", "--trials", "1", "--study", name, "--storage",
            storage, "--tracking-uri", uri, "--sampler", "random", "--json", "--set", "search.log_models=none",
            "--set", "search.register=false", "--set", "patience=100"]
    for k, v in sets.items():
        args += ["--set", f"{k}={v}"]
    subprocess.run([sys.executable, "-m", "plexus.cli", *args], check=True, capture_output=True,
                   env={**os.environ, "OMP_NUM_THREADS": "1"})
    t = optuna.load_study(study_name=name, storage=storage).trials[0]
    hist = MlflowClient(uri).get_metric_history(t.user_attrs["mlflow_run_id"], "train_loss")
    stamps = sorted(m.timestamp for m in hist)
    per_epoch = (stamps[-1] - stamps[0]) / 1000 / max(1, len(stamps) - 1)
    uploads = t.user_attrs.get("plexus.checkpoint_uploads", [0, 0.0])
    return {"duration_s": t.user_attrs["plexus.duration_s"], "uploads": uploads[0], "upload_s": uploads[1],
            "s_per_epoch": round(per_epoch, 3)}


def run(rounds: int = 3, out: Path | None = RESULTS) -> dict[str, Any]:
    """Time ``rounds`` short trials with checkpoints off and after every epoch, interleaved.

    Args:
        rounds: trials per setting.
        out: results folder for trial_checkpoint.json/.md (None: write nothing).
    """
    short = {"dataset_options.num_users": 100, "epochs": 8, "batch_size": 64}
    runs: dict[str, list[dict[str, object]]] = {"off": [], "every_epoch": []}
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(rounds):
            for label, every in (("off", 0), ("every_epoch", 0.001)):
                runs[label].append(_trial(Path(tmp), f"{label}-{r}", {**short, "search.checkpoint_every_s": every}))
        long = _trial(Path(tmp), "long", {"dataset_options.num_users": 1000, "epochs": 10, "batch_size": 16,
                                          "search.checkpoint_every_s": 1})
    off = statistics.median(float(x["duration_s"]) for x in runs["off"])
    on = statistics.median(float(x["duration_s"]) for x in runs["every_epoch"])
    up = statistics.median(float(x["upload_s"]) / max(1, int(x["uploads"])) for x in runs["every_epoch"])
    info = machine_info(threads=1)
    res = {"rounds": runs, "long": long, "median_off_s": off, "median_every_epoch_s": on,
           "ratio": round(on / off, 3), "upload_s_each": round(up, 4), "machine_info": info}
    md = (
        "# Trial checkpoints uploaded to the tracking store\n\n"
        f"Short trial (lr, synthetic-behavior, 100 users, 8 epochs), local SQLite store, {rounds} rounds "
        f"interleaved, median trial duration ({describe(info)}):\n\n"
        "| checkpoint_every_s | uploads | trial duration s |\n|---|---|---|\n"
        f"| 0 (off) | 0 | {off:.2f} |\n"
        f"| 0.001 (every epoch) | {runs['every_epoch'][0]['uploads']} | {on:.2f} |\n\n"
        f"Ratio {on / off:.3f}; one upload (save + log_artifact) {up * 1000:.1f} ms.\n\n"
        f"Resume test configuration (1000 users, batch 16, 10 epochs): {long['s_per_epoch']} s an epoch; "
        "a retry that resumes after epoch E skips E of them.\n"
    )
    if out is not None:
        write_result(res, md, out, "trial_checkpoint")
    return res
