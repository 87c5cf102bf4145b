"""PLE: Progressive Layered Extraction (Tang, Liu, Zhao, Gong; RecSys 2020)."""

from __future__ import annotations

from typing import Any

from plexus.platform.catalog import register_model
from plexus.platform.errors import ConfigError
from plexus.platform.spec import DataSpec
from plexus.recsys.layers import FieldEmbedding
from plexus.recsys.multitask import EMBED_INIT_STD, PLEBlock, Towers, check_hidden
from torch import Tensor, nn

__all__ = ["PLE"]


@register_model(
    "ple",
    task="multitask",
    paper="Progressive Layered Extraction (PLE): A Novel Multi-Task Learning Model for "
    "Personalized Recommendations (RecSys 2020)",
    url="https://doi.org/10.1145/3383313.3412236",
    summary="Task-specific and shared experts in stacked CGC extraction layers, then per-task towers.",
)
class PLE(nn.Module):
    """Progressive Layered Extraction over stacked Customized Gate Control (CGC) layers.

    The input x is the concatenation of all field embeddings, ``[B, F·d]``. Each
    extraction level j has ``specific_experts`` experts per task and
    ``shared_experts`` shared experts. Task t's gate at level j (paper eq. 2–4, 6)::

        g^{t,j}(x) = softmax(W^{t,j} q^{t,j-1}) over S^{t,j} = [E_{t,1..m_t} ‖ E_{s,1..m_s}]
        q^{t,j} = Σ g^{t,j} · S^{t,j}(q^{t,j-1}, q^{s,j-1})

    where task experts read the task stream ``q^{t,j-1}`` and shared experts the shared
    stream ``q^{s,j-1}`` (``q^{·,0} = x``). At every level but the last a shared gate
    mixes *all* experts of the level into ``q^{s,j}``. The towers read ``q^{t,N}``:
    ``y_t = h^t(q^{t,N})``. Output: ``{task: logit [B]}``.

    Args:
        spec: data specification (task kind ``multitask``; ``spec.tasks`` names the outputs).
        embed_dim: embedding width d of every field.
        num_levels: number of extraction layers (1 = a single CGC).
        specific_experts: task-specific experts per task and level (m_t).
        shared_experts: shared experts per level (m_s).
        expert_hidden: widths of each expert MLP; the last is the expert output width.
        tower_hidden: widths of each task tower MLP (before the logit layer).
        dropout: dropout rate inside experts and towers.
    """

    def __init__(
        self,
        spec: DataSpec,
        *,
        embed_dim: int = 16,
        num_levels: int = 2,
        specific_experts: int = 1,
        shared_experts: int = 1,
        expert_hidden: tuple[int, ...] = (128, 64),
        tower_hidden: tuple[int, ...] = (32,),
        dropout: float = 0.0,
    ):
        super().__init__()
        if not spec.tasks:
            raise ConfigError("PLE needs at least one task in spec.tasks")
        self.tasks = list(spec.tasks)
        expert_hidden = check_hidden("expert_hidden", expert_hidden)
        tower_hidden = check_hidden("tower_hidden", tower_hidden)
        self.embedder = FieldEmbedding(spec, embed_dim, init_std=EMBED_INIT_STD)
        in_dim = len(self.embedder.flat_names()) * embed_dim
        self.ple = PLEBlock(
            in_dim, len(self.tasks), num_levels, specific_experts, shared_experts, expert_hidden, dropout
        )
        self.towers = Towers(len(self.tasks), self.ple.out_dim, tower_hidden, dropout)

    def gate_weights(self, batch: dict[str, Tensor]) -> list[dict[str, Tensor]]:
        """Per level, each task's gate ``{task: [B, m_t + m_s]}`` (rows sum to 1)."""
        _, gates = self.ple(self.embedder.flat(batch).flatten(1))
        return [dict(zip(self.tasks, g.unbind(0))) for g in gates]

    def forward(self, batch: dict[str, Tensor]) -> dict[str, Tensor]:
        h, _ = self.ple(self.embedder.flat(batch).flatten(1))  # [T, B, H]
        logits = self.towers(h)
        return dict(zip(self.tasks, logits.unbind(0)))

    @staticmethod
    def search_space(trial: Any) -> dict[str, Any]:
        width = trial.suggest_categorical("expert_width", [32, 64, 128, 256])
        depth = trial.suggest_int("expert_layers", 1, 2)
        return {
            "embed_dim": trial.suggest_categorical("embed_dim", [8, 16, 32]),
            "num_levels": trial.suggest_int("num_levels", 1, 3),
            "specific_experts": trial.suggest_int("specific_experts", 1, 4),
            "shared_experts": trial.suggest_int("shared_experts", 1, 4),
            "expert_hidden": tuple(max(width // 2**i, 8) for i in range(depth)),
            "tower_hidden": (trial.suggest_categorical("tower_width", [16, 32, 64]),),
            "dropout": trial.suggest_float("dropout", 0.0, 0.3),
        }
