"""GSM++ and its single-backbone ablations (``gsm_transformer``, ``gsm_ssm``).

Behrouz, Parviz, Karami, Sanford, Perozzi, Mirrokni, "Best of Both Worlds: Advantages
of Hybrid Graph Sequence Models", arXiv 2411.15671 (ICML 2025). No official code.

GSM framework: ``y = Ψ(AGG(φ_Local(S^(1)), ..., φ_Local(S^(T))))``. GSM++ =
HAC tokenization (:mod:`plexus.gnn.gsm.hac`) + hierarchical PE
(:mod:`plexus.gnn.gsm.positional`) + hybrid global encoder (Mamba layers then a
Transformer layer, :mod:`plexus.gnn.gsm.encoders`) + Mixture of Tokenization (top-2
tokenizers per node, :mod:`plexus.gnn.gsm.router`). Pipeline per batch::

    h0 = W_in x (+ hierarchical absolute PE)                      [N, d]
    h  = φ_Local(h0, edge_index)                                   [N, d]   (MPNN)
    for tokenizer t:  enc_t = readout_t(Ψ(tokens_t(h) + type_t))   [N, d]   (shared Ψ)
    z  = MoT(h, enc_1..enc_T)                                      [N, T*d] (or enc_t alone)
    node task:  logit = MLP(z)                                     [N, C]
    graph task: logit = MLP(pool(z, batch))                        [G, C]

The HAC tree, PE indices and cluster SPDs are a pure function of (edge_index, x); they
are computed once per graph on CPU and cached in an LRU keyed by a hash of both.
[U] choices are documented in the sub-modules; widths/depths below are [U] defaults.
"""

from __future__ import annotations

from typing import Any, Literal

import torch
from plexus.gnn.gsm.encoders import LocalMPNN, SequenceEncoder
from plexus.gnn.gsm.positional import GraphStructure, HierarchicalPE, StructureCache
from plexus.gnn.gsm.router import MoTRouter
from plexus.gnn.gsm.tokenizers import TOKENIZERS, BatchPlan, build_plan, make_tokenizer
from plexus.platform.catalog import register_model
from plexus.platform.errors import ConfigError
from plexus.platform.spec import DataSpec
from torch import nn

__all__ = ["GSMPP", "GSMSSM", "GSMTransformer"]

_PAPER = "Behrouz et al., Best of Both Worlds: Advantages of Hybrid Graph Sequence Models, ICML 2025"
_URL = "https://arxiv.org/abs/2411.15671"
Tokenization = Literal["mot", "node", "khop", "rw", "hac_dfs", "hac_bfs"]


@register_model("gsmpp", task=("node", "graph"), paper=_PAPER, url=_URL,
                summary="GSM++: HAC tokenization + hierarchical PE + hybrid Mamba/Transformer + MoT")
class GSMPP(nn.Module):
    """GSM++ graph sequence model for node (``[N, C]``) or graph (``[G, C]``) classification.

    Args:
        spec: data spec; ``spec.task`` is ``"node"`` (input a PyG ``Data``) or ``"graph"``
            (a PyG ``Batch``, pooled over ``batch.batch``).
        hidden: width ``d`` of every layer.
        local_mpnn: local encoder φ_Local: ``gatedgcn`` (reproduction's choice), ``gine`` or ``none``.
        local_layers: MPNN layers.
        tokenization: ``mot`` (router over ``tokenizers``) or a single tokenizer.
        tokenizers: candidate tokenizers of MoT, from node, khop, rw, hac_dfs, hac_bfs.
        top_k: tokenizers kept per node by the MoT router (paper: 2).
        backbone: global encoder: ``hybrid`` (SSM layers then Transformer), ``transformer``, ``ssm``.
        num_ssm_layers: Mamba layers of the hybrid (reproduction: 2).
        num_attn_layers: Transformer layers of the hybrid (reproduction: 1).
        heads: attention heads.
        d_state: SSM state size.
        d_conv: SSM causal convolution width.
        expand: SSM inner width factor.
        chunk_size: chunk of the parallel selective scan (0: 1 on CPU, 16 on GPU).
        k_hops: hops of the k-hop tokenizer.
        walk_length: length of the random-walk tokenizer.
        hac_linkage: HAC cluster affinity: ``single`` (max edge) or ``average`` (mean encoding).
        affinity_hops: propagation hops of the parameter-free HAC affinity encoding.
        use_pe: add the hierarchical PE (absolute + attention bias).
        pe_max_dist: SPD clip of the hierarchical PE.
        pe_max_nodes: levels with more clusters skip the dense SPD (no relative bias).
        dropout: dropout rate.
        attn_dropout: dropout on the attention weights (``None``: ``dropout``). ``0`` lets CPU attention
            use its fused kernel on long sequences (a whole graph's node sequence) instead of the
            ``[L, L]`` math path.
        readout: graph pooling, ``mean`` or ``sum``.
        cache_size: graphs kept in the HAC/PE structure cache.
    """

    #: the router's scatter mixes dtypes under bf16 autocast: the trainer runs this model in fp32
    autocast: bool = False
    #: node task: ``forward`` returns the rows of ``batch.out_index`` only (see NodeTask)
    output_nodes: bool = True

    def __init__(
        self, spec: DataSpec, *, hidden: int = 64, local_mpnn: Literal["gatedgcn", "gine", "none"] = "gatedgcn",
        local_layers: int = 2, tokenization: Tokenization = "mot",
        tokenizers: tuple[str, ...] = ("node", "khop", "hac_dfs", "hac_bfs"), top_k: int = 2,
        backbone: Literal["hybrid", "transformer", "ssm"] = "hybrid", num_ssm_layers: int = 2,
        num_attn_layers: int = 1, heads: int = 4, d_state: int = 16, d_conv: int = 4, expand: int = 2,
        chunk_size: int = 0, k_hops: int = 3, walk_length: int = 8,
        hac_linkage: Literal["single", "average"] = "single", affinity_hops: int = 1, use_pe: bool = True,
        pe_max_dist: int = 8, pe_max_nodes: int = 2048, dropout: float = 0.1, attn_dropout: float | None = None,
        readout: Literal["mean", "sum"] = "mean", cache_size: int = 4096,
    ) -> None:
        super().__init__()
        if spec.task not in ("node", "graph"):
            raise ConfigError(f"GSM++ handles task 'node' or 'graph', got {spec.task!r}")
        if spec.num_classes < 1:
            raise ConfigError(f"GSM++ needs spec.num_classes >= 1, got {spec.num_classes}")
        names = tuple(tokenizers) if tokenization == "mot" else (tokenization,)
        bad = [t for t in names if t not in TOKENIZERS]
        if bad or not names:
            raise ConfigError(f"unknown tokenizer(s) {bad}; expected some of {TOKENIZERS}")
        if hidden % heads:
            raise ConfigError(f"hidden ({hidden}) must be divisible by heads ({heads})")
        self.task, self.readout, self.names = spec.task, readout, names
        self.hac_cfg = {"linkage": hac_linkage, "hops": affinity_hops, "max_dist": pe_max_dist, "max_spd_nodes": pe_max_nodes}
        self.cache = StructureCache(cache_size)
        self.inp = nn.Linear(max(spec.num_features, 1), hidden)
        uses_bias = backbone != "ssm" and any(t in ("node", "hac_bfs") for t in names)
        self.pe = HierarchicalPE(hidden, heads, pe_max_dist, relative=uses_bias) if use_pe else None
        self.local = LocalMPNN(hidden, local_mpnn, local_layers, spec.num_edge_features, dropout)
        self.toks = nn.ModuleList(make_tokenizer(t, hidden, k_hops, walk_length) for t in names)
        self.type_emb = nn.Parameter(torch.zeros(len(names), hidden))
        self.encoder = SequenceEncoder(hidden, backbone, num_ssm_layers, num_attn_layers, heads, d_state, d_conv,
                                       expand, chunk_size, dropout, attn_dropout)
        self.router = MoTRouter(hidden, len(names), top_k) if tokenization == "mot" and len(names) > 1 else None
        out = hidden * len(names) if self.router is not None else hidden
        self.drop = nn.Dropout(dropout)
        self.head = nn.Sequential(nn.Linear(out, hidden), nn.ReLU(), nn.Dropout(dropout), nn.Linear(hidden, spec.num_classes))

    def _structure(self, edge_index: torch.Tensor, x: torch.Tensor | None, n: int) -> GraphStructure:
        key = StructureCache.key(edge_index, x, n, repr(sorted(self.hac_cfg.items())))
        return self.cache.get(key, lambda: GraphStructure.build(edge_index, x, n, **self.hac_cfg))

    def plan(self, batch: Any) -> BatchPlan:
        """Per-graph cached structures of ``batch`` assembled into index tensors."""
        # one device-to-host copy per batch: per-graph copies cost a GPU sync each, and with several
        # processes sharing a GPU each sync waits for the others' time slices (NCI109 on an H100)
        x = None if batch.x is None else batch.x.detach().cpu()
        ei = batch.edge_index.cpu()
        n = batch.num_nodes
        if self.task == "graph" and getattr(batch, "batch", None) is not None:
            b = batch.batch.cpu()
            g = int(batch.num_graphs)
            counts = torch.bincount(b, minlength=g)
            offs = (torch.cumsum(counts, 0) - counts).tolist()
            eb = b[ei[0]]
            perm = torch.argsort(eb, stable=True)
            parts = torch.split(ei[:, perm], torch.bincount(eb, minlength=g).tolist(), dim=1)
            xs = [None if x is None else x[o: o + c] for o, c in zip(offs, counts.tolist())]
            structs = [self._structure(p - o, xx, c) for p, o, xx, c in zip(parts, offs, xs, counts.tolist())]
        else:
            offs, structs = [0], [self._structure(ei, x, n)]
        return build_plan(structs, offs, ei).to(batch.edge_index.device)

    def forward(self, batch: Any) -> dict[str, torch.Tensor]:
        """``batch``: PyG ``Data`` (node) / ``Batch`` (graph) -> ``{"logit": [N, C] | [G, C]}``.

        Node task: with ``batch.out_index [M]`` (node ids) the logits are those nodes' rows, ``[M, C]``,
        the same values as the full output's rows ``out_index``.
        """
        plan = self.plan(batch)
        x = batch.x if batch.x is not None else torch.ones(batch.num_nodes, 1, device=batch.edge_index.device)
        h = self.inp(x.float().reshape(x.size(0), -1))
        if self.pe is not None:
            h = h + self.pe.absolute(plan.pe_index)
        h = self.drop(self.local(h, batch.edge_index, getattr(batch, "edge_attr", None)))
        # node task: only the rows in out_index are returned (the task's mask), so per-node sequences
        # are encoded for those nodes only; tokens and graph-level sequences still use every node
        idx = getattr(batch, "out_index", None) if self.task == "node" else None
        hs = h if idx is None else h[idx]
        gates = self.router.gates(hs) if self.router is not None else None
        active = gates.gt(0).any(0).tolist() if gates is not None and not self.training else [True] * len(self.toks)
        encs: list[torch.Tensor | None] = []
        for t, tok in enumerate(self.toks):
            if not active[t]:
                encs.append(None)
                continue
            seq, mask, bias = tok.sequences(h, plan, self.pe)
            # sparse MoT: a node's slot is gated to 0 unless the tokenizer is in its top-k, so per-node
            # tokenizers encode only the selected nodes' sequences (same values and gradients; ~k/T of the work)
            sel = None  # output rows this per-node tokenizer encodes
            if tok.per_node and gates is not None:
                sel = gates[:, t].gt(0).nonzero().view(-1)
            elif tok.per_node and idx is not None:
                sel = torch.arange(hs.size(0), device=h.device)
            if sel is not None:
                if sel.numel() == 0:
                    encs.append(hs.new_zeros(hs.shape))
                    continue
                rows = sel if idx is None else idx[sel]
                seq, mask = seq[rows], None if mask is None else mask[rows]
            enc = tok.readout(self.encoder(seq + self.type_emb[t], mask, bias), plan)
            if sel is not None:
                enc = hs.new_zeros(hs.size(0), enc.size(-1)).index_copy(0, sel, enc)
            elif idx is not None:
                enc = enc[idx]
            encs.append(enc)
        z = self.router(hs, encs, gates) if self.router is not None else encs[0]
        if self.task == "graph":
            b = batch.batch if getattr(batch, "batch", None) is not None else z.new_zeros(z.size(0), dtype=torch.long)
            g = int(batch.num_graphs) if hasattr(batch, "num_graphs") else 1
            pooled = z.new_zeros(g, z.size(1)).index_add_(0, b, z)
            if self.readout == "mean":
                pooled = pooled / torch.bincount(b, minlength=g).clamp(min=1).unsqueeze(-1).to(z.dtype)
            z = pooled
        return {"logit": self.head(z)}

    @staticmethod
    def search_space(trial: Any) -> dict[str, Any]:
        """Optuna search space (widths/depths/tokenization; lr belongs to the trainer)."""
        return {
            "hidden": trial.suggest_categorical("hidden", [32, 64, 128]),
            "local_layers": trial.suggest_int("local_layers", 1, 3),
            "tokenization": trial.suggest_categorical("tokenization", ["mot", "hac_dfs", "hac_bfs"]),
            "num_ssm_layers": trial.suggest_int("num_ssm_layers", 1, 3),
            "d_state": trial.suggest_categorical("d_state", [8, 16, 32]),
            "k_hops": trial.suggest_int("k_hops", 2, 4),
            "hac_linkage": trial.suggest_categorical("hac_linkage", ["single", "average"]),
            "dropout": trial.suggest_float("dropout", 0.0, 0.3),
        }


@register_model("gsm_transformer", task=("node", "graph"), paper=_PAPER, url=_URL,
                summary="GSM with a Transformer-only global encoder (GSM++ -Hybrid ablation)")
class GSMTransformer(GSMPP):
    """GSM with a Transformer global encoder (``num_layers`` attention layers).

    Args:
        spec: data spec (task ``node`` or ``graph``).
        hidden: width ``d`` of every layer.
        local_mpnn: local encoder φ_Local: ``gatedgcn``, ``gine`` or ``none``.
        local_layers: MPNN layers.
        tokenization: ``mot`` (router over ``tokenizers``) or a single tokenizer.
        tokenizers: candidate tokenizers of MoT, from node, khop, rw, hac_dfs, hac_bfs.
        top_k: tokenizers kept per node by the MoT router.
        num_layers: Transformer layers.
        heads: attention heads.
        k_hops: hops of the k-hop tokenizer.
        walk_length: length of the random-walk tokenizer.
        use_pe: add the hierarchical PE (absolute + attention bias).
        dropout: dropout rate.
        attn_dropout: dropout on the attention weights (``None``: ``dropout``).
        readout: graph pooling, ``mean`` or ``sum``.
    """

    def __init__(
        self, spec: DataSpec, *, hidden: int = 64, local_mpnn: Literal["gatedgcn", "gine", "none"] = "gatedgcn",
        local_layers: int = 2, tokenization: Tokenization = "hac_dfs",
        tokenizers: tuple[str, ...] = ("node", "khop", "hac_dfs", "hac_bfs"), top_k: int = 2, num_layers: int = 3,
        heads: int = 4, k_hops: int = 3, walk_length: int = 8, use_pe: bool = True, dropout: float = 0.1,
        attn_dropout: float | None = None, readout: Literal["mean", "sum"] = "mean",
    ) -> None:
        super().__init__(spec, hidden=hidden, local_mpnn=local_mpnn, local_layers=local_layers,
                         tokenization=tokenization, tokenizers=tokenizers, top_k=top_k, backbone="transformer",
                         num_ssm_layers=num_layers - 1, num_attn_layers=1, heads=heads, k_hops=k_hops,
                         walk_length=walk_length, use_pe=use_pe, dropout=dropout, attn_dropout=attn_dropout,
                         readout=readout)

    @staticmethod
    def search_space(trial: Any) -> dict[str, Any]:
        return {
            "hidden": trial.suggest_categorical("hidden", [32, 64, 128]),
            "num_layers": trial.suggest_int("num_layers", 1, 4),
            "tokenization": trial.suggest_categorical("tokenization", ["node", "hac_dfs", "hac_bfs", "khop"]),
            "dropout": trial.suggest_float("dropout", 0.0, 0.3),
        }


@register_model("gsm_ssm", task=("node", "graph"), paper=_PAPER, url=_URL,
                summary="GSM with a Mamba-style selective-SSM global encoder (recurrent ablation)")
class GSMSSM(GSMPP):
    """GSM with a selective-SSM (Mamba) global encoder (``num_layers`` SSM layers).

    Args:
        spec: data spec (task ``node`` or ``graph``).
        hidden: width ``d`` of every layer.
        local_mpnn: local encoder φ_Local: ``gatedgcn``, ``gine`` or ``none``.
        local_layers: MPNN layers.
        tokenization: ``mot`` (router over ``tokenizers``) or a single tokenizer.
        tokenizers: candidate tokenizers of MoT, from node, khop, rw, hac_dfs, hac_bfs.
        top_k: tokenizers kept per node by the MoT router.
        num_layers: selective-SSM layers.
        d_state: SSM state size.
        chunk_size: chunk of the parallel selective scan (0: 1 on CPU, 16 on GPU).
        k_hops: hops of the k-hop tokenizer.
        walk_length: length of the random-walk tokenizer.
        use_pe: add the hierarchical absolute PE.
        dropout: dropout rate.
        readout: graph pooling, ``mean`` or ``sum``.
    """

    def __init__(
        self, spec: DataSpec, *, hidden: int = 64, local_mpnn: Literal["gatedgcn", "gine", "none"] = "gatedgcn",
        local_layers: int = 2, tokenization: Tokenization = "hac_dfs",
        tokenizers: tuple[str, ...] = ("node", "khop", "hac_dfs", "hac_bfs"), top_k: int = 2, num_layers: int = 3,
        d_state: int = 16, chunk_size: int = 0, k_hops: int = 3, walk_length: int = 8, use_pe: bool = True,
        dropout: float = 0.1, readout: Literal["mean", "sum"] = "mean",
    ) -> None:
        super().__init__(spec, hidden=hidden, local_mpnn=local_mpnn, local_layers=local_layers,
                         tokenization=tokenization, tokenizers=tokenizers, top_k=top_k, backbone="ssm",
                         num_ssm_layers=num_layers, num_attn_layers=0, d_state=d_state, chunk_size=chunk_size,
                         k_hops=k_hops, walk_length=walk_length, use_pe=use_pe, dropout=dropout, readout=readout)

    @staticmethod
    def search_space(trial: Any) -> dict[str, Any]:
        return {
            "hidden": trial.suggest_categorical("hidden", [32, 64, 128]),
            "num_layers": trial.suggest_int("num_layers", 1, 4),
            "tokenization": trial.suggest_categorical("tokenization", ["node", "hac_dfs", "hac_bfs", "khop"]),
            "d_state": trial.suggest_categorical("d_state", [8, 16, 32]),
            "dropout": trial.suggest_float("dropout", 0.0, 0.3),
        }
