"""Auto-GNN's constrained parameter sharing (CPS).

A child architecture inherits trained weights from its parent (the conservative
explorer's current best) layer by layer, but only between *homogeneous* layers.
Homogeneity (Auto-GNN, as spelled out in docs/models/autognn.md) means the layer has

* the same weight shapes: input width, width per head and number of heads
  (``conv.weight [in, H*C]``, ``conv.att_l/att_r [1, H, C]``, ``conv.bias``),
* the same attention function, and
* the same activation function.

A homogeneous layer copies every tensor whose name and shape match the parent's
(the core above plus, when both have them, the aggregator's pooling MLP, the
generalised-linear attention vector and the residual map). A non-homogeneous
layer keeps its fresh initialisation. A child that inherited at least one layer is then
trained for ``shared_epochs`` epochs only ("trained for a few epochs instead of from
scratch"); a child that inherited nothing trains the full budget.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch
from plexus.nas.spaces.graphnas import Architecture
from plexus.platform.training.callbacks import Callback, StopTraining
from torch import Tensor, nn

__all__ = ["CORE_TENSORS", "SharingReport", "WeightSharing", "homogeneous", "inherit_weights"]

CORE_TENSORS = ("conv.weight", "conv.att_l", "conv.att_r", "conv.bias")


@dataclass
class SharingReport:
    """What a child inherited: layer indices, the reason each other layer did not, tensors copied."""

    inherited_layers: list[int] = field(default_factory=list)
    rejected: dict[int, str] = field(default_factory=dict)
    tensors: list[str] = field(default_factory=list)

    @property
    def num_inherited(self) -> int:
        return len(self.inherited_layers)

    def to_dict(self) -> dict[str, Any]:
        return {"inherited_layers": self.inherited_layers, "rejected": {str(k): v for k, v in self.rejected.items()},
                "tensors": len(self.tensors)}


def homogeneous(child_arch: Architecture, parent_arch: Architecture, layer: int,
                child_state: dict[str, Tensor], parent_state: dict[str, Tensor]) -> str | None:
    """``None`` when layer ``layer`` of the child may inherit from the parent's, else the reason why not."""
    if layer >= len(parent_arch.layers):
        return "parent has no such layer"
    c, p = child_arch.layers[layer], parent_arch.layers[layer]
    if c.attention != p.attention:
        return f"attention {p.attention} -> {c.attention}"
    if c.activation != p.activation:
        return f"activation {p.activation} -> {c.activation}"
    for name in CORE_TENSORS:
        key = f"layers.{layer}.{name}"
        if key not in parent_state or key not in child_state:
            return f"missing {name}"
        if tuple(parent_state[key].shape) != tuple(child_state[key].shape):
            return f"shape of {name} {tuple(parent_state[key].shape)} -> {tuple(child_state[key].shape)}"
    return None


@torch.no_grad()
def inherit_weights(child: nn.Module, child_arch: Architecture, parent_arch: Architecture,
                    parent_state: dict[str, Tensor]) -> SharingReport:
    """Copy the parent's tensors into ``child`` (a GraphNASNet) for every homogeneous layer, in place."""
    report = SharingReport()
    child_state = child.state_dict()
    for i in range(len(child_arch.layers)):
        reason = homogeneous(child_arch, parent_arch, i, child_state, parent_state)
        if reason is not None:
            report.rejected[i] = reason
            continue
        prefix = f"layers.{i}."
        for key, tensor in child_state.items():
            src = parent_state.get(key)
            if key.startswith(prefix) and src is not None and src.shape == tensor.shape:
                tensor.copy_(src.to(tensor.device, tensor.dtype))
                report.tensors.append(key)
        report.inherited_layers.append(i)
    return report


class WeightSharing(Callback):
    """Trainer callback: CPS at the start of training, and a copy of the trained weights at the end.

    Args:
        child_arch: the architecture being trained.
        parent_arch: the parent to inherit from (None: train from scratch).
        parent_state: the parent's trained ``state_dict`` (CPU tensors).
        shared_epochs: epochs a child that inherited weights is trained for (0: the full budget).
    """

    def __init__(self, child_arch: Architecture, parent_arch: Architecture | None = None,
                 parent_state: dict[str, Tensor] | None = None, shared_epochs: int = 0) -> None:
        self.child_arch, self.parent_arch, self.parent_state = child_arch, parent_arch, parent_state
        self.shared_epochs = shared_epochs
        self.report = SharingReport()
        self.trained_state: dict[str, Tensor] | None = None

    def on_fit_start(self, trainer: Any) -> None:
        if self.parent_arch is not None and self.parent_state is not None and trainer.epoch == 0:
            self.report = inherit_weights(trainer.model, self.child_arch, self.parent_arch, self.parent_state)

    def on_epoch_end(self, trainer: Any, epoch: int, metrics: dict[str, float]) -> None:
        if self.shared_epochs and self.report.inherited_layers and epoch >= self.shared_epochs:
            raise StopTraining(f"inherited layers {self.report.inherited_layers}: trained {epoch} epochs "
                               "(constrained parameter sharing)")

    def on_fit_end(self, trainer: Any, result: dict[str, Any]) -> None:
        # fit() has restored the best epoch's weights before this hook
        self.trained_state = {k: v.detach().to("cpu", copy=True) for k, v in trainer.model.state_dict().items()}
