"""Helpers of the reliability suite: in-process CLI runs, data-home snapshots, MLflow run states."""

from __future__ import annotations

import os
import random
from pathlib import Path

import pytest

from plexus.platform.catalog import get_catalog
from plexus.cli import main

REPO = Path(__file__).resolve().parents[2]
FIXTURES = REPO / "tests" / "fixtures"
BAD = FIXTURES / "bad_data"
GRAPHS = FIXTURES / "bad_graphs"
CLI_LOG: list[tuple[list[str], int, str]] = []  # (args, exit code, last stderr line) per run_cli; read by conftest


def run_cli(args: list[str], capfd: pytest.CaptureFixture) -> tuple[int, str, str]:
    """``plexus ARGS`` in this process; returns (exit code, stdout, stderr)."""
    get_catalog(refresh=True)  # user datasets and plugins are read per invocation, as in a fresh process
    code = 0
    try:
        main([str(a) for a in args])
    except SystemExit as exc:
        code = int(exc.code or 0)
    out, err = capfd.readouterr()
    lines = [ln for ln in err.splitlines() if ln.strip()]
    CLI_LOG.append(([str(a) for a in args], code, lines[-1] if lines else ""))
    return code, out, err


def assert_one_line_error(code: int, err: str, *needles: str) -> str:
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert code == 2, (code, err[-3000:])
    assert len(lines) == 1, err[-3000:]
    assert "Traceback" not in err and lines[0].startswith("error: ")
    assert len(lines[0]) < 1000, f"error line of {len(lines[0])} characters"  # one readable line, not a data dump
    for n in needles:
        assert n in lines[0], (n, lines[0])
    return lines[0]


def tree(root: Path) -> dict[str, bytes]:
    """Every file under ``root`` with its bytes (to prove nothing was half-written)."""
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def good_rows(n: int = 60, seed: int = 0) -> list[str]:
    """A valid CSV for ``tests/fixtures/bad_data/schema.yaml``."""
    r = random.Random(seed)
    rows = ["user,item,price,tags,hist,ts,label"]
    for i in range(n):
        rows.append(f"u{i % 7},i{i % 11},{r.random():.3f},a|b,i{i % 5} i{i % 3},{100 + i},{i % 2}")
    return rows


def write_rows(path: Path, rows: list[str]) -> Path:
    path.write_text("\n".join(rows) + "\n")
    return path


def with_cell(rows: list[str], row: int, col: int, value: str) -> list[str]:
    """``rows`` with cell (file line ``row``, 1-based, column ``col``) replaced."""
    out = list(rows)
    cells = out[row - 1].split(",")
    cells[col] = value
    out[row - 1] = ",".join(cells)
    return out


def runs(uri: str) -> dict[str, object]:
    """All runs of the store by id (``Run`` objects)."""
    from mlflow.tracking import MlflowClient

    c = MlflowClient(uri)
    exps = [e.experiment_id for e in c.search_experiments()]
    return {r.info.run_id: r for r in c.search_runs(exps, max_results=5000)} if exps else {}
