"""DGL as an optional backend: the one place Plexus imports DGL, and the PyG ↔ DGL converters.

dgl 2.1.0 (the newest Linux wheel) is built for torch <= 2.2; with a newer torch
``import dgl`` fails while loading the per-torch-version C++ GraphBolt library.
:func:`import_dgl` registers an empty ``dgl.graphbolt`` package in ``sys.modules``
before the import; the classic API (graphs, ``dgl.nn`` convolutions, message
passing, samplers) then works, while ``dgl.graphbolt`` and ``dgl.sparse`` stay
unusable. ``DGLBACKEND=pytorch`` stops the import from writing a config file.

Install with ``pip install "plexus-ml[dgl]"`` (dgl==2.1.0, torchdata==0.9.0, packaging).
"""

from __future__ import annotations

import os
import sys
import types
from typing import Any

from plexus.platform.errors import PlexusError

__all__ = ["dgl_available", "from_dgl", "import_dgl", "to_dgl"]

_DGL: Any = None


class _DGLUnavailableError(PlexusError, ImportError):
    """DGL is missing or cannot be loaded: an ``ImportError`` for plugin imports, a one-line user error."""


def import_dgl() -> Any:
    """Import and return the ``dgl`` module, applying the GraphBolt shim.

    Raises:
        ImportError: DGL is not installed or cannot be loaded, with the reason and how to install it
            (also a :class:`~plexus.platform.errors.PlexusError`, so the CLI reports it in one line).
    """
    global _DGL
    if _DGL is not None:
        return _DGL
    os.environ.setdefault("DGLBACKEND", "pytorch")
    if "dgl" not in sys.modules and "dgl.graphbolt" not in sys.modules:
        stub = types.ModuleType("dgl.graphbolt")
        stub.__path__ = []  # a package, so `import dgl.graphbolt.x` fails cleanly
        stub.__doc__ = "Placeholder installed by plexus.platform.backends.dgl: GraphBolt is unavailable."
        sys.modules["dgl.graphbolt"] = stub
    try:
        import dgl
    except Exception as exc:
        raise _DGLUnavailableError(
            f"the DGL backend is unavailable ({type(exc).__name__}: {exc}); "
            "install it with: pip install 'plexus-ml[dgl]'  (dgl==2.1.0 torchdata==0.9.0 packaging)"
        ) from exc
    _DGL = dgl
    return dgl


def dgl_available() -> bool:
    """Whether :func:`import_dgl` succeeds."""
    try:
        import_dgl()
    except ImportError:
        return False
    return True


def to_dgl(data: Any) -> Any:
    """Convert a PyG ``Data`` into a ``dgl.DGLGraph`` with the same nodes and directed edges (same order).

    ``edge_index [2, E]`` (messages flow ``edge_index[0] -> edge_index[1]``, as in PyG) becomes
    ``dgl.graph((src, dst), num_nodes=N)`` on ``edge_index``'s device. Node tensors (``x``, ``y``,
    masks: first dimension N) go to ``g.ndata`` and edge tensors (``edge_weight``, ``edge_attr``,
    ``edge_label``, ``edge_time``: first dimension E) to ``g.edata``, under their PyG names; other
    attributes are dropped. Also accepts a Plexus ``NodeDataset``/``LinkDataset`` (their ``data``).
    """
    dgl = import_dgl()
    data = getattr(data, "data", None) if not hasattr(data, "edge_index") else data
    if data is None or not hasattr(data, "edge_index"):
        raise PlexusError("to_dgl expects a PyG Data (or a dataset holding one in .data)")
    ei = data.edge_index
    n = data.num_nodes
    if n is None:
        n = int(ei.max()) + 1 if ei.numel() else 0
    n = int(n)
    g = dgl.graph((ei[0], ei[1]), num_nodes=n, device=ei.device)
    e = int(ei.size(1))
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
