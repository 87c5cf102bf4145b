"""User-imported datasets (``plexus datasets import``), listed by the catalog by name."""

from __future__ import annotations

from typing import Any

__all__ = ["user_dataset_entries"]


def user_dataset_entries() -> list[Any]:
    """Catalog entries for datasets imported under ``$PLEXUS_DATA/datasets``."""
    return []
