"""Node and graph tables of user graphs: ids, labels, a given split and node features.

Node table (CSV / TSV, header line): ``node`` (non-negative integer id, unique;
with several graphs, ``graph`` + ``node`` is the key) and optionally

* ``label``: a class id (integer) or a class name. The first non-empty label
  decides: integers throughout, or names throughout. Classes are numbered
  ``0..C-1`` in sorted order (names alphabetically); the mapping is kept in
  ``classes``. An empty label means an unlabelled node.
* ``split``: ``train``, ``val``, ``test`` or empty (in no split). Never a feature.
  A node in a split needs a label.
* any other column: a numeric node feature (dense), unless a features file is given,
  in which case other columns are an error.

Features file (``features=``), rows always refer to the node table:

* ``.npy``: a dense ``[N, F]`` array whose row ``i`` belongs to the ``i``-th data
  row of the node table (node-table order, not sorted by id);
* ``.npz``: a ``scipy.sparse`` matrix saved with ``save_npz``, rows in node-table order;
* ``.csv`` / ``.tsv`` / ``.txt`` (``.gz`` ok): ``node,feature_index,value`` triples
  with a header line, keyed by node id (plus ``graph`` with several graphs);
  absent entries are 0, the width is the largest index + 1.

Every problem raises a one-line :class:`DataError` naming the file, row and field.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from plexus.platform.data.graphs.temporal import _read_table, parse_columns
from plexus.platform.errors import ConfigError, DataError

__all__ = [
    "SPLIT_NAMES",
    "NodeTable",
    "parse_labels",
    "parse_split",
    "read_features",
    "read_node_table",
    "stratified_node_split",
]

SPLIT_NAMES = ("train", "val", "test")
_SPLIT_CODE = {"train": 0, "val": 1, "test": 2, "": -1}


@dataclass
class NodeTable:
    """A validated node table, rows in file order. ``labels``: class index, -1 = unlabelled;
    ``split``: 0 train, 1 val, 2 test, -1 none; ``features``: ``[N, F]`` float32 (dense ndarray or CSR)."""

    path: Path
    ids: np.ndarray
    graph: np.ndarray | None = None
    labels: np.ndarray | None = None
    classes: list[Any] | None = None
    split: np.ndarray | None = None
    features: Any = None
    feature_source: str = ""

    def __len__(self) -> int:
        return int(self.ids.size)


def parse_labels(df: pd.DataFrame, path: Path, column: str) -> tuple[np.ndarray, list[Any]]:
    """``(class index per row, -1 when empty; class names/ids in index order)``."""
    raw = df[column].astype(str).str.strip()
    present = (raw != "").to_numpy()
    if not present.any():
        raise DataError("every label is empty", file=str(path), row=2, field=column)
    first = raw[present].iloc[0]
    num = pd.to_numeric(raw, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
    finite = np.isfinite(num)
    integer = finite & (np.where(finite, num, 0) == np.round(np.where(finite, num, 0)))
    if integer[int(np.argmax(present))]:
        bad = present & ~integer
        if bad.any():
            i = int(np.argmax(bad))
            raise DataError(f"expected an integer class id like the first label ({first!r}), got {raw.iloc[i]!r} "
                            "(use class ids throughout or class names throughout)", file=str(path), row=i + 2,
                            field=column)
        values = np.where(present, np.where(finite, num, 0), 0).astype(np.int64)
        classes = np.unique(values[present])
        idx = np.searchsorted(classes, values)
        return np.where(present, idx, -1).astype(np.int64), [int(c) for c in classes]
    names = raw.to_numpy(dtype=object)
    classes_s = sorted(set(names[present].tolist()))
    lookup = {c: i for i, c in enumerate(classes_s)}
    return np.array([lookup[v] if p else -1 for v, p in zip(names, present)], dtype=np.int64), classes_s


def parse_split(df: pd.DataFrame, path: Path, column: str) -> np.ndarray:
    """``split`` column -> codes 0 train / 1 val / 2 test / -1 none."""
    raw = df[column].astype(str).str.strip().str.lower()
    bad = ~raw.isin(list(_SPLIT_CODE))
    if bad.any():
        i = int(np.argmax(bad.to_numpy()))
        raise DataError(f"expected train, val, test or empty, got {df[column].iloc[i]!r}", file=str(path), row=i + 2,
                        field=column)
    return raw.map(_SPLIT_CODE).to_numpy(dtype=np.int8)


def _keys(ids: np.ndarray, graph: np.ndarray | None) -> np.ndarray:
    return ids if graph is None else (graph.astype(np.int64) << 32) | ids


def read_node_table(path: str | Path, *, features: str | Path | None = None, sep: str | None = None,
                    node: str = "node", label: str = "label", split: str = "split", graph: str | None = None
                    ) -> NodeTable:
    """Read and validate a node table (and its features file); see the module docstring."""
    path = Path(path)
    df = _read_table(path, header=True, sep=sep, names=None)
    spec = {"node": (node, "id", True)}
    if graph is not None:
        spec["graph"] = (graph, "id", True)
    cols = parse_columns(df, path, spec, header=True)
    ids, gids = cols["node"], cols.get("graph")
    keys = _keys(ids, gids)
    _, first, counts = np.unique(keys, return_index=True, return_counts=True)
    if (counts > 1).any():
        i = int(np.setdiff1d(np.arange(keys.size), first)[0])
        where = f" of graph {gids[i]}" if gids is not None else ""
        raise DataError(f"node id {ids[i]}{where} is listed twice", file=str(path), row=i + 2, field=node)
    table = NodeTable(path=path, ids=ids, graph=gids)
    if label in df.columns:
        table.labels, table.classes = parse_labels(df, path, label)
    if split in df.columns:
        table.split = parse_split(df, path, split)
        if table.labels is None:
            raise DataError(f"a '{split}' column needs a '{label}' column", file=str(path), row=1, field=split)
        orphan = (table.split >= 0) & (table.labels < 0)
        if orphan.any():
            i = int(np.argmax(orphan))
            raise DataError(f"node {ids[i]} is in split '{SPLIT_NAMES[table.split[i]]}' but has no label",
                            file=str(path), row=i + 2, field=label)
    rest = [c for c in df.columns if c not in {node, label, split, graph}]
    if features is not None:
        if rest:
            raise DataError(f"unexpected column '{rest[0]}': features come from {Path(features).name}; the node "
                            f"table holds {node}, {label} and {split} only", file=str(path), row=1, field=rest[0])
        table.features, table.feature_source = read_features(features, table)
    elif rest:
        fc = parse_columns(df, path, {c: (c, "float", True) for c in rest}, header=True)
        table.features = np.stack([fc[c] for c in rest], 1).astype(np.float32)
        table.feature_source = f"{len(rest)} numeric column(s) of {path.name}"
    return table


def read_features(path: str | Path, table: NodeTable) -> tuple[Any, str]:
    """Node features ``[N, F]`` (dense float32 ndarray or CSR) from ``.npy``, ``.npz`` or a CSV of triples."""
    path = Path(path)
    if not path.is_file():
        raise DataError("features file not found", file=str(path))
    n, name = len(table), path.name.lower()
    if name.endswith(".npy"):
        try:
            arr = np.load(path, allow_pickle=False)
        except (OSError, ValueError) as exc:
            raise DataError(f"not a readable .npy array ({exc})", file=str(path)) from exc
        if arr.ndim == 1:
            arr = arr[:, None]
        if arr.ndim != 2 or not np.issubdtype(arr.dtype, np.number):
            raise DataError(f"expected a 2-D numeric array [nodes, features], got shape {arr.shape} of {arr.dtype}",
                            file=str(path))
        _check_rows(arr.shape[0], n, path, table)
        bad = ~np.isfinite(arr)
        if bad.any():
            r, c = np.argwhere(bad)[0]
            raise DataError(f"expected a finite number, got {arr[r, c]}", file=str(path), row=int(r) + 1,
                            field=f"feature {int(c)}")
        return arr.astype(np.float32), f"dense {path.name} ({arr.shape[1]} features, rows in node-table order)"
    if name.endswith(".npz"):
        import scipy.sparse as sp

        try:
            mat = sp.load_npz(path).tocsr().astype(np.float32)
        except (OSError, ValueError, KeyError) as exc:
            raise DataError(f"not a scipy.sparse matrix saved with save_npz ({exc})", file=str(path)) from exc
        _check_rows(mat.shape[0], n, path, table)
        if not np.isfinite(mat.data).all():
            r = int(np.searchsorted(mat.indptr, int(np.argmax(~np.isfinite(mat.data))), side="right")) - 1
            raise DataError("expected finite numbers", file=str(path), row=r + 1)
        return mat, f"sparse {path.name} ({mat.shape[1]} features, {mat.nnz} non-zeros, rows in node-table order)"
    if any(name.endswith(s) for s in (".csv", ".tsv", ".txt", ".csv.gz", ".tsv.gz", ".txt.gz")):
        return _triples(path, table)
    raise DataError("unsupported features file: expected .npy (dense), .npz (scipy.sparse save_npz) or a .csv of "
                    "node,feature_index,value", file=str(path))


def _check_rows(rows: int, n: int, path: Path, table: NodeTable) -> None:
    if rows != n:
        raise DataError(f"expected {n} rows (one per node of {table.path.name}, in its order), found {rows}",
                        file=str(path))


def _triples(path: Path, table: NodeTable) -> tuple[Any, str]:
    import scipy.sparse as sp

    df = _read_table(path, header=True, sep=None, names=None)
    spec = {"node": ("node", "id", True), "index": ("feature_index", "int", True), "value": ("value", "float", True)}
    if table.graph is not None:
        spec["graph"] = ("graph", "id", True)
    cols = parse_columns(df, path, spec, header=True)
    neg = cols["index"] < 0
    if neg.any():
        i = int(np.argmax(neg))
        raise DataError(f"expected a feature index >= 0, got {cols['index'][i]}", file=str(path), row=i + 2,
                        field="feature_index")
    keys = _keys(cols["node"], cols.get("graph"))
    tkeys = _keys(table.ids, table.graph)
    order = np.argsort(tkeys)
    pos = np.clip(np.searchsorted(tkeys[order], keys), 0, tkeys.size - 1)
    unknown = tkeys[order][pos] != keys
    if unknown.any():
        i = int(np.argmax(unknown))
        raise DataError(f"unknown node id {cols['node'][i]} (not in {table.path.name})", file=str(path), row=i + 2,
                        field="node")
    rows = order[pos]
    width = int(cols["index"].max()) + 1
    cell = rows.astype(np.int64) * width + cols["index"]
    _, first, counts = np.unique(cell, return_index=True, return_counts=True)
    if (counts > 1).any():
        i = int(np.setdiff1d(np.arange(cell.size), first)[0])
        raise DataError(f"feature {cols['index'][i]} of node {cols['node'][i]} is given twice", file=str(path),
                        row=i + 2, field="feature_index")
    mat = sp.csr_matrix((cols["value"].astype(np.float32), (rows, cols["index"])), shape=(len(table), width))
    return mat, f"{path.name}: {cell.size} node,feature_index,value entries ({width} features, keyed by node id)"


def stratified_node_split(labels: np.ndarray, fractions: tuple[float, float, float], seed: int
                          ) -> tuple[np.ndarray, str]:
    """Seeded stratified split of the labelled nodes: codes 0/1/2 (-1 unlabelled or left over) and its description.

    Per class, the labelled nodes are shuffled (``numpy`` generator seeded with ``seed``) and cut into
    ``round(f_train * n)`` train, ``round(f_val * n)`` val and the rest test nodes (at least one train node
    per class); fractions summing to less than 1 take ``round(f_test * n)`` test nodes and leave the others unused.
    """
    fr = tuple(float(f) for f in fractions)
    if len(fr) != 3 or min(fr) < 0 or fr[0] <= 0 or sum(fr) > 1 + 1e-6:
        raise ConfigError(f"node_split must be three fractions train,val,test >= 0 (train > 0) summing to at most 1, "
                          f"got {list(fractions)}")
    rng = np.random.default_rng(seed)
    out = np.full(labels.size, -1, dtype=np.int8)
    for c in np.unique(labels[labels >= 0]):
        idx = rng.permutation(np.flatnonzero(labels == c))
        n_tr = max(1, round(fr[0] * idx.size))
        n_va = min(round(fr[1] * idx.size), idx.size - n_tr)
        rest = idx.size - n_tr - n_va
        n_te = rest if abs(sum(fr) - 1) < 1e-6 else min(round(fr[2] * idx.size), rest)
        out[idx[:n_tr]], out[idx[n_tr:n_tr + n_va]], out[idx[n_tr + n_va:n_tr + n_va + n_te]] = 0, 1, 2
    pct = "/".join(f"{round(100 * f):g}" for f in fr)
    return out, f"seeded stratified {pct} per class of the {int((labels >= 0).sum())} labelled nodes (seed {seed})"
