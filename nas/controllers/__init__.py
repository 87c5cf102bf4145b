"""NAS controllers by name: ``rcnas`` (Auto-GNN), ``optuna``, ``random``."""

from __future__ import annotations

from typing import Any

from plexus.nas.controllers.base import Controller, Proposal
from plexus.nas.controllers.optuna_ctl import OptunaController
from plexus.nas.controllers.random_search import RandomController
from plexus.nas.controllers.rcnas import ClassController, RCNASController
from plexus.platform.errors import ConfigError

__all__ = [
    "CONTROLLERS",
    "ClassController",
    "Controller",
    "OptunaController",
    "Proposal",
    "RCNASController",
    "RandomController",
    "make_controller",
]

CONTROLLERS: dict[str, type[Controller]] = {
    "rcnas": RCNASController, "optuna": OptunaController, "random": RandomController}


def make_controller(name: str, space: Any, seed: int = 0, **options: Any) -> Controller:
    """Build controller ``name``; ``options`` are its keyword arguments (``share``, ``sampler``, ...)."""
    if name not in CONTROLLERS:
        raise ConfigError(f"unknown NAS controller {name!r}; choose from {sorted(CONTROLLERS)}")
    cls = CONTROLLERS[name]
    import inspect

    accepted = set(inspect.signature(cls.__init__).parameters) - {"self", "space", "seed"}
    unknown = [k for k, v in options.items() if v is not None and k not in accepted]
    if unknown:
        raise ConfigError(f"controller '{name}' does not take option(s) {unknown}")
    return cls(space, seed, **{k: v for k, v in options.items() if v is not None})


