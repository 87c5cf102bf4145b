"""Shared data services: dataset containers, tabular encoding, graphs and snapshots."""

from plexus.platform.data._types import (
    SPLITS,
    Dataset,
    GraphClsDataset,
    LinkDataset,
    NodeDataset,
    SnapshotBatch,
    TabularDataset,
    TemporalDataset,
)

__all__ = [
    "SPLITS",
    "Dataset",
    "GraphClsDataset",
    "LinkDataset",
    "NodeDataset",
    "SnapshotBatch",
    "TabularDataset",
    "TemporalDataset",
]
