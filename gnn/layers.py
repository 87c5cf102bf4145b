"""Shared graph building blocks for ``plexus.gnn`` plugins.

Pure torch and PyG's pure-torch ``scatter``: no torch-scatter / torch-sparse / pyg-lib. PyG's own
``gcn_norm`` and ``to_undirected`` differ in self-loop handling or run slower; see each function.

* :func:`gcn_norm` / :func:`propagate`: the symmetric normalised adjacency
  ``Â = D̃^{-1/2} (A + I) D̃^{-1/2}`` (Kipf & Welling) as an edge list and its product ``Â X``.
* :func:`to_undirected_simple`: binary, symmetric adjacency without self loops.
"""

from __future__ import annotations

import torch
from torch import Tensor
from torch_geometric.utils import scatter

__all__ = ["gcn_norm", "propagate", "to_undirected_simple"]


def gcn_norm(
    edge_index: Tensor, num_nodes: int, edge_weight: Tensor | None = None, *, add_self_loops: bool = True
) -> tuple[Tensor, Tensor]:
    """Symmetric GCN normalisation ``D̃^{-1/2} (A + I) D̃^{-1/2}`` as ``(edge_index [2, E'], weight [E'])``.

    Kept over PyG's ``gcn_norm``, which keeps existing self-loop weights: with ``remove_self_loops`` first
    it is equal but 1.6-1.9x slower on weighted graphs (CPU, 10k-2M edges, 2026-12-05).

    Existing self loops are replaced by one loop of weight 1 per node (when
    ``add_self_loops``); duplicate edges are summed. Messages flow ``row → col``
    (source → target), degrees are computed on the target side, as in PyG.
    """
    w = edge_index.new_ones(edge_index.size(1), dtype=torch.float) if edge_weight is None else edge_weight.float()
    if add_self_loops:
        keep = edge_index[0] != edge_index[1]
        loop = torch.arange(num_nodes, device=edge_index.device)
        edge_index = torch.cat([edge_index[:, keep], loop.expand(2, -1)], dim=1)
        w = torch.cat([w[keep], w.new_ones(num_nodes)])
    row, col = edge_index[0], edge_index[1]
    deg = w.new_zeros(num_nodes).scatter_add_(0, col, w)
    dinv = deg.clamp_min(0).pow_(-0.5)
    dinv.masked_fill_(dinv == float("inf"), 0)
    return edge_index, dinv[row] * w * dinv[col]


def propagate(edge_index: Tensor, weight: Tensor, x: Tensor, num_nodes: int | None = None) -> Tensor:
    """``out[c] = Σ_{(r, c) ∈ E} weight · x[r]``, i.e. ``Â X`` for a normalised edge list. x: [N, d] → [N, d]."""
    n = x.size(0) if num_nodes is None else num_nodes
    msg = x[edge_index[0]] * weight.view(-1, *([1] * (x.dim() - 1)))
    return scatter(msg, edge_index[1], 0, dim_size=n, reduce="sum")


def to_undirected_simple(edge_index: Tensor, num_nodes: int) -> Tensor:
    """Binary symmetric edge list without self loops or duplicates, sorted by (row, col). [2, E] → [2, E'].

    Kept over PyG's ``remove_self_loops(to_undirected(...))`` (equal output), which is 1.2-2.6x slower
    (CPU, 10k-2M edges, 2026-12-05).
    """
    ei = torch.cat([edge_index, edge_index.flip(0)], dim=1)
    ei = ei[:, ei[0] != ei[1]]
    key = torch.unique(ei[0] * num_nodes + ei[1])  # sorted
    return torch.stack([key // num_nodes, key % num_nodes])
