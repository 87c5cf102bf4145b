"""User-facing errors.

Every error a user can cause by what they typed or the files they gave derives
from :class:`PlexusError`. The CLI prints ``str(error)`` on one line of stderr and
exits with code 2; anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

__all__ = ["PlexusError", "ConfigError", "DataError", "CatalogError", "TrackingError", "CheckpointError"]


class PlexusError(Exception):
    """An error caused by user input; the CLI reports it in one line, exit code 2."""

    exit_code: int = 2


class ConfigError(PlexusError):
    """A config file, ``--set`` override or hyperparameter is invalid."""


class CatalogError(PlexusError):
    """Unknown or broken plugin / dataset."""


class TrackingError(PlexusError):
    """The tracking store cannot be reached or used."""


class CheckpointError(PlexusError):
    """A checkpoint is missing, corrupted or does not match the model."""


class DataError(PlexusError):
    """Malformed data: names the file, the row (1-based, as a text editor counts) and the field."""

    max_reason: int = 240  # a bad value can be huge (a 100k-character field): quote only its start

    def __init__(self, message: str, *, file: str | None = None, row: int | None = None, field: str | None = None):
        if len(message) > self.max_reason:
            message = f"{message[:self.max_reason]}… ({len(message):,} characters)"
        self.file, self.row, self.field, self.reason = file, row, field, message
        where = []
        if file is not None:
            where.append(str(file))
        if row is not None:
            where.append(f"row {row}")
        if field is not None:
            where.append(f"field '{field}'")
        super().__init__(f"{', '.join(where)}: {message}" if where else message)
