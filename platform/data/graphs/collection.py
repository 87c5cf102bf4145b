"""Several user graphs for graph classification: an edge list with a graph id column and a graph table.

Edge file (header line): ``graph``, ``source``, ``target`` (non-negative integer
ids; node ids are per graph). Graph table (``graph_file``): ``graph`` (id, unique),
``label`` (class id or class name, as in a node table) and optionally ``split``
(``train``/``val``/``test``). Optional node table: ``graph``, ``node`` and numeric
feature columns; it then lists every node (isolated ones included) and every edge
must join two of its nodes of the same graph.

Node features: the node table's columns, else ``features="degree"`` (default for
``auto``: one-hot node degree, capped at ``max_degree``) or ``ones``. Edges are made
undirected, self loops and duplicates dropped. Split: the ``split`` column when
given (each of train/val/test non-empty), else the TU protocol: seeded stratified
10-fold, fold ``fold`` test, the next validation, the rest train (80/10/10).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from plexus.platform.data._types import GraphClsDataset
from plexus.platform.data.graphs._io import fingerprint_files
from plexus.platform.data.graphs.nodetable import SPLIT_NAMES, parse_labels, parse_split, read_node_table
from plexus.platform.data.graphs.planetoid import undirected_edge_index
from plexus.platform.data.graphs.temporal import _read_table, parse_columns
from plexus.platform.data.graphs.tu import stratified_split
from plexus.platform.errors import ConfigError, DataError
from plexus.platform.spec import DataSpec
from torch_geometric.data import Data

__all__ = ["ImportedGraphDataset", "load_graph_collection"]


@dataclass
class ImportedGraphDataset(GraphClsDataset):
    """User graphs for graph classification; ``details`` are part of its statistics."""

    details: dict[str, Any] = field(default_factory=dict)

    def stats(self) -> dict[str, Any]:
        return {**super().stats(), **self.details}


def _lookup(sorted_keys: np.ndarray, keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    pos = np.clip(np.searchsorted(sorted_keys, keys), 0, max(sorted_keys.size - 1, 0))
    return pos, sorted_keys[pos] != keys


def load_graph_collection(path: str | Path, *, graph_file: str | Path, name: str, node_file: str | Path | None = None,
                          sep: str | None = None, graph: str = "graph", source: str = "source",
                          target: str = "target", seed: int = 0, fold: int = 0, features: str = "auto",
                          max_degree: int = 32, normalize_features: bool = False) -> ImportedGraphDataset:
    """Load several graphs and their labels as a graph-classification dataset (see the module docstring)."""
    path, gpath = Path(path), Path(graph_file)
    if features not in ("auto", "degree", "ones"):
        raise ConfigError(f"features of several graphs must be auto, degree or ones, got '{features}'")
    gdf = _read_table(gpath, header=True, sep=None, names=None)
    gids = parse_columns(gdf, gpath, {"graph": (graph, "id", True)}, header=True)["graph"]
    _, first, counts = np.unique(gids, return_index=True, return_counts=True)
    if (counts > 1).any():
        i = int(np.setdiff1d(np.arange(gids.size), first)[0])
        raise DataError(f"graph id {gids[i]} is listed twice", file=str(gpath), row=i + 2, field=graph)
    if "label" not in gdf.columns:
        raise DataError(f"missing column 'label' (columns found: {', '.join(gdf.columns)})", file=str(gpath), row=1,
                        field="label")
    y, classes = parse_labels(gdf, gpath, "label")
    if (y < 0).any():
        i = int(np.argmax(y < 0))
        raise DataError(f"graph {gids[i]} has no label", file=str(gpath), row=i + 2, field="label")
    split = parse_split(gdf, gpath, "split") if "split" in gdf.columns else None
    gorder = np.argsort(gids)
    gsorted = gids[gorder]

    edf = _read_table(path, header=True, sep=sep, names=None)
    ecols = parse_columns(edf, path, {"graph": (graph, "id", True), "source": (source, "id", True),
                                      "target": (target, "id", True)}, header=True)
    gpos, unknown = _lookup(gsorted, ecols["graph"])
    if unknown.any():
        i = int(np.argmax(unknown))
        raise DataError(f"graph {ecols['graph'][i]} is not in the graph table {gpath.name}", file=str(path), row=i + 2,
                        field=graph)
    eg = gorder[gpos]  # row of the graph table per edge
    src_key, dst_key = (eg.astype(np.int64) << 32) | ecols["source"], (eg.astype(np.int64) << 32) | ecols["target"]
    table = None
    if node_file is not None:
        table = read_node_table(node_file, sep=sep, graph=graph)
        npos, unknown_g = _lookup(gsorted, table.graph)
        if unknown_g.any():
            i = int(np.argmax(unknown_g))
            raise DataError(f"graph {table.graph[i]} is not in the graph table {gpath.name}", file=str(node_file),
                            row=i + 2, field=graph)
        nkeys = (gorder[npos].astype(np.int64) << 32) | table.ids
        norder = np.argsort(nkeys, kind="stable")
        keys = nkeys[norder]
        for arr, col in ((src_key, source), (dst_key, target)):
            _, miss = _lookup(keys, arr)
            if miss.any():
                i = int(np.argmax(miss))
                raise DataError(f"edge to node {arr[i] & 0xFFFFFFFF} of graph {ecols['graph'][i]}, which is not in "
                                f"the node file {Path(node_file).name}", file=str(path), row=i + 2, field=col)
    else:
        keys = np.unique(np.concatenate([src_key, dst_key]))
    node_graph = (keys >> 32).astype(np.int64)  # graph-table row of each node, nodes sorted by (graph, id)
    ptr = np.concatenate([[0], np.cumsum(np.bincount(node_graph, minlength=gids.size))])
    empty = np.diff(ptr) == 0
    if empty.any():
        i = int(np.argmax(empty))
        raise DataError(f"graph {gids[i]} has no edges (and no nodes in a node file)", file=str(gpath), row=i + 2,
                        field=graph)
    s, d = np.searchsorted(keys, src_key), np.searchsorted(keys, dst_key)
    x_all = None
    if table is not None and table.features is not None:
        x_all = torch.from_numpy(np.asarray(table.features, dtype=np.float32)[norder])
        feature_source = table.feature_source
    elif features == "ones":
        feature_source = "constant 1"
    else:
        feature_source = f"one-hot degree (capped at {max_degree})"
    edge_order = np.argsort(eg, kind="stable")
    eptr = np.concatenate([[0], np.cumsum(np.bincount(eg, minlength=gids.size))])
    graphs = []
    for g in range(gids.size):
        n0, n1 = int(ptr[g]), int(ptr[g + 1])
        sel = edge_order[eptr[g]:eptr[g + 1]]
        ei = undirected_edge_index(torch.from_numpy(np.stack([s[sel] - n0, d[sel] - n0])).long(), n1 - n0)
        if x_all is not None:
            x = x_all[n0:n1]
        elif features == "ones":
            x = torch.ones(n1 - n0, 1)
        else:
            deg = torch.bincount(ei[0], minlength=n1 - n0).clamp(max=max_degree)
            x = torch.nn.functional.one_hot(deg, max_degree + 1).float()
        if normalize_features:
            x = x / x.sum(1, keepdim=True).clamp(min=1.0)
        graphs.append(Data(x=x, edge_index=ei, y=torch.tensor([int(y[g])]), num_nodes=n1 - n0))
    if split is not None:
        split_index = {k: torch.from_numpy(np.flatnonzero(split == c)) for c, k in enumerate(SPLIT_NAMES)}
        missing = [k for k, v in split_index.items() if v.numel() == 0]
        if missing:
            raise DataError(f"no graph is in split '{missing[0]}' (each of train, val, test needs graphs)",
                            file=str(gpath), row=1, field="split")
        method = f"given by the split column of {gpath.name}"
    else:
        split_index = stratified_split(torch.from_numpy(y), seed=seed, fold=fold)
        method = f"seeded stratified 10-fold as TU: fold {fold} test, the next validation, the rest train (seed {seed})"
    files = [path, gpath] + ([Path(node_file)] if node_file is not None else [])
    fp = fingerprint_files(files, "graphs", seed, fold, features, max_degree, normalize_features)
    spec = DataSpec(task="graph", num_features=int(graphs[0].x.size(1)), num_classes=len(classes),
                    extra={"raw_labels": list(classes)})
    details = {"split_method": method, "class_names": ", ".join(f"{i}={c}" for i, c in enumerate(classes)),
               "feature_source": feature_source}
    return ImportedGraphDataset(name=name, spec=spec, graphs=graphs, split_index=split_index, fingerprint=fp,
                                description=f"user graphs {path.name} with labels from {gpath.name}", details=details)
