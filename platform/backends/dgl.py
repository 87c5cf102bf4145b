"""DGL compatibility shim: the one place Plexus imports DGL.

dgl 2.1.0 (the newest Linux wheel) is built for torch <= 2.2; with a newer torch
``import dgl`` fails while loading the per-torch-version C++ GraphBolt library.
Registering an empty ``dgl.graphbolt`` package before the import avoids it; the
classic API (graphs, ``dgl.nn`` convolutions, message passing, samplers) then
works, while ``dgl.graphbolt`` and ``dgl.sparse`` stay unusable.
``DGLBACKEND=pytorch`` stops the import from writing a config file.

Install with ``pip install "plexus-ml[dgl]"`` (dgl==2.1.0, torchdata==0.9.0, packaging).
"""

from __future__ import annotations

import os
import sys
import types
from typing import Any

__all__ = ["import_dgl", "to_dgl"]

_DGL: Any = None


def import_dgl() -> Any:
    """Import and return the ``dgl`` module, applying the GraphBolt shim.

    Raises:
        ImportError: DGL is not installed or cannot be loaded, with the reason and how to install it.
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
        raise ImportError(
            f"the DGL backend is unavailable ({type(exc).__name__}: {exc}); "
            "install it with: pip install 'plexus-ml[dgl]'  (dgl==2.1.0 torchdata==0.9.0 packaging)"
        ) from exc
    _DGL = dgl
    return dgl


def to_dgl(data: Any) -> Any:
    """Convert a PyG ``Data`` to a ``DGLGraph`` with the same nodes and directed edges.

    ``edge_index [2, E]`` (messages flow ``edge_index[0] -> edge_index[1]``, as in PyG) becomes
    ``dgl.graph((src, dst), num_nodes=N)``; ``x`` is copied to ``ndata["x"]`` and ``edge_weight``
    to ``edata["w"]`` when present. The graph lives on ``edge_index``'s device.
    """
    dgl = import_dgl()
    ei = data.edge_index
    n = data.num_nodes
    if n is None:
        n = int(ei.max()) + 1 if ei.numel() else 0
    g = dgl.graph((ei[0], ei[1]), num_nodes=int(n), device=ei.device)
    x = getattr(data, "x", None)
    if x is not None:
        g.ndata["x"] = x
    w = getattr(data, "edge_weight", None)
    if w is not None:
        g.edata["w"] = w
    return g
