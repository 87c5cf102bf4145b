"""Trainer callbacks: small classes with ``state_dict``/``load_state_dict`` so that runs resume."""

from __future__ import annotations

import math
import shutil
import sys
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TextIO

import torch
import torch.distributed as dist

if TYPE_CHECKING:
    from plexus.platform.training.trainer import Trainer

__all__ = ["Callback", "EarlyStopping", "Progress", "PruningHook", "StopTraining", "TimeLimit"]


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


class TimeLimit(Callback):
    """Stop at a validation when the next one would come past a wall-clock budget.

    Raising from ``on_evaluate`` ends training the way early stopping does: the epoch is still recorded and
    checkpointed, then the trainer restores the best state and runs its final validation and test evaluation, so
    a run cut by the budget still reports test metrics (a process killed by ``timeout`` does not). The next
    interval between validations is predicted to be the longest one so far. Time spent before a checkpoint
    counts after resuming from it.

    Args:
        seconds: the budget for training and validation, counted from ``on_fit_start`` (the final evaluation
            comes on top).
    """

    def __init__(self, seconds: float) -> None:
        if not seconds > 0:
            raise ValueError(f"TimeLimit needs seconds > 0, got {seconds}")
        self.seconds = float(seconds)
        self.spent = 0.0  # before this fit: a resumed run's earlier time
        self.longest = 0.0
        self._start: float | None = None
        self._last = 0.0

    def elapsed(self) -> float:
        return self.spent + (time.monotonic() - self._start if self._start is not None else 0.0)

    def on_fit_start(self, trainer: Trainer) -> None:
        self._start = self._last = time.monotonic()

    def on_evaluate(self, trainer: Trainer, step: int, metrics: dict[str, float]) -> None:
        now = time.monotonic()
        self.longest, self._last = max(self.longest, now - self._last), now
        over = self.elapsed() + self.longest > self.seconds
        if dist.is_available() and dist.is_initialized():  # every rank stops at the same validation, or DDP hangs
            flag = torch.tensor([float(over)], device=trainer.device)
            dist.all_reduce(flag, op=dist.ReduceOp.MAX)
            over = bool(flag.item())
        if over:
            raise StopTraining(f"time limit: {self.elapsed():.0f} s of {self.seconds:.0f} s spent, the next "
                               f"validation would come after up to {self.longest:.0f} s more")

    def state_dict(self) -> dict[str, Any]:
        return {"spent": self.elapsed(), "longest": self.longest}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.spent, self.longest = float(state["spent"]), float(state["longest"])


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


def _clock(seconds: float) -> str:
    s = int(seconds)
    return f"{s // 3600}:{s // 60 % 60:02d}:{s % 60:02d}" if s >= 3600 else f"{s // 60}:{s % 60:02d}"


class Progress(Callback):
    """One line per evaluation on a stream (stderr by default): epoch, the monitored value, elapsed time.

    On a terminal (``live``) the line is rewritten in place, every second, so a slow first epoch still shows
    that training runs; elsewhere (a pipe, a log file, several worker processes on one terminal) every
    evaluation prints one plain line and nothing is rewritten.

    Args:
        monitor: the metric to show (e.g. ``val_auc``; '': the trainer's monitored metric).
        epochs: the configured epochs (shown as ``epoch 3/10``; 0: the trainer's ``cfg.epochs``).
        prefix: text before each line, e.g. ``trial 3`` or ``worker 1 trial 3``.
        stream: where to write (default ``sys.stderr``, looked up at each write).
        live: rewrite one line in place; None: when ``stream`` is a terminal.
        start_line: in plain-line mode, also a line when training starts (before the first epoch ends).
    """

    def __init__(self, monitor: str = "", epochs: int = 0, prefix: str = "", stream: TextIO | None = None,
                 live: bool | None = None, start_line: bool = True) -> None:
        self.monitor, self.epochs, self.prefix, self._stream = monitor, int(epochs), prefix, stream
        out = self.stream
        self.live = bool(out.isatty()) if live is None and hasattr(out, "isatty") else bool(live)
        self.start_line = start_line
        self.lines: list[str] = []  # every line written (not rewritten), for callers and tests
        self._start = time.monotonic()
        self._status = "starting"
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._ticker: threading.Thread | None = None

    @property
    def stream(self) -> TextIO:
        return self._stream if self._stream is not None else sys.stderr

    def _line(self, status: str) -> str:
        head = f"{self.prefix}: " if self.prefix else ""
        return f"{head}{status} [{_clock(time.monotonic() - self._start)}]"

    def _write(self, text: str, *, final: bool) -> None:
        with self._lock:
            out = self.stream
            if self.live:  # cut to the terminal's width: a wrapped line could not be rewritten in place
                text = text[: max(20, shutil.get_terminal_size().columns - 1)]
                out.write("\r\x1b[K" + text + ("\n" if final else ""))
            elif final:
                out.write(text + "\n")
            out.flush()

    def _tick(self) -> None:
        while not self._stop.wait(1.0):
            self._write(self._line(self._status), final=False)

    def on_fit_start(self, trainer: Trainer) -> None:
        self._start = time.monotonic()
        self.monitor = self.monitor or getattr(trainer, "monitor", "")
        self.epochs = self.epochs or int(getattr(getattr(trainer, "cfg", None), "epochs", 0))
        done = getattr(trainer, "epoch", 0)
        self._status = f"epoch {done + 1}/{self.epochs} training"
        if self.live:
            self._stop.clear()
            self._ticker = threading.Thread(target=self._tick, name="plexus-progress", daemon=True)
            self._ticker.start()
        elif self.start_line:
            self._emit(self._status)

    def _emit(self, status: str) -> None:
        line = self._line(status)
        self.lines.append(line)
        self._write(line, final=not self.live)

    def on_epoch_end(self, trainer: Trainer, epoch: int, metrics: dict[str, float]) -> None:
        value = metrics.get(self.monitor)
        shown = f"{self.monitor} {value:.4f}" if isinstance(value, (int, float)) else f"{self.monitor} -"
        loss = metrics.get("train_loss")
        if isinstance(loss, float) and not math.isnan(loss):
            shown += f", train_loss {loss:.4f}"
        status = f"epoch {epoch}/{self.epochs} {shown}"
        self._status = f"{status}; epoch {epoch + 1}/{self.epochs} training" if epoch < self.epochs else status
        self.lines.append(self._line(status))
        if self.live:
            self._write(self._line(self._status), final=False)
        else:
            self._write(self.lines[-1], final=True)

    def close(self) -> None:
        """Stop rewriting the live line and clear it (idempotent; fit end and failures call it)."""
        if self._ticker is not None:
            self._stop.set()
            self._ticker.join(timeout=2)
            self._ticker = None
            self._write("", final=False)  # the live line is cleared: the caller prints the outcome

    def on_fit_end(self, trainer: Trainer, result: dict[str, Any]) -> None:
        self.close()

    def on_exception(self, trainer: Trainer, exc: BaseException) -> None:
        self.close()
