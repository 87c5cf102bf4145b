"""Imported graphs (``plexus datasets import --kind graph|temporal``): manifest fields and catalog loaders.

A graph import records its files in the manifest (``path``: edges; ``node_file``,
``features``, ``graph_file`` when given) and its task kinds: ``node`` and ``link``
when the node table has labels, ``link`` otherwise, ``graph`` with a graph table,
``dynlink`` and ``edge`` (with a ``label`` column) for temporal edge lists. The
catalog loader of each kind is a function with typed keyword options, so the
catalog derives its option schema and validates ``dataset_options`` like a built-in
dataset's (unknown names get a did-you-mean, wrong types a one-line error).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

from plexus.platform.data._types import Dataset
from plexus.platform.data.graphs import load_edge_list
from plexus.platform.data.graphs.temporal import _read_table
from plexus.platform.errors import ConfigError, DataError

__all__ = ["graph_loader", "graph_manifest", "load_graph_manifest"]


def _resolve(file: str | Path | None, what: str) -> str | None:
    if file is None:
        return None
    p = Path(file).expanduser()
    if not p.is_file():
        raise DataError(f"{what} not found", file=str(file))
    return str(p.resolve())


def graph_manifest(src: Path, *, kind: str, node_file: str | Path | None = None, features: str | Path | None = None,
                   graph_file: str | Path | None = None) -> dict[str, Any]:
    """The manifest fields of a graph / temporal import (files, ``tasks``, ``task``, ``description``)."""
    if kind != "graph" and (node_file or features or graph_file):
        raise ConfigError("--node-file, --features and --graph-file need --kind graph")
    if features is not None and node_file is None:
        raise ConfigError("--features describes the rows of a node table: give it with --node-file")
    if features is not None and graph_file is not None:
        raise ConfigError("several graphs take node features as numeric columns of --node-file, not --features")
    m: dict[str, Any] = {"node_file": _resolve(node_file, "node file"), "features": _resolve(features, "features file"),
                         "graph_file": _resolve(graph_file, "graph file")}
    m = {k: v for k, v in m.items() if v is not None}
    if kind == "temporal":

        head = _read_table(src, header=True, sep=None, names=None).columns
        tasks = ["dynlink", "edge"] if "label" in head else ["dynlink"]
        desc = f"temporal edge list {src.name}"
    elif graph_file is not None:
        tasks, desc = ["graph"], f"graphs {src.name} labelled by {Path(graph_file).name}"
    else:
        tasks = ["link"]
        if node_file is not None:
            if "label" in _read_table(Path(node_file), header=True, sep=None, names=None).columns:
                tasks = ["node", "link"]
        desc = f"graph edge list {src.name}" + (f" with node table {Path(node_file).name}" if node_file else "")
    m.update(tasks=tasks, task=tasks[0], description=desc)
    return m


def load_graph_manifest(manifest: dict[str, Any], **options: Any) -> Dataset:
    """Load an imported graph / temporal dataset with validated ``options`` (see :func:`graph_loader`)."""

    task = options.pop("task", None) or manifest.get("task")
    tasks = manifest.get("tasks") or [manifest.get("task")]
    if task not in tasks:
        raise ConfigError(f"dataset '{manifest['name']}' has no task '{task}' (it has {', '.join(tasks)})")
    kw = {k: v for k, v in options.items() if v is not None}
    return load_edge_list(kw.pop("path", None) or manifest["path"], kind=manifest["kind"], name=manifest["name"],
                          task=task, node_file=manifest.get("node_file"), features_file=manifest.get("features"),
                          graph_file=manifest.get("graph_file"), **kw)


def graph_loader(manifest: dict[str, Any]) -> Callable[..., Dataset]:
    """The catalog loader of an imported graph: typed keyword options, the manifest bound."""
    default = manifest.get("task") or "link"

    if manifest.get("kind") == "temporal":
        def temporal(path: str | None = None, task: str = default, window: float | None = None,
                     num_snapshots: int | None = 20,
                     steps: tuple[int, int, int] | tuple[float, float, float] = (0.7, 0.1, 0.2),
                     features: Literal["degree", "identity", "none"] = "degree", max_degree: int = 32,
                     edge_targets: Literal["events", "pairs"] = "events") -> Dataset:
            """An imported temporal edge list.

            Args:
                path: another edge file with the same columns (default: the imported one).
                task: ``dynlink`` or ``edge`` (needs a ``label`` column).
                window: seconds per snapshot (overrides ``num_snapshots`` when given).
                num_snapshots: number of equal time windows.
                steps: train/val/test target steps (counts, or fractions of the steps with history).
                features: ``degree`` (one-hot degree per snapshot), ``identity`` or ``none``.
                max_degree: cap of the one-hot degree.
                edge_targets: ``events`` (each merged directed edge) or ``pairs`` (both orientations).
            """
            return load_graph_manifest(manifest, path=path, task=task, window=window, num_snapshots=num_snapshots,
                                       steps=steps, features=features, max_degree=max_degree,
                                       edge_targets=edge_targets)
        return temporal

    if manifest.get("graph_file"):
        def graphs(path: str | None = None, task: str = "graph", seed: int = 0, fold: int = 0,
                   features: Literal["auto", "degree", "ones"] = "auto", max_degree: int = 32,
                   normalize_features: bool = False) -> Dataset:
            """Imported graphs for graph classification.

            Args:
                path: another edge file with the same columns (default: the imported one).
                task: ``graph``.
                seed: seed of the stratified 10-fold split (unused with a ``split`` column).
                fold: test fold (0..9) of that split; the next fold is validation.
                features: ``auto`` (node-table columns, else degree), ``degree`` (one-hot) or ``ones``.
                max_degree: cap of the one-hot degree.
                normalize_features: row-normalise the node features.
            """
            return load_graph_manifest(manifest, path=path, task=task, seed=seed, fold=fold, features=features,
                                       max_degree=max_degree, normalize_features=normalize_features)
        return graphs

    def graph(path: str | None = None, task: str = default, seed: int = 0,
              split: Literal["70/10/20", "85/5/10"] = "70/10/20",
              node_split: tuple[float, float, float] = (0.6, 0.2, 0.2), normalize_features: bool = False,
              features: Literal["auto", "identity", "ones"] = "auto") -> Dataset:
        """An imported graph (node classification with a labelled node table, link prediction).

        Args:
            path: another edge file with the same columns (default: the imported one).
            task: ``node`` (needs labels) or ``link``.
            seed: seed of the link split, and of the node split when the node table has no ``split`` column.
            split: link task: train/val/test edge ratios.
            node_split: node task without a ``split`` column: train/val/test fractions of the seeded stratified
                split of the labelled nodes.
            normalize_features: row-normalise the node features (GCN preprocessing).
            features: without node features: ``auto`` (identity up to 10,000 nodes, else ones), ``identity`` or
                ``ones``.
        """
        return load_graph_manifest(manifest, path=path, task=task, seed=seed, split=split, node_split=node_split,
                                   normalize_features=normalize_features, features=features)
    return graph
