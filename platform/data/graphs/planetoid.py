"""Planetoid citation graphs (Cora, CiteSeer, PubMed) from the raw ``ind.<name>.*`` files.

Reads the pickles of kimiyoung/planetoid exactly as Kipf & Welling's GCN code and
PyG's ``read_planetoid_data`` do, without downloading anything:

* ``allx``/``ally`` are nodes ``0..len(allx)-1``; ``tx``/``ty`` are placed at the
  node ids listed in ``test.index`` (CiteSeer's isolated test ids get zero rows);
* the graph dict is symmetrised, deduplicated and self loops removed;
* standard split: train = first ``len(y)`` nodes (20 per class), val = the next
  500, test = the ``test.index`` nodes.

Cora: 2708 nodes, 5278 undirected edges (10556 directed entries), 1433 binary
features, 7 classes, 140/500/1000 split.
"""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import scipy.sparse as sp
import torch
from plexus.platform.data._types import NodeDataset
from plexus.platform.data.graphs._io import fingerprint_files, open_bytes, single_thread
from plexus.platform.errors import DataError
from plexus.platform.spec import DataSpec
from torch_geometric.data import Data

__all__ = ["PLANETOID_PARTS", "planetoid_dataset", "planetoid_files", "read_planetoid", "undirected_edge_index"]

PLANETOID_PARTS = ("x", "y", "tx", "ty", "allx", "ally", "graph", "test.index")


def planetoid_files(root: Path, name: str) -> dict[str, Path]:
    """Map each part to its file in ``root`` (``ind.<name>.<part>`` or the same with ``.gz``)."""
    out: dict[str, Path] = {}
    for part in PLANETOID_PARTS:
        p = root / f"ind.{name}.{part}"
        if not p.exists() and (root / f"{p.name}.gz").exists():
            p = root / f"{p.name}.gz"
        if not p.exists():
            raise DataError(f"missing Planetoid file ind.{name}.{part} (expected the kimiyoung/planetoid raw files)",
                            file=str(p))
        out[part] = p
    return out


def _unpickle(path: Path) -> object:
    try:
        with open_bytes(path) as f:
            return pickle.load(f, encoding="latin1")
    except Exception as exc:
        raise DataError(f"cannot unpickle Planetoid part ({type(exc).__name__}: {exc})", file=str(path)) from exc


def undirected_edge_index(edge_index: torch.Tensor, num_nodes: int) -> torch.Tensor:
    """Both directions of every edge, no self loops, no duplicates, sorted by (row, col)."""
    row, col = edge_index
    keep = row != col
    row, col = row[keep], col[keep]
    r, c = torch.cat([row, col]), torch.cat([col, row])
    key = torch.unique(r * num_nodes + c)
    return torch.stack([key // num_nodes, key % num_nodes])


@single_thread()
def read_planetoid(root: Path, name: str = "cora", *, normalize_features: bool = False) -> Data:
    """Parse the raw Planetoid files in ``root`` into a PyG ``Data`` with split masks."""
    files = planetoid_files(root, name)
    parts = {k: _unpickle(v) for k, v in files.items() if k != "test.index"}
    with open_bytes(files["test.index"]) as f:
        lines = f.read().decode().split()
    try:
        test_index = np.array([int(s) for s in lines], dtype=np.int64)
    except ValueError as exc:
        raise DataError(f"test.index must hold one integer per line ({exc})", file=str(files["test.index"])) from exc

    def dense(m: object) -> np.ndarray:
        return np.asarray(m.todense() if sp.issparse(m) else m, dtype=np.float32)

    allx, tx = dense(parts["allx"]), dense(parts["tx"])
    y, ally, ty = dense(parts["y"]), dense(parts["ally"]), dense(parts["ty"])
    test_sorted = np.sort(test_index)
    if name == "citeseer":  # isolated test nodes: zero rows at the missing ids (as Kipf's code)
        full = np.arange(test_sorted.min(), test_sorted.max() + 1)
        tx_ext = np.zeros((len(full), tx.shape[1]), np.float32)
        ty_ext = np.zeros((len(full), ty.shape[1]), np.float32)
        tx_ext[test_sorted - test_sorted.min()] = tx
        ty_ext[test_sorted - test_sorted.min()] = ty
        tx, ty = tx_ext, ty_ext
    feats = np.concatenate([allx, tx])
    labels = np.concatenate([ally, ty])
    # tx rows are in test.index order; put them at their sorted node ids
    feats[test_index] = feats[test_sorted]
    labels[test_index] = labels[test_sorted]
    num_nodes = feats.shape[0]

    graph = parts["graph"]
    if not isinstance(graph, dict):
        raise DataError("graph part must be a dict {node: [neighbours]}", file=str(files["graph"]))
    src = [int(u) for u, nbrs in graph.items() for _ in nbrs]
    dst = [int(v) for nbrs in graph.values() for v in nbrs]
    ei = torch.tensor([src, dst], dtype=torch.long)
    if ei.numel() and int(ei.max()) >= num_nodes:
        raise DataError(f"edge to node {int(ei.max())} but only {num_nodes} nodes have features",
                        file=str(files["graph"]))
    edge_index = undirected_edge_index(ei, num_nodes)

    xt = torch.from_numpy(feats)
    if normalize_features:
        xt = xt / xt.sum(1, keepdim=True).clamp(min=1.0)
    yt = torch.from_numpy(labels.argmax(1)).long()
    train = torch.zeros(num_nodes, dtype=torch.bool)
    val = torch.zeros(num_nodes, dtype=torch.bool)
    test = torch.zeros(num_nodes, dtype=torch.bool)
    train[: y.shape[0]] = True
    val[y.shape[0]: y.shape[0] + 500] = True
    test[torch.from_numpy(test_index)] = True
    return Data(x=xt, edge_index=edge_index, y=yt, train_mask=train, val_mask=val, test_mask=test,
                num_nodes=num_nodes)


def planetoid_dataset(root: Path, name: str = "cora", *, normalize_features: bool = False) -> NodeDataset:
    """A :class:`NodeDataset` over the standard Planetoid split."""
    data = read_planetoid(root, name, normalize_features=normalize_features)
    files = list(planetoid_files(root, name).values())
    spec = DataSpec(task="node", num_features=int(data.x.size(1)), num_classes=int(data.y.max()) + 1,
                    num_nodes=int(data.num_nodes))
    return NodeDataset(name=name, spec=spec, data=data,
                       fingerprint=fingerprint_files(files, "planetoid", normalize_features),
                       description=f"Planetoid {name} (standard public split)")
