"""``plexus bench NAME``: every case of :data:`plexus.evaluation.bench.BENCHMARKS`.

``fidelity`` and ``speed`` have their own commands; every other case's options are its ``run``'s keyword
parameters (typed, help from its docstring's ``Args:``). Results: ``evaluation/results/README.md``.
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import typer

from plexus.cli._output import console, emit_json, table
from plexus.evaluation.bench import BENCHMARKS, Case

app = typer.Typer(help="Benchmarks: fidelity to the papers, speed against peer libraries, and the cost "
                  "measurements whose tables are in evaluation/results/ (see its README.md).",
                  no_args_is_help=True)


@app.command("fidelity", help=BENCHMARKS["fidelity"].description)
def fidelity(
    models: list[str] | None = typer.Option(None, "--models", "-m", help="Models to run (default: every config)."),
    seeds: int = typer.Option(3, "--seeds", help="Training seeds per model (mean ± std)."),
    epochs_scale: float = typer.Option(1.0, "--epochs-scale", help="Multiply every config's epochs (ceil, >= 1)."),
    max_steps: int = typer.Option(0, "--max-steps", help="Cap optimisation steps per run (0: no cap)."),
    threads: int = typer.Option(1, "--threads", help="torch threads."),
    tracking_uri: str | None = typer.Option(None, "--tracking-uri", help="MLflow tracking URI."),
    out: Path | None = typer.Option(None, "--out", help="Results folder (default evaluation/results)."),
    runs: str | None = typer.Option(None, "--runs", help="Only these repetitions (fold/split/seed indices), "
                                    "e.g. '0-4' or '5,7': a shard of the row; --merge joins disjoint shards."),
    merge: list[Path] | None = typer.Option(None, "--merge", help="Merge rows of other fidelity.csv files "
                                            "(or folders) into --out instead of training (repeatable)."),
    as_json: bool = typer.Option(False, "--json", help="Print the rows as JSON."),
) -> None:
    """Train every hosted model with its committed config; write fidelity.md and fidelity.csv."""
    from plexus.evaluation.bench import RESULTS
    from plexus.evaluation.bench.fidelity import merge_fidelity, parse_runs, run_fidelity

    if merge:
        csv_path, md_path = merge_fidelity(merge, out or RESULTS)
        console.print(f"merged {len(merge)} file(s) into {md_path} and {csv_path.name}")
        return

    names = [n for m in models or [] for n in m.split(",") if n]
    rows = run_fidelity(names or None, seeds=seeds, epochs_scale=epochs_scale, max_steps=max_steps,
                        tracking_uri=tracking_uri, out=out or RESULTS, threads=threads,
                        only=parse_runs(runs) if runs is not None else None,
                        echo=None if as_json else console.print)
    if as_json:
        emit_json(rows)
        return
    table("fidelity", ["model", "dataset", "metric", "paper", "ours", "status"],
          [[r["model"], r["dataset"], r["metric"], str(r["paper"]),
            f"{r['ours_mean']} ± {r['ours_std']}" if r["ours_mean"] != "" else "–", r["status"]] for r in rows])
    console.print(f"wrote {(out or RESULTS) / 'fidelity.md'} and fidelity.csv")


@app.command("speed", help=BENCHMARKS["speed"].description)
def speed(
    parts: list[str] | None = typer.Option(None, "--part", "-p", help="ctr, gnn, encode, overhead (default all)."),
    repeats: int = typer.Option(3, "--repeats", help="Rounds, interleaved between libraries."),
    threads: int = typer.Option(2, "--threads", help="torch/OMP threads for every library."),
    rows: int = typer.Option(0, "--rows", help="Use only the first N CTR rows (0: the full protocol data)."),
    gnn_epochs: int = typer.Option(200, "--gnn-epochs", help="Timed GCN epochs (NCN: a 20th of it)."),
    ctr_epochs: int = typer.Option(2, "--ctr-epochs", help="Timed CTR epochs after the warm-up epoch."),
    no_peers: bool = typer.Option(False, "--no-peers", help="Skip the peer libraries in .venv-bench."),
    out: Path | None = typer.Option(None, "--out", help="Results folder (default evaluation/results)."),
    as_json: bool = typer.Option(False, "--json", help="Print the summary as JSON."),
) -> None:
    """Time Plexus side by side with DeepCTR-Torch and plain PyG; write speed.md and speed.json."""
    from plexus.evaluation.bench import RESULTS
    from plexus.evaluation.bench.speed import PARTS, run_speed

    chosen = tuple(n for p in parts or [] for n in p.split(",") if n) or PARTS
    res = run_speed(chosen, repeats=repeats, threads=threads, rows=rows, gnn_epochs=gnn_epochs,
                    ctr_epochs=ctr_epochs, peers=not no_peers, out=out or RESULTS,
                    echo=None if as_json else console.print)
    if as_json:
        emit_json(res["summary"])
        return
    table("speed", ["benchmark", "library", "metric", "median", "peak RSS MiB"],
          [[r["bench"], r["library"], r["metric"], "failed" if r["median"] is None else f"{r['median']:,.2f}",
            "–" if not r["peak_rss_mb"] else f"{r['peak_rss_mb']:,.0f}"] for r in res["summary"]])
    console.print(f"wrote {(out or RESULTS) / 'speed.md'} and speed.json")


def _arg_help(doc: str) -> dict[str, str]:
    """``name: text`` entries (with indented continuation lines) of a docstring's ``Args:`` section."""
    out: dict[str, str] = {}
    name = None
    for line in doc.split("Args:", 1)[1].splitlines() if "Args:" in doc else []:
        m = re.match(r"\s{4,8}(\w+): (.*)", line)
        if m and (name is None or len(line) - len(line.lstrip()) <= 8):
            name, out[m.group(1)] = m.group(1), m.group(2).strip()
        elif name and line.strip():
            out[name] += " " + line.strip()
        elif not line.strip() and out:
            break
    return out


def _command(case: Case) -> Callable[..., None]:
    """A typer command with the options of ``case.run``, plus ``--json``; prints what it wrote."""
    sig = inspect.signature(case.run, eval_str=True)
    helps = _arg_help(inspect.getdoc(case.run) or "")
    params = [inspect.Parameter(p.name, inspect.Parameter.KEYWORD_ONLY, annotation=p.annotation,
                                default=typer.Option(... if p.default is inspect.Parameter.empty else p.default,
                                                     "--" + p.name.replace("_", "-"), help=helps.get(p.name, "")))
              for p in sig.parameters.values()]
    params.append(inspect.Parameter("as_json", inspect.Parameter.KEYWORD_ONLY, annotation=bool,
                                    default=typer.Option(False, "--json", help="Print the result as JSON.")))

    def command(**options: Any) -> None:
        as_json = options.pop("as_json")
        res = case.run(**options)
        if as_json:
            emit_json(res)
        elif "out" in options and options["out"] is not None:
            console.print(f"wrote {Path(options['out']) / case.name.replace('-', '_')}.md and .json")

    command.__signature__ = inspect.Signature(params)  # type: ignore[attr-defined]
    command.__doc__ = inspect.getdoc(case.run)
    return command


for _case in BENCHMARKS.values():
    if _case.name not in ("fidelity", "speed"):
        app.command(_case.name, help=_case.description)(_command(_case))
