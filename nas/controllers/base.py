"""The controller interface shared by every NAS strategy.

A NAS loop asks ``propose()`` for an architecture, trains it through the platform
trainer (with the controller's extra ``callbacks`` such as Optuna pruning and, when
``proposal.parent`` is set and sharing is on, constrained parameter sharing), and
reports the validation reward with ``observe``. ``state_dict``/``load_state_dict``
let an interrupted search resume exactly where it stopped.
"""

from __future__ import annotations

import random as _random
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any

from plexus.nas.spaces.base import SearchSpace
from plexus.platform.training.callbacks import Callback
from torch import Tensor

__all__ = ["Controller", "Proposal", "rng_state", "set_rng"]


@dataclass
class Proposal:
    """An architecture to evaluate; ``parent`` is the architecture it may inherit weights from."""

    arch: Any
    parent: Any | None = None
    info: dict[str, Any] = field(default_factory=dict)


def rng_state(rng: _random.Random) -> list[Any]:
    version, internal, gauss = rng.getstate()
    return [version, list(internal), gauss]


def set_rng(rng: _random.Random, state: list[Any]) -> None:
    rng.setstate((state[0], tuple(state[1]), state[2]))


class Controller(ABC):
    """Base class: keeps the best architecture and its reward (and, when sharing, its weights).

    Args:
        space: the search space.
        seed: seed of the controller's own randomness.
    """

    name: str = ""
    shares_weights: bool = False

    def __init__(self, space: SearchSpace, seed: int = 0) -> None:
        self.space, self.seed = space, seed
        self.rng = _random.Random(seed)
        self.best_arch: Any | None = None
        self.best_reward: float = float("-inf")
        self.best_weights: dict[str, Tensor] | None = None
        self.num_observed: int = 0

    @abstractmethod
    def propose(self) -> Proposal:
        """The next architecture to evaluate."""

    def callbacks(self, proposal: Proposal, monitor: str) -> list[Callback]:
        """Extra trainer callbacks for evaluating ``proposal`` (e.g. pruning)."""
        return []

    def observe(self, proposal: Proposal, reward: float | None, state: str = "COMPLETE",
                weights: dict[str, Tensor] | None = None) -> None:
        """Record the outcome (``state`` is ``COMPLETE`` | ``PRUNED`` | ``FAILED``)."""
        self.num_observed += 1
        if state == "COMPLETE" and reward is not None and reward > self.best_reward:
            self.best_arch, self.best_reward = proposal.arch, float(reward)
            self.best_weights = weights if self.shares_weights else None

    # ------------------------------------------------------------- state
    def state_dict(self) -> dict[str, Any]:
        return {
            "name": self.name, "rng": rng_state(self.rng), "num_observed": self.num_observed,
            "best_arch": None if self.best_arch is None else self.space.to_json(self.best_arch),
            "best_reward": self.best_reward, "best_weights": self.best_weights,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        set_rng(self.rng, state["rng"])
        self.num_observed = int(state["num_observed"])
        self.best_arch = None if state["best_arch"] is None else self.space.from_json(state["best_arch"])
        self.best_reward = float(state["best_reward"])
        self.best_weights = state.get("best_weights")
