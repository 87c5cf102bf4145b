"""The plugin's search space, with fixed (``--set``) values that win and are not sampled.

``search.space`` replaces the distribution of a parameter the plugin's space suggests, by name:
a list of choices (``[1.5, 2.0, 2.5]``), a range ``{low: 1.0, high: 3.0}`` (optional ``log``, ``step``;
integers when both ends are), or the string ``"1.0..3.0"``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from plexus.platform.catalog import did_you_mean
from plexus.platform.errors import CatalogError, ConfigError

__all__ = ["FixedTrial", "check_space", "distribution_clash", "parse_override", "sample"]


def _number(v: Any) -> float | int:
    if isinstance(v, bool):
        raise TypeError(v)
    if isinstance(v, (int, float)):
        return v
    text = str(v).strip()
    return int(text) if text.lstrip("+-").isdigit() else float(text)


def parse_override(name: str, spec: Any) -> tuple[str, tuple[Any, ...], dict[str, Any]]:
    """``search.space.NAME`` as an Optuna ``suggest_*`` call: ``(method, args, kwargs)``; ConfigError if malformed."""
    bad = ConfigError(
        f"search.space.{name}: expected a list of choices, {{low: L, high: H}} (optional log, step) or "
        f"'L..H', got {spec!r}"
    )
    if isinstance(spec, (list, tuple)):
        if not spec:
            raise bad
        return "suggest_categorical", (list(spec),), {}
    if isinstance(spec, str) and ".." in spec:
        low, _, high = spec.partition("..")
        spec = {"low": low, "high": high}
    if not isinstance(spec, dict) or not {"low", "high"} <= set(spec) or set(spec) - {"low", "high", "log", "step"}:
        raise bad
    try:
        low, high = _number(spec["low"]), _number(spec["high"])
        step = None if spec.get("step") is None else _number(spec["step"])
    except (TypeError, ValueError):
        raise bad from None
    log = bool(spec.get("log", False))
    if not low <= high or (log and low <= 0):
        raise ConfigError(f"search.space.{name}: needs low <= high (and low > 0 with log), got {spec!r}")
    if isinstance(low, int) and isinstance(high, int) and (step is None or isinstance(step, int)):
        return "suggest_int", (low, high), {"log": log, **({"step": step} if step else {})}
    return "suggest_float", (float(low), float(high)), {"log": log, **({"step": float(step)} if step else {})}


class FixedTrial:
    """Wraps an Optuna trial: ``suggest_*`` of a fixed name returns the fixed value without sampling it.

    A name in ``overrides`` (``search.space``) is sampled from the override's distribution instead of the
    plugin's.
    """

    def __init__(self, trial: Any, fixed: dict[str, Any], overrides: dict[str, Any] | None = None) -> None:
        self._trial, self._fixed = trial, fixed
        self._overrides = {k: parse_override(k, v) for k, v in (overrides or {}).items()}
        self.used: set[str] = set()
        self.overridden: set[str] = set()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._trial, name)

    def _suggest(self, method: str, name: str, *args: Any, **kwargs: Any) -> Any:
        if name in self._fixed:
            self.used.add(name)
            return self._fixed[name]
        if name in self._overrides:
            self.overridden.add(name)
            method, args, kwargs = self._overrides[name]
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
    space: Callable[[Any], dict[str, Any]],
    trial: Any,
    fixed: dict[str, Any],
    names: list[str],
    overrides: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Hyperparameters for one trial: the sampled space, then the fixed constructor arguments on top."""
    proxy = FixedTrial(trial, fixed, overrides)
    hp = dict(space(proxy))
    hp.update({k: v for k, v in fixed.items() if k in names})
    return hp


def distribution_clash(trials: list[Any], space: dict[str, Any]) -> str:
    """'' when ``space`` (name -> distribution) can resume a study with ``trials``, else the first conflict.

    Optuna refuses, trial after trial, a parameter whose distribution changed kind (a range became a list of
    choices) or whose choices changed; a resumed study would then fail every trial.
    """
    from optuna.distributions import CategoricalDistribution

    for t in trials:
        for name, old in t.distributions.items():
            new = space.get(name)
            if new is None:
                continue
            if type(old) is not type(new) or (
                isinstance(old, CategoricalDistribution) and tuple(old.choices) != tuple(new.choices)
            ):
                return f"'{name}' was sampled from {old} in trial {t.number}, the search space now gives {new}"
    return ""


def check_space(
    space: Callable[[Any], dict[str, Any]],
    fixed: dict[str, Any],
    names: list[str],
    model: str,
    draws: int = 16,
    overrides: dict[str, Any] | None = None,
    seen: dict[str, Any] | None = None,
) -> list[str]:
    """Sample the space a few times in memory: catches broken spaces and unknown names before any trial.

    ``overrides`` (``search.space``) must name parameters the space suggests; ``seen``, when given, receives
    each sampled parameter's Optuna distribution. Returns the names of the sampled parameters.
    """
    import optuna

    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    suggested: set[str] = set()
    returned: set[str] = set()
    for _ in range(draws):
        trial = study.ask()
        proxy = FixedTrial(trial, fixed, overrides)
        try:
            hp = space(proxy)
        except Exception as exc:  # noqa: BLE001 - a broken plugin space; one line
            raise CatalogError(
                f"search space of model '{model}' failed: {type(exc).__name__}: {exc}"
            ) from None
        if not isinstance(hp, dict):
            raise CatalogError(f"search space of model '{model}' must return a dict, got {type(hp).__name__}")
        suggested |= set(trial.params) | proxy.used
        if seen is not None:
            seen.update(trial.distributions)
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
    for key in overrides or {}:
        if key not in suggested:
            raise ConfigError(
                f"search.space.{key}: the search space of model '{model}' samples no parameter '{key}'"
                f"{did_you_mean(key, sorted(suggested))}"
            )
        if key in fixed:
            raise ConfigError(f"search.space.{key}: '{key}' is also fixed with --set; pass one of them")
    sampled = sorted(suggested - set(fixed))
    if not returned and not suggested:
        raise ConfigError(
            f"model '{model}' declares no search space (a static search_space(trial) method); "
            "nothing to search"
        )
    return sampled
