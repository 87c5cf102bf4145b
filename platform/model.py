"""The plugin contract of a model, declared once.

A model plugin is an ``nn.Module`` class constructed as ``cls(spec, **hparams)`` (typed keyword arguments with
defaults: the catalog derives the hyperparameter schema from the signature), declared with
:func:`~plexus.platform.catalog.register_model` and found through its ``plexus.models`` entry point, whose name
is the model's name. ``forward(batch)`` returns a dict with ``"logit"`` (or one logit per task for multi-task
models).

Optional capabilities are class attributes with the defaults of :class:`PlexusModel`; a plugin may subclass it
or only set the attributes it needs. The trainer and the tasks read them through :func:`capabilities` and
nowhere else.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any, ClassVar, Protocol, runtime_checkable

from plexus.platform.errors import CatalogError
from torch import Tensor, nn

__all__ = ["Capabilities", "PairScorer", "PlexusModel", "capabilities"]


@dataclass(frozen=True)
class Capabilities:
    """What the trainer and the tasks may rely on beyond ``forward``.

    Attributes:
        autocast: may run under the trainer's bf16 autocast (``train.amp``, CUDA only); ``False`` keeps a model
            whose sparse/scatter kernels need one dtype in fp32.
        target_link_removal: link task: drop each batch's target edges from the message-passing graph.
        pair_groups: link task: in training, ``forward`` scores each group of ``batch.edge_label_groups`` (sizes of
            consecutive column groups of ``edge_label_index``: positives, then negatives) in its own predictor
            call (``train.pair_calls: separate``); without the attribute, all pairs in one call.
        output_nodes: node task: ``batch.out_index`` holds the node ids the loss or metric reads, and
            ``forward`` returns their rows only.
        pair_scoring: the model implements :class:`PairScorer` (dynamic link ranking embeds each step once and
            scores candidate pairs in chunks instead of calling ``forward`` per chunk).
        explain: ``explain(batch)`` returns per-row attributions (``plexus explain``).
        global_attribution: ``global_attribution(batches)`` summarises attributions over a split.
    """

    autocast: bool = True
    target_link_removal: bool = False
    pair_groups: bool = False
    output_nodes: bool = False
    pair_scoring: bool = False
    explain: bool = False
    global_attribution: bool = False


class PlexusModel(nn.Module):
    """Optional base class of model plugins: the declared capabilities with their defaults.

    Subclasses override the class attributes they need, e.g. ``output_nodes = True``.
    """

    autocast: ClassVar[bool] = True
    target_link_removal: ClassVar[bool] = False
    pair_groups: ClassVar[bool] = False
    output_nodes: ClassVar[bool] = False


@runtime_checkable
class PairScorer(Protocol):
    """Models that embed the nodes once and score node pairs from the embeddings.

    ``node_embeddings(inputs) -> h`` and ``score_pairs(h, pairs [2, P]) -> logits [P]``; an optional
    ``pair_scorer(h) -> callable(pairs) -> logits`` may precompute per-``h`` state for many calls.
    """

    def node_embeddings(self, inputs: Any) -> Tensor: ...

    def score_pairs(self, h: Tensor, pairs: Tensor) -> Tensor: ...


_FLAGS = ("autocast", "target_link_removal", "pair_groups", "output_nodes")


def capabilities(model: nn.Module | type) -> Capabilities:
    """The capabilities a model (instance or class) declares; a flag that is not a bool is a clear error."""
    cls = model if isinstance(model, type) else type(model)
    defaults = {f.name: f.default for f in fields(Capabilities)}
    found: dict[str, bool] = {}
    for name in _FLAGS:
        value = getattr(model, name, defaults[name])
        if not isinstance(value, bool):
            raise CatalogError(f"{cls.__module__}.{cls.__qualname__}.{name} must be True or False (a class "
                               f"attribute declaring a capability), got {value!r}")
        found[name] = value
    found["pair_scoring"] = callable(getattr(model, "node_embeddings", None)) and callable(
        getattr(model, "score_pairs", None))
    found["explain"] = callable(getattr(model, "explain", None))
    found["global_attribution"] = callable(getattr(model, "global_attribution", None))
    return Capabilities(**found)
