"""Planetoid citation graphs (Cora, CiteSeer, PubMed) from the raw ``ind.<name>.*`` files.

Reads the pickles of kimiyoung/planetoid as Kipf & Welling's GCN code and PyG's
``read_planetoid_data`` do, without downloading anything:

* ``allx``/``ally`` are nodes ``0..len(allx)-1``; row ``i`` of ``tx``/``ty`` is node
  ``test.index[i]``. Node ids that no part describes (test ids that skip nodes of
  the graph, as CiteSeer's 15 isolated nodes) get zero feature and label rows, for
  any dataset name; there are ``max(len(allx), max(test.index) + 1)`` nodes;
* the graph dict is symmetrised, deduplicated and self loops removed;
* standard split: train = first ``len(y)`` nodes (20 per class), val = the next
  500, test = the ``test.index`` nodes.

Files that do not fit together (another dataset's part, a truncated pickle, an
edge to an unknown node) raise a one-line :class:`DataError` naming the file and
what was expected.

Cora: 2708 nodes, 5278 undirected edges (10556 directed entries), 1433 binary
features, 7 classes, 140/500/1000 split. CiteSeer: 3327 nodes, 4552 undirected
edges, 3703 features, 6 classes, 120/500/1000.
"""

from __future__ import annotations

import pickle
import warnings
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
NUM_VAL = 500


def planetoid_files(root: Path, name: str) -> dict[str, Path]:
    """Map each part to its file in ``root`` (``ind.<name>.<part>`` or the same with ``.gz``)."""
    out: dict[str, Path] = {}
    for part in PLANETOID_PARTS:
        p = root / f"ind.{name}.{part}"
        if not p.exists() and (root / f"{p.name}.gz").exists():
            p = root / f"{p.name}.gz"
        if not p.is_file():
            raise DataError(f"missing Planetoid file ind.{name}.{part} (expected the 8 files ind.{name}."
                            f"{{{','.join(PLANETOID_PARTS)}}} of kimiyoung/planetoid)", file=str(p))
        out[part] = p
    return out


def _one_line(exc: BaseException) -> str:
    return " ".join(f"{type(exc).__name__}: {exc}".split())


def _unpickle(path: Path) -> object:
    try:
        with open_bytes(path) as f, warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return pickle.load(f, encoding="latin1")
    except Exception as exc:
        raise DataError(f"cannot unpickle Planetoid part ({_one_line(exc)})", file=str(path)) from exc


def _matrix(obj: object, path: Path, what: str) -> np.ndarray:
    """A pickled scipy/numpy matrix as a dense float32 array, or a DataError."""
    try:
        m = np.asarray(obj.todense() if sp.issparse(obj) else obj, dtype=np.float32)  # type: ignore[union-attr]
    except (TypeError, ValueError) as exc:
        raise DataError(f"expected {what} as a matrix, got {type(obj).__name__} ({_one_line(exc)})",
                        file=str(path)) from exc
    if m.ndim != 2:
        raise DataError(f"expected {what} as a 2-D matrix, got shape {m.shape}", file=str(path))
    return m


def _test_index(path: Path) -> np.ndarray:
    try:
        with open_bytes(path) as f:
            return np.array([int(s) for s in f.read().decode().split()], dtype=np.int64)
    except (ValueError, OverflowError, UnicodeDecodeError) as exc:
        raise DataError(f"test.index must hold one integer node id per line ({_one_line(exc)})",
                        file=str(path)) from exc
    except (OSError, EOFError) as exc:
        raise DataError(f"cannot read test.index ({_one_line(exc)})", file=str(path)) from exc


def _graph_edges(graph: object, path: Path) -> torch.Tensor:
    """The ``[2, E]`` entries of a ``{node: [neighbours]}`` dict, as stored."""
    if not isinstance(graph, dict):
        raise DataError(f"graph part must be a dict {{node: [neighbours]}}, got {type(graph).__name__}",
                        file=str(path))
    try:
        src = [int(u) for u, nbrs in graph.items() for _ in nbrs]
        dst = [int(v) for nbrs in graph.values() for v in nbrs]
    except (TypeError, ValueError, OverflowError) as exc:
        raise DataError(f"graph part must map node ids to lists of node ids ({_one_line(exc)})",
                        file=str(path)) from exc
    ei = torch.tensor([src, dst], dtype=torch.long).view(2, -1)
    if ei.numel() and int(ei.min()) < 0:
        raise DataError(f"graph has a negative node id {int(ei.min())}", file=str(path))
    return ei


def _check(files: dict[str, Path], m: dict[str, np.ndarray], test_index: np.ndarray) -> None:
    """Raise a DataError naming the first part that does not fit the others."""
    def fail(part: str, msg: str) -> None:
        raise DataError(msg, file=str(files[part]))

    for feat, lab in (("x", "y"), ("allx", "ally")):
        if len(m[feat]) != len(m[lab]):
            fail(lab, f"{lab} has {len(m[lab])} rows but {feat} has {len(m[feat])} (parts of different datasets?)")
    for part in ("tx", "ty"):
        if len(m[part]) != len(test_index):
            fail(part, f"{part} has {len(m[part])} rows but test.index lists {len(test_index)} nodes "
                       "(parts of different datasets?)")
    for group, ref in ((("allx", "tx"), "x"), (("ally", "ty"), "y")):
        for part in group:
            if m[part].shape[1] != m[ref].shape[1]:
                kind = "features" if ref == "x" else "label columns"
                fail(part, f"{part} has {m[part].shape[1]} {kind} but {ref} has {m[ref].shape[1]} "
                           "(parts of different datasets?)")
    if len(m["y"]) + NUM_VAL > len(m["allx"]):
        fail("allx", f"allx has {len(m['allx'])} rows, fewer than the {len(m['y'])} training + {NUM_VAL} "
                     "validation nodes of the standard split")
    if len(test_index):
        low = int(test_index.min())
        if low < len(m["allx"]):
            fail("test.index", f"test node id {low} is below len(allx) = {len(m['allx'])} "
                               "(test nodes must follow the allx nodes)")
        uniq, counts = np.unique(test_index, return_counts=True)
        if len(uniq) != len(test_index):
            fail("test.index", f"test node id {int(uniq[counts > 1][0])} is listed more than once")


def read_planetoid(root: Path, name: str = "cora", *, normalize_features: bool = False) -> Data:
    """Parse the raw Planetoid files in ``root`` into a PyG ``Data`` with split masks."""
    return _read(root, name, normalize_features)[0]


@single_thread()
def _read(root: Path, name: str, normalize_features: bool) -> tuple[Data, int]:
    """The graph and its number of classes (label columns)."""
    files = planetoid_files(root, name)
    m = {k: _matrix(_unpickle(files[k]), files[k], k) for k in ("x", "y", "tx", "ty", "allx", "ally")}
    test_index = _test_index(files["test.index"])
    ei = _graph_edges(_unpickle(files["graph"]), files["graph"])
    _check(files, m, test_index)

    n_all = len(m["allx"])
    num_nodes = max(n_all, int(test_index.max()) + 1) if len(test_index) else n_all
    graph_nodes = int(ei.max()) + 1 if ei.numel() else 0
    if num_nodes > max(n_all + len(test_index), graph_nodes):
        raise DataError(f"test node id {num_nodes - 1} is beyond the {n_all + len(test_index)} described "
                        f"nodes and the graph's {graph_nodes} nodes", file=str(files["test.index"]))
    if graph_nodes > num_nodes:
        raise DataError(f"edge to node {graph_nodes - 1} but only {num_nodes} nodes have features "
                        "(graph of another dataset?)", file=str(files["graph"]))
    feats = np.zeros((num_nodes, m["allx"].shape[1]), np.float32)
    labels = np.zeros((num_nodes, m["ally"].shape[1]), np.float32)
    feats[:n_all], labels[:n_all] = m["allx"], m["ally"]
    feats[test_index], labels[test_index] = m["tx"], m["ty"]

    xt = torch.from_numpy(feats)
    if normalize_features:
        xt = xt / xt.sum(1, keepdim=True).clamp(min=1.0)
    masks = {k: torch.zeros(num_nodes, dtype=torch.bool) for k in ("train", "val", "test")}
    n_train = len(m["y"])
    masks["train"][:n_train] = True
    masks["val"][n_train: n_train + NUM_VAL] = True
    masks["test"][torch.from_numpy(test_index)] = True
    data = Data(x=xt, edge_index=undirected_edge_index(ei, num_nodes), y=torch.from_numpy(labels.argmax(1)).long(),
                train_mask=masks["train"], val_mask=masks["val"], test_mask=masks["test"], num_nodes=num_nodes)
    return data, int(labels.shape[1])


def undirected_edge_index(edge_index: torch.Tensor, num_nodes: int) -> torch.Tensor:
    """Both directions of every edge, no self loops, no duplicates, sorted by (row, col)."""
    row, col = edge_index
    keep = row != col
    row, col = row[keep], col[keep]
    r, c = torch.cat([row, col]), torch.cat([col, row])
    key = torch.unique(r * num_nodes + c)
    return torch.stack([key // num_nodes, key % num_nodes])


def planetoid_dataset(root: Path, name: str = "cora", *, normalize_features: bool = False) -> NodeDataset:
    """A :class:`NodeDataset` over the standard Planetoid split (classes = the label columns)."""
    data, num_classes = _read(root, name, normalize_features)
    files = list(planetoid_files(root, name).values())
    spec = DataSpec(task="node", num_features=int(data.x.size(1)), num_classes=num_classes,
                    num_nodes=int(data.num_nodes))
    return NodeDataset(name=name, spec=spec, data=data,
                       fingerprint=fingerprint_files(files, "planetoid", normalize_features),
                       description=f"Planetoid {name} (standard public split)")
