"""``plexus explain``: predictions of raw rows with what drove them (attention weights, gates, cross features)."""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path
from typing import Any

import typer

from plexus.cli._output import emit_json

WIDTH = 80
_JOIN = {"cross_features": " x ", "field_pairs": " -> ", "behavior_attention": ", "}



def explain(
    run_id: str = typer.Argument(..., help="MLflow run id of a trained tabular model."),
    rows: Path = typer.Option(..., "--rows", help="CSV/TSV (with a header) or Parquet file of raw rows, "
                              "with the dataset's original columns."),
    top: int = typer.Option(5, "--top", help="Terms shown per row (per layer / task where there are several)."),
    tracking_uri: str | None = typer.Option(None, "--tracking-uri", help="MLflow tracking URI."),
    as_json: bool = typer.Option(False, "--json", help="Print the explanations as JSON."),
) -> None:
    """Predict raw rows with RUN_ID's model and show why: ARM-Net's cross features, DIN's attention over the
    history, AutoInt's field pairs, DTRN's per-task field gates."""
    from plexus.platform.explain import explain_rows, load_run

    result = explain_rows(load_run(run_id, tracking_uri), rows, top)
    if as_json:
        emit_json({"run_id": run_id, "rows": result})
        return
    for i, r in enumerate(result):
        if i:
            _say("")
        _say("\n".join(render(r)))


def _say(text: str) -> None:
    sys.stdout.write(text + "\n")


def render(r: dict[str, Any], width: int = WIDTH) -> list[str]:
    """The lines of one row's explanation, none wider than ``width``."""
    pred = "  ".join(f"{k} {v:.3f}" for k, v in r["prediction"].items())
    lines = [_fit(f"row {r['row']}: {pred}", width)]
    if r["subject"]:
        lines.append(_fit("  for " + ", ".join(f"{k}={_fit(v, 24)}" for k, v in r["subject"].items()), width))
    lines += textwrap.wrap(r["title"], width, initial_indent="  ", subsequent_indent="    ")
    join = _JOIN.get(r["kind"], ", ")
    group = None
    for t in r["terms"]:
        if t["group"] != group:
            group = t["group"]
            if group:
                lines.append(f"  {group}:")
        fw = t.get("field_weights") or [None] * len(t["fields"])
        label = join.join(f"{f}={_fit(v, 18)}" + ("" if w is None else f" ({w:.2f})")
                          for f, v, w in zip(t["fields"], t["values"], fw))
        note = f"  ({t['note']})" if t["note"] else ""
        body = textwrap.wrap(label + note, width - 13, break_on_hyphens=False) or [""]
        lines.append(f"    {t['weight']:>7.3f}  {body[0]}")
        lines += [" " * 13 + b for b in body[1:]]
    scores = sorted(r["field_scores"].items(), key=lambda kv: -kv[1])[:max(len(r["terms"]), 3)]
    if scores:
        lines += textwrap.wrap("fields by share: " + ", ".join(f"{k} {v:.2f}" for k, v in scores), width,
                               initial_indent="  ", subsequent_indent="    ")
    return lines


def _fit(text: str, width: int) -> str:
    return text if len(text) <= width else text[:max(width - 1, 1)] + "…"
