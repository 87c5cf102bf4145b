"""Benchmarks: fidelity to the papers (``fidelity``) and speed against peer libraries (``speed``).

Run them with ``plexus bench fidelity`` and ``plexus bench speed``; results go to
``evaluation/results/`` (``fidelity.md``/``.csv``, ``speed.md``/``.json``).
"""

from __future__ import annotations

from pathlib import Path

CONFIGS = Path(__file__).resolve().parent / "configs"
RESULTS = Path(__file__).resolve().parent.parent / "results"

__all__ = ["CONFIGS", "RESULTS"]
