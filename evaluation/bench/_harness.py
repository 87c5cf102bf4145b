"""What every benchmark shares: the results folder, machine info, timing in fresh processes, side-by-side
ratios and result files.

A benchmark is a *case*: a module with a ``DESCRIPTION`` and a typed ``run(...)`` function, listed in
:data:`plexus.evaluation.bench.BENCHMARKS` and reached through ``plexus bench NAME``. Workers that must run in
a fresh process are module-level functions started with :func:`worker_command` and read back with
:func:`run_fresh`; they print one JSON line (run as ``python -m plexus.evaluation.bench._harness
MODULE:FUNCTION JSON_KWARGS``).
"""

from __future__ import annotations

import importlib
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["CONFIGS", "RESULTS", "ROOT", "Case", "commit", "machine_info", "ratios", "run_fresh",
           "worker_command", "write_result"]

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
CONFIGS = HERE / "configs"
RESULTS = HERE.parent / "results"
_PACKAGE = "plexus.evaluation.bench."


@dataclass(frozen=True)
class Case:
    """One benchmark: ``run`` is its typed entry point (keyword options, each with a default, documented in
    its docstring's ``Args:``); ``description`` is the line ``plexus bench --help`` shows."""

    name: str
    description: str
    run: Callable[..., Any]


def commit() -> str:
    """The short git commit of the checkout (``unknown`` outside a git checkout)."""
    try:
        out = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=str(ROOT),
                             timeout=10, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"
    return out.stdout.strip() or "unknown"


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine_info(threads: int | None = None) -> dict[str, Any]:
    """Where and when a benchmark ran: CPU model, cores, torch threads (``threads`` or torch's current
    setting), GPU name (``None`` without CUDA), Python and torch versions, date, git commit, load average."""
    import torch

    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else None
    return {"cpu": _cpu_model(), "arch": platform.machine(), "cores": os.cpu_count(),
            "torch_threads": threads if threads is not None else torch.get_num_threads(), "gpu": gpu,
            "python": platform.python_version(), "torch": torch.__version__, "date": time.strftime("%Y-%m-%d"),
            "commit": commit(), "load_avg": [round(x, 2) for x in os.getloadavg()]}


def describe(info: dict[str, Any]) -> str:
    """One line for a results table from :func:`machine_info`."""
    dev = f", GPU {info['gpu']}" if info.get("gpu") else ""
    return (f"{info['cpu']} ({info['cores']} cores, {info['torch_threads']} torch thread(s){dev}), "
            f"Python {info['python']}, torch {info['torch']}; {info['date']}, commit {info['commit']}")


def worker_command(fn: Callable[..., dict[str, Any]], **kwargs: Any) -> list[str]:
    """The command that runs the module-level function ``fn`` of a benchmark module with ``kwargs`` in a fresh
    interpreter; ``fn`` returns a JSON-able dict, printed as one line."""
    if not fn.__module__.startswith(_PACKAGE) or "." in fn.__qualname__:
        raise ValueError(f"{fn.__module__}.{fn.__qualname__} is not a module-level benchmark function")
    return [sys.executable, "-m", "plexus.evaluation.bench._harness", f"{fn.__module__}:{fn.__qualname__}",
            json.dumps(kwargs)]


def run_fresh(cmd: Sequence[str], threads: int = 1, timeout: float = 1800,
              env: dict[str, str] | None = None) -> dict[str, Any]:
    """Run ``cmd`` in a fresh process with ``threads`` torch/OMP/MKL threads; return the last JSON line it
    printed, or ``{"error": ...}`` on a non-zero exit, no JSON output or a timeout."""
    full = {**os.environ, "OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads),
            "PLEXUS_BENCH_THREADS": str(threads), "MLFLOW_DISABLE_TELEMETRY": "true", "RAY_USAGE_STATS_ENABLED": "0",
            "PYTHONPATH": "", **(env or {})}
    try:
        proc = subprocess.run(list(cmd), capture_output=True, text=True, timeout=timeout, env=full, cwd=str(ROOT),
                              check=False)
    except subprocess.TimeoutExpired:
        return {"error": f"timed out after {timeout:.0f}s"}
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
    if proc.returncode != 0 or not lines:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or ["no output"]
        return {"error": f"exit {proc.returncode}: {tail[0][:300]}"}
    return json.loads(lines[-1])


def ratios(reference: Sequence[float], other: Sequence[float]) -> dict[str, Any]:
    """Side by side: ``reference`` and ``other`` measured in the same rounds (round ``i`` of each back to back).

    Returns the medians, ``ratio`` = median(other) / median(reference) and ``per_round`` = other[i] /
    reference[i] (e.g. seconds: ``ratio`` > 1 means the reference is faster)."""
    if not reference or not other:
        raise ValueError("ratios need at least one measurement on each side")
    ref, oth = statistics.median(reference), statistics.median(other)
    return {"reference_median": ref, "other_median": oth, "ratio": oth / ref,
            "per_round": [o / r for r, o in zip(reference, other, strict=False) if r]}


def write_result(res: dict[str, Any], markdown: str, out_dir: str | Path, name: str) -> Path:
    """Write ``<name>.json`` (``res``) and ``<name>.md`` (``markdown``) under ``out_dir``; returns the ``.md`` path."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    (out / f"{name}.json").write_text(json.dumps(res, indent=1, default=str) + "\n")
    md = out / f"{name}.md"
    md.write_text(markdown if markdown.endswith("\n") else markdown + "\n")
    return md


def _worker_main(argv: list[str]) -> None:
    import torch

    torch.set_num_threads(int(os.environ.get("PLEXUS_BENCH_THREADS", "1")))
    module, _, function = argv[0].partition(":")
    if not module.startswith(_PACKAGE):
        raise SystemExit(f"not a benchmark module: {module}")
    fn = getattr(importlib.import_module(module), function)
    print(json.dumps(fn(**json.loads(argv[1] if len(argv) > 1 else "{}")), default=str))


if __name__ == "__main__":
    _worker_main(sys.argv[1:])
