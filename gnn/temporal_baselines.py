"""The two baselines of EvolveGCN (Pareja et al., AAAI 2020): a static GCN and GCN-GRU on snapshot sequences.

Both run a two-layer GCN whose weights ``W^{(1)}, W^{(2)}`` are trainable parameters shared by every snapshot
(unlike EvolveGCN, whose weights an RNN produces per step):

    H_t^{(1)} = σ(Â_t X_t W^{(1)}),   H_t^{(2)} = σ(Â_t H_t^{(1)} W^{(2)}),   Â_t = D̃^{-1/2}(A_t + I)D̃^{-1/2}

with σ = RReLU on both layers (the reference code) and W uniform in ±1/sqrt(#cols).

* ``snapshot_gcn`` (the paper's "GCN", reference ``Sp_GCN``): the embeddings are ``H_T^{(2)}`` of the *last*
  snapshot of the input window only; earlier snapshots do not enter.
* ``gcn_gru`` (the paper's "GCN-GRU", reference ``gruA`` / ``lstmA``, ``Sp_GCN_GRU_A``): the per-snapshot
  embeddings of every node form a sequence ``H_1^{(2)}[v], ..., H_T^{(2)}[v]`` that a GRU (or LSTM) reads, nodes
  as the batch; the embeddings are its last output ``GRU(H_{1..T}^{(2)})[T]``: [N, rnn_dim].

Both score pairs with EvolveGCN's head (:class:`~plexus.gnn.evolvegcn.SnapshotPairModel`): the MLP
``Linear(2·d → cls_feats) → ReLU → Linear`` on ``[h_u ‖ h_v]``, ``{"logit": [P]}`` for ``dynlink`` and
``{"logit": [P, C]}`` for ``edge``. Input: a :class:`~plexus.platform.data.SnapshotBatch` whose snapshots carry
node features ``x`` [N, F], ``edge_index`` [2, E] and optionally ``edge_weight`` [E] (>= 0).
"""

from __future__ import annotations

import math
from typing import Any, Literal

import torch
from plexus.gnn.evolvegcn import SnapshotPairModel, pair_classifier, snapshot_search_space
from plexus.gnn.layers import propagate
from plexus.platform.catalog import register_model
from plexus.platform.errors import ConfigError
from plexus.platform.nn import activation as make_activation
from plexus.platform.spec import DataSpec
from torch import Tensor, nn

__all__ = ["GCNGRU", "SharedGCN", "SnapshotGCN"]


class SharedGCN(nn.Module):
    """Two GCN layers with the same weights at every step: ``H_t^{(l+1)} = σ(Â_t H_t^{(l)} W^{(l)})``.

    ``forward(adjs, xs)`` maps the normalised adjacencies ``[(edge_index [2, E_t], weight [E_t])]`` and
    features ``[X_t: [N, d_in]]`` of T snapshots to ``[H_t^{(2)}: [N, d_out]]``, one per snapshot.
    """

    def __init__(self, d_in: int, hidden: int, d_out: int, activation: str) -> None:
        super().__init__()
        self.weights = nn.ParameterList([self._uniform(d_in, hidden), self._uniform(hidden, d_out)])
        self.acts = nn.ModuleList([make_activation(activation), make_activation(activation)])

    @staticmethod
    def _uniform(rows: int, cols: int) -> nn.Parameter:
        bound = 1.0 / math.sqrt(cols)  # the reference's reset_param
        return nn.Parameter(torch.empty(rows, cols).uniform_(-bound, bound))

    def forward(self, adjs: list[tuple[Tensor, Tensor]], xs: list[Tensor]) -> list[Tensor]:
        outs = []
        for (ei, ew), h in zip(adjs, xs):
            for w, act in zip(self.weights, self.acts):
                h = act(propagate(ei, ew, h @ w, h.size(0)))
            outs.append(h)
        return outs


def _check(activation: str, **widths: int | None) -> None:
    if activation not in ("rrelu", "relu"):
        raise ConfigError(f"activation must be 'rrelu' or 'relu', got {activation!r}")
    for name, value in widths.items():
        if value is not None and value < 1:
            raise ConfigError(f"{name} must be >= 1, got {value}")


def _space_rnn(trial: Any) -> dict[str, Any]:
    return snapshot_search_space(trial) | {"rnn_layers": trial.suggest_int("rnn_layers", 1, 2)}


_PAPER = "Pareja et al., EvolveGCN: Evolving Graph Convolutional Networks for Dynamic Graphs, AAAI 2020 (baselines)"
_URL = "https://arxiv.org/abs/1902.10191"


@register_model(
    "snapshot_gcn",
    task=("dynlink", "edge"),
    paper=_PAPER,
    url=_URL,
    summary="EvolveGCN's static GCN baseline: a 2-layer GCN on the last snapshot, EvolveGCN's pair head",
)
class SnapshotGCN(SnapshotPairModel):
    """Static GCN on the last snapshot: ``h = σ(Â_T σ(Â_T X_T W^{(1)}) W^{(2)})`` [N, layer_2_dim]; MLP pair head.

    Args:
        hidden_dim: width of GCN layer 1 (the reference's ``layer_1_feats``).
        layer_2_dim: width of layer 2; None keeps it equal to hidden_dim.
        cls_feats: hidden width of the classifier MLP ``Linear(2·out→cls_feats) → ReLU → Linear``.
        activation: σ of both GCN layers: ``rrelu`` (reference code) or ``relu``.
        use_edge_weight: build Â from the snapshot's ``edge_weight`` (must be >= 0) instead of binary A.
        undirected: symmetrise the snapshot before the GCN normalisation (as EvolveGCN does).
    """

    def __init__(
        self,
        spec: DataSpec,
        *,
        hidden_dim: int = 100,
        layer_2_dim: int | None = None,
        cls_feats: int = 400,
        activation: Literal["rrelu", "relu"] = "rrelu",
        use_edge_weight: bool = True,
        undirected: bool = True,
    ) -> None:
        super().__init__()
        _check(activation, hidden_dim=hidden_dim, layer_2_dim=layer_2_dim, cls_feats=cls_feats)
        n_out = self._setup(spec, use_edge_weight, undirected)
        d2 = layer_2_dim or hidden_dim
        self.gcn = SharedGCN(spec.num_features, hidden_dim, d2, activation)
        self.classifier = pair_classifier(d2, cls_feats, n_out)

    def node_embeddings(self, snapshots: list[Any]) -> Tensor:
        """``H_T^{(2)}`` of the last snapshot: [N, layer_2_dim]; the earlier snapshots are not read."""
        adjs, xs, _ = self._prepare(list(snapshots)[-1:])
        return self.gcn(adjs, xs)[-1]

    search_space = staticmethod(snapshot_search_space)


@register_model(
    "gcn_gru",
    task=("dynlink", "edge"),
    paper=_PAPER,
    url=_URL,
    summary="EvolveGCN's GCN-GRU baseline: a shared GCN per snapshot, a GRU over each node's embeddings",
)
class GCNGRU(SnapshotPairModel):
    """GCN-GRU: ``h_v = RNN(H_1^{(2)}[v], ..., H_T^{(2)}[v])[T]`` with the shared GCN at every step; MLP pair head.

    The RNN (``torch.nn.GRU`` or ``LSTM``, zero initial state) reads the sequence ``[T, N, layer_2_dim]`` with
    the nodes as the batch and returns its last output: [N, rnn_dim].

    Args:
        hidden_dim: width of GCN layer 1.
        layer_2_dim: width of GCN layer 2 (the RNN's input); None keeps it equal to hidden_dim.
        rnn_dim: hidden size of the RNN (the reference's ``lstm_l2_feats``); None keeps it equal to the
            layer-2 width (the reference's ``lstm_l2_feats_same_as_l1``).
        rnn_layers: stacked RNN layers (the reference's ``lstm_l2_layers``, 1).
        cell: ``gru`` (the paper's GCN-GRU, reference ``gruA``) or ``lstm`` (reference ``lstmA``).
        cls_feats: hidden width of the classifier MLP.
        activation: σ of both GCN layers: ``rrelu`` (reference code) or ``relu``.
        use_edge_weight: build Â from the snapshots' ``edge_weight`` (must be >= 0) instead of binary A.
        undirected: symmetrise each snapshot before the GCN normalisation (as EvolveGCN does).
    """

    def __init__(
        self,
        spec: DataSpec,
        *,
        hidden_dim: int = 100,
        layer_2_dim: int | None = None,
        rnn_dim: int | None = None,
        rnn_layers: int = 1,
        cell: Literal["gru", "lstm"] = "gru",
        cls_feats: int = 400,
        activation: Literal["rrelu", "relu"] = "rrelu",
        use_edge_weight: bool = True,
        undirected: bool = True,
    ) -> None:
        super().__init__()
        _check(activation, hidden_dim=hidden_dim, layer_2_dim=layer_2_dim, rnn_dim=rnn_dim,
               rnn_layers=rnn_layers, cls_feats=cls_feats)
        if cell not in ("gru", "lstm"):
            raise ConfigError(f"cell must be 'gru' or 'lstm', got {cell!r}")
        n_out = self._setup(spec, use_edge_weight, undirected)
        d2 = layer_2_dim or hidden_dim
        d_rnn = rnn_dim or d2
        self.gcn = SharedGCN(spec.num_features, hidden_dim, d2, activation)
        self.rnn = (nn.GRU if cell == "gru" else nn.LSTM)(input_size=d2, hidden_size=d_rnn, num_layers=rnn_layers)
        self.classifier = pair_classifier(d_rnn, cls_feats, n_out)

    def snapshot_embeddings(self, snapshots: list[Any]) -> Tensor:
        """The shared GCN's output at every snapshot: [T, N, layer_2_dim] (the RNN's input)."""
        adjs, xs, _ = self._prepare(list(snapshots))
        return torch.stack(self.gcn(adjs, xs))

    def node_embeddings(self, snapshots: list[Any]) -> Tensor:
        """The RNN's output after the last snapshot: [N, rnn_dim]."""
        out, _ = self.rnn(self.snapshot_embeddings(snapshots))
        return out[-1]

    search_space = staticmethod(_space_rnn)
