"""NAS search spaces, by name."""

from __future__ import annotations

from typing import Any

from plexus.nas.spaces.base import Decision, SearchSpace
from plexus.nas.spaces.graphnas import Architecture, GraphNASSpace, LayerArch
from plexus.platform.errors import ConfigError

__all__ = ["SPACES", "Architecture", "Decision", "GraphNASSpace", "LayerArch", "SearchSpace", "get_space"]

SPACES: dict[str, Any] = {"graphnas": GraphNASSpace}


def get_space(name: str, dataset: str | None = None, **kwargs: Any) -> SearchSpace:
    """The space ``name`` sized for ``dataset`` (e.g. the fixed depth per dataset)."""
    if name not in SPACES:
        raise ConfigError(f"unknown search space {name!r}; choose from {sorted(SPACES)}")
    cls = SPACES[name]
    if dataset is not None and hasattr(cls, "for_dataset"):
        return cls.for_dataset(dataset, **kwargs)
    return cls(**kwargs)
