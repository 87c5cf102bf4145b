"""Where data lives: the Plexus cache and local copies of public datasets."""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["data_home", "cache_dir", "find_raw"]

_REPO = Path(__file__).resolve().parents[2]


def data_home() -> Path:
    """``$PLEXUS_DATA`` or ``~/.cache/plexus``."""
    return Path(os.environ.get("PLEXUS_DATA") or Path.home() / ".cache" / "plexus")


def cache_dir(*parts: str) -> Path:
    p = data_home().joinpath("cache", *parts)
    p.mkdir(parents=True, exist_ok=True)
    return p


def find_raw(folder: str, path: str | os.PathLike | None = None) -> Path | None:
    """Locate a raw dataset folder.

    Search order: an explicit ``path``; ``$PLEXUS_DATA/raw/<folder>``;
    ``$PLEXUS_SHARED_DATA/<folder>``; ``<repo>/../shared/data/<folder>`` (the
    shared copy beside a checkout). Returns ``None`` when none exists.
    """
    candidates = []
    if path:
        candidates.append(Path(path))
    candidates.append(data_home() / "raw" / folder)
    if os.environ.get("PLEXUS_SHARED_DATA"):
        candidates.append(Path(os.environ["PLEXUS_SHARED_DATA"]) / folder)
    candidates.append(_REPO.parent / "shared" / "data" / folder)
    for c in candidates:
        if c.exists():
            return c
    return None
