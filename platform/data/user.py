"""User-imported datasets (``plexus datasets import``), listed by the catalog by name.

``import_dataset`` validates a file by actually loading it, then records a
manifest at ``data_home()/datasets/<name>/manifest.json`` (written atomically).
``user_dataset_entries`` turns every manifest into a catalog
:class:`~plexus.platform.catalog.DatasetEntry` with source ``"user"``.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import time
from pathlib import Path
from typing import Any

from plexus.platform.catalog import DatasetEntry, get_catalog, register_dataset
from plexus.platform.data.paths import data_home
from plexus.platform.data.user_graph import graph_loader
from plexus.platform.data.user_tabular import (
    import_source,
    load_tabular_manifest,
    tabular_loader,
    tabular_manifest,
)
from plexus.platform.errors import ConfigError, DataError

__all__ = ["import_dataset", "load_user_dataset", "user_dataset_entries", "user_datasets_dir"]

_NAME = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")
KINDS = ("tabular", "graph", "temporal")


def user_datasets_dir() -> Path:
    return data_home() / "datasets"


def _load(manifest: dict[str, Any], **options: Any) -> Any:
    kind = manifest["kind"]
    if kind == "tabular":

        return load_tabular_manifest(manifest, **options)
    from plexus.platform.data.user_graph import load_graph_manifest  # graph / temporal edge lists

    return load_graph_manifest(manifest, **options)


def load_user_dataset(name: str, **options: Any) -> Any:
    m = user_datasets_dir() / name / "manifest.json"
    if not m.is_file():
        raise DataError(f"no imported dataset named '{name}'", file=str(m))
    return _load(json.loads(m.read_text()), **options)


def import_dataset(path: str | os.PathLike | None, *, name: str, schema: str | os.PathLike | None = None,
                   kind: str = "tabular", overwrite: bool = False,
                   node_file: str | os.PathLike | None = None, features: str | os.PathLike | None = None,
                   graph_file: str | os.PathLike | None = None) -> dict[str, Any]:
    """Validate ``path`` (by loading it) and register it under ``name``; returns the manifest.

    Tabular files need a YAML ``schema``; with a ``files`` split in the schema
    ``path`` may be ``None`` (the schema names train, val and test; see
    :mod:`~plexus.platform.data.user_tabular`). ``graph`` / ``temporal`` edge lists
    are read by the graph data service (``node_file``: a node table for ``graph``,
    whose ids the edges must use; ``features``: its node features file; ``graph_file``:
    graph labels of an edge list with a graph id column; see
    :mod:`~plexus.platform.data.user_graph`). Nothing is written if loading fails.
    """
    if not _NAME.match(name or ""):
        raise ConfigError(f"invalid dataset name {name!r}: use lowercase letters, digits, '.', '_', '-'")
    if kind not in KINDS:
        raise ConfigError(f"unknown dataset kind {kind!r}; expected one of {KINDS}")

    src = import_source(path, kind, schema)
    if not src.is_file():
        raise DataError("file not found", file=str(path if path is not None else src))
    target = user_datasets_dir() / name
    if (target / "manifest.json").exists() and not overwrite:
        raise ConfigError(f"dataset '{name}' is already imported ({target}); pass overwrite=True to replace it")

    builtin = get_catalog().datasets().get(name)
    if builtin is not None and builtin.source != "user":
        raise ConfigError(f"'{name}' is the name of a {builtin.source} dataset; choose another name")
    manifest: dict[str, Any] = {"name": name, "kind": kind, "path": str(src), "imported": time.time()}
    if kind == "tabular":

        manifest.update(tabular_manifest(src, schema))
    else:
        from plexus.platform.data.user_graph import graph_manifest  # node table, features, graph table

        manifest.update(graph_manifest(src, kind=kind, node_file=node_file, features=features, graph_file=graph_file))
    ds = _load(manifest)  # raises DataError on any malformed input; nothing written yet
    manifest["fingerprint"] = getattr(ds, "fingerprint", "")
    try:
        manifest["stats"] = json.loads(json.dumps(ds.stats(), default=str))
    except Exception:  # noqa: BLE001 - stats are informative only
        manifest["stats"] = {}
    target.mkdir(parents=True, exist_ok=True)
    tmp = target / f".manifest.{os.getpid()}.tmp"
    tmp.write_text(json.dumps(manifest, indent=2))
    os.replace(tmp, target / "manifest.json")
    for stale in target.glob(".manifest.*.tmp"):  # left by an import that was killed mid-write
        stale.unlink(missing_ok=True)
    get_catalog(refresh=True)  # usable by name in this process too (the catalog lists user datasets once)
    return manifest


def user_dataset_entries() -> list[Any]:
    """Catalog entries for datasets imported under ``$PLEXUS_DATA/datasets``."""

    root = user_datasets_dir()
    if not root.is_dir():
        return []
    out = []
    for m in sorted(root.glob("*/manifest.json")):
        name = m.parent.name
        try:
            manifest = json.loads(m.read_text())
            task = manifest.get("task", "ctr")

            def loader(path: str | None = None, task: str = task, seed: int | None = None,
                       _m: dict[str, Any] = manifest) -> Any:
                return _load(dict(_m, path=path or _m["path"]), task=task, seed=seed)

            if manifest.get("kind") == "tabular":  # typed options derived from the schema

                loader = tabular_loader(manifest)
            elif manifest.get("kind") in ("graph", "temporal"):  # typed options of the graph loaders

                loader = graph_loader(manifest)

            fn = register_dataset(name, tuple(manifest.get("tasks") or [task]), summary=manifest.get("description", ""),
                                  source="user")(loader)
            out.append(DatasetEntry(name, "user", str(m), obj=fn, info=fn.__plexus__))
        except Exception as exc:  # noqa: BLE001 - a broken manifest is listed as broken, never raised
            out.append(DatasetEntry(name, "user", str(m), error=f"{type(exc).__name__}: {exc}"))
    return out


def remove_dataset(name: str) -> None:
    target = user_datasets_dir() / name
    if not (target / "manifest.json").exists():
        raise DataError(f"no imported dataset named '{name}'", file=str(target))
    shutil.rmtree(target)
