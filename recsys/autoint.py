"""AutoInt and AutoInt+ (Song et al., CIKM 2019): self-attentive feature interactions."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import torch
import torch.nn.functional as F
from plexus.platform.catalog import register_model
from plexus.platform.errors import ConfigError
from plexus.platform.explain import GlobalAttribution, RowExplanation
from plexus.platform.nn import MLP
from plexus.platform.spec import DataSpec
from plexus.recsys._explain import explain_autoint, global_autoint
from plexus.recsys.layers import FieldEmbedding
from torch import Tensor, nn

__all__ = ["AutoInt", "AutoIntPlus", "InteractingLayer"]

_PAPER = "AutoInt: Automatic Feature Interaction Learning via Self-Attentive Neural Networks (Song et al., CIKM 2019)"
_URL = "https://arxiv.org/abs/1810.11921"


class _Attention(torch.autograd.Function):
    """softmax(Q K^T) V over ``[N, M, d]`` blocks, every product of forward and backward in the order whose
    output is M wide. With M fields and d ≪ M, a batched [M, M]·[M, d] product measured 2.6× slower than
    [d, M]·[M, M] on CPU (MKL, 2,048 blocks of 26×8, 2026-12-05); autograd's own backward of Q K^T and
    A V takes the slow order for three of its four products. Same function and gradients."""

    @staticmethod
    def forward(ctx: Any, q: Tensor, k: Tensor, v: Tensor) -> Tensor:
        att = torch.softmax(torch.bmm(q, k.transpose(1, 2)), -1)
        out = torch.bmm(v.transpose(1, 2), att.transpose(1, 2)).transpose(1, 2)
        ctx.save_for_backward(q, k, v, att, out)
        return out

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        q, k, v, att, out = ctx.saved_tensors
        d_v = torch.bmm(grad.transpose(1, 2), att).transpose(1, 2)
        # softmax's backward in place, dS = A ∘ (dA − Σ_k dA·A) with Σ_k dA·A = Σ_d grad·out (M×d, not M×M):
        # no second [N, M, M] buffer
        d_s = torch.bmm(grad, v.transpose(1, 2)).sub_((grad * out).sum(-1, keepdim=True)).mul_(att)
        d_q = torch.bmm(k.transpose(1, 2), d_s.transpose(1, 2)).transpose(1, 2)
        d_k = torch.bmm(q.transpose(1, 2), d_s).transpose(1, 2)
        return d_q, d_k, d_v


class InteractingLayer(nn.Module):
    """One interacting layer (AutoInt eqs. 5–8), fields as tokens.

    α^{(h)}_{m,k} = softmax_k ⟨W_Q^{(h)} e_m, W_K^{(h)} e_k⟩,
    ẽ^{(h)}_m = Σ_k α^{(h)}_{m,k} W_V^{(h)} e_k,   ẽ_m = ẽ^{(1)}_m ‖ … ‖ ẽ^{(H)}_m,
    e^{Res}_m = ReLU(ẽ_m + W_Res e_m).

    The paper's scores are not scaled by 1/√d'. ``use_sdpa`` runs the attention as
    ``scaled_dot_product_attention(..., scale=1)``, the same function; None (default): on CUDA only,
    since on CPU with ~40 fields and d' = 8 its fused kernel measured 10–25 % slower than the explicit
    softmax(Q K^T) V (forward + backward, 2-core box, 2026-12-05). Elsewhere, without attention dropout in
    training, the explicit form runs with a hand-written backward (:class:`_Attention`).
    ``qkv_relu`` uses the reference code's Dense+ReLU projections (for Q, K, V and
    the residual branch); ``layer_norm`` adds its LayerNorm after ReLU(attn + res).
    Input ``[B, M, d]`` → output ``[B, M, d'·H]``; with ``return_attention`` also the
    weights α ``[B, H, M, M]`` (computed explicitly, for explanations).
    """

    def __init__(self, in_dim: int, head_dim: int, heads: int, residual: bool = True, qkv_relu: bool = False,
                 layer_norm: bool = False, att_dropout: float = 0.0) -> None:
        super().__init__()
        self.heads, self.head_dim, self.qkv_relu = heads, head_dim, qkv_relu
        out = head_dim * heads
        self.q = nn.Linear(in_dim, out, bias=qkv_relu)
        self.k = nn.Linear(in_dim, out, bias=qkv_relu)
        self.v = nn.Linear(in_dim, out, bias=qkv_relu)
        self.res = nn.Linear(in_dim, out, bias=qkv_relu) if residual else None
        self.norm = nn.LayerNorm(out) if layer_norm else None
        self.drop = nn.Dropout(att_dropout)
        self.use_sdpa: bool | None = None

    def _proj(self, lin: nn.Linear, e: Tensor) -> Tensor:
        x = lin(e)
        return torch.relu(x) if self.qkv_relu else x

    def forward(self, e: Tensor, return_attention: bool = False) -> Tensor | tuple[Tensor, Tensor]:
        b, m, _ = e.shape
        split = lambda x: x.view(b, m, self.heads, self.head_dim).transpose(1, 2)
        q, k, v = (split(self._proj(lin, e)) for lin in (self.q, self.k, self.v))
        att = None
        sdpa = self.use_sdpa if self.use_sdpa is not None else e.is_cuda
        if return_attention or (not sdpa and self.training and self.drop.p > 0):
            att = torch.softmax(q @ k.transpose(-1, -2), dim=-1)  # [B, H, M, M]
            ctx = self.drop(att) @ v
        elif sdpa:
            p = self.drop.p if self.training else 0.0
            ctx = F.scaled_dot_product_attention(q, k, v, dropout_p=p, scale=1.0)
        else:
            flat = lambda x: x.reshape(b * self.heads, m, self.head_dim)
            ctx = _Attention.apply(flat(q), flat(k), flat(v)).view(b, self.heads, m, self.head_dim)
        out = ctx.transpose(1, 2).contiguous().view(b, m, -1)  # [B, M, H·d] row-major: the next products read it so
        if self.res is not None:
            out = out + self._proj(self.res, e)
        out = torch.relu(out)
        out = self.norm(out) if self.norm is not None else out
        return (out, att) if return_attention else out


@register_model("autoint", task="ctr", paper=_PAPER, url=_URL,
                summary="AutoInt: stacked multi-head self-attention over field embeddings.")
class AutoInt(nn.Module):
    """AutoInt (Song et al., CIKM 2019).

    Embeddings (eqs. 2–4): categorical e_i = V_i x_i; multi-valued fields and
    behaviour sequences e_i = (1/q) V_i x_i (mean over their ids); numeric
    e_m = v_m x_m. The M field embeddings pass through ``num_layers``
    :class:`InteractingLayer` s and the output is (eq. 9)
        ŷ = σ(w^T [e^{Res}_1 ‖ … ‖ e^{Res}_M] + b).
    With ``num_layers = 0`` this is a linear logit over the concatenated embeddings.

    Args:
        embed_dim: embedding size d (16 in the paper).
        num_layers: number of interacting layers (3 in the paper).
        num_heads: attention heads H per layer (2 in the paper).
        head_dim: attention size d' per head (32 in the paper).
        residual: residual connection W_Res e_m (the ablation drops it).
        qkv_relu: reference code's Dense+ReLU for the Q/K/V and residual projections.
        layer_norm: reference code's LayerNorm after each interacting layer.
        att_dropout: dropout on the attention weights (code: 1 − keep_prob[0]).
        emb_dropout: dropout on the field embeddings (code: 1 − keep_prob[1]).
        has_wide: add the first-order (LR) term, the code's ``has_wide``.
        attend_numeric: embed the numeric fields as tokens of the attention (the paper). False: attend
            over the other fields only and let the numerics enter through the first-order term alone, as
            DeepCTR-Torch's AutoInt does (needs ``has_wide`` when the data has numeric fields).
    """

    def __init__(self, spec: DataSpec, *, embed_dim: int = 16, num_layers: int = 3, num_heads: int = 2,
                 head_dim: int = 32, residual: bool = True, qkv_relu: bool = False, layer_norm: bool = False,
                 att_dropout: float = 0.0, emb_dropout: float = 0.0, has_wide: bool = False,
                 attend_numeric: bool = True) -> None:
        super().__init__()
        if num_layers < 0 or num_heads < 1 or head_dim < 1:
            raise ConfigError(f"autoint: need num_layers >= 0, num_heads >= 1, head_dim >= 1; got "
                              f"{num_layers}, {num_heads}, {head_dim}")
        attended = None
        if not attend_numeric:
            numeric = [f.name for f in spec.fields if f.kind == "numeric"]
            if numeric and not has_wide:
                raise ConfigError(f"autoint: attend_numeric=false needs has_wide=true, else the numeric fields "
                                  f"({', '.join(numeric[:3])}{', ...' if len(numeric) > 3 else ''}) are unused")
            attended = [f.name for f in spec.fields if f.kind != "numeric"]
        self.embedding = FieldEmbedding(spec, embed_dim, fields=attended)
        self.num_fields = len(self.embedding.flat_names())
        self.emb_drop = nn.Dropout(emb_dropout)
        dims = [embed_dim] + [head_dim * num_heads] * num_layers
        self.layers = nn.ModuleList(
            InteractingLayer(a, head_dim, num_heads, residual, qkv_relu, layer_norm, att_dropout)
            for a in dims[:-1]
        )
        self.out = nn.Linear(self.num_fields * dims[-1], 1)
        self.wide = FieldEmbedding(spec, 1) if has_wide else None

    def interact(self, e: Tensor, return_attention: bool = False) -> Tensor | tuple[Tensor, list[Tensor]]:
        """Field embeddings ``[B, M, d]`` → interacting-layer output ``[B, M, d'H]`` (and, with
        ``return_attention``, every layer's weights ``[B, H, M, M]``)."""
        maps = []
        for layer in self.layers:
            if return_attention:
                e, att = layer(e, return_attention=True)
                maps.append(att)
            else:
                e = layer(e)
        return (e, maps) if return_attention else e

    def autoint_logit(self, batch: dict[str, Tensor], e: Tensor) -> Tensor:
        logit = self.out(self.interact(e).flatten(1)).squeeze(-1)
        if self.wide is not None:
            logit = logit + self.wide.flat(batch).sum((1, 2))
        return logit

    def forward(self, batch: dict[str, Tensor]) -> dict[str, Tensor]:
        e = self.emb_drop(self.embedding.flat(batch))
        return {"logit": self.autoint_logit(batch, e)}

    def explain(self, batch: dict[str, Tensor], top_k: int = 5) -> list[RowExplanation]:
        """Per row, the top-``top_k`` field pairs of each interacting layer, :mod:`plexus.recsys._explain`."""
        return explain_autoint(self, batch, top_k)

    def global_attribution(self, batches: Iterable[dict[str, Tensor]],
                           decode: Callable[[str, int], str]) -> GlobalAttribution:
        """Mean attention by field pair (per layer and averaged) over ``batches``."""
        return global_autoint(self, batches, decode)

    @staticmethod
    def search_space(trial: Any) -> dict[str, Any]:
        return {
            "embed_dim": trial.suggest_categorical("embed_dim", [8, 16, 32]),
            "num_layers": trial.suggest_int("num_layers", 1, 4),
            "num_heads": trial.suggest_categorical("num_heads", [1, 2, 4]),
            "head_dim": trial.suggest_categorical("head_dim", [16, 32, 64]),
            "att_dropout": trial.suggest_float("att_dropout", 0.0, 0.5),
            "emb_dropout": trial.suggest_float("emb_dropout", 0.0, 0.5),
        }


@register_model("autoint_plus", task="ctr", paper=_PAPER, url=_URL,
                summary="AutoInt+: AutoInt jointly trained with a DNN on the same embeddings (summed logits).")
class AutoIntPlus(AutoInt):
    """AutoInt+ (Song et al., CIKM 2019, Section 5.6): logit = AutoInt logit + DNN logit.

    The DNN is a feed-forward network over the flattened (shared) field embeddings,
    [400, 400] with ReLU in the reference ``run_joint_criteo.sh``.

    Args:
        embed_dim: embedding size d.
        num_layers: number of interacting layers.
        num_heads: attention heads H per layer.
        head_dim: attention size d' per head.
        residual: residual connection W_Res e_m.
        qkv_relu: reference code's Dense+ReLU for the Q/K/V and residual projections.
        layer_norm: reference code's LayerNorm after each interacting layer.
        att_dropout: dropout on the attention weights.
        emb_dropout: dropout on the field embeddings.
        has_wide: add the first-order (LR) term.
        dnn_hidden: hidden sizes of the DNN.
        dnn_dropout: dropout in the DNN.
        dnn_batch_norm: BatchNorm1d in the DNN.
    """

    def __init__(self, spec: DataSpec, *, embed_dim: int = 16, num_layers: int = 3, num_heads: int = 2,
                 head_dim: int = 32, residual: bool = True, qkv_relu: bool = False, layer_norm: bool = False,
                 att_dropout: float = 0.0, emb_dropout: float = 0.0, has_wide: bool = False,
                 dnn_hidden: tuple[int, ...] = (400, 400), dnn_dropout: float = 0.0,
                 dnn_batch_norm: bool = False) -> None:
        super().__init__(spec, embed_dim=embed_dim, num_layers=num_layers, num_heads=num_heads, head_dim=head_dim,
                         residual=residual, qkv_relu=qkv_relu, layer_norm=layer_norm, att_dropout=att_dropout,
                         emb_dropout=emb_dropout, has_wide=has_wide)
        self.dnn = MLP([self.num_fields * embed_dim, *dnn_hidden, 1], "relu", dnn_dropout, dnn_batch_norm,
                       plain_last=True)

    def forward(self, batch: dict[str, Tensor]) -> dict[str, Tensor]:
        e = self.emb_drop(self.embedding.flat(batch))
        return {"logit": self.autoint_logit(batch, e) + self.dnn(e.flatten(1)).squeeze(-1)}

    @staticmethod
    def search_space(trial: Any) -> dict[str, Any]:
        space = AutoInt.search_space(trial)
        width = trial.suggest_categorical("dnn_width", [200, 400, 800])
        space.update(dnn_hidden=(width,) * trial.suggest_int("dnn_depth", 1, 3),
                     dnn_dropout=trial.suggest_float("dnn_dropout", 0.0, 0.5))
        return space
