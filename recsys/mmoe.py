"""MMoE: Multi-gate Mixture-of-Experts (Ma, Zhao, Yi, Chen, Hong, Chi; KDD 2018)."""

from __future__ import annotations

from typing import Any

from plexus.platform.catalog import register_model
from plexus.platform.errors import ConfigError
from plexus.platform.spec import DataSpec
from plexus.recsys.layers import FieldEmbedding
from plexus.recsys.multitask import EMBED_INIT_STD, MMoEBlock, Towers, check_hidden
from torch import Tensor, nn

__all__ = ["MMoE"]


@register_model(
    "mmoe",
    task="multitask",
    paper="Modeling Task Relationships in Multi-task Learning with Multi-gate Mixture-of-Experts (KDD 2018)",
    url="https://doi.org/10.1145/3219819.3220007",
    summary="Shared experts mixed by one softmax gate per task, then per-task towers.",
)
class MMoE(nn.Module):
    """Multi-gate Mixture-of-Experts for multi-task CTR.

    The input x is the concatenation of all field embeddings (categorical lookup,
    numeric ``x·e_f``, multi-valued / sequence fields mean-pooled), ``[B, F·d]``.
    With K experts ``f_k`` (ReLU MLPs) and one gate per task (paper eq. 5–6)::

        g^t(x) = softmax(W_gt x) ∈ R^K,   f^t(x) = Σ_k g^t(x)_k f_k(x),   y_t = h^t(f^t(x))

    where ``h^t`` is task t's tower (MLP + linear logit). Output:
    ``{task: logit [B]}`` for every task of the spec.

    Args:
        spec: data specification (task kind ``multitask``; ``spec.tasks`` names the outputs).
        embed_dim: embedding width d of every field.
        num_experts: number of shared experts K.
        expert_hidden: widths of each expert MLP; the last is the expert output width.
        tower_hidden: widths of each task tower MLP (before the logit layer).
        dropout: dropout rate inside experts and towers.
    """

    def __init__(
        self,
        spec: DataSpec,
        *,
        embed_dim: int = 16,
        num_experts: int = 4,
        expert_hidden: tuple[int, ...] = (128, 64),
        tower_hidden: tuple[int, ...] = (32,),
        dropout: float = 0.0,
    ):
        super().__init__()
        if not spec.tasks:
            raise ConfigError("MMoE needs at least one task in spec.tasks")
        self.tasks = list(spec.tasks)
        expert_hidden = check_hidden("expert_hidden", expert_hidden)
        tower_hidden = check_hidden("tower_hidden", tower_hidden)
        self.embedder = FieldEmbedding(spec, embed_dim, init_std=EMBED_INIT_STD)
        in_dim = len(self.embedder.flat_names()) * embed_dim
        self.mmoe = MMoEBlock(in_dim, len(self.tasks), num_experts, expert_hidden, dropout)
        self.towers = Towers(len(self.tasks), self.mmoe.out_dim, tower_hidden, dropout)

    def _mix(self, batch: dict[str, Tensor]) -> tuple[Tensor, Tensor]:
        x = self.embedder.flat(batch).flatten(1)  # [B, F*d]
        return self.mmoe(x)

    def gate_weights(self, batch: dict[str, Tensor]) -> dict[str, Tensor]:
        """Each task's gate over the experts: ``{task: [B, K]}`` (rows sum to 1)."""
        _, gates = self._mix(batch)
        return dict(zip(self.tasks, gates.unbind(0)))

    def forward(self, batch: dict[str, Tensor]) -> dict[str, Tensor]:
        h, _ = self._mix(batch)
        logits = self.towers(h)  # [T, B]
        return dict(zip(self.tasks, logits.unbind(0)))

    @staticmethod
    def search_space(trial: Any) -> dict[str, Any]:
        width = trial.suggest_categorical("expert_width", [32, 64, 128, 256])
        depth = trial.suggest_int("expert_layers", 1, 2)
        return {
            "embed_dim": trial.suggest_categorical("embed_dim", [8, 16, 32]),
            "num_experts": trial.suggest_int("num_experts", 2, 8),
            "expert_hidden": tuple(max(width // 2**i, 8) for i in range(depth)),
            "tower_hidden": (trial.suggest_categorical("tower_width", [16, 32, 64]),),
            "dropout": trial.suggest_float("dropout", 0.0, 0.3),
        }
