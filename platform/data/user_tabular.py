"""Imported tabular datasets: what the manifest records, how it loads, and its typed options.

An imported tabular dataset is a schema YAML plus either one data file (split
by the schema's ``split`` method) or, with ``split: {method: files, ...}``, the
three files the schema names (relative to the schema file's folder). Its
catalog loader has explicit, typed keyword parameters built from the schema,
so ``plexus datasets show NAME`` lists them and ``dataset_options`` are checked
like a built-in dataset's:

* ``path``: the data file (one-file datasets) or the folder holding the split
  files (``files`` split: the schema's relative names resolve against it);
* ``task``: the task kind;
* ``seed``: seed of a ``random`` or ``user`` split;
* ``fractions``: train/val/test fractions of a ``random``, ``time`` or ``user`` split;
* ``min_count``: vocabulary min count (tokens seen fewer times in train are out-of-vocabulary).

Given splits (``column``, ``files``) and ``leave_last_out`` take no seed or fractions.
"""

from __future__ import annotations

import inspect
import os
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

from plexus.platform.data.tabular import Schema, load_tabular
from plexus.platform.errors import ConfigError, DataError

__all__ = ["import_source", "load_tabular_manifest", "tabular_loader", "tabular_manifest"]

_KW = inspect.Parameter.KEYWORD_ONLY


def import_source(path: str | os.PathLike | None, kind: str, schema: str | os.PathLike | None) -> Path:
    """The file an import reads: ``path``, or for a ``files`` split the schema's train file.

    With a ``files`` split ``path`` may be omitted; if given it must be that train file.
    """
    files = None
    if kind == "tabular" and schema is not None:
        sch = Schema.from_yaml(Path(schema).expanduser().resolve())
        if sch.split_method == "files":
            files = sch.split_files()
    if files is None:
        if path is None:
            raise ConfigError("name the file to import (or, for tabular data, give the schema a "
                              "split: {method: files, train: ..., val: ..., test: ...})")
        return Path(path).expanduser().resolve()
    train = files["train"].expanduser().resolve()
    if path is not None and Path(path).expanduser().resolve() != train:
        raise ConfigError(f"the schema's files split names {train} as train file, but {path} was given; "
                          "omit the file argument (or pass the train file)")
    return train


def tabular_manifest(src: Path, schema: str | os.PathLike | None) -> dict[str, Any]:
    """The manifest entries of a tabular import (schema, task, description; split files if given)."""
    if schema is None:
        raise ConfigError("a tabular dataset needs a schema YAML file (schema=...)")
    sch_path = Path(schema).expanduser().resolve()
    sch = Schema.from_yaml(sch_path)
    out: dict[str, Any] = {"schema": str(sch_path), "task": sch.task or ("multitask" if len(sch.labels) > 1 else "ctr"),
                           "description": sch.description or f"user dataset imported from {src.name}",
                           "split": sch.split_method}
    if sch.split_method == "files":
        files = {k: p.expanduser().resolve() for k, p in sch.split_files().items()}
        out["files"] = {k: str(p) for k, p in files.items()}
        if not sch.description:
            out["description"] = ("user dataset with a given split: " +
                                  ", ".join(f"{k} {p.name}" for k, p in files.items()))
    elif sch.split_method == "column" and not sch.description:
        out["description"] += f"; split given by column '{sch.split['column']}'"
    return out


def load_tabular_manifest(manifest: dict[str, Any], *, path: str | None = None, task: str | None = None,
                          seed: int | None = None, fractions: tuple[float, float, float] | None = None,
                          min_count: int | None = None) -> Any:
    """Load an imported tabular dataset (options as in the module docstring; ``None``: the schema's)."""
    schema = Schema.from_yaml(manifest["schema"])
    if min_count is not None:
        if isinstance(min_count, bool) or not isinstance(min_count, int) or min_count < 1:
            raise ConfigError(f"dataset option 'min_count' must be an integer >= 1, got {min_count!r}")
        schema = replace(schema, min_count=min_count)
    if fractions is not None:
        f = tuple(fractions)
        if len(f) != 3 or any(x < 0 for x in f) or abs(sum(f) - 1.0) > 1e-6:
            raise ConfigError(f"dataset option 'fractions' must be three numbers >= 0 summing to 1 "
                              f"(train, val, test), got {list(f)}")
    if schema.split_method == "files":
        base = None
        if path is not None:
            base = Path(path).expanduser()
            if not base.is_dir():
                raise DataError("for a dataset with given split files, 'path' is the folder holding them",
                                file=str(path))
        files: list[Any] = list(schema.split_files(base).values())
    else:
        files = [path or manifest["path"]]
    return load_tabular(files, schema, name=manifest["name"], task=task, seed=seed, fractions=fractions,
                        description=manifest.get("description", ""))


def tabular_loader(manifest: dict[str, Any]) -> Callable[..., Any]:
    """A loader with explicit typed keyword parameters (what ``schema_from_callable`` reads)."""
    schema = Schema.from_yaml(manifest["schema"])
    method, sp = schema.split_method, schema.split
    params = [inspect.Parameter("path", _KW, default=None, annotation=str | None),
              inspect.Parameter("task", _KW, default=manifest.get("task", "ctr"), annotation=str)]
    docs = {"path": "the data file; for a files split, the folder holding the train/val/test files "
                    "(default: where they were imported from)",
            "task": "task kind"}
    if method in ("random", "user"):
        params.append(inspect.Parameter("seed", _KW, default=int(sp.get("seed", 0)), annotation=int))
        docs["seed"] = f"seed of the {method} split"
    if method in ("random", "time", "user"):
        default = tuple(float(x) for x in sp.get("fractions", (0.8, 0.1, 0.1)))
        params.append(inspect.Parameter("fractions", _KW, default=default, annotation=tuple[float, float, float]))
        docs["fractions"] = f"train, val, test fractions of the {method} split (sum 1)"
    params.append(inspect.Parameter("min_count", _KW, default=schema.min_count, annotation=int))
    docs["min_count"] = "vocabulary min count: tokens seen fewer times in train are out-of-vocabulary"
    sig = inspect.Signature(params)

    def loader(**options: Any) -> Any:
        bound = sig.bind(**options)
        bound.apply_defaults()
        return load_tabular_manifest(manifest, **bound.arguments)

    loader.__signature__ = sig  # type: ignore[attr-defined]
    loader.__annotations__ = {p.name: p.annotation for p in params}
    split_doc = {"column": f"given by column '{sp.get('column')}'", "files": "given by the train/val/test files"}
    loader.__doc__ = (f"Imported tabular dataset '{manifest['name']}'; split: {split_doc.get(method, method)}.\n\n"
                      "Args:\n" + "".join(f"    {k}: {v}\n" for k, v in docs.items()))
    return loader
