"""Model and dataset catalog.

Plugins *declare* themselves with :func:`register_model` / :func:`register_dataset`
(the decorator only attaches metadata to the object) and are *found* through the
entry-point groups ``plexus.models`` and ``plexus.datasets``. Built-ins are
declared in Plexus' own ``pyproject.toml`` exactly like third-party plugins, so
nothing depends on import side effects and the core lists no plugin.
"""

from __future__ import annotations

import importlib.metadata as md
import inspect
import os
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from plexus.platform.catalog._schema import HParamSchema, did_you_mean, schema_from_callable
from plexus.platform.errors import CatalogError, PlexusError
from plexus.platform.spec import TASK_KINDS

__all__ = [
    "DATASET_GROUP",
    "MODEL_GROUP",
    "Catalog",
    "DatasetEntry",
    "DatasetInfo",
    "ModelEntry",
    "ModelInfo",
    "get_catalog",
    "register_dataset",
    "register_model",
]

MODEL_GROUP = "plexus.models"
DATASET_GROUP = "plexus.datasets"
BUILTIN_DIST = "plexus-ml"


@dataclass(frozen=True)
class ModelInfo:
    """Declared metadata of a model plugin."""

    name: str
    tasks: tuple[str, ...]
    paper: str = ""
    url: str = ""
    summary: str = ""
    backend: str = "pyg"


@dataclass(frozen=True)
class DatasetInfo:
    """Declared metadata of a dataset plugin."""

    name: str
    tasks: tuple[str, ...]
    summary: str = ""
    bundled: bool = False
    source: str = ""
    size: str = ""


def _as_tasks(task: str | tuple[str, ...] | list[str]) -> tuple[str, ...]:
    tasks = (task,) if isinstance(task, str) else tuple(task)
    bad = [t for t in tasks if t not in TASK_KINDS]
    if bad or not tasks:
        raise ValueError(f"unknown task kind(s) {bad}; expected some of {TASK_KINDS}")
    return tasks


def register_model(
    name: str,
    task: str | tuple[str, ...] | list[str],
    *,
    paper: str = "",
    url: str = "",
    summary: str = "",
    backend: str = "pyg",
) -> Callable[[type], type]:
    """Declare a model class as a Plexus plugin.

    The class is constructed as ``cls(spec, **hparams)``; its keyword arguments
    (typed, with defaults) are its hyperparameters. An optional static method
    ``search_space(trial) -> dict`` declares its Optuna search space. The first
    line of the class docstring is used as summary when none is given.
    """
    tasks = _as_tasks(task)

    def deco(cls: type) -> type:
        doc = inspect.getdoc(cls) or ""
        cls.__plexus__ = ModelInfo(name, tasks, paper, url, summary or doc.split("\n", 1)[0], backend)
        return cls

    return deco


def register_dataset(
    name: str, task: str | tuple[str, ...] | list[str], *, summary: str = "", bundled: bool = False, source: str = "",
    size: str = "",
) -> Callable[[Callable], Callable]:
    """Declare a dataset loader ``fn(path: str | None = None, **options) -> Dataset``."""
    tasks = _as_tasks(task)

    def deco(fn: Callable) -> Callable:
        doc = inspect.getdoc(fn) or ""
        fn.__plexus__ = DatasetInfo(name, tasks, summary or doc.split("\n", 1)[0], bundled, source, size)
        return fn

    return deco


@dataclass
class ModelEntry:
    """A catalog row: a loaded plugin, or a broken one with its error."""

    name: str
    source: str
    target: str
    obj: Any = None
    error: str | None = None
    info: ModelInfo | None = None
    _schema: HParamSchema | None = field(default=None, repr=False)

    @property
    def status(self) -> str:
        return "ok" if self.error is None else "broken"

    @property
    def tasks(self) -> tuple[str, ...]:
        return self.info.tasks if self.info else ()

    @property
    def task(self) -> str:
        return self.tasks[0] if self.tasks else "?"

    @property
    def schema(self) -> HParamSchema:
        self._require_ok()
        if self._schema is None:
            self._schema = schema_from_callable(self.obj)
        return self._schema

    def _require_ok(self) -> None:
        if self.error is not None:
            raise CatalogError(f"plugin '{self.name}' from {self.source} is broken: {self.error}")

    def search_space(self, trial: Any) -> dict[str, Any]:
        """Sample this plugin's declared Optuna search space on ``trial``."""
        self._require_ok()
        fn = getattr(self.obj, "search_space", None)
        return dict(fn(trial)) if fn is not None else {}

    def search_space_source(self) -> str:
        fn = getattr(self.obj, "search_space", None)
        if fn is None:
            return ""
        try:
            return inspect.getsource(fn)
        except (OSError, TypeError):
            return repr(fn)

    def build(self, spec: Any, **hparams: Any) -> Any:
        """Validate ``hparams`` against the schema and construct the model."""
        self._require_ok()
        values = self.schema.validate(hparams, owner=f"model '{self.name}'")
        try:
            return self.obj(spec, **values)
        except Exception as exc:  # noqa: BLE001 - a plugin's constructor failing is reported in one line
            msg = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
            raise CatalogError(f"model '{self.name}' from {self.source} could not be built: "
                               f"{type(exc).__name__}: {msg}") from exc

    def describe(self) -> dict[str, Any]:
        d: dict[str, Any] = {"name": self.name, "source": self.source, "status": self.status, "target": self.target}
        if self.error:
            d["error"] = self.error
            d["task"] = None
            return d
        info = self.info
        d.update(
            task=info.tasks[0],
            tasks=list(info.tasks),
            summary=info.summary,
            paper=info.paper,
            url=info.url,
            backend=info.backend,
        )
        return d


@dataclass
class DatasetEntry:
    name: str
    source: str
    target: str
    obj: Any = None
    error: str | None = None
    info: DatasetInfo | None = None

    @property
    def status(self) -> str:
        return "ok" if self.error is None else "broken"

    @property
    def tasks(self) -> tuple[str, ...]:
        return self.info.tasks if self.info else ()

    def load(self, **options: Any) -> Any:
        if self.error is not None:
            raise CatalogError(f"dataset '{self.name}' from {self.source} is broken: {self.error}")
        if self.source in ("builtin", "user"):
            return self.obj(**options)
        try:  # a third-party loader failing is reported in one line (--debug shows the traceback)
            return self.obj(**options)
        except PlexusError:
            raise
        except Exception as exc:  # noqa: BLE001
            raise CatalogError(f"dataset '{self.name}' from {self.source} failed to load: {_one_line(exc)}") from exc

    def describe(self) -> dict[str, Any]:
        d: dict[str, Any] = {"name": self.name, "source": self.source, "status": self.status, "target": self.target}
        if self.error:
            d["error"] = self.error
            return d
        d.update(tasks=list(self.info.tasks), summary=self.info.summary, bundled=self.info.bundled,
                 size=self.info.size, origin=self.info.source)
        return d


def _one_line(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {str(exc).strip().splitlines()[0] if str(exc).strip() else ''}".strip()


class Catalog:
    """Plugins found through entry points (plus extra ones added programmatically)."""

    def __init__(self, entry_points: Any | None = None) -> None:
        self._eps = entry_points
        self._models: dict[str, ModelEntry] | None = None
        self._datasets: dict[str, DatasetEntry] | None = None
        self._single: dict[tuple[str, str], Any] = {}
        self._eps_cache: dict[str, list[Any]] = {}

    def _entry_points(self, group: str) -> list[Any]:
        if group not in self._eps_cache:
            eps = self._eps if self._eps is not None else md.entry_points()
            self._eps_cache[group] = sorted(eps.select(group=group), key=lambda e: e.name)
        return self._eps_cache[group]

    @staticmethod
    def _dist_name(ep: Any) -> str:
        dist = getattr(ep, "dist", None)
        name = dist.metadata["Name"] if dist is not None else "unknown"
        return "builtin" if name == BUILTIN_DIST else name

    def _load_one(self, ep: Any, info_type: type, entry_type: type) -> Any:
        entry = entry_type(ep.name, self._dist_name(ep), ep.value)
        try:
            obj = ep.load()
            info = getattr(obj, "__plexus__", None)
            if not isinstance(info, info_type):
                raise CatalogError(f"{ep.value} is not declared with the plexus register decorator")
            if info.name != ep.name:
                raise CatalogError(f"{ep.value} is declared as '{info.name}' but its entry point is named "
                                   f"'{ep.name}': the two names must agree")
            if info_type is ModelInfo:
                # imported here: the catalog lists plugins without torch; checking a loaded model's flags needs it
                from plexus.platform.model import capabilities

                capabilities(obj)  # a malformed capability flag breaks this entry, not training later
            entry.obj, entry.info = obj, info
        except Exception as exc:  # noqa: BLE001 - any plugin failure is reported, never raised
            entry.error = _one_line(exc)
            if os.environ.get("PLEXUS_DEBUG"):
                traceback.print_exc()
        return entry

    def _select(self, group: str) -> dict[str, Any]:
        """Entry points of ``group`` by name; a built-in is never replaced by a third-party namesake."""
        out: dict[str, Any] = {}
        for ep in self._entry_points(group):
            if ep.name in out and self._dist_name(out[ep.name]) == "builtin":
                continue
            out[ep.name] = ep
        return out

    def _load(self, group: str, info_type: type, entry_type: type) -> dict[str, Any]:
        return {name: self._load_one(ep, info_type, entry_type) for name, ep in self._select(group).items()}

    def models(self) -> dict[str, ModelEntry]:
        if self._models is None:
            self._models = self._load(MODEL_GROUP, ModelInfo, ModelEntry)
        return self._models

    def datasets(self) -> dict[str, DatasetEntry]:
        if self._datasets is None:
            self._datasets = self._load(DATASET_GROUP, DatasetInfo, DatasetEntry)
            # imported here: the data layer builds its imported datasets' rows from this module's types
            from plexus.platform.data.user import user_dataset_entries

            for entry in user_dataset_entries():
                self._datasets.setdefault(entry.name, entry)
        return self._datasets

    def model(self, name: str) -> ModelEntry:
        """One model entry; only its own plugin module is imported."""
        if self._models is not None and name in self._models:
            entry = self._models[name]
        else:
            eps = self._select(MODEL_GROUP)
            if name not in eps:
                raise CatalogError(f"unknown model '{name}'{did_you_mean(name, list(eps))}; see 'plexus models list'")
            entry = self._single.setdefault(("m", name), self._load_one(eps[name], ModelInfo, ModelEntry))
        entry._require_ok()
        return entry

    def dataset(self, name: str) -> DatasetEntry:
        """One dataset entry; only its own loader module is imported."""
        if self._datasets is None:
            eps = self._select(DATASET_GROUP)
            if name in eps:
                return self._single.setdefault(("d", name), self._load_one(eps[name], DatasetInfo, DatasetEntry))
        ds = self.datasets()
        if name not in ds:
            raise CatalogError(f"unknown dataset '{name}'{did_you_mean(name, list(ds))}; see 'plexus datasets list'")
        return ds[name]


_CATALOG: Catalog | None = None


def get_catalog(refresh: bool = False) -> Catalog:
    """The process-wide catalog (entry points are read once)."""
    global _CATALOG
    if _CATALOG is None or refresh:
        _CATALOG = Catalog()
    return _CATALOG
