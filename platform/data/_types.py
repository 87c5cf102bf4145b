"""Dataset containers shared by the data service, the task kinds and the models.

Every dataset carries its :class:`~plexus.platform.spec.DataSpec`, a content
fingerprint (logged as ``plexus.dataset_fingerprint``) and statistics.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterator

import torch
from torch import Tensor

from plexus.platform.spec import DataSpec

__all__ = [
    "Dataset",
    "TabularDataset",
    "NodeDataset",
    "LinkDataset",
    "GraphClsDataset",
    "TemporalDataset",
    "SnapshotBatch",
    "SPLITS",
]

SPLITS = ("train", "val", "test")


@dataclass
class Dataset:
    name: str
    spec: DataSpec
    fingerprint: str = ""
    description: str = ""

    def stats(self) -> dict[str, Any]:
        return {"name": self.name, "task": self.spec.task}


@dataclass
class TabularDataset(Dataset):
    """Encoded tabular data (``ctr`` / ``multitask``).

    ``features[split][field]`` are tensors shaped as described in
    :mod:`plexus.platform.spec`; ``labels[split][task]`` are ``FloatTensor[N]`` of
    0/1; ``groups[split]`` is an optional ``LongTensor[N]`` user id for GAUC.
    ``encoder`` is the fitted encoder that turns raw rows (a pandas DataFrame)
    into feature tensors, used to score raw rows after training.
    """

    features: dict[str, dict[str, Tensor]] = field(default_factory=dict)
    labels: dict[str, dict[str, Tensor]] = field(default_factory=dict)
    groups: dict[str, Tensor | None] = field(default_factory=dict)
    encoder: Any = None

    def num_rows(self, split: str) -> int:
        return int(next(iter(self.labels[split].values())).shape[0])

    def batches(
        self, split: str, batch_size: int, *, shuffle: bool = False, generator: torch.Generator | None = None,
        indices: Tensor | None = None,
    ) -> Iterator[tuple[dict[str, Tensor], dict[str, Tensor], Tensor]]:
        """Yield ``(features, labels, row_index)`` slices; shuffling is one permutation per call."""
        n = self.num_rows(split)
        order = indices if indices is not None else (
            torch.randperm(n, generator=generator) if shuffle else torch.arange(n)
        )
        feats, labels = self.features[split], self.labels[split]
        for start in range(0, order.numel(), batch_size):
            idx = order[start:start + batch_size]
            yield {k: v[idx] for k, v in feats.items()}, {k: v[idx] for k, v in labels.items()}, idx

    def stats(self) -> dict[str, Any]:
        s = super().stats()
        s["rows"] = {sp: self.num_rows(sp) for sp in self.labels}
        s["fields"] = [{"name": f.name, "kind": f.kind, "vocab_size": f.vocab_size, "max_len": f.max_len}
                       for f in self.spec.fields]
        s["positive_rate"] = {
            sp: {t: round(float(v.float().mean()), 4) for t, v in lab.items()} for sp, lab in self.labels.items()
        }
        return s


@dataclass
class NodeDataset(Dataset):
    """One graph with ``x``, ``edge_index``, ``y`` and boolean ``train_mask``/``val_mask``/``test_mask``."""

    data: Any = None

    def stats(self) -> dict[str, Any]:
        s = super().stats()
        d = self.data
        s.update(nodes=int(d.num_nodes), edges=int(d.edge_index.size(1)), features=int(d.x.size(1)),
                 classes=int(self.spec.num_classes),
                 split_sizes={k: int(getattr(d, f"{k}_mask").sum()) for k in SPLITS})
        return s


@dataclass
class LinkDataset(Dataset):
    """Static link prediction.

    ``data``: the graph the model may pass messages over during training (node
    features ``x``, ``edge_index`` = training positives only, undirected).
    ``pos[split]`` / ``neg[split]``: ``LongTensor[2, P]`` pairs to score. For
    ``train`` the negatives are resampled every epoch by the task; ``neg["train"]``
    may be empty. ``eval_edge_index``: the graph used at test time (training edges,
    plus validation edges when the protocol allows it).
    """

    data: Any = None
    pos: dict[str, Tensor] = field(default_factory=dict)
    neg: dict[str, Tensor] = field(default_factory=dict)
    eval_edge_index: Tensor | None = None

    def stats(self) -> dict[str, Any]:
        s = super().stats()
        s.update(nodes=int(self.data.num_nodes), train_edges=int(self.data.edge_index.size(1)),
                 pos={k: int(v.size(1)) for k, v in self.pos.items()},
                 neg={k: int(v.size(1)) for k, v in self.neg.items()})
        return s


@dataclass
class GraphClsDataset(Dataset):
    """Graph classification: a list of PyG ``Data`` (``x``, ``edge_index``, ``y``) and split indices."""

    graphs: list[Any] = field(default_factory=list)
    split_index: dict[str, Tensor] = field(default_factory=dict)

    def stats(self) -> dict[str, Any]:
        s = super().stats()
        ys = torch.cat([g.y.view(-1) for g in self.graphs])
        s.update(graphs=len(self.graphs), avg_nodes=round(sum(g.num_nodes for g in self.graphs) / len(self.graphs), 2),
                 classes=int(self.spec.num_classes), class_counts=torch.bincount(ys).tolist(),
                 split_sizes={k: int(v.numel()) for k, v in self.split_index.items()})
        return s


@dataclass
class SnapshotBatch:
    """Input of a dynamic-graph model: the history and the pairs to score.

    ``snapshots``: list of PyG ``Data`` (``edge_index``, ``edge_weight``, ``x``),
    oldest first, all on the same ``num_nodes``. ``edge_label_index``: ``[2, P]``
    pairs at the step after the last snapshot.
    """

    snapshots: list[Any]
    edge_label_index: Tensor
    edge_label: Tensor | None = None

    def to(self, device: torch.device | str) -> SnapshotBatch:
        return SnapshotBatch([s.to(device) for s in self.snapshots], self.edge_label_index.to(device),
                             None if self.edge_label is None else self.edge_label.to(device))


@dataclass
class TemporalDataset(Dataset):
    """A snapshot sequence with time-respecting splits.

    ``snapshots[t]``: PyG ``Data`` of the edges in time window ``t`` (``edge_index``,
    ``edge_weight``, optional ``edge_label`` for edge classification, ``x`` node
    features). ``steps[split]``: the time steps whose edges are the targets of that
    split; a model predicting step ``t`` sees snapshots ``< t`` only.
    """

    snapshots: list[Any] = field(default_factory=list)
    steps: dict[str, list[int]] = field(default_factory=dict)

    def stats(self) -> dict[str, Any]:
        s = super().stats()
        s.update(nodes=int(self.spec.num_nodes), snapshots=len(self.snapshots),
                 edges=int(sum(int(g.edge_index.size(1)) for g in self.snapshots)),
                 steps={k: [min(v), max(v)] if v else [] for k, v in self.steps.items()})
        return s
