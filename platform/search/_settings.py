"""Search settings (the ``search:`` section of an experiment config), samplers and pruners."""

from __future__ import annotations

import warnings
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from plexus.platform.catalog import schema_from_callable
from plexus.platform.errors import ConfigError, PlexusError

__all__ = [
    "PRUNERS",
    "SAMPLERS",
    "SearchError",
    "SearchSettings",
    "StorageError",
    "make_pruner",
    "make_sampler",
]

SAMPLERS = ("tpe", "random", "cmaes", "gp", "qmc")
PRUNERS = ("median", "hyperband", "successive-halving", "none")


class SearchError(PlexusError):
    """A search cannot run or produced no usable trial."""


class StorageError(SearchError):
    """The Optuna storage cannot be opened (the URL is reported with its password masked)."""


@dataclass
class SearchSettings:
    """Hyperparameter search settings.

    Args:
        trials: trials to finish in the study: the budget shared by every worker.
        sampler: ``tpe`` | ``random`` | ``cmaes`` | ``gp`` | ``qmc``.
        pruner: ``median`` | ``hyperband`` | ``successive-halving`` | ``none``.
        storage: Optuna storage URL ('': ``optuna.db`` beside the tracking store, see ``files_root``).
        study: study name ('': ``MODEL-DATASET``); an existing study is resumed.
        workers: local worker processes (0: run the trials in this process).
        timeout: seconds after which no new trial is started (0: no limit).
        seed: sampler seed; worker ``i`` of a session uses a distinct seed derived from it.
        heartbeat_interval: seconds between heartbeats of a running trial (0: off; then a dead
            trial stays RUNNING until the study is resumed with heartbeats on).
        grace_period: seconds without heartbeat after which a running trial is failed and
            retried with the same parameters (0: three heartbeat intervals).
        max_retry: how often the trial of a dead worker is retried.
        checkpoint_every_s: a running trial uploads its checkpoint as an artifact of its MLflow run
            (``checkpoint/last.pt``) at the end of an epoch once this many seconds passed since the last
            upload; the retry of a dead worker's trial resumes from it (0: off, retries start at epoch 0).
        pruner_startup: trials that finish before the median pruner starts pruning.
        log_models: ``best`` (a trial logs its model when it beats every finished trial) |
            ``all`` | ``none``.
        register: register the best trial's model in the MLflow model registry under the study name.
        min_epochs: the best trial is chosen among completed trials that trained at least this many
            epochs (capped at ``train.epochs``); a trial cut short (time limit, early stop) is reported, not
            registered.
        space: replaces the distribution of parameters of the model's search space, by name: a list of
            choices, ``{low: L, high: H}`` (optional ``log``, ``step``) or ``"L..H"``.
        plotly_js: ``cdn`` (small HTML plots that load plotly.js from its CDN) | ``inline`` (self-contained).
    """

    trials: int = 20
    sampler: Literal["tpe", "random", "cmaes", "gp", "qmc"] = "tpe"
    pruner: Literal["median", "hyperband", "successive-halving", "none"] = "median"
    storage: str = ""
    study: str = ""
    workers: int = 0
    timeout: float = 0.0
    seed: int = 0
    heartbeat_interval: int = 10
    grace_period: int = 0
    max_retry: int = 3
    checkpoint_every_s: float = 60.0
    pruner_startup: int = 5
    log_models: Literal["best", "all", "none"] = "best"
    register: bool = True
    plotly_js: Literal["cdn", "inline"] = "cdn"
    min_epochs: int = 3
    space: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        checks = [
            (1 <= self.trials <= 1_000_000, "trials", "an integer between 1 and 1000000"),
            (0 <= self.workers <= 1024, "workers", "an integer between 0 and 1024"),
            (self.timeout >= 0, "timeout", "a non-negative number of seconds"),
            (self.heartbeat_interval >= 0, "heartbeat_interval", "a non-negative integer"),
            (self.grace_period >= 0, "grace_period", "a non-negative integer"),
            (self.max_retry >= 0, "max_retry", "a non-negative integer"),
            (self.checkpoint_every_s >= 0, "checkpoint_every_s", "a non-negative number of seconds"),
            (self.pruner_startup >= 0, "pruner_startup", "a non-negative integer"),
            (self.min_epochs >= 0, "min_epochs", "a non-negative integer"),
        ]
        for ok, key, expected in checks:
            if not ok:
                raise ConfigError(f"search.{key} must be {expected}, got {getattr(self, key)!r}")
        if self.heartbeat_interval and self.grace_period and self.grace_period <= self.heartbeat_interval:
            raise ConfigError(
                f"search.grace_period ({self.grace_period}) must exceed search.heartbeat_interval "
                f"({self.heartbeat_interval})"
            )

    @property
    def grace(self) -> int:
        return self.grace_period or 3 * self.heartbeat_interval

    @classmethod
    def from_dict(cls, raw: dict[str, Any] | None) -> SearchSettings:
        try:
            values = _SCHEMA.validate(dict(raw or {}), owner="search")
        except ConfigError as exc:
            raise ConfigError(
                str(exc).replace("hyperparameter", "setting").replace("'", "'search.", 1)
            ) from None
        return cls(**values)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


_SCHEMA = schema_from_callable(SearchSettings)


def make_sampler(name: str, seed: int | None) -> Any:
    """An Optuna sampler by name; conditional search spaces are supported by every choice."""
    import optuna
    from optuna.exceptions import ExperimentalWarning

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ExperimentalWarning)
        if name == "tpe":
            # multivariate + group handle conditional spaces; constant_liar spreads parallel workers apart
            return optuna.samplers.TPESampler(seed=seed, multivariate=True, group=True, constant_liar=True)
        if name == "random":
            return optuna.samplers.RandomSampler(seed=seed)
        if name == "cmaes":
            try:
                import cmaes  # noqa: F401
            except ImportError:
                raise ConfigError(
                    "search.sampler=cmaes needs the 'cmaes' package: pip install cmaes"
                ) from None
            return optuna.samplers.CmaEsSampler(seed=seed, warn_independent_sampling=False)
        if name == "gp":
            try:
                import scipy  # noqa: F401
            except ImportError:
                raise ConfigError("search.sampler=gp needs scipy: pip install scipy") from None
            return optuna.samplers.GPSampler(seed=seed)
        if name == "qmc":
            return optuna.samplers.QMCSampler(seed=seed, warn_independent_sampling=False)
    raise ConfigError(f"search.sampler must be one of {', '.join(SAMPLERS)}, got '{name}'")


def make_pruner(name: str, *, startup: int = 5, max_resource: int | None = None) -> Any:
    """An Optuna pruner by name. Steps are evaluation counts (epochs unless ``train.eval_every`` is set)."""
    import optuna

    if name == "median":
        return optuna.pruners.MedianPruner(n_startup_trials=startup, n_warmup_steps=0)
    if name == "hyperband":
        return optuna.pruners.HyperbandPruner(min_resource=1, max_resource=max_resource or "auto")
    if name == "successive-halving":
        return optuna.pruners.SuccessiveHalvingPruner(min_resource=1)
    if name == "none":
        return optuna.pruners.NopPruner()
    raise ConfigError(f"search.pruner must be one of {', '.join(PRUNERS)}, got '{name}'")
