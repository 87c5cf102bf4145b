"""DeepFM and Wide & Deep: the two classic "shallow + deep" CTR baselines."""

from __future__ import annotations

from typing import Any

import torch
from plexus.platform.catalog import register_model
from plexus.platform.nn import MLP
from plexus.platform.spec import DataSpec
from plexus.recsys.baselines import FM, _dims
from plexus.recsys.layers import Activation, FieldEmbedding
from torch import Tensor, nn

__all__ = ["DeepFM", "WideDeep"]


def _deep_space(trial: Any) -> dict[str, Any]:
    width = trial.suggest_categorical("width", [64, 128, 256, 400])
    depth = trial.suggest_int("depth", 1, 3)
    return {
        "embed_dim": trial.suggest_categorical("embed_dim", [8, 16, 32]),
        "hidden": (width,) * depth,
        "dropout": trial.suggest_float("dropout", 0.0, 0.5),
    }


@register_model("deepfm", task="ctr", paper="Guo et al., DeepFM: A Factorization-Machine based Neural Network for "
                "CTR Prediction, IJCAI 2017", url="https://arxiv.org/abs/1703.04247",
                summary="FM and an MLP over one shared embedding, logits summed.")
class DeepFM(nn.Module):
    """DeepFM (Guo et al., 2017).

    ŷ = σ(y_FM + y_DNN), with y_FM = w_0 + Σ_f w_f + Σ_{f<g} ⟨v_f, v_g⟩ and
    y_DNN = MLP([v_1 ‖ … ‖ v_F]): the FM component and the deep component read
    the *same* field embeddings v_f (the paper's shared input, no pre-training).

    Args:
        embed_dim: latent dimension k of the shared embeddings.
        hidden: hidden layer sizes of the deep component.
        activation: hidden activation.
        dropout: dropout after each hidden layer.
        batch_norm: BatchNorm1d in the hidden layers.

    Shapes: batch fields as in :mod:`plexus.platform.spec`; ``{"logit": [B]}``.
    """

    def __init__(self, spec: DataSpec, *, embed_dim: int = 16, hidden: tuple[int, ...] = (400, 400, 400),
                 activation: Activation = "relu", dropout: float = 0.0, batch_norm: bool = False) -> None:
        super().__init__()
        self.linear = FieldEmbedding(spec, 1)
        self.embedding = FieldEmbedding(spec, embed_dim)
        self.bias = nn.Parameter(torch.zeros(()))
        n = len(self.embedding.flat_names())
        self.mlp = MLP([n * embed_dim, *_dims(hidden, "deepfm")], activation, dropout, batch_norm)
        self.out = nn.Linear(self.mlp.out_dim, 1)

    def fm_logit(self, batch: dict[str, Tensor], v: Tensor) -> Tensor:
        return self.linear.flat(batch).sum((1, 2)) + self.bias + FM.pairwise(v)

    def forward(self, batch: dict[str, Tensor]) -> dict[str, Tensor]:
        v = self.embedding.flat(batch)
        deep = self.out(self.mlp(v.flatten(1))).squeeze(-1)
        return {"logit": self.fm_logit(batch, v) + deep}

    search_space = staticmethod(_deep_space)


@register_model("wide_deep", task="ctr", paper="Cheng et al., Wide & Deep Learning for Recommender Systems, "
                "DLRS 2016", url="https://arxiv.org/abs/1606.07792",
                summary="A wide linear model and an embedding MLP, trained jointly.")
class WideDeep(nn.Module):
    """Wide & Deep (Cheng et al., 2016).

    ŷ = σ(w_wide^T [x, φ(x)] + w_deep^T a^{(l_f)} + b): the wide part is a linear
    model over the sparse features (one weight per feature value; with
    ``cross=True`` also the pairwise cross-product transformations φ(x) of the
    categorical fields, hashed into ``cross_buckets`` weights), the deep part an
    MLP over field embeddings; both are trained jointly on one loss.

    Args:
        embed_dim: embedding dimension of the deep part.
        hidden: hidden layer sizes of the deep part.
        activation: hidden activation.
        dropout: dropout after each hidden layer.
        cross: add hashed pairwise cross-product features to the wide part.
        cross_buckets: number of hash buckets for the crosses.
    """

    def __init__(self, spec: DataSpec, *, embed_dim: int = 16, hidden: tuple[int, ...] = (1024, 512, 256),
                 activation: Activation = "relu", dropout: float = 0.0, cross: bool = False,
                 cross_buckets: int = 100_003) -> None:
        super().__init__()
        self.wide = FieldEmbedding(spec, 1)
        self.cats = [f.name for f in spec.fields_of("categorical")]
        self.cross = cross and len(self.cats) > 1
        if self.cross:
            self.cross_weight = nn.Embedding(cross_buckets, 1)
            nn.init.zeros_(self.cross_weight.weight)
        self.embedding = FieldEmbedding(spec, embed_dim)
        n = len(self.embedding.flat_names())
        self.mlp = MLP([n * embed_dim, *_dims(hidden, "wide_deep")], activation, dropout, False)
        self.out = nn.Linear(self.mlp.out_dim, 1)
        self.bias = nn.Parameter(torch.zeros(()))

    def wide_logit(self, batch: dict[str, Tensor]) -> Tensor:
        logit = self.wide.flat(batch).sum((1, 2)) + self.bias
        if self.cross:
            ids = torch.stack([batch[c] for c in self.cats], 1)
            i, j = torch.triu_indices(len(self.cats), len(self.cats), 1, device=ids.device)
            # a distinct hash per (field pair, value pair); collisions only across buckets
            h = (ids[:, i] * 1_000_003 + ids[:, j] * 97 + (i * len(self.cats) + j)) % self.cross_weight.num_embeddings
            logit = logit + self.cross_weight(h).sum((1, 2))
        return logit

    def forward(self, batch: dict[str, Tensor]) -> dict[str, Tensor]:
        deep = self.out(self.mlp(self.embedding.flat(batch).flatten(1))).squeeze(-1)
        return {"logit": self.wide_logit(batch) + deep}

    search_space = staticmethod(_deep_space)
