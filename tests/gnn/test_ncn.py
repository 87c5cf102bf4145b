"""Correctness checks for NCN / NCNC (spec: docs/models/ncnc.md, section (e))."""

from __future__ import annotations

import pytest
import torch
from plexus.gnn.layers import to_undirected_simple
from plexus.gnn.ncn import NCN, NCNC, _cap, drop_csr_entries, neighbor_sets, targets_in_graph
from plexus.platform.data.graphs.link import remove_target_edges
from plexus.platform.errors import ConfigError, DataError
from plexus.platform.spec import DataSpec
from plexus.platform.testing import tiny_problem
from sklearn.metrics import roc_auc_score
from torch_geometric.data import Data
from torch_geometric.index import index2ptr


def _csr(edge_index: torch.Tensor, num_nodes: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(rowptr, col) of a row-sorted edge list."""
    return index2ptr(edge_index[0], num_nodes), edge_index[1]


def _random_graph(n: int = 30, p: float = 0.2, seed: int = 0, f: int = 5) -> Data:
    g = torch.Generator().manual_seed(seed)
    a = torch.rand(n, n, generator=g) < p
    a = torch.triu(a, 1)
    a = a | a.t()
    return Data(x=torch.randn(n, f, generator=g), edge_index=a.nonzero().t(), num_nodes=n)


def _dense(d: Data) -> torch.Tensor:
    a = torch.zeros(d.num_nodes, d.num_nodes)
    a[d.edge_index[0], d.edge_index[1]] = 1.0
    return a


def _all_pairs(n: int) -> torch.Tensor:
    i, j = torch.meshgrid(torch.arange(n), torch.arange(n), indexing="ij")
    return torch.stack([i.reshape(-1), j.reshape(-1)])


def _model(cls: type, combine: str = "concat", **kw: object) -> torch.nn.Module:
    torch.manual_seed(0)
    return cls(
        DataSpec("link", num_features=5, num_nodes=30),
        hidden_dim=16,
        num_layers=2,
        mpnn="gcn",
        combine=combine,
        **kw,
    ).eval()


def test_neighbor_sets_match_dense_reference() -> None:
    d = _random_graph()
    n, a = d.num_nodes, _dense(d)
    pairs = _all_pairs(n)
    rowptr, col = _csr(to_undirected_simple(d.edge_index, n), n)
    cn, only_i, only_j = neighbor_sets(rowptr, col, pairs, n)
    counts = torch.bincount(cn[0], minlength=pairs.size(1)).float()
    assert torch.equal(counts, (a @ a).reshape(-1))  # |N(i) ∩ N(j)| = (A²)_ij
    assert counts.sum() > 0
    res = a.unsqueeze(1) * (1 - a.unsqueeze(0))  # res[i, j, u] = A_iu (1 − A_ju)
    res[:, torch.arange(n), torch.arange(n)] = 0  # u ≠ j
    got = torch.zeros(n * n, n)
    got[only_i[0], only_i[1]] = 1
    assert torch.equal(got, res.reshape(n * n, n))
    got_j = torch.zeros(n * n, n)
    got_j[only_j[0], only_j[1]] = 1
    assert torch.equal(got_j.view(n, n, n).transpose(0, 1), res)  # N(j)\N(i) is the swapped residual


@pytest.mark.parametrize("combine", ["concat", "sum"])
def test_ncn_equals_dense_formula(combine: str) -> None:
    d = _random_graph()
    d.edge_label_index = torch.randint(0, 30, (2, 40), generator=torch.Generator().manual_seed(1))
    m = _model(NCN, combine)
    a = _dense(d)
    with torch.no_grad():
        h = m.node_embeddings(d)
        i, j = d.edge_label_index
        xcn = (a[i] * a[j]) @ h
        xij = h[i] * h[j]
        if combine == "concat":
            ref = m.lin(torch.cat([xij, xcn], -1))
        else:
            ref = m.lin(m.xcnlin(xcn) * m.beta + m.xijlin(xij))
        assert torch.allclose(m(d)["logit"], ref.view(-1), atol=1e-5)


def test_ncnc_equals_dense_completion_formula() -> None:
    d = _random_graph()
    n = d.num_nodes
    d.edge_label_index = torch.randint(0, n, (2, 40), generator=torch.Generator().manual_seed(2))
    m = _model(NCNC, offset=0.0, scale=1.0)  # probabilities well inside (0, 1)
    a = _dense(d)
    with torch.no_grad():
        h = m.node_embeddings(d)
        m.depth = 0
        p_hat = m.calibrate(m.score_pairs(h, d.edge_index, _all_pairs(n)).view(n, n))
        m.depth = 1
        assert 0.05 < float(p_hat.mean()) < 0.95
        i, j = d.edge_label_index
        eye = torch.eye(n)
        w_i = a[i] * (1 - a[j]) * (1 - eye[j]) * p_hat[:, j].t()  # u ∈ N(i)\N(j), u ≠ j: P̂_uj
        w_j = a[j] * (1 - a[i]) * (1 - eye[i]) * p_hat[i, :]  # u ∈ N(j)\N(i), u ≠ i: P̂_iu
        xcn = (a[i] * a[j] + w_i + w_j) @ h
        ref = m.lin(torch.cat([h[i] * h[j], xcn], -1)).view(-1)
        assert torch.allclose(m(d)["logit"], ref, atol=1e-5)


@pytest.mark.parametrize("cls", [NCN, NCNC])
@pytest.mark.parametrize("combine", ["concat", "sum"])
def test_score_is_symmetric(cls: type, combine: str) -> None:
    d = _random_graph(seed=3)
    d.edge_label_index = torch.randint(0, 30, (2, 50), generator=torch.Generator().manual_seed(3))
    m = _model(cls, combine)
    s1 = m(d)["logit"]
    d.edge_label_index = d.edge_label_index.flip(0)
    assert torch.equal(s1, m(d)["logit"])


def test_ncn_separates_automorphic_nodes_gae_cannot() -> None:
    # 6-cycle, constant features: nodes 2 and 3 are automorphic (same MPNN embedding), but
    # CN(0, 2) = {1} while CN(0, 3) = {}.
    n = 6
    ring = torch.tensor([[k, (k + 1) % n] for k in range(n)]).t()
    d = Data(x=torch.ones(n, 5), edge_index=torch.cat([ring, ring.flip(0)], 1), num_nodes=n)
    d.edge_label_index = torch.tensor([[0, 0], [2, 3]])
    m = _model(NCN)
    h = m.node_embeddings(d)
    gae = (h[0] * h[2]).sum(), (h[0] * h[3]).sum()  # a GAE (inner-product) decoder on the same MPNN
    assert torch.allclose(h[2], h[3]) and torch.allclose(*gae)
    s = m(d)["logit"]
    assert not torch.allclose(s[0], s[1], atol=1e-4)


def test_ncnc_reduces_to_ncn() -> None:
    d = _random_graph(seed=4)
    d.edge_label_index = torch.randint(0, 30, (2, 40), generator=torch.Generator().manual_seed(4))
    ncn = _model(NCN)
    base = ncn(d)["logit"]
    assert torch.equal(_model(NCNC, alpha=0.0)(d)["logit"], base)  # α = 0
    assert torch.equal(_model(NCNC, offset=1e4)(d)["logit"], base)  # all P̂ = 0
    assert torch.equal(_model(NCNC, depth=0)(d)["logit"], base)
    assert not torch.allclose(_model(NCNC, alpha=1.0, offset=0.0)(d)["logit"], base)  # completion matters
    d2 = _model(NCNC, depth=2, offset=0.0)(d)["logit"]
    assert d2.shape == base.shape and not torch.allclose(d2, _model(NCNC, depth=1, offset=0.0)(d)["logit"])


def test_target_link_removal_changes_cn_sets() -> None:
    # path 0-1-2 plus edge 0-2: CN(0, 1) = {2}; removing target (1, 2) drops 2 from CN(0, 1)
    # but leaves CN(1, 2) = {0} (a pair is never its own common neighbour).
    ei = torch.tensor([[0, 1], [1, 2], [0, 2]]).t()
    ei = torch.cat([ei, ei.flip(0)], 1)
    n, target = 3, torch.tensor([[1], [2]])
    pairs = torch.tensor([[0, 1], [1, 2]])

    def cn_sets(e: torch.Tensor) -> list[set[int]]:
        cn = neighbor_sets(*_csr(to_undirected_simple(e, n), n), pairs, n)[0]
        return [set(cn[1][cn[0] == k].tolist()) for k in range(pairs.size(1))]

    assert cn_sets(ei) == [{2}, {0}]
    removed = remove_target_edges(ei, target)
    assert cn_sets(removed) == [set(), {0}]
    assert targets_in_graph(ei, target, n).all() and not targets_in_graph(removed, target, n).any()


def test_check_tlr_flag() -> None:
    spec, d = tiny_problem("link")
    torch.manual_seed(0)
    m = NCN(spec, hidden_dim=8, check_tlr=True).train()
    d.edge_label_index = d.edge_index[:, :4]
    with pytest.raises(DataError, match="TLR"):
        m(d)
    d.edge_index = remove_target_edges(d.edge_index, d.edge_label_index)
    assert m(d)["logit"].shape == (4,)
    m.eval()(tiny_problem("link")[1])  # evaluation graphs are not checked


def test_residual_sampling_caps_per_target() -> None:
    owner = torch.tensor([0, 0, 0, 0, 1, 2, 2, 2])
    node = torch.arange(8)
    o, u = _cap((owner, node), 2, 3)
    assert torch.bincount(o, minlength=3).tolist() == [2, 1, 2]
    assert set(zip(o.tolist(), u.tolist())) <= set(zip(owner.tolist(), node.tolist()))


@pytest.mark.parametrize("cls", [NCN, NCNC])
@pytest.mark.parametrize("num_features", [6, 0])
def test_tiny_problem_shapes_and_grads(cls: type, num_features: int) -> None:
    spec, d = tiny_problem("link")
    spec.num_features = num_features
    torch.manual_seed(0)
    m = cls(spec, hidden_dim=8, combine="sum", use_xlin=True, layer_norm=True, dropout=0.1, pred_dropout=0.1)
    out = m(d)["logit"]
    assert out.shape == (d.edge_label_index.size(1),)
    out.sum().backward()
    grads = [p.grad for p in m.parameters() if p.grad is not None]
    assert grads and all(torch.isfinite(g).all() for g in grads)


def test_ncn_learns_community_links() -> None:
    g = torch.Generator().manual_seed(0)
    n, k = 120, 4
    comm = torch.arange(n) % k
    same = comm.unsqueeze(0) == comm.unsqueeze(1)
    a = torch.triu(torch.rand(n, n, generator=g) < torch.where(same, 0.3, 0.01), 1)
    edges = a.nonzero().t()
    perm = torch.randperm(edges.size(1), generator=g)
    test_pos, train_pos = edges[:, perm[:60]], edges[:, perm[60:]]
    graph = torch.cat([train_pos, train_pos.flip(0)], 1)
    x = torch.randn(n, 8, generator=g)
    torch.manual_seed(0)
    m = NCN(DataSpec("link", num_features=8, num_nodes=n), hidden_dim=32, mpnn="gcn")
    test_neg = torch.randint(0, n, (2, 300), generator=g)
    test = Data(x=x, edge_index=graph, num_nodes=n, edge_label_index=torch.cat([test_pos, test_neg], 1))
    labels = [1] * 60 + [0] * 300

    def auc() -> float:
        m.eval()
        with torch.no_grad():
            s = m(test)["logit"]
        m.train()
        return roc_auc_score(labels, s.numpy())

    before = auc()
    opt = torch.optim.Adam(m.parameters(), lr=0.01)
    for _ in range(40):
        batch = train_pos[:, torch.randperm(train_pos.size(1), generator=g)[:128]]
        neg = torch.randint(0, n, (2, 128), generator=g)
        d = Data(
            x=x,
            edge_index=remove_target_edges(graph, batch),
            num_nodes=n,
            edge_label_index=torch.cat([batch, neg], 1),
        )
        logit = m(d)["logit"]
        y = torch.cat([torch.ones(128), torch.zeros(128)])
        loss = torch.nn.functional.binary_cross_entropy_with_logits(logit, y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    after = auc()
    assert after > max(0.7, before + 0.05), (before, after)  # untrained: ~0.6


# --- the reference's regularisers (tdp, preedp, jk, tailact, trndeg/tstdeg -1) -------------------------

_REF_OPTS = {"tail_dropout": 0.3, "pred_edge_dropout": 0.4, "jk": True, "use_xlin": True, "layer_norm": True,
             "dropout": 0.05, "pred_dropout": 0.05, "input_dropout": 0.7}


def test_drop_csr_entries_keeps_a_consistent_subset() -> None:
    d = _random_graph(seed=5)
    rowptr, col = _csr(to_undirected_simple(d.edge_index, 30), 30)
    r0, c0 = drop_csr_entries(rowptr, col, 0.0)
    assert torch.equal(r0, rowptr) and torch.equal(c0, col)
    torch.manual_seed(0)
    r, c = drop_csr_entries(rowptr, col, 0.5)
    assert r[0] == 0 and r[-1] == c.numel() and bool((r[1:] >= r[:-1]).all())
    rows = torch.repeat_interleave(torch.arange(30), r[1:] - r[:-1])
    full_rows = torch.repeat_interleave(torch.arange(30), rowptr[1:] - rowptr[:-1])
    kept, full = set(zip(rows.tolist(), c.tolist())), set(zip(full_rows.tolist(), col.tolist()))
    assert kept < full and 0.3 < len(kept) / len(full) < 0.7


def test_pred_edge_dropout_uses_the_dropped_graph_in_training_only() -> None:
    d = _random_graph(seed=6)
    d.edge_label_index = torch.randint(0, 30, (2, 60), generator=torch.Generator().manual_seed(6))
    base, m = _model(NCN), _model(NCN, pred_edge_dropout=0.5)
    assert torch.equal(m(d)["logit"], base(d)["logit"])  # eval: never drops
    m.train()
    with torch.no_grad():
        h = m.node_embeddings(d)  # the MPNN graph is untouched
        assert torch.equal(h, base.node_embeddings(d))
        torch.manual_seed(7)
        got = m.score_pairs(h, d.edge_index, d.edge_label_index)
        torch.manual_seed(7)  # the same draw, by hand: CN sets of the entry-wise dropped adjacency
        r, c = drop_csr_entries(*_csr(to_undirected_simple(d.edge_index, 30), 30), 0.5)
        a = torch.zeros(30, 30)
        a[torch.repeat_interleave(torch.arange(30), r[1:] - r[:-1]), c] = 1.0
        assert not torch.equal(a, a.t())  # entries (directions) drop independently
        i, j = d.edge_label_index
        ref = m.lin(torch.cat([h[i] * h[j], (a[i] * a[j]) @ h], -1)).view(-1)
        assert torch.allclose(got, ref, atol=1e-5)
        assert not torch.allclose(got, base.score_pairs(h, d.edge_index, d.edge_label_index), atol=1e-4)


def test_tail_dropout_acts_on_embeddings_in_training_only() -> None:
    d = _random_graph(seed=8)
    base, m = _model(NCN), _model(NCN, tail_dropout=0.5)
    assert torch.equal(m.node_embeddings(d), base.node_embeddings(d))
    m.train()
    torch.manual_seed(0)
    h = m.node_embeddings(d)
    zero = (h == 0).float().mean()
    assert 0.35 < float(zero) < 0.65 and float((base.node_embeddings(d) == 0).float().mean()) < 0.35
    kept = h != 0
    assert torch.allclose(h[kept], 2 * base.node_embeddings(d)[kept], atol=1e-5)  # inverted dropout scaling


def test_jk_is_a_learned_weighting_of_layer_outputs() -> None:
    from plexus.gnn.layers import gcn_norm, propagate

    d = _random_graph(seed=9)
    m = _model(NCN, jk=True)
    assert m.mpnn.jk_weights.shape == (2,)
    with torch.no_grad():
        ei, w = gcn_norm(to_undirected_simple(d.edge_index, 30), 30)
        h1 = torch.relu(propagate(ei, w, m.mpnn.lins[0](d.x)))
        h2 = propagate(ei, w, m.mpnn.lins[1](h1))
        m.mpnn.jk_weights.copy_(torch.tensor([0.3, -2.0]))
        h = m.node_embeddings(d)
        assert h.shape == (30, 16)
        assert torch.allclose(h, 0.3 * h1 - 2.0 * h2, atol=1e-5)
        m.mpnn.jk_weights.copy_(torch.tensor([0.0, 1.0]))
        assert torch.allclose(m.node_embeddings(d), h2, atol=1e-6)
    d.edge_label_index = torch.randint(0, 30, (2, 20), generator=torch.Generator().manual_seed(9))
    m.train()(d)["logit"].sum().backward()
    assert m.mpnn.jk_weights.grad is not None and bool(m.mpnn.jk_weights.grad.abs().sum() > 0)


def test_tail_act_ends_the_sum_heads_in_an_activation() -> None:
    m = _model(NCN, "sum", tail_act=True, layer_norm=True)
    assert not isinstance(m.xcnlin[-1], torch.nn.Linear) and not isinstance(m.xijlin[-1], torch.nn.Linear)
    assert isinstance(_model(NCN, "sum").xcnlin[-1], torch.nn.Linear)
    z = torch.randn(50, 16)
    assert bool((m.xcnlin(z) >= 0).all()) and bool((m.xijlin(z) >= 0).all())
    with pytest.raises(ConfigError, match="tail_act"):
        _model(NCN, "concat", tail_act=True)
    with pytest.raises(ConfigError, match="pred_edge_dropout"):
        _model(NCN, pred_edge_dropout=1.0)


@pytest.mark.parametrize("cls", [NCN, NCNC])
def test_reference_options_keep_symmetry_and_ncnc_alpha0_equals_ncn(cls: type) -> None:
    d = _random_graph(seed=10)
    d.edge_label_index = torch.randint(0, 30, (2, 50), generator=torch.Generator().manual_seed(10))
    opts = {**_REF_OPTS, "tail_act": True}
    m = _model(cls, "sum", **opts)
    s1 = m(d)["logit"]
    d.edge_label_index = d.edge_label_index.flip(0)
    assert torch.equal(s1, m(d)["logit"])
    if cls is NCNC:
        base = _model(NCN, "sum", **opts)(d)["logit"]
        assert torch.equal(_model(NCNC, "sum", alpha=0.0, **opts)(d)["logit"], base)
        assert not torch.allclose(_model(NCNC, "sum", offset=0.0, **opts)(d)["logit"], base)


def test_res_deg_minus_one_means_no_sampling() -> None:
    d = _random_graph(p=0.5, seed=11)  # degree ~15: residual sets exceed 8
    d.edge_label_index = torch.randint(0, 30, (2, 40), generator=torch.Generator().manual_seed(11))
    full = _model(NCNC, offset=0.0, train_res_deg=-1, test_res_deg=-1)
    ev = full(d)["logit"]
    assert not torch.allclose(ev, _model(NCNC, alpha=0.0)(d)["logit"], atol=1e-4)  # -1 completes with all
    assert torch.allclose(full.train()(d)["logit"], ev, atol=1e-6)  # no dropout: train == eval without sampling
    capped = _model(NCNC, offset=0.0, train_res_deg=2, test_res_deg=-1)
    assert torch.allclose(capped(d)["logit"], ev, atol=1e-6)
    assert not torch.allclose(capped.train()(d)["logit"], ev, atol=1e-4)


def test_pair_groups_get_separate_predictor_calls() -> None:
    """``edge_label_groups`` (``train.pair_calls: separate``): one MPNN pass, one edge-dropout draw per group."""
    d = _random_graph(seed=9)
    pairs = torch.randint(0, 30, (2, 40), generator=torch.Generator().manual_seed(9))
    d.edge_label_index = torch.cat([pairs, pairs], 1)  # the same pairs in both groups
    m = _model(NCN, pred_edge_dropout=0.5).train()
    joint = d.clone()
    d.edge_label_groups = [40, 40]
    torch.manual_seed(1)
    got = m(d)["logit"]
    assert not torch.allclose(got[:40], got[40:], atol=1e-4)  # each group draws its own dropped graph
    with torch.no_grad():
        torch.manual_seed(1)  # by hand: the embeddings once, then one score_pairs call per group
        h = m.node_embeddings(d)
        ref = torch.cat([m.score_pairs(h, d.edge_index, pairs), m.score_pairs(h, d.edge_index, pairs)])
    assert torch.allclose(got, ref, atol=1e-6)
    torch.manual_seed(1)
    one = m(joint)["logit"]  # no groups: one call, one draw, so equal pairs score alike
    assert torch.allclose(one[:40], one[40:], atol=1e-6)
    m.eval()
    assert torch.equal(m(d)["logit"], m(joint)["logit"])  # evaluation: no dropout, the same logits
