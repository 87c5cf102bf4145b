"""GraphSAGE written against DGL's API (``dgl.nn.SAGEConv``): the reference DGL-backend plugin.

Importing this module imports DGL through :mod:`plexus.platform.backends.dgl`; when
DGL is missing or broken the import fails and the catalog lists ``sage_dgl`` as
broken with that reason (the other models are unaffected).
"""

from __future__ import annotations

from itertools import pairwise
from typing import Any, Literal

import torch.nn.functional as F
from plexus.gnn.baselines import _StaticGNN
from plexus.platform.backends.dgl import import_dgl, to_dgl
from plexus.platform.catalog import register_model
from plexus.platform.errors import ConfigError
from plexus.platform.spec import DataSpec
from torch import Tensor, nn

dgl = import_dgl()
from dgl.nn import SAGEConv

__all__ = ["SAGEDGL"]


@register_model("sage_dgl", task="node", backend="dgl", paper="Hamilton, Ying & Leskovec, Inductive "
                "Representation Learning on Large Graphs, NeurIPS 2017", url="https://arxiv.org/abs/1706.02216",
                summary="GraphSAGE on the DGL backend (dgl.nn.SAGEConv)")
class SAGEDGL(_StaticGNN):
    """GraphSAGE (Hamilton et al., NeurIPS 2017) on DGL, full-batch node classification.

    Layer: ``h_v^{l+1} = σ(W_self h_v^l + W_neigh AGG({h_u^l : u ∈ N_in(v)}) + b)``
    (``dgl.nn.SAGEConv``; the paper's ``W·[h_v ‖ AGG]`` split in two matrices), ReLU between layers,
    dropout on every layer's input. The PyG batch is converted with
    :func:`plexus.platform.backends.dgl.to_dgl` (same edge direction: ``edge_index[0] → edge_index[1]``).
    Numerically equal to the PyG :class:`plexus.gnn.baselines.SAGE` with the same aggregator and weights.
    x ``[N, F]`` → ``{"logit": [N, C]}``.

    Args:
        spec: data spec with ``task == "node"``.
        hidden: hidden width.
        num_layers: number of SAGE layers.
        dropout: dropout probability on each layer's input.
        aggr: DGL aggregator, ``mean`` | ``pool`` (max-pooling with an MLP) | ``gcn`` | ``lstm``.
    """

    TASKS = ("node",)

    def __init__(self, spec: DataSpec, *, hidden: int = 64, num_layers: int = 2, dropout: float = 0.5,
                 aggr: Literal["mean", "pool", "gcn", "lstm"] = "mean") -> None:
        super().__init__(spec, hidden, dropout, "dot", "sage_dgl")
        if num_layers < 1:
            raise ConfigError(f"model 'sage_dgl': num_layers must be >= 1, got {num_layers}")
        dims = [self.in_dim] + [hidden] * (num_layers - 1) + [self.out_dim]
        self.convs = nn.ModuleList(SAGEConv(a, b, aggr) for a, b in pairwise(dims))

    def forward(self, batch: Any) -> dict[str, Tensor]:
        g = to_dgl(batch)
        x = self._x(batch)
        for i, conv in enumerate(self.convs):
            x = conv(g, F.dropout(x, self.dropout, self.training))
            if i < len(self.convs) - 1:
                x = F.relu(x)
        return {"logit": x}

    @staticmethod
    def search_space(trial: Any) -> dict[str, Any]:
        return {
            "hidden": trial.suggest_categorical("hidden", [32, 64, 128, 256]),
            "num_layers": trial.suggest_int("num_layers", 1, 3),
            "dropout": trial.suggest_float("dropout", 0.0, 0.7),
            "aggr": trial.suggest_categorical("aggr", ["mean", "pool", "gcn"]),
        }
