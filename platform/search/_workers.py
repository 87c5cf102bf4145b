"""Local worker processes of a search: ``plexus worker`` subprocesses, one GPU each (round-robin)."""

from __future__ import annotations

import os
import subprocess
import sys
from typing import Any

from plexus.platform.search._settings import SearchSettings
from plexus.platform.search._trial import Echo

__all__ = ["gpu_ids", "spawn_workers"]


def gpu_ids() -> list[str]:
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is not None:
        return [g.strip() for g in visible.split(",") if g.strip() and g.strip() != "-1"]
    try:
        import torch

        return [str(i) for i in range(torch.cuda.device_count())]
    except Exception:  # noqa: BLE001 - no usable CUDA
        return []


def spawn_workers(
    settings: SearchSettings,
    study_name: str,
    storage_url: str,
    tracking_uri: str,
    echo: Echo | None,
    output: Any,
    progress: bool = True,
) -> list[int]:
    """Start ``settings.workers`` local ``plexus worker`` processes (one GPU each, round-robin) and wait.

    Their lines carry a ``[worker i]`` prefix; ``echo=None`` starts them ``--quiet``, ``progress=False``
    without per-epoch lines.
    """
    gpus = gpu_ids()
    out = output if output is not None else sys.stderr
    try:
        out.fileno()
    except (AttributeError, OSError, ValueError):  # e.g. a captured stream: inherit ours
        out = None
    procs = []
    for i in range(settings.workers):
        env = dict(os.environ)
        # secrets travel in the environment, not on the command line (visible in ps)
        env["PLEXUS_STORAGE"] = storage_url
        env["MLFLOW_TRACKING_URI"] = tracking_uri
        env["CUDA_VISIBLE_DEVICES"] = gpus[i % len(gpus)] if gpus else ""
        if not gpus:
            env.setdefault("OMP_NUM_THREADS", str(max(1, (os.cpu_count() or 1) // settings.workers)))
        cmd = [
            sys.executable,
            "-m",
            "plexus.cli",
            "worker",
            "--study",
            study_name,
            "--worker-index",
            str(i),
        ]
        if settings.timeout:
            cmd += ["--timeout", str(settings.timeout)]
        if echo is None:
            cmd.append("--quiet")
        elif not progress:
            cmd.append("--no-progress")
        if echo is not None:
            echo(f"worker {i}: {'GPU ' + env['CUDA_VISIBLE_DEVICES'] if gpus else 'CPU'}")
        procs.append(subprocess.Popen(cmd, env=env, stdout=out, stderr=out))
    codes = []
    try:
        for p in procs:
            codes.append(p.wait())
    except KeyboardInterrupt:
        for p in procs:
            if p.poll() is None:
                p.terminate()
        for p in procs:
            try:
                p.wait(timeout=30)
            except subprocess.TimeoutExpired:
                p.kill()
        raise
    if echo is not None and any(codes):
        echo(f"warning: worker exit codes {codes}")
    return codes
