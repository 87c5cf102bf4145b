"""DGL as an optional backend: one import trick, one converter.

dgl 2.1.0 (the newest Linux wheel; extra ``plexus-ml[dgl]``) fails to import on
recent torch because it loads a graphbolt C++ library built per torch version.
:func:`import_dgl` registers an empty ``dgl.graphbolt`` package in
``sys.modules`` before ``import dgl`` and sets ``DGLBACKEND=pytorch`` (so the
import writes no config file); the classic API (graphs, nn modules, message
passing, samplers) then works. ``dgl.sparse`` and graphbolt stay unusable.
"""

from __future__ import annotations

from typing import Any

from plexus.platform.errors import PlexusError

__all__ = ["dgl_available", "from_dgl", "import_dgl", "to_dgl"]



def import_dgl() -> Any:
    """Return the ``dgl`` module, or raise :class:`PlexusError` saying how to install it.

    The import trick itself lives in :mod:`plexus.platform.backends.dgl` (the one
    place Plexus imports DGL); this wrapper turns its ``ImportError`` into a
    one-line user error.
    """
    from plexus.platform.backends.dgl import import_dgl as _import

    try:
        return _import()
    except ImportError as exc:
        raise PlexusError(str(exc)) from exc




def dgl_available() -> bool:
    try:
        import_dgl()
    except PlexusError:
        return False
    return True


def to_dgl(data: Any) -> Any:
    """Convert a PyG ``Data`` into a ``dgl.DGLGraph`` with the same edges (same order).

    Node tensors (``x``, ``y``, masks: first dimension ``num_nodes``) go to
    ``g.ndata``; edge tensors (``edge_weight``, ``edge_attr``, ``edge_label``,
    ``edge_time``: first dimension ``num_edges``) to ``g.edata``. Other
    attributes are dropped. Also accepts a Plexus ``NodeDataset``/``LinkDataset``
    (their ``data``).
    """
    dgl = import_dgl()
    data = getattr(data, "data", None) if not hasattr(data, "edge_index") else data
    if data is None or not hasattr(data, "edge_index"):
        raise PlexusError("to_dgl expects a PyG Data (or a dataset holding one in .data)")
    n = int(data.num_nodes)
    src, dst = data.edge_index
    g = dgl.graph((src, dst), num_nodes=n, device=data.edge_index.device)
    e = int(data.edge_index.size(1))
    for key, val in data.items():
        if key in ("edge_index", "num_nodes") or not hasattr(val, "dim") or val.dim() == 0:
            continue
        if key.startswith("edge_") and val.size(0) == e:
            g.edata[key] = val
        elif val.size(0) == n:
            g.ndata[key] = val
    return g


def from_dgl(g: Any) -> Any:
    """Inverse of :func:`to_dgl`: a PyG ``Data`` with ``ndata``/``edata`` as attributes."""
    import torch
    from torch_geometric.data import Data

    src, dst = g.edges(order="eid")
    d = Data(edge_index=torch.stack([src, dst]).long(), num_nodes=g.num_nodes())
    for k, v in g.ndata.items():
        d[k] = v
    for k, v in g.edata.items():
        d[k] = v
    return d
