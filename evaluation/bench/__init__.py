"""Benchmarks: fidelity to the papers (``fidelity``) and speed against peer libraries (``speed``).

Run them with ``plexus bench fidelity`` and ``plexus bench speed``; results go to
``evaluation/results/`` (``fidelity.md``/``.csv``, ``speed.md``/``.json``).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

CONFIGS = Path(__file__).resolve().parent / "configs"
RESULTS = Path(__file__).resolve().parent.parent / "results"

__all__ = ["CONFIGS", "RESULTS", "write_result"]


def write_result(res: dict[str, Any], markdown: str, out_dir: str | Path, name: str) -> Path:
    """Write ``<name>.json`` (``res``) and ``<name>.md`` (``markdown``) under ``out_dir``; returns the ``.md`` path."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    (out / f"{name}.json").write_text(json.dumps(res, indent=1))
    md = out / f"{name}.md"
    md.write_text(markdown)
    return md
