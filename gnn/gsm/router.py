"""Mixture of Tokenization (MoT) router of GSM++.

Per node ``v`` a router scores the ``T`` tokenizers, ``s_v = σ(h_v W_r) ∈ (0,1)^T``
(paper: ``S = σ(X W_r)``), keeps the top-``k`` (``k = 2``) and concatenates their
encodings. Concatenation keeps one slot per tokenizer (``[N, T·d]``) in which the
unselected slots are zero, so a slot always means the same tokenizer:

``z_v = ‖_t g_{v,t} · enc_t(v)``, ``g_{v,t} = s_{v,t} / Σ_{t' ∈ top-k(v)} s_{v,t'}`` if
``t ∈ top-k(v)`` else 0.

Gradients through the discrete choice are [U] in the sources; here they flow into
the selected scores only (sparse-MoE style, Shazeer et al. 2017), the top-k index
itself is not differentiated. Router input ``h`` = the local-MPNN node encodings [U].
"""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["MoTRouter"]


class MoTRouter(nn.Module):
    """Top-``k`` sigmoid router.

    Args:
        dim: input width ``d``. num_tokenizers: ``T``. k: tokenizers kept per node.
    Shapes: ``gates(h [N, d]) -> [N, T]`` (exactly ``k`` non-zeros per row, summing to 1);
    ``forward(h, encs [T x [N, d]]) -> [N, T*d]``.
    """

    def __init__(self, dim: int, num_tokenizers: int, k: int = 2) -> None:
        super().__init__()
        if not 1 <= k <= num_tokenizers:
            raise ValueError(f"top-k must be in 1..{num_tokenizers}, got {k}")
        self.k, self.t = k, num_tokenizers
        self.w = nn.Linear(dim, num_tokenizers)

    def gates(self, h: torch.Tensor) -> torch.Tensor:
        s = torch.sigmoid(self.w(h))
        top, idx = s.topk(self.k, dim=-1)
        return torch.zeros_like(s).scatter(-1, idx, top / top.sum(-1, keepdim=True))

    def selected(self, h: torch.Tensor) -> torch.Tensor:
        """``[T]`` bool: tokenizers chosen by at least one node (others need not run)."""
        with torch.no_grad():
            return self.gates(h).gt(0).any(0)

    def forward(self, h: torch.Tensor, encs: list[torch.Tensor | None], gates: torch.Tensor | None = None) -> torch.Tensor:
        g = self.gates(h) if gates is None else gates
        parts = [g[:, t: t + 1] * e if e is not None else h.new_zeros(h.size(0), h.size(1)) for t, e in enumerate(encs)]
        return torch.cat(parts, -1)
