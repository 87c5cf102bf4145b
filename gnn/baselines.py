"""Static GNN baselines on PyTorch Geometric: GCN, GraphSAGE, GAT, GIN, MLP and GAE.

One module because they share all their plumbing (:class:`_StaticGNN`):

* ``spec.task == "node"``: the encoder's last layer emits ``C`` class logits,
  ``forward`` returns ``{"logit": [N, C]}``;
* ``spec.task == "link"``: the encoder emits ``hidden``-dim embeddings ``h`` and a
  :class:`LinkDecoder` scores ``batch.edge_label_index``, ``{"logit": [P]}``;
* GIN (``spec.task == "graph"``) pools per graph, ``{"logit": [G, C]}``.

Featureless graphs (``spec.num_features == 0``) get a learnable ``nn.Embedding(num_nodes, hidden)``
as input. Only pure-torch PyG paths are used (no torch-scatter / torch-sparse). Node classification on CPU
passes GCN and SAGE (sum/mean) a ``torch.sparse`` CSR adjacency, built once per graph: one sparse matrix
product per layer instead of a gather and a scatter over the edges (Tolokers, 1M edges: 10x faster, same outputs).
GCN, GAT, MLP and GAE take sparse CPU node features (Cora's are 1.3 % non-zero) as a sparse matrix, converted once
per graph, dropped out on their stored values and multiplied as a sparse product
(:func:`plexus.platform.nn.sparse_input`): the same function, without the dense dropout that was most of an epoch.
"""

from __future__ import annotations

import warnings
import weakref
from itertools import pairwise
from typing import Any, Literal

import torch
import torch.nn.functional as F
from plexus.platform.catalog import register_model
from plexus.platform.errors import ConfigError
from plexus.platform.nn import feature_dropout, sparse_input
from plexus.platform.spec import DataSpec
from torch import Tensor, nn
from torch_geometric.nn import GATConv, GCNConv, GINConv, SAGEConv, global_add_pool, global_mean_pool
from torch_geometric.nn.conv.gcn_conv import gcn_norm
from torch_geometric.utils import is_torch_sparse_tensor, to_torch_csr_tensor

__all__ = ["GAE", "GAT", "GCN", "GIN", "SAGE", "LinkDecoder", "MLPBaseline"]


class LinkDecoder(nn.Module):
    """Scores node pairs from embeddings ``h [N, d]`` and ``pairs [2, P]`` → ``[P]`` logits.

    ``dot``: ``s(u, v) = h_u · h_v`` (GAE's inner-product decoder).
    ``mlp``: ``s(u, v) = MLP(h_u ⊙ h_v)`` (OGB's ``LinkPredictor``: Linear → ReLU → dropout → Linear).
    """

    def __init__(self, kind: str, dim: int, hidden: int, dropout: float = 0.0) -> None:
        super().__init__()
        if kind not in ("dot", "mlp"):
            raise ConfigError(f"decoder must be 'dot' or 'mlp', got {kind!r}")
        self.kind = kind
        self.mlp = (nn.Sequential(nn.Linear(dim, hidden), nn.ReLU(), nn.Dropout(dropout), nn.Linear(hidden, 1))
                    if kind == "mlp" else None)

    def forward(self, h: Tensor, pairs: Tensor) -> Tensor:
        prod = h[pairs[0]] * h[pairs[1]]
        return prod.sum(-1) if self.mlp is None else self.mlp(prod).squeeze(-1)


def _search_common(trial: Any) -> dict[str, Any]:
    return {
        "hidden": trial.suggest_categorical("hidden", [32, 64, 128, 256]),
        "num_layers": trial.suggest_int("num_layers", 1, 3),
        "dropout": trial.suggest_float("dropout", 0.0, 0.7),
    }


def _graph_index(batch: Any, h: Tensor) -> tuple[Tensor, int]:
    """The graph id of each node row of ``h`` (``batch.batch``; all zeros for a single graph) and the graph count."""
    index = getattr(batch, "batch", None)
    if index is None:
        index = torch.zeros(h.size(0), dtype=torch.long, device=h.device)
    return index, int(getattr(batch, "num_graphs", int(index.max()) + 1 if index.numel() else 1))


class _StaticGNN(nn.Module):
    """Input handling and task heads shared by the node/link baselines."""

    TASKS: tuple[str, ...] = ("node", "link")
    sparse_adjacency = False  # the convolutions take a torch.sparse adjacency (PyG's spmm path)
    edge_weighted = True  # encode() uses batch.edge_weight (else the sparse adjacency is unweighted too)
    sparse_features = False  # the first layer takes a torch.sparse feature matrix (F.linear / GCNConv / GATConv do)

    def __init__(self, spec: DataSpec, hidden: int, dropout: float, decoder: str, name: str) -> None:
        super().__init__()
        if spec.task not in self.TASKS:
            raise ConfigError(f"model '{name}' serves task(s) {list(self.TASKS)}, not {spec.task!r}")
        if hidden < 1:
            raise ConfigError(f"model '{name}': hidden must be >= 1, got {hidden}")
        if not 0.0 <= dropout < 1.0:
            raise ConfigError(f"model '{name}': dropout must be in [0, 1), got {dropout}")
        self.task, self.dropout = spec.task, dropout
        if spec.task in ("node", "graph") and spec.num_classes < 1:
            raise ConfigError(f"model '{name}': {spec.task} classification needs spec.num_classes >= 1")
        self.node_emb: nn.Embedding | None = None
        if spec.num_features > 0:
            self.in_dim = spec.num_features
        elif spec.num_nodes > 0:  # featureless graph: learn one vector per node
            self.node_emb, self.in_dim = nn.Embedding(spec.num_nodes, hidden), hidden
        else:
            raise ConfigError(f"model '{name}': spec has neither node features nor num_nodes")
        self.out_dim = spec.num_classes if spec.task == "node" else hidden
        self.decoder = LinkDecoder(decoder, hidden, hidden, dropout) if spec.task == "link" else None
        # graph task: ReLU, mean readout over each graph's nodes, then a linear classifier
        self.graph_head = nn.Linear(hidden, spec.num_classes) if spec.task == "graph" else None
        self._adj: tuple[Any, ...] | None = None
        self._xs: tuple[Any, ...] | None = None

    def _x(self, batch: Any) -> Tensor:
        x = getattr(batch, "x", None)
        if self.node_emb is not None or x is None:
            if self.node_emb is None:
                raise ConfigError("batch has no node features 'x'")
            return self.node_emb.weight
        x = x.float()
        if not self.sparse_features or self.task == "graph":  # graph batches change every step: nothing to cache
            return x
        key = (x.data_ptr(), x._version, x.shape)
        if self._xs is None or self._xs[0] != key:
            self._xs = (key, sparse_input(x))
        return self._xs[1]

    def encode(self, x: Tensor, edge_index: Tensor, edge_weight: Tensor | None) -> Tensor:
        raise NotImplementedError

    def _graph(self, edge_index: Tensor, edge_weight: Tensor | None, n: int) -> tuple[Tensor, Tensor | None]:
        """Node task on CPU: ``(A, None)`` with ``A[dst, src]`` CSR (weights as values), else the inputs.

        Cached while the same ``edge_index`` (and weight) tensor comes back unmodified: a full-batch node task
        passes one graph every step. Graphs with self-loops keep the edge list, because GCN's sparse path adds
        a self-loop to every node where the edge-list path adds only the missing ones.
        """
        if not (self.sparse_adjacency and self.task == "node" and edge_index.device.type == "cpu"):
            return edge_index, edge_weight
        edge_weight = edge_weight if self.edge_weighted else None
        key = (n, edge_index._version, None if edge_weight is None else edge_weight._version)
        c = self._adj
        if c is None or c[0]() is not edge_index or c[1]() is not edge_weight or c[2] != key:
            adj = None
            if not bool((edge_index[0] == edge_index[1]).any()):
                with warnings.catch_warnings():  # torch's "CSR support is in beta" and invariant-check notes
                    warnings.simplefilter("ignore", UserWarning)
                    adj = self._prepare(to_torch_csr_tensor(edge_index.flip(0), edge_weight, size=(n, n)))
            c = self._adj = (weakref.ref(edge_index), (lambda: None) if edge_weight is None else weakref.ref(edge_weight),
                             key, adj)
        return (edge_index, edge_weight) if c[3] is None else (c[3], None)

    def _prepare(self, adj: Tensor) -> Tensor:
        """What the cache keeps of a graph's ``A[dst, src]`` CSR (a subclass may precompute its propagation)."""
        return adj

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_adj": None, "_xs": None}  # copies rebuild the caches: sparse tensors have no storage

    def forward(self, batch: Any) -> dict[str, Tensor]:
        x = self._x(batch)
        ei, ew = self._graph(batch.edge_index, getattr(batch, "edge_weight", None), x.size(0))
        h = self.encode(x, ei, ew)
        if self.graph_head is not None:
            index, size = _graph_index(batch, h)
            return {"logit": self.graph_head(global_mean_pool(F.relu(h), index, size))}
        if self.decoder is None:
            return {"logit": h}
        return {"logit": self.decoder(h, batch.edge_label_index)}


@register_model("gcn", task=("node", "link", "graph"), paper="Kipf & Welling, Semi-Supervised Classification with "
                "Graph Convolutional Networks, ICLR 2017", url="https://arxiv.org/abs/1609.02907",
                summary="Graph convolutional network (symmetric-normalised propagation)")
class GCN(_StaticGNN):
    """Graph Convolutional Network (Kipf & Welling, ICLR 2017).

    Layer: ``H^{l+1} = σ(D̃^{-1/2} Ã D̃^{-1/2} H^l W^l)`` with ``Ã = A + I``, ``D̃_ii = Σ_j Ã_ij``;
    ReLU between layers, dropout on every layer's input, no activation after the last.
    ``batch.edge_weight`` (if present) weights ``A``. x ``[N, F]`` → ``[N, C]`` (node), pair logits ``[P]``
    (link) or, for graph classification, ``W · mean_{v∈G} ReLU(h_v)`` → ``[G, C]`` (the GCN baseline of the
    TU benchmarks).

    Args:
        spec: data spec; ``spec.task`` is ``node``, ``link`` or ``graph``.
        hidden: hidden width (and embedding size for link prediction and graph readout).
        num_layers: number of graph convolutions.
        dropout: dropout probability on each layer's input.
        decoder: link decoder, ``dot`` (inner product) or ``mlp`` (MLP on the Hadamard product).
    """

    TASKS = ("node", "link", "graph")
    sparse_adjacency = True
    sparse_features = True

    def __init__(self, spec: DataSpec, *, hidden: int = 64, num_layers: int = 2, dropout: float = 0.5,
                 decoder: Literal["dot", "mlp"] = "dot") -> None:
        super().__init__(spec, hidden, dropout, decoder, "gcn")
        if num_layers < 1:
            raise ConfigError(f"model 'gcn': num_layers must be >= 1, got {num_layers}")
        dims = [self.in_dim] + [hidden] * (num_layers - 1) + [self.out_dim]
        # normalised here, not in each conv: a cached graph is normalised once, not twice per forward
        self.convs = nn.ModuleList(GCNConv(a, b, normalize=False) for a, b in pairwise(dims))

    def _prepare(self, adj: Tensor) -> Tensor:
        return gcn_norm(adj, None, adj.size(0))[0]  # D̃^{-1/2} (A + I) D̃^{-1/2}, once per cached graph

    def encode(self, x: Tensor, edge_index: Tensor, edge_weight: Tensor | None) -> Tensor:
        """``edge_index``: an edge list (normalised here) or the cache's CSR, already normalised by ``_prepare``."""
        if not is_torch_sparse_tensor(edge_index):
            edge_index, edge_weight = gcn_norm(edge_index, edge_weight, x.size(0), dtype=x.dtype)
        for i, conv in enumerate(self.convs):
            x = feature_dropout(x, self.dropout, self.training)
            x = conv(x, edge_index, edge_weight)
            if i < len(self.convs) - 1:
                x = F.relu(x)
        return x

    @staticmethod
    def search_space(trial: Any) -> dict[str, Any]:
        return _search_common(trial)


@register_model("sage", task=("node", "link"), paper="Hamilton, Ying & Leskovec, Inductive Representation "
                "Learning on Large Graphs, NeurIPS 2017", url="https://arxiv.org/abs/1706.02216",
                summary="GraphSAGE (full-neighbourhood, mean/max/sum aggregator)")
class SAGE(_StaticGNN):
    """GraphSAGE (Hamilton et al., NeurIPS 2017), full-batch.

    Layer: ``h_v^{l+1} = σ(W_1 h_v^l + W_2 AGG({h_u^l : u ∈ N(v)}) + b)`` — the paper's
    ``W · [h_v ‖ AGG]`` written as two matrices; optional ``ℓ2`` normalisation of the output.
    ReLU between layers, dropout on every layer's input. x ``[N, F]`` → ``[N, C]`` or ``[P]``.

    Args:
        spec: data spec; ``spec.task`` is ``node`` or ``link``.
        hidden: hidden width (and embedding size for link prediction).
        num_layers: number of SAGE layers.
        dropout: dropout probability on each layer's input.
        aggr: neighbourhood aggregator, ``mean`` | ``max`` | ``sum``.
        normalize: ℓ2-normalise each hidden layer's output (paper, Algorithm 1, line 7).
        decoder: link decoder, ``dot`` or ``mlp``.
    """

    edge_weighted = False

    def __init__(self, spec: DataSpec, *, hidden: int = 64, num_layers: int = 2, dropout: float = 0.5,
                 aggr: Literal["mean", "max", "sum"] = "mean", normalize: bool = False,
                 decoder: Literal["dot", "mlp"] = "dot") -> None:
        super().__init__(spec, hidden, dropout, decoder, "sage")
        if num_layers < 1:
            raise ConfigError(f"model 'sage': num_layers must be >= 1, got {num_layers}")
        self.normalize = normalize
        dims = [self.in_dim] + [hidden] * (num_layers - 1) + [self.out_dim]
        self.convs = nn.ModuleList(SAGEConv(a, b, aggr=aggr) for a, b in pairwise(dims))
        self.sparse_adjacency = aggr in ("mean", "sum")  # PyG's torch.sparse spmm reduces by sum/mean only

    def encode(self, x: Tensor, edge_index: Tensor, edge_weight: Tensor | None) -> Tensor:
        for i, conv in enumerate(self.convs):
            x = F.dropout(x, self.dropout, self.training)
            x = conv(x, edge_index)
            if i < len(self.convs) - 1:
                x = F.relu(x)
                if self.normalize:
                    x = F.normalize(x, p=2.0, dim=-1)
        return x

    @staticmethod
    def search_space(trial: Any) -> dict[str, Any]:
        d = _search_common(trial)
        d["aggr"] = trial.suggest_categorical("aggr", ["mean", "max", "sum"])
        return d


@register_model("gat", task=("node", "link"), paper="Veličković et al., Graph Attention Networks, ICLR 2018",
                url="https://arxiv.org/abs/1710.10903", summary="Graph attention network (multi-head)")
class GAT(_StaticGNN):
    """Graph Attention Network (Veličković et al., ICLR 2018).

    ``α_ij = softmax_j(LeakyReLU_0.2(a^T [W h_i ‖ W h_j]))`` over ``j ∈ N(i) ∪ {i}``,
    ``h_i' = ‖_{k=1..K} ELU(Σ_j α_ij^k W^k h_j)`` on hidden layers (heads concatenated);
    the last layer averages ``out_heads`` heads. Dropout ``dropout`` on every layer's input
    and on the attention coefficients. x ``[N, F]`` → ``[N, C]`` or ``[P]``.

    Args:
        spec: data spec; ``spec.task`` is ``node`` or ``link``.
        hidden: features per head on hidden layers (paper: 8).
        num_layers: number of attention layers.
        heads: attention heads on hidden layers (paper: 8).
        out_heads: heads averaged on the output layer (paper: 1; 8 for PubMed).
        dropout: dropout on layer inputs and attention coefficients (paper: 0.6).
        decoder: link decoder, ``dot`` or ``mlp`` (link embeddings have ``hidden`` dims).
    """

    sparse_features = True

    def __init__(self, spec: DataSpec, *, hidden: int = 8, num_layers: int = 2, heads: int = 8,
                 out_heads: int = 1, dropout: float = 0.6, decoder: Literal["dot", "mlp"] = "dot") -> None:
        super().__init__(spec, hidden, dropout, decoder, "gat")
        if num_layers < 1 or heads < 1 or out_heads < 1:
            raise ConfigError("model 'gat': num_layers, heads and out_heads must be >= 1")
        convs = []
        d = self.in_dim
        for _ in range(num_layers - 1):
            convs.append(GATConv(d, hidden, heads=heads, dropout=dropout))
            d = hidden * heads
        convs.append(GATConv(d, self.out_dim, heads=out_heads, concat=False, dropout=dropout))
        self.convs = nn.ModuleList(convs)

    def encode(self, x: Tensor, edge_index: Tensor, edge_weight: Tensor | None) -> Tensor:
        for i, conv in enumerate(self.convs):
            x = feature_dropout(x, self.dropout, self.training)
            x = conv(x, edge_index)
            if i < len(self.convs) - 1:
                x = F.elu(x)
        return x

    @staticmethod
    def search_space(trial: Any) -> dict[str, Any]:
        return {
            "hidden": trial.suggest_categorical("hidden", [8, 16, 32, 64]),
            "heads": trial.suggest_categorical("heads", [1, 2, 4, 8]),
            "num_layers": trial.suggest_int("num_layers", 1, 3),
            "dropout": trial.suggest_float("dropout", 0.0, 0.7),
        }


@register_model("mlp", task="node", summary="Feature-only MLP baseline (ignores the graph)")
class MLPBaseline(_StaticGNN):
    """Feature-only multilayer perceptron: ``logit = W_L σ(… σ(W_1 x + b_1) …) + b_L``.

    Ignores ``edge_index``; the reference point that shows what the graph adds.
    x ``[N, F]`` → ``[N, C]``.

    Args:
        spec: data spec with ``task == "node"``.
        hidden: hidden width.
        num_layers: number of linear layers.
        dropout: dropout probability on each layer's input.
    """

    TASKS = ("node",)
    sparse_features = True

    def __init__(self, spec: DataSpec, *, hidden: int = 64, num_layers: int = 2, dropout: float = 0.5) -> None:
        super().__init__(spec, hidden, dropout, "dot", "mlp")
        if num_layers < 1:
            raise ConfigError(f"model 'mlp': num_layers must be >= 1, got {num_layers}")
        dims = [self.in_dim] + [hidden] * (num_layers - 1) + [self.out_dim]
        self.lins = nn.ModuleList(nn.Linear(a, b) for a, b in pairwise(dims))

    def encode(self, x: Tensor, edge_index: Tensor, edge_weight: Tensor | None) -> Tensor:
        for i, lin in enumerate(self.lins):
            x = lin(feature_dropout(x, self.dropout, self.training))
            if i < len(self.lins) - 1:
                x = F.relu(x)
        return x

    @staticmethod
    def search_space(trial: Any) -> dict[str, Any]:
        return _search_common(trial)


@register_model("gae", task="link", paper="Kipf & Welling, Variational Graph Auto-Encoders, NeurIPS BDL "
                "workshop 2016", url="https://arxiv.org/abs/1611.07308",
                summary="Graph auto-encoder: GCN encoder + inner-product decoder")
class GAE(_StaticGNN):
    """Graph auto-encoder (Kipf & Welling, 2016), the NCN paper's GAE baseline.

    Encoder ``Z = Â ReLU(Â X W_0) W_1`` (``Â = D̃^{-1/2}(A+I)D̃^{-1/2}``, ``num_layers`` GCN layers),
    decoder ``s(u, v) = z_u · z_v`` (logit of ``σ(Z Zᵀ)``). x ``[N, F]`` → pair logits ``[P]``.

    Args:
        spec: data spec with ``task == "link"``.
        hidden: width of the hidden GCN layers.
        out_dim: embedding size ``z`` (paper: 16).
        num_layers: number of GCN layers.
        dropout: dropout on each layer's input (paper: 0).
    """

    TASKS = ("link",)
    sparse_features = True

    def __init__(self, spec: DataSpec, *, hidden: int = 32, out_dim: int = 16, num_layers: int = 2,
                 dropout: float = 0.0) -> None:
        super().__init__(spec, hidden, dropout, "dot", "gae")
        if num_layers < 1 or out_dim < 1:
            raise ConfigError("model 'gae': num_layers and out_dim must be >= 1")
        dims = [self.in_dim] + [hidden] * (num_layers - 1) + [out_dim]
        self.convs = nn.ModuleList(GCNConv(a, b) for a, b in pairwise(dims))

    encode = GCN.encode

    @staticmethod
    def search_space(trial: Any) -> dict[str, Any]:
        return {
            "hidden": trial.suggest_categorical("hidden", [32, 64, 128, 256]),
            "out_dim": trial.suggest_categorical("out_dim", [16, 32, 64, 128]),
            "num_layers": trial.suggest_int("num_layers", 1, 3),
            "dropout": trial.suggest_float("dropout", 0.0, 0.5),
        }


@register_model("gin", task="graph", paper="Xu, Hu, Leskovec & Jegelka, How Powerful are Graph Neural "
                "Networks?, ICLR 2019", url="https://arxiv.org/abs/1810.00826",
                summary="Graph isomorphism network with sum readout over all layers")
class GIN(nn.Module):
    """Graph Isomorphism Network (Xu et al., ICLR 2019) for graph classification.

    Layer (eq. 4.1): ``h_v^{k} = MLP^{k}((1 + ε^{k}) h_v^{k-1} + Σ_{u∈N(v)} h_u^{k-1})`` with a 2-layer
    MLP (Linear → BN → ReLU → Linear), followed by BN and ReLU as in the reference code.
    Readout (eq. 4.2): ``h_G = ‖_{k=0..K} READOUT({h_v^{k}})``; the classifier ``W h_G`` is computed as
    ``Σ_k Linear_k(dropout(READOUT(h^k)))`` (the same thing, as in the code). READOUT is a sum.
    Batch ``x [N, F]``, ``edge_index``, ``batch [N]`` → ``[G, C]``.

    Args:
        spec: data spec with ``task == "graph"``.
        hidden: hidden width (paper: 16 or 32; reference code: 64).
        num_layers: number of GIN layers ``K`` (paper: 5 layers including the input, i.e. 4).
        dropout: dropout on each pooled representation before its classifier (paper: 0 or 0.5).
        train_eps: learn ε (GIN-ε) instead of fixing ε = 0 (GIN-0).
        readout: graph pooling, ``sum`` (paper) or ``mean``.
    """

    def __init__(self, spec: DataSpec, *, hidden: int = 64, num_layers: int = 4, dropout: float = 0.5,
                 train_eps: bool = False, readout: Literal["sum", "mean"] = "sum") -> None:
        super().__init__()
        if spec.task != "graph":
            raise ConfigError(f"model 'gin' serves task 'graph', not {spec.task!r}")
        if spec.num_features < 1 or spec.num_classes < 1:
            raise ConfigError("model 'gin' needs spec.num_features >= 1 and spec.num_classes >= 1")
        if num_layers < 1 or hidden < 1:
            raise ConfigError("model 'gin': num_layers and hidden must be >= 1")
        self.dropout = dropout
        self.pool = global_add_pool if readout == "sum" else global_mean_pool
        self.convs, self.norms = nn.ModuleList(), nn.ModuleList()
        d = spec.num_features
        for _ in range(num_layers):
            mlp = nn.Sequential(nn.Linear(d, hidden), nn.BatchNorm1d(hidden), nn.ReLU(), nn.Linear(hidden, hidden))
            self.convs.append(GINConv(mlp, train_eps=train_eps))
            self.norms.append(nn.BatchNorm1d(hidden))
            d = hidden
        self.heads = nn.ModuleList(
            [nn.Linear(spec.num_features, spec.num_classes)]
            + [nn.Linear(hidden, spec.num_classes) for _ in range(num_layers)]
        )

    def forward(self, batch: Any) -> dict[str, Tensor]:
        x, edge_index = batch.x.float(), batch.edge_index
        index, size = _graph_index(batch, x)
        hs = [x]
        for conv, norm in zip(self.convs, self.norms):
            x = F.relu(norm(conv(x, edge_index)))
            hs.append(x)
        logit = sum(head(F.dropout(self.pool(h, index, size), self.dropout, self.training))
                    for head, h in zip(self.heads, hs))
        return {"logit": logit}

    @staticmethod
    def search_space(trial: Any) -> dict[str, Any]:
        return {
            "hidden": trial.suggest_categorical("hidden", [16, 32, 64]),
            "num_layers": trial.suggest_int("num_layers", 2, 5),
            "dropout": trial.suggest_categorical("dropout", [0.0, 0.5]),
            "train_eps": trial.suggest_categorical("train_eps", [False, True]),
        }
