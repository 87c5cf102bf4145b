"""Trainer callbacks: small classes with ``state_dict``/``load_state_dict`` so that runs resume."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any, Callable

if TYPE_CHECKING:
    from plexus.platform.training.trainer import Trainer

__all__ = ["Callback", "EarlyStopping", "PruningHook", "StopTraining"]


class StopTraining(Exception):
    """Raised by a callback to end training early (the run still finishes normally)."""


class Callback:
    """Hooks called by the trainer. Every hook is optional."""

    def on_fit_start(self, trainer: Trainer) -> None: ...

    def on_evaluate(self, trainer: Trainer, step: int, metrics: dict[str, float]) -> None: ...

    def on_epoch_end(self, trainer: Trainer, epoch: int, metrics: dict[str, float]) -> None: ...

    def on_fit_end(self, trainer: Trainer, result: dict[str, Any]) -> None: ...

    def on_exception(self, trainer: Trainer, exc: BaseException) -> None: ...

    def state_dict(self) -> dict[str, Any]:
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None: ...


class EarlyStopping(Callback):
    """Stop when ``monitor`` has not improved by ``min_delta`` for ``patience`` evaluations.

    Args:
        monitor: metric name, e.g. ``val_auc``.
        mode: ``max`` or ``min``.
        patience: evaluations without improvement before stopping (0 disables).
        min_delta: the smallest change that counts as an improvement.
    """

    def __init__(self, monitor: str, mode: str = "max", patience: int = 5, min_delta: float = 0.0) -> None:
        self.monitor, self.mode, self.patience, self.min_delta = monitor, mode, patience, min_delta
        self.best: float | None = None
        self.best_step: int = -1
        self.bad: int = 0
        self.stopped: bool = False

    def improved(self, value: float) -> bool:
        if self.best is None or (isinstance(self.best, float) and math.isnan(self.best)):
            return True
        return value > self.best + self.min_delta if self.mode == "max" else value < self.best - self.min_delta

    def on_evaluate(self, trainer: Trainer, step: int, metrics: dict[str, float]) -> None:
        value = metrics.get(self.monitor)
        if value is None:
            return
        if self.improved(value):
            self.best, self.best_step, self.bad = float(value), step, 0
        else:
            self.bad += 1
            if self.patience and self.bad >= self.patience:
                self.stopped = True
                raise StopTraining(f"{self.monitor} did not improve for {self.bad} evaluations")

    def state_dict(self) -> dict[str, Any]:
        return {"best": self.best, "best_step": self.best_step, "bad": self.bad, "stopped": self.stopped}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.best, self.best_step = state["best"], state["best_step"]
        self.bad, self.stopped = state["bad"], state["stopped"]


class PruningHook(Callback):
    """Reports the monitored metric to a search service; ``report(value, step)`` returns True to prune.

    The search service passes a function that wraps ``trial.report`` and
    ``trial.should_prune``; when it asks to prune, :class:`optuna.TrialPruned` (or
    whatever ``exception`` builds) is raised out of ``fit``.
    """

    def __init__(self, monitor: str, report: Callable[[float, int], bool],
                 exception: Callable[[str], BaseException]) -> None:
        self.monitor, self.report, self.exception = monitor, report, exception
        self.reported: int = 0

    def on_evaluate(self, trainer: Trainer, step: int, metrics: dict[str, float]) -> None:
        value = metrics.get(self.monitor)
        if value is None:
            return
        self.reported += 1
        if self.report(float(value), step):
            raise self.exception(f"pruned at step {step} with {self.monitor}={value:.5f}")

    def state_dict(self) -> dict[str, Any]:
        return {"reported": self.reported}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.reported = state["reported"]
