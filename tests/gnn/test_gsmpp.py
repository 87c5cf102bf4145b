"""Correctness checks for GSM++ (docs/models/gsmpp.md (e)) and its building blocks."""

from __future__ import annotations

import itertools
from collections.abc import Callable

import numpy as np
import pytest
import torch
from plexus.gnn.gsm import (
    GraphStructure,
    MoTRouter,
    SelectiveSSM,
    build_plan,
    hac_tree,
    selective_scan,
    selective_scan_fused,
    selective_scan_ref,
)
from plexus.gnn.gsm.hac import affinity_encoding, undirected_edges
from plexus.gnn.gsmpp import GSMPP, GSMSSM, GSMTransformer
from plexus.platform.errors import ConfigError, DataError
from plexus.platform.spec import DataSpec
from plexus.platform.testing import tiny_problem
from torch_geometric.data import Batch, Data

PE_CFG = {"linkage": "single", "hops": 1, "max_dist": 8, "max_spd_nodes": 2048}


def random_graph(n: int, e: int, f: int, seed: int, components: int = 1) -> Data:
    g = torch.Generator().manual_seed(seed)
    src = torch.randint(0, n, (e,), generator=g)
    dst = torch.randint(0, n, (e,), generator=g)
    if components > 1:  # keep edges inside node blocks -> disconnected graph
        dst = (src // (n // components)) * (n // components) + dst % (n // components)
        dst = dst.clamp(max=n - 1)
    ring = torch.arange(n)  # a chain so the graph is not too sparse
    ring_dst = torch.where((ring + 1) % (n // components) == 0, ring, ring + 1).clamp(max=n - 1)
    src, dst = torch.cat([src, ring]), torch.cat([dst, ring_dst])
    keep = src != dst
    ei = torch.stack([torch.cat([src[keep], dst[keep]]), torch.cat([dst[keep], src[keep]])])
    return Data(x=torch.randn(n, f, generator=g), edge_index=torch.unique(ei, dim=1), num_nodes=n)


# ---------------------------------------------------------------- selective scan / SSM
@pytest.mark.parametrize("chunk", [1, 3, 8, 64])
def test_chunked_scan_equals_sequential_reference(chunk: int) -> None:
    g = torch.Generator().manual_seed(chunk)
    b, L, d, n = 3, 37, 5, 4
    dA = torch.rand(b, L, d, n, generator=g) * 0.9 + 0.05
    dBx = torch.randn(b, L, d, n, generator=g)
    C = torch.randn(b, L, n, generator=g)
    ref = selective_scan_ref(dA, dBx, C)
    assert torch.allclose(selective_scan(dA, dBx, C, chunk), ref, atol=1e-5, rtol=1e-4)


@pytest.mark.parametrize("chunk", [1, 3, 8, 64])
def test_scan_backward_equals_autograd_of_sequential_reference(chunk: int) -> None:
    g = torch.Generator().manual_seed(10 + chunk)
    b, L, d, n = 3, 37, 5, 4
    dA = (torch.rand(b, L, d, n, generator=g) * 0.9 + 0.05).requires_grad_()
    dBx = torch.randn(b, L, d, n, generator=g).requires_grad_()
    C = torch.randn(b, L, n, generator=g).requires_grad_()
    w = torch.randn(b, L, d, generator=g)  # a loss that weighs every output differently
    ref = torch.autograd.grad((selective_scan_ref(dA, dBx, C) * w).sum(), (dA, dBx, C))
    got = torch.autograd.grad((selective_scan(dA, dBx, C, chunk) * w).sum(), (dA, dBx, C))
    for r, o in zip(ref, got):
        assert torch.allclose(o, r, atol=1e-5, rtol=1e-4)


@pytest.mark.parametrize("chunk", [1, 4])
def test_fused_scan_matches_unfused_and_passes_gradcheck(chunk: int) -> None:
    g = torch.Generator().manual_seed(chunk)
    b, L, d, n = 2, 9, 3, 4
    x, dt = torch.randn(b, L, d, generator=g, dtype=torch.double), torch.rand(b, L, d, generator=g, dtype=torch.double)
    A = -torch.rand(d, n, generator=g, dtype=torch.double) * 3
    B, C = torch.randn(b, L, n, generator=g, dtype=torch.double), torch.randn(b, L, n, generator=g, dtype=torch.double)
    unfused = selective_scan_ref(torch.exp(dt.unsqueeze(-1) * A), (dt * x).unsqueeze(-1) * B.unsqueeze(2), C)
    assert torch.allclose(selective_scan_fused(x, dt, A, B, C, chunk), unfused, atol=1e-10)
    inputs = tuple(t.clone().requires_grad_() for t in (x, dt, A, B, C))
    assert torch.autograd.gradcheck(lambda *t: selective_scan_fused(*t, chunk), inputs)


def test_ssm_module_chunked_equals_sequential_and_is_causal() -> None:
    torch.manual_seed(0)
    m = SelectiveSSM(16, d_state=8, chunk_size=4)
    x = torch.randn(2, 13, 16)
    y = m(x)
    m.scan = "sequential"
    assert torch.allclose(y, m(x), atol=1e-5)
    m.scan = "chunked"
    x2 = x.clone()
    x2[:, 9:] = torch.randn(2, 4, 16)  # change later tokens
    y2 = m(x2)
    assert torch.allclose(y[:, :9], y2[:, :9], atol=1e-6)  # earlier outputs unchanged
    assert not torch.allclose(y[:, 9:], y2[:, 9:])


def test_ssm_left_padding_is_exact() -> None:
    torch.manual_seed(1)
    m = SelectiveSSM(8, d_state=4, chunk_size=3)
    x = torch.randn(1, 5, 8)
    padded = torch.cat([torch.randn(1, 3, 8), x], 1)  # garbage in the pads
    mask = torch.tensor([[False] * 3 + [True] * 5])
    assert torch.allclose(m(padded, mask)[:, 3:], m(x), atol=1e-5)


# ---------------------------------------------------------------- HAC tree
@pytest.mark.parametrize("seed,components,linkage", [(0, 1, "single"), (1, 3, "single"), (2, 1, "average")])
def test_hac_tree_invariants(seed: int, components: int, linkage: str) -> None:
    d = random_graph(30, 20, 4, seed, components)
    t = hac_tree(d.edge_index, d.x, 30, linkage=linkage)
    lv = t.levels
    D = t.depth
    assert D >= 3
    assert torch.equal(lv[-1], torch.arange(30))  # every node is a leaf exactly once
    assert torch.all(lv[0] == 0)  # single root
    assert sorted(t.order.tolist()) == list(range(30))
    for l in range(D):  # contiguous ids: a partition of the nodes
        assert set(lv[l].tolist()) == set(range(int(lv[l].max()) + 1))
    for l in range(D - 1):  # nested: each child cluster has exactly one parent
        pairs = set(zip(lv[l + 1].tolist(), lv[l].tolist()))
        assert len(pairs) == int(lv[l + 1].max()) + 1
        assert int(lv[l].max()) < int(lv[l + 1].max())  # strictly coarser going up
    # DFS order: every cluster of every level is a contiguous block of the order
    for l in range(D):
        lab = lv[l][t.order].tolist()
        changes = sum(a != b for a, b in itertools.pairwise(lab))
        assert changes == int(lv[l].max())


def test_hac_merges_follow_highest_affinity_and_build_max_spanning_forest() -> None:
    d = random_graph(40, 30, 5, 3, components=2)
    t = hac_tree(d.edge_index, d.x, 40)
    u, v = undirected_edges(d.edge_index, 40)
    enc = affinity_encoding(d.x, u, v, 40, 1)
    w = (enc[u] * enc[v]).sum(1)
    lv = t.levels.numpy()
    D = t.depth
    for r in range(1, int(t.merge_round.max()) + 1):
        c = lv[D - r]  # clusters before round r
        inter = c[u] != c[v]
        best = {}
        for a, b, ww in zip(c[u][inter], c[v][inter], w[inter]):
            best[a] = max(best.get(a, -9), ww)
            best[b] = max(best.get(b, -9), ww)
        sel = (t.merge_round == r).numpy()
        got = {}
        for s_, d_, a in zip(t.merge_src.numpy()[sel], t.merge_dst.numpy()[sel], t.merge_aff.numpy()[sel]):
            cs, cd = c[s_], c[d_]
            assert cs != cd
            # the merge edge is the highest-affinity edge of (at least) one endpoint cluster
            assert np.isclose(a, best[cs], atol=1e-6) or np.isclose(a, best[cd], atol=1e-6)
            got[cs], got[cd] = True, True
        assert set(got) == set(best)  # every cluster with an outgoing edge merged in this round
    # single linkage Borůvka == maximum spanning forest (Kruskal reference)
    parent = list(range(40))

    def find(a: int) -> int:
        while parent[a] != a:
            parent[a] = parent[parent[a]]
            a = parent[a]
        return a

    total = 0.0
    for i in np.argsort(-w, kind="stable"):
        ra, rb = find(int(u[i])), find(int(v[i]))
        if ra != rb:
            parent[ra] = rb
            total += w[i]
    assert len(t.merge_aff) == 40 - 2  # a spanning forest of 2 components
    assert np.isclose(t.merge_aff.double().sum().item(), total, atol=1e-4)


def test_hac_tree_is_relabeling_invariant() -> None:
    d = random_graph(25, 30, 3, 5)
    perm = torch.randperm(25, generator=torch.Generator().manual_seed(0))  # new id i <- old id perm[i]
    inv = torch.argsort(perm)
    d2 = Data(x=d.x[perm], edge_index=inv[d.edge_index], num_nodes=25)
    t1, t2 = hac_tree(d.edge_index, d.x, 25), hac_tree(d2.edge_index, d2.x, 25)
    assert t1.depth == t2.depth
    for l in range(t1.depth):
        p1 = {frozenset(torch.nonzero(t1.levels[l] == k).flatten().tolist()) for k in range(int(t1.levels[l].max()) + 1)}
        p2 = {frozenset(perm[torch.nonzero(t2.levels[l] == k).flatten()].tolist())
              for k in range(int(t2.levels[l].max()) + 1)}
        assert p1 == p2
    assert torch.equal(perm[t2.order], t1.order)


def test_dfs_and_bfs_sequences_cover_all_nodes() -> None:
    gs = [random_graph(12, 10, 3, 7), random_graph(9, 6, 3, 8, components=3)]
    structs = [GraphStructure.build(g.edge_index, g.x, g.num_nodes, **PE_CFG) for g in gs]
    batch = Batch.from_data_list(gs)
    plan = build_plan(structs, [0, 12], batch.edge_index)
    # DFS: each node's sequence = its root->leaf chain, length = its tree depth
    for i, s in enumerate(structs):
        rows = plan.dfs_seq[i * 12: i * 12 + gs[i].num_nodes] if i == 0 else plan.dfs_seq[12:]
        assert torch.all(plan.dfs_mask[12 * i: 12 * i + gs[i].num_nodes].sum(1) == s.tree.depth)
        leaves = rows[:, -1]
        assert len(set(leaves.tolist())) == gs[i].num_nodes  # distinct leaf clusters
    # BFS: every cluster of every level exactly once; leaf level covers all nodes
    ids = plan.bfs_seq[plan.bfs_mask].tolist()
    assert sorted(ids) == list(range(plan.num_clusters))
    assert sorted(plan.node_seq[plan.node_mask].tolist()) == list(range(21))


def test_bad_edge_index_raises_data_error() -> None:
    with pytest.raises(DataError):
        hac_tree(torch.tensor([[0, 5], [1, 0]]), torch.randn(3, 2), 3)


# ---------------------------------------------------------------- router
def test_router_selects_exactly_top2_with_normalised_weights() -> None:
    torch.manual_seed(0)
    r = MoTRouter(16, 4, k=2)
    h = torch.randn(50, 16)
    g = r.gates(h)
    assert torch.all((g > 0).sum(1) == 2)
    assert torch.allclose(g.sum(1), torch.ones(50))
    top2 = torch.sigmoid(r.w(h)).topk(2, -1).indices.sort(-1).values
    assert torch.equal(torch.nonzero(g > 0)[:, 1].view(50, 2), top2)
    encs = [torch.randn(50, 16) for _ in range(4)]
    z = r(h, encs).view(50, 4, 16)
    assert torch.all((z.abs().sum(-1) > 0).sum(1) == 2)  # unselected slots are zero
    z.sum().backward()
    assert r.w.weight.grad is not None and torch.isfinite(r.w.weight.grad).all()


# ---------------------------------------------------------------- plugins
@pytest.mark.parametrize("kind", ["node", "graph"])
@pytest.mark.parametrize("cls", [GSMPP, GSMTransformer, GSMSSM])
def test_plugin_shapes_grads_and_determinism(kind: str, cls: type) -> None:
    spec, batch = tiny_problem(kind)
    torch.manual_seed(0)
    kw = {GSMPP: {"heads": 2, "d_state": 4}, GSMTransformer: {"heads": 2}, GSMSSM: {"d_state": 4}}[cls]
    m = cls(spec, hidden=16, **kw)
    out = m(batch)["logit"]
    rows = batch.num_nodes if kind == "node" else batch.num_graphs
    assert out.shape == (rows, spec.num_classes)
    out.square().sum().backward()
    grads = [p.grad for p in m.parameters()]
    assert all(g is not None and torch.isfinite(g).all() for g in grads)
    torch.manual_seed(0)
    m2 = cls(spec, hidden=16, **kw)
    m2.load_state_dict(m.state_dict())
    m.eval(), m2.eval()
    assert torch.allclose(m(batch)["logit"], m2(batch)["logit"], atol=1e-6)
    assert m.cache.hits > 0  # HAC structures are computed once per graph


@pytest.mark.parametrize("tok", ["node", "khop", "rw", "hac_dfs", "hac_bfs"])
def test_each_tokenizer_runs(tok: str) -> None:
    spec, batch = tiny_problem("graph")
    out = GSMPP(spec, hidden=16, tokenization=tok, heads=2)(batch)["logit"]
    assert out.shape == (batch.num_graphs, 2) and torch.isfinite(out).all()


def test_permutation_invariance_and_equivariance() -> None:
    d = random_graph(18, 20, 4, 11)
    perm = torch.randperm(18, generator=torch.Generator().manual_seed(1))
    inv = torch.argsort(perm)
    d2 = Data(x=d.x[perm], edge_index=inv[d.edge_index], num_nodes=18)
    torch.manual_seed(0)
    gm = GSMPP(DataSpec("graph", num_features=4, num_classes=3), hidden=32).eval()
    b1, b2 = Batch.from_data_list([d]), Batch.from_data_list([d2])
    assert torch.allclose(gm(b1)["logit"], gm(b2)["logit"], atol=1e-4)
    torch.manual_seed(0)
    nm = GSMPP(DataSpec("node", num_features=4, num_classes=3), hidden=32).eval()
    assert torch.allclose(nm(d)["logit"][perm], nm(d2)["logit"], atol=1e-4)


def test_config_errors() -> None:
    spec, _ = tiny_problem("graph")
    with pytest.raises(ConfigError):
        GSMPP(spec, tokenizers=("node", "bogus"))
    with pytest.raises(ConfigError):
        GSMPP(DataSpec("ctr", num_classes=2))


# ---------------------------------------------------------------- learning check
def _cycle_or_path(n: int, cycle: bool, seed: int) -> Data:
    p = torch.randperm(n, generator=torch.Generator().manual_seed(seed))
    src = torch.arange(n - 1 + int(cycle))
    dst = (src + 1) % n
    ei = p[torch.stack([torch.cat([src, dst]), torch.cat([dst, src])])]
    return Data(x=torch.ones(n, 1), edge_index=ei, y=torch.tensor([int(cycle)]), num_nodes=n)


def test_learns_cycles_vs_paths() -> None:
    torch.manual_seed(0)
    graphs = [_cycle_or_path(5 + i % 7, i % 2 == 0, i) for i in range(40)]
    train, test = Batch.from_data_list(graphs[:24]), Batch.from_data_list(graphs[24:])
    m = GSMPP(DataSpec("graph", num_features=1, num_classes=2), hidden=16, tokenization="hac_dfs", heads=2,
              local_mpnn="gine", num_ssm_layers=1, d_state=4, expand=1, dropout=0.0, readout="sum")
    opt = torch.optim.Adam(m.parameters(), lr=1e-2)
    for _ in range(30):
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(m(train)["logit"], train.y)
        loss.backward()
        opt.step()
    m.eval()
    with torch.no_grad():
        acc = (m(test)["logit"].argmax(-1) == test.y).float().mean().item()
    assert acc >= 0.8  # chance is 0.5


# ---------------------------------------------------------------- colour counting (spec (e) 2)
_COLOURS, _MAX_COUNT = 2, 6


def _colour_graph(n: int, seed: int) -> Data:
    """Random tree on ``n`` nodes, each node one of ``_COLOURS`` colours (one-hot ``x``);
    ``y [1, _COLOURS]`` = number of nodes of each colour."""
    g = torch.Generator().manual_seed(seed)
    col = torch.randint(0, _COLOURS, (n,), generator=g)
    src = torch.arange(1, n)
    dst = (torch.rand(n - 1, generator=g) * src).long()
    ei = torch.stack([torch.cat([src, dst]), torch.cat([dst, src])])
    y = torch.bincount(col, minlength=_COLOURS).view(1, _COLOURS)
    return Data(x=torch.nn.functional.one_hot(col, _COLOURS).float(), edge_index=ei, y=y, num_nodes=n)


def _doubled(d: Data) -> Data:
    """Two disjoint copies of ``d``: the same colour proportions, twice the counts."""
    n = d.num_nodes
    return Data(x=torch.cat([d.x, d.x]), edge_index=torch.cat([d.edge_index, d.edge_index + n], 1), y=2 * d.y,
                num_nodes=2 * n)


def _train_colour_counter(make: Callable[[DataSpec], torch.nn.Module], seed: int, steps: int = 150) -> tuple[float, float]:
    """Train ``make(spec)`` to count the nodes of each colour; returns (accuracy, max |logit(G) - logit(2G)|).

    Train: 192 graphs, half random trees with 1-6 nodes, half two copies of a 1-3 node tree.
    Test: 64 held-out pairs (G, G+G) with G of 1-3 nodes. Accuracy = all colour counts exact.
    """
    g = torch.Generator().manual_seed(seed)

    def size(hi: int) -> int:
        return int(torch.randint(1, hi + 1, (1,), generator=g))

    train = [_doubled(_colour_graph(size(3), 10_000 * seed + i)) if i % 2 else _colour_graph(size(6), 10_000 * seed + i)
             for i in range(192)]
    base = [_colour_graph(size(3), 10_000 * seed + 5_000 + i) for i in range(64)]
    tr, te1, te2 = (Batch.from_data_list(x) for x in (train, base, [_doubled(d) for d in base]))
    torch.manual_seed(seed)
    # logits [G, colours * (max_count + 1)]: one count classifier per colour
    m = make(DataSpec("graph", num_features=_COLOURS, num_classes=_COLOURS * (_MAX_COUNT + 1)))
    opt = torch.optim.Adam(m.parameters(), lr=1e-2)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=1e-2, total_steps=steps, pct_start=0.2)
    for _ in range(steps):
        opt.zero_grad()
        logit = m(tr)["logit"].view(-1, _MAX_COUNT + 1)
        torch.nn.functional.cross_entropy(logit, tr.y.reshape(-1)).backward()
        opt.step()
        sched.step()
    m.eval()
    with torch.no_grad():
        l1, l2 = m(te1)["logit"], m(te2)["logit"]
        hits = [(lg.view(-1, _COLOURS, _MAX_COUNT + 1).argmax(-1) == b.y).all(1) for lg, b in ((l1, te1), (l2, te2))]
    return torch.cat(hits).float().mean().item(), (l1 - l2).abs().max().item()


def test_colour_counting_hybrid_counts_transformer_without_pe_cannot() -> None:
    """Spec (e) 2 / Theorem 1 setting: count the nodes of each colour on small random graphs.

    Node tokenization, no local MPNN and no PE, so the global encoder alone sees the
    colour sequence. Softmax attention without PE + mean readout is a function of the
    colour *proportions* only: G and two copies of G get identical logits, so on the
    (G, G+G) test pairs at most one of each pair can be right (accuracy <= 0.5). The
    recurrent (SSM) path of the hybrid breaks this symmetry and counts.
    Measured (1 thread, seeds 0-2): hybrid 0.98-1.0, gsm_ssm 0.99-1.0, Transformer 0.45-0.48.
    """
    common = {"hidden": 16, "local_mpnn": "none", "tokenization": "node", "use_pe": False, "dropout": 0.0}
    acc_tr, gap_tr = _train_colour_counter(lambda s: GSMTransformer(s, num_layers=2, heads=2, **common), seed=0)
    acc_hy, gap_hy = _train_colour_counter(
        lambda s: GSMPP(s, backbone="hybrid", num_ssm_layers=1, num_attn_layers=1, heads=2, d_state=4, expand=1,
                        **common), seed=0)
    assert gap_tr < 1e-4  # no PE: blind to the number of nodes
    assert acc_tr <= 0.5
    assert gap_hy > 1.0
    assert acc_hy >= 0.95


def test_transformer_layer_is_softmax_attention_with_bias_and_key_mask() -> None:
    """The fused attention equals ``softmax(QKᵀ/√d + bias, keys masked) V``; a sequence of padding only stays
    finite (its outputs are never read, but a NaN there would poison the gradients)."""
    import math

    from plexus.gnn.gsm.encoders import TransformerLayer

    torch.manual_seed(0)
    layer = TransformerLayer(32, heads=4).eval()
    x, bias = torch.randn(3, 10, 32), torch.randn(3, 4, 10, 10)
    mask = torch.ones(3, 10, dtype=torch.bool)
    mask[1, 6:] = False
    mask[2] = False
    q, k, v = layer.qkv(layer.norm1(x)).view(3, 10, 3, 4, 8).permute(2, 0, 3, 1, 4)
    att = (q @ k.transpose(-1, -2) / math.sqrt(8) + bias).masked_fill(~mask[:, None, None, :], float("-inf"))
    ref = x + layer.out((torch.softmax(att, -1) @ v).transpose(1, 2).reshape(3, 10, 32))
    ref = ref + layer.ffn(layer.norm2(ref))
    got = layer(x, mask, bias)
    assert torch.allclose(got[mask], ref[mask], atol=1e-5)
    assert torch.isfinite(got).all()
    layer.train()
    x.requires_grad_(True)
    layer(x, mask, bias).sum().backward()
    assert torch.isfinite(x.grad).all()


@pytest.mark.parametrize("backbone", ["hybrid", "ssm", "transformer"])
@pytest.mark.parametrize("left", [False, True])
def test_length_buckets_change_no_output_at_real_tokens(backbone: str, left: bool) -> None:
    """Sequences of mixed lengths run in trimmed buckets; outputs at real tokens and the gradients equal one
    padded call (right padding: node/BFS sequences; left padding: DFS paths)."""
    from plexus.gnn.gsm.encoders import SequenceEncoder

    torch.manual_seed(0)
    enc = SequenceEncoder(16, backbone, heads=2, chunk_size=1).eval()
    lengths = torch.tensor([1, 2, 3, 40, 5, 64, 9, 17, 2, 33])
    L = int(lengths.max())
    pos = torch.arange(L)
    mask = (pos >= L - lengths[:, None]) if left else (pos < lengths[:, None])
    x = torch.randn(len(lengths), L, 16, requires_grad=True)
    bias = torch.randn(len(lengths), 2, L, L, requires_grad=True) if backbone != "ssm" else None
    got = enc(x, mask, bias)
    ref = enc._encode(x, mask, bias)
    assert torch.allclose(got[mask], ref[mask], atol=1e-5)
    assert bool((got[~mask] == 0).all())
    g1 = torch.autograd.grad(got[mask].square().sum(), [x] + ([bias] if bias is not None else []))
    g2 = torch.autograd.grad(ref[mask].square().sum(), [x] + ([bias] if bias is not None else []))
    for a, b in zip(g1, g2):
        assert torch.allclose(a, b, atol=1e-5)


def test_bias_pieces_equal_the_dense_padded_bias_in_values_and_gradients() -> None:
    """Length buckets built from per-sequence bias pieces give the outputs and piece gradients of one dense
    ``[B, H, L, L]`` bias (the pieces sit at the top-left of right-padded sequences)."""
    from plexus.gnn.gsm.encoders import BiasPieces, SequenceEncoder

    torch.manual_seed(0)
    enc = SequenceEncoder(16, "hybrid", heads=2, chunk_size=1).eval()
    lengths = [1, 2, 3, 40, 5, 64, 9, 17, 2, 33]
    L = max(lengths)
    mask = torch.arange(L) < torch.tensor(lengths)[:, None]
    x = torch.randn(len(lengths), L, 16)
    pieces = [torch.randn(2, n, n, requires_grad=True) if i != 4 else None for i, n in enumerate(lengths)]
    bp = BiasPieces(pieces, L, 2, x)
    dense = bp.dense()
    assert dense.shape == (len(lengths), 2, L, L)
    assert bool((dense[4] == 0).all()) and torch.equal(dense[3, :, :40, :40], pieces[3])
    assert torch.equal(bp.select([5, 3], 2, 50), dense[[5, 3]][:, :, 2:50, 2:50])
    assert bp.select([4], 0, 5) is None and bp.select([1, 2], 3, 8) is None  # no bias there: no zeros built
    got = enc(x, mask, bp)
    ref = enc._encode(x, mask, dense)
    assert torch.allclose(got[mask], ref[mask], atol=1e-5)
    live = [p for p in pieces if p is not None]
    g1 = torch.autograd.grad(got[mask].square().sum(), live)
    g2 = torch.autograd.grad(ref[mask].square().sum(), live)
    for a, b in zip(g1, g2):
        assert torch.allclose(a, b, atol=1e-5)


def test_sparse_mot_encodes_only_selected_nodes_with_identical_outputs_and_gradients() -> None:
    """Per-node tokenizers run only the nodes whose top-k includes them; a node's unselected slot is gated to
    0, so logits and every gradient equal the dense computation (all nodes encoded by every tokenizer)."""
    graphs = [random_graph(n, 2 * n, 3, seed) for seed, n in enumerate([7, 12, 20, 9, 15])]
    batch = Batch.from_data_list([Data(x=g.x, edge_index=g.edge_index, y=torch.tensor([i % 2])) for i, g in enumerate(graphs)])
    spec = DataSpec(task="graph", num_features=3, num_classes=2)
    torch.manual_seed(0)
    m = GSMPP(spec, hidden=16, heads=2, d_state=4, dropout=0.0, tokenizers=("node", "khop", "rw", "hac_dfs", "hac_bfs"))
    m.train()
    h = m.local(m.inp(batch.x) + m.pe.absolute(m.plan(batch).pe_index), batch.edge_index)
    gates = m.router.gates(h)
    per_node = [t for t, tok in enumerate(m.toks) if tok.per_node]
    assert [m.names[t] for t in per_node] == ["khop", "rw", "hac_dfs"]
    assert any(0 < int(gates[:, t].gt(0).sum()) < batch.num_nodes for t in per_node)  # a real subset runs

    def run() -> tuple[torch.Tensor, list[torch.Tensor]]:
        m.zero_grad()
        torch.manual_seed(1)  # the same random walks
        out = m(batch)["logit"]
        out.square().sum().backward()
        return out.detach(), [p.grad.clone() for p in m.parameters() if p.grad is not None]

    sparse_out, sparse_grads = run()
    for t in per_node:
        m.toks[t].per_node = False
    dense_out, dense_grads = run()
    assert torch.allclose(sparse_out, dense_out, atol=1e-5)
    assert len(sparse_grads) == len(dense_grads)
    for a, b in zip(sparse_grads, dense_grads):
        assert torch.allclose(a, b, atol=1e-5)


@pytest.mark.parametrize("tokenization", ["mot", "hac_dfs", "hac_bfs"])
def test_out_index_returns_the_full_outputs_rows_with_identical_gradients(tokenization: str) -> None:
    """Node task: with ``out_index`` the model encodes per-node sequences of those nodes only; the logits are
    the full output's rows and a loss on them gives the same gradients (the NodeTask train/eval path)."""
    g = random_graph(40, 90, 3, seed=3)
    spec = DataSpec(task="node", num_features=3, num_classes=3)
    torch.manual_seed(0)
    m = GSMPP(spec, hidden=16, heads=2, d_state=4, dropout=0.0, tokenization=tokenization)
    idx = torch.tensor([31, 2, 17, 5, 38, 0, 22])

    def run(data: Data) -> tuple[torch.Tensor, list[torch.Tensor]]:
        m.zero_grad()
        out = m(data)["logit"]
        rows = out if getattr(data, "out_index", None) is not None else out[idx]
        rows.square().sum().backward()
        return rows.detach(), [p.grad.clone() for p in m.parameters() if p.grad is not None]

    full_rows, full_grads = run(g)
    sub = g.clone()
    sub.out_index = idx
    sub_rows, sub_grads = run(sub)
    assert sub_rows.shape == (idx.numel(), 3)
    assert torch.allclose(sub_rows, full_rows, atol=1e-5)
    assert len(sub_grads) == len(full_grads)
    for a, b in zip(sub_grads, full_grads):
        assert torch.allclose(a, b, atol=1e-5)
    m.eval()
    with torch.no_grad():
        assert torch.allclose(m(sub)["logit"], m(g)["logit"][idx], atol=1e-5)
