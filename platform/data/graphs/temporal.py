"""Temporal edge lists -> snapshot sequences with time-respecting splits.

Pipeline (EvolveGCN, Pareja et al. AAAI 2020, see ``docs/models/evolvegcn.md``):

1. :func:`read_temporal_csv` parses ``source, target, time[, weight][, label]``
   rows (CSV / TSV / space-separated, ``.gz`` ok) and validates every field:
   a bad row raises :class:`DataError` naming file, row and field.
2. :func:`build_snapshots` remaps node ids to ``0..N-1`` (sorted raw ids) and
   cuts time into windows: snapshot ``t`` holds the events with
   ``t_min + t*window <= time < t_min + (t+1)*window`` (``window`` seconds, or
   ``(t_max - t_min) / num_snapshots`` with the last window closed). Repeated
   ``(u, v)`` pairs inside a window are merged: ``edge_weight`` = number of
   events, ``edge_time`` = time of the latest event.
   The targets of the ``dynlink`` and ``edge`` tasks sit on ``edge_label_index``
   (with ``edge_label`` when the events carry a ``label``), in two modes
   (``edge_targets``): ``events`` = the merged directed edges, labelled by their
   latest event; ``pairs`` = the EvolveGCN reference's (its loaders add every
   event reversed, ``bitcoin_dl.py``, ``uc_irv_mess_dl.py``): every unordered
   pair with events at step ``t``, in both orientations, labelled by majority
   vote over all of the pair's events of that step in both directions (a label
   1 counts +1, a label 0 counts -1; a sum <= 0 gives 0).
   EvolveGCN's windows: Bitcoin-OTC/Alpha 1,200,000 s -> 138 / 137 snapshots,
   UCI 190,080 s -> 89 snapshots.
3. Node features per snapshot (EvolveGCN uses one-hot node degree): ``degree``
   = one-hot of the number of distinct neighbours (either direction) in that
   snapshot, capped at ``max_degree`` (default 32: covers 99.5% of the
   node-snapshot degrees of Bitcoin-OTC, whose maximum is 144; the dense
   uncapped tensor would take 470 MB; ``0`` = no cap); ``identity`` = one shared ``I_N``;
   ``none`` = a shared column of ones.
4. Splits run along time: ``steps = (n_train, n_val, n_test)`` target steps are
   the *last* steps of the sequence, test last (EvolveGCN Table 1: OTC 95/14/28,
   Alpha 95/13/28, UCI 62/9/17); fractions are taken of the ``T-1`` steps that
   have at least one snapshot of history. Every train step < every val step <
   every test step; predicting step ``t`` sees snapshots ``< t`` only.

Snapshot edges keep the direction of the events; models symmetrise as they need.
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
import torch
from plexus.platform.data._types import SnapshotBatch, TemporalDataset
from plexus.platform.data.graphs._io import cached_tensors, fingerprint_files, single_thread
from plexus.platform.errors import ConfigError, DataError
from plexus.platform.spec import DataSpec
from torch import Tensor
from torch_geometric.data import Data

__all__ = [
    "build_snapshots",
    "detect_sep",
    "dynamic_sbm",
    "parse_columns",
    "read_temporal_csv",
    "snapshot_batch",
    "split_steps",
    "target_pairs",
    "temporal_dataset",
]

Features = Literal["degree", "identity", "none"]
EdgeTargets = Literal["events", "pairs"]


def detect_sep(path: Path) -> str:
    """``,`` / tab / whitespace, from the first non-empty line."""
    import gzip

    opener = gzip.open if str(path).endswith(".gz") else open
    try:
        with opener(path, "rt", errors="replace") as f:  # type: ignore[operator]
            for line in f:
                if line.strip():
                    return "," if "," in line else ("\t" if "\t" in line else r"\s+")
    except (OSError, EOFError, UnicodeDecodeError, zlib.error) as exc:
        raise DataError(f"cannot read file ({type(exc).__name__}: {exc})", file=str(path)) from exc
    raise DataError("file is empty", file=str(path), row=1)


def _read_table(path: Path, *, header: bool, sep: str | None, names: Sequence[str] | None) -> pd.DataFrame:
    if not Path(path).is_file():
        raise DataError("file not found", file=str(path))
    sep = sep or detect_sep(path)
    try:
        df = pd.read_csv(path, sep=sep, header=0 if header else None, names=None if header else list(names or []),
                         dtype=str, keep_default_na=False, skip_blank_lines=True, engine="python" if
                         sep == r"\s+" else "c", index_col=False)
    except pd.errors.EmptyDataError as exc:
        raise DataError("file is empty", file=str(path), row=1) from exc
    except pd.errors.ParserError as exc:
        import re

        m = re.search(r"line (\d+)", str(exc))
        raise DataError(f"malformed row ({exc})", file=str(path), row=int(m.group(1)) if m else None) from exc
    except (OSError, EOFError, UnicodeDecodeError, zlib.error) as exc:
        raise DataError(f"cannot read file ({type(exc).__name__}: {exc})", file=str(path)) from exc
    df.columns = [str(c).strip() for c in df.columns]
    if len(df) == 0:
        raise DataError("file has no data rows", file=str(path), row=2 if header else 1)
    return df


def parse_columns(df: pd.DataFrame, path: Path, spec: dict[str, tuple[str, str, bool]], *, header: bool
                  ) -> dict[str, np.ndarray]:
    """Validate and convert columns. ``spec[key] = (column, kind, required)``, kind ``id``/``int``/``float``.

    ``id`` = integer >= 0. Row numbers are 1-based file lines (header counted).
    """
    off = 2 if header else 1
    out: dict[str, np.ndarray] = {}
    for key, (col, kind, required) in spec.items():
        if col not in df.columns:
            if required:
                raise DataError(f"missing column '{col}' (columns found: {', '.join(map(str, df.columns))})",
                                file=str(path), row=1, field=col)
            continue
        raw = df[col].astype(str).str.strip()
        num = pd.to_numeric(raw, errors="coerce")
        v = num.to_numpy(dtype=np.float64, na_value=np.nan)
        bad = ~np.isfinite(v)
        what = {"id": "a non-negative integer node id", "int": "an integer", "float": "a number"}[kind]
        if kind in ("id", "int"):
            bad |= np.where(np.isfinite(v), v != np.round(v), False)
        if kind == "id":
            bad |= np.where(np.isfinite(v), v < 0, False)
        if bad.any():
            i = int(np.argmax(bad))
            got = raw.iloc[i]
            why = "negative node id" if kind == "id" and np.isfinite(v[i]) and v[i] < 0 else f"expected {what}"
            raise DataError(f"{why}, got {got!r}", file=str(path), row=i + off, field=col)
        out[key] = v.astype(np.int64) if kind in ("id", "int") else v.copy()
    return out


def read_temporal_csv(path: str | Path, *, header: bool = True, sep: str | None = None,
                      columns: Sequence[str] = ("source", "target", "time"), source: str = "source",
                      target: str = "target", time: str = "time", weight: str = "weight",
                      label: str = "label") -> dict[str, Tensor]:
    """Parse a temporal edge list into ``{"source", "target", "time"[, "weight"][, "label"]}`` tensors.

    With ``header`` the column names come from the first line (``source``,
    ``target``, ``time`` required; ``weight``, ``label`` optional; rename them
    with the keyword arguments); without it, ``columns`` names the positional
    columns. Parsed tensors are cached by the file's content hash.
    """
    path = Path(path)
    if not path.is_file():
        raise DataError("file not found", file=str(path))
    fp = fingerprint_files([path], "temporal", header, sep, tuple(columns), source, target, time, weight, label)

    def build() -> dict[str, Any]:
        df = _read_table(path, header=header, sep=sep, names=columns)
        spec = {"source": (source, "id", True), "target": (target, "id", True), "time": (time, "float", True),
                "weight": (weight, "float", False), "label": (label, "int", False)}
        cols = parse_columns(df, path, spec, header=header)
        return {k: torch.from_numpy(v) for k, v in cols.items()}

    return dict(cached_tensors("temporal-csv", fp, build))


def split_steps(num_snapshots: int, steps: Sequence[int] | Sequence[float]) -> dict[str, list[int]]:
    """Target steps per split; the last ``n_test`` steps are test, before them val, before them train."""
    if len(steps) != 3:
        raise ConfigError(f"steps must be (train, val, test), got {steps!r}")
    avail = num_snapshots - 1
    if all(isinstance(s, int) and not isinstance(s, bool) for s in steps):
        n_tr, n_va, n_te = (int(s) for s in steps)
    else:
        fr = [float(s) for s in steps]
        if any(f < 0 for f in fr) or sum(fr) > 1 + 1e-9:
            raise ConfigError(f"step fractions must be >= 0 and sum to at most 1, got {steps!r}")
        n_va, n_te = round(fr[1] * avail), round(fr[2] * avail)
        n_tr = min(round(fr[0] * avail), avail - n_va - n_te)
    if min(n_tr, n_va, n_te) < 0 or n_tr < 1 or n_te < 1 or n_tr + n_va + n_te > avail:
        raise ConfigError(f"steps {tuple(steps)} (train/val/test) do not fit {num_snapshots} snapshots "
                          f"({avail} steps have history); use a smaller window or fewer steps")
    end = num_snapshots
    test = list(range(end - n_te, end))
    val = list(range(end - n_te - n_va, end - n_te))
    train = list(range(end - n_te - n_va - n_tr, end - n_te - n_va))
    return {"train": train, "val": val, "test": test}


def _features(kind: Features, deg_all: Tensor, cap: int) -> list[Tensor]:
    """Per-snapshot feature matrices; one allocation, snapshots get views (or one shared tensor)."""
    count, n = deg_all.shape
    if kind == "degree":
        x = torch.zeros(count * n, cap + 1)
        x[torch.arange(count * n), deg_all.reshape(-1).clamp(max=cap)] = 1.0
        return list(x.view(count, n, cap + 1).unbind(0))
    if kind == "identity":
        return [torch.eye(n)] * count
    if kind == "none":
        return [torch.ones(n, 1)] * count
    raise ConfigError(f"features must be 'degree', 'identity' or 'none', got {kind!r}")


@single_thread()
def build_snapshots(events: dict[str, Tensor], *, window: float | None = None, num_snapshots: int | None = None,
                    features: Features = "degree", max_degree: int = 32,
                    edge_targets: EdgeTargets = "events") -> tuple[list[Data], dict[str, Any]]:
    """Cut events into snapshots (see module doc). Returns ``(snapshots, info)``."""
    if edge_targets not in ("events", "pairs"):
        raise ConfigError(f"edge_targets must be 'events' or 'pairs', got {edge_targets!r}")
    src_raw, dst_raw, t = events["source"].long(), events["target"].long(), events["time"].double()
    if src_raw.numel() == 0:
        raise DataError("no edges")
    ids, inv = torch.unique(torch.cat([src_raw, dst_raw]), return_inverse=True)
    n, m = ids.numel(), src_raw.numel()
    src, dst = inv[:m], inv[m:]
    t0, t1 = float(t.min()), float(t.max())
    if num_snapshots is not None:
        if num_snapshots < 2:
            raise ConfigError(f"num_snapshots must be >= 2, got {num_snapshots}")
        window = max((t1 - t0) / num_snapshots, 1e-12)
        step = torch.clamp(torch.floor((t - t0) / window).long(), max=num_snapshots - 1)
        count = num_snapshots
    else:
        if window is None or not window > 0:
            raise ConfigError(f"window must be a positive time span (or give num_snapshots), got {window}")
        step = torch.floor((t - t0) / window).long()
        count = int(step.max()) + 1
    # merge repeated (step, u, v); the latest event gives the time (and the label in mode "events")
    order = torch.argsort(t, stable=True)
    key = (step * n + src) * n + dst
    key_o = key[order]
    uniq, inv_k, counts = torch.unique(key_o, return_inverse=True, return_counts=True)
    last = torch.zeros(uniq.numel(), dtype=torch.long).scatter_reduce(0, inv_k, torch.arange(m), reduce="amax")
    last_ev = order[last]
    u_step, u_src, u_dst = uniq // (n * n), (uniq // n) % n, uniq % n
    bounds = torch.searchsorted(u_step, torch.arange(count + 1))
    # undirected degree per (step, node): distinct neighbours in either direction
    cap = max_degree
    pair = torch.unique(torch.cat([(u_step * n + u_src) * n + u_dst, (u_step * n + u_dst) * n + u_src]))
    pair = pair[(pair // n) % n != pair % n]  # self loops do not count
    deg_all = torch.bincount(pair // n, minlength=count * n).view(count, n)
    if cap <= 0:
        cap = int(deg_all.max())
    xs = _features(features, deg_all, cap)
    labels = events["label"].long() if "label" in events else None
    if edge_targets == "pairs":
        if labels is not None and (int(labels.max()) > 1 or int(labels.min()) < 0):
            raise ConfigError("edge_targets='pairs' takes a majority vote of binary labels (0 / 1), got labels "
                              f"{int(labels.min())}..{int(labels.max())}; use 'events'")
        p_step, p_idx, p_lab = _pair_targets(step, src, dst, labels, n)
        p_bounds = torch.searchsorted(p_step, torch.arange(count + 1))
    snaps = []
    for s in range(count):
        a, b = int(bounds[s]), int(bounds[s + 1])
        ev = last_ev[a:b]
        d = Data(edge_index=torch.stack([u_src[a:b], u_dst[a:b]]), edge_weight=counts[a:b].float(),
                 edge_time=t[ev], x=xs[s], num_nodes=n,
                 time_range=torch.tensor([t0 + s * window, t0 + (s + 1) * window], dtype=torch.float64))
        if edge_targets == "pairs":
            pa, pb = int(p_bounds[s]), int(p_bounds[s + 1])
            d.edge_label_index = p_idx[:, pa:pb]
            if p_lab is not None:
                d.edge_label = p_lab[pa:pb]
        else:
            d.edge_label_index = d.edge_index
            if labels is not None:
                d.edge_label = labels[ev]
        snaps.append(d)
    info = {"num_nodes": n, "window": float(window), "t_min": t0, "t_max": t1, "num_snapshots": count,
            "node_ids": ids, "num_features": int(snaps[0].x.size(1))}
    return snaps, info


def _pair_targets(step: Tensor, src: Tensor, dst: Tensor, label: Tensor | None,
                  n: int) -> tuple[Tensor, Tensor, Tensor | None]:
    """The EvolveGCN reference's targets: every (step, unordered pair) with events, in both orientations (a self
    loop once), sorted by step; with labels, the majority label of the pair's events in both directions (ties
    -> 0). Returns ``(step [P], edge_label_index [2, P], edge_label [P] or None)``."""
    lo, hi = torch.minimum(src, dst), torch.maximum(src, dst)
    uniq, inv = torch.unique((step * n + lo) * n + hi, return_inverse=True)
    u_step, u_lo, u_hi = uniq // (n * n), (uniq // n) % n, uniq % n
    rev = u_lo != u_hi
    p_step = torch.cat([u_step, u_step[rev]])
    idx = torch.stack([torch.cat([u_lo, u_hi[rev]]), torch.cat([u_hi, u_lo[rev]])])
    order = torch.argsort(p_step, stable=True)
    if label is None:
        return p_step[order], idx[:, order], None
    vote = torch.zeros(uniq.numel(), dtype=torch.long).index_add_(0, inv, 2 * label - 1)
    lab = (vote > 0).long()
    return p_step[order], idx[:, order], torch.cat([lab, lab[rev]])[order]


def temporal_dataset(events: dict[str, Tensor], name: str, *, task: Literal["dynlink", "edge"] = "dynlink",
                     window: float | None = None, num_snapshots: int | None = None,
                     steps: Sequence[int] | Sequence[float] = (0.7, 0.1, 0.2), features: Features = "degree",
                     max_degree: int = 32, edge_targets: EdgeTargets = "events", fingerprint_of: Sequence[Path] = (),
                     description: str = "") -> TemporalDataset:
    """Build a :class:`TemporalDataset` (``task`` ``edge`` needs a ``label`` column; ``edge_targets`` as in the
    module doc)."""
    if task not in ("dynlink", "edge"):
        raise ConfigError(f"temporal task must be 'dynlink' or 'edge', got {task!r}")
    if task == "edge" and "label" not in events:
        raise ConfigError(f"dataset '{name}': edge classification needs an edge label column")
    snaps, info = build_snapshots(events, window=window, num_snapshots=num_snapshots, features=features,
                                  max_degree=max_degree, edge_targets=edge_targets)
    split = split_steps(len(snaps), steps)
    num_classes = int(events["label"].max()) + 1 if task == "edge" else 0
    spec = DataSpec(task=task, num_features=info["num_features"], num_nodes=info["num_nodes"],
                    num_classes=max(num_classes, 2) if task == "edge" else 0,
                    extra={"window": info["window"], "num_snapshots": info["num_snapshots"],
                           "steps": [len(split[k]) for k in ("train", "val", "test")], "features": features})
    fp = fingerprint_files(list(fingerprint_of), "temporal-ds", task, window, num_snapshots, tuple(steps), features,
                           max_degree, edge_targets) if fingerprint_of else ""
    ds = TemporalDataset(name=name, spec=spec, snapshots=snaps, steps=split, fingerprint=fp,
                         description=description or f"{name}: {info['num_snapshots']} snapshots")
    ds.node_ids = info["node_ids"]  # raw id of each remapped node (not a dataclass field)
    return ds


def target_pairs(snapshot: Data) -> Tensor:
    """The target pairs ``[2, P]`` of a snapshot: ``edge_label_index`` (set by :func:`build_snapshots`, see
    ``edge_targets``), else its edges (a snapshot built by hand)."""
    return snapshot.edge_label_index if "edge_label_index" in snapshot else snapshot.edge_index


def snapshot_batch(ds: TemporalDataset, t: int, num_hist_steps: int = 10) -> SnapshotBatch:
    """History ``snapshots[max(0, t-h):t]`` and the target edges of step ``t`` (``edge_label_index`` and labels
    for ``edge``)."""
    if not 1 <= t < len(ds.snapshots):
        raise ConfigError(f"target step must be in 1..{len(ds.snapshots) - 1}, got {t}")
    tgt = ds.snapshots[t]
    return SnapshotBatch(ds.snapshots[max(0, t - num_hist_steps):t], target_pairs(tgt),
                         tgt.edge_label if ds.spec.task == "edge" else None)


def dynamic_sbm(num_nodes: int = 200, communities: int = 2, steps: int = 20, p_in: float = 0.2, p_out: float = 0.01,
                seed: int = 0, split: Sequence[int] = (13, 2, 4), features: Features = "degree") -> TemporalDataset:
    """Synthetic dynamic SBM (EvolveGCN check 3): fixed communities, edges resampled every step."""
    g = torch.Generator().manual_seed(seed)
    comm = torch.randint(0, communities, (num_nodes,), generator=g)
    iu = torch.triu_indices(num_nodes, num_nodes, 1)
    p = torch.where(comm[iu[0]] == comm[iu[1]], p_in, p_out)
    srcs, dsts, times = [], [], []
    for s in range(steps):
        keep = torch.rand(p.numel(), generator=g) < p
        srcs.append(iu[0][keep])
        dsts.append(iu[1][keep])
        times.append(torch.full((int(keep.sum()),), float(s)))
    ev = {"source": torch.cat(srcs + [torch.arange(num_nodes)]), "target": torch.cat(dsts + [torch.arange(num_nodes)]),
          "time": torch.cat(times + [torch.zeros(num_nodes)]).double()}  # self loops at t=0 keep every node present
    ds = temporal_dataset(ev, "dynamic-sbm", window=1.0, steps=tuple(split), features=features)
    ds.spec.extra["communities"] = comm.tolist()
    return ds
