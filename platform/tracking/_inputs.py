"""Runs that name their data: MLflow dataset inputs and the run's source.

Every tracked run logs its dataset as MLflow dataset inputs, one per split, so
the MLflow UI's *Dataset* column and dataset filter work: the training split
with context ``training``, validation with ``validation`` and test with
``testing``. MLflow keeps one input per (dataset, run), so the three splits are
three datasets of the same name whose digests differ (the dataset fingerprint
hashed with the split); each carries its split's size in its profile. A
study's parent run logs the dataset once, with context ``search``.
"""

from __future__ import annotations

import hashlib
import json
import shlex
import sys
from typing import Any

from plexus.platform.catalog import get_catalog
from plexus.platform.data.sources import SOURCES
from plexus.platform.masking import mask_text

__all__ = ["CONTEXTS", "dataset_inputs", "log_dataset_inputs", "run_source", "split_sizes"]

CONTEXTS = {"train": "training", "val": "validation", "test": "testing"}


def split_sizes(dataset: Any) -> dict[str, int]:
    """Rows (tabular), labelled nodes (node), positive pairs (link), graphs or time steps per split."""
    if hasattr(dataset, "num_rows") and getattr(dataset, "labels", None):
        return {s: int(dataset.num_rows(s)) for s in dataset.labels}
    data = getattr(dataset, "data", None)
    if data is not None and hasattr(data, "train_mask"):
        return {s: int(getattr(data, f"{s}_mask").sum()) for s in CONTEXTS if hasattr(data, f"{s}_mask")}
    pos = getattr(dataset, "pos", None)
    if pos:
        return {s: int(v.size(1)) for s, v in pos.items()}
    idx = getattr(dataset, "split_index", None)
    if idx:
        return {s: int(v.numel()) for s, v in idx.items()}
    steps = getattr(dataset, "steps", None)
    if steps:
        return {s: len(v) for s, v in steps.items()}
    return {}


def _source(name: str) -> tuple[str, str]:
    """``(source_type, source)`` of dataset ``name``: its public URL, its imported file, or the catalog."""

    src = SOURCES.get(name)
    if src is not None:
        return "http", json.dumps({"url": src.homepage, "files": [f.url for f in src.files]})
    try:
        entry = get_catalog().dataset(name)
    except Exception:  # noqa: BLE001 - a run is still tracked when the catalog cannot say more
        return "code", json.dumps({"catalog": name})
    if entry.source == "user":
        try:
            manifest = json.loads(open(entry.target).read())  # noqa: SIM115 - small json, read once
            return "local", json.dumps({"uri": manifest.get("path", ""), "manifest": entry.target})
        except (OSError, ValueError):
            return "local", json.dumps({"manifest": entry.target})
    return "code", json.dumps({"catalog": name, "provider": entry.source})


def _digest(fingerprint: str, split: str) -> str:
    return hashlib.sha256(f"{fingerprint}:{split}".encode()).hexdigest()[:12]


def dataset_inputs(name: str, dataset: Any, *, splits: bool = True) -> list[Any]:
    """MLflow ``DatasetInput`` s naming ``dataset``: one per split (``splits``), or one with context ``search``."""
    from mlflow.entities import Dataset, DatasetInput, InputTag

    fingerprint = getattr(dataset, "fingerprint", "") or ""
    source_type, source = _source(name)
    spec = getattr(dataset, "spec", None)
    schema = json.dumps({"task": getattr(spec, "task", ""), "fingerprint": fingerprint})
    sizes = split_sizes(dataset)
    if not splits:
        profile = json.dumps({"splits": sizes})
        return [DatasetInput(Dataset(name, _digest(fingerprint, "all"), source_type, source, schema, profile),
                             [InputTag("mlflow.data.context", "search")])]
    return [DatasetInput(Dataset(name, _digest(fingerprint, split), source_type, source, schema,
                                 json.dumps({"split": split, "size": size})),
                         [InputTag("mlflow.data.context", CONTEXTS.get(split, split))])
            for split, size in sizes.items()]


def log_dataset_inputs(client: Any, run_id: str, name: str, dataset: Any, *, splits: bool = True) -> None:
    """Log ``dataset`` (catalog name ``name``) as the run's inputs; see :func:`dataset_inputs`."""
    inputs = dataset_inputs(name, dataset, splits=splits)
    if inputs:
        client.log_inputs(run_id, datasets=inputs)


def run_source(argv: list[str] | None = None) -> dict[str, str]:
    """Tags naming what started the run: the command line (secrets masked) as the UI's *Source*."""
    args = list(sys.argv if argv is None else argv)
    if args and args[0].endswith(("/plexus", "plexus", "__main__.py")):
        args[0] = "plexus"
    line = mask_text(shlex.join(args))[:500]
    return {"mlflow.source.name": line or "plexus", "mlflow.source.type": "LOCAL", "plexus.command": line}
