"""TU Dortmund graph-classification sets from the raw text format.

Files (``DS`` = dataset name, comma-separated, 1-based ids): ``DS_A.txt`` (one
directed adjacency entry ``row, col`` per line), ``DS_graph_indicator.txt``
(graph id of node i), ``DS_graph_labels.txt`` (class of graph j),
``DS_node_labels.txt`` (optional, categorical label of node i),
``DS_node_attributes.txt`` (optional, comma-separated floats),
``DS_edge_labels.txt`` (optional, one per line of ``DS_A.txt``).

As PyG's ``TUDataset``: ``x = [node attributes ‖ one-hot(node label)]``, self
loops removed, duplicate entries merged, ``edge_attr = one-hot(edge label)``,
graph labels remapped to ``0..C-1`` in sorted order (MUTAG's -1/1 -> 0/1).
Split: seeded stratified 10-fold; fold ``k`` is test, fold ``k+1`` validation,
the other eight train (80/10/10).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import torch
from plexus.platform.data._types import GraphClsDataset
from plexus.platform.data.graphs._io import cached_tensors, fingerprint_files, single_thread
from plexus.platform.errors import ConfigError, DataError
from plexus.platform.spec import DataSpec
from torch import Tensor
from torch_geometric.data import Data

__all__ = ["read_tu", "stratified_split", "tu_dataset", "tu_graphs"]


def _read_numeric(path: Path, field: str, *, dtype: type = np.int64, ncols: int | None = None) -> np.ndarray:
    """Read a headerless comma-separated numeric file; a bad line raises DataError with its row."""
    try:
        df = pd.read_csv(path, header=None, sep=",", skipinitialspace=True, dtype=str, keep_default_na=False,
                         skip_blank_lines=False)
    except pd.errors.EmptyDataError as exc:
        raise DataError("file is empty", file=str(path), field=field) from exc
    except pd.errors.ParserError as exc:
        raise DataError(f"malformed line ({exc})", file=str(path), field=field) from exc
    if ncols is not None and df.shape[1] != ncols:
        raise DataError(f"expected {ncols} comma-separated values per line, found {df.shape[1]}",
                        file=str(path), row=1, field=field)
    out = np.empty(df.shape, dtype=dtype)
    for j in range(df.shape[1]):
        col = df.iloc[:, j].str.strip()
        num = pd.to_numeric(col, errors="coerce")
        bad = num.isna().to_numpy().copy()
        if dtype is np.int64:
            v = num.fillna(0).to_numpy(dtype=np.float64)
            bad |= v != np.round(v)
        if bad.any():
            i = int(np.argmax(bad))
            raise DataError(f"expected a {'n integer' if dtype is np.int64 else ' number'}, got {col.iloc[i]!r}",
                            file=str(path), row=i + 1, field=field if df.shape[1] == 1 else f"{field}[{j}]")
        out[:, j] = num.to_numpy().astype(dtype)
    return out


@single_thread()
def read_tu(root: Path, name: str, *, use_node_attr: bool = True) -> dict[str, Tensor]:
    """Parse the raw files into flat tensors (``x``, ``edge_index`` 0-based global, ``edge_attr``,
    ``node_ptr``, ``edge_ptr``, ``y``, ``classes``)."""
    f = {k: root / f"{name}_{k}.txt" for k in ("A", "graph_indicator", "graph_labels", "node_labels",
                                                "node_attributes", "edge_labels")}
    for k in ("A", "graph_indicator", "graph_labels"):
        if not f[k].is_file():
            raise DataError("required TU file is missing", file=str(f[k]))
    gi = _read_numeric(f["graph_indicator"], "graph_id", ncols=1)[:, 0]
    n = gi.shape[0]
    if (np.diff(gi) < 0).any():
        i = int(np.argmax(np.diff(gi) < 0)) + 2
        raise DataError("graph ids must be non-decreasing (nodes grouped by graph)", file=str(f["graph_indicator"]),
                        row=i, field="graph_id")
    labels_raw = _read_numeric(f["graph_labels"], "graph_label", ncols=1)[:, 0]
    num_graphs = labels_raw.shape[0]
    if gi.min() < 1 or gi.max() > num_graphs:
        i = int(np.argmax((gi < 1) | (gi > num_graphs))) + 1
        raise DataError(f"graph id {gi[i - 1]} outside 1..{num_graphs}", file=str(f["graph_indicator"]), row=i,
                        field="graph_id")
    classes, y = np.unique(labels_raw, return_inverse=True)
    a = _read_numeric(f["A"], "node_id", ncols=2) - 1
    bad = (a < 0) | (a >= n)
    if bad.any():
        i = int(np.argmax(bad.any(1)))
        raise DataError(f"node id {a[i].max() + 1 if a[i].max() >= n else a[i].min() + 1} outside 1..{n}",
                        file=str(f["A"]), row=i + 1, field="node_id")
    cross = gi[a[:, 0]] != gi[a[:, 1]]
    if cross.any():
        i = int(np.argmax(cross))
        raise DataError("edge joins nodes of two different graphs", file=str(f["A"]), row=i + 1, field="node_id")

    feats: list[np.ndarray] = []
    if use_node_attr and f["node_attributes"].is_file():
        attr = _read_numeric(f["node_attributes"], "node_attribute", dtype=np.float32)
        if attr.shape[0] != n:
            raise DataError(f"expected {n} lines (one per node), found {attr.shape[0]}", file=str(f["node_attributes"]))
        feats.append(attr)
    if f["node_labels"].is_file():
        nl = _read_numeric(f["node_labels"], "node_label")[:, 0]
        if nl.shape[0] != n:
            raise DataError(f"expected {n} lines (one per node), found {nl.shape[0]}", file=str(f["node_labels"]))
        nl = nl - nl.min()
        feats.append(np.eye(int(nl.max()) + 1, dtype=np.float32)[nl])
    x = np.concatenate(feats, 1) if feats else np.ones((n, 1), np.float32)

    ea = None
    if f["edge_labels"].is_file():
        el = _read_numeric(f["edge_labels"], "edge_label")[:, 0]
        if el.shape[0] != a.shape[0]:
            raise DataError(f"expected {a.shape[0]} lines (one per line of {f['A'].name}), found {el.shape[0]}",
                            file=str(f["edge_labels"]))
        el = el - el.min()
        ea = np.eye(int(el.max()) + 1, dtype=np.float32)[el]
    # remove self loops, merge duplicate entries (first occurrence kept), sort by (row, col)
    keep = a[:, 0] != a[:, 1]
    a = a[keep]
    ea = ea[keep] if ea is not None else None
    key = a[:, 0] * n + a[:, 1]
    _, first = np.unique(key, return_index=True)
    a = a[first]
    ea = ea[first] if ea is not None else None
    node_ptr = np.concatenate([[0], np.cumsum(np.bincount(gi - 1, minlength=num_graphs))])
    edge_ptr = np.concatenate([[0], np.cumsum(np.bincount(gi[a[:, 0]] - 1, minlength=num_graphs))])
    out = {"x": torch.from_numpy(x), "edge_index": torch.from_numpy(a.T.copy()), "node_ptr": torch.from_numpy(node_ptr),
           "edge_ptr": torch.from_numpy(edge_ptr), "y": torch.from_numpy(y.astype(np.int64)),
           "classes": torch.from_numpy(classes.astype(np.int64))}
    if ea is not None:
        out["edge_attr"] = torch.from_numpy(ea)
    return out


@single_thread()
def tu_graphs(flat: dict[str, Tensor]) -> list[Data]:
    """Cut the flat tensors of :func:`read_tu` into one PyG ``Data`` per graph."""
    x, ei, ea, y = flat["x"], flat["edge_index"], flat.get("edge_attr"), flat["y"]
    node_ptr, edge_ptr = flat["node_ptr"].tolist(), flat["edge_ptr"].tolist()
    graphs = []
    for g in range(y.numel()):
        n0, n1, e0, e1 = node_ptr[g], node_ptr[g + 1], edge_ptr[g], edge_ptr[g + 1]
        d = Data(x=x[n0:n1], edge_index=ei[:, e0:e1] - n0, y=y[g:g + 1], num_nodes=n1 - n0)
        if ea is not None:
            d.edge_attr = ea[e0:e1]
        graphs.append(d)
    return graphs


def stratified_split(y: Tensor, *, seed: int = 0, fold: int = 0, folds: int = 10) -> dict[str, Tensor]:
    """Seeded stratified k-fold: fold ``fold`` = test, fold ``fold+1`` = val, rest = train."""
    from sklearn.model_selection import StratifiedKFold

    if not 0 <= fold < folds:
        raise ConfigError(f"fold must be in 0..{folds - 1}, got {fold}")
    counts = torch.bincount(y)
    n_splits = max(2, min(folds, int(counts[counts > 0].min()))) if int(counts[counts > 0].min()) < folds else folds
    skf = StratifiedKFold(n_splits=n_splits, shuffle=True, random_state=seed)
    parts = [torch.from_numpy(te).long() for _, te in skf.split(np.zeros(y.numel()), y.numpy())]
    k = fold % n_splits
    test, val = parts[k], parts[(k + 1) % n_splits]
    train = torch.cat([p for i, p in enumerate(parts) if i not in (k, (k + 1) % n_splits)])
    return {"train": train.sort().values, "val": val.sort().values, "test": test.sort().values}


def tu_dataset(root: Path, name: str, *, seed: int = 0, fold: int = 0, use_node_attr: bool = True,
               dataset_name: str | None = None) -> GraphClsDataset:
    """Load a TU dataset (parsed tensors cached under ``cache_dir("graphs", "tu")``)."""
    files = sorted(p for p in root.glob(f"{name}_*.txt"))
    fp = fingerprint_files(files, "tu", name, use_node_attr)
    flat = cached_tensors("tu", fp, lambda: read_tu(root, name, use_node_attr=use_node_attr))
    graphs = tu_graphs(flat)
    spec = DataSpec(task="graph", num_features=int(flat["x"].size(1)), num_classes=int(flat["classes"].numel()),
                    num_edge_features=int(flat["edge_attr"].size(1)) if "edge_attr" in flat else 0,
                    extra={"raw_labels": flat["classes"].tolist()})
    return GraphClsDataset(name=dataset_name or name, spec=spec, graphs=graphs,
                           split_index=stratified_split(flat["y"], seed=seed, fold=fold),
                           fingerprint=f"{fp}-s{seed}-f{fold}", description=f"TU {name} (stratified 80/10/10)")
