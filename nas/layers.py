"""GraphNAS operators: one message-passing layer implementing every attention function.

For node ``i`` with neighbours ``j`` (self loops added), per head ``k`` and
``x = W h`` (the shared linear map, ``[N, H, C]``), GraphNAS' attention functions are:

* ``const``: ``e_ij = 1``;
* ``gcn``: ``e_ij = 1 / sqrt(d_i d_j)`` (symmetric normalisation of ``A + I``);
* ``gat``: ``e_ij = LeakyReLU(a_l·x_i + a_r·x_j)`` (``= a^T [x_i || x_j]``);
* ``sym-gat``: ``e_ij = gat(i, j) + gat(j, i)``;
* ``cos``: ``e_ij = <a_l ∘ x_i, a_r ∘ x_j>``;
* ``linear``: ``e_ij = tanh(a_l·x_j + a_r·x_j)``;
* ``generalized-linear``: ``e_ij = w_g^T tanh(a_l ∘ x_i + a_r ∘ x_j)``.

All but ``const`` and ``gcn`` are softmax-normalised over each node's neighbours
(:func:`torch_geometric.utils.softmax`), then dropped out like GAT's coefficients.
Messages are ``e_ij x_j``; aggregators ``sum`` | ``mean`` | ``max`` | ``mlp``.
As in GraphNAS' ``GeoLayer``, the ``mean``, ``max`` and ``mlp`` aggregators pass each
message through a pooling MLP (``C -> pool_dim -> C``) first; ``mlp`` then sums.
Only pure-torch PyG paths are used.

Two paths compute the same function faster on CPU (a child is trained 200 epochs, so they decide
what a search costs): a sparse input ``x`` (a ``torch.sparse_coo`` matrix, see
:func:`plexus.platform.nn.sparse_input`) is multiplied by ``W`` as a sparse product, and
``const``/``gcn`` attention with the ``sum`` aggregator, whose coefficient is the same for every head, is one sparse product
``A_e [N, N] @ xW [N, H*C]`` instead of ``E x H x C`` gathered messages. Measured on Cora
(1 thread, forward + backward, 2026-12-05): the input product 1,098 -> 184 ms at 16 x 256 outputs
and 62 -> 5 ms at 8 x 8; the propagation 743 -> 82 ms at 16 x 256 and 22 -> 4 ms at 4 x 64.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from plexus.platform.errors import ConfigError
from plexus.platform.nn import matmul
from torch import Tensor, nn
from torch_geometric.nn import MessagePassing
from torch_geometric.nn.inits import glorot, zeros
from torch_geometric.utils import add_self_loops, degree, remove_self_loops, softmax

__all__ = ["SOFTMAX_ATTENTIONS", "NASConv"]

SOFTMAX_ATTENTIONS = ("gat", "sym-gat", "cos", "linear", "generalized-linear")
_AGGR = {"sum": "add", "mean": "mean", "max": "max", "mlp": "add"}
class NASConv(MessagePassing):
    """A GraphNAS layer: ``[N, in_dim] -> [N, heads*out_dim]`` (concat) or ``[N, out_dim]`` (mean of heads).

    Args:
        in_dim: input width.
        out_dim: width per head ``C``.
        heads: attention heads ``H``.
        attention: one of ``const, gcn, gat, sym-gat, cos, linear, generalized-linear``.
        aggregator: ``sum`` | ``mean`` | ``max`` | ``mlp``.
        concat: concatenate heads (else average them).
        dropout: dropout on the normalised attention coefficients.
        negative_slope: LeakyReLU slope of ``gat``/``sym-gat``.
        pool_dim: hidden width of the message MLP of ``mean``/``max``/``mlp`` aggregators.
    """

    def __init__(self, in_dim: int, out_dim: int, heads: int = 1, attention: str = "gat", aggregator: str = "sum",
                 concat: bool = True, dropout: float = 0.0, negative_slope: float = 0.2, pool_dim: int = 128) -> None:
        if attention not in ("const", "gcn", *SOFTMAX_ATTENTIONS):
            raise ConfigError(f"unknown attention {attention!r}")
        if aggregator not in _AGGR:
            raise ConfigError(f"unknown aggregator {aggregator!r}; choose from {list(_AGGR)}")
        super().__init__(aggr=_AGGR[aggregator], node_dim=0)
        self.in_dim, self.out_dim, self.heads = in_dim, out_dim, heads
        self.attention, self.aggregator, self.concat = attention, aggregator, concat
        self.dropout, self.negative_slope = dropout, negative_slope
        self.weight = nn.Parameter(torch.empty(in_dim, heads * out_dim))
        self.att_l = nn.Parameter(torch.empty(1, heads, out_dim))
        self.att_r = nn.Parameter(torch.empty(1, heads, out_dim))
        self.bias = nn.Parameter(torch.empty(heads * out_dim if concat else out_dim))
        self.gen_att = nn.Linear(out_dim, 1, bias=False) if attention == "generalized-linear" else None
        self.pool = (nn.Sequential(nn.Linear(out_dim, pool_dim), nn.ReLU(), nn.Linear(pool_dim, out_dim))
                     if aggregator in ("mean", "max", "mlp") else None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        glorot(self.weight)
        glorot(self.att_l)
        glorot(self.att_r)
        zeros(self.bias)
        if self.gen_att is not None:
            glorot(self.gen_att.weight)
        if self.pool is not None:
            for m in self.pool:
                if isinstance(m, nn.Linear):
                    glorot(m.weight)
                    zeros(m.bias)

    @property
    def out_channels(self) -> int:
        return self.heads * self.out_dim if self.concat else self.out_dim

    def _scores(self, xi: Tensor, xj: Tensor) -> Tensor:
        """Unnormalised ``e_ij`` per head: ``[E, H, C] x [E, H, C] -> [E, H]``."""
        al, ar = self.att_l, self.att_r
        a = self.attention
        if a == "gat":
            return F.leaky_relu((xi * al).sum(-1) + (xj * ar).sum(-1), self.negative_slope)
        if a == "sym-gat":
            return (F.leaky_relu((xi * al).sum(-1) + (xj * ar).sum(-1), self.negative_slope)
                    + F.leaky_relu((xj * al).sum(-1) + (xi * ar).sum(-1), self.negative_slope))
        if a == "cos":
            return (xi * al * xj * ar).sum(-1)
        if a == "linear":
            return torch.tanh((xj * al).sum(-1) + (xj * ar).sum(-1))
        assert self.gen_att is not None  # generalized-linear
        return self.gen_att(torch.tanh(xi * al + xj * ar)).squeeze(-1)

    def coefficients(self, x: Tensor, edge_index: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """``(x W [N,H,C], edge_index with self loops [2,E], e_ij [E,H])``; messages flow ``j=ei[0] -> i=ei[1]``."""
        n = x.size(0)
        edge_index, _ = remove_self_loops(edge_index)
        edge_index, _ = add_self_loops(edge_index, num_nodes=n)
        xw = matmul(x, self.weight).view(n, self.heads, self.out_dim)
        src, dst = edge_index
        if self.attention == "const":
            alpha = xw.new_ones(edge_index.size(1), self.heads)
        elif self.attention == "gcn":
            deg = degree(dst, n, dtype=xw.dtype)
            dis = deg.pow(-0.5).masked_fill(deg == 0, 0.0)
            alpha = (dis[src] * dis[dst]).unsqueeze(-1).expand(-1, self.heads)
        else:
            alpha = softmax(self._scores(xw[dst], xw[src]), dst, num_nodes=n)
        return xw, edge_index, alpha

    def forward(self, x: Tensor, edge_index: Tensor) -> Tensor:
        xw, edge_index, alpha = self.coefficients(x, edge_index)
        n = x.size(0)
        if self.attention in SOFTMAX_ATTENTIONS:
            alpha = F.dropout(alpha, p=self.dropout, training=self.training)
        if self.pool is None and self.attention in ("const", "gcn"):  # one coefficient for all heads
            adj = torch.sparse_coo_tensor(edge_index.flip(0), alpha[:, 0], (n, n), check_invariants=True).coalesce()
            out = torch.sparse.mm(adj, xw.reshape(n, -1)).view(n, self.heads, self.out_dim)
        else:
            out = self.propagate(edge_index, x=xw, alpha=alpha, size=(n, n))
        out = out.reshape(n, self.heads * self.out_dim) if self.concat else out.mean(dim=1)
        return out + self.bias

    def message(self, x_j: Tensor, alpha: Tensor) -> Tensor:
        msg = x_j * alpha.unsqueeze(-1)
        return self.pool(msg) if self.pool is not None else msg

    def __repr__(self) -> str:
        return (f"{type(self).__name__}({self.in_dim}, {self.out_dim}, heads={self.heads}, att={self.attention}, "
                f"agg={self.aggregator}, concat={self.concat})")
