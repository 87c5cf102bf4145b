"""Benchmarks: one table of cases, each reached as ``plexus bench NAME``.

A case is a module with a ``DESCRIPTION`` and a typed ``run(...)`` (keyword options with defaults, documented
under ``Args:``) that writes ``NAME.json`` and ``NAME.md`` (fidelity: ``.csv``) into ``evaluation/results/``
or ``--out``. What they share (machine info, fresh-process timing, side-by-side ratios, result files) is in
:mod:`plexus.evaluation.bench._harness`. ``evaluation/results/README.md`` lists every result file and the
command that regenerates it.
"""

from __future__ import annotations

from plexus.evaluation.bench import (
    encode,
    explain_cost,
    fidelity,
    gpu_check,
    nas_report,
    speed,
    team_server,
    trial_checkpoint,
)
from plexus.evaluation.bench._harness import CONFIGS, RESULTS, Case, write_result

__all__ = ["BENCHMARKS", "CONFIGS", "RESULTS", "Case", "write_result"]

BENCHMARKS: dict[str, Case] = {
    "fidelity": Case("fidelity", fidelity.DESCRIPTION, fidelity.run_fidelity),
    "speed": Case("speed", speed.DESCRIPTION, speed.run_speed),
    "encode": Case("encode", encode.DESCRIPTION, encode.run),
    "nas": Case("nas", nas_report.DESCRIPTION, nas_report.run),
    "team-server": Case("team-server", team_server.DESCRIPTION, team_server.run),
    "trial-checkpoint": Case("trial-checkpoint", trial_checkpoint.DESCRIPTION, trial_checkpoint.run),
    "explain-cost": Case("explain-cost", explain_cost.DESCRIPTION, explain_cost.run),
    "gpu-check": Case("gpu-check", gpu_check.DESCRIPTION, gpu_check.run),
}
