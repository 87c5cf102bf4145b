"""Graph propagation helpers: equal to PyG's operators (kept for speed or self-loop semantics), Â X."""

from __future__ import annotations

import torch
from plexus.gnn.layers import gcn_norm, propagate, to_undirected_simple
from torch_geometric.nn.conv.gcn_conv import gcn_norm as pyg_gcn_norm
from torch_geometric.utils import remove_self_loops, to_undirected


def _graph(n: int = 40, e: int = 200, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    ei = torch.randint(0, n, (2, e), generator=g)
    ei[:, :5] = ei[0, :5]  # self loops
    ei = torch.cat([ei, ei[:, :7]], 1)  # duplicates
    return ei, torch.rand(ei.size(1), generator=g) + 0.1


def test_to_undirected_simple_equals_pyg() -> None:
    ei, _ = _graph()
    ours = to_undirected_simple(ei, 40)
    assert torch.equal(ours, remove_self_loops(to_undirected(ei, num_nodes=40))[0])
    assert not bool((ours[0] == ours[1]).any())


def test_gcn_norm_equals_pyg_after_removing_self_loops() -> None:
    ei, w = _graph()
    for weight in (None, w):
        ours = gcn_norm(ei, 40, weight)
        ref = pyg_gcn_norm(*remove_self_loops(ei, weight), 40)
        assert torch.equal(ours[0], ref[0])
        torch.testing.assert_close(ours[1], ref[1], rtol=0, atol=1e-6)
    # a weighted self loop is replaced by a weight-1 loop (PyG alone would keep its weight)
    loop = torch.tensor([[0, 0], [0, 1]])
    ei2, w2 = gcn_norm(loop, 2, torch.tensor([5.0, 1.0]))
    assert ei2.tolist() == [[0, 0, 1], [1, 0, 1]]
    torch.testing.assert_close(w2, torch.tensor([2**-0.5, 1.0, 0.5]))


def test_propagate_is_the_normalised_adjacency_product() -> None:
    ei, w = _graph()
    ei, w = gcn_norm(ei, 40, w)
    x = torch.randn(40, 3)
    adj = torch.zeros(40, 40).index_put_((ei[1], ei[0]), w, accumulate=True)  # adj[target, source]
    torch.testing.assert_close(propagate(ei, w, x), adj @ x, rtol=0, atol=1e-6)
