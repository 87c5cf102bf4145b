"""GraphNAS operators: shapes, softmax normalisation over neighbours, dense references for gcn and gat."""

from __future__ import annotations

import itertools

import pytest
import torch
import torch.nn.functional as F
from plexus.nas.graphnas_net import GraphNASNet
from plexus.nas.layers import SOFTMAX_ATTENTIONS, NASConv
from plexus.nas.spaces.graphnas import ACTIVATIONS, AGGREGATORS, ATTENTIONS, Architecture, GraphNASSpace
from plexus.platform.nn import activation
from plexus.platform.testing import tiny_problem
from torch_geometric.utils import scatter

N, F_IN = 9, 5


def directed_graph(seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    ei = torch.randint(0, N, (2, 30), generator=g)
    ei = torch.unique(ei[:, ei[0] != ei[1]], dim=1)
    return ei


def dense_adj_with_loops(ei: torch.Tensor) -> torch.Tensor:
    """``A[i, j] = 1`` when ``j -> i`` (message from j to i), plus self loops."""
    a = torch.zeros(N, N)
    a[ei[1], ei[0]] = 1.0
    return a + torch.eye(N)


@pytest.mark.parametrize("attention,aggregator,concat",
                         list(itertools.product(ATTENTIONS, AGGREGATORS, [True, False])))
def test_every_operator_has_the_right_shape(attention: str, aggregator: str, concat: bool) -> None:
    torch.manual_seed(0)
    x, ei = torch.randn(N, F_IN), directed_graph()
    conv = NASConv(F_IN, 3, heads=4, attention=attention, aggregator=aggregator, concat=concat).eval()
    out = conv(x, ei)
    assert out.shape == (N, 12 if concat else 3)
    assert torch.isfinite(out).all()
    out.square().sum().backward()
    assert conv.weight.grad is not None and conv.weight.grad.abs().sum() > 0


@pytest.mark.parametrize("attention", SOFTMAX_ATTENTIONS)
def test_softmax_attentions_sum_to_one_over_each_nodes_neighbours(attention: str) -> None:
    torch.manual_seed(1)
    x, ei = torch.randn(N, F_IN), directed_graph(1)
    conv = NASConv(F_IN, 4, heads=3, attention=attention)
    _, ei_loops, alpha = conv.coefficients(x, ei)
    assert alpha.shape == (ei_loops.size(1), 3)
    assert (alpha >= 0).all()
    sums = scatter(alpha, ei_loops[1], dim=0, dim_size=N, reduce="sum")  # grouped by receiving node
    torch.testing.assert_close(sums, torch.ones(N, 3))
    # grouping by the sending node instead would not sum to one on a directed graph
    wrong = scatter(alpha, ei_loops[0], dim=0, dim_size=N, reduce="sum")
    assert not torch.allclose(wrong, torch.ones(N, 3))


@pytest.mark.parametrize("attention", ["const", "gcn"])
def test_const_and_gcn_are_not_softmax_normalised(attention: str) -> None:
    x, ei = torch.randn(N, F_IN), directed_graph(2)
    _, ei_loops, alpha = NASConv(F_IN, 4, heads=2, attention=attention).coefficients(x, ei)
    if attention == "const":
        assert torch.equal(alpha, torch.ones_like(alpha))
    sums = scatter(alpha, ei_loops[1], dim=0, dim_size=N, reduce="sum")
    assert not torch.allclose(sums, torch.ones_like(sums))


def test_gcn_equals_symmetric_normalisation_dense_reference() -> None:
    torch.manual_seed(3)
    x = torch.randn(N, F_IN)
    ei = directed_graph(3)
    ei = torch.unique(torch.cat([ei, ei.flip(0)], 1), dim=1)  # undirected, as GCN assumes
    conv = NASConv(F_IN, 4, heads=1, attention="gcn", aggregator="sum").eval()
    with torch.no_grad():
        conv.bias.normal_()
    a = dense_adj_with_loops(ei)
    d = a.sum(1).pow(-0.5)
    a_hat = d[:, None] * a * d[None, :]
    expected = a_hat @ (x @ conv.weight) + conv.bias
    torch.testing.assert_close(conv(x, ei), expected, rtol=1e-5, atol=1e-5)


def test_gat_equals_dense_masked_softmax_reference() -> None:
    torch.manual_seed(4)
    x, ei = torch.randn(N, F_IN), directed_graph(4)
    heads, c = 2, 3
    conv = NASConv(F_IN, c, heads=heads, attention="gat", aggregator="sum", concat=True, dropout=0.5).eval()
    mask = dense_adj_with_loops(ei) > 0
    xw = (x @ conv.weight).view(N, heads, c)
    outs = []
    for h in range(heads):
        si = (xw[:, h] * conv.att_l[0, h]).sum(-1)  # receiver term
        sj = (xw[:, h] * conv.att_r[0, h]).sum(-1)  # sender term
        e = F.leaky_relu(si[:, None] + sj[None, :], 0.2).masked_fill(~mask, float("-inf"))
        outs.append(torch.softmax(e, dim=1) @ xw[:, h])
    expected = torch.cat(outs, dim=1) + conv.bias
    torch.testing.assert_close(conv(x, ei), expected, rtol=1e-5, atol=1e-5)


def test_sym_gat_is_gat_both_ways_and_linear_ignores_receiver() -> None:
    torch.manual_seed(5)
    conv = NASConv(F_IN, 3, heads=2, attention="sym-gat")
    xi, xj = torch.randn(7, 2, 3), torch.randn(7, 2, 3)
    torch.testing.assert_close(conv._scores(xi, xj), conv._scores(xj, xi))
    conv.attention = "linear"
    torch.testing.assert_close(conv._scores(xi, xj), conv._scores(torch.randn(7, 2, 3), xj))


def test_max_aggregator_matches_dense_max_over_neighbours() -> None:
    torch.manual_seed(6)
    x, ei = torch.randn(N, F_IN), directed_graph(6)
    conv = NASConv(F_IN, 3, heads=1, attention="const", aggregator="max").eval()
    msg = conv.pool((x @ conv.weight).view(N, 1, 3))  # const attention: the message is pool(x_j W)
    mask = dense_adj_with_loops(ei) > 0
    expected = torch.stack([msg[mask[i]].amax(0) for i in range(N)]).view(N, 3) + conv.bias
    torch.testing.assert_close(conv(x, ei), expected, rtol=1e-5, atol=1e-5)


def test_every_activation_of_the_space_resolves() -> None:
    x = torch.linspace(-3, 3, 13)
    for name in ACTIVATIONS:
        assert activation(name)(x).shape == x.shape, name


def test_decoded_architectures_train_on_the_tiny_node_problem() -> None:
    import random

    spec, data = tiny_problem("node")
    space = GraphNASSpace(2)
    rng = random.Random(0)
    for _ in range(6):
        arch = space.sample(rng)
        model = GraphNASNet(spec, arch=arch.to_json())
        out = model(data)["logit"]
        assert out.shape == (data.num_nodes, spec.num_classes)
        out.logsumexp(-1).sum().backward()
        assert all(torch.isfinite(p.grad).all() for p in model.parameters() if p.grad is not None)
        widths = [block.conv.out_channels for block in model.layers]
        la = arch.layers[0]
        assert widths[0] == (la.heads * la.hidden if la.combine == "concat" else la.hidden)
        assert widths[1] == spec.num_classes
        assert Architecture.from_json(arch.to_json()) == model.arch


@pytest.mark.parametrize("attention", ["const", "gcn"])
def test_one_coefficient_attentions_take_the_sparse_product_and_equal_the_message_path(attention: str) -> None:
    torch.manual_seed(5)
    x, ei = torch.randn(N, F_IN, requires_grad=True), directed_graph(5)
    ei = torch.cat([ei, ei[:, :3]], 1)  # repeated edges count twice, as scattered messages do
    conv = NASConv(F_IN, 3, heads=4, attention=attention, aggregator="sum")
    out = conv(x, ei)
    xw, loops, alpha = conv.coefficients(x, ei)
    ref = conv.propagate(loops, x=xw, alpha=alpha, size=(N, N)).reshape(N, -1) + conv.bias
    torch.testing.assert_close(out, ref, rtol=1e-5, atol=1e-6)
    g_out = torch.autograd.grad(out.square().sum(), [x, conv.weight])
    g_ref = torch.autograd.grad(ref.square().sum(), [x, conv.weight])
    for a, b in zip(g_out, g_ref):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("arch", [
    ('{"layers":[{"activation":"elu","aggregator":"sum","attention":"gat","combine":"concat","heads":2,"hidden":4,'
    '"skip":"residual"},{"activation":"linear","aggregator":"sum","attention":"gat","combine":null,"heads":1,'
    '"hidden":null,"skip":"none"}],"space":"graphnas"}'),
    ('{"layers":[{"activation":"tanh","aggregator":"sum","attention":"const","combine":"concat","heads":2,'
    '"hidden":4,"skip":"none"},{"activation":"linear","aggregator":"mlp","attention":"cos","combine":null,'
    '"heads":2,"hidden":null,"skip":"residual"}],"space":"graphnas"}'),
])
def test_graphnas_net_on_sparse_features_equals_the_dense_computation(arch: str, monkeypatch) -> None:
    import plexus.nas.graphnas_net as net_module

    spec, data = tiny_problem("node")
    data.x = (torch.rand(data.x.shape) < 0.05).float()  # bag-of-words-like: few non-zeros
    torch.manual_seed(0)
    model = GraphNASNet(spec, arch=arch).eval()
    assert model._input(data.x).is_sparse
    sparse_out = model(data)["logit"]
    sparse_grads = torch.autograd.grad(sparse_out.square().sum(), list(model.parameters()), allow_unused=True)
    monkeypatch.setattr(net_module, "sparse_input", lambda x: x)
    model._sparse_x = None
    assert not model._input(data.x).is_sparse
    dense_out = model(data)["logit"]
    dense_grads = torch.autograd.grad(dense_out.square().sum(), list(model.parameters()), allow_unused=True)
    torch.testing.assert_close(sparse_out, dense_out, rtol=1e-5, atol=1e-6)
    for a, b in zip(sparse_grads, dense_grads):
        assert (a is None) == (b is None)
        if a is not None:
            torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)
