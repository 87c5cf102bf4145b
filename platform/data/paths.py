"""Where data lives: ``$PLEXUS_DATA`` (raw downloads under ``raw/``, encoded caches under ``cache/``)."""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["cache_dir", "data_home"]


def data_home() -> Path:
    """``$PLEXUS_DATA`` or ``~/.cache/plexus``."""
    return Path(os.environ.get("PLEXUS_DATA") or Path.home() / ".cache" / "plexus")


def cache_dir(*parts: str) -> Path:
    p = data_home().joinpath("cache", *parts)
    p.mkdir(parents=True, exist_ok=True)
    return p
