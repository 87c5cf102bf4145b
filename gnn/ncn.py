"""NCN and NCNC: Neural Common Neighbor (with Completion) (Wang, Yang, Zhang; ICLR 2024; arXiv 2302.00890).

MPNN-then-SF: node embeddings from one full-graph MPNN pass H = MPNN(A, X), then per target pair

    NCN(i, j)  = MLP( h_i ⊙ h_j ‖ Σ_{u ∈ N(i)∩N(j)} h_u )
    NCNC(i, j) = MLP( h_i ⊙ h_j ‖ Σ_{u∈N(i)∩N(j)} h_u + Σ_{u∈N(i)\\N(j)} P̂_uj h_u + Σ_{u∈N(j)\\N(i)} P̂_iu h_u )

with P̂ from an NCN pass of the same predictor (depth−1 recursion) under no_grad, calibrated as
p0 = σ(scale·(logit − offset)), P̂ = α·pt·p0 / (pt·p0 + 1 − p0). ``combine="concat"`` is the paper's
MLP on the concatenation; ``combine="sum"`` is the reference code's ``CNLinkPredictor``:
lin(xcnlin(xcn)·β + xijlin(h_i ⊙ h_j)) with a learnable scalar β.

Common neighbours come from sorted CSR look-ups and ``torch.isin`` (no torch-sparse). A is the
message-passing graph ``batch.edge_index`` made binary, symmetric and loop-free.

**Target link removal (TLR).** Training positives must be deleted from ``batch.edge_index``
before ``forward`` (reference flag ``--maskinput``); that is the link task's job
(``plexus.platform.data.graphs.link.remove_target_edges``). The model removes nothing itself;
with ``check_tlr=True`` it raises :class:`DataError` when, in training mode, a target pair is an edge
of the graph it receives (negatives never are, so a hit means TLR was skipped).

**Pair groups** (capability ``pair_groups``). With ``train.pair_calls: separate`` the link task names a
training batch's positives and negatives in ``batch.edge_label_groups``; each group then gets its own
predictor call over one MPNN pass (own ``pred_edge_dropout`` draw), as the reference scores them apart.

**Reference regularisers** (all off by default): ``tail_dropout`` (``--tdp``: dropout on the MPNN's
output embeddings), ``pred_edge_dropout`` (``--preedp``: in training, each directed adjacency entry
the predictor reads is dropped at random before the common/residual neighbour sets are taken; the
MPNN graph is untouched), ``jk`` (``--jk``: H = Σ_k w_k H^(k) over the MPNN layers with learnable
w ~ N(0, 1) at init), ``tail_act`` (``--tailact``: with ``combine="sum"`` the xcnlin/xijlin MLPs end
in their hidden activation instead of a final Linear). The optimiser is the trainer's; the
reference's separate MPNN/predictor learning rates (``--gnnlr``/``--prelr``) are the train option
``lr_groups`` (e.g. ``lr: 0.0024, lr_groups: {mpnn: 0.0043}``): the MPNN, its input Linear and
the jk weights live under ``mpnn``, the predictor is everything else (a featureless graph's
embedding table is ``emb``, which the reference trains with ``gnnlr`` too: add ``emb`` to the groups).
"""

from __future__ import annotations

from itertools import pairwise
from typing import Any, Literal

import torch
from plexus.gnn.layers import gcn_norm, propagate, to_undirected_simple
from plexus.platform.catalog import register_model
from plexus.platform.errors import ConfigError, DataError
from plexus.platform.nn import MLP
from plexus.platform.spec import DataSpec
from torch import Tensor, nn
from torch_geometric.index import index2ptr

__all__ = ["NCN", "NCNC", "drop_csr_entries", "neighbor_sets", "targets_in_graph"]

Pairs = tuple[Tensor, Tensor]  # (target-pair index [M], node [M])


def _neighbors(rowptr: Tensor, col: Tensor, nodes: Tensor) -> Pairs:
    """All (k, u) with u ∈ N(nodes[k]), u ascending within each k."""
    deg = rowptr[nodes + 1] - rowptr[nodes]
    owner = torch.repeat_interleave(torch.arange(nodes.numel(), device=nodes.device), deg)
    first = torch.repeat_interleave(rowptr[nodes] - (torch.cumsum(deg, 0) - deg), deg)
    return owner, col[first + torch.arange(owner.numel(), device=nodes.device)]


def neighbor_sets(rowptr: Tensor, col: Tensor, pairs: Tensor, num_nodes: int) -> tuple[Pairs, Pairs, Pairs]:
    """Common and residual neighbours of target pairs [2, P] in a CSR graph.

    Returns ``(cn, only_i, only_j)``, each as ``(pair index [M], node [M])``: u ∈ N(i)∩N(j),
    u ∈ N(i)\\N(j) with u ≠ j, and u ∈ N(j)\\N(i) with u ≠ i.
    """
    oi, ui = _neighbors(rowptr, col, pairs[0])
    oj, uj = _neighbors(rowptr, col, pairs[1])
    ki, kj = oi * num_nodes + ui, oj * num_nodes + uj
    in_j, in_i = torch.isin(ki, kj), torch.isin(kj, ki)
    ri = ~in_j & (ui != pairs[1][oi])
    rj = ~in_i & (uj != pairs[0][oj])
    return (oi[in_j], ui[in_j]), (oi[ri], ui[ri]), (oj[rj], uj[rj])


def targets_in_graph(edge_index: Tensor, pairs: Tensor, num_nodes: int) -> Tensor:
    """BoolTensor[P]: whether each pair (either direction) is an edge of ``edge_index`` (the TLR check)."""
    ei = to_undirected_simple(edge_index, num_nodes)
    return torch.isin(pairs[0] * num_nodes + pairs[1], ei[0] * num_nodes + ei[1])


def _cap(sel: Pairs, cap: int, num_pairs: int) -> Pairs:
    """Keep at most ``cap`` random entries per target pair (the reference's res-degree sampling)."""
    owner, node = sel
    if owner.numel() == 0 or int(torch.bincount(owner, minlength=num_pairs).max()) <= cap:
        return sel
    perm = torch.randperm(owner.numel(), device=owner.device)
    perm = perm[torch.argsort(owner[perm], stable=True)]
    counts = torch.bincount(owner, minlength=num_pairs)
    start = torch.repeat_interleave(torch.cumsum(counts, 0) - counts, counts)
    keep = perm[torch.arange(owner.numel(), device=owner.device) - start < cap]
    return owner[keep], node[keep]


def drop_csr_entries(rowptr: Tensor, col: Tensor, p: float) -> tuple[Tensor, Tensor]:
    """Keep each CSR entry (a directed edge) independently with probability 1 − p (reference ``DropAdj``)."""
    n = rowptr.numel() - 1
    keep = torch.rand(col.numel(), device=col.device) >= p
    row = torch.repeat_interleave(torch.arange(n, device=col.device), rowptr[1:] - rowptr[:-1])
    out = torch.zeros_like(rowptr)
    out[1:] = torch.cumsum(torch.bincount(row[keep], minlength=n), 0)
    return out, col[keep]


def _tail(h: int, dropout: float, layer_norm: bool) -> list[nn.Module]:
    """``LayerNorm? → ReLU → Dropout?``: a hidden activation block of the reference predictor."""
    return [*([nn.LayerNorm(h)] if layer_norm else []), nn.ReLU(), *([nn.Dropout(dropout)] if dropout > 0 else [])]


class _MPNN(nn.Module):
    """``gcn``: stacked GCN layers; ``puregcn``: an input Linear (then ``dropout``), then weight-free Â
    propagations. ``tail_dropout`` acts on the last layer's output; ``jk`` returns Σ_k w_k H^(k)."""

    def __init__(
        self,
        d_in: int,
        hidden: int,
        num_layers: int,
        kind: str,
        dropout: float,
        layer_norm: bool,
        tail_dropout: float = 0.0,
        jk: bool = False,
    ):
        super().__init__()
        self.kind, self.dropout = kind, nn.Dropout(dropout)
        self.tail_dropout = nn.Dropout(tail_dropout)
        # reference: jkparams = randn(num_layers), used without softmax
        self.jk_weights = nn.Parameter(torch.randn(num_layers)) if jk else None
        dims = [d_in] + [hidden] * num_layers
        self.lins = (
            nn.ModuleList(nn.Linear(a, b) for a, b in pairwise(dims))
            if kind == "gcn"
            else nn.ModuleList([nn.Linear(d_in, hidden)])
        )
        self.norms = nn.ModuleList(nn.LayerNorm(hidden) for _ in range(num_layers)) if layer_norm else None
        self.num_layers = num_layers

    def forward(self, x: Tensor, ei: Tensor, w: Tensor) -> Tensor:
        if self.kind == "puregcn":
            x = self.dropout(self.lins[0](x))  # reference: xemb = Dropout(xdp), Linear, Dropout(gnndp)
        layers = []
        for k in range(self.num_layers):
            x = propagate(ei, w, self.lins[k](x) if self.kind == "gcn" else x)
            if k < self.num_layers - 1:
                if self.norms is not None:
                    x = self.norms[k](x)
                x = self.dropout(torch.relu(x))
            else:
                x = self.tail_dropout(x)
            layers.append(x)
        if self.jk_weights is not None:
            return (torch.stack(layers) * self.jk_weights.view(-1, 1, 1)).sum(0)
        return x


class _CNLinkModel(nn.Module):
    #: the link task removes each batch's training targets from the message-passing graph (TLR)
    target_link_removal: bool = True

    #: training: each group of ``batch.edge_label_groups`` gets its own predictor call (own dropout draws)
    pair_groups: bool = True

    #: scatter/index_add kernels mix dtypes under bf16 autocast: the trainer runs this model in fp32
    autocast: bool = False

    def __init__(
        self,
        spec: DataSpec,
        *,
        hidden_dim: int,
        num_layers: int,
        mpnn: str,
        dropout: float,
        pred_dropout: float,
        layer_norm: bool,
        combine: str,
        use_xlin: bool,
        check_tlr: bool,
        depth: int,
        alpha: float,
        pt: float,
        scale: float,
        offset: float,
        train_res_deg: int,
        test_res_deg: int,
        input_dropout: float = 0.0,
        tail_dropout: float = 0.0,
        pred_edge_dropout: float = 0.0,
        jk: bool = False,
        tail_act: bool = False,
    ) -> None:
        super().__init__()
        if num_layers < 1 or hidden_dim < 1:
            raise ConfigError(f"num_layers and hidden_dim must be >= 1, got {num_layers}, {hidden_dim}")
        if spec.num_features > 0:
            self.emb, d_in = None, spec.num_features
        elif spec.num_nodes > 0:  # featureless graph: learnable node embeddings (reference: DDI)
            self.emb, d_in = nn.Embedding(spec.num_nodes, hidden_dim), hidden_dim
        else:
            raise ConfigError("NCN needs node features (spec.num_features) or spec.num_nodes for embeddings")
        for name, v in (
            ("input_dropout", input_dropout),
            ("tail_dropout", tail_dropout),
            ("pred_edge_dropout", pred_edge_dropout),
        ):
            if not 0.0 <= v < 1.0:
                raise ConfigError(f"{name} must be in [0, 1), got {v}")
        if tail_act and combine != "sum":
            raise ConfigError("tail_act (reference --tailact) applies to combine='sum' only")
        h, pd, ln = hidden_dim, pred_dropout, layer_norm
        self.input_dropout = nn.Dropout(input_dropout)
        self.mpnn = _MPNN(d_in, h, num_layers, mpnn, dropout, layer_norm, tail_dropout, jk)
        self.pred_edge_dropout = pred_edge_dropout
        # reference xlin: Linear → ReLU → Dropout → Linear → LayerNorm? → ReLU → Dropout; h' = h + xlin(h)
        self.xlin = nn.Sequential(MLP([h, h, h], dropout=pd, plain_last=True), *_tail(h, pd, ln)) if use_xlin else None
        self.combine, self.check_tlr, self.depth = combine, check_tlr, depth
        if combine == "sum":  # the reference CNLinkPredictor's three MLPs (tail_act drops the last Linears)
            last = [] if tail_act else [nn.Linear(h, h)]
            self.xcnlin = nn.Sequential(MLP([h, h, h], dropout=pd, plain_last=True), *_tail(h, pd, ln), *last)
            self.xijlin = nn.Sequential(nn.Linear(h, h), *_tail(h, pd, ln), *last)
            self.lin = MLP([h, h, 1], dropout=pd, plain_last=True, layer_norm=ln)
            self.beta = nn.Parameter(torch.ones(1))
        else:
            self.lin = MLP([2 * h, h, h, 1], dropout=pred_dropout, plain_last=True, layer_norm=layer_norm)
        for name, v in (("alpha", alpha), ("pt", pt), ("scale", scale), ("offset", offset)):
            self.register_buffer(name, torch.tensor(float(v)))
        self.train_res_deg, self.test_res_deg = train_res_deg, test_res_deg

    def node_embeddings(self, batch: Any) -> Tensor:
        """H = MPNN(Â, X): [N, hidden_dim] over ``batch.edge_index``."""
        n = int(batch.num_nodes)
        x = self.emb.weight if self.emb is not None else batch.x.float()
        ei, w = gcn_norm(to_undirected_simple(batch.edge_index, n), n)
        return self.mpnn(self.input_dropout(x), ei, w)

    def calibrate(self, logit: Tensor) -> Tensor:
        """P̂ = α·pt·p0 / (pt·p0 + 1 − p0), p0 = σ(scale·(logit − offset))."""
        p0 = torch.sigmoid(self.scale * (logit - self.offset))
        return self.alpha * self.pt * p0 / (self.pt * p0 + 1 - p0)

    def _score(self, h: Tensor, rowptr: Tensor, col: Tensor, pairs: Tensor, depth: int) -> Tensor:
        n, num_p = h.size(0), pairs.size(1)
        if self.training and self.pred_edge_dropout > 0:  # reference: every predictor call drops anew
            rowptr, col = drop_csr_entries(rowptr, col, self.pred_edge_dropout)
        hx = h + self.xlin(h) if self.xlin is not None else h
        cn, only_i, only_j = neighbor_sets(rowptr, col, pairs, n)
        xcn = hx.new_zeros(num_p, hx.size(1)).index_add_(0, cn[0], hx[cn[1]])
        if depth > 0:
            cap = self.train_res_deg if self.training else self.test_res_deg
            if cap > 0:  # -1: no sampling (reference trndeg/tstdeg -1)
                only_i, only_j = _cap(only_i, cap, num_p), _cap(only_j, cap, num_p)
            # u ∈ N(i)\N(j) completes with P̂(u, j); u ∈ N(j)\N(i) with P̂(i, u). As in the reference, the
            # inner NCN pass receives h' = h + xlin(h) and this call's (edge-dropped) graph.
            with torch.no_grad():
                p_i = self.calibrate(
                    self._score(hx, rowptr, col, torch.stack([only_i[1], pairs[1][only_i[0]]]), depth - 1)
                )
                p_j = self.calibrate(
                    self._score(hx, rowptr, col, torch.stack([pairs[0][only_j[0]], only_j[1]]), depth - 1)
                )
            xcn = (
                xcn
                + hx.new_zeros(xcn.shape).index_add_(0, only_i[0], p_i.unsqueeze(-1) * hx[only_i[1]])
                + hx.new_zeros(xcn.shape).index_add_(0, only_j[0], p_j.unsqueeze(-1) * hx[only_j[1]])
            )
        xij = h[pairs[0]] * h[pairs[1]]
        if self.combine == "sum":
            return self.lin(self.xcnlin(xcn) * self.beta + self.xijlin(xij)).view(-1)
        return self.lin(torch.cat([xij, xcn], dim=-1)).view(-1)

    def score_pairs(self, h: Tensor, edge_index: Tensor, pairs: Tensor, groups: list[int] | None = None) -> Tensor:
        """Logits [P] of pairs [2, P] given embeddings h from :meth:`node_embeddings` (chunked scoring);
        ``groups``: sizes of consecutive column groups of ``pairs``, each scored in its own predictor call."""
        ei = to_undirected_simple(edge_index, h.size(0))
        rowptr, col = index2ptr(ei[0], h.size(0)), ei[1]
        parts = pairs.split([int(g) for g in groups], 1) if groups else [pairs]
        return torch.cat([self._score(h, rowptr, col, part, self.depth) for part in parts])

    def forward(self, batch: Any) -> dict[str, Tensor]:
        pairs = batch.edge_label_index
        if self.check_tlr and self.training:
            hit = targets_in_graph(batch.edge_index, pairs, int(batch.num_nodes))
            if bool(hit.any()):
                k = int(hit.nonzero()[0, 0])
                raise DataError(
                    f"target pair ({int(pairs[0, k])}, {int(pairs[1, k])}) is an edge of the "
                    "message-passing graph: remove training targets first (TLR)",
                    row=k + 1,
                    field="edge_label_index",
                )
        groups = getattr(batch, "edge_label_groups", None) if self.training else None
        return {"logit": self.score_pairs(self.node_embeddings(batch), batch.edge_index, pairs, groups)}


def _space(trial: Any) -> dict[str, Any]:
    return {
        "hidden_dim": trial.suggest_categorical("hidden_dim", [64, 128, 256]),
        "num_layers": trial.suggest_int("num_layers", 1, 3),
        "mpnn": trial.suggest_categorical("mpnn", ["gcn", "puregcn"]),
        "dropout": trial.suggest_float("dropout", 0.0, 0.6),
        "pred_dropout": trial.suggest_float("pred_dropout", 0.0, 0.6),
        "input_dropout": trial.suggest_float("input_dropout", 0.0, 0.8),
        "tail_dropout": trial.suggest_float("tail_dropout", 0.0, 0.5),
        "pred_edge_dropout": trial.suggest_float("pred_edge_dropout", 0.0, 0.5),
        "layer_norm": trial.suggest_categorical("layer_norm", [False, True]),
        "use_xlin": trial.suggest_categorical("use_xlin", [False, True]),
    }


_PAPER = "Wang, Yang, Zhang, Neural Common Neighbor with Completion for Link Prediction, ICLR 2024"
_URL = "https://arxiv.org/abs/2302.00890"
_ARGS = """
    Args:
        hidden_dim: width of the MPNN and of the predictor MLPs (reference Cora: 256).
        num_layers: MPNN layers (reference Cora: 1).
        mpnn: ``gcn`` (GCN layers) or ``puregcn`` (input Linear + weight-free Â propagations).
        dropout: dropout between MPNN layers, and after the input Linear of ``puregcn`` (reference
            ``gnndp``; Cora: 0.05).
        pred_dropout: dropout inside the predictor MLPs (reference ``predp``; Cora: 0.05).
        input_dropout: dropout on the node features before the MPNN (reference ``xdp``; Cora: 0.7).
        tail_dropout: dropout on the MPNN's output embeddings, after the last propagation (reference
            ``tdp``, which the reference applies to its ``pure*`` MPNNs; Cora: 0.3).
        pred_edge_dropout: training only: each directed entry of the adjacency the predictor reads is
            dropped with this probability, anew in every predictor call, before the common (and
            residual) neighbour sets are taken; the MPNN's graph is untouched; evaluation never drops
            (reference ``preedp``; Cora: 0.4).
        jk: jumping knowledge (reference ``jk``): H = Σ_k w_k H^(k) over the outputs of the MPNN layers,
            w a learnable [num_layers] vector drawn from N(0, 1) at init, no softmax (as the reference).
        layer_norm: LayerNorm in the MPNN and the predictor MLPs (reference ``ln`` and ``lnnn``).
        combine: ``concat`` (paper: MLP on [h_i⊙h_j ‖ Σ_cn h_u]) or ``sum`` (reference code's
            ``CNLinkPredictor``: lin(xcnlin(xcn)·β + xijlin(h_i⊙h_j)), learnable β).
        tail_act: ``combine="sum"`` only (reference ``tailact``): xcnlin and xijlin end in their hidden
            activation (LayerNorm → ReLU → dropout) instead of a final Linear.
        use_xlin: reference ``use_xlin``: h' = h + xlin(h) for the common-neighbour sum, xlin =
            Linear → ReLU → Linear → LayerNorm → ReLU (with dropout).
        check_tlr: raise DataError in training when a target pair is an edge of the input graph
            (target link removal is the task's job; this only checks it).
"""


@register_model(
    "ncn",
    task="link",
    paper=_PAPER,
    url=_URL,
    summary="Neural Common Neighbor: MPNN embeddings plus a sum over common neighbours per pair",
)
class NCN(_CNLinkModel):
    __doc__ = (
        "NCN(i,j) = MLP(h_i⊙h_j ‖ Σ_{u∈N(i)∩N(j)} h_u), H = MPNN(A, X). Output {'logit': [P]}.\n" + _ARGS
    )

    def __init__(
        self,
        spec: DataSpec,
        *,
        hidden_dim: int = 256,
        num_layers: int = 1,
        mpnn: Literal["gcn", "puregcn"] = "puregcn",
        dropout: float = 0.0,
        pred_dropout: float = 0.0,
        layer_norm: bool = False,
        combine: Literal["concat", "sum"] = "concat",
        use_xlin: bool = False,
        check_tlr: bool = False,
        input_dropout: float = 0.0,
        tail_dropout: float = 0.0,
        pred_edge_dropout: float = 0.0,
        jk: bool = False,
        tail_act: bool = False,
    ) -> None:
        super().__init__(
            spec,
            hidden_dim=hidden_dim,
            num_layers=num_layers,
            mpnn=mpnn,
            dropout=dropout,
            pred_dropout=pred_dropout,
            layer_norm=layer_norm,
            combine=combine,
            use_xlin=use_xlin,
            check_tlr=check_tlr,
            depth=0,  # no completion: the NCNC-only arguments below are then unused
            alpha=0.0,
            pt=0.5,
            scale=5.0,
            offset=3.0,
            train_res_deg=8,
            test_res_deg=128,
            input_dropout=input_dropout,
            tail_dropout=tail_dropout,
            pred_edge_dropout=pred_edge_dropout,
            jk=jk,
            tail_act=tail_act,
        )

    search_space = staticmethod(_space)


@register_model(
    "ncnc",
    task="link",
    paper=_PAPER,
    url=_URL,
    summary="NCNC: NCN with common neighbours completed by NCN-predicted edge probabilities",
)
class NCNC(_CNLinkModel):
    __doc__ = (
        "NCNC: NCN whose common-neighbour sum also takes u ∈ N(i)\\N(j) weighted by P̂_uj (and vice "
        "versa), P̂ from an NCN pass (depth − 1) under no_grad. Output {'logit': [P]}.\n"
        + _ARGS
        + """\
        depth: completion recursion depth (1 = NCNC, 2 = NCNC2; 0 reduces to NCN).
        alpha: P̂ scale α (α = 0 reduces NCNC to NCN exactly).
        pt: calibration prior pt (reference Cora: 0.75).
        scale: calibration slope on the NCN logit (reference Cora: 4.3).
        offset: calibration offset on the NCN logit (reference Cora: 2.8).
        train_res_deg: completion candidates sampled per target and side in training; <= 0: all
            (reference ``trndeg``; -1 in the reference's Cora command).
        test_res_deg: completion candidates sampled per target and side at evaluation; <= 0: all
            (reference ``tstdeg``; -1 in the reference's Cora command).
"""
    )

    def __init__(
        self,
        spec: DataSpec,
        *,
        hidden_dim: int = 256,
        num_layers: int = 1,
        mpnn: Literal["gcn", "puregcn"] = "puregcn",
        dropout: float = 0.0,
        pred_dropout: float = 0.0,
        layer_norm: bool = False,
        combine: Literal["concat", "sum"] = "concat",
        use_xlin: bool = False,
        check_tlr: bool = False,
        depth: int = 1,
        alpha: float = 1.0,
        pt: float = 0.5,
        scale: float = 5.0,
        offset: float = 3.0,
        train_res_deg: int = 8,
        test_res_deg: int = 128,
        input_dropout: float = 0.0,
        tail_dropout: float = 0.0,
        pred_edge_dropout: float = 0.0,
        jk: bool = False,
        tail_act: bool = False,
    ) -> None:
        if depth < 0:
            raise ConfigError(f"depth must be >= 0, got {depth}")
        super().__init__(
            spec,
            hidden_dim=hidden_dim,
            num_layers=num_layers,
            mpnn=mpnn,
            dropout=dropout,
            pred_dropout=pred_dropout,
            layer_norm=layer_norm,
            combine=combine,
            use_xlin=use_xlin,
            check_tlr=check_tlr,
            depth=depth,
            alpha=alpha,
            pt=pt,
            scale=scale,
            offset=offset,
            train_res_deg=train_res_deg,
            test_res_deg=test_res_deg,
            input_dropout=input_dropout,
            tail_dropout=tail_dropout,
            pred_edge_dropout=pred_edge_dropout,
            jk=jk,
            tail_act=tail_act,
        )

    @staticmethod
    def search_space(trial: Any) -> dict[str, Any]:
        hp = _space(trial)
        hp.update(
            alpha=trial.suggest_float("alpha", 0.5, 1.5),
            pt=trial.suggest_float("pt", 0.1, 0.9),
            scale=trial.suggest_float("scale", 1.0, 10.0),
            offset=trial.suggest_float("offset", 0.0, 5.0),
        )
        return hp
