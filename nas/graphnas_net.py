"""A GNN decoded from a GraphNAS architecture (the model every NAS controller trains).

Layer ``l`` (``h^0 = x``)::

    z   = NASConv_l(dropout(h^{l-1}))              # attention, aggregator, heads, width, combine
    z   = z + R_l h^{l-1}    (skip = residual; R_l = I or a bias-free linear map)
    h^l = act_l(z)

The last layer has ``num_classes`` outputs per head and averages its heads
(GraphNAS); its activation is searched like the others (``linear`` = identity).
``forward(data) -> {"logit": [N, C]}``. Sparse CPU features (Cora's are 1.3 % non-zero) enter the
first layer as a sparse matrix, dropped out on their stored values (:func:`plexus.platform.nn.sparse_input`).
"""

from __future__ import annotations

from typing import Any

import torch
from plexus.nas.layers import NASConv
from plexus.nas.spaces.graphnas import Architecture, GraphNASSpace
from plexus.platform.catalog import register_model
from plexus.platform.errors import ConfigError
from plexus.platform.nn import activation, feature_dropout, matmul, sparse_input
from plexus.platform.spec import DataSpec
from torch import Tensor, nn

__all__ = ["GraphNASNet", "NASBlock"]


class NASBlock(nn.Module):
    """One decoded layer: ``conv`` (:class:`NASConv`), optional ``res`` (skip) and the activation name."""

    def __init__(self, in_dim: int, out_dim: int, heads: int, attention: str, aggregator: str, act: str,
                 concat: bool, skip: str, att_dropout: float) -> None:
        super().__init__()
        self.conv = NASConv(in_dim, out_dim, heads, attention, aggregator, concat=concat, dropout=att_dropout)
        self.act_name = act
        self.act = activation(act)
        width = self.conv.out_channels
        self.res: nn.Module | None = None
        if skip == "residual":
            self.res = nn.Identity() if in_dim == width else nn.Linear(in_dim, width, bias=False)

    def forward(self, h: Tensor, edge_index: Tensor) -> Tensor:
        z = self.conv(h, edge_index)
        if isinstance(self.res, nn.Linear):
            z = z + matmul(h, self.res.weight.t())
        elif self.res is not None:
            z = z + (h.to_dense() if h.is_sparse else h)
        return self.act(z)


@register_model("graphnas_net", task="node", paper="Auto-GNN: Neural Architecture Search of Graph Neural Networks",
                url="https://arxiv.org/abs/1909.03184",
                summary="GNN decoded from a GraphNAS/Auto-GNN architecture (JSON), trained by plexus nas")
class GraphNASNet(nn.Module):
    """GNN decoded from a GraphNAS architecture description.

    Args:
        arch: the architecture as JSON (``Architecture.to_json()``); empty = the GAT-like default
            (2 layers: gat, sum, elu, 8 heads x 8 concatenated; then 1 head to the classes).
        dropout: dropout on each layer's input and on attention coefficients (GraphNAS: 0.6).
        emb_dim: width of the learnt node embedding used when the graph has no features.
    """

    def __init__(self, spec: DataSpec, *, arch: str = "", dropout: float = 0.6, emb_dim: int = 64) -> None:
        super().__init__()
        if spec.task != "node":
            raise ConfigError(f"model 'graphnas_net' serves task 'node', not {spec.task!r}")
        if spec.num_classes < 1:
            raise ConfigError("model 'graphnas_net' needs spec.num_classes >= 1")
        if not 0.0 <= dropout < 1.0:
            raise ConfigError(f"model 'graphnas_net': dropout must be in [0, 1), got {dropout}")
        self.arch = Architecture.from_json(arch) if arch else GraphNASSpace(2).default()
        self.dropout = dropout
        self.node_emb: nn.Embedding | None = None
        in_dim = spec.num_features
        if in_dim <= 0:
            if spec.num_nodes <= 0:
                raise ConfigError("model 'graphnas_net' needs node features or spec.num_nodes")
            self.node_emb, in_dim = nn.Embedding(spec.num_nodes, emb_dim), emb_dim
        self.layers = nn.ModuleList()
        last = len(self.arch.layers) - 1
        for i, la in enumerate(self.arch.layers):
            out = spec.num_classes if i == last else int(la.hidden)
            block = NASBlock(in_dim, out, la.heads, la.attention, la.aggregator, la.activation,
                             concat=(i != last and la.combine == "concat"), skip=la.skip, att_dropout=dropout)
            self.layers.append(block)
            in_dim = block.conv.out_channels
        self._sparse_x: tuple[tuple[int, int, torch.Size], Tensor] | None = None

    @staticmethod
    def search_space(trial: Any) -> dict[str, Any]:
        return {"arch": GraphNASSpace(2).suggest(trial).to_json(),
                "dropout": trial.suggest_float("dropout", 0.2, 0.7)}

    def _input(self, x: Tensor) -> Tensor:
        """``x``, or its sparse form, converted once per feature matrix (keyed on storage, version, shape)."""
        key = (x.data_ptr(), x._version, x.shape)
        if self._sparse_x is None or self._sparse_x[0] != key:
            self._sparse_x = (key, sparse_input(x))
        return self._sparse_x[1]

    def forward(self, data: Any) -> dict[str, Any]:
        h = self.node_emb.weight if self.node_emb is not None else self._input(data.x)
        for block in self.layers:
            h = feature_dropout(h, self.dropout, self.training)
            h = block(h, data.edge_index)
        return {"logit": h}
