"""GSM tokenizers: node, k-hop, random walk, HAC-DFS and HAC-BFS.

Each tokenizer turns the node encodings ``h [N, d]`` (output of the local MPNN, so
every token is already a locally encoded subgraph, ``φ_Local`` of GSM [U: computed
once on the whole graph rather than per token subgraph]) into a batch of sequences
``[B, L, d]`` (+ mask, + attention bias), and maps the global encoder's output back
to one vector per node ``[N, d]``:

* ``node``: one sequence per graph, all nodes in the HAC DFS leaf order (similar
  nodes adjacent); node ``v`` reads its own position. Relative bias: hierarchical PE.
* ``khop``: per node ``[Â^K h, ..., Â h, h]`` (``Â = D^{-1}A``; far to near, as in
  GRED / NAGphormer); node reads the last position.
* ``rw``: per node a random walk ``v = w_0, ..., w_{L-1}`` read backwards (ending at
  ``v``); fresh walks in training, a fixed-seed walk in eval.
* ``hac_dfs``: per node its root-to-leaf chain of HAC clusters (coarse to fine); a
  cluster token is the mean of its members' ``h``; node reads the last (leaf) position.
* ``hac_bfs``: one sequence per (graph, tree level): the clusters of that level in
  DFS order; a node averages the outputs of its clusters over all levels.

Spec note [U]: the source's table of results has HAC-DFS behaving like node
tokenization and HAC-BFS like k-hop, which suggests the paper may name the two modes
the other way round; this module follows the platform spec (DFS = root-to-leaf path).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch
from plexus.gnn.gsm.encoders import BiasPieces
from plexus.gnn.gsm.positional import GraphStructure
from torch import nn

__all__ = ["TOKENIZERS", "BatchPlan", "Tokenizer", "build_plan", "make_tokenizer"]

TOKENIZERS = ("node", "khop", "rw", "hac_dfs", "hac_bfs")


def _pad(seqs: list[np.ndarray], left: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
    L = max((len(s) for s in seqs), default=0)
    out = np.full((len(seqs), max(L, 1)), -1, np.int64)
    for i, s in enumerate(seqs):
        if len(s):
            if left:
                out[i, L - len(s):] = s
            else:
                out[i, : len(s)] = s
    t = torch.from_numpy(out)
    return t, t >= 0


@dataclass
class BatchPlan:
    """Index structures of one batch of graphs (built from cached structures).

    Shapes: ``node_seq [G, Lmax]``; ``dfs_seq [N, Dmax]`` (left padded, global
    cluster ids); ``bfs_seq [S, Kmax]`` (S = number of (graph, level) pairs);
    ``member_node / member_cluster [M]``; ``pe_index [N, Dmax-1]`` (-1 = none).
    """

    num_nodes: int
    edge_index: torch.Tensor
    structures: list[GraphStructure]
    offsets: list[int]
    node_seq: torch.Tensor
    node_mask: torch.Tensor
    dfs_seq: torch.Tensor
    dfs_mask: torch.Tensor
    bfs_seq: torch.Tensor
    bfs_mask: torch.Tensor
    bfs_meta: list[tuple[int, int, np.ndarray]]
    member_node: torch.Tensor
    member_cluster: torch.Tensor
    num_clusters: int
    pe_index: torch.Tensor
    cache: dict = field(default_factory=dict)

    def to(self, device: torch.device) -> BatchPlan:
        for name in ("node_seq", "node_mask", "dfs_seq", "dfs_mask", "bfs_seq", "bfs_mask", "member_node",
                     "member_cluster", "pe_index", "edge_index"):
            setattr(self, name, getattr(self, name).to(device))
        return self


def build_plan(structures: list[GraphStructure], offsets: list[int], edge_index: torch.Tensor) -> BatchPlan:
    """Assemble the batch-level index tensors; ``offsets[g]`` = first node id of graph g."""
    node_seqs, dfs, bfs, meta, mem_n, mem_c, pes = [], [], [], [], [], [], []
    c_off = 0
    for g, (s, off) in enumerate(zip(structures, offsets)):
        lv = s.tree.levels.numpy()
        order = s.tree.order.numpy()
        d, n = lv.shape
        node_seqs.append(order + off)
        lvl_off = np.zeros(d, np.int64)
        for l in range(d):
            lvl_off[l] = c_off
            k = int(lv[l].max()) + 1
            lab = lv[l][order]
            _, first = np.unique(lab, return_index=True)
            first = np.sort(first)
            bfs.append(lab[first] + c_off)
            meta.append((g, l, order[first]))
            mem_n.append(np.arange(n) + off)
            mem_c.append(lv[l] + c_off)
            c_off += k
        dfs.extend(list((lv + lvl_off[:, None]).T))
        pes.append(s.pe_index.numpy())
    node_seq, node_mask = _pad(node_seqs)
    dfs_seq, dfs_mask = _pad(dfs, left=True)
    bfs_seq, bfs_mask = _pad(bfs)
    width = max(p.shape[1] for p in pes)
    pe = np.full((sum(p.shape[0] for p in pes), max(width, 1)), -1, np.int64)
    row = 0
    for p in pes:
        pe[row: row + p.shape[0], : p.shape[1]] = p
        row += p.shape[0]
    return BatchPlan(
        num_nodes=row, edge_index=edge_index, structures=structures, offsets=offsets,
        node_seq=node_seq, node_mask=node_mask, dfs_seq=dfs_seq, dfs_mask=dfs_mask, bfs_seq=bfs_seq,
        bfs_mask=bfs_mask, bfs_meta=meta, member_node=torch.from_numpy(np.concatenate(mem_n)),
        member_cluster=torch.from_numpy(np.concatenate(mem_c)), num_clusters=c_off, pe_index=torch.from_numpy(pe),
    )


def _gather(h: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:
    return h[idx.clamp(min=0)] * (idx >= 0).unsqueeze(-1).to(h.dtype)


def _scatter_mean(src: torch.Tensor, index: torch.Tensor, size: int) -> torch.Tensor:
    out = src.new_zeros(size, src.size(-1)).index_add_(0, index, src)
    cnt = src.new_zeros(size).index_add_(0, index, src.new_ones(index.size(0)))
    return out / cnt.clamp(min=1).unsqueeze(-1)


def _stack_bias(biases: list[torch.Tensor | None], L: int, heads: int, ref: torch.Tensor) -> BiasPieces | None:
    if all(b is None for b in biases):
        return None
    # kept as pieces: the encoder stacks each length bucket's window only (see BiasPieces)
    return BiasPieces(biases, L, heads, ref)


class Tokenizer(nn.Module):
    """Base: ``sequences(h, plan, pe) -> (seq [B, L, d], mask [B, L] | None, bias | None)``;
    ``readout(out [B, L, d], plan) -> [N, d]``."""

    name = ""

    positional = False  # sequences of own length per node get a learned position embedding
    per_node = False  # sequence i belongs to node i and readout is out[:, -1]: rows can be run for a subset

    def __init__(self, dim: int, max_len: int = 64) -> None:
        super().__init__()
        self.pos = nn.Embedding(max_len, dim) if self.positional else None
        if self.pos is not None:
            nn.init.normal_(self.pos.weight, std=0.02)
        self.max_len = max_len

    def _posemb(self, L: int, left_mask: torch.Tensor | None = None) -> torch.Tensor:
        """Positions counted from the sequence *end* (the node's own token is position 0)."""
        if left_mask is None:
            p = torch.arange(L - 1, -1, -1, device=self.pos.weight.device)
        else:
            p = left_mask.flip(1).long().cumsum(1).flip(1) - 1
            p = p.clamp(min=0)
        return self.pos(p.clamp(max=self.max_len - 1))


class NodeTok(Tokenizer):
    name = "node"

    def sequences(self, h, plan, pe):
        seq = _gather(h, plan.node_seq)
        biases = []
        for s in plan.structures:
            biases.append(pe.relative(s, s.tree.depth - 1, s.tree.order) if pe is not None else None)
        return seq, plan.node_mask, _stack_bias(biases, seq.size(1), pe.heads if pe else 1, h)

    def readout(self, out, plan):
        res = out.new_zeros(plan.num_nodes, out.size(-1))
        return res.index_copy(0, plan.node_seq[plan.node_mask], out[plan.node_mask])


class KHopTok(Tokenizer):
    positional = True
    per_node = True
    name = "khop"

    def __init__(self, dim: int, hops: int = 3) -> None:
        super().__init__(dim)
        self.hops = hops

    def sequences(self, h, plan, pe):
        src, dst = plan.edge_index
        deg = h.new_zeros(h.size(0)).index_add_(0, dst, h.new_ones(dst.size(0))).clamp(min=1)
        toks, cur = [h], h
        for _ in range(self.hops):
            cur = h.new_zeros(h.shape).index_add_(0, dst, cur[src]) / deg.unsqueeze(-1)
            toks.append(cur)
        seq = torch.stack(toks[::-1], 1)
        return seq + self._posemb(seq.size(1)), None, None

    def readout(self, out, plan):
        return out[:, -1]


class RandomWalkTok(Tokenizer):
    positional = True
    per_node = True
    name = "rw"

    def __init__(self, dim: int, length: int = 8) -> None:
        super().__init__(dim)
        self.length = length

    def walks(self, plan: BatchPlan, device: torch.device) -> torch.Tensor:
        """``[N, length]`` walks (``w_0 = v``); isolated nodes stay put."""
        n = plan.num_nodes
        src, dst = plan.edge_index.to(device)
        perm = torch.argsort(src, stable=True)
        col = dst[perm]
        deg = torch.bincount(src, minlength=n)
        ptr = torch.cumsum(deg, 0) - deg
        gen = None if self.training else torch.Generator(device=device).manual_seed(0)
        cur = torch.arange(n, device=device)
        out = [cur]
        for _ in range(self.length - 1):
            r = torch.rand(n, device=device, generator=gen)
            d = deg[cur]
            if col.numel():
                step = ptr[cur] + torch.minimum((r * d).long(), (d - 1).clamp(min=0))
                cur = torch.where(d > 0, col[step.clamp(max=col.numel() - 1)], cur)
            out.append(cur)
        return torch.stack(out, 1)

    def sequences(self, h, plan, pe):
        w = self.walks(plan, h.device).flip(1)
        seq = h[w]
        return seq + self._posemb(seq.size(1)), None, None

    def readout(self, out, plan):
        return out[:, -1]


def cluster_means(h: torch.Tensor, plan: BatchPlan) -> torch.Tensor:
    """``[C, d]``: mean of member encodings for every cluster of every level."""
    return _scatter_mean(h[plan.member_node], plan.member_cluster, plan.num_clusters)


class HACDFSTok(Tokenizer):
    positional = True
    per_node = True
    name = "hac_dfs"

    def sequences(self, h, plan, pe):
        seq = _gather(cluster_means(h, plan), plan.dfs_seq)
        return seq + self._posemb(seq.size(1), plan.dfs_mask), plan.dfs_mask, None

    def readout(self, out, plan):
        return out[:, -1]


class HACBFSTok(Tokenizer):
    name = "hac_bfs"

    def sequences(self, h, plan, pe):
        seq = _gather(cluster_means(h, plan), plan.bfs_seq)
        biases = []
        for g, level, reps in plan.bfs_meta:
            biases.append(pe.relative(plan.structures[g], level, torch.from_numpy(reps)) if pe is not None else None)
        return seq, plan.bfs_mask, _stack_bias(biases, seq.size(1), pe.heads if pe else 1, h)

    def readout(self, out, plan):
        cl = out.new_zeros(plan.num_clusters, out.size(-1))
        cl = cl.index_copy(0, plan.bfs_seq[plan.bfs_mask], out[plan.bfs_mask])
        return _scatter_mean(cl[plan.member_cluster], plan.member_node, plan.num_nodes)


def make_tokenizer(name: str, dim: int, hops: int = 3, walk_length: int = 8) -> Tokenizer:
    """Factory by name (one of :data:`TOKENIZERS`)."""
    if name == "node":
        return NodeTok(dim)
    if name == "khop":
        return KHopTok(dim, hops)
    if name == "rw":
        return RandomWalkTok(dim, walk_length)
    if name == "hac_dfs":
        return HACDFSTok(dim)
    if name == "hac_bfs":
        return HACBFSTok(dim)
    raise ValueError(f"unknown tokenizer {name!r}; expected one of {TOKENIZERS}")
