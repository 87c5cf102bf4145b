"""Hierarchical affinity clustering (HAC) of a graph, the tokenization tree of GSM++.

GSM++ (Behrouz et al., "Best of Both Worlds: Advantages of Hybrid Graph Sequence
Models", arXiv 2411.15671) tokenizes a graph with a hierarchical clustering tree.
The source describes Borůvka-style rounds (the *affinity clustering* of Bateni et
al., NeurIPS 2017) that merge clusters along their highest-affinity edges, with the
affinity taken from the similarity of node encodings. Implemented here:

* node encodings ``e_v = normalize([x_v, Â x_v, ..., Â^hops x_v])`` with
  ``Â = D^{-1} A`` (parameter-free, so the tree is a pure function of graph + features
  and can be cached / persisted) [U: the paper does not fix the encoding];
* affinity of an edge ``w(u, v) = cos(e_u, e_v)``; cluster affinity is ``single``
  linkage (max edge affinity between the clusters; the rounds then build a maximum
  spanning forest) or ``average`` (cosine of the clusters' mean encodings) [U];
* one round: every cluster picks its highest-affinity inter-cluster edge (ties
  broken by node ids, which gives a strict total order and thus no cycles), and the
  connected components of the picked edges become the clusters of the next level.
  Rounds run until no inter-cluster edge is left; if the graph is disconnected a
  root joining the components is added.

Because each round at least halves the number of clusters of every non-isolated
component, the depth is ``O(log N)``. Every node is in exactly one cluster per level,
so all root-to-leaf paths have the same length ``D`` (isolated clusters are carried
over unchanged). Note: "merges follow decreasing affinity" holds per cluster (each
merges along its best edge), not globally across rounds (Borůvka is not a threshold
ordering); with single linkage the union of merge edges is a maximum spanning forest.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import torch
from plexus.platform.errors import DataError
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

__all__ = ["HACTree", "affinity_encoding", "hac_tree", "undirected_edges"]


class HACTree(NamedTuple):
    """Output of :func:`hac_tree` (all CPU tensors).

    Attributes:
        levels: ``LongTensor [D, N]``; ``levels[l, v]`` is the id (``0..K_l-1``) of the
            cluster containing node ``v`` at depth ``l``. Row 0 is the root (all zeros),
            row ``D-1`` the leaves (``levels[D-1, v] == v``); row ``l+1`` refines row ``l``.
        order: ``LongTensor [N]``: the leaves in DFS order (siblings sorted by the mean
            encoding score, a relabeling-invariant key), i.e. the node order in which
            similar nodes are adjacent ("node locality").
        merge_src, merge_dst: ``LongTensor [M]`` node endpoints of the merge edges.
        merge_aff: ``FloatTensor [M]`` their (cluster-level) affinity.
        merge_round: ``LongTensor [M]`` the round (1 = first, finest) of each merge.
    """

    levels: torch.Tensor
    order: torch.Tensor
    merge_src: torch.Tensor
    merge_dst: torch.Tensor
    merge_aff: torch.Tensor
    merge_round: torch.Tensor

    @property
    def depth(self) -> int:
        return int(self.levels.size(0))


def undirected_edges(edge_index: torch.Tensor, num_nodes: int) -> tuple[np.ndarray, np.ndarray]:
    """Unique undirected edges ``(u < v)`` without self-loops, as numpy arrays."""
    ei = edge_index.detach().cpu().numpy().astype(np.int64)
    if ei.ndim != 2 or ei.shape[0] != 2:
        raise DataError(f"edge_index must have shape [2, E], got {tuple(ei.shape)}", field="edge_index")
    if ei.size and (ei.min() < 0 or ei.max() >= num_nodes):
        raise DataError(f"edge_index refers to nodes outside 0..{num_nodes - 1}", field="edge_index")
    lo, hi = np.minimum(ei[0], ei[1]), np.maximum(ei[0], ei[1])
    keep = lo != hi
    pairs = np.unique(np.stack([lo[keep], hi[keep]], 1), axis=0) if keep.any() else np.zeros((0, 2), np.int64)
    return pairs[:, 0], pairs[:, 1]


def affinity_encoding(x: torch.Tensor, u: np.ndarray, v: np.ndarray, num_nodes: int, hops: int = 1) -> np.ndarray:
    """Row-normalised ``[x, Âx, ..., Â^hops x]`` (float64 numpy, ``[N, F*(hops+1)]``)."""
    feats = x.detach().cpu().double().reshape(num_nodes, -1).numpy() if x is not None else np.ones((num_nodes, 1))
    if feats.shape[1] == 0:
        feats = np.ones((num_nodes, 1))
    if not np.isfinite(feats).all():
        raise DataError("node features contain NaN or inf", field="x")
    adj = coo_matrix((np.ones(2 * len(u)), (np.r_[u, v], np.r_[v, u])), shape=(num_nodes, num_nodes)).tocsr()
    deg = np.asarray(adj.sum(1)).ravel()
    inv = np.where(deg > 0, 1.0 / np.maximum(deg, 1), 0.0)
    blocks, cur = [feats], feats
    for _ in range(hops):
        cur = inv[:, None] * (adj @ cur)
        blocks.append(cur)
    enc = np.concatenate(blocks, 1)
    return enc / np.maximum(np.linalg.norm(enc, axis=1, keepdims=True), 1e-12)


def _canonical(labels: np.ndarray) -> np.ndarray:
    """Relabel clusters 0..K-1 by increasing smallest member id."""
    k = labels.max() + 1
    minid = np.full(k, labels.size)
    np.minimum.at(minid, labels, np.arange(labels.size))
    return np.argsort(np.argsort(minid))[labels]


def hac_tree(
    edge_index: torch.Tensor,
    x: torch.Tensor | None,
    num_nodes: int,
    *,
    linkage: str = "single",
    hops: int = 1,
) -> HACTree:
    """Borůvka-style hierarchical affinity clustering of one graph.

    Args:
        edge_index: ``[2, E]`` edges (either direction; duplicates/self-loops ignored).
        x: ``[N, F]`` node features (``None``: constant features).
        num_nodes: ``N``.
        linkage: ``"single"`` (max edge affinity) or ``"average"`` (mean-encoding cosine).
        hops: propagation steps in the affinity encoding.

    Returns:
        :class:`HACTree` (see there for shapes).
    """
    if linkage not in ("single", "average"):
        raise ValueError(f"linkage must be 'single' or 'average', got {linkage!r}")
    n = int(num_nodes)
    if n <= 0:
        raise DataError(f"a graph needs at least one node, got num_nodes={n}", field="num_nodes")
    u, v = undirected_edges(edge_index, n)
    enc = affinity_encoding(x, u, v, n, hops)
    w_edge = (enc[u] * enc[v]).sum(1)
    c = np.arange(n)
    rows = [c]
    ms, md, ma, mr = [], [], [], []
    rnd = 0
    while len(u):
        cu, cv = c[u], c[v]
        inter = cu != cv
        if not inter.any():
            break
        rnd += 1
        eu, ev, cu, cv = u[inter], v[inter], cu[inter], cv[inter]
        k = c.max() + 1
        if linkage == "single":
            aff = w_edge[inter]
        else:
            mean = np.zeros((k, enc.shape[1]))
            np.add.at(mean, c, enc)
            mean /= np.maximum(np.linalg.norm(mean, axis=1, keepdims=True), 1e-12)
            aff = (mean[cu] * mean[cv]).sum(1)
        lo, hi = np.minimum(cu, cv), np.maximum(cu, cv)
        rank = np.empty(len(eu), np.int64)
        rank[np.lexsort((ev, eu, hi, lo, -aff))] = np.arange(len(eu))
        best = np.full(k, len(eu))
        np.minimum.at(best, cu, rank)
        np.minimum.at(best, cv, rank)
        chosen_rank = np.unique(best[best < len(eu)])
        chosen = np.argsort(rank)[chosen_rank]
        g = coo_matrix((np.ones(len(chosen)), (cu[chosen], cv[chosen])), shape=(k, k))
        _, comp = connected_components(g, directed=False)
        c = _canonical(comp[c])
        rows.append(c)
        ms.append(eu[chosen]), md.append(ev[chosen]), ma.append(aff[chosen]), mr.append(np.full(len(chosen), rnd))
    if rows[-1].max() > 0:
        rows.append(np.zeros(n, np.int64))
    levels = np.stack(rows[::-1])
    order = _dfs_order(levels, enc.sum(1))

    def cat(parts: list[np.ndarray], dtype: type) -> torch.Tensor:
        return torch.from_numpy(np.concatenate(parts).astype(dtype) if parts else np.zeros(0, dtype))

    return HACTree(
        torch.from_numpy(levels.astype(np.int64)),
        torch.from_numpy(order.astype(np.int64)),
        cat(ms, np.int64),
        cat(md, np.int64),
        cat(ma, np.float32),
        cat(mr, np.int64),
    )


def _dfs_order(levels: np.ndarray, score: np.ndarray) -> np.ndarray:
    """Leaves in DFS order; siblings by decreasing mean score, then smallest member id."""
    d, n = levels.shape
    keys = []
    for l in range(1, d):
        lab = levels[l]
        k = lab.max() + 1
        cnt = np.bincount(lab, minlength=k)
        mean = np.bincount(lab, weights=score, minlength=k) / np.maximum(cnt, 1)
        minid = np.full(k, n)
        np.minimum.at(minid, lab, np.arange(n))
        keys += [-mean[lab], minid[lab]]
    if not keys:
        return np.arange(n)
    # np.lexsort: last key is primary -> coarsest level (score first, then id) must come last
    return np.lexsort(tuple(keys[::-1]))
