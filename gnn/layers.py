"""Shared graph building blocks for ``plexus.gnn`` plugins.

Pure torch (``index_add_`` and torch.sparse): no torch-scatter / torch-sparse / pyg-lib.

* :func:`gcn_norm` / :func:`propagate`: the symmetric normalised adjacency
  ``Â = D̃^{-1/2} (A + I) D̃^{-1/2}`` (Kipf & Welling) as an edge list and its product ``Â X``.
* :func:`to_undirected_simple`: binary, symmetric adjacency without self loops.
* :func:`csr`: row pointer / column arrays of an edge list (for neighbourhood look-ups).
"""

from __future__ import annotations

import torch
from torch import Tensor

__all__ = ["csr", "gcn_norm", "propagate", "to_undirected_simple"]


def gcn_norm(
    edge_index: Tensor, num_nodes: int, edge_weight: Tensor | None = None, *, add_self_loops: bool = True
) -> tuple[Tensor, Tensor]:
    """Symmetric GCN normalisation ``D̃^{-1/2} (A + I) D̃^{-1/2}`` as ``(edge_index [2, E'], weight [E'])``.

    Existing self loops are replaced by one loop of weight 1 per node (when
    ``add_self_loops``); duplicate edges are summed. Messages flow ``row → col``
    (source → target), degrees are computed on the target side, as in PyG.
    """
    row, col = edge_index[0], edge_index[1]
    w = torch.ones(row.numel(), device=edge_index.device) if edge_weight is None else edge_weight.float()
    if add_self_loops:
        keep = row != col
        loop = torch.arange(num_nodes, device=edge_index.device)
        row = torch.cat([row[keep], loop])
        col = torch.cat([col[keep], loop])
        w = torch.cat([w[keep], torch.ones(num_nodes, device=w.device, dtype=w.dtype)])
    deg = torch.zeros(num_nodes, device=w.device, dtype=w.dtype).index_add_(0, col, w)
    dinv = deg.clamp_min(0).pow(-0.5)
    dinv = torch.where(torch.isinf(dinv), torch.zeros_like(dinv), dinv)
    return torch.stack([row, col]), dinv[row] * w * dinv[col]


def propagate(edge_index: Tensor, weight: Tensor, x: Tensor, num_nodes: int | None = None) -> Tensor:
    """``out[c] = Σ_{(r, c) ∈ E} weight · x[r]``, i.e. ``Â X`` for a normalised edge list. x: [N, d] → [N, d]."""
    n = x.size(0) if num_nodes is None else num_nodes
    out = x.new_zeros((n,) + tuple(x.shape[1:]))
    return out.index_add_(0, edge_index[1], x[edge_index[0]] * weight.view(-1, *([1] * (x.dim() - 1))))


def to_undirected_simple(edge_index: Tensor, num_nodes: int) -> Tensor:
    """Binary symmetric edge list without self loops or duplicates, sorted by (row, col). [2, E] → [2, E']."""
    ei = torch.cat([edge_index, edge_index.flip(0)], dim=1)
    ei = ei[:, ei[0] != ei[1]]
    key = torch.unique(ei[0] * num_nodes + ei[1])  # sorted
    return torch.stack([key // num_nodes, key % num_nodes])


def csr(edge_index: Tensor, num_nodes: int) -> tuple[Tensor, Tensor]:
    """``(rowptr [N+1], col [E])`` of an edge list sorted by row (as :func:`to_undirected_simple` returns)."""
    counts = torch.bincount(edge_index[0], minlength=num_nodes)
    rowptr = torch.zeros(num_nodes + 1, dtype=torch.long, device=edge_index.device)
    rowptr[1:] = torch.cumsum(counts, 0)
    return rowptr, edge_index[1]
