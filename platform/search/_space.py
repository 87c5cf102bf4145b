"""The plugin's search space, with fixed (``--set``) values that win and are not sampled."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from plexus.platform.catalog._schema import did_you_mean
from plexus.platform.errors import CatalogError, ConfigError

__all__ = ["FixedTrial", "check_space", "sample"]


class FixedTrial:
    """Wraps an Optuna trial: ``suggest_*`` of a fixed name returns the fixed value without sampling it."""

    def __init__(self, trial: Any, fixed: dict[str, Any]) -> None:
        self._trial, self._fixed = trial, fixed
        self.used: set[str] = set()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._trial, name)

    def _suggest(self, method: str, name: str, *args: Any, **kwargs: Any) -> Any:
        if name in self._fixed:
            self.used.add(name)
            return self._fixed[name]
        return getattr(self._trial, method)(name, *args, **kwargs)

    def suggest_float(self, name: str, *args: Any, **kwargs: Any) -> Any:
        return self._suggest("suggest_float", name, *args, **kwargs)

    def suggest_int(self, name: str, *args: Any, **kwargs: Any) -> Any:
        return self._suggest("suggest_int", name, *args, **kwargs)

    def suggest_categorical(self, name: str, *args: Any, **kwargs: Any) -> Any:
        return self._suggest("suggest_categorical", name, *args, **kwargs)

    def suggest_uniform(self, name: str, *args: Any, **kwargs: Any) -> Any:
        return self._suggest("suggest_float", name, *args, **kwargs)

    def suggest_loguniform(self, name: str, low: float, high: float) -> Any:
        return self._suggest("suggest_float", name, low, high, log=True)


def sample(
    space: Callable[[Any], dict[str, Any]], trial: Any, fixed: dict[str, Any], names: list[str]
) -> dict[str, Any]:
    """Hyperparameters for one trial: the sampled space, then the fixed constructor arguments on top."""
    proxy = FixedTrial(trial, fixed)
    hp = dict(space(proxy))
    hp.update({k: v for k, v in fixed.items() if k in names})
    return hp


def check_space(
    space: Callable[[Any], dict[str, Any]],
    fixed: dict[str, Any],
    names: list[str],
    model: str,
    draws: int = 16,
) -> list[str]:
    """Sample the space a few times in memory: catches broken spaces and unknown names before any trial.

    Returns the names of the sampled parameters.
    """
    import optuna

    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    suggested: set[str] = set()
    returned: set[str] = set()
    for _ in range(draws):
        trial = study.ask()
        proxy = FixedTrial(trial, fixed)
        try:
            hp = space(proxy)
        except Exception as exc:  # noqa: BLE001 - a broken plugin space; one line
            raise CatalogError(
                f"search space of model '{model}' failed: {type(exc).__name__}: {exc}"
            ) from None
        if not isinstance(hp, dict):
            raise CatalogError(f"search space of model '{model}' must return a dict, got {type(hp).__name__}")
        suggested |= set(trial.params) | proxy.used
        returned |= set(hp)
        study.tell(trial, 0.0)
    unknown = sorted(returned - set(names))
    if unknown:
        raise CatalogError(
            f"search space of model '{model}' returns '{unknown[0]}', which is not a constructor "
            f"argument{did_you_mean(unknown[0], names)}"
        )
    for key in fixed:
        if key not in names and key not in suggested:
            raise ConfigError(
                f"--set {key}: neither a hyperparameter of model '{model}' nor a parameter of its "
                f"search space{did_you_mean(key, sorted(set(names) | suggested))}"
            )
    sampled = sorted(suggested - set(fixed))
    if not returned and not suggested:
        raise ConfigError(
            f"model '{model}' declares no search space (a static search_space(trial) method); "
            "nothing to search"
        )
    return sampled
