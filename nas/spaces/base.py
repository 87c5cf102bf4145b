"""The narrow interface every NAS search space implements.

A space owns a finite set of *decisions* (one position per choice to make, e.g.
"attention of layer 0"), grouped into *action classes* (e.g. "attention" across
all layers). Controllers only ever talk to a space through this interface, so a
new space (micro cells, recommender towers, ...) plugs into every controller.
"""

from __future__ import annotations

import random as _random
from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from typing import Any, NamedTuple

from plexus.platform.spec import DataSpec
from torch import nn

__all__ = ["Decision", "SearchSpace"]


class Decision(NamedTuple):
    """One position of an encoded architecture: action class, layer, and the values to choose from."""

    action: str
    layer: int
    choices: tuple[Any, ...]


class SearchSpace(ABC):
    """A finite architecture space.

    Subclasses define :attr:`decisions` and the two codecs; ``sample``,
    ``neighbours`` and ``positions`` come for free. An encoded architecture is a
    ``list[int]``: one index into ``decisions[k].choices`` per decision ``k``.
    """

    name: str = ""

    @property
    @abstractmethod
    def decisions(self) -> list[Decision]:
        """All decisions in encoding order."""

    @abstractmethod
    def decode(self, tokens: Sequence[int]) -> Any:
        """Token indices -> architecture object (a serialisable dataclass)."""

    @abstractmethod
    def encode(self, arch: Any) -> list[int]:
        """Architecture object -> token indices (inverse of :meth:`decode`)."""

    @abstractmethod
    def build(self, arch: Any, spec: DataSpec) -> nn.Module:
        """A trainable model of ``arch`` for the data described by ``spec``."""

    @abstractmethod
    def to_json(self, arch: Any) -> str: ...

    @abstractmethod
    def from_json(self, text: str) -> Any: ...

    # ---------------------------------------------------------------- derived
    @property
    def classes(self) -> list[str]:
        """Action classes in first-appearance order."""
        seen: list[str] = []
        for d in self.decisions:
            if d.action not in seen:
                seen.append(d.action)
        return seen

    def positions(self, action: str) -> list[int]:
        """Indices of the decisions that belong to action class ``action``."""
        pos = [k for k, d in enumerate(self.decisions) if d.action == action]
        if not pos:
            raise KeyError(f"space '{self.name}' has no action class {action!r}; it has {self.classes}")
        return pos

    def choices(self, action: str) -> tuple[Any, ...]:
        """The values of action class ``action`` (the same in every layer where it applies)."""
        return self.decisions[self.positions(action)[0]].choices

    def sample(self, rng: _random.Random | None = None) -> Any:
        """A uniformly random architecture."""
        rng = rng or _random.Random()
        return self.decode([rng.randrange(len(d.choices)) for d in self.decisions])

    def neighbours(self, arch: Any, action: str | None = None) -> Iterator[Any]:
        """Every architecture that differs from ``arch`` in exactly one decision (of ``action`` if given)."""
        tokens = self.encode(arch)
        for k, d in enumerate(self.decisions):
            if action is not None and d.action != action:
                continue
            for v in range(len(d.choices)):
                if v != tokens[k]:
                    yield self.decode(tokens[:k] + [v] + tokens[k + 1:])

    def changed_classes(self, a: Any, b: Any) -> set[str]:
        """Action classes in which ``a`` and ``b`` differ."""
        ta, tb = self.encode(a), self.encode(b)
        return {d.action for d, x, y in zip(self.decisions, ta, tb) if x != y}

    def size(self) -> int:
        n = 1
        for d in self.decisions:
            n *= len(d.choices)
        return n

    def suggest(self, trial: Any) -> Any:
        """Sample an architecture through an Optuna trial (one categorical per decision)."""
        tokens = []
        for d in self.decisions:
            name = f"l{d.layer}.{d.action}"
            value = trial.suggest_categorical(name, list(d.choices))
            tokens.append(d.choices.index(value))
        return self.decode(tokens)
