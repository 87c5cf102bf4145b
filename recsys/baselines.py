"""Baseline CTR / multi-task models: LR, FM, DNN and Shared-Bottom.

All read every field of the spec through :class:`~plexus.recsys.layers.FieldEmbedding`
(sequences and multi-valued fields mean-pooled into one field each).
"""

from __future__ import annotations

from typing import Any

import torch
from plexus.platform.catalog import register_model
from plexus.platform.errors import ConfigError
from plexus.platform.nn import MLP
from plexus.platform.spec import DataSpec
from plexus.recsys.layers import Activation, FieldEmbedding
from torch import Tensor, nn

__all__ = ["DNN", "FM", "LR", "SharedBottom"]


@register_model("lr", task="ctr", paper="Logistic regression (McMahan et al., KDD 2013, as the CTR baseline)",
                summary="Logistic regression: one weight per feature value, plus a bias.")
class LR(nn.Module):
    """Logistic regression: logit = b + Σ_f w_f(x_f).

    w_f(x_f) is a 1-dimensional embedding of a categorical value, ``x_f · w_f`` for
    a numeric field, and the mean of the value weights for multi-valued / sequence
    fields.

    Args:
        init_std: standard deviation of the weight initialisation.
    """

    def __init__(self, spec: DataSpec, *, init_std: float = 0.01) -> None:
        super().__init__()
        self.weights = FieldEmbedding(spec, 1, init_std=init_std)
        self.bias = nn.Parameter(torch.zeros(()))

    def forward(self, batch: dict[str, Tensor]) -> dict[str, Tensor]:
        return {"logit": self.weights.flat(batch).sum((1, 2)) + self.bias}

    @staticmethod
    def search_space(trial: Any) -> dict[str, Any]:
        return {"init_std": trial.suggest_float("init_std", 1e-4, 1e-1, log=True)}


@register_model("fm", task="ctr", paper="Factorization Machines (Rendle, ICDM 2010)",
                url="https://doi.org/10.1109/ICDM.2010.127",
                summary="Factorization machine: linear terms plus factorised pairwise interactions.")
class FM(nn.Module):
    """Factorization Machine (Rendle 2010), one latent vector per field value.

    ŷ = w_0 + Σ_f w_f + Σ_{f<g} ⟨v_f, v_g⟩, computed in O(kF) as
    ½ Σ_k [(Σ_f v_{f,k})² − Σ_f v_{f,k}²] (Rendle's Lemma 3.1).

    Args:
        embed_dim: latent dimension k.
        init_std: standard deviation of the initialisation.
    """

    def __init__(self, spec: DataSpec, *, embed_dim: int = 16, init_std: float = 0.01) -> None:
        super().__init__()
        self.linear = FieldEmbedding(spec, 1, init_std=init_std)
        self.factors = FieldEmbedding(spec, embed_dim, init_std=init_std)
        self.bias = nn.Parameter(torch.zeros(()))

    @staticmethod
    def pairwise(v: Tensor) -> Tensor:
        """Σ_{f<g} ⟨v_f, v_g⟩ for ``v [B, F, k]`` → ``[B]``."""
        return 0.5 * (v.sum(1).pow(2) - v.pow(2).sum(1)).sum(-1)

    def forward(self, batch: dict[str, Tensor]) -> dict[str, Tensor]:
        lin = self.linear.flat(batch).sum((1, 2)) + self.bias
        return {"logit": lin + self.pairwise(self.factors.flat(batch))}

    @staticmethod
    def search_space(trial: Any) -> dict[str, Any]:
        return {"embed_dim": trial.suggest_categorical("embed_dim", [8, 16, 32, 64])}


def _dims(hidden: tuple[int, ...] | list[int], owner: str) -> list[int]:
    if any(h < 1 for h in hidden):
        raise ConfigError(f"{owner}: hidden sizes must be positive, got {hidden}")
    return list(hidden)


@register_model("dnn", task="ctr", paper="Embedding + MLP (the 'BaseModel' of Zhou et al., KDD 2018)",
                summary="Embedding + MLP over the concatenated field embeddings.")
class DNN(nn.Module):
    """Embedding & MLP: logit = w^T MLP([e_1 ‖ … ‖ e_F]) + b.

    Args:
        embed_dim: embedding dimension per field.
        hidden: hidden layer sizes.
        activation: hidden activation.
        dropout: dropout after each hidden layer.
        batch_norm: BatchNorm1d in the hidden layers.
    """

    def __init__(self, spec: DataSpec, *, embed_dim: int = 16, hidden: tuple[int, ...] = (256, 128),
                 activation: Activation = "relu", dropout: float = 0.0, batch_norm: bool = False) -> None:
        super().__init__()
        self.embedding = FieldEmbedding(spec, embed_dim)
        n = len(self.embedding.flat_names())
        self.mlp = MLP([n * embed_dim, *_dims(hidden, "dnn")], activation, dropout, batch_norm)
        self.out = nn.Linear(self.mlp.out_dim, 1)

    def forward(self, batch: dict[str, Tensor]) -> dict[str, Tensor]:
        e = self.embedding.flat(batch).flatten(1)
        return {"logit": self.out(self.mlp(e)).squeeze(-1)}

    @staticmethod
    def search_space(trial: Any) -> dict[str, Any]:
        width = trial.suggest_categorical("width", [64, 128, 256, 512])
        depth = trial.suggest_int("depth", 1, 3)
        return {
            "embed_dim": trial.suggest_categorical("embed_dim", [8, 16, 32]),
            "hidden": (width,) * depth,
            "dropout": trial.suggest_float("dropout", 0.0, 0.5),
            "batch_norm": trial.suggest_categorical("batch_norm", [False, True]),
        }


@register_model("shared_bottom", task="multitask",
                paper="Multitask learning (Caruana, Machine Learning 1997): hard parameter sharing",
                summary="Shared MLP bottom over the field embeddings, one tower per task.")
class SharedBottom(nn.Module):
    """Shared-Bottom multi-task model: logit_t = tower_t(bottom([e_1 ‖ … ‖ e_F])).

    Outputs ``{task: [B]}`` for every name in ``spec.tasks``.

    Args:
        embed_dim: embedding dimension per field.
        bottom: hidden sizes of the shared bottom MLP.
        tower: hidden sizes of each task tower (a final Linear to 1 is added).
        activation: hidden activation.
        dropout: dropout after each hidden layer.
        batch_norm: BatchNorm1d in the hidden layers.
    """

    def __init__(self, spec: DataSpec, *, embed_dim: int = 16, bottom: tuple[int, ...] = (256, 128),
                 tower: tuple[int, ...] = (64,), activation: Activation = "relu", dropout: float = 0.0,
                 batch_norm: bool = False) -> None:
        super().__init__()
        if not spec.tasks:
            raise ConfigError("shared_bottom needs at least one task in spec.tasks")
        self.tasks = list(spec.tasks)
        self.embedding = FieldEmbedding(spec, embed_dim)
        n = len(self.embedding.flat_names())
        self.bottom = MLP([n * embed_dim, *_dims(bottom, "shared_bottom")], activation, dropout, batch_norm)
        self.towers = nn.ModuleList(
            nn.Sequential(MLP([self.bottom.out_dim, *_dims(tower, "shared_bottom")], activation, dropout, batch_norm),
                          nn.Linear(tower[-1] if tower else self.bottom.out_dim, 1))
            for _ in self.tasks
        )

    def forward(self, batch: dict[str, Tensor]) -> dict[str, Tensor]:
        h = self.bottom(self.embedding.flat(batch).flatten(1))
        return {t: tower(h).squeeze(-1) for t, tower in zip(self.tasks, self.towers)}

    @staticmethod
    def search_space(trial: Any) -> dict[str, Any]:
        width = trial.suggest_categorical("bottom_width", [64, 128, 256, 512])
        return {
            "embed_dim": trial.suggest_categorical("embed_dim", [8, 16, 32]),
            "bottom": (width,) * trial.suggest_int("bottom_depth", 1, 3),
            "tower": (trial.suggest_categorical("tower_width", [16, 32, 64, 128]),),
            "dropout": trial.suggest_float("dropout", 0.0, 0.5),
        }
