"""NAS controllers by name: ``autognn`` (Auto-GNN's RCNAS; alias ``rcnas``), ``optuna``, ``random``."""

from __future__ import annotations

from typing import Any

from plexus.nas.controllers.base import Controller, Proposal
from plexus.nas.controllers.optuna_ctl import OptunaController
from plexus.nas.controllers.random_search import RandomController
from plexus.nas.controllers.rcnas import ClassController, RCNASController
from plexus.platform.errors import ConfigError

__all__ = [
    "ALIASES",
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
    "autognn": RCNASController, "optuna": OptunaController, "random": RandomController}
#: other names accepted for a controller (the paper calls its controller RCNAS)
ALIASES = {"rcnas": "autognn", "auto-gnn": "autognn"}


def make_controller(name: str, space: Any, seed: int = 0, **options: Any) -> Controller:
    """Build controller ``name``; ``options`` are its keyword arguments (``share``, ``sampler``, ...)."""
    name = ALIASES.get(name, name)
    if name not in CONTROLLERS:
        raise ConfigError(f"unknown NAS controller {name!r}; choose from {sorted(CONTROLLERS)}")
    cls = CONTROLLERS[name]
    import inspect

    accepted = set(inspect.signature(cls.__init__).parameters) - {"self", "space", "seed"}
    unknown = [k for k, v in options.items() if v is not None and k not in accepted]
    if unknown:
        raise ConfigError(f"controller '{name}' does not take option(s) {unknown}")
    return cls(space, seed, **{k: v for k, v in options.items() if v is not None})


