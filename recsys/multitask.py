"""Building blocks of the multi-task models (MMoE, PLE, DTRN).

Field embeddings come from :mod:`plexus.recsys.layers`
(:class:`~plexus.recsys.layers.FieldEmbedding`), MLPs from :mod:`plexus.platform.nn`
(:class:`~plexus.platform.nn.MLP`); this module holds only the multi-task blocks:

* :class:`Towers`: one ``MLP → logit`` tower per task.
* :class:`MMoEBlock`: shared experts with one softmax gate per task (Ma et al. 2018).
* :class:`PLEBlock`: stacked CGC extraction layers (Tang et al. 2020).

Both expert blocks accept one input shared by all tasks (``[B, D]``) or one input
per task (``[T, B, D]``, DTRN's task-specific bottoms).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from plexus.platform.errors import ConfigError
from plexus.platform.nn import MLP
from torch import Tensor, nn

__all__ = ["EMBED_INIT_STD", "MMoEBlock", "PLEBlock", "Towers", "check_hidden"]

# embeddings of the multi-task models: N(0, 0.05²), padding row 0
EMBED_INIT_STD = 0.05


def check_hidden(name: str, hidden: Sequence[int]) -> tuple[int, ...]:
    """Validate a tuple of layer widths (a hyperparameter)."""
    hidden = tuple(int(h) for h in hidden)
    if not hidden or any(h <= 0 for h in hidden):
        raise ConfigError(
            f"hyperparameter '{name}' expects a non-empty list of positive widths, got {hidden}"
        )
    return hidden


class Towers(nn.Module):
    """One tower per task: ``MLP(hidden) → Linear(·, 1)``; ``[T, B, D]`` → ``[T, B]`` logits."""

    def __init__(self, num_tasks: int, in_dim: int, hidden: Sequence[int], dropout: float):
        super().__init__()
        self.towers = nn.ModuleList(
            MLP((in_dim, *hidden, 1), dropout=dropout, plain_last=True) for _ in range(num_tasks)
        )

    def forward(self, x: Tensor) -> Tensor:
        return torch.stack([tower(x[t]).squeeze(-1) for t, tower in enumerate(self.towers)])


class _Experts(nn.Module):
    """``n`` independent MLP experts applied to one input: ``[..., D]`` → ``[..., n, H]``."""

    def __init__(self, n: int, in_dim: int, hidden: Sequence[int], dropout: float):
        super().__init__()
        self.experts = nn.ModuleList(MLP((in_dim, *hidden), dropout=dropout) for _ in range(n))
        self.out_dim = hidden[-1]

    def forward(self, x: Tensor) -> Tensor:
        return torch.stack([e(x) for e in self.experts], dim=-2)


class MMoEBlock(nn.Module):
    """Multi-gate Mixture-of-Experts: ``f^t(x) = Σ_k g^t_k(x) f_k(x)``, ``g^t(x) = softmax(W_t x)``.

    Args:
        in_dim: input width D.
        num_tasks: T (one gate per task).
        num_experts: K shared experts.
        expert_hidden: expert MLP widths; expert output width H = ``expert_hidden[-1]``.
        dropout: dropout inside the experts.

    ``forward(x)``: ``x`` is ``[B, D]`` (shared) or ``[T, B, D]`` (task t's gate and the
    experts it mixes see ``x[t]``). Returns ``(out [T, B, H], gates [T, B, K])``.
    """

    def __init__(
        self, in_dim: int, num_tasks: int, num_experts: int, expert_hidden: Sequence[int], dropout: float
    ):
        super().__init__()
        if num_experts < 1:
            raise ConfigError(f"hyperparameter 'num_experts' must be >= 1, got {num_experts}")
        self.experts = _Experts(num_experts, in_dim, expert_hidden, dropout)
        self.gates = nn.ModuleList(nn.Linear(in_dim, num_experts, bias=False) for _ in range(num_tasks))
        self.out_dim = self.experts.out_dim

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        per_task = x.dim() == 3
        e = self.experts(x)  # [B, K, H] or [T, B, K, H]
        gates = torch.stack(
            [torch.softmax(g(x[t] if per_task else x), dim=-1) for t, g in enumerate(self.gates)]
        )  # [T, B, K]
        e = e if per_task else e.unsqueeze(0)
        return (gates.unsqueeze(-1) * e).sum(-2), gates


class _CGCLevel(nn.Module):
    """One extraction layer: task-specific experts, shared experts, task gates (+ shared gate)."""

    def __init__(
        self,
        in_dim: int,
        num_tasks: int,
        m_task: int,
        m_shared: int,
        hidden: Sequence[int],
        dropout: float,
        shared_gate: bool,
    ):
        super().__init__()
        self.task_experts = nn.ModuleList(_Experts(m_task, in_dim, hidden, dropout) for _ in range(num_tasks))
        self.shared_experts = _Experts(m_shared, in_dim, hidden, dropout)
        self.task_gates = nn.ModuleList(
            nn.Linear(in_dim, m_task + m_shared, bias=False) for _ in range(num_tasks)
        )
        self.shared_gate = (
            nn.Linear(in_dim, num_tasks * m_task + m_shared, bias=False) if shared_gate else None
        )

    def forward(self, xs: list[Tensor], x_shared: Tensor) -> tuple[list[Tensor], Tensor | None, list[Tensor]]:
        e_task = [ex(x) for ex, x in zip(self.task_experts, xs)]  # each [B, m_t, H]
        e_shared = self.shared_experts(x_shared)  # [B, m_s, H]
        outs, gates = [], []
        for t, (g, x) in enumerate(zip(self.task_gates, xs)):
            w = torch.softmax(g(x), dim=-1)
            gates.append(w)
            outs.append((w.unsqueeze(-1) * torch.cat([e_task[t], e_shared], dim=1)).sum(1))
        shared_out = None
        if self.shared_gate is not None:
            w = torch.softmax(self.shared_gate(x_shared), dim=-1)
            shared_out = (w.unsqueeze(-1) * torch.cat(e_task + [e_shared], dim=1)).sum(1)
        return outs, shared_out, gates


class PLEBlock(nn.Module):
    """Progressive Layered Extraction: ``num_levels`` stacked CGC layers.

    Level k: task t's gate mixes [task t's experts ‖ shared experts], each applied to
    its own stream (task stream t, shared stream); at non-final levels a shared gate
    mixes *all* experts into the next shared stream. Only the final level lacks the
    shared gate, so there task t's experts get gradient only from task t.

    Args:
        in_dim: input width D.
        num_tasks: T.
        num_levels: number of extraction layers (≥ 1; 1 = CGC).
        specific_experts: experts per task per level.
        shared_experts: shared experts per level.
        expert_hidden: expert MLP widths; output width H = ``expert_hidden[-1]``.
        dropout: dropout inside the experts.

    ``forward(x, x_shared=None)``: ``x`` is ``[B, D]`` or ``[T, B, D]``; the level-1
    shared stream is ``x_shared`` (default: ``x`` or the mean over tasks of ``x``).
    Returns ``(out [T, B, H], gates: list per level of [T, B, m_t + m_s])``.
    """

    def __init__(
        self,
        in_dim: int,
        num_tasks: int,
        num_levels: int,
        specific_experts: int,
        shared_experts: int,
        expert_hidden: Sequence[int],
        dropout: float,
    ):
        super().__init__()
        if num_levels < 1 or specific_experts < 1 or shared_experts < 1:
            raise ConfigError(
                "PLE needs num_levels, specific_experts and shared_experts >= 1, got "
                f"{num_levels}, {specific_experts}, {shared_experts}"
            )
        dims = [in_dim] + [expert_hidden[-1]] * (num_levels - 1)
        self.levels = nn.ModuleList(
            _CGCLevel(
                d, num_tasks, specific_experts, shared_experts, expert_hidden, dropout, k < num_levels - 1
            )
            for k, d in enumerate(dims)
        )
        self.num_tasks = num_tasks
        self.out_dim = expert_hidden[-1]

    def forward(self, x: Tensor, x_shared: Tensor | None = None) -> tuple[Tensor, list[Tensor]]:
        if x.dim() == 3:
            xs = list(x.unbind(0))
            shared = x.mean(0) if x_shared is None else x_shared
        else:
            xs = [x] * self.num_tasks
            shared = x if x_shared is None else x_shared
        all_gates = []
        for level in self.levels:
            xs, shared, gates = level(xs, shared)
            all_gates.append(torch.stack(gates))
        return torch.stack(xs), all_gates
