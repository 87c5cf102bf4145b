"""User edge lists: static graphs (link / node tasks) and temporal edge lists.

Edge file: CSV / TSV / space-separated text (``.gz`` ok), with a header line by
default. ``kind="graph"``: columns ``source``, ``target`` (non-negative integer
node ids). ``kind="temporal"``: also ``time`` (a number, e.g. Unix seconds) and
optionally ``weight`` and ``label`` (integer class, for edge classification).
Column names can be changed with the keyword arguments.

Optional node file (``kind="graph"``): header with ``node`` (id), optionally
``label`` (class id or class name), ``split`` (``train``/``val``/``test``/empty)
and numeric feature columns, or features in a separate file (``features_file``:
``.npy``, sparse ``.npz`` or ``node,feature_index,value`` triples); see
:mod:`~plexus.platform.data.graphs.nodetable`. When it is given every edge must
join two listed nodes. Several graphs (``graph_file``): see
:mod:`~plexus.platform.data.graphs.collection`.

Every problem raises :class:`DataError` naming the file, the 1-based line and the
column: empty file, missing column, negative / non-integer node id, non-numeric
timestamp, edge to an unknown node, duplicate node, malformed line.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from plexus.platform.data._types import Dataset, NodeDataset
from plexus.platform.data.graphs._io import fingerprint_files
from plexus.platform.data.graphs.link import link_dataset
from plexus.platform.data.graphs.nodetable import SPLIT_NAMES, read_node_table, stratified_node_split
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

__all__ = ["ImportedNodeDataset", "load_edge_list", "read_node_file"]


def read_node_file(path: Path, *, node: str = "node", label: str = "label", header: bool = True,
                   sep: str | None = None) -> tuple[np.ndarray, np.ndarray | None, np.ndarray | None]:
    """``(ids, label index or None (-1 = unlabelled), dense features [N, F] or None)`` in file order; validated.

    The full reader (class names, ``split`` column, features files) is
    :func:`~plexus.platform.data.graphs.nodetable.read_node_table`.
    """
    if not header:
        raise ConfigError("a node file needs a header line (node[,label][,split][,features])")
    t = read_node_table(path, sep=sep, node=node, label=label)
    feats = t.features.toarray() if hasattr(t.features, "toarray") else t.features
    return t.ids, t.labels, feats


@dataclass
class ImportedNodeDataset(NodeDataset):
    """A user graph for node classification; ``details`` (split method, class names, feature source) are
    part of its statistics."""

    details: dict[str, Any] = field(default_factory=dict)

    def stats(self) -> dict[str, Any]:
        return {**super().stats(), **self.details}


def _dense(feats: Any) -> torch.Tensor:
    return torch.from_numpy(np.asarray(feats.toarray() if hasattr(feats, "toarray") else feats, dtype=np.float32))


def _graph(path: Path, name: str, *, task: str, node_file: str | Path | None, features_file: str | Path | None,
           header: bool, sep: str | None, source: str, target: str, split: str, node_split: tuple[float, ...],
           seed: int, features: str, normalize_features: bool) -> Dataset:
    df = _read_table(path, header=header, sep=sep, names=(source, target))
    cols = parse_columns(df, path, {"source": (source, "id", True), "target": (target, "id", True)}, header=header)
    src, dst = cols["source"], cols["target"]
    table = None
    if node_file is not None:
        node_path = Path(node_file)
        table = read_node_table(node_path, features=features_file, sep=sep)
        order = np.argsort(table.ids)
        ids = table.ids[order]
        for arr, field_ in ((src, source), (dst, target)):
            pos = np.clip(np.searchsorted(ids, arr), 0, ids.size - 1)
            unknown = ids[pos] != arr
            if unknown.any():
                i = int(np.argmax(unknown))
                raise DataError(f"edge to unknown node {arr[i]} (not in node file {node_path.name})", file=str(path),
                                row=i + (2 if header else 1), field=field_)
        s, d = np.searchsorted(ids, src), np.searchsorted(ids, dst)
    else:
        if features_file is not None:
            raise ConfigError("a features file needs a node table (node_file=...) whose rows it describes")
        if task == "node":
            raise ConfigError("task 'node' needs a node file with a label column (node_file=...)")
        ids, inv = np.unique(np.concatenate([src, dst]), return_inverse=True)
        s, d = inv[: src.size], inv[src.size:]
    n = int(ids.size)
    edge_index = undirected_edge_index(torch.from_numpy(np.stack([s, d])).long(), n)
    if table is not None and table.features is not None:
        x = _dense(table.features[order])
        feature_source = table.feature_source
    elif features == "identity" or (features == "auto" and n <= 10_000):
        x, feature_source = torch.eye(n), "identity (one-hot node id)"
    else:
        x, feature_source = torch.ones(n, 1), "constant 1"
    if normalize_features:
        x = x / x.sum(1, keepdim=True).clamp(min=1.0)
    files = [path] + [Path(f) for f in (node_file, features_file) if f is not None]
    fp = fingerprint_files(files, "edgelist", task, split, tuple(node_split), seed, features, normalize_features)
    data = Data(x=x, edge_index=edge_index, num_nodes=n)
    if task == "link":
        ds = link_dataset(data, name, split=split, seed=seed, fingerprint=fp, description=f"user graph {path.name}")
        ds.node_ids = torch.from_numpy(ids)
        return ds
    assert table is not None
    if table.labels is None:
        raise DataError("task 'node' needs a 'label' column", file=str(node_file), row=1, field="label")
    labels = table.labels[order]
    if table.split is not None:
        codes, method = table.split[order], f"given by the split column of {Path(node_file).name}"
        missing = [k for k in SPLIT_NAMES if not (codes == SPLIT_NAMES.index(k)).any()]
        if missing:
            raise DataError(f"no node is in split '{missing[0]}' (each of train, val, test needs nodes)",
                            file=str(node_file), row=1, field="split")
    else:
        codes, method = stratified_node_split(labels, tuple(node_split), seed)  # type: ignore[arg-type]
    data.y = torch.from_numpy(np.where(labels >= 0, labels, 0))  # unlabelled nodes are in no mask
    data.train_mask, data.val_mask, data.test_mask = (torch.from_numpy(codes == k) for k in range(3))
    classes = table.classes or []
    spec = DataSpec(task="node", num_features=int(x.size(1)), num_classes=len(classes), num_nodes=n,
                    extra={"raw_labels": list(classes)})
    details = {"split_method": method, "labelled_nodes": int((labels >= 0).sum()),
               "labelled_in_no_split": int(((labels >= 0) & (codes < 0)).sum()),
               "class_names": ", ".join(f"{i}={c}" for i, c in enumerate(classes)), "feature_source": feature_source}
    ds = ImportedNodeDataset(name=name, spec=spec, data=data, fingerprint=fp, description=f"user graph {path.name}",
                             details=details)
    ds.node_ids = torch.from_numpy(ids)
    return ds


def load_edge_list(path: str | Path, *, kind: Literal["graph", "temporal"], name: str,
                   task: str | None = None, node_file: str | Path | None = None, header: bool = True,
                   sep: str | None = None, source: str = "source", target: str = "target", time: str = "time",
                   weight: str = "weight", label: str = "label", split: Literal["70/10/20", "85/5/10"] = "70/10/20",
                   seed: int = 0, features: Literal["auto", "identity", "ones", "degree", "none"] = "auto",
                   window: float | None = None, num_snapshots: int | None = 20,
                   steps: Sequence[int] | Sequence[float] = (0.7, 0.1, 0.2), max_degree: int = 32,
                   edge_targets: Literal["events", "pairs"] = "events", features_file: str | Path | None = None,
                   node_split: Sequence[float] = (0.6, 0.2, 0.2), normalize_features: bool = False,
                   graph_file: str | Path | None = None, fold: int = 0) -> Dataset:
    """Load a user edge list as a dataset.

    Args:
        path: the edge file.
        kind: ``graph`` (static; task ``link`` or ``node``; ``graph`` with ``graph_file``) or ``temporal``
            (task ``dynlink`` or ``edge``).
        name: dataset name.
        task: default ``link`` for graphs (``graph`` with ``graph_file``), ``dynlink`` for temporal files.
        node_file: graph only: node table (``node``[, ``label``][, ``split``][, numeric features]).
        header: whether the files start with a header line (else columns are positional).
        sep: field separator (default: detected from the first line: comma, tab or whitespace).
        source, target, time, weight, label: column names.
        split: graph link task: edge split ratios.
        seed: seed of the link split, of the node split when the node table has no ``split`` column, and of
            the graph folds.
        features: graph: ``auto`` (node-file features, else identity up to 10,000 nodes, else ones),
            ``identity`` or ``ones``; temporal: ``degree`` (default for ``auto``), ``identity`` or ``none``.
        window: temporal: seconds per snapshot (overrides ``num_snapshots`` when given).
        num_snapshots: temporal: number of equal time windows (default 20).
        steps: temporal: train/val/test target steps (counts, or fractions of the steps with history).
        max_degree: temporal: cap of the one-hot degree features.
        edge_targets: temporal: the targets of a step. ``events``: each merged directed edge (``edge``: its
            latest label). ``pairs`` (the EvolveGCN reference): each pair of the snapshot in both orientations
            (``edge``: majority vote of binary labels over both directions).
        features_file: graph: node features for the node table (``.npy``, ``.npz`` or a CSV of triples).
        node_split: graph, task ``node``, no ``split`` column: train/val/test fractions of the seeded
            stratified split of the labelled nodes.
        normalize_features: graph: row-normalise the node features (GCN preprocessing).
        graph_file: graph classification: table ``graph,label[,split]``; the edge file then has a ``graph``
            column.
        fold: graph classification without a ``split`` column: test fold of the stratified 10-fold split.
    """
    path = Path(path)
    if kind == "graph" and graph_file is not None:
        from plexus.platform.data.graphs.collection import load_graph_collection

        if (task or "graph") != "graph":
            raise ConfigError(f"an edge list with a graph table supports task 'graph', not '{task}'")
        if features_file is not None:
            raise ConfigError("several graphs take node features as numeric columns of the node table")
        return load_graph_collection(path, graph_file=graph_file, name=name, node_file=node_file, sep=sep,
                                     source=source, target=target, seed=seed, fold=fold,
                                     features=features,
                                     max_degree=max_degree, normalize_features=normalize_features)
    if kind == "graph":
        task = task or "link"
        if task not in ("link", "node"):
            raise ConfigError(f"a static edge list supports tasks 'link' and 'node', not '{task}'")
        if features not in ("auto", "identity", "ones"):
            raise ConfigError(f"graph features must be auto, identity or ones, got '{features}'")
        return _graph(path, name, task=task, node_file=node_file, features_file=features_file, header=header,
                      sep=sep, source=source, target=target, split=split, node_split=tuple(node_split), seed=seed,
                      features=features, normalize_features=normalize_features)
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
