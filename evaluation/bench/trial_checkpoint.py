"""What uploading a trial's checkpoint costs, and what resuming a dead worker's trial saves.

    python -m plexus.evaluation.bench.trial_checkpoint [--rounds 3] [--out evaluation/results]

Overhead: one short trial (``lr`` on synthetic-behavior, 100 users, 8 epochs of ~0.1 s) with
``search.checkpoint_every_s=0`` (off) and with ``0.001`` (an upload after every epoch but the last, the
worst case), interleaved, each in a fresh study on a local SQLite store; the trial's own ``duration_s`` and
the uploads' time (``plexus.checkpoint_uploads``) are recorded. Savings: the seconds per epoch of the
configuration of ``tests/platform/search/test_resume.py`` (1000 users, batch 16), from its per-epoch metric
timestamps; a retry that resumes after epoch E skips E of them. Writes ``trial_checkpoint.json``/``.md``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from plexus.evaluation.bench import write_result


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


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--out", default="evaluation/results")
    a = ap.parse_args()
    short = {"dataset_options.num_users": 100, "epochs": 8, "batch_size": 64}
    runs: dict[str, list[dict[str, object]]] = {"off": [], "every_epoch": []}
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(a.rounds):
            for label, every in (("off", 0), ("every_epoch", 0.001)):
                runs[label].append(_trial(Path(tmp), f"{label}-{r}", {**short, "search.checkpoint_every_s": every}))
        long = _trial(Path(tmp), "long", {"dataset_options.num_users": 1000, "epochs": 10, "batch_size": 16,
                                          "search.checkpoint_every_s": 1})
    off = statistics.median(float(x["duration_s"]) for x in runs["off"])
    on = statistics.median(float(x["duration_s"]) for x in runs["every_epoch"])
    up = statistics.median(float(x["upload_s"]) / max(1, int(x["uploads"])) for x in runs["every_epoch"])
    res = {"rounds": runs, "long": long, "median_off_s": off, "median_every_epoch_s": on,
           "ratio": round(on / off, 3), "upload_s_each": round(up, 4)}
    md = (
        "# Trial checkpoints uploaded to the tracking store\n\n"
        f"Short trial (lr, synthetic-behavior, 100 users, 8 epochs), local SQLite store, {a.rounds} rounds "
        f"interleaved, median trial duration ({os.cpu_count()}-core CPU box, {time.strftime('%Y-%m-%d')}):\n\n"
        "| checkpoint_every_s | uploads | trial duration s |\n|---|---|---|\n"
        f"| 0 (off) | 0 | {off:.2f} |\n"
        f"| 0.001 (every epoch) | {runs['every_epoch'][0]['uploads']} | {on:.2f} |\n\n"
        f"Ratio {on / off:.3f}; one upload (save + log_artifact) {up * 1000:.1f} ms.\n\n"
        f"Resume test configuration (1000 users, batch 16, 10 epochs): {long['s_per_epoch']} s an epoch; "
        "a retry that resumes after epoch E skips E of them.\n"
    )
    print(json.dumps(res, indent=1))
    write_result(res, md, a.out, "trial_checkpoint")


if __name__ == "__main__":
    main()
