"""Tables that read well: they fit the width, stay aligned when piped, never squeeze columns to 1-2 characters."""

from __future__ import annotations

import os
import re
import subprocess
import sys

from plexus.cli._output import fits, readable, render_table, summarize

PLEXUS = [sys.executable, "-m", "plexus.cli"]
ARCH = ('{"layers": [{"attention": "gat", "aggregator": "sum", "activation": "relu", "heads": 4, "hidden": 64}, '
        '{"attention": "gcn", "aggregator": "mean", "activation": "elu", "heads": 1, "hidden": 32}]}')


def _columns(lines: list[str]) -> list[tuple[int, int]]:
    """(start, width) of each column, read from the dashed rule under the header."""
    rule = next(ln for ln in lines if ln and set(ln) <= {"-", " "})
    return [(m.start(), m.end() - m.start()) for m in re.finditer(r"-+", rule)]


def test_wide_rows_fit_aligned_with_ellipsis() -> None:
    cols = ["#", "run", "state", "arch", "dropout", "val_auc final", "val_auc best", "duration s"]
    rows = [[i, f"nas-cora-trial-{i} (c7edeb4{i})", "FINISHED", summarize(ARCH), 0.28421697443432425, "0.5978",
             "0.6765", "58.5"] for i in range(3)]
    lines = render_table(cols, rows, 80, title="study nas-cora: 3 runs by val_auc (higher is better)")
    assert max(len(ln) for ln in lines) <= 80
    spans = _columns(lines)
    assert len(spans) == len(cols) and min(w for _, w in spans[1:]) >= 6  # no 1-2 character columns
    body = lines[lines.index(next(ln for ln in lines if set(ln) <= {"-", " "})) + 1:]
    arch_start, arch_w = spans[3]
    for ln in body:  # every cell starts where its header does: numbers right-aligned, text left-aligned
        assert ln[arch_start:arch_start + arch_w].startswith("2 layers: ")
        assert ln[arch_start:arch_start + arch_w].rstrip().endswith("…")
        start, w = spans[-1]
        assert ln[start:start + w] == "    58.5"[-w:].rjust(w)


def test_too_many_columns_become_one_block_per_row() -> None:
    cols = [f"param_{i}" for i in range(14)]
    rows = [[f"value-{i}" * 2 for i in range(14)]] * 2
    assert not fits(cols, rows, 80) and fits(cols, rows, 300) and fits(cols[:4], rows, 80)
    lines = render_table(cols, rows, 80)
    assert max(len(ln) for ln in lines) <= 80
    assert lines[0].startswith("param_0") and "value-0value-0" in lines[0] and "" in lines  # key: value blocks


def test_mappings_and_architectures_print_as_readable_text() -> None:
    assert readable({"train": 8000, "val": 1000, "test": 1000}) == "train 8000, val 1000, test 1000"
    assert readable({"train": {"label": 0.2171}, "val": {"label": 0.246}}) == "train.label 0.2171, val.label 0.246"
    assert summarize(ARCH) == "2 layers: gat-sum-relu-4-64 | gcn-mean-elu-1-32"
    assert summarize("0.5") == "0.5"


def test_datasets_show_piped_at_80_columns() -> None:
    env = {**os.environ, "COLUMNS": "80", "OMP_NUM_THREADS": "1"}
    out = subprocess.run([*PLEXUS, "datasets", "show", "synthetic-behavior"], capture_output=True, text=True,
                         env=env, timeout=300, check=False)
    assert out.returncode == 0, out.stderr[-2000:]
    lines = out.stdout.splitlines()
    assert max(len(ln) for ln in lines) <= 80, max(lines, key=len)
    assert not [ln for ln in lines if ln.endswith(" ")]  # wrapped prose leaves no trailing blanks
    assert "\x1b[" not in out.stdout  # no colour codes in a pipe
    assert "{'" not in out.stdout and "[{" not in out.stdout  # no Python dict/list reprs
    stats = lines[lines.index("Statistics") + 1:]
    spans = _columns(stats)
    assert len(spans) == 2 and all(w >= 3 for _, w in spans)
    fields = next(i for i, ln in enumerate(lines) if ln.startswith("Fields ("))
    table = lines[fields + 1:]
    spans = _columns(table)
    assert [ln[:spans[1][0]].rstrip() for ln in table[:1]] == ["name"] and len(spans) >= 3
