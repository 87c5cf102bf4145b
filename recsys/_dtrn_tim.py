"""DTRN's Task-specific Interest Module: one hypernetwork-conditioned Transformer.

Private to :mod:`plexus.recsys.dtrn`; see the DTRN docstring for the equations.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from plexus.platform.errors import ConfigError, DataError
from plexus.platform.spec import DataSpec
from plexus.recsys.layers import FieldEmbedding

__all__ = ["TaskInterestModule", "parse_behaviors"]


def parse_behaviors(spec: DataSpec) -> dict[str, dict[str, str]]:
    """``spec.extra["behaviors"]`` as ``{type: {embedding_key: sequence field}}`` (validated)."""
    raw = spec.extra.get("behaviors") or {}
    if not isinstance(raw, dict):
        raise ConfigError(
            f"spec.extra['behaviors'] must map behaviour type -> field names, got {type(raw).__name__}"
        )
    names = {f.name: f for f in spec.fields}
    out: dict[str, dict[str, str]] = {}
    for btype, fields in raw.items():
        fields = [fields] if isinstance(fields, str) else list(fields)
        if not fields:
            raise ConfigError(f"behaviour type '{btype}' lists no sequence fields")
        slots: dict[str, str] = {}
        for name in fields:
            f = names.get(name)
            if f is None or f.kind != "sequence":
                raise ConfigError(f"behaviour type '{btype}': '{name}' is not a sequence field of the spec")
            if f.embedding_key in slots:
                raise ConfigError(
                    f"behaviour type '{btype}': '{name}' and '{slots[f.embedding_key]}' "
                    f"both read embedding table '{f.embedding_key}'"
                )
            if f.max_len != names[fields[0]].max_len:
                raise ConfigError(f"behaviour type '{btype}': fields {fields} need one max_len")
            slots[f.embedding_key] = name
        out[str(btype)] = slots
    return out


class TaskInterestModule(nn.Module):
    """Interest vectors ``r_{t,b}`` for every (task t, behaviour type b) pair.

    Tokens of type b at position l: ``s_l = [e_{key_1} ‖ … ‖ e_{key_S}] + p_{rank(l)}``,
    one slot per embedding table read by any behaviour field (zeros where type b has
    no field for that slot), so all types share width ``D = S·d``; ``rank`` counts
    valid tokens from the most recent one (padding-invariant). One post-LN encoder
    (``num_layers`` × [MHA, FFN]) whose every LayerNorm is ``(1+Δγ_{t,b})·LN(x)+Δβ_{t,b}``
    with ``[Δγ ‖ Δβ] = Hyper([u_t ‖ v_b])``. Pooling: target attention
    ``softmax_l(<W_q c, h_l>/√D)`` with the candidate ``c`` (same slot layout) or mean.
    """

    def __init__(
        self,
        spec: DataSpec,
        embed_dim: int,
        behaviors: dict[str, dict[str, str]],
        *,
        num_tasks: int,
        num_heads: int,
        num_layers: int,
        ffn_mult: int,
        cond_dim: int,
        hyper_hidden: int,
        pooling: str,
        dropout: float,
    ):
        super().__init__()
        d = embed_dim
        self.behaviors = behaviors
        self.slots = sorted({k for slots in behaviors.values() for k in slots})
        self.dim = D = len(self.slots) * d
        if num_heads < 1 or D % num_heads:
            raise ConfigError(
                f"num_heads={num_heads} must divide the token width {D} "
                f"({len(self.slots)} behaviour slot(s) x embed_dim {d})"
            )
        if num_layers < 1 or ffn_mult < 1 or cond_dim < 1 or hyper_hidden < 1:
            raise ConfigError("num_layers, ffn_mult, cond_dim and hyper_hidden must be >= 1")
        # candidate field per slot: a categorical role-"item" field reading the same table
        self.candidate: dict[str, str] = {}
        for f in spec.fields:
            if f.role == "item" and f.kind == "categorical" and f.embedding_key in self.slots:
                self.candidate.setdefault(f.embedding_key, f.name)
        if pooling == "target" and not self.candidate:
            raise ConfigError(
                "pooling='target' needs a candidate field (role 'item') sharing a behaviour "
                "field's vocabulary; use pooling='mean'"
            )
        self.pooling, self.heads, self.num_layers, self.dropout = pooling, num_heads, num_layers, dropout
        self.max_len = max(spec.field(n).max_len for slots in behaviors.values() for n in slots.values())
        self.pos = nn.Embedding(self.max_len, D)
        nn.init.normal_(self.pos.weight, std=0.05)
        self.task_emb = nn.Embedding(num_tasks, cond_dim)
        self.beh_emb = nn.Embedding(len(behaviors), cond_dim)
        self.n_ln = 2 * num_layers
        self.hyper = nn.Sequential(
            nn.Linear(2 * cond_dim, hyper_hidden), nn.ReLU(), nn.Linear(hyper_hidden, self.n_ln * 2 * D)
        )
        nn.init.normal_(self.hyper[2].weight, std=0.02)  # small Δγ, Δβ: starts near a plain LN
        nn.init.zeros_(self.hyper[2].bias)
        self.qkv = nn.ModuleList(nn.Linear(D, 3 * D) for _ in range(num_layers))
        self.out = nn.ModuleList(nn.Linear(D, D) for _ in range(num_layers))
        self.ffn = nn.ModuleList(
            nn.Sequential(nn.Linear(D, ffn_mult * D), nn.ReLU(), nn.Linear(ffn_mult * D, D))
            for _ in range(num_layers)
        )
        self.query = nn.Linear(D, D, bias=False) if pooling == "target" else None

    def ln_params(self) -> Tensor:
        """Conditioned LayerNorm parameters ``[T, nB, n_ln, 2, D]`` (index 0 = γ = 1+Δγ, 1 = β)."""
        T, nB = self.task_emb.num_embeddings, self.beh_emb.num_embeddings
        cond = torch.cat(
            [
                self.task_emb.weight.unsqueeze(1).expand(T, nB, -1),
                self.beh_emb.weight.unsqueeze(0).expand(T, nB, -1),
            ],
            dim=-1,
        )
        p = self.hyper(cond).view(T, nB, self.n_ln, 2, self.dim)
        return torch.stack([1.0 + p[..., 0, :], p[..., 1, :]], dim=-2)

    def _tokens(self, batch: dict[str, Tensor], emb: FieldEmbedding) -> tuple[Tensor, Tensor]:
        xs, ms = [], []
        for btype, slots in self.behaviors.items():
            emb.require(batch, list(slots.values()))
            ids = {k: batch[n].long() for k, n in slots.items()}
            ref = next(iter(ids.values()))
            if ref.dim() != 2 or any(v.shape != ref.shape for v in ids.values()):
                raise DataError(
                    f"behaviour type '{btype}' needs [B, L] id tensors of one shape, got "
                    f"{ {slots[k]: tuple(v.shape) for k, v in ids.items()} }",
                    field=next(iter(slots.values())),
                )
            parts = [
                emb.table(slots[k])(ids[k])
                if k in ids
                else ref.new_zeros(*ref.shape, emb.dim, dtype=torch.float)
                for k in self.slots
            ]
            xs.append(torch.cat(parts, -1))
            ms.append(torch.stack([v != 0 for v in ids.values()]).any(0))  # [B, L_b]
        L = max(m.shape[1] for m in ms)
        xs = [F.pad(x, (0, 0, 0, L - x.shape[1])) for x in xs]
        ms = [F.pad(m, (0, L - m.shape[1])) for m in ms]
        x, m = torch.stack(xs), torch.stack(ms)  # [nB, B, L, D], [nB, B, L]
        rank = (m.flip(-1).cumsum(-1).flip(-1) - 1).clamp(0, self.max_len - 1)  # 0 = most recent valid
        return (x + self.pos(rank)) * m.unsqueeze(-1), m

    def _cln(self, x: Tensor, p: Tensor, i: int) -> Tensor:
        # x: [T, nB, B, L, D]; p: [T, nB, n_ln, 2, D]
        g, b = p[:, :, i, 0, None, None, :], p[:, :, i, 1, None, None, :]
        return g * F.layer_norm(x, (self.dim,)) + b

    def forward(self, batch: dict[str, Tensor], emb: FieldEmbedding) -> Tensor:
        """Interests ``[T, B, nB, D]``; ``emb`` owns the (shared) embedding tables."""
        x, m = self._tokens(batch, emb)
        nB, B, L, D = x.shape
        T, h = self.task_emb.num_embeddings, self.heads
        x = x.unsqueeze(0).expand(T, -1, -1, -1, -1)
        p = self.ln_params()
        keys = (m | ~m.any(-1, keepdim=True)).view(1, nB, B, 1, 1, L)  # empty rows attend freely (discarded)
        keys = keys.expand(T, -1, -1, -1, -1, -1).reshape(T * nB * B, 1, 1, L)
        drop = self.dropout if self.training else 0.0
        for j in range(self.num_layers):
            q, k, v = self.qkv[j](x).reshape(T * nB * B, L, 3, h, D // h).permute(2, 0, 3, 1, 4)
            a = F.scaled_dot_product_attention(q, k, v, attn_mask=keys, dropout_p=drop)
            a = self.out[j](a.transpose(1, 2).reshape(T, nB, B, L, D))
            x = self._cln(x + F.dropout(a, drop, self.training), p, 2 * j)
            x = self._cln(x + F.dropout(self.ffn[j](x), drop, self.training), p, 2 * j + 1)
        valid = m.unsqueeze(0).float()  # [1, nB, B, L]
        if self.pooling == "mean":
            w = valid / valid.sum(-1, keepdim=True).clamp_min(1.0)
        else:
            emb.require(batch, list(self.candidate.values()))
            c = torch.cat(
                [
                    emb.table(self.candidate[k])(batch[self.candidate[k]].long())
                    if k in self.candidate
                    else x.new_zeros(B, emb.dim)
                    for k in self.slots
                ],
                -1,
            )  # [B, D]
            s = (x * self.query(c).view(1, 1, B, 1, D)).sum(-1) / math.sqrt(D)
            s = s.masked_fill(valid == 0, torch.finfo(s.dtype).min)
            w = torch.softmax(s, -1) * valid.amax(-1, keepdim=True)  # all-padding history -> zero vector
        r = (w.unsqueeze(-1) * x).sum(-2)  # [T, nB, B, D]
        return r.permute(0, 2, 1, 3)
