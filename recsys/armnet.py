"""ARM-Net and ARM-Net+ (Cai et al., SIGMOD 2021): adaptive relation modeling with exponential neurons."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, Literal

import torch
from plexus.platform.catalog import register_model
from plexus.platform.errors import ConfigError
from plexus.platform.explain import GlobalAttribution, RowExplanation
from plexus.platform.nn import MLP
from plexus.platform.spec import DataSpec
from plexus.recsys._explain import explain_armnet, global_armnet
from plexus.recsys.layers import FieldEmbedding, entmax
from torch import Tensor, nn

__all__ = ["ARMNet", "ARMNetPlus", "ExponentialNeurons"]

_PAPER = ("ARM-Net: Adaptive Relation Modeling Network for Structured Data "
          "(Cai, Zheng, Chen, Jagadish, Ooi, Zhang; SIGMOD 2021)")
_URL = "https://arxiv.org/abs/2107.01830"


class ExponentialNeurons(nn.Module):
    """Multi-head gated sparse attention + exponential neurons (ARM-Net eqs. 3–6).

    For head k and neuron i (of o), over the m field embeddings e_j ∈ R^{n_e}:
        z̃_ij = q_i^T W_att e_j           (W_att ∈ R^{n_e×d_k} shared within the head),
        z_i  = α-entmax(z̃_i)              (sparse gates over the fields),
        w_i  = z_i ∘ v_i                  (v_i ∈ R^m a learned value vector),
        y_i  = exp(Σ_j w_ij e_j) = ∘_j exp(e_j)^{w_ij}   (element-wise over n_e).

    Input ``[B, m, n_e]`` → ``(y [B, K, o, n_e], z [B, K, o, m])``.
    """

    def __init__(self, num_fields: int, embed_dim: int, heads: int, neurons: int, alpha: float,
                 key_dim: int | None = None, scaled: bool = False) -> None:
        super().__init__()
        key_dim = key_dim or embed_dim
        self.alpha = alpha
        self.scale = key_dim**-0.5 if scaled else 1.0
        self.bilinear = nn.Parameter(torch.empty(heads, embed_dim, key_dim))
        self.query = nn.Parameter(torch.empty(heads, neurons, key_dim))
        self.values = nn.Parameter(torch.empty(heads, neurons, num_fields))
        for p in (self.bilinear, self.query, self.values):
            nn.init.xavier_uniform_(p, gain=1.414)

    def gates(self, e: Tensor) -> Tensor:
        """Sparse gates z ``[B, K, o, m]`` (each row sums to 1)."""
        scores = torch.einsum("bme,hek,hok->bhom", e, self.bilinear, self.query) * self.scale
        return entmax(scores, self.alpha, dim=-1)

    def forward(self, e: Tensor) -> tuple[Tensor, Tensor]:
        z = self.gates(e)
        w = z * self.values  # [B, K, o, m]
        return torch.exp(torch.einsum("bme,bhom->bhoe", e, w)), z


@register_model("armnet", task="ctr", paper=_PAPER, url=_URL,
                summary="ARM-Net: exponential neurons gated by sparse multi-head attention over fields.")
class ARMNet(nn.Module):
    """ARM-Net (Cai et al., SIGMOD 2021).

    Embeddings: categorical e_i = E_i[:, x_i]; numeric e_j = x_j · ê_j; multi-valued
    fields and sequences mean-pooled. :class:`ExponentialNeurons` give K·o cross
    features y ∈ R^{K·o·n_e}; prediction h = MLP(y), ŷ = W_p h + b_p (eq. 7).
    ``bn = "neurons"`` is the reference code's BatchNorm1d over the K·o neuron
    channels between exp and the MLP (keeps exp(·) well scaled); ``"none"`` follows
    the paper's equations literally; ``"flat"`` normalises each of the K·o·n_e features.
    ``self.last_gates`` holds the gates z ``[B, K, o, m]`` of the latest forward
    (interpretability: supp(z_i) is neuron i's cross feature).

    Args:
        embed_dim: embedding size n_e (10 in the paper's Table 2).
        num_heads: attention heads K (Frappe: 8).
        num_neurons: exponential neurons o per head (Frappe: 32).
        alpha: entmax α (1 = softmax, 1.5 = entmax15, 2 = sparsemax; Frappe: 2.0).
        scaled: the reference code's 1/sqrt(d_k) scaling of the gate scores.
        bn: BatchNorm placement after the exponential neurons.
        mlp_hidden: hidden sizes of the prediction MLP (code: Linear → BN → ReLU → Dropout).
        dropout: dropout in the MLP(s).
        clamp_numeric: clamp numeric inputs to [0.001, 1] as the reference code (values pre-scaled into (0, 1]).
    """

    def __init__(self, spec: DataSpec, *, embed_dim: int = 10, num_heads: int = 8, num_neurons: int = 32,
                 alpha: float = 2.0, scaled: bool = False, bn: Literal["neurons", "flat", "none"] = "neurons",
                 mlp_hidden: tuple[int, ...] = (300, 300), dropout: float = 0.0,
                 clamp_numeric: bool = False) -> None:
        super().__init__()
        if alpha < 1:
            raise ConfigError(f"armnet: alpha must be >= 1, got {alpha}")
        if num_heads < 1 or num_neurons < 1:
            raise ConfigError(f"armnet: num_heads and num_neurons must be >= 1, got {num_heads}, {num_neurons}")
        self.clamp_numeric = clamp_numeric
        self.embedding = FieldEmbedding(spec, embed_dim)
        self.num_fields = len(self.embedding.flat_names())
        self.arm = ExponentialNeurons(self.num_fields, embed_dim, num_heads, num_neurons, alpha, scaled=scaled)
        n = num_heads * num_neurons
        self.bn_mode = bn
        self.bn = {"neurons": nn.BatchNorm1d(n), "flat": nn.BatchNorm1d(n * embed_dim), "none": nn.Identity()}[bn]
        self.mlp = MLP([n * embed_dim, *mlp_hidden, 1], "relu", dropout, batch_norm=True, plain_last=True)
        self.last_gates: Tensor | None = None

    def _inputs(self, batch: dict[str, Tensor]) -> dict[str, Tensor]:
        if not self.clamp_numeric:
            return batch
        out = dict(batch)
        for name in self.embedding.names("numeric"):
            out[name] = batch[name].clamp(0.001, 1.0)
        return out

    def field_gates(self, batch: dict[str, Tensor]) -> Tensor:
        """Sparse gates ``[B, K, o, m]`` over the fields (order: ``embedding.flat_names()``)."""
        return self.arm.gates(self.embedding.flat(self._inputs(batch)))

    def arm_logit(self, batch: dict[str, Tensor]) -> Tensor:
        y, z = self.arm(self.embedding.flat(batch))  # [B, K, o, n_e]
        self.last_gates = z.detach()
        b = y.shape[0]
        if self.bn_mode == "neurons":
            y = self.bn(y.flatten(1, 2))
        y = y.reshape(b, -1)
        if self.bn_mode == "flat":
            y = self.bn(y)
        return self.mlp(y).squeeze(-1)

    def forward(self, batch: dict[str, Tensor]) -> dict[str, Tensor]:
        return {"logit": self.arm_logit(self._inputs(batch))}

    def explain(self, batch: dict[str, Tensor], top_k: int = 5) -> list[RowExplanation]:
        """Per row, the top-``top_k`` cross features (neurons' gate supports), :mod:`plexus.recsys._explain`."""
        return explain_armnet(self, batch, top_k)

    def global_attribution(self, batches: Iterable[dict[str, Tensor]],
                           decode: Callable[[str, int], str]) -> GlobalAttribution:
        """Most frequent and strongest cross features and field co-occurrence, over ``batches``."""
        return global_armnet(self, batches, decode)

    @staticmethod
    def search_space(trial: Any) -> dict[str, Any]:
        heads = trial.suggest_categorical("num_heads", [1, 2, 4, 8])
        neurons = trial.suggest_categorical("num_neurons", [8, 16, 32, 64, 128])
        if heads * neurons > 1024:  # the paper's K·o ≤ 1024
            neurons = 1024 // heads
        width = trial.suggest_categorical("mlp_width", [100, 200, 300, 500])
        return {
            "num_heads": heads,
            "num_neurons": neurons,
            # closed forms only (1.5: sort-based entmax15, 2: sparsemax); any other α takes a 50-step
            # bisection per forward pass, several times slower; search.space.alpha widens it
            "alpha": trial.suggest_categorical("alpha", [1.5, 2.0]),
            "mlp_hidden": (width,) * trial.suggest_int("mlp_depth", 1, 3),
            "dropout": trial.suggest_float("dropout", 0.0, 0.5),
        }


@register_model("armnet_plus", task="ctr", paper=_PAPER, url=_URL,
                summary="ARM-Net+: ARM-Net ensembled with a DNN on its own embeddings.")
class ARMNetPlus(ARMNet):
    """ARM-Net+ (Cai et al., SIGMOD 2021): ŷ₊ = w₁·ŷ_ARM + w₂·ŷ_DNN + b_f.

    The DNN has its own embedding table; w₁ = w₂ = 0.5 and b_f = 0 at
    initialisation, all trained end to end.

    Args:
        embed_dim: embedding size n_e.
        num_heads: attention heads K.
        num_neurons: exponential neurons o per head.
        alpha: entmax α.
        scaled: the reference code's 1/sqrt(d_k) scaling of the gate scores.
        bn: BatchNorm placement after the exponential neurons.
        mlp_hidden: hidden sizes of ARM-Net's prediction MLP.
        dropout: dropout in the MLPs.
        clamp_numeric: clamp numeric inputs to [0.001, 1] as the reference code.
        dnn_hidden: hidden sizes of the ensembled DNN.
    """

    def __init__(self, spec: DataSpec, *, embed_dim: int = 10, num_heads: int = 8, num_neurons: int = 32,
                 alpha: float = 2.0, scaled: bool = False, bn: Literal["neurons", "flat", "none"] = "neurons",
                 mlp_hidden: tuple[int, ...] = (300, 300), dropout: float = 0.0, clamp_numeric: bool = False,
                 dnn_hidden: tuple[int, ...] = (300, 300)) -> None:
        super().__init__(spec, embed_dim=embed_dim, num_heads=num_heads, num_neurons=num_neurons, alpha=alpha,
                         scaled=scaled, bn=bn, mlp_hidden=mlp_hidden, dropout=dropout, clamp_numeric=clamp_numeric)
        self.dnn_embedding = FieldEmbedding(spec, embed_dim)
        self.dnn = MLP([self.num_fields * embed_dim, *dnn_hidden, 1], "relu", dropout, batch_norm=True,
                       plain_last=True)
        self.ensemble = nn.Linear(2, 1)
        nn.init.constant_(self.ensemble.weight, 0.5)
        nn.init.zeros_(self.ensemble.bias)

    def forward(self, batch: dict[str, Tensor]) -> dict[str, Tensor]:
        batch = self._inputs(batch)
        y_dnn = self.dnn(self.dnn_embedding.flat(batch).flatten(1)).squeeze(-1)
        y = torch.stack([self.arm_logit(batch), y_dnn], -1)
        return {"logit": self.ensemble(y).squeeze(-1)}

    @staticmethod
    def search_space(trial: Any) -> dict[str, Any]:
        space = ARMNet.search_space(trial)
        width = trial.suggest_categorical("dnn_width", [100, 200, 300, 500])
        space["dnn_hidden"] = (width,) * trial.suggest_int("dnn_depth", 1, 3)
        return space
