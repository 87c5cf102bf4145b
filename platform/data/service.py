"""Loading datasets by name, for the trainer, the search service and the CLI."""

from __future__ import annotations

import inspect
from typing import Any

from plexus.platform.catalog import get_catalog, schema_from_callable
from plexus.platform.errors import ConfigError

__all__ = ["load_dataset", "pick_task"]


def pick_task(model_tasks: tuple[str, ...], dataset_tasks: tuple[str, ...], task: str | None = None,
              *, model: str = "model", dataset: str = "dataset") -> str:
    """The task kind a (model, dataset) pair runs: ``task`` if given, else the first they share."""
    if task is not None:
        if task not in model_tasks:
            raise ConfigError(f"model '{model}' does not support task '{task}' (it supports {', '.join(model_tasks)})")
        if task not in dataset_tasks:
            raise ConfigError(f"dataset '{dataset}' has no task '{task}' (it has {', '.join(dataset_tasks)})")
        return task
    for t in model_tasks:
        if t in dataset_tasks:
            return t
    raise ConfigError(
        f"model '{model}' ({', '.join(model_tasks)}) cannot train on dataset '{dataset}' ({', '.join(dataset_tasks)})"
    )


def load_dataset(name: str, *, task: str | None = None, path: str | None = None, **options: Any) -> Any:
    """Load dataset ``name`` for ``task`` (default: its first task kind), with validated options."""
    entry = get_catalog().dataset(name)
    if entry.error is not None:
        entry.load()  # raises the CatalogError with the plugin's error
    if task is not None and task not in entry.tasks:
        raise ConfigError(f"dataset '{name}' has no task '{task}' (it has {', '.join(entry.tasks)})")
    kwargs: dict[str, Any] = {}
    params = inspect.signature(entry.obj).parameters
    if "task" in params:
        kwargs["task"] = task or entry.tasks[0]
    if path is not None:
        kwargs["path"] = path
    if options:
        schema = schema_from_callable(entry.obj, skip=("path", "task"))
        try:
            kwargs.update(schema.validate(options, owner=f"dataset '{name}'"))
        except ConfigError as exc:  # the schema speaks of hyperparameters; these are dataset options
            msg = str(exc).replace("unknown hyperparameter", "unknown option", 1)
            msg = msg.replace("hyperparameter '", f"dataset '{name}' option '", 1)
            raise ConfigError(f"{msg}; see 'plexus datasets show {name}'") from None
    return entry.load(**kwargs)
