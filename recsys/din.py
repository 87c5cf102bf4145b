"""DIN: Deep Interest Network (Zhou et al., KDD 2018) and its sum-pooling BaseModel.

Field roles (see :class:`~plexus.platform.spec.FieldSpec`):

* candidate fields: categorical fields with role ``"item"`` (e.g. ``item``, ``cate``);
* behaviour sequences: sequence fields with role ``"behavior"`` whose
  ``share_vocab`` names a candidate field; the first such sequence per candidate
  field is paired with it, the pairs are concatenated into one key / query
  vector (e.g. [goods ‖ category]);
* every other field (user, context, numeric, multi-valued, unpaired sequences
  mean-pooled) goes to the MLP as a context feature.
"""

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
from plexus.recsys._explain import explain_din, global_din
from plexus.recsys.layers import Activation, FieldEmbedding
from torch import Tensor, nn

__all__ = ["DIN", "ActivationUnit", "DINBase"]

_PAPER = "Deep Interest Network for Click-Through Rate Prediction (Zhou et al., KDD 2018)"
_URL = "https://arxiv.org/abs/1706.06978"


def _pairs(spec: DataSpec) -> tuple[list[str], list[str]]:
    """(candidate fields, behaviour sequences) paired by ``share_vocab``; equal lengths, same order."""
    cands = {f.name: f for f in spec.fields if f.kind == "categorical" and f.role == "item"}
    cand_out, seq_out = [], []
    for f in spec.fields:
        if f.kind == "sequence" and f.role == "behavior" and f.share_vocab in cands and f.share_vocab not in cand_out:
            cand_out.append(f.share_vocab)
            seq_out.append(f.name)
    if not seq_out:
        raise ConfigError(
            "DIN needs a categorical field with role 'item' and a sequence field with role 'behavior' "
            "whose share_vocab names it; found none in the data spec"
        )
    lens = {spec.field(s).max_len for s in seq_out}
    if len(lens) != 1:
        raise ConfigError(f"DIN: paired behaviour sequences {seq_out} must have the same max_len, got {sorted(lens)}")
    return cand_out, seq_out


class ActivationUnit(nn.Module):
    """DIN's local activation unit: w_j = a(e_j, v_A), a feed-forward net.

    Input per position: [e_j, v_A, e_j ∘ v_A] (the paper's "out product" is the
    element-wise product, the authors' answer in zhougr1993/DeepInterestNetwork#8); with ``use_diff`` the
    reference code's [v_A, e_j, v_A − e_j, v_A ∘ e_j]. Output: one unnormalised
    weight per position (a final Linear → 1, no squashing).
    """

    def __init__(self, dim: int, hidden: tuple[int, ...], activation: str, use_diff: bool) -> None:
        super().__init__()
        self.use_diff = use_diff
        self.mlp = MLP([(4 if use_diff else 3) * dim, *hidden, 1], activation, plain_last=True)

    def forward(self, query: Tensor, keys: Tensor, mask: Tensor) -> Tensor:
        """``query [B, D]``, ``keys [B, L, D]``, ``mask [B, L]`` → scores ``[B, L]`` (0 where padded)."""
        # Only the real positions go through the net (a third of them on Amazon Beauty with L = 20): a
        # padded position's score is masked and Dice's statistics exclude it, so packing them out changes
        # nothing. The first Linear of W·[parts] is split by part: the query's share is computed once per
        # row, and q − k folds into the q and k blocks; same function, same parameters.
        b, n = mask.shape
        pos = mask.reshape(-1).nonzero().squeeze(1)
        rows = torch.div(pos, n, rounding_mode="floor")
        k = keys.reshape(b * n, -1).index_select(0, pos)
        lin = self.mlp.blocks[0]["linear"]
        w, d = lin.weight, keys.shape[-1]
        if self.use_diff:  # [q, k, q − k, q ∘ k]
            w_q, w_k, w_p = w[:, :d] + w[:, 2 * d:3 * d], w[:, d:2 * d] - w[:, 2 * d:3 * d], w[:, 3 * d:]
        else:  # [k, q, k ∘ q]
            w_k, w_q, w_p = w[:, :d], w[:, d:2 * d], w[:, 2 * d:]
        h = F.linear(torch.cat([k, k * query.index_select(0, rows)], -1), torch.cat([w_k, w_p], 1))
        h = h + F.linear(query, w_q, lin.bias).index_select(0, rows)
        scores = self.mlp(h, first_linear=False).squeeze(-1)
        return scores.new_zeros(b * n).index_copy(0, pos, scores).view(b, n)

    def reference(self, query: Tensor, keys: Tensor, mask: Tensor) -> Tensor:
        """The same scores by the concatenated input at every position, as the paper writes it, padded
        positions zeroed afterwards (for tests)."""
        q = query.unsqueeze(1).expand_as(keys)
        parts = [q, keys, q - keys, q * keys] if self.use_diff else [keys, q, keys * q]
        return self.mlp(torch.cat(parts, -1), mask).squeeze(-1) * mask


@register_model("din", task="ctr", paper=_PAPER, url=_URL,
                summary="Deep Interest Network: candidate-aware attention over the user's behaviour sequence.")
class DIN(nn.Module):
    """Deep Interest Network (Zhou et al., KDD 2018).

    User interest with respect to candidate A (eq. 3):
        v_U(A) = Σ_{j=1}^{H} a(e_j, v_A) · e_j,
    with a(·) the :class:`ActivationUnit`, padded positions masked to weight 0 and
    **no softmax** (Σ_j w_j is free, preserving the intensity of interest) unless
    ``normalize`` (the reference code's masked softmax scaled by 1/sqrt(D)).
    Prediction: logit = MLP([context ‖ v_U(A) ‖ v_A]) with Dice activations (eq. 5):
    f(s) = p(s)·s + (1 − p(s))·α·s, p(s) = sigmoid((s − E[s]) / sqrt(Var[s] + ε)).

    Mini-batch aware regularisation (eq. 4): ``out["aux_loss"] =
    l2_reg · Σ_{tables} Σ_{j ∈ batch} ||w_j||² / n_j`` over the embedding rows whose
    ids occur in the batch (n_j: occurrences of id j in the batch); only in training mode.

    Output: ``{"logit": [B], "attention": [B, L], "aux_loss": []}``.

    Args:
        embed_dim: embedding dimension per field (12 in the paper's Alibaba setup).
        att_hidden: hidden sizes of the activation unit (80, 40 in the reference code).
        att_activation: activation of the activation unit (Dice/PReLU in the paper; sigmoid in the code).
        use_diff: feed the reference code's difference term q − k into the activation unit.
        normalize: masked softmax over the behaviours (reference code) instead of raw weights (paper).
        hidden: hidden sizes of the prediction MLP (200, 80 in the paper).
        activation: activation of the prediction MLP (Dice for "DIN with Dice", PReLU for plain DIN).
        dropout: dropout in the prediction MLP.
        l2_reg: λ of the mini-batch aware L2 regulariser (0.01 in the paper; 0 disables it).
    """

    pooling = "attention"

    def __init__(self, spec: DataSpec, *, embed_dim: int = 12, att_hidden: tuple[int, ...] = (80, 40),
                 att_activation: Activation = "dice", use_diff: bool = False, normalize: bool = False,
                 hidden: tuple[int, ...] = (200, 80), activation: Activation = "dice", dropout: float = 0.0,
                 l2_reg: float = 0.01) -> None:
        super().__init__()
        if l2_reg < 0:
            raise ConfigError(f"din: l2_reg must be >= 0, got {l2_reg}")
        self.candidates, self.behaviors = _pairs(spec)
        self.normalize, self.l2_reg = normalize, l2_reg
        self.embedding = FieldEmbedding(spec, embed_dim)
        used = set(self.candidates) | set(self.behaviors)
        self.context = [n for n in self.embedding.flat_names() if n not in used]
        qdim = embed_dim * len(self.candidates)
        self.att = (ActivationUnit(qdim, att_hidden, att_activation, use_diff)
                    if self.pooling == "attention" else None)
        in_dim = embed_dim * len(self.context) + 2 * qdim
        self.mlp = MLP([in_dim, *hidden, 1], activation, dropout, plain_last=True)

    def interest(self, batch: dict[str, Tensor]) -> tuple[Tensor, Tensor, Tensor]:
        """(v_A ``[B, Dq]``, v_U(A) ``[B, Dq]``, weights ``[B, L]``) for the batch."""
        emb = self.embedding
        emb.require(batch, self.candidates + self.behaviors)
        query = torch.cat([emb.embed(c, batch[c]) for c in self.candidates], -1)
        keys = torch.cat([emb.table(s)(batch[s]) for s in self.behaviors], -1)
        mask = torch.stack([batch[s] != 0 for s in self.behaviors]).any(0)
        if self.att is None:
            weights = mask.to(keys.dtype)
        else:
            scores = self.att(query, keys, mask)
            if self.normalize:
                scores = scores / keys.shape[-1] ** 0.5
                weights = torch.softmax(scores.masked_fill(~mask, float("-inf")), -1)
                weights = torch.nan_to_num(weights, nan=0.0)  # rows with an empty history
            else:
                weights = scores  # padded positions score 0 (the unit runs at real positions only)
        return query, (weights.unsqueeze(-1) * keys).sum(1), weights

    def forward(self, batch: dict[str, Tensor]) -> dict[str, Tensor]:
        query, user, weights = self.interest(batch)
        parts = [user, query]
        if self.context:
            parts.insert(0, self.embedding.flat(batch, self.context).flatten(1))
        out = {"logit": self.mlp(torch.cat(parts, -1)).squeeze(-1), "attention": weights}
        if self.l2_reg > 0 and self.training:
            out["aux_loss"] = self.l2_reg * self.embedding.batch_l2(batch)
        return out

    def explain(self, batch: dict[str, Tensor], top_k: int = 5) -> list[RowExplanation]:
        """Per row, the top-``top_k`` behaviours by attention weight, :mod:`plexus.recsys._explain`."""
        return explain_din(self, batch, top_k)

    def global_attribution(self, batches: Iterable[dict[str, Tensor]],
                           decode: Callable[[str, int], str]) -> GlobalAttribution:
        """Mean attention by recency position and by behaviour value over ``batches``."""
        return global_din(self, batches, decode)

    @staticmethod
    def search_space(trial: Any) -> dict[str, Any]:
        return {
            "embed_dim": trial.suggest_categorical("embed_dim", [8, 12, 16, 32, 64]),
            "att_activation": trial.suggest_categorical("att_activation", ["dice", "prelu", "sigmoid"]),
            "activation": trial.suggest_categorical("activation", ["dice", "prelu"]),
            "normalize": trial.suggest_categorical("normalize", [False, True]),
            "dropout": trial.suggest_float("dropout", 0.0, 0.5),
            "l2_reg": trial.suggest_float("l2_reg", 1e-4, 1e-1, log=True),
        }


@register_model("din_base", task="ctr", paper=_PAPER, url=_URL,
                summary="DIN's BaseModel: sum-pooled behaviour embeddings + MLP (no attention).")
class DINBase(DIN):
    """DIN's BaseModel (Zhou et al., KDD 2018, Section 4.2).

    Same embeddings, context features and MLP as :class:`DIN`, but the behaviour
    sequence is sum-pooled: v_U = Σ_j e_j over the real (non-padded) positions.

    Args:
        embed_dim: embedding dimension per field.
        hidden: hidden sizes of the prediction MLP.
        activation: activation of the prediction MLP (PReLU in the paper's BaseModel).
        dropout: dropout in the prediction MLP.
        l2_reg: λ of the mini-batch aware L2 regulariser (0 disables it).
    """

    pooling = "sum"
    explain = None  # sum pooling has no per-behaviour weight: nothing to explain
    global_attribution = None

    def __init__(self, spec: DataSpec, *, embed_dim: int = 12, hidden: tuple[int, ...] = (200, 80),
                 activation: Activation = "prelu", dropout: float = 0.0, l2_reg: float = 0.0) -> None:
        super().__init__(spec, embed_dim=embed_dim, hidden=hidden, activation=activation, dropout=dropout,
                         l2_reg=l2_reg)

    @staticmethod
    def search_space(trial: Any) -> dict[str, Any]:
        return {
            "embed_dim": trial.suggest_categorical("embed_dim", [8, 12, 16, 32, 64]),
            "activation": trial.suggest_categorical("activation", ["dice", "prelu"]),
            "dropout": trial.suggest_float("dropout", 0.0, 0.5),
            "l2_reg": trial.suggest_float("l2_reg", 1e-4, 1e-1, log=True),
        }

