"""Building blocks of GSM / GSM++ (Behrouz et al., arXiv 2411.15671): HAC tree,
hierarchical PE, tokenizers, local/global encoders and the MoT router."""

from plexus.gnn.gsm.encoders import (
    BiasPieces,
    LocalMPNN,
    SelectiveSSM,
    SequenceEncoder,
    TransformerLayer,
    selective_scan,
    selective_scan_fused,
    selective_scan_ref,
)
from plexus.gnn.gsm.hac import HACTree, affinity_encoding, hac_tree
from plexus.gnn.gsm.positional import GraphStructure, HierarchicalPE, StructureCache, cluster_spd
from plexus.gnn.gsm.router import MoTRouter
from plexus.gnn.gsm.tokenizers import TOKENIZERS, BatchPlan, build_plan, make_tokenizer

__all__ = [
    "TOKENIZERS",
    "BatchPlan",
    "BiasPieces",
    "GraphStructure",
    "HACTree",
    "HierarchicalPE",
    "LocalMPNN",
    "MoTRouter",
    "SelectiveSSM",
    "SequenceEncoder",
    "StructureCache",
    "TransformerLayer",
    "affinity_encoding",
    "build_plan",
    "cluster_spd",
    "hac_tree",
    "make_tokenizer",
    "selective_scan",
    "selective_scan_fused",
    "selective_scan_ref",
]
