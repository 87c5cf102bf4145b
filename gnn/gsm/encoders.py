"""Local (MPNN) and global (Transformer / selective SSM / hybrid) encoders of GSM.

GSM (Behrouz et al., arXiv 2411.15671): ``y = Ψ(AGG(φ_Local(S^(1)), ..., φ_Local(S^(T))))``
with ``φ_Local`` an MPNN and the global encoder a sequence model.

* :class:`LocalMPNN`: GINE (GIN when there are no edge features) or GatedGCN-style
  (PyG ``ResGatedGraphConv``; the third-party reproduction uses GatedGCN [U]),
  residual + LayerNorm.
* :class:`SelectiveSSM`: a Mamba block in plain PyTorch (Gu & Dao 2023):
  ``x, z = W_in u``; ``x = SiLU(causal_conv(x))``; ``Δ = softplus(W_Δ W_dt x + b)``,
  ``B_t, C_t = W_B x_t, W_C x_t``; recurrence
  ``h_t = exp(Δ_t A) ⊙ h_{t-1} + Δ_t B_t x_t``, ``y_t = C_t h_t + D x_t``;
  ``out = W_out (y ⊙ SiLU(z))``. ``A = -exp(A_log)`` (S4D-real init).
  The scan is chunked: a log-depth (Hillis-Steele) parallel scan inside chunks of
  ``chunk_size`` and a carry between chunks, with a hand-written backward (the same
  scan run backwards in time on the adjoint); :func:`selective_scan_ref` is the
  sequential reference. ``mamba_ssm`` CUDA kernels are not required.
* :class:`TransformerLayer`: pre-norm multi-head self-attention with an optional
  additive per-head bias (hierarchical PE) and key padding mask, then an FFN.
* :class:`SequenceEncoder`: ``hybrid`` = ``num_ssm`` SSM layers then ``num_attn``
  Transformer layers (GSM++: 2 Mamba + 1 Transformer in the reproduction [U]);
  ``transformer`` / ``ssm`` are the single-backbone ablations.

Sequences are ``[B, L, d]`` with ``mask [B, L]`` (True = real token). The SSM is causal:
output ``t`` depends on tokens ``<= t`` only; padded tokens are zeroed and get
``Δ = 0`` so they neither change the state nor the outputs of real tokens (both left
and right padding are exact).
"""

from __future__ import annotations

import math
from typing import Any, Literal

import torch
import torch.nn.functional as F
from torch import nn

__all__ = [
    "BiasPieces",
    "LocalMPNN",
    "SelectiveSSM",
    "SequenceEncoder",
    "TransformerLayer",
    "selective_scan",
    "selective_scan_fused",
    "selective_scan_ref",
]


class LocalMPNN(nn.Module):
    """``φ_Local``: stacked MPNN layers with residual connections.

    Args:
        dim: width. kind: ``gine`` | ``gatedgcn`` | ``none``. layers: depth.
        edge_dim: edge feature width (0: none; GINE then falls back to GIN).
        dropout: dropout after each layer.
    Shapes: ``x [N, dim]``, ``edge_index [2, E]``, ``edge_attr [E, edge_dim]`` -> ``[N, dim]``.
    """

    def __init__(self, dim: int, kind: str = "gine", layers: int = 2, edge_dim: int = 0, dropout: float = 0.0):
        super().__init__()
        from torch_geometric.nn import GINConv, GINEConv, ResGatedGraphConv

        self.kind, self.edge_dim = kind, edge_dim
        self.convs, self.norms = nn.ModuleList(), nn.ModuleList()
        n = 0 if kind == "none" else layers
        for _ in range(n):
            mlp = nn.Sequential(nn.Linear(dim, dim), nn.ReLU(), nn.Linear(dim, dim))
            if kind == "gine":
                conv = GINEConv(mlp, edge_dim=edge_dim) if edge_dim > 0 else GINConv(mlp)
            elif kind == "gatedgcn":
                conv = ResGatedGraphConv(dim, dim, edge_dim=edge_dim if edge_dim > 0 else None)
            else:
                raise ValueError(f"unknown local MPNN {kind!r}")
            self.convs.append(conv)
            self.norms.append(nn.LayerNorm(dim))
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor, edge_index: torch.Tensor, edge_attr: torch.Tensor | None = None) -> torch.Tensor:
        for conv, norm in zip(self.convs, self.norms):
            if self.edge_dim > 0 and edge_attr is not None:
                out = conv(x, edge_index, edge_attr.float().reshape(edge_index.size(1), -1))
            else:
                out = conv(x, edge_index)
            x = norm(x + self.dropout(F.relu(out)))
        return x


def selective_scan_ref(dA: torch.Tensor, dBx: torch.Tensor, C: torch.Tensor) -> torch.Tensor:
    """Sequential reference: ``h_t = dA_t ⊙ h_{t-1} + dBx_t``, ``y_t = <h_t, C_t>``.

    ``dA, dBx: [B, L, d, n]``, ``C: [B, L, n]`` -> ``y [B, L, d]``.
    """
    h = torch.zeros_like(dBx[:, 0])
    ys = []
    for t in range(dA.size(1)):
        h = dA[:, t] * h + dBx[:, t]
        ys.append(torch.einsum("bdn,bn->bd", h, C[:, t]))
    return torch.stack(ys, 1)


def _recurrence(a: torch.Tensor, s: torch.Tensor, chunk_size: int) -> torch.Tensor:
    """``h_t = a_t ⊙ h_{t-1} + s_t`` (``h_{-1} = 0``) over dim 1 of ``[B, L, ...]``, no autograd.

    ``chunk_size`` 1 is a plain loop writing in place into one buffer (least memory
    traffic: the CPU path). Larger chunks compose the affine maps ``h -> a_t h + s_t``
    inside each chunk with a Hillis-Steele scan (``ceil(log2 c)`` elementwise steps,
    numerically stable: only products of decays in (0, 1]) and carry the last state
    from chunk to chunk (fewer, larger steps: the GPU path).
    """
    b, L = a.shape[:2]
    rest = a.shape[2:]
    c = max(1, min(chunk_size, L))
    pad = (-L) % c
    if pad:
        a = torch.cat([a, a.new_ones(b, pad, *rest)], 1)
        s = torch.cat([s, s.new_zeros(b, pad, *rest)], 1)
    nc = a.size(1) // c
    a = a.reshape(b, nc, c, *rest)
    s = s.reshape(b, nc, c, *rest)
    off = 1
    while off < c:  # position t absorbs the composite ending at t - off
        s = torch.cat([s[:, :, :off], torch.addcmul(s[:, :, off:], a[:, :, off:], s[:, :, :-off])], 2)
        a = torch.cat([a[:, :, :off], a[:, :, off:] * a[:, :, :-off]], 2)
        off *= 2
    out = torch.empty_like(s)
    h0 = s.new_zeros(b, 1, *rest)
    for i in range(nc):
        h0 = torch.addcmul(s[:, i], a[:, i], h0, out=out[:, i])[:, -1:]
    return out.reshape(b, nc * c, *rest)[:, :L]


def _contract_n(h: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """``Σ_n h[b,l,d,n] v[b,l,n]`` -> ``[B, L, d]`` (batched mat-vec; einsum picks a copying bmm)."""
    return torch.matmul(h, v.unsqueeze(-1)).squeeze(-1)


def _contract_d(h: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """``Σ_d h[b,l,d,n] v[b,l,d]`` -> ``[B, L, n]``."""
    return torch.matmul(v.unsqueeze(-2), h).squeeze(-2)


def _adjoint(a: torch.Tensor, g: torch.Tensor, chunk_size: int) -> torch.Tensor:
    """``g_t <- g_t + a_{t+1} ⊙ g_{t+1}`` backwards in time (in place when ``chunk_size`` is 1)."""
    L = g.size(1)
    if chunk_size <= 1 or L == 1:
        for t in range(L - 2, -1, -1):
            torch.addcmul(g[:, t], a[:, t + 1], g[:, t + 1], out=g[:, t])
        return g
    a_next = torch.cat([a[:, 1:], a.new_ones(a[:, :1].shape)], 1)
    return _recurrence(a_next.flip(1), g.flip(1), chunk_size).flip(1)


def _times_prev(g: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
    """``g_t ⊙ h_{t-1}`` with ``h_{-1} = 0``: the gradient of the decays."""
    out = torch.empty_like(g)
    out[:, 0] = 0
    torch.mul(g[:, 1:], h[:, :-1], out=out[:, 1:])
    return out


class _SelectiveScan(torch.autograd.Function):
    """``y_t = <h_t, C_t>`` with ``h`` from :func:`_recurrence`; the backward written by hand.

    Left to autograd, the scan's slices and concatenations each cost a zero-filled
    tensor of the full state size in the backward. The adjoint is the same recurrence
    backwards in time: ``g_t = C_t ∂L/∂y_t + a_{t+1} ⊙ g_{t+1}``, then
    ``∂L/∂a_t = g_t ⊙ h_{t-1}``, ``∂L/∂s_t = g_t``, ``∂L/∂C_t = Σ_d h_t ∂L/∂y_t``.
    """

    @staticmethod
    def forward(ctx: Any, a: torch.Tensor, s: torch.Tensor, C: torch.Tensor, chunk_size: int) -> torch.Tensor:
        h = _recurrence(a, s, chunk_size)
        ctx.save_for_backward(a, h, C)
        ctx.chunk_size = chunk_size
        return _contract_n(h, C)

    @staticmethod
    def backward(ctx: Any, gy: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, None]:
        a, h, C = ctx.saved_tensors
        g = _adjoint(a, gy.unsqueeze(-1) * C.unsqueeze(2), ctx.chunk_size)
        return _times_prev(g, h), g, _contract_d(h, gy), None


def selective_scan(dA: torch.Tensor, dBx: torch.Tensor, C: torch.Tensor, chunk_size: int = 16) -> torch.Tensor:
    """Chunked parallel scan, same contract as :func:`selective_scan_ref`.

    ``chunk_size`` 1 runs the recurrence as an in-place loop, larger values as a chunked
    parallel scan (:func:`_recurrence`); either way the backward is the reverse-time
    scan of the adjoint (:class:`_SelectiveScan`), not autograd's trace of the scan.
    """
    return _SelectiveScan.apply(dA, dBx, C, chunk_size)


class _FusedSelectiveScan(torch.autograd.Function):
    """Discretization + scan + readout of the selective SSM in one autograd node.

    ``dA = exp(Δ ⊗ A)`` and ``dBx = (Δ x) ⊗ B`` are ``[B, L, d, n]``: built inside the
    forward; the saved full-size tensors are the state ``h`` and ``dA`` (``dBx`` and
    autograd's intermediates of both products are never kept). Gradients (``g`` the state adjoint as in
    :class:`_SelectiveScan`, ``z = Δ ⊗ A``): ``∂L/∂z = g_t ⊙ h_{t-1} ⊙ dA``,
    ``∂L/∂Δ = Σ_n ∂L/∂z A + x Σ_n g B``, ``∂L/∂A = Σ_{b,l} ∂L/∂z Δ``,
    ``∂L/∂x = Δ Σ_n g B``, ``∂L/∂B = Σ_d g Δ x``, ``∂L/∂C = Σ_d h ∂L/∂y``.
    """

    @staticmethod
    def forward(ctx: Any, x: torch.Tensor, dt: torch.Tensor, A: torch.Tensor, B: torch.Tensor, C: torch.Tensor,
                chunk_size: int) -> torch.Tensor:
        dA = torch.exp(dt.unsqueeze(-1) * A)
        h = _recurrence(dA, (dt * x).unsqueeze(-1) * B.unsqueeze(2), chunk_size)
        ctx.save_for_backward(x, dt, A, B, C, h, dA)
        ctx.chunk_size = chunk_size
        return _contract_n(h, C)

    @staticmethod
    def backward(ctx: Any, gy: torch.Tensor) -> tuple[torch.Tensor | None, ...]:
        x, dt, A, B, C, h, dA = ctx.saved_tensors
        g = _adjoint(dA, gy.unsqueeze(-1) * C.unsqueeze(2), ctx.chunk_size)
        grad_u = _contract_n(g, B)
        grad_B = _contract_d(g, dt * x)
        grad_z = _times_prev(g, h).mul_(dA)
        grad_dt = (grad_z * A).sum(-1).addcmul_(grad_u, x)
        grad_A = (grad_z * dt.unsqueeze(-1)).sum((0, 1))
        return grad_u * dt, grad_dt, grad_A, grad_B, _contract_d(h, gy), None


def selective_scan_fused(x: torch.Tensor, dt: torch.Tensor, A: torch.Tensor, B: torch.Tensor, C: torch.Tensor,
                         chunk_size: int = 1) -> torch.Tensor:
    """``y`` of :func:`selective_scan` with ``dA = exp(Δ ⊗ A)``, ``dBx = (Δ x) ⊗ B``, fused.

    ``x, dt: [B, L, d]``, ``A: [d, n]``, ``B, C: [B, L, n]`` -> ``y [B, L, d]``.
    """
    return _FusedSelectiveScan.apply(x, dt, A, B, C, chunk_size)


class SelectiveSSM(nn.Module):
    """Mamba-style selective SSM block (see module docstring for the equations).

    Args:
        dim: model width. d_state: SSM state size ``n``. d_conv: causal conv width.
        expand: inner width factor. chunk_size: scan chunk (0: by device, 1 on CPU where
        the scan is memory-bound, 16 on GPU where it is launch-bound).
        scan: ``chunked`` (:func:`selective_scan`) | ``sequential`` (autograd reference).
    Shapes: ``[B, L, dim]`` (+ ``mask [B, L]``) -> ``[B, L, dim]``.
    """

    def __init__(
        self, dim: int, d_state: int = 16, d_conv: int = 4, expand: int = 2, chunk_size: int = 0,
        scan: Literal["chunked", "sequential"] = "chunked",
    ) -> None:
        super().__init__()
        inner = expand * dim
        self.inner, self.d_state, self.chunk_size, self.scan = inner, d_state, chunk_size, scan
        self.dt_rank = max(1, math.ceil(dim / 16))
        self.in_proj = nn.Linear(dim, 2 * inner, bias=False)
        self.conv = nn.Conv1d(inner, inner, d_conv, groups=inner, padding=d_conv - 1)
        self.x_proj = nn.Linear(inner, self.dt_rank + 2 * d_state, bias=False)
        self.dt_proj = nn.Linear(self.dt_rank, inner)
        dt = torch.exp(torch.rand(inner) * (math.log(0.1) - math.log(1e-3)) + math.log(1e-3))
        with torch.no_grad():
            self.dt_proj.bias.copy_(dt + torch.log(-torch.expm1(-dt)))  # softplus^-1
        self.A_log = nn.Parameter(torch.log(torch.arange(1, d_state + 1, dtype=torch.float).repeat(inner, 1)))
        self.D = nn.Parameter(torch.ones(inner))
        self.out_proj = nn.Linear(inner, dim, bias=False)

    def _causal_conv(self, x: torch.Tensor) -> torch.Tensor:
        """Depthwise causal conv of ``self.conv``'s weights as ``d_conv`` shifted products.

        Same result as ``conv(x)[..., :L]``; on CPU the depthwise ``Conv1d`` backward costs
        more than the whole scan for GSM's many short sequences.
        """
        w = self.conv.weight[:, 0]  # [inner, d_conv]
        k, L = w.size(1), x.size(1)
        xp = F.pad(x, (0, 0, k - 1, 0))
        y = xp[:, :L] * w[:, 0] + self.conv.bias
        for j in range(1, k):
            y = torch.addcmul(y, xp[:, j: j + L], w[:, j])
        return y

    def forward(self, u: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        if mask is not None:
            u = u * mask.unsqueeze(-1)
        x, z = self.in_proj(u).chunk(2, -1)
        x = F.silu(self._causal_conv(x))
        dt, B, C = self.x_proj(x).split([self.dt_rank, self.d_state, self.d_state], -1)
        dt = F.softplus(self.dt_proj(dt))  # [B, L, inner]
        if mask is not None:
            dt = dt * mask.unsqueeze(-1)
            x = x * mask.unsqueeze(-1)
        A = -torch.exp(self.A_log)  # [inner, n]
        if self.scan == "sequential":
            y = selective_scan_ref(torch.exp(dt.unsqueeze(-1) * A), (dt * x).unsqueeze(-1) * B.unsqueeze(2), C)
        else:
            y = selective_scan_fused(x, dt, A, B, C, self.chunk_size or (16 if x.is_cuda else 1))
        y = y + x * self.D
        return self.out_proj(y * F.silu(z))


class TransformerLayer(nn.Module):
    """Pre-norm self-attention with additive bias ``[B, H, L, L]`` and padding mask, then FFN.

    ``attn_dropout`` (default: ``dropout``) drops attention weights. On CPU any attention dropout sends
    ``scaled_dot_product_attention`` to its math path, which materialises the ``[B, H, L, L]`` weights
    and their dropout mask (Tolokers' 11,758-node sequence: 2.2 GB and ~35 s of a 50 s forward).
    """

    def __init__(self, dim: int, heads: int = 4, dropout: float = 0.0, attn_dropout: float | None = None) -> None:
        super().__init__()
        if dim % heads:
            raise ValueError(f"hidden size {dim} is not divisible by heads {heads}")
        self.h = heads
        self.qkv = nn.Linear(dim, 3 * dim)
        self.out = nn.Linear(dim, dim)
        self.norm1, self.norm2 = nn.LayerNorm(dim), nn.LayerNorm(dim)
        self.ffn = nn.Sequential(nn.Linear(dim, 2 * dim), nn.GELU(), nn.Dropout(dropout), nn.Linear(2 * dim, dim))
        self.drop = nn.Dropout(dropout)
        self.attn_p = dropout if attn_dropout is None else attn_dropout

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None, bias: torch.Tensor | None = None) -> torch.Tensor:
        b, L, d = x.shape
        q, k, v = self.qkv(self.norm1(x)).view(b, L, 3, self.h, d // self.h).permute(2, 0, 3, 1, 4)
        attn_mask = None
        if mask is not None:
            keys = mask | ~mask.any(1, keepdim=True)  # a sequence of padding only attends to its padding
            attn_mask = keys[:, None, None, :]
            if bias is not None:
                attn_mask = bias.masked_fill(~attn_mask, float("-inf"))
        elif bias is not None:
            attn_mask = bias
        # fused attention: without a bias (the node sequence of a graph beyond pe_max_nodes) no [L, L] matrix
        # is materialised, which is what lets a 12k-node graph be one sequence
        y = F.scaled_dot_product_attention(q, k, v, attn_mask=attn_mask, dropout_p=self.attn_p if self.training else 0.0)
        x = x + self.drop(self.out(y.transpose(1, 2).reshape(b, L, d)))
        return x + self.drop(self.ffn(self.norm2(x)))


class BiasPieces:
    """Per-sequence attention biases ``[H, n_i, n_i]`` (or ``None`` = no bias), each at the top-left of
    its padded sequence (right padding), kept apart until a length bucket needs them.

    A dense ``[B, H, L, L]`` stack indexed per bucket costs, in backward, one zero-filled ``[B, H, L, L]``
    gradient per bucket (PROTEINS, 64 graphs: 261 HAC levels padded to 481, ~1 GB, 10 s of a 22 s step);
    :meth:`select` builds only the bucket's ``[|g|, H, w, w]`` window from the pieces.
    """

    def __init__(self, pieces: list[torch.Tensor | None], length: int, heads: int, ref: torch.Tensor) -> None:
        self.pieces, self.length, self.heads, self.ref = pieces, length, heads, ref

    def select(self, idx: list[int], a: int, b: int) -> torch.Tensor | None:
        """``[len(idx), H, b - a, b - a]``: window ``a:b`` of the padded biases of sequences ``idx``; ``None``
        where none of them has a bias there (a zero bias: Tolokers' HAC levels of 11,758 clusters)."""
        w = b - a
        win = [None if p is None or p.size(1) <= a else p[:, a:b, a:b] for p in (self.pieces[i] for i in idx)]
        if all(p is None for p in win):
            return None
        return torch.stack([self.ref.new_zeros(self.heads, w, w) if p is None
                            else F.pad(p, (0, w - p.size(2), 0, w - p.size(1))) for p in win])

    def dense(self) -> torch.Tensor | None:
        """``[B, H, L, L]`` (``None``: no sequence has a bias)."""
        return self.select(list(range(len(self.pieces))), 0, self.length)


class SequenceEncoder(nn.Module):
    """Global encoder: ``ssm`` layers (residual, pre-norm) followed by ``attn`` layers.

    Args:
        dim: width. backbone: ``hybrid`` | ``transformer`` | ``ssm``.
        num_ssm / num_attn: layer counts (``transformer`` uses ``num_ssm + num_attn``
        attention layers, ``ssm`` as many SSM layers, so depth matches the hybrid).
    """

    def __init__(
        self, dim: int, backbone: str = "hybrid", num_ssm: int = 2, num_attn: int = 1, heads: int = 4,
        d_state: int = 16, d_conv: int = 4, expand: int = 2, chunk_size: int = 0, dropout: float = 0.0,
        attn_dropout: float | None = None,
    ) -> None:
        super().__init__()
        total = num_ssm + num_attn
        n_ssm = {"hybrid": num_ssm, "ssm": total, "transformer": 0}[backbone]
        n_att = total - n_ssm
        self.ssms = nn.ModuleList(SelectiveSSM(dim, d_state, d_conv, expand, chunk_size) for _ in range(n_ssm))
        self.ssm_norms = nn.ModuleList(nn.LayerNorm(dim) for _ in range(n_ssm))
        self.attns = nn.ModuleList(TransformerLayer(dim, heads, dropout, attn_dropout) for _ in range(n_att))
        self.norm = nn.LayerNorm(dim)
        self.drop = nn.Dropout(dropout)

    def forward(
        self, x: torch.Tensor, mask: torch.Tensor | None = None, bias: torch.Tensor | BiasPieces | None = None
    ) -> torch.Tensor:
        """``x [B, L, d]``, ``mask [B, L]`` (True = real), ``bias [B, H, L, L]`` or :class:`BiasPieces`
        -> ``[B, L, d]``.

        Sequences of very different lengths (a batch of graphs: the node sequence of a 600-node graph beside
        20-node ones; HAC levels of 1 to N clusters) are run in buckets of similar length, each trimmed to
        the span of its real tokens: the same outputs at real tokens (the SSM is causal with Δ = 0 on
        padding, attention masks padded keys), padded positions are 0, and far less work on padding
        (PROTEINS, 64 graphs: the HAC-BFS sequences were 91 % padding).
        """
        if mask is None or x.size(0) < 2:
            return self._encode(x, mask, bias.dense() if isinstance(bias, BiasPieces) else bias)
        B, L = mask.shape
        real = mask.any(1)
        first = torch.where(real, mask.int().argmax(1), 0)
        last = torch.where(real, L - 1 - mask.flip(1).int().argmax(1), 0)
        span = (last - first + 1).clamp(min=1)
        bucket = torch.ceil(torch.log2(span.double())).long()
        groups = [torch.nonzero(bucket == k).view(-1) for k in torch.unique(bucket).tolist()]
        windows = [(int(first[g].min()), int(last[g].max()) + 1) for g in groups]
        if sum(g.numel() * (b - a) for g, (a, b) in zip(groups, windows)) > 0.75 * B * L:
            out = self._encode(x, mask, bias.dense() if isinstance(bias, BiasPieces) else bias)  # one call
        else:
            out = x.new_zeros(x.shape)
            for g, (a, b) in zip(groups, windows):
                if isinstance(bias, BiasPieces):
                    sub_bias = bias.select(g.tolist(), a, b)
                else:
                    sub_bias = None if bias is None else bias[g][:, :, a:b, a:b]
                out[g, a:b] = self._encode(x[g, a:b], mask[g, a:b], sub_bias)
        return out.masked_fill(~mask.unsqueeze(-1), 0.0)

    def _encode(self, x: torch.Tensor, mask: torch.Tensor | None, bias: torch.Tensor | None) -> torch.Tensor:
        for ssm, norm in zip(self.ssms, self.ssm_norms):
            x = x + self.drop(ssm(norm(x), mask))
        for att in self.attns:
            x = att(x, mask, bias)
        return self.norm(x)
