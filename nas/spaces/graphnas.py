"""The GraphNAS macro search space (Gao et al., IJCAI 2020), as used by Auto-GNN.

Per layer: attention function, aggregator, activation, number of heads, hidden
width (per head), plus Auto-GNN's extra choices: how the heads are combined
(``concat`` | ``mean``) and a skip connection (``none`` | ``residual``). The
number of layers is fixed per dataset (2 for the Planetoid citation graphs).
The last layer emits the class logits: its width is the number of classes and
its heads are averaged, so it has no ``hidden``/``combine`` decision (``None``).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

from plexus.nas.spaces.base import Decision, SearchSpace
from plexus.platform.errors import ConfigError
from plexus.platform.spec import DataSpec
from torch import nn

__all__ = [
    "ACTIVATIONS",
    "AGGREGATORS",
    "ATTENTIONS",
    "COMBINES",
    "HEADS",
    "HIDDEN",
    "LAYERS_PER_DATASET",
    "SKIPS",
    "Architecture",
    "GraphNASSpace",
    "LayerArch",
]

ATTENTIONS = ("const", "gcn", "gat", "sym-gat", "cos", "linear", "generalized-linear")
AGGREGATORS = ("sum", "mean", "max", "mlp")
ACTIVATIONS = ("sigmoid", "tanh", "relu", "linear", "softplus", "leaky_relu", "relu6", "elu")
HEADS = (1, 2, 4, 6, 8, 16)
HIDDEN = (4, 8, 16, 32, 64, 128, 256)
COMBINES = ("concat", "mean")
SKIPS = ("none", "residual")

#: fixed depth per dataset (GraphNAS / Auto-GNN: 2 layers for Planetoid, 3 for PPI)
LAYERS_PER_DATASET = {"cora": 2, "citeseer": 2, "pubmed": 2, "ppi": 3}

_CLASS_CHOICES: dict[str, tuple[Any, ...]] = {
    "attention": ATTENTIONS, "aggregator": AGGREGATORS, "activation": ACTIVATIONS, "heads": HEADS,
    "hidden": HIDDEN, "combine": COMBINES, "skip": SKIPS,
}
_LAST_LAYER_FIXED = ("hidden", "combine")


@dataclass(frozen=True)
class LayerArch:
    """One message-passing layer. ``hidden``/``combine`` are ``None`` in the output layer."""

    attention: str = "gat"
    aggregator: str = "sum"
    activation: str = "elu"
    heads: int = 8
    hidden: int | None = 8
    combine: str | None = "concat"
    skip: str = "none"


@dataclass(frozen=True)
class Architecture:
    """A GraphNAS architecture: a tuple of layers. Serialises to a plain dict / JSON."""

    layers: tuple[LayerArch, ...]
    space: str = "graphnas"

    def to_dict(self) -> dict[str, Any]:
        return {"space": self.space, "layers": [asdict(layer) for layer in self.layers]}

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"))

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Architecture:
        if not isinstance(d, dict) or not isinstance(d.get("layers"), list) or not d["layers"]:
            raise ConfigError(f"architecture must be a mapping with a non-empty 'layers' list, got {d!r:.200}")
        layers = []
        for i, raw in enumerate(d["layers"]):
            if not isinstance(raw, dict):
                raise ConfigError(f"architecture layer {i} must be a mapping, got {raw!r:.100}")
            unknown = set(raw) - set(LayerArch.__dataclass_fields__)
            if unknown:
                raise ConfigError(f"architecture layer {i}: unknown key(s) {sorted(unknown)}")
            layers.append(LayerArch(**raw))
        arch = cls(tuple(layers), str(d.get("space", "graphnas")))
        arch.validate()
        return arch

    @classmethod
    def from_json(cls, text: str) -> Architecture:
        try:
            d = json.loads(text)
        except (TypeError, json.JSONDecodeError) as exc:
            raise ConfigError(f"architecture is not valid JSON: {exc}") from None
        return cls.from_dict(d)

    def validate(self) -> None:
        """Raise :class:`ConfigError` naming the layer and field of the first illegal choice."""
        last = len(self.layers) - 1
        for i, layer in enumerate(self.layers):
            for name, choices in _CLASS_CHOICES.items():
                value = getattr(layer, name)
                if i == last and name in _LAST_LAYER_FIXED:
                    if value is not None:
                        raise ConfigError(f"architecture layer {i} (output layer): '{name}' is fixed, must be null")
                elif value not in choices:
                    raise ConfigError(f"architecture layer {i}: {name}={value!r} is not one of {list(choices)}")


class GraphNASSpace(SearchSpace):
    """GraphNAS macro space with Auto-GNN's combine/skip classes.

    Args:
        num_layers: fixed depth (``LAYERS_PER_DATASET`` gives the per-dataset default).
        classes: action classes to search (default: all seven); the others stay at
            the :class:`LayerArch` defaults.
        choices: optional subsets of a class's values (``{"hidden": [4, 8, 16]}``) to shrink
            the space (smoke tests, small machines); every value must be a listed one.
    """

    name = "graphnas"

    def __init__(self, num_layers: int = 2, classes: Sequence[str] | None = None,
                 choices: dict[str, Sequence[Any]] | None = None) -> None:
        if num_layers < 1:
            raise ConfigError(f"graphnas space: num_layers must be >= 1, got {num_layers}")
        classes = tuple(classes or _CLASS_CHOICES)
        bad = [c for c in classes if c not in _CLASS_CHOICES]
        if bad:
            raise ConfigError(f"graphnas space: unknown action class(es) {bad}; choose from {list(_CLASS_CHOICES)}")
        table = dict(_CLASS_CHOICES)
        for c, values in (choices or {}).items():
            if c not in table:
                raise ConfigError(f"graphnas space: unknown action class {c!r}; choose from {list(_CLASS_CHOICES)}")
            values = tuple(values)
            bad_v = [v for v in values if v not in _CLASS_CHOICES[c]]
            if bad_v or not values:
                raise ConfigError(f"graphnas space: {c} choices {list(values)} must be a non-empty subset of "
                                  f"{list(_CLASS_CHOICES[c])}")
            table[c] = tuple(dict.fromkeys(values))
        self.num_layers = num_layers
        self.searched = classes
        self._decisions = [
            Decision(c, i, tuple(table[c]))
            for i in range(num_layers) for c in _CLASS_CHOICES
            if c in classes and not (i == num_layers - 1 and c in _LAST_LAYER_FIXED)
        ]

    @classmethod
    def for_dataset(cls, dataset: str, **kwargs: Any) -> GraphNASSpace:
        return cls(num_layers=LAYERS_PER_DATASET.get(dataset, 2), **kwargs)

    @property
    def decisions(self) -> list[Decision]:
        return self._decisions

    def default(self) -> Architecture:
        """The GAT-like architecture every field defaults to (2 layers: 8 heads x 8, then 1 head)."""
        layers = [LayerArch() for _ in range(self.num_layers - 1)]
        layers.append(LayerArch(heads=1, hidden=None, combine=None))
        return Architecture(tuple(layers))

    def decode(self, tokens: Sequence[int]) -> Architecture:
        if len(tokens) != len(self._decisions):
            raise ConfigError(f"graphnas space: expected {len(self._decisions)} tokens, got {len(tokens)}")
        fields: list[dict[str, Any]] = [asdict(layer) for layer in self.default().layers]
        for d, t in zip(self._decisions, tokens):
            if not 0 <= int(t) < len(d.choices):
                raise ConfigError(f"graphnas space: token {t} out of range for layer {d.layer} {d.action}")
            fields[d.layer][d.action] = d.choices[int(t)]
        return Architecture(tuple(LayerArch(**f) for f in fields))

    def encode(self, arch: Architecture) -> list[int]:
        if len(arch.layers) != self.num_layers:
            raise ConfigError(f"graphnas space has {self.num_layers} layers, architecture has {len(arch.layers)}")
        arch.validate()
        tokens = []
        for d in self._decisions:
            value = getattr(arch.layers[d.layer], d.action)
            if value not in d.choices:
                raise ConfigError(f"graphnas space: layer {d.layer} {d.action}={value!r} is outside this space's "
                                  f"choices {list(d.choices)}")
            tokens.append(d.choices.index(value))
        return tokens

    def build(self, arch: Architecture, spec: DataSpec) -> nn.Module:
        from plexus.nas.graphnas_net import GraphNASNet

        return GraphNASNet(spec, arch=arch.to_json())

    def to_json(self, arch: Architecture) -> str:
        return arch.to_json()

    def from_json(self, text: str) -> Architecture:
        return Architecture.from_json(text)
