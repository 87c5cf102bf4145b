"""Which trial of a study is the best one: only completed trials that trained at least ``min_epochs`` epochs.

A trial stopped after one epoch (a time limit, early stopping) can score well by chance and is barely trained;
it is reported as skipped, never selected, registered or logged as the best model.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from plexus.platform.search._storage import SURPLUS_ATTR

__all__ = ["EPOCHS_ATTR", "Selection", "qualifies", "required_epochs", "select_best"]

EPOCHS_ATTR = "plexus.epochs"  # user attr on each completed trial: epochs it trained


def required_epochs(min_epochs: int, epochs: int) -> int:
    """``search.min_epochs`` capped at the configured ``train.epochs`` (a 2-epoch run cannot need 3)."""
    return max(0, min(int(min_epochs), int(epochs)))


def _plural(n: int) -> str:
    return f"{n} epoch" if n == 1 else f"{n} epochs"


def qualifies(epochs_run: int | None, required: int) -> str:
    """'' when a trial that trained ``epochs_run`` epochs may be selected, else why not."""
    if epochs_run is None:
        return "epochs not recorded" if required else ""
    if epochs_run < required:
        return f"{_plural(epochs_run)} < min_epochs {required}"
    return ""


@dataclass
class Selection:
    """The outcome: ``best`` (an Optuna ``FrozenTrial`` or None) and the completed trials passed over."""

    best: Any
    required: int
    monitor: str
    skipped: list[tuple[int, str]] = field(default_factory=list)

    def describe(self, registered: dict[str, Any] | None = None, register: bool = True) -> str:
        """One line: what was chosen (and registered) and which trials were skipped, and why."""
        skipped = "; ".join(f"skipped trial {n}: {why}" for n, why in self.skipped)
        if self.best is None:
            head = (f"no completed trial trained min_epochs={self.required} epochs: nothing is selected"
                    + (" or registered" if register else ""))
            return f"{head}; {skipped}" if skipped else head
        epochs = self.best.user_attrs.get(EPOCHS_ATTR)
        what = f"{self.monitor} {self.best.value:.4f}" + (f", {_plural(int(epochs))}" if epochs is not None else "")
        verb = "registered" if registered else "best"
        head = f"{verb} trial {self.best.number} ({what})"
        if registered:
            head += f" as {registered['name']} version {registered['version']}"
        return f"{head}; {skipped}" if skipped else head

    def to_dict(self) -> dict[str, Any]:
        return {
            "best": None if self.best is None else self.best.number,
            "min_epochs": self.required,
            "skipped": [{"number": n, "reason": why} for n, why in self.skipped],
        }


def select_best(trials: list[Any], direction: str, min_epochs: int, epochs: int, monitor: str) -> Selection:
    """The best completed trial that trained ``required_epochs(min_epochs, epochs)`` epochs (lowest number on ties).

    Args:
        trials: the study's trials (any state; only COMPLETE ones with a finite value are considered).
        direction: ``maximize`` or ``minimize``.
        min_epochs: ``search.min_epochs``.
        epochs: ``train.epochs`` of the study's config.
        monitor: the monitored metric's name (for messages).
    """
    from optuna.trial import TrialState

    required = required_epochs(min_epochs, epochs)
    sel = Selection(None, required, monitor)
    sign = -1.0 if direction == "maximize" else 1.0
    for t in sorted(trials, key=lambda t: t.number):
        if t.state != TrialState.COMPLETE or t.user_attrs.get(SURPLUS_ATTR):
            continue
        if t.value is None or math.isnan(t.value):
            continue
        why = qualifies(t.user_attrs.get(EPOCHS_ATTR), required)
        if why:
            sel.skipped.append((t.number, why))
        elif sel.best is None or sign * t.value < sign * sel.best.value:
            sel.best = t
    return sel
