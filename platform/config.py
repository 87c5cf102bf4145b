"""Experiment configuration: YAML files (``safe_load``), ``--set`` overrides, validation.

A config has the sections ``model``, ``dataset``, ``hparams``, ``train``,
``tracking`` and ``search``. ``train`` is validated against :class:`TrainConfig`,
``hparams`` against the model's schema (by the catalog).
"""

from __future__ import annotations

import copy
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, Literal

import yaml
from plexus.platform.catalog import did_you_mean, schema_from_callable
from plexus.platform.errors import ConfigError

__all__ = [
    "ExperimentConfig",
    "TrainConfig",
    "apply_overrides",
    "build_config",
    "flatten",
    "load_yaml",
    "parse_set",
]

SECTIONS = ("model", "dataset", "dataset_options", "hparams", "train", "tracking", "search")


@dataclass
class TrainConfig:
    """Trainer settings.

    Args:
        epochs: maximum number of epochs (>= 1).
        batch_size: rows (or graphs / edges) per optimisation step.
        lr: learning rate of Adam(W).
        lr_groups: per-submodule learning rates, ``{name prefix: lr}``: a parameter whose dotted name
            is the prefix or starts with ``prefix.`` gets that lr (the longest matching prefix wins),
            every other parameter gets ``lr``; e.g. ``{mpnn: 0.0043}`` (NCN's ``gnnlr``). A prefix
            matching no parameter is a ConfigError when the optimizer is built.
        weight_decay: L2 weight decay.
        no_decay_embeddings: exclude embedding tables and biases from weight decay.
        optimizer: ``adam`` | ``adamw`` | ``sgd``.
        scheduler: ``none`` | ``cosine`` | ``step`` | ``plateau``.
        grad_clip: max gradient norm, 0 disables clipping.
        seed: global seed.
        deterministic: use deterministic torch kernels.
        device: ``auto`` (CUDA when present) | ``cpu`` | ``cuda`` | ``cuda:N``.
        amp: bf16 autocast on CUDA.
        flush_denormal: flush denormal floats to zero while training on CPU (restored after the fit);
            keeps attention models from slowing down as their weights decay towards zero.
        patience: early-stopping patience in evaluations, 0 disables early stopping.
        min_delta: minimal improvement of the monitored metric.
        monitor: metric to monitor (default: the task's).
        eval_every: evaluate every N steps (0: once per epoch).
        max_steps: stop after this many optimisation steps (0: no limit).
        checkpoint_every: write a checkpoint every N epochs (0: only the last/best).
        time_limit: wall-clock budget in seconds for training and validation, 0: none. Training stops at the
            first validation after which the next one would come past it (the longest interval so far
            predicts the next); the best state's final validation and test evaluation still run.
        num_neg: negatives per positive for link tasks.
        negatives: ``link`` training negatives: ``per_batch`` (a fresh draw for every batch) or ``per_epoch``
            (one draw of ``num_neg`` non-edges per training positive each epoch; each batch takes those of its
            positives: the NCN reference's loop).
        drop_last: ``link`` task: skip an epoch's last partial batch, so every step has ``batch_size``
            positives (floor(positives / batch_size) steps; the NCN reference's loop).
        pair_calls: ``link`` training: ``joint`` (positives and negatives scored in one ``forward``) or
            ``separate`` (the batch names its groups, positives then negatives, in ``edge_label_groups``; the
            model scores each in its own predictor call over one node embedding, as the NCN reference).
            ``separate`` needs a model that declares ``pair_groups``.
        neg_sampling: ``dynlink`` training negatives: ``uniform`` random non-edges, or ``active`` (the
            EvolveGCN reference's smart sampling): sources among the step's positives' sources,
            destinations among the nodes with an edge in the input window.
        class_weights: fixed loss weight per class. ``edge`` task: e.g. EvolveGCN's ``[0.8, 0.2]``; None: the
            dataset's reference weights if it declares them, else inverse training-class frequencies.
            ``dynlink`` task: ``[non-edge, edge]``, e.g. the reference's ``[0.1, 0.9]``; None: balanced BCE.
    """

    epochs: int = 10
    batch_size: int = 1024
    lr: float = 1e-3
    lr_groups: dict[str, float] = field(default_factory=dict)
    weight_decay: float = 0.0
    no_decay_embeddings: bool = True
    optimizer: Literal["adam", "adamw", "sgd"] = "adam"
    scheduler: Literal["none", "cosine", "step", "plateau"] = "none"
    grad_clip: float = 0.0
    seed: int = 0
    deterministic: bool = True
    device: str = "auto"
    amp: bool = True
    flush_denormal: bool = True
    patience: int = 5
    min_delta: float = 0.0
    monitor: str = ""
    eval_every: int = 0
    max_steps: int = 0
    checkpoint_every: int = 1
    time_limit: float = 0.0
    num_neg: int = 1
    negatives: Literal["per_batch", "per_epoch"] = "per_batch"
    drop_last: bool = False
    pair_calls: Literal["joint", "separate"] = "joint"
    neg_sampling: str = "uniform"
    class_weights: list[float] | None = None

    def __post_init__(self) -> None:
        checks = [
            (self.epochs >= 1 and self.epochs <= 100_000, "epochs", "an integer between 1 and 100000"),
            (self.batch_size >= 1, "batch_size", "a positive integer"),
            (self.lr > 0, "lr", "a positive number"),
            (self.weight_decay >= 0, "weight_decay", "a non-negative number"),
            (self.grad_clip >= 0, "grad_clip", "a non-negative number"),
            (self.patience >= 0, "patience", "a non-negative integer"),
            (self.eval_every >= 0, "eval_every", "a non-negative integer"),
            (self.max_steps >= 0, "max_steps", "a non-negative integer"),
            (self.time_limit >= 0, "time_limit", "a non-negative number of seconds"),
            (self.num_neg >= 1, "num_neg", "a positive integer"),
            (self.negatives in ("per_batch", "per_epoch"), "negatives", "'per_batch' or 'per_epoch'"),
            (self.pair_calls in ("joint", "separate"), "pair_calls", "'joint' or 'separate'"),
            (self.neg_sampling in ("uniform", "active"), "neg_sampling", "'uniform' or 'active'"),
            (self.class_weights is None or (len(self.class_weights) >= 2 and all(
                float(w) >= 0 for w in self.class_weights)), "class_weights", "None or a list of >= 2 weights >= 0"),
        ]
        bad = [k for k, v in self.lr_groups.items() if not k or not isinstance(v, (int, float)) or v <= 0]
        if bad:
            raise ConfigError(f"train.lr_groups: '{bad[0]}' needs a non-empty name prefix and a positive "
                              f"learning rate, got {self.lr_groups[bad[0]]!r}")
        for ok, key, expected in checks:
            if not ok:
                raise ConfigError(f"train.{key} must be {expected}, got {getattr(self, key)!r}")


@dataclass
class ExperimentConfig:
    model: str
    dataset: str
    hparams: dict[str, Any] = field(default_factory=dict)
    train: TrainConfig = field(default_factory=TrainConfig)
    dataset_options: dict[str, Any] = field(default_factory=dict)
    tracking: dict[str, Any] = field(default_factory=dict)
    search: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        return d


def load_yaml(path: str | Path) -> dict[str, Any]:
    """Read an experiment YAML file with ``yaml.safe_load`` (Python tags are refused)."""
    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"{p}: config file not found")
    try:
        data = yaml.safe_load(p.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ConfigError(f"{p}:{where} malformed YAML: {problem}") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{p}: not UTF-8 text") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{p}: expected a mapping with sections {', '.join(SECTIONS)}, got {type(data).__name__}")
    unknown = [k for k in data if k not in SECTIONS]
    if unknown:
        raise ConfigError(f"{p}: unknown section '{unknown[0]}'{did_you_mean(unknown[0], SECTIONS)}")
    return data


def parse_set(items: list[str] | None) -> list[tuple[str, Any]]:
    """Parse ``key=value`` overrides; values are YAML scalars (``1e-3``, ``true``, ``[1, 2]``)."""
    out = []
    for item in items or []:
        if "=" not in item:
            raise ConfigError(f"--set expects key=value, got '{item}'")
        key, raw = item.split("=", 1)
        key = key.strip()
        if not key:
            raise ConfigError(f"--set expects key=value, got '{item}'")
        try:
            value = yaml.safe_load(raw) if raw.strip() else ""
        except yaml.YAMLError:
            value = raw
        out.append((key, value))
    return out


def apply_overrides(cfg: dict[str, Any], overrides: list[tuple[str, Any]]) -> dict[str, Any]:
    """Apply dotted-key overrides. A bare key goes to ``hparams`` unless it is a train setting."""
    cfg = copy.deepcopy(cfg)
    train_keys = {f.name for f in fields(TrainConfig)}
    for key, value in overrides:
        parts = key.split(".")
        if len(parts) == 1:
            parts = ["train", key] if key in train_keys else ["hparams", key]
        if parts[0] not in SECTIONS:
            raise ConfigError(f"--set {key}: unknown section '{parts[0]}'{did_you_mean(parts[0], SECTIONS)}")
        node = cfg
        for p in parts[:-1]:
            if not isinstance(node.get(p, {}), dict):
                raise ConfigError(f"--set {key}: '{p}' is not a section")
            node = node.setdefault(p, {})
        node[parts[-1]] = value
    return cfg


_TRAIN_SCHEMA = schema_from_callable(TrainConfig)


def build_config(raw: dict[str, Any], *, model: str | None = None, dataset: str | None = None) -> ExperimentConfig:
    """Validate a raw config dict (sections as in the YAML file) into an :class:`ExperimentConfig`."""
    raw = dict(raw)
    model = model or raw.get("model")
    dataset = dataset or raw.get("dataset")
    if not model:
        raise ConfigError("no model given (argument MODEL or 'model:' in the config)")
    if not dataset:
        raise ConfigError("no dataset given (--dataset or 'dataset:' in the config)")
    for sec in ("hparams", "train", "tracking", "search", "dataset_options"):
        if raw.get(sec) is not None and not isinstance(raw[sec], dict):
            raise ConfigError(f"section '{sec}' must be a mapping, got {type(raw[sec]).__name__}")
    if "task" in (raw.get("dataset_options") or {}):  # the task kind is an argument of its own, not an option
        raise ConfigError("dataset_options.task: choose the task kind with --task (e.g. --task node), "
                          "not as a dataset option")
    train_raw = raw.get("train") or {}
    try:
        values = _TRAIN_SCHEMA.validate(train_raw, owner="train")
    except ConfigError as exc:
        raise ConfigError(str(exc).replace("hyperparameter", "setting").replace("'", "'train.", 1)) from None
    return ExperimentConfig(
        model=str(model), dataset=str(dataset), hparams=dict(raw.get("hparams") or {}), train=TrainConfig(**values),
        dataset_options=dict(raw.get("dataset_options") or {}), tracking=dict(raw.get("tracking") or {}),
        search=dict(raw.get("search") or {}),
    )


def flatten(d: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """``{"train": {"lr": 1}} -> {"train.lr": 1}`` (for MLflow params)."""
    out: dict[str, Any] = {}
    for k, v in d.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict) and v:
            out.update(flatten(v, key + "."))
        else:
            out[key] = v
    return out
