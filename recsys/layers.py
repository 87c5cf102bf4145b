"""Shared building blocks of the recommender plugins.

* :class:`FieldEmbedding`: one embedding table per ``spec.vocab_sizes()`` key
  (row 0 = padding) plus one learned vector per numeric field; embeds every
  field kind of a tabular batch (see :mod:`plexus.platform.spec`).
* :func:`sparsemax`, :func:`entmax15`, :func:`entmax_bisect`, :func:`entmax`:
  sparse probability mappings (Martins & Astudillo 2016; Peters et al. 2019)
  in plain torch, used by ARM-Net.

The MLP and the activations (Dice, PReLU, ...) are :mod:`plexus.platform.nn`'s.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import torch
from plexus.platform.errors import ConfigError, DataError
from plexus.platform.spec import DataSpec, FieldSpec
from torch import Tensor, nn

__all__ = [
    "Activation",
    "FieldEmbedding",
    "entmax",
    "entmax15",
    "entmax_bisect",
    "masked_mean",
    "sparsemax",
]

#: the activation names the recommender plugins offer as a hyperparameter
Activation = Literal["relu", "prelu", "dice", "sigmoid", "tanh", "gelu", "identity"]


def _key(name: str) -> str:
    """ModuleDict / ParameterDict keys may not contain dots."""
    return name.replace(".", "__dot__")


def masked_mean(x: Tensor, mask: Tensor) -> Tensor:
    """Mean of ``x [B, L, D]`` over the positions where ``mask [B, L]`` is true; 0 for empty rows."""
    m = mask.unsqueeze(-1).to(x.dtype)
    return (x * m).sum(1) / m.sum(1).clamp_min(1.0)


class FieldEmbedding(nn.Module):
    """Embeds the fields of a tabular batch into a common ``dim``-dimensional space.

    * categorical ``[B]`` → ``E[x]`` ``[B, D]``;
    * numeric ``[B]`` → ``x · v_f`` ``[B, D]`` (one learned vector per field);
    * multi-valued ``[B, L]`` → masked mean of ``E[x_l]`` over non-zero ids ``[B, D]``;
    * sequence ``[B, L]`` → ``[B, L, D]`` plus a padding mask (``x != 0``).

    Fields sharing a vocabulary (``share_vocab``) read the same table. Row 0 of
    every table is the padding row (zero, never updated).

    Args:
        spec: the data specification.
        dim: embedding dimension D.
        init_std: standard deviation of the normal initialisation.
        fields: restrict to these field names (default: all fields of ``spec``).
    """

    def __init__(self, spec: DataSpec, dim: int, *, init_std: float = 0.01,
                 fields: Sequence[str] | None = None) -> None:
        super().__init__()
        if dim < 1:
            raise ConfigError(f"embedding dimension must be >= 1, got {dim}")
        self.spec, self.dim = spec, dim
        chosen = [spec.field(n) for n in fields] if fields is not None else list(spec.fields)
        self.field_specs: dict[str, FieldSpec] = {f.name: f for f in chosen}
        sizes = spec.vocab_sizes()
        keys = {f.embedding_key for f in chosen if f.kind != "numeric"}
        for f in chosen:
            if f.kind != "numeric" and sizes.get(f.embedding_key, 0) < 2:
                raise ConfigError(f"field '{f.name}': vocab_size must be >= 2 (padding + OOV), got {f.vocab_size}")
        self.tables = nn.ModuleDict({_key(k): nn.Embedding(sizes[k], dim, padding_idx=0) for k in sorted(keys)})
        self.numeric = nn.ParameterDict(
            {_key(f.name): nn.Parameter(torch.empty(dim)) for f in chosen if f.kind == "numeric"}
        )
        self.init_std = init_std
        self.reset_parameters()

    def reset_parameters(self) -> None:
        for emb in self.tables.values():
            nn.init.normal_(emb.weight, std=self.init_std)
            with torch.no_grad():
                emb.weight[0].zero_()
        for v in self.numeric.values():
            nn.init.normal_(v, std=self.init_std)

    # -- field lists -----------------------------------------------------
    def names(self, *kinds: str, roles: Sequence[str | None] | None = None) -> list[str]:
        """Field names of the given kinds (all kinds if none), optionally filtered by role."""
        return [f.name for f in self.field_specs.values()
                if (not kinds or f.kind in kinds) and (roles is None or f.role in roles)]

    def flat_names(self, include_sequences: bool = True) -> list[str]:
        """The fields, in spec order, that :meth:`flat` stacks."""
        kinds = ("categorical", "numeric", "multi") + (("sequence",) if include_sequences else ())
        return self.names(*kinds)

    def table(self, name: str) -> nn.Embedding:
        """The embedding table field ``name`` reads from."""
        return self.tables[_key(self.field_specs[name].embedding_key)]

    # -- embedding -------------------------------------------------------
    def sequence(self, name: str, x: Tensor) -> tuple[Tensor, Tensor]:
        """``[B, L]`` ids → (``[B, L, D]`` embeddings, ``[B, L]`` bool mask of real positions)."""
        return self.table(name)(x), x != 0

    def embed(self, name: str, x: Tensor) -> Tensor:
        """One field → ``[B, D]`` (``[B, L, D]`` for sequences)."""
        f = self.field_specs[name]
        if f.kind == "numeric":
            return x.to(self.numeric[_key(name)].dtype).unsqueeze(-1) * self.numeric[_key(name)]
        if f.kind == "categorical":
            return self.table(name)(x)
        if f.kind == "multi":
            e, mask = self.sequence(name, x)
            return masked_mean(e, mask)
        return self.table(name)(x)

    def pooled(self, name: str, x: Tensor) -> Tensor:
        """Any field → ``[B, D]``; sequences are mean-pooled over their real positions."""
        if self.field_specs[name].kind == "sequence":
            e, mask = self.sequence(name, x)
            return masked_mean(e, mask)
        return self.embed(name, x)

    @staticmethod
    def require(batch: dict[str, Tensor], names: Sequence[str]) -> None:
        """Raise :class:`DataError` naming the first field of ``names`` missing from ``batch``."""
        for n in names:
            if n not in batch:
                raise DataError(f"missing from the batch (it has {sorted(batch)})", field=n)

    def flat(self, batch: dict[str, Tensor], names: Sequence[str] | None = None,
             include_sequences: bool = True) -> Tensor:
        """Stacked per-field embeddings ``[B, F, D]`` (sequences mean-pooled) in :meth:`flat_names` order."""
        names = self.flat_names(include_sequences) if names is None else names
        if not names:
            raise ConfigError("the data spec has no usable input field")
        self.require(batch, names)
        return torch.stack([self.pooled(n, batch[n]) for n in names], dim=1)

    def batch_l2(self, batch: dict[str, Tensor], names: Sequence[str] | None = None) -> Tensor:
        """Mini-batch aware L2 (DIN, Zhou et al. 2018, eq. 4): Σ_tables Σ_{j in batch} ||w_j||² / n_j.

        Only the rows whose ids occur in the batch contribute, each once, scaled by
        1/n_j with n_j the number of occurrences of id j in the batch (padding id 0
        excluded). Fields sharing a table pool their ids.
        """
        names = self.names("categorical", "multi", "sequence") if names is None else names
        ids: dict[str, list[Tensor]] = {}
        for n in names:
            ids.setdefault(self.field_specs[n].embedding_key, []).append(batch[n].reshape(-1))
        total = next(self.parameters()).new_zeros(())
        for key, parts in ids.items():
            flat = torch.cat(parts)
            flat = flat[flat != 0]
            if flat.numel() == 0:
                continue
            uniq, counts = torch.unique(flat, return_counts=True)
            w = self.tables[_key(key)].weight[uniq]
            total = total + (w.pow(2).sum(-1) / counts.to(w.dtype)).sum()
        return total


# -- sparse probability mappings ------------------------------------------------
def sparsemax(z: Tensor, dim: int = -1) -> Tensor:
    """Sparsemax (Martins & Astudillo 2016): the Euclidean projection of ``z`` onto the simplex.

    p = [z − τ]_+ with τ chosen so that Σ p = 1; exact zeros outside the support.
    Differentiable by autograd (τ is a smooth function of z on a fixed support).
    """
    z = z.transpose(dim, -1)
    z = z - z.max(-1, keepdim=True).values
    zs = z.sort(-1, descending=True).values
    rho = torch.arange(1, z.shape[-1] + 1, device=z.device, dtype=z.dtype)
    cs = zs.cumsum(-1) - 1
    k = (rho * zs > cs).sum(-1, keepdim=True)
    tau = cs.gather(-1, k - 1) / k.to(z.dtype)
    return (z - tau).clamp_min(0).transpose(dim, -1)


def entmax15(z: Tensor, dim: int = -1) -> Tensor:
    """1.5-entmax (Peters, Niculae & Martins 2019), exact sort-based threshold.

    p = [z/2 − τ]_+², Σ p = 1.
    """
    z = z.transpose(dim, -1)
    x = (z - z.max(-1, keepdim=True).values) / 2
    xs = x.sort(-1, descending=True).values
    rho = torch.arange(1, x.shape[-1] + 1, device=x.device, dtype=x.dtype)
    mean = xs.cumsum(-1) / rho
    mean_sq = (xs**2).cumsum(-1) / rho
    ss = rho * (mean_sq - mean**2)
    delta = ((1 - ss) / rho).clamp_min(0)
    tau = mean - torch.sqrt(delta)
    k = (tau <= xs).sum(-1, keepdim=True)
    tau_star = tau.gather(-1, k - 1)
    return (x - tau_star).clamp_min(0).pow(2).transpose(dim, -1)


class _EntmaxBisect(torch.autograd.Function):
    """α-entmax by bisection on τ: p = [(α−1)z − τ]_+^{1/(α−1)}, Σ p = 1."""

    @staticmethod
    def forward(ctx, z: Tensor, alpha: float, n_iter: int) -> Tensor:  # type: ignore[override]
        d = z.shape[-1]
        x = z * (alpha - 1)
        mx = x.max(-1, keepdim=True).values
        lo = mx - 1.0
        hi = mx - (1.0 / d) ** (alpha - 1)
        inv = 1.0 / (alpha - 1)
        for _ in range(n_iter):
            mid = (lo + hi) / 2
            f = (x - mid).clamp_min(0).pow(inv).sum(-1, keepdim=True) - 1
            lo = torch.where(f >= 0, mid, lo)
            hi = torch.where(f >= 0, hi, mid)
        p = (x - (lo + hi) / 2).clamp_min(0).pow(inv)
        p = p / p.sum(-1, keepdim=True)
        ctx.alpha = alpha
        ctx.save_for_backward(p)
        return p

    @staticmethod
    def backward(ctx, grad: Tensor) -> tuple[Tensor, None, None]:  # type: ignore[override]
        (p,) = ctx.saved_tensors
        g = torch.where(p > 0, p.pow(2 - ctx.alpha), torch.zeros_like(p))
        dz = grad * g
        q = dz.sum(-1, keepdim=True) / g.sum(-1, keepdim=True)
        return dz - q * g, None, None


def entmax_bisect(z: Tensor, alpha: float = 1.5, dim: int = -1, n_iter: int = 50) -> Tensor:
    """α-entmax (α > 1) along ``dim`` by bisection, with the closed-form Jacobian in backward."""
    if alpha <= 1:
        raise ConfigError(f"entmax_bisect needs alpha > 1, got {alpha}")
    return _EntmaxBisect.apply(z.transpose(dim, -1), float(alpha), n_iter).transpose(dim, -1)


def entmax(z: Tensor, alpha: float, dim: int = -1) -> Tensor:
    """α-entmax: softmax for α = 1, exact sparsemax for α = 2, exact 1.5-entmax for α = 1.5, bisection otherwise."""
    if alpha < 1:
        raise ConfigError(f"entmax alpha must be >= 1, got {alpha}")
    if alpha == 1:
        return torch.softmax(z, dim)
    if alpha == 2:
        return sparsemax(z, dim)
    if alpha == 1.5:
        return entmax15(z, dim)
    return entmax_bisect(z, alpha, dim)
