"""User edge lists: static graphs (link / node tasks) and temporal edge lists.

Edge file: CSV / TSV / space-separated text (``.gz`` ok), with a header line by
default. ``kind="graph"``: columns ``source``, ``target`` (non-negative integer
node ids). ``kind="temporal"``: also ``time`` (a number, e.g. Unix seconds) and
optionally ``weight`` and ``label`` (integer class, for edge classification).
Column names can be changed with the keyword arguments.

Optional node file (``kind="graph"``): header with ``node`` (id), optionally
``label`` (integer class) and any number of numeric feature columns. When it is
given every edge must join two listed nodes.

Every problem raises :class:`DataError` naming the file, the 1-based line and the
column: empty file, missing column, negative / non-integer node id, non-numeric
timestamp, edge to an unknown node, duplicate node, malformed line.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Literal

import numpy as np
import torch
from plexus.platform.data._types import Dataset, NodeDataset
from plexus.platform.data.graphs._io import fingerprint_files
from plexus.platform.data.graphs.link import link_dataset
from plexus.platform.data.graphs.planetoid import undirected_edge_index
from plexus.platform.data.graphs.temporal import (
    _read_table,
    parse_columns,
    read_temporal_csv,
    temporal_dataset,
)
from plexus.platform.errors import ConfigError, DataError
from plexus.platform.spec import DataSpec
from torch_geometric.data import Data

__all__ = ["load_edge_list", "read_node_file"]


def read_node_file(path: Path, *, node: str = "node", label: str = "label", header: bool = True,
                   sep: str | None = None) -> tuple[np.ndarray, np.ndarray | None, np.ndarray | None]:
    """``(ids, labels or None, features [N, F] or None)`` in file order; validated."""
    df = _read_table(path, header=header, sep=sep, names=None)
    spec = {"node": (node, "id", True), "label": (label, "int", False)}
    cols = parse_columns(df, path, spec, header=header)
    ids = cols["node"]
    _, first, counts = np.unique(ids, return_index=True, return_counts=True)
    if (counts > 1).any():
        dup_rows = np.setdiff1d(np.arange(ids.size), first)
        raise DataError(f"node id {ids[dup_rows[0]]} is listed twice", file=str(path), row=int(dup_rows[0]) + 2,
                        field=node)
    feat_cols = [c for c in df.columns if c not in (node, label)]
    feats = None
    if feat_cols:
        fspec = {c: (c, "float", True) for c in feat_cols}
        fc = parse_columns(df, path, fspec, header=header)
        feats = np.stack([fc[c] for c in feat_cols], 1).astype(np.float32)
    return ids, cols.get("label"), feats


def _graph(path: Path, name: str, *, task: str, node_file: str | Path | None, header: bool, sep: str | None,
           source: str, target: str, split: str, seed: int, features: str) -> Dataset:
    df = _read_table(path, header=header, sep=sep, names=(source, target))
    cols = parse_columns(df, path, {"source": (source, "id", True), "target": (target, "id", True)}, header=header)
    src, dst = cols["source"], cols["target"]
    labels = feats = None
    if node_file is not None:
        node_path = Path(node_file)
        ids, labels, feats = read_node_file(node_path, sep=sep)
        order = np.argsort(ids)
        ids, labels = ids[order], None if labels is None else labels[order]
        feats = None if feats is None else feats[order]
        for arr, field in ((src, source), (dst, target)):
            pos = np.clip(np.searchsorted(ids, arr), 0, ids.size - 1)
            unknown = ids[pos] != arr
            if unknown.any():
                i = int(np.argmax(unknown))
                raise DataError(f"edge to unknown node {arr[i]} (not in node file {node_path.name})", file=str(path),
                                row=i + (2 if header else 1), field=field)
        s, d = np.searchsorted(ids, src), np.searchsorted(ids, dst)
    else:
        if task == "node":
            raise ConfigError("task 'node' needs a node file with a label column (node_file=...)")
        ids, inv = np.unique(np.concatenate([src, dst]), return_inverse=True)
        s, d = inv[: src.size], inv[src.size:]
    n = int(ids.size)
    edge_index = undirected_edge_index(torch.from_numpy(np.stack([s, d])).long(), n)
    if feats is not None:
        x = torch.from_numpy(feats)
    elif features == "identity" or (features == "auto" and n <= 10_000):
        x = torch.eye(n)
    else:
        x = torch.ones(n, 1)
    files = [path] + ([Path(node_file)] if node_file is not None else [])
    fp = fingerprint_files(files, "edgelist", task, split, seed, features)
    data = Data(x=x, edge_index=edge_index, num_nodes=n)
    if task == "link":
        ds = link_dataset(data, name, split=split, seed=seed, fingerprint=fp, description=f"user graph {path.name}")
        ds.node_ids = torch.from_numpy(ids)
        return ds
    if labels is None:
        raise ConfigError(f"task 'node' needs a 'label' column in the node file {node_file}")
    classes, y = np.unique(labels, return_inverse=True)
    data.y = torch.from_numpy(y.astype(np.int64))
    data.train_mask, data.val_mask, data.test_mask = _node_masks(data.y, seed)
    spec = DataSpec(task="node", num_features=int(x.size(1)), num_classes=int(classes.size), num_nodes=n,
                    extra={"raw_labels": classes.tolist()})
    ds = NodeDataset(name=name, spec=spec, data=data, fingerprint=fp, description=f"user graph {path.name}")
    ds.node_ids = torch.from_numpy(ids)
    return ds


def _node_masks(y: torch.Tensor, seed: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Seeded stratified 60/20/20 node split."""
    g = torch.Generator().manual_seed(seed)
    masks = [torch.zeros(y.numel(), dtype=torch.bool) for _ in range(3)]
    for c in torch.unique(y):
        idx = (y == c).nonzero().view(-1)
        idx = idx[torch.randperm(idx.numel(), generator=g)]
        n_tr, n_va = round(0.6 * idx.numel()), round(0.2 * idx.numel())
        masks[0][idx[:n_tr]] = True
        masks[1][idx[n_tr:n_tr + n_va]] = True
        masks[2][idx[n_tr + n_va:]] = True
    return masks[0], masks[1], masks[2]


def load_edge_list(path: str | Path, *, kind: Literal["graph", "temporal"], name: str,
                   task: str | None = None, node_file: str | Path | None = None, header: bool = True,
                   sep: str | None = None, source: str = "source", target: str = "target", time: str = "time",
                   weight: str = "weight", label: str = "label", split: Literal["70/10/20", "85/5/10"] = "70/10/20",
                   seed: int = 0, features: Literal["auto", "identity", "ones", "degree", "none"] = "auto",
                   window: float | None = None, num_snapshots: int | None = 20,
                   steps: Sequence[int] | Sequence[float] = (0.7, 0.1, 0.2), max_degree: int = 32,
                   edge_targets: Literal["events", "pairs"] = "events") -> Dataset:
    """Load a user edge list as a dataset.

    Args:
        path: the edge file.
        kind: ``graph`` (static; task ``link`` or ``node``) or ``temporal`` (task ``dynlink`` or ``edge``).
        name: dataset name.
        task: default ``link`` for graphs, ``dynlink`` for temporal files.
        node_file: graph only: node file (``node``[, ``label``][, numeric features]).
        header: whether the files start with a header line (else columns are positional).
        sep: field separator (default: detected from the first line: comma, tab or whitespace).
        source, target, time, weight, label: column names.
        split: graph link task: edge split ratios.
        seed: seed of the link / node split.
        features: graph: ``auto`` (node-file features, else identity up to 10,000 nodes, else ones),
            ``identity`` or ``ones``; temporal: ``degree`` (default for ``auto``), ``identity`` or ``none``.
        window: temporal: seconds per snapshot (overrides ``num_snapshots`` when given).
        num_snapshots: temporal: number of equal time windows (default 20).
        steps: temporal: train/val/test target steps (counts, or fractions of the steps with history).
        max_degree: temporal: cap of the one-hot degree features.
        edge_targets: temporal: the targets of a step. ``events``: each merged directed edge (``edge``: its
            latest label). ``pairs`` (the EvolveGCN reference): each pair of the snapshot in both orientations
            (``edge``: majority vote of binary labels over both directions).
    """
    path = Path(path)
    if kind == "graph":
        task = task or "link"
        if task not in ("link", "node"):
            raise ConfigError(f"a static edge list supports tasks 'link' and 'node', not '{task}'")
        if features not in ("auto", "identity", "ones"):
            raise ConfigError(f"graph features must be auto, identity or ones, got '{features}'")
        return _graph(path, name, task=task, node_file=node_file, header=header, sep=sep, source=source,
                      target=target, split=split, seed=seed, features=features)
    if kind == "temporal":
        task = task or "dynlink"
        if task not in ("dynlink", "edge"):
            raise ConfigError(f"a temporal edge list supports tasks 'dynlink' and 'edge', not '{task}'")
        ev = read_temporal_csv(path, header=header, sep=sep, columns=(source, target, time), source=source,
                               target=target, time=time, weight=weight, label=label)
        if task == "edge" and "label" not in ev:
            raise DataError(f"edge classification needs a '{label}' column", file=str(path), row=1, field=label)
        if "label" in ev and int(ev["label"].min()) < 0:
            i = int(torch.argmax((ev["label"] < 0).int()))
            raise DataError(f"edge label must be a class index >= 0, got {int(ev['label'][i])}", file=str(path),
                            row=i + (2 if header else 1), field=label)
        feat = "degree" if features == "auto" else features
        if feat not in ("degree", "identity", "none"):
            raise ConfigError(f"temporal features must be degree, identity or none, got '{features}'")
        return temporal_dataset(ev, name, task=task, window=window, num_snapshots=None if window else num_snapshots,
                                steps=steps, features=feat, max_degree=max_degree,  # type: ignore[arg-type]
                                edge_targets=edge_targets, fingerprint_of=[path],
                                description=f"user temporal graph {path.name}")
    raise ConfigError(f"kind must be 'graph' or 'temporal', got '{kind}'")
