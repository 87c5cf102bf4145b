"""Fidelity benchmark: every hosted model on its dataset against the paper's number.

Each model has a committed config in ``evaluation/bench/configs/<model>.yaml``:

.. code-block:: yaml

    model: din
    dataset: amazon-beauty
    task: ctr                 # optional, when the dataset serves several task kinds
    metric: test_gauc         # key of train_model's result metrics
    scale: 1                  # multiply the metric (100 for percentages as in the paper)
    paper: {value: 0.8698, source: "din.md (c) ...", dataset: Amazon Electronics}
    protocol: "..."           # the protocol in one line
    differences: ["..."]      # how ours differs, stated plainly
    baselines: [din_base]     # run on the same split with ``baseline_config``
    config: {hparams: ..., train: ..., dataset_options: ...}
    baseline_config: {...}    # hparams a baseline does not take are dropped

Every run goes through :func:`plexus.platform.training.train_model` (tracked in the
MLflow experiment ``plexus-fidelity``). ``seeds`` vary the training seed; the data
split stays that of the config, so baselines see the same split. Results are
merged into ``fidelity.csv`` (one row per model; rows of models not run now are
kept) and ``fidelity.md`` is rendered from it.
"""

from __future__ import annotations

import copy
import csv
import json
import math
import os
import platform
import statistics
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

import yaml
from plexus.evaluation.bench._harness import CONFIGS, RESULTS
from plexus.platform.errors import ConfigError

__all__ = ["COLUMNS", "DESCRIPTION", "EXPERIMENT", "describe_machine", "list_configs", "load_bench_config", "mean_std",
           "merge_fidelity", "parse_runs", "repetitions", "run_fidelity", "write_fidelity"]

DESCRIPTION = "Every hosted model on its committed config against the paper's number (fidelity.md/.csv)."
EXPERIMENT = "plexus-fidelity"
COLUMNS = ["config", "model", "dataset", "task", "metric", "paper", "paper_source", "paper_dataset", "ours_mean", "ours_std",
           "seeds", "epochs", "epochs_run", "run_ids", "baselines", "protocol", "differences", "wall_s", "status",
           "date", "repeat", "machine", "extra", "values", "runs"]
_REQUIRED = ("model", "dataset", "metric", "paper", "protocol", "config")


def list_configs(config_dir: Path = CONFIGS) -> list[str]:
    """Model names that have a committed config."""
    return sorted(p.stem for p in Path(config_dir).glob("*.yaml"))


def load_bench_config(name: str, config_dir: Path = CONFIGS) -> dict[str, Any]:
    """Read and check ``<config_dir>/<name>.yaml``."""
    path = Path(config_dir) / f"{name}.yaml"
    if not path.is_file():
        raise ConfigError(f"no fidelity config for '{name}' (have: {', '.join(list_configs(config_dir))})")
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: malformed YAML: {exc}") from None
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: expected a mapping")
    missing = [k for k in _REQUIRED if k not in raw]
    if missing:
        raise ConfigError(f"{path}: missing key '{missing[0]}' (required: {', '.join(_REQUIRED)})")
    if not isinstance(raw["paper"], dict) or "source" not in raw["paper"]:
        raise ConfigError(f"{path}: 'paper' must be a mapping with 'value' and 'source'")
    raw.setdefault("baselines", [])
    raw.setdefault("differences", [])
    rep = raw.get("repeat")
    if rep is not None and (not isinstance(rep, dict) or not isinstance(rep.get("option"), str)
                            or not isinstance(rep.get("count"), int) or rep["count"] < 1):
        raise ConfigError(f"{path}: 'repeat' must be a mapping {{option: <dataset option>, count: <int >= 1>}}")
    raw["_name"] = name
    raw.setdefault("scale", 1)
    raw["_path"] = str(path)
    return raw


def _experiment(model: str, dataset: str, section: dict[str, Any], *, seed: int, epochs_scale: float,
                max_steps: int, tracking_uri: str | None, options: dict[str, Any] | None = None):
    """Build the ExperimentConfig of one run (the model's schema filters foreign hparams)."""
    from plexus.platform.catalog import get_catalog
    from plexus.platform.config import build_config

    raw = copy.deepcopy(section or {})
    known = set(get_catalog().model(model).schema.defaults())
    raw["hparams"] = {k: v for k, v in (raw.get("hparams") or {}).items() if k in known}
    train = raw.setdefault("train", {})
    train["seed"] = seed
    if options:
        raw["dataset_options"] = {**(raw.get("dataset_options") or {}), **options}
    epochs = int(train.get("epochs", 10))
    train["epochs"] = max(1, math.ceil(epochs * epochs_scale))
    if max_steps:
        train["max_steps"] = max_steps
    raw["tracking"] = {**(raw.get("tracking") or {}), "experiment": EXPERIMENT, "log_model": False,
                       "checkpoints": False}
    if tracking_uri:
        raw["tracking"]["uri"] = tracking_uri
    return build_config(raw, model=model, dataset=dataset)


def _fmt(mean: float | None, std: float | None, digits: int = 4) -> str:
    if mean is None:
        return "–"
    return f"{mean:.{digits}f} ± {std:.{digits}f}" if std is not None else f"{mean:.{digits}f}"


def mean_std(values: list[float]) -> tuple[float | None, float | None]:
    """Mean and sample standard deviation (0 for one value; None, None for none)."""
    if not values:
        return None, None
    return statistics.fmean(values), (statistics.stdev(values) if len(values) > 1 else 0.0)


def parse_runs(text: str) -> list[int]:
    """``"0-4,7"`` -> ``[0, 1, 2, 3, 4, 7]`` (the ``--runs`` option)."""
    out: list[int] = []
    for part in filter(None, (p.strip() for p in text.split(","))):
        lo, sep, hi = part.partition("-")
        try:
            a, b = int(lo), int(hi) if sep else int(lo)
        except ValueError:
            raise ConfigError(f"--runs: '{part}' is not an index or a range like 0-4") from None
        if a < 0 or b < a:
            raise ConfigError(f"--runs: '{part}' is not an index or a range like 0-4")
        out += range(a, b + 1)
    if not out:
        raise ConfigError("--runs: no index given (e.g. 0-4 or 5,7)")
    return sorted(set(out))


def run_fidelity(models: Iterable[str] | None = None, *, seeds: int = 3, epochs_scale: float = 1.0,
                 max_steps: int = 0, tracking_uri: str | None = None, config_dir: Path = CONFIGS,
                 out: Path | None = RESULTS, threads: int = 1, only: Sequence[int] | None = None,
                 echo: Callable[[str], None] | None = None) -> list[dict[str, Any]]:
    """Run the configs of ``models`` (default: all) for ``seeds`` seeds; write the result files into ``out``.

    ``only``: run just these repetitions (fold/split/seed indices), a shard of the row: shards measured by
    parallel jobs are joined by :func:`merge_fidelity`. A model whose run fails gets a row with ``status`` =
    the error, and the others go on.
    """
    import torch
    from plexus.platform.data.sources import SOURCES, ensure_raw
    from plexus.platform.training import train_model

    if seeds < 1:
        raise ConfigError(f"--seeds must be >= 1, got {seeds}")
    if not epochs_scale > 0:
        raise ConfigError(f"--epochs-scale must be > 0, got {epochs_scale}")
    torch.set_num_threads(threads)
    say = echo or (lambda _m: None)
    names = list(models) if models else list_configs(config_dir)
    configs = [load_bench_config(n, config_dir) for n in names]  # check them all before training anything
    for bc in configs:
        total = len(repetitions(bc, seeds))
        bad = [i for i in only or [] if not 0 <= int(i) < total]
        if bad or (only is not None and not only):
            raise ConfigError(f"--runs {bad or list(only or [])}: '{bc['_name']}' has runs 0..{total - 1}")
    for name in sorted({bc["dataset"] for bc in configs} & SOURCES.keys()):
        ensure_raw(name)  # a dataset that cannot be had stops the benchmark before its first run
    cache: dict[str, dict[str, Any]] = {}  # baseline results per (baseline, split, budget): shared by configs
    machine = describe_machine(threads)
    rows = []
    for bc in configs:
        model, dataset, metric, scale = bc["model"], bc["dataset"], bc["metric"], float(bc["scale"])
        task = bc.get("task")
        every = repetitions(bc, seeds)
        index = sorted({int(i) for i in only}) if only else list(range(len(every)))
        runs = [every[i] for i in index]
        extra_names = list(bc.get("extra_metrics") or [])
        mine: dict[str, Any] = {"values": [], "run_ids": [], "epochs_run": [], "extra": {k: [] for k in extra_names}}
        section = bc.get("baseline_config") or {}
        bases = {}
        for base in bc["baselines"]:
            key = json.dumps([base, dataset, task, section, runs, epochs_scale, max_steps, extra_names],
                             sort_keys=True, default=str)
            bases[base] = cache.setdefault(key, {"values": [], "run_ids": [], "epochs_run": [],
                                                 "extra": {k: [] for k in extra_names}, "error": ""})
        status, t0 = "", time.perf_counter()  # "": ok or partial, from the counts

        def one(name: str, sec: dict[str, Any], seed: int, options: dict[str, Any], into: dict[str, Any],
                tag: str, dataset: str = dataset, task: str | None = task, metric: str = metric,
                scale: float = scale, extra_names: list[str] = extra_names) -> None:
            cfg = _experiment(name, dataset, sec, seed=seed, epochs_scale=epochs_scale, max_steps=max_steps,
                              tracking_uri=tracking_uri, options=options)
            res = train_model(cfg, task=task, progress=False, extra_tags={"plexus.bench": tag})
            if metric not in res["metrics"]:
                raise ConfigError(f"metric '{metric}' not in the results ({', '.join(sorted(res['metrics']))})")
            into["values"].append(float(res["metrics"][metric]) * scale)
            for k in extra_names:
                into["extra"][k].append(float(res["metrics"][k]) * scale)
            into["run_ids"].append(res["run_id"])
            into["epochs_run"].append(res["epochs_run"])
            say(f"{name} on {dataset} seed {seed} {options or ''}: {metric} = {into['values'][-1]:.4f} "
                f"(run {res['run_id']})")

        for i, (seed, options) in enumerate(runs):  # model and baselines interleaved: partial rows stay paired
            try:
                one(model, bc["config"], seed, options, mine, "fidelity")
            except Exception as exc:  # noqa: BLE001 - one failing model must not stop the table
                status = f"failed: {type(exc).__name__}: {str(exc).splitlines()[0][:200]}"
                say(f"{model} on {dataset}: {status}")
                break
            for base, got in bases.items():
                if len(got["values"]) > i or got["error"]:
                    continue  # measured already for an earlier config on the same splits
                try:
                    one(base, section, seed, options, got, "fidelity-baseline")
                except Exception as exc:  # noqa: BLE001
                    got["error"] = f"{type(exc).__name__}: {exc}"
                    say(f"baseline {base} on {dataset}: failed: {got['error']}")
            if out is not None and i < len(runs) - 1:  # an interrupted benchmark keeps what it measured
                write_fidelity([_row(bc, mine, bases, index, len(every), "", epochs_scale, max_steps, machine,
                                     time.perf_counter() - t0)], out, config_dir=config_dir)
        rows.append(_row(bc, mine, bases, index, len(every), status, epochs_scale, max_steps, machine,
                         time.perf_counter() - t0))
        if out is not None:
            write_fidelity(rows[-1:], out, config_dir=config_dir)
    return rows


def _status(n: int, total: int) -> str:
    return "ok" if n >= total else f"partial: {n} of {total} runs"


def _span(index: Sequence[int]) -> str:
    """``0..9`` for a contiguous range, else the indices (``0 1 2 7``)."""
    if not index:
        return "–"
    if list(index) == list(range(index[0], index[-1] + 1)):
        return f"{index[0]}..{index[-1]}"
    return " ".join(map(str, index))


def _row(bc: dict[str, Any], mine: dict[str, Any], bases: dict[str, dict[str, Any]], index: list[int], total: int,
         status: str, epochs_scale: float, max_steps: int, machine: str, wall: float) -> dict[str, Any]:
    """One table row; ``index`` = the repetition indices run (values fill them in order), ``total`` = all of
    the config's repetitions; ``status`` "" = ok / partial from the counts."""
    n = len(mine["values"])
    baselines = []
    for base, got in bases.items():
        m, s = mean_std(got["values"][:n])
        baselines.append({"model": base, "mean": m, "std": s, "run_ids": got["run_ids"][:n],
                          "values": got["values"][:n], "error": got["error"],
                          "extra": {k: mean_std(v[:n]) for k, v in got["extra"].items() if v}})
    mean, std = mean_std(mine["values"])
    train = bc["config"].get("train") or {}
    epochs = max(1, math.ceil(int(train.get("epochs", 10)) * epochs_scale))
    caps = ([f"max {max_steps} steps"] if max_steps else []) + (
        [f"max {float(train['time_limit']):g} s"] if train.get("time_limit") else [])
    return {
        "config": bc["_name"], "model": bc["model"], "dataset": bc["dataset"], "task": bc.get("task") or "",
        "metric": bc["metric"], "paper": "" if bc["paper"].get("value") is None else bc["paper"]["value"],
        "paper_source": bc["paper"]["source"], "paper_dataset": bc["paper"].get("dataset") or "",
        "ours_mean": "" if mean is None else round(mean, 6), "ours_std": "" if std is None else round(std, 6),
        "seeds": n, "epochs": f"{epochs} ({', '.join(caps)})" if caps else epochs,
        "epochs_run": " ".join(map(str, mine["epochs_run"])), "run_ids": " ".join(mine["run_ids"]),
        "baselines": json.dumps(baselines), "protocol": bc["protocol"],
        "differences": " | ".join(bc["differences"]), "wall_s": round(wall, 1),
        "status": status or _status(n, total), "date": time.strftime("%Y-%m-%d"),
        "repeat": _repeat_text(bc, index[:n]),
        "machine": machine,
        "extra": json.dumps({k: mean_std(v) for k, v in mine["extra"].items() if v}),
        "values": json.dumps(mine["values"]),
        "runs": " ".join(map(str, index[:n])),
    }


def _repeat_text(bc: dict[str, Any], index: Sequence[int]) -> str:
    rep = bc.get("repeat")
    if rep:
        return f"{rep['option']} {_span(index)} (training seed = {rep['option']})"
    return f"seed {_span(index)}"


def repetitions(bc: dict[str, Any], seeds: int) -> list[tuple[int, dict[str, Any]]]:
    """The runs of a config: ``seeds`` training seeds, or the config's ``repeat`` (fold/split i with seed i)."""
    rep = bc.get("repeat")
    if rep:
        return [(i, {rep["option"]: i}) for i in range(int(rep["count"]))]
    return [(s, {}) for s in range(seeds)]


def describe_machine(threads: int) -> str:
    """Where the rows were measured: the CUDA device name, else the CPU count and torch threads."""
    import torch

    if torch.cuda.is_available():
        return f"{torch.cuda.get_device_name(0)} (CUDA), {os.cpu_count()} CPUs"
    return f"{platform.machine()} CPU, {os.cpu_count()} cores, {threads} torch thread(s)"


def merge_fidelity(paths: Iterable[Path], out: Path = RESULTS, config_dir: Path = CONFIGS) -> tuple[Path, Path]:
    """Merge the rows of other ``fidelity.csv`` files (e.g. produced on an accelerator machine) into ``out``.

    A row replaces the row of the same config, except that shards join: when both rows ran disjoint
    repetitions (``runs`` column) of the same protocol and epochs, the merged row holds the runs of both
    (values, run ids and baselines aligned per run; mean ± std and the extra metrics recomputed; machines listed).
    """
    current = {_key(r): r for r in _read_csv(Path(out) / "fidelity.csv")}
    rows: dict[str, dict[str, Any]] = {}
    for p in paths:
        p = Path(p)
        found = _read_csv(p / "fidelity.csv" if p.is_dir() else p)
        if not found:
            raise ConfigError(f"{p}: no fidelity rows to merge")
        for r in found:
            if r.get("status") == "not run yet":
                continue
            k = _key(r)
            before = rows.get(k) or current.get(k)
            rows[k] = _join(before, r, config_dir) if before is not None and _joinable(before, r) else r
    return write_fidelity(list(rows.values()), out, config_dir=config_dir)


def _runs_of(r: dict[str, Any]) -> list[int]:
    """The repetition indices of a row (rows written before the ``runs`` column: ``0..seeds-1``)."""
    if r.get("runs"):
        return [int(x) for x in str(r["runs"]).split()]
    return list(range(int(r.get("seeds") or 0)))


def _joinable(a: dict[str, Any], b: dict[str, Any]) -> bool:
    ra, rb = _runs_of(a), _runs_of(b)
    return (bool(ra) and bool(rb) and not set(ra) & set(rb) and str(a.get("epochs")) == str(b.get("epochs"))
            and a.get("protocol") == b.get("protocol") and a.get("model") == b.get("model")
            and not str(a.get("status", "")).startswith("failed") and not str(b.get("status", "")).startswith("failed"))


def _join(a: dict[str, Any], b: dict[str, Any], config_dir: Path) -> dict[str, Any]:
    """One row holding the runs of the disjoint shards ``a`` and ``b``, ordered by repetition index."""
    def per_run(r: dict[str, Any]) -> dict[int, tuple[float, str, str]]:
        vals, ids, eps = json.loads(r.get("values") or "[]"), str(r.get("run_ids") or "").split(), \
            str(r.get("epochs_run") or "").split()
        return {i: (vals[j], ids[j] if j < len(ids) else "", eps[j] if j < len(eps) else "")
                for j, i in enumerate(_runs_of(r)) if j < len(vals)}

    mine = per_run(a) | per_run(b)
    index = sorted(mine)
    bases_a = {x["model"]: x for x in json.loads(a.get("baselines") or "[]")}
    bases_b = {x["model"]: x for x in json.loads(b.get("baselines") or "[]")}
    baselines = []
    for name in list(bases_a) + [m for m in bases_b if m not in bases_a]:
        got: dict[int, tuple[float, str]] = {}
        for r, bs in ((a, bases_a), (b, bases_b)):
            x = bs.get(name)
            if x:
                got |= {i: (v, rid) for i, v, rid in zip(_runs_of(r), x.get("values") or [], x.get("run_ids") or [])}
        vals = [got[i][0] for i in index if i in got]
        m, sd = mean_std(vals)
        xa, xb = bases_a.get(name) or {}, bases_b.get(name) or {}
        baselines.append({"model": name, "mean": m, "std": sd, "values": vals,
                          "run_ids": [got[i][1] for i in index if i in got],
                          "error": "; ".join(filter(None, (xa.get("error"), xb.get("error")))),
                          "extra": _pool_extra([(len(x.get("values") or []), x.get("extra") or {})
                                                for x in (xa, xb) if x])})
    values = [mine[i][0] for i in index]
    mean, std = mean_std(values)
    try:
        bc = load_bench_config(_key(b), config_dir)
        total, repeat = len(repetitions(bc, len(index))), _repeat_text(bc, index)
    except ConfigError:  # a config not in this checkout: count what is there
        total, repeat = len(index), f"runs {_span(index)}"
    machines = list(dict.fromkeys(m for m in (a.get("machine"), b.get("machine")) if m))
    return b | {
        "ours_mean": round(mean, 6), "ours_std": round(std, 6), "seeds": len(index),
        "values": json.dumps(values), "run_ids": " ".join(mine[i][1] for i in index),
        "epochs_run": " ".join(mine[i][2] for i in index), "baselines": json.dumps(baselines),
        "runs": " ".join(map(str, index)), "repeat": repeat, "status": _status(len(index), total),
        "machine": "; ".join(machines), "wall_s": round(float(a.get("wall_s") or 0) + float(b.get("wall_s") or 0), 1),
        "extra": json.dumps(_pool_extra([(len(per_run(r)), json.loads(r.get("extra") or "{}")) for r in (a, b)])),
    }


def _pool_extra(parts: list[tuple[int, dict[str, Any]]]) -> dict[str, tuple[float, float]]:
    """The ``extra`` metrics (``{metric: [mean, std]}``) of disjoint shards of ``n`` runs each, over all their runs:
    pooled from each shard's count, mean and std (squared deviations ``sum((n_i - 1) s_i^2 + n_i (m_i - m)^2)``).
    A metric missing from a shard that has runs is dropped: its mean would cover only part of the row's runs."""
    parts = [(n, ex) for n, ex in parts if n > 0]
    out: dict[str, tuple[float, float]] = {}
    for k in parts[0][1] if parts else []:
        if not all(k in ex and ex[k] is not None and ex[k][0] is not None for _, ex in parts):
            continue
        stats = [(n, float(ex[k][0]), float(ex[k][1] or 0.0)) for n, ex in parts]
        total = sum(n for n, _, _ in stats)
        mean = sum(n * m for n, m, _ in stats) / total
        ss = sum((n - 1) * sd * sd + n * (m - mean) ** 2 for n, m, sd in stats)
        out[k] = (mean, math.sqrt(ss / (total - 1)) if total > 1 else 0.0)
    return out


def _read_csv(path: Path) -> list[dict[str, Any]]:
    if not path.is_file():
        return []
    with path.open(newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def _key(row: dict[str, Any]) -> str:
    return row.get("config") or row["model"]


def write_fidelity(rows: list[dict[str, Any]], out: Path, *, config_dir: Path = CONFIGS) -> tuple[Path, Path]:
    """Merge ``rows`` into ``out/fidelity.csv`` (by config) and render ``out/fidelity.md``."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    csv_path, md_path = out / "fidelity.csv", out / "fidelity.md"
    merged = {_key(r): r | {"config": _key(r)} for r in _read_csv(csv_path)}
    for r in rows:
        merged[_key(r)] = {k: r.get(k, "") for k in COLUMNS} | {"config": _key(r)}
    if Path(config_dir) == CONFIGS:  # every committed config gets a row, "not run" until it is
        for name in list_configs(config_dir):
            if name not in merged:
                bc = load_bench_config(name, config_dir)
                merged[name] = {k: "" for k in COLUMNS} | {
                    "config": name, "model": bc["model"], "dataset": bc["dataset"], "task": bc.get("task") or "",
                    "metric": bc["metric"], "paper": "" if bc["paper"].get("value") is None else bc["paper"]["value"],
                    "paper_source": bc["paper"]["source"], "paper_dataset": bc["paper"].get("dataset") or "",
                    "seeds": 0, "baselines": "[]", "protocol": bc["protocol"],
                    "differences": " | ".join(bc["differences"]), "status": "not run yet"}
    ordered = [merged[k] for k in sorted(merged)]
    with csv_path.open("w", newline="", encoding="utf-8") as fh:
        w = csv.DictWriter(fh, fieldnames=COLUMNS, extrasaction="ignore")
        w.writeheader()
        w.writerows(ordered)
    md_path.write_text(render_markdown(ordered), encoding="utf-8")
    return csv_path, md_path


def _reduced(r: dict[str, Any]) -> bool:
    return str(r.get("seeds")) not in ("", "0") and int(r["seeds"]) < 3 or "max" in str(r.get("epochs", ""))


def render_markdown(rows: list[dict[str, Any]]) -> str:
    lines = [
        "# Fidelity: our numbers against the papers'", "",
        ("Generated by `plexus bench fidelity` (evaluation/bench/fidelity.py, configs in evaluation/bench/configs/; "
        "rows measured elsewhere are merged with `plexus bench fidelity --merge`). Ours = mean ± std over the runs "
        "of the row (training seeds on the config's split, or the folds/splits named in the runs column, training "
        "seed = fold); baselines run on exactly the same splits and seeds. Run ids are MLflow runs in the "
        f"experiment `{EXPERIMENT}` of the store where the row was measured (machine column)."), "",
    ]
    if any(_reduced(r) for r in rows):
        lines += [
            ("**Reduced rows** (marked *reduced* in the status column) ran with fewer than 3 runs, a step cap or a "
            "time budget per run (`max ... s` in the epochs column) on a 2-core CPU: their models are not trained "
            "to convergence and a single run's std is 0 by construction. Read them as a smoke-level check, not as "
            "a reproduction. Rows 'not run yet' have a committed config and no result yet."), "",
        ]
    lines += [
        ("| config | model | dataset | metric | paper (source) | ours | baselines (same splits) | runs | epochs (run) "
        "| machine | status |"),
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        mean = float(r["ours_mean"]) if r.get("ours_mean") not in ("", None) else None
        std = float(r["ours_std"]) if r.get("ours_std") not in ("", None) else None
        digits = 2 if mean is not None and abs(mean) > 1.5 else 4
        paper = f"{r['paper']} ({r['paper_dataset']})" if r.get("paper") not in ("", None) else "– (none)"
        bases = []
        for b in json.loads(r.get("baselines") or "[]"):
            bm = b.get("mean")
            bases.append(f"{b['model']} {_fmt(bm, b.get('std'), digits) if bm is not None else 'failed'}")
        runs = f"{r['seeds']} ({r['repeat']})" if r.get("repeat") else str(r["seeds"])
        status = r["status"] + (" (reduced)" if r["status"] == "ok" and _reduced(r) else "")
        lines.append(f"| {_key(r)} | {r['model']} | {r['dataset']} | {r['metric']} | {paper} | "
                     f"{_fmt(mean, std, digits)} | {'; '.join(bases) or '–'} | {runs} | {r['epochs']} "
                     f"({r.get('epochs_run', '')}) | {r.get('machine') or '2-core CPU (shared)'} | {status} |")
    lines += ["", "## Protocol, sources and differences per row", ""]
    for r in rows:
        lines.append(f"- **{_key(r)}** ({r['model']} on {r['dataset']}): {r['protocol']}. "
                     f"Paper number: {r['paper_source']}.")
        for d in filter(None, (r.get("differences") or "").split(" | ")):
            lines.append(f"  - Difference: {d}.")
        extra = json.loads(r.get("extra") or "{}")
        if extra:
            parts = [f"{k} {_fmt(*v)}" for k, v in extra.items()]
            for b in json.loads(r.get("baselines") or "[]"):
                parts += [f"{b['model']} {k} {_fmt(*v)}" for k, v in (b.get("extra") or {}).items()]
            lines.append(f"  - Per metric: {'; '.join(parts)}")
        lines.append(f"  - Per run ({r.get('repeat') or 'seeds'}): {r.get('values') or '–'}")
        lines.append(f"  - MLflow runs: {r.get('run_ids') or '–'}")
        ours = json.loads(r.get("values") or "[]")
        for b in json.loads(r.get("baselines") or "[]"):
            diff = [x - y for x, y in zip(ours, b.get("values") or [])]  # runs are paired: same split and seed
            paired = (f"; paired with ours, ours − {b['model']} = {_fmt(*mean_std(diff), digits=4)}, ours ahead in "
                      f"{sum(d > 0 for d in diff)} of {len(diff)}") if len(diff) > 1 else ""
            lines.append(f"  - Baseline {b['model']} runs: {' '.join(b.get('run_ids') or []) or '–'}{paired}")
    lines.append("")
    return "\n".join(lines)
