"""DTRN: Deep Task-specific Bottom Representation Network (Liu et al., CIKM 2023)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, Literal

import torch
from plexus.platform.catalog import register_model
from plexus.platform.errors import ConfigError
from plexus.platform.explain import GlobalAttribution, RowExplanation
from plexus.platform.nn import MLP
from plexus.platform.spec import DataSpec
from plexus.recsys._dtrn_tim import TaskInterestModule, parse_behaviors
from plexus.recsys._explain import explain_dtrn, global_dtrn
from plexus.recsys.layers import FieldEmbedding
from plexus.recsys.multitask import EMBED_INIT_STD, MMoEBlock, PLEBlock, Towers, check_hidden
from torch import Tensor, nn

__all__ = ["DTRN", "FieldGate"]


class FieldGate(nn.Module):
    """TRM gate of one task: SENet-like ``squeeze → MLP → sigmoid`` weights ``[B, F]``.

    ``w = scale · σ(W_2 ReLU(W_1 [z ‖ r_t]))`` with ``z`` the squeezed field
    embeddings (per-field mean, ``[B, F]``, or the flat ``[B, F·d]``) and ``r_t`` the
    task's flattened interests; hidden width ``max(2, ⌈(F + nB)/reduction⌉)``.
    """

    def __init__(
        self,
        num_fields: int,
        embed_dim: int,
        interest_dim: int,
        num_types: int,
        reduction: int,
        squeeze: str,
        scale: float,
    ):
        super().__init__()
        if reduction < 1:
            raise ConfigError(f"hyperparameter 'trm_reduction' must be >= 1, got {reduction}")
        in_dim = (num_fields if squeeze == "mean" else num_fields * embed_dim) + interest_dim
        hidden = max(2, -(-(num_fields + num_types) // reduction))
        self.mlp = MLP((in_dim, hidden, num_fields), plain_last=True)
        self.squeeze, self.scale = squeeze, scale

    def forward(self, e: Tensor, interests: Tensor | None) -> Tensor:
        z = e.mean(-1) if self.squeeze == "mean" else e.flatten(1)
        if interests is not None:
            z = torch.cat([z, interests.flatten(1)], dim=-1)
        return self.scale * torch.sigmoid(self.mlp(z))


@register_model(
    "dtrn",
    task="multitask",
    paper="Deep Task-specific Bottom Representation Network for Multi-Task Recommendation (CIKM 2023)",
    url="https://arxiv.org/abs/2308.05996",
    summary="Task-specific bottoms: hypernetwork-conditioned Transformer interests + SENet field refinement.",
)
class DTRN(nn.Module):
    """Deep Task-specific Bottom Representation Network.

    Fields: ``E = [e_1 … e_F]`` ``[B, F, d]``, every field that is not a behaviour
    sequence (categorical lookup, numeric ``x·e_f``, multi / unlisted sequences
    mean-pooled). Behaviour types ``b`` come from ``spec.extra["behaviors"]``
    (``{type: [sequence fields]}``; sequence fields share the candidate's tables).

    **TIM** (only when the spec lists behaviours). Tokens of type b are the
    concatenation over "slots" (one per embedding table read by any behaviour field;
    zeros where the type lacks that field), width ``D = S·d``, plus a learned
    position embedding of the recency rank among valid tokens. One shared post-LN
    Transformer encoder (``num_layers`` × [multi-head self-attention, FFN], padding
    masked) in which each LayerNorm is conditioned on (task t, type b)::

        CLN_{t,b}(x) = (1 + Δγ_{t,b}) ⊙ LN(x) + Δβ_{t,b},  [Δγ ‖ Δβ]_{all LNs} = Hyper([u_t ‖ v_b])

        with Hyper a 2-layer MLP and u_t, v_b learned task / type embeddings [U: spec 8(a)],
        so T·B encoders cost one body + one hypernetwork. The interest ``r_{t,b}`` is the
        target attention ``Σ_l softmax_l(<W_q c, h_l>/√D) h_l`` with ``c`` the candidate's
        slot embeddings (``pooling="target"``) or the masked mean (``pooling="mean"``) [U].
        An all-padding history gives ``r_{t,b} = 0``.

    **TRM** (always). Per task, ``w_t = FieldGate_t(E, r_t) ∈ (0, gate_scale)^F``
    (squeeze → 2-layer MLP with bottleneck ``⌈(F+nB)/trm_reduction⌉`` → sigmoid·scale)
    [U]; refined fields ``Ê_t = w_t ⊙ E``. Task bottom
    ``x_t = [flatten(Ê_t) ‖ r_{t,1} … r_{t,nB}]``.

    **Top** [U]: ``towers``: ``y_t = tower_t(x_t)``; ``mmoe``: the experts and task t's
    gate read ``x_t``; ``ple``: task stream t starts at ``x_t``, the shared stream at
    ``mean_t x_t``. Output ``{task: logit [B]}``; loss (trainer): sum of per-task BCE.

    Args:
        spec: data specification (task kind ``multitask``).
        embed_dim: embedding width d of every field.
        num_heads: attention heads of the TIM encoder (must divide D = slots·d).
        num_layers: Transformer layers of the TIM encoder.
        ffn_mult: FFN width of the encoder as a multiple of D.
        cond_dim: width of the task and behaviour-type embeddings fed to the hypernetwork.
        hyper_hidden: hidden width of the hypernetwork MLP.
        pooling: sequence → interest reduction: "target" (attention with the candidate) or "mean".
        trm_reduction: reduction ratio of the TRM gate MLP bottleneck.
        trm_squeeze: TRM input per field: "mean" (SENet squeeze) or "flat" (whole embedding, GateNet-style).
        gate_scale: multiplier of the sigmoid field weights (2 starts the gates near 1).
        top: "towers" (plain DTRN), "mmoe" or "ple" on the task-specific bottoms.
        tower_hidden: widths of each task tower MLP (before the logit layer).
        num_experts: experts of the MMoE top.
        specific_experts: task-specific experts per task and level of the PLE top.
        shared_experts: shared experts per level of the PLE top.
        num_levels: extraction levels of the PLE top.
        expert_hidden: expert MLP widths of the MMoE / PLE top.
        dropout: dropout in the encoder, experts and towers.
    """

    def __init__(
        self,
        spec: DataSpec,
        *,
        embed_dim: int = 16,
        num_heads: int = 2,
        num_layers: int = 1,
        ffn_mult: int = 2,
        cond_dim: int = 8,
        hyper_hidden: int = 32,
        pooling: Literal["target", "mean"] = "target",
        trm_reduction: int = 2,
        trm_squeeze: Literal["mean", "flat"] = "mean",
        gate_scale: float = 2.0,
        top: Literal["towers", "mmoe", "ple"] = "towers",
        tower_hidden: tuple[int, ...] = (64, 32),
        num_experts: int = 4,
        specific_experts: int = 1,
        shared_experts: int = 1,
        num_levels: int = 2,
        expert_hidden: tuple[int, ...] = (64,),
        dropout: float = 0.0,
    ):
        super().__init__()
        if not spec.tasks:
            raise ConfigError("DTRN needs at least one task in spec.tasks")
        for name, value, choices in (
            ("pooling", pooling, ("target", "mean")),
            ("top", top, ("towers", "mmoe", "ple")),
            ("trm_squeeze", trm_squeeze, ("mean", "flat")),
        ):
            if value not in choices:
                raise ConfigError(f"hyperparameter '{name}' must be one of {list(choices)}, got {value!r}")
        self.tasks, self.top = list(spec.tasks), top
        T = len(self.tasks)
        behaviors = parse_behaviors(spec)
        in_tim = {n for slots in behaviors.values() for n in slots.values()}
        # one table per embedding key of the spec: the TIM reads the behaviour fields' tables
        self.embedder = FieldEmbedding(spec, embed_dim, init_std=EMBED_INIT_STD)
        self.field_names = [n for n in self.embedder.flat_names() if n not in in_tim]
        F_ = len(self.field_names)
        self.tim: TaskInterestModule | None = None
        interest_dim = 0
        if behaviors:
            self.tim = TaskInterestModule(
                spec,
                embed_dim,
                behaviors,
                num_tasks=T,
                num_heads=num_heads,
                num_layers=num_layers,
                ffn_mult=ffn_mult,
                cond_dim=cond_dim,
                hyper_hidden=hyper_hidden,
                pooling=pooling,
                dropout=dropout,
            )
            interest_dim = len(behaviors) * self.tim.dim
        self.trm = nn.ModuleList(
            FieldGate(F_, embed_dim, interest_dim, len(behaviors), trm_reduction, trm_squeeze, gate_scale)
            for _ in range(T)
        )
        bottom_dim = F_ * embed_dim + interest_dim
        tower_hidden = check_hidden("tower_hidden", tower_hidden)
        self.mixer: nn.Module | None = None
        if top == "mmoe":
            self.mixer = MMoEBlock(
                bottom_dim, T, num_experts, check_hidden("expert_hidden", expert_hidden), dropout
            )
        elif top == "ple":
            self.mixer = PLEBlock(
                bottom_dim,
                T,
                num_levels,
                specific_experts,
                shared_experts,
                check_hidden("expert_hidden", expert_hidden),
                dropout,
            )
        self.towers = Towers(
            T, self.mixer.out_dim if self.mixer is not None else bottom_dim, tower_hidden, dropout
        )

    def field_weights(self, batch: dict[str, Tensor]) -> dict[str, Tensor]:
        """TRM weights per task ``{task: [B, F]}`` (field order: ``self.field_names``)."""
        e = self.embedder.flat(batch, self.field_names)
        r = self.tim(batch, self.embedder) if self.tim is not None else None
        return {
            t: gate(e, None if r is None else r[i]) for i, (t, gate) in enumerate(zip(self.tasks, self.trm))
        }

    def bottoms(self, batch: dict[str, Tensor]) -> Tensor:
        """Task-specific bottom representations ``x_t``: ``[T, B, F·d + nB·D]``."""
        e = self.embedder.flat(batch, self.field_names)  # [B, F, d]
        r = self.tim(batch, self.embedder) if self.tim is not None else None  # [T, B, nB, D]
        out = []
        for i, gate in enumerate(self.trm):
            ri = None if r is None else r[i]
            refined = (e * gate(e, ri).unsqueeze(-1)).flatten(1)
            out.append(refined if ri is None else torch.cat([refined, ri.flatten(1)], dim=-1))
        return torch.stack(out)

    def forward(self, batch: dict[str, Tensor]) -> dict[str, Tensor]:
        h = self.bottoms(batch)
        if self.mixer is not None:
            h, _ = self.mixer(h)
        logits = self.towers(h)  # [T, B]
        return dict(zip(self.tasks, logits.unbind(0)))

    def explain(self, batch: dict[str, Tensor], top_k: int = 5) -> list[RowExplanation]:
        """Per row, the top-``top_k`` fields of each task by TRM gate, :mod:`plexus.recsys._explain`."""
        return explain_dtrn(self, batch, top_k)

    def global_attribution(self, batches: Iterable[dict[str, Tensor]],
                           decode: Callable[[str, int], str]) -> GlobalAttribution:
        """Mean TRM gate per task and field over ``batches``."""
        return global_dtrn(self, batches, decode)

    @staticmethod
    def search_space(trial: Any) -> dict[str, Any]:
        top = trial.suggest_categorical("top", ["towers", "mmoe", "ple"])
        width = trial.suggest_categorical("tower_width", [32, 64, 128])
        hp: dict[str, Any] = {
            "embed_dim": trial.suggest_categorical("embed_dim", [8, 16, 32]),
            "num_heads": trial.suggest_categorical("num_heads", [1, 2, 4]),
            "num_layers": trial.suggest_int("num_layers", 1, 2),
            "cond_dim": trial.suggest_categorical("cond_dim", [4, 8, 16]),
            "hyper_hidden": trial.suggest_categorical("hyper_hidden", [16, 32, 64]),
            "pooling": trial.suggest_categorical("pooling", ["target", "mean"]),
            "trm_reduction": trial.suggest_int("trm_reduction", 1, 4),
            "gate_scale": trial.suggest_categorical("gate_scale", [1.0, 2.0]),
            "top": top,
            "tower_hidden": (width, width // 2),
            "dropout": trial.suggest_float("dropout", 0.0, 0.3),
        }
        if top == "mmoe":
            hp["num_experts"] = trial.suggest_int("num_experts", 2, 8)
        elif top == "ple":
            hp["num_levels"] = trial.suggest_int("num_levels", 1, 3)
            hp["specific_experts"] = trial.suggest_int("specific_experts", 1, 3)
            hp["shared_experts"] = trial.suggest_int("shared_experts", 1, 3)
        if top != "towers":
            hp["expert_hidden"] = (trial.suggest_categorical("expert_width", [32, 64, 128]),)
        return hp
