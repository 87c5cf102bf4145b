"""One trainer for every task kind.

Epochs (or a step budget), evaluation every epoch or every N steps, early
stopping on the task's monitored metric, LR schedules, gradient clipping, weight
decay groups, seeded deterministic mode, automatic device choice, bf16 autocast
on CUDA, DDP under ``torchrun``, and checkpoints that resume exactly.
"""

from __future__ import annotations

import copy
import ctypes
import functools
import math
import os
import random
import sys
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager, nullcontext
from pathlib import Path
from typing import Any

import numpy as np
import torch
from plexus.platform.config import TrainConfig
from plexus.platform.errors import CheckpointError, ConfigError
from plexus.platform.model import capabilities
from plexus.platform.training.callbacks import Callback, EarlyStopping, StopTraining, TimeLimit
from plexus.platform.training.checkpoint import load_checkpoint, rng_state, save_checkpoint, set_rng_state
from plexus.platform.training.tasks import Task
from torch import nn

__all__ = ["Trainer", "dist_info", "flush_denormal", "flushing_denormals", "lr_group_of", "make_optimizer",
           "param_groups", "pick_device", "seed_everything"]


def seed_everything(seed: int, deterministic: bool = True) -> None:
    random.seed(seed)
    np.random.seed(seed % (2**32))
    torch.manual_seed(seed)
    if deterministic:
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        torch.use_deterministic_algorithms(True, warn_only=True)
        if torch.backends.cudnn.is_available():
            torch.backends.cudnn.benchmark = False
            torch.backends.cudnn.deterministic = True


def pick_device(name: str = "auto", local_rank: int = 0) -> torch.device:
    if name == "auto":
        return torch.device(f"cuda:{local_rank}" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(name)
    except (RuntimeError, TypeError, ValueError):
        raise ConfigError(f"train.device={name} is not a device (auto, cpu, cuda, cuda:N, ...)") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f"train.device={name} but CUDA is not available on this machine")
    return dev


def dist_info() -> tuple[int, int, int]:
    """``(rank, world_size, local_rank)`` from the torchrun environment."""
    env = os.environ
    return int(env.get("RANK", "0")), int(env.get("WORLD_SIZE", "1")), int(env.get("LOCAL_RANK", "0"))


def _decay_groups(model: nn.Module, weight_decay: float, no_decay_embeddings: bool) -> list[dict[str, Any]]:
    """Two groups: decayed weights, and embeddings/biases/norm scales without decay (when asked)."""
    if not no_decay_embeddings or weight_decay == 0:
        return [{"params": [p for p in model.parameters() if p.requires_grad], "weight_decay": weight_decay}]
    no_decay: set[int] = set()
    for mod in model.modules():
        if isinstance(mod, (nn.Embedding, nn.EmbeddingBag)):
            no_decay.update(id(p) for p in mod.parameters(recurse=False))
    for p in model.parameters():
        if p.ndim <= 1:
            no_decay.add(id(p))
    params = [p for p in model.parameters() if p.requires_grad]
    return [
        {"params": [p for p in params if id(p) not in no_decay], "weight_decay": weight_decay},
        {"params": [p for p in params if id(p) in no_decay], "weight_decay": 0.0},
    ]


def lr_group_of(name: str, prefixes: Iterable[str]) -> str | None:
    """The longest prefix in ``prefixes`` that is ``name`` or a dotted ancestor of it, else None."""
    hits = [p for p in prefixes if name == p or name.startswith(p + ".")]
    return max(hits, key=len) if hits else None


def param_groups(model: nn.Module, weight_decay: float, no_decay_embeddings: bool,
                 lr_groups: dict[str, float] | None = None) -> list[dict[str, Any]]:
    """Optimizer groups: decayed weights, and embeddings/biases/norm scales without decay (when asked),
    each split further by ``lr_groups`` (``{parameter-name prefix: lr}``, longest prefix wins). Groups of
    an ``lr_groups`` prefix carry ``"lr"`` and ``"lr_group"`` (the prefix); the others use the optimizer's
    default lr. Every trainable parameter is in exactly one group; empty groups are dropped when
    ``lr_groups`` is given. A prefix that matches no trainable parameter is a ConfigError."""
    groups = _decay_groups(model, weight_decay, no_decay_embeddings)
    if not lr_groups:
        return groups
    names = {id(p): n for n, p in model.named_parameters() if p.requires_grad}
    owner = {pid: lr_group_of(n, lr_groups) for pid, n in names.items()}
    unused = [k for k in lr_groups if k not in owner.values()]
    if unused:
        tops = sorted({n.split(".")[0] for n in names.values()})
        raise ConfigError(f"train.lr_groups: prefix '{unused[0]}' matches no trainable parameter of "
                          f"{type(model).__name__}; top-level names: {', '.join(tops)}")
    out: list[dict[str, Any]] = []
    for g in groups:
        for prefix in [None, *lr_groups]:
            params = [p for p in g["params"] if owner[id(p)] == prefix]
            if params:
                extra = {} if prefix is None else {"lr": float(lr_groups[prefix]), "lr_group": prefix}
                out.append({**g, "params": params, **extra})
    return out


def _fused_ok(model: nn.Module, device: torch.device) -> bool:
    """Fused (single-kernel) Adam/AdamW/SGD steps: CPU and CUDA, floating-point dense parameters only."""
    if device.type not in ("cpu", "cuda"):
        return False
    if any(getattr(m, "sparse", False) for m in model.modules() if isinstance(m, (nn.Embedding, nn.EmbeddingBag))):
        return False
    return all(p.is_floating_point() and p.device.type == device.type for p in model.parameters())


def make_optimizer(model: nn.Module, cfg: TrainConfig, device: torch.device | None = None) -> torch.optim.Optimizer:
    """The optimizer of ``cfg`` over :func:`param_groups`, fused where the device supports it (CPU, CUDA):
    one kernel per step instead of a Python loop over parameters, same update rule; else ``foreach``."""
    groups = param_groups(model, cfg.weight_decay, cfg.no_decay_embeddings, cfg.lr_groups)
    device = device or next(model.parameters()).device
    speed = {"fused": True} if _fused_ok(model, device) else {"foreach": True}
    if cfg.optimizer == "adamw":
        return torch.optim.AdamW(groups, lr=cfg.lr, **speed)
    if cfg.optimizer == "sgd":
        return torch.optim.SGD(groups, lr=cfg.lr, momentum=0.9, **speed)
    return torch.optim.Adam(groups, lr=cfg.lr, **speed)


def flushing_denormals() -> bool:
    """Whether this thread flushes denormal floats to zero (torch has a setter but no getter)."""
    return bool(torch.tensor([1e-39], dtype=torch.float32).mul(1.0).item() == 0.0)


@functools.cache
def _libgomp() -> Any:
    """torch's own OpenMP runtime (the one its intra-op threads belong to), or None."""
    path = Path(torch.__file__).parent / "lib" / "libgomp.so.1"
    if not path.is_file() or "OpenMP" not in torch.__config__.parallel_info():
        return None
    try:
        return ctypes.CDLL(str(path))
    except OSError:
        return None


def _set_flush_denormal_all_threads(on: bool) -> None:
    """``torch.set_flush_denormal`` sets the calling thread's FP control register only; the intra-op
    OpenMP threads, started earlier, keep theirs (half of a 2-thread op stays denormal). So it also runs
    once on every thread of an OpenMP team of ``torch.get_num_threads()``, the pool torch's ops reuse."""
    torch.set_flush_denormal(on)
    gomp, n = _libgomp(), torch.get_num_threads()
    if gomp is None or n <= 1:
        return
    callback = ctypes.CFUNCTYPE(None, ctypes.c_void_p)(lambda _data: torch.set_flush_denormal(on))
    gomp.GOMP_parallel(callback, None, ctypes.c_uint(n), ctypes.c_uint(0))


@contextmanager
def flush_denormal(enabled: bool = True) -> Iterator[None]:
    """Flush denormal floats to zero on CPU inside the block (no-op when ``enabled`` is False), on the
    calling thread and torch's intra-op threads, then restore the previous state. Attention weights
    drifting into the denormal range slow CPU kernels many-fold as a model trains; flushing them to zero
    changes values below ~1.2e-38 only."""
    if not enabled:
        yield
        return
    before = flushing_denormals()
    _set_flush_denormal_all_threads(True)
    try:
        yield
    finally:
        _set_flush_denormal_all_threads(before)


def _progress(enabled: bool):
    if not enabled:
        return None
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                    TextColumn("{task.fields[info]}"), transient=True)


class Trainer:
    """Train ``model`` on ``task``.

    Args:
        model: a plugin model; ``forward(batch)`` returns a dict of tensors.
        task: the task kind object (owns batches, loss, metrics).
        cfg: trainer settings.
        callbacks: extra callbacks (tracking, pruning). Early stopping is added from ``cfg``.
        checkpoint_dir: where ``last.pt`` is written every ``cfg.checkpoint_every`` epochs (None: no checkpoints).
        progress: show progress bars (only when stdout is a terminal).
    """

    def __init__(self, model: nn.Module, task: Task, cfg: TrainConfig, callbacks: Iterable[Callback] = (),
                 checkpoint_dir: str | Path | None = None, progress: bool = True) -> None:
        self.cfg, self.task = cfg, task
        self.rank, self.world, local_rank = dist_info()
        self.device = pick_device(cfg.device, local_rank)
        self.monitor = cfg.monitor or task.monitor
        self.mode = task.mode if not cfg.monitor or cfg.monitor == task.monitor else (
            "min" if "loss" in cfg.monitor else "max")
        self.early = EarlyStopping(self.monitor, self.mode, cfg.patience, cfg.min_delta)
        self.callbacks: list[Callback] = [*callbacks, self.early]
        if cfg.time_limit:
            self.callbacks.append(TimeLimit(cfg.time_limit))
        self.checkpoint_dir = Path(checkpoint_dir) if checkpoint_dir else None
        self.progress = progress and sys.stdout.isatty() and self.rank == 0
        self.model = model.to(self.device)
        task.bind(self.model)
        self.ddp_model: nn.Module = self.model
        if self.world > 1:
            import torch.distributed as dist

            if not dist.is_initialized():
                dist.init_process_group("nccl" if self.device.type == "cuda" else "gloo")
            self.ddp_model = nn.parallel.DistributedDataParallel(
                self.model, device_ids=[self.device.index] if self.device.type == "cuda" else None,
                find_unused_parameters=True)
            task.shard(self.rank, self.world)
        self.optimizer = self._make_optimizer()
        self.scheduler = self._make_scheduler()
        self.epoch = 0
        self.global_step = 0
        self.history: list[dict[str, float]] = []
        self.best_state: dict[str, torch.Tensor] | None = None
        self.best_metrics: dict[str, float] = {}
        self.amp = cfg.amp and self.device.type == "cuda" and capabilities(model).autocast
        self.meta: dict[str, Any] = {}

    # ------------------------------------------------------------------ setup
    def _make_optimizer(self) -> torch.optim.Optimizer:
        return make_optimizer(self.model, self.cfg, self.device)

    def _make_scheduler(self) -> Any:
        s = self.cfg.scheduler
        if s == "cosine":
            return torch.optim.lr_scheduler.CosineAnnealingLR(self.optimizer, T_max=self.cfg.epochs)
        if s == "step":
            return torch.optim.lr_scheduler.StepLR(self.optimizer, step_size=max(1, self.cfg.epochs // 3), gamma=0.1)
        if s == "plateau":
            return torch.optim.lr_scheduler.ReduceLROnPlateau(self.optimizer, mode=self.mode, patience=2)
        return None

    # ------------------------------------------------------------------ state
    def state_dict(self) -> dict[str, Any]:
        return {
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict() if self.scheduler is not None else None,
            "rng": rng_state(),
            "epoch": self.epoch,
            "global_step": self.global_step,
            "history": self.history,
            "best_state": self.best_state,
            "best_metrics": self.best_metrics,
            "meta": self.meta,
            "callbacks": {type(c).__name__ + f"#{i}": c.state_dict() for i, c in enumerate(self.callbacks)},
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        try:
            self.model.load_state_dict(state["model"])
            self.optimizer.load_state_dict(state["optimizer"])
        except (RuntimeError, KeyError, ValueError) as exc:
            first = str(exc).strip().splitlines()[0][:200]
            raise CheckpointError(f"checkpoint does not match this model/optimizer: {first}") from None
        if self.scheduler is not None and state.get("scheduler") is not None:
            self.scheduler.load_state_dict(state["scheduler"])
        self.epoch, self.global_step = int(state["epoch"]), int(state["global_step"])
        self.history = list(state["history"])
        self.best_state, self.best_metrics = state["best_state"], dict(state["best_metrics"])
        self.meta = dict(state.get("meta", {}))
        saved = state.get("callbacks", {})
        kinds: dict[str, list[str]] = {}
        for k in saved:
            kinds.setdefault(k.split("#")[0], []).append(k)
        for i, c in enumerate(self.callbacks):
            key = type(c).__name__ + f"#{i}"
            if key not in saved and len(kinds.get(type(c).__name__, ())) == 1:
                key = kinds[type(c).__name__][0]  # one of its kind, moved (a worker without progress lines)
            if key in saved:
                c.load_state_dict(saved[key])
        set_rng_state(state["rng"])

    def save(self, path: str | Path) -> Path:
        return save_checkpoint(path, self.state_dict())

    def resume(self, path: str | Path) -> None:
        self.load_state_dict(load_checkpoint(path))

    # ------------------------------------------------------------------ loop
    def _call(self, hook: str, *args: Any) -> None:
        for c in self.callbacks:
            getattr(c, hook)(self, *args)

    def evaluate(self, split: str) -> dict[str, float]:
        self.model.eval()
        with torch.autocast("cuda", dtype=torch.bfloat16) if self.amp else nullcontext():
            return self.task.evaluate(self.model, split, self.device)

    def _after_eval(self, metrics: dict[str, float]) -> None:
        value = metrics.get(self.monitor)
        if value is not None and not math.isnan(value) and self.early.improved(value):
            self.best_state = {k: v.detach().to("cpu", copy=True) for k, v in self.model.state_dict().items()}
            self.best_metrics = dict(metrics)
        self._call("on_evaluate", self.global_step, metrics)

    def fit(self) -> dict[str, Any]:
        """Train until the epoch/step budget or early stopping; returns the final metrics.

        On CPU with ``cfg.flush_denormal`` denormal floats are flushed to zero during the fit (the previous
        setting is restored afterwards)."""
        with flush_denormal(self.cfg.flush_denormal and self.device.type == "cpu"):
            return self._fit()

    def _fit(self) -> dict[str, Any]:
        cfg = self.cfg
        start = time.time()
        self._call("on_fit_start")
        stopped_reason = ""
        progress = _progress(self.progress)
        try:
            if progress is not None:
                progress.start()
                ep_bar = progress.add_task("epochs", total=cfg.epochs, completed=self.epoch, info="")
            while self.epoch < cfg.epochs:
                epoch = self.epoch
                self.ddp_model.train()
                losses = []
                if progress is not None:
                    b_bar = progress.add_task(f"epoch {epoch + 1}", total=None, info="")
                for batch, target in self.task.train_batches(epoch, self.device):
                    with torch.autocast("cuda", dtype=torch.bfloat16) if self.amp else nullcontext():
                        out = self.ddp_model(batch)
                        loss = self.task.loss(out, target)
                        if "aux_loss" in out:
                            loss = loss + out["aux_loss"].float()
                    if not torch.isfinite(loss):
                        raise FloatingPointError(f"loss became {loss.item()} at epoch {epoch + 1}, step "
                                                 f"{self.global_step}; lower the learning rate")
                    self.optimizer.zero_grad(set_to_none=True)
                    loss.backward()
                    if cfg.grad_clip > 0:
                        torch.nn.utils.clip_grad_norm_(self.model.parameters(), cfg.grad_clip)
                    self.optimizer.step()
                    self.global_step += 1
                    losses.append(float(loss.detach()))
                    if progress is not None:
                        progress.update(b_bar, advance=1, info=f"loss {losses[-1]:.4f}")
                    if cfg.eval_every and self.global_step % cfg.eval_every == 0:
                        self._after_eval({"step": self.global_step, **self.evaluate("val")})
                        self.ddp_model.train()
                    if cfg.max_steps and self.global_step >= cfg.max_steps:
                        break
                if progress is not None:
                    progress.remove_task(b_bar)
                metrics = {"epoch": epoch + 1, "train_loss": float(np.mean(losses)) if losses else float("nan")}
                self.epoch = epoch + 1
                try:
                    if not cfg.eval_every:
                        metrics.update(self.evaluate("val"))
                        self._after_eval(metrics)
                finally:
                    self.history.append(metrics)
                    if self.scheduler is not None:
                        if isinstance(self.scheduler, torch.optim.lr_scheduler.ReduceLROnPlateau):
                            self.scheduler.step(metrics.get(self.monitor, 0.0))
                        else:
                            self.scheduler.step()
                    self._call("on_epoch_end", epoch + 1, metrics)
                    if self.checkpoint_dir is not None and self.rank == 0 and (
                            (cfg.checkpoint_every and self.epoch % cfg.checkpoint_every == 0)
                            or self.epoch == cfg.epochs):
                        self.save(self.checkpoint_dir / "last.pt")
                if progress is not None:
                    progress.update(ep_bar, advance=1, info=f"{self.monitor} {metrics.get(self.monitor, float('nan')):.4f}")
                if cfg.max_steps and self.global_step >= cfg.max_steps:
                    stopped_reason = f"max_steps={cfg.max_steps} reached"
                    break
        except StopTraining as exc:
            stopped_reason = str(exc)
        except BaseException as exc:
            self._call("on_exception", exc)
            raise
        finally:
            if progress is not None:
                progress.stop()
        if self.best_state is not None:
            self.model.load_state_dict(self.best_state)
        final = {**self.evaluate("val"), **self.evaluate("test")}
        result = {
            "metrics": final,
            "monitor": self.monitor,
            "best_value": final.get(self.monitor),
            "best_epoch": int(self.best_metrics.get("epoch", self.epoch)),
            "epochs_run": self.epoch,
            "steps": self.global_step,
            "stopped": stopped_reason,
            "duration_s": round(time.time() - start, 3),
            "history": self.history,
        }
        self._call("on_fit_end", result)
        return result

    def model_for_export(self) -> nn.Module:
        return copy.deepcopy(self.model).cpu().eval()
