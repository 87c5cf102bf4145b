"""Graph data services: Planetoid, heterophilous ``.npz``, TU sets, link splits, temporal snapshots
and user edge lists (the optional DGL bridge is :mod:`plexus.platform.backends.dgl`)."""

from plexus.platform.data.graphs.edgelist import load_edge_list, read_node_file
from plexus.platform.data.graphs.link import (
    LINK_SPLITS,
    link_dataset,
    remove_target_edges,
    sample_active_negatives,
    sample_negatives,
    split_edges,
    undirected_pairs,
)
from plexus.platform.data.graphs.npz import npz_dataset, read_npz_graph
from plexus.platform.data.graphs.planetoid import planetoid_dataset, read_planetoid, undirected_edge_index
from plexus.platform.data.graphs.temporal import (
    build_snapshots,
    dynamic_sbm,
    read_temporal_csv,
    snapshot_batch,
    split_steps,
    target_pairs,
    temporal_dataset,
)
from plexus.platform.data.graphs.tu import read_tu, stratified_split, tu_dataset, tu_graphs

__all__ = [
    "LINK_SPLITS",
    "build_snapshots",
    "dynamic_sbm",
    "link_dataset",
    "load_edge_list",
    "npz_dataset",
    "planetoid_dataset",
    "read_node_file",
    "read_npz_graph",
    "read_planetoid",
    "read_temporal_csv",
    "read_tu",
    "remove_target_edges",
    "sample_active_negatives",
    "sample_negatives",
    "snapshot_batch",
    "split_edges",
    "split_steps",
    "stratified_split",
    "target_pairs",
    "temporal_dataset",
    "tu_dataset",
    "tu_graphs",
    "undirected_edge_index",
    "undirected_pairs",
]
