"""Heterophilous node-classification graphs (Platonov et al., ICLR 2023) from their ``.npz``.

Each archive holds ``node_features [N, F]``, ``node_labels [N]``, ``edges [E, 2]``
(undirected, stored once) and ``train_masks``/``val_masks``/``test_masks``
``[10, N]``: the paper's 10 fixed random splits. ``split`` picks one of them.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from plexus.platform.data._types import NodeDataset
from plexus.platform.data.graphs._io import fingerprint_files, open_bytes, single_thread
from plexus.platform.data.graphs.planetoid import undirected_edge_index
from plexus.platform.errors import ConfigError, DataError
from plexus.platform.spec import DataSpec
from torch_geometric.data import Data

__all__ = ["NPZ_KEYS", "npz_dataset", "read_npz_graph"]

NPZ_KEYS = ("node_features", "node_labels", "edges", "train_masks", "val_masks", "test_masks")


@single_thread()
def read_npz_graph(path: Path, *, split: int = 0) -> Data:
    """Parse one heterophilous-graph archive; masks of the ``split``-th fixed split (0..9)."""
    try:
        with open_bytes(path) as f:
            z = dict(np.load(f, allow_pickle=False))
    except (OSError, ValueError) as exc:
        raise DataError(f"not a readable .npz archive ({exc})", file=str(path)) from exc
    for k in NPZ_KEYS:
        if k not in z:
            raise DataError(f"missing array '{k}' (expected {', '.join(NPZ_KEYS)})", file=str(path), field=k)
    x = torch.from_numpy(z["node_features"].astype(np.float32))
    y = torch.from_numpy(z["node_labels"].astype(np.int64))
    n = x.size(0)
    edges = torch.from_numpy(z["edges"].astype(np.int64))
    if edges.ndim != 2 or edges.size(1) != 2:
        raise DataError(f"edges must be [E, 2], got {list(edges.shape)}", file=str(path), field="edges")
    if edges.numel() and (int(edges.min()) < 0 or int(edges.max()) >= n):
        bad = int(((edges < 0) | (edges >= n)).any(1).nonzero()[0])
        raise DataError(f"edge to unknown node (ids must be in 0..{n - 1})", file=str(path), row=bad + 1,
                        field="edges")
    masks = {k: z[f"{k}_masks"] for k in ("train", "val", "test")}
    num_splits = masks["train"].shape[0]
    if not 0 <= split < num_splits:
        raise ConfigError(f"split must be in 0..{num_splits - 1}, got {split}")
    return Data(x=x, y=y, edge_index=undirected_edge_index(edges.t(), n), num_nodes=n,
                **{f"{k}_mask": torch.from_numpy(m[split].astype(bool)) for k, m in masks.items()})


def npz_dataset(path: Path, name: str, *, split: int = 0) -> NodeDataset:
    data = read_npz_graph(path, split=split)
    spec = DataSpec(task="node", num_features=int(data.x.size(1)), num_classes=int(data.y.max()) + 1,
                    num_nodes=int(data.num_nodes), extra={"split": split, "metric": "auc" if
                                                          int(data.y.max()) == 1 else "accuracy"})
    return NodeDataset(name=name, spec=spec, data=data, fingerprint=f"{fingerprint_files([path], 'npz')}-s{split}",
                       description=f"{name} (Platonov et al. 2023, fixed split {split})")
