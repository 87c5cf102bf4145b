"""Hierarchical positional encoding of GSM++ and the per-graph structure cache.

The paper builds its PE "from shortest paths between clusters at the different
tree levels (multi-scale relative positions)"; the exact construction is [U]. Here,
for every level ``l`` of the HAC tree, the *cluster graph* ``G_l`` (clusters of level
``l``, adjacent when an edge joins their members) gets all-pairs shortest-path
distances ``SPD_l`` (clipped at ``max_dist``; unreachable = ``max_dist + 1``). Two
encodings are derived:

* **absolute** (added to node encodings, usable by SSMs): node ``v``'s coordinate is
  ``(d_1(v), ..., d_{D-1}(v))`` with ``d_l(v) = SPD_l(anc_l(v), anchor_l(v))``, the
  distance of its level-``l`` cluster to the first (in DFS order) child of its
  level-``(l-1)`` parent: a multi-scale "where am I inside my parent" address.
  ``pe(v) = sum_l E_l[d_l(v)]``.
* **relative** (additive attention bias of the Transformer, per head): for two tokens
  ``i, j`` of level ``l`` (clusters, or nodes at the leaf level)
  ``b_ij = sum_{l' = 1..l} B_{l'}[SPD_{l'}(anc_{l'}(i), anc_{l'}(j))]``.

Both are functions of the graph only, so they are computed once per graph and cached
with the HAC tree in a :class:`GraphStructure` (LRU keyed by a hash of
``edge_index`` / ``x``).
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from dataclasses import dataclass

import numpy as np
import torch
from plexus.gnn.gsm.hac import HACTree, hac_tree, undirected_edges
from torch import nn

__all__ = ["GraphStructure", "HierarchicalPE", "StructureCache", "cluster_spd"]


def cluster_spd(u: np.ndarray, v: np.ndarray, labels: np.ndarray, max_dist: int) -> np.ndarray:
    """All-pairs SPD ``[K, K]`` (int64) of the cluster graph, clipped; ``max_dist+1`` = farther."""
    k = int(labels.max()) + 1
    adj = np.zeros((k, k), dtype=bool)
    cu, cv = labels[u], labels[v]
    adj[cu, cv] = adj[cv, cu] = True
    np.fill_diagonal(adj, False)
    dist = np.full((k, k), max_dist + 1, dtype=np.int64)
    reach = np.eye(k, dtype=bool)
    np.fill_diagonal(dist, 0)
    a = adj.astype(np.float32)
    for d in range(1, max_dist + 1):
        new = (reach.astype(np.float32) @ a > 0) & ~reach
        if not new.any():
            break
        dist[new] = d
        reach |= new
    return dist


@dataclass
class GraphStructure:
    """Everything GSM++ derives from one graph once (CPU tensors).

    Attributes:
        tree: the :class:`HACTree`.
        pe_index: ``LongTensor [N, D-1]``: ``d_l(v)`` for levels ``1..D-1``.
        spd: per level ``0..D-1`` the ``[K_l, K_l]`` cluster SPD (``None`` where the
            level has more than ``max_spd_nodes`` clusters: no relative bias there).
    """

    tree: HACTree
    pe_index: torch.Tensor
    spd: list[torch.Tensor | None]

    @staticmethod
    def build(
        edge_index: torch.Tensor, x: torch.Tensor | None, num_nodes: int, *, linkage: str, hops: int,
        max_dist: int, max_spd_nodes: int,
    ) -> GraphStructure:
        tree = hac_tree(edge_index, x, num_nodes, linkage=linkage, hops=hops)
        u, v = undirected_edges(edge_index, num_nodes)
        levels = tree.levels.numpy()
        d, n = levels.shape
        pos = np.empty(n, np.int64)
        pos[tree.order.numpy()] = np.arange(n)
        spd: list[torch.Tensor | None] = []
        pe = np.zeros((n, max(d - 1, 0)), np.int64)
        for l in range(d):
            k = int(levels[l].max()) + 1
            full = cluster_spd(u, v, levels[l], max_dist) if k <= max_spd_nodes else None
            if l > 0:
                if full is None:  # too many clusters for dense SPD: "unknown" distance
                    pe[:, l - 1] = max_dist + 1
                else:
                    parent = levels[l - 1]
                    first = np.full(parent.max() + 1, n)
                    np.minimum.at(first, parent, pos)
                    anchor = levels[l][tree.order.numpy()[first[parent]]]
                    pe[:, l - 1] = full[levels[l], anchor]
            spd.append(torch.from_numpy(full) if full is not None else None)
        return GraphStructure(tree, torch.from_numpy(pe), spd)


class StructureCache:
    """LRU cache of :class:`GraphStructure` keyed by a hash of (N, edge_index, x)."""

    def __init__(self, capacity: int = 4096) -> None:
        self.capacity = capacity
        self._d: OrderedDict[str, GraphStructure] = OrderedDict()
        self.hits = 0
        self.misses = 0

    @staticmethod
    def key(edge_index: torch.Tensor, x: torch.Tensor | None, num_nodes: int, tag: str) -> str:
        h = hashlib.blake2b(digest_size=16)
        h.update(f"{num_nodes}|{tag}|".encode())
        h.update(edge_index.detach().cpu().contiguous().numpy().tobytes())
        if x is not None:
            h.update(x.detach().cpu().float().contiguous().numpy().tobytes())
        return h.hexdigest()

    def get(self, key: str, build) -> GraphStructure:
        if key in self._d:
            self.hits += 1
            self._d.move_to_end(key)
            return self._d[key]
        self.misses += 1
        s = build()
        self._d[key] = s
        if len(self._d) > self.capacity:
            self._d.popitem(last=False)
        return s

    def __len__(self) -> int:
        return len(self._d)


class HierarchicalPE(nn.Module):
    """Learned tables for the absolute and relative hierarchical PE.

    Args:
        dim: model width (absolute PE is ``[N, dim]``).
        heads: attention heads (relative bias is ``[heads, L, L]``).
        max_dist: SPD clip; indices run ``0..max_dist+1``.
        max_levels: levels beyond this share the last table.
        relative: build the attention-bias table (not needed without attention).
    """

    def __init__(self, dim: int, heads: int, max_dist: int = 8, max_levels: int = 16, relative: bool = True) -> None:
        super().__init__()
        self.max_dist, self.max_levels, self.heads = max_dist, max_levels, heads
        self.abs_emb = nn.Embedding(max_levels * (max_dist + 2), dim)
        nn.init.normal_(self.abs_emb.weight, std=0.02)
        self.rel_emb = nn.Embedding(max_levels * (max_dist + 2), heads) if relative else None
        if self.rel_emb is not None:
            nn.init.zeros_(self.rel_emb.weight)

    def _idx(self, level: torch.Tensor | int, dist: torch.Tensor) -> torch.Tensor:
        lv = torch.as_tensor(level, device=dist.device).clamp(max=self.max_levels - 1)
        return lv * (self.max_dist + 2) + dist.clamp(max=self.max_dist + 1)

    def absolute(self, pe_index: torch.Tensor) -> torch.Tensor:
        """``pe_index [N, W]`` (level ``l+1`` distance in column ``l``; -1 = no such level) -> ``[N, dim]``."""
        lv = torch.arange(pe_index.size(1), device=pe_index.device).expand_as(pe_index)
        emb = self.abs_emb(self._idx(lv, pe_index.clamp(min=0)))
        return (emb * (pe_index >= 0).unsqueeze(-1).to(emb.dtype)).sum(1)

    def relative(self, s: GraphStructure, level: int, members: torch.Tensor) -> torch.Tensor | None:
        """Bias ``[heads, K, K]`` for tokens = clusters of ``level`` given by a member node each."""
        if self.rel_emb is None:
            return None
        if any(s.spd[l] is None for l in range(1, level + 1)):
            return None  # checked first: the levels above would build [K, K, heads] tables only to drop them
        levels = s.tree.levels
        bias = None
        for l in range(1, level + 1):
            spd = s.spd[l]
            a = levels[l][members.cpu()]
            b = self.rel_emb(self._idx(l - 1, spd[a][:, a].to(self.rel_emb.weight.device)))
            bias = b if bias is None else bias + b
        return None if bias is None else bias.permute(2, 0, 1)
