"""Correctness checks for EvolveGCN-H / -O (spec: docs/models/evolvegcn.md, section (e))."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest
import torch
from plexus.gnn.evolvegcn import EvolveGCNH, EvolveGCNO, MatrixGRU, MatrixLSTM, TopKSummary
from plexus.platform.data._types import SnapshotBatch
from plexus.platform.errors import ConfigError, DataError
from plexus.platform.spec import DataSpec
from plexus.platform.testing import tiny_problem
from sklearn.metrics import average_precision_score
from torch_geometric.data import Data

VARIANTS = [(EvolveGCNH, {}), (EvolveGCNO, {"cell": "lstm"}), (EvolveGCNO, {"cell": "gru"})]
IDS = ["H", "O-lstm", "O-gru"]


def _make(cls: type, kind: str = "dynlink", **kw: object) -> tuple[torch.nn.Module, SnapshotBatch]:
    spec, batch = tiny_problem(kind)
    torch.manual_seed(0)
    return cls(spec, hidden_dim=6, layer_2_dim=5, cls_feats=8, **kw), batch


def _dense_gcn(snap: Data, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    """relu(D̃^{-1/2}(A + I)D̃^{-1/2} X W) with dense matrices; A = W + W^T (the models' weighted undirected default)."""
    n = snap.num_nodes
    a = torch.zeros(n, n)
    ew = getattr(snap, "edge_weight", None)
    ew = torch.ones(snap.edge_index.size(1)) if ew is None else ew.float()
    a.index_put_((snap.edge_index[0], snap.edge_index[1]), ew, accumulate=True)
    a = a + a.t()
    a.fill_diagonal_(1.0)
    dinv = a.sum(0).pow(-0.5)
    return torch.relu(dinv[:, None] * a * dinv[None, :] @ x @ w)


@pytest.mark.parametrize("kind", ["dynlink", "edge"])
@pytest.mark.parametrize(("cls", "kw"), VARIANTS, ids=IDS)
def test_tiny_problem_shapes_and_grads_reach_rnn(cls: type, kw: dict, kind: str) -> None:
    m, batch = _make(cls, kind, **kw)
    out = m(batch)["logit"]
    p = batch.edge_label_index.size(1)
    assert out.shape == ((p,) if kind == "dynlink" else (p, 2))
    out.sum().backward()
    for name, prm in m.named_parameters():
        assert prm.grad is not None and torch.isfinite(prm.grad).all(), name
    for layer in m.layers:  # gradients flow through the RNN into W_0
        assert layer.W0.grad.abs().sum() > 0
        assert sum(float(q.grad.abs().sum()) for q in layer.rnn.parameters()) > 0
    m.eval()  # RReLU is random in training mode
    h = m.node_embeddings(batch.snapshots)
    assert h.shape == (15, 5)
    assert torch.allclose(m.score_pairs(h, batch.edge_label_index), m(batch)["logit"])
    # the split first layer used for ranking all pairs is the same function, in blocks and in one piece
    from plexus.gnn import evolvegcn

    many = torch.cartesian_prod(torch.arange(15), torch.arange(15)).t().repeat(1, 10)  # > one block of pairs
    assert many.size(1) > evolvegcn._SCORE_BLOCK
    with torch.no_grad():
        blocked = m.pair_scorer(h)(many)
    whole = m.pair_scorer(h)(many)
    assert blocked.shape == whole.shape == m.score_pairs(h, many).shape
    assert torch.allclose(blocked, m.score_pairs(h, many), atol=1e-5)
    assert torch.allclose(whole, m.score_pairs(h, many), atol=1e-5)


@pytest.mark.parametrize(("cls", "kw"), VARIANTS, ids=IDS)
def test_gcn_weights_are_evolved_not_parameters(cls: type, kw: dict) -> None:
    m, batch = _make(cls, activation="relu", **kw)
    weights = m.evolved_weights(batch.snapshots)
    params = list(m.parameters())
    for layer, ws in zip(m.layers, weights):
        assert len(ws) == 3
        for w in ws:
            assert not isinstance(w, torch.nn.Parameter) and w.grad_fn is not None
            assert not any(w is q for q in params) and not torch.allclose(w, layer.W0)
        assert not torch.allclose(ws[0], ws[1]) and not torch.allclose(ws[1], ws[2])  # they evolve
    # the output is exactly the 2-layer GCN run with the evolved W_t^{(l)} at each step
    xs = [s.x for s in batch.snapshots]
    for ws in weights:
        xs = [_dense_gcn(s, x, w) for s, x, w in zip(batch.snapshots, xs, ws)]
    assert torch.allclose(m.node_embeddings(batch.snapshots), xs[-1], atol=1e-5)


@pytest.mark.parametrize(("cls", "kw"), [VARIANTS[0], VARIANTS[2]], ids=["H", "O-gru"])
def test_closed_update_gate_reduces_to_static_gcn(cls: type, kw: dict) -> None:
    m, batch = _make(cls, activation="relu", **kw)
    with torch.no_grad():
        for layer in m.layers:
            layer.rnn.update.bias.fill_(-1e4)  # Z = σ(−∞) = 0 ⇒ W_t = W_{t−1}
    for layer, ws in zip(m.layers, m.evolved_weights(batch.snapshots)):
        assert all(torch.equal(w, layer.W0) for w in ws)
    last = batch.snapshots[-1]
    ref = _dense_gcn(last, _dense_gcn(last, last.x, m.layers[0].W0), m.layers[1].W0)
    assert torch.allclose(m.node_embeddings(batch.snapshots), ref, atol=1e-5)


def test_topk_summary_picks_top_scored_valid_nodes() -> None:
    torch.manual_seed(0)
    s = TopKSummary(4, 3)
    x = torch.randn(10, 4)
    mask = torch.ones(10, dtype=torch.bool)
    mask[[2, 7]] = False
    x[2] = 10 * s.p.detach().view(-1)  # the best-scored node has no edge: must be skipped
    y = ((x @ s.p).view(-1) / s.p.norm()).detach()
    _, idx = s.indices(x, mask)
    expect = [i for i in torch.argsort(y, descending=True).tolist() if mask[i]][:3]
    assert idx.tolist() == expect and 2 not in expect
    z = s(x, mask)
    assert z.shape == (4, 3)
    assert torch.allclose(z, (x[expect] * torch.tanh(y[expect]).unsqueeze(-1)).t())
    few = torch.zeros(10, dtype=torch.bool)
    few[[1, 5]] = True  # fewer valid nodes than k: pad with the last valid index
    _, idx = s.indices(x, few)
    top2 = sorted([1, 5], key=lambda i: -float(y[i]))
    assert idx.tolist() == top2 + [top2[-1]]


def test_matrix_cells_follow_their_equations() -> None:
    torch.manual_seed(0)
    x, h, c = torch.randn(4, 3), torch.randn(4, 3), torch.randn(4, 3)
    gru = MatrixGRU(4, 3)
    with torch.no_grad():
        for gate in (gru.update, gru.reset, gru.htilde):
            gate.bias.normal_()

    def lin(g: torch.nn.Module, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        return g.W @ a + g.U @ b + g.bias

    z, r = torch.sigmoid(lin(gru.update, x, h)), torch.sigmoid(lin(gru.reset, x, h))
    ref = (1 - z) * h + z * torch.tanh(lin(gru.htilde, x, r * h))
    assert torch.allclose(gru(x, h), ref, atol=1e-6)
    lstm = MatrixLSTM(4, 3)
    f, i, o = (torch.sigmoid(lin(g, x, h)) for g in (lstm.forget, lstm.input, lstm.output))
    c_ref = f * c + i * torch.tanh(lin(lstm.cand, x, h))
    h_new, c_new = lstm(x, h, c)
    assert torch.allclose(c_new, c_ref, atol=1e-6) and torch.allclose(h_new, o * torch.tanh(c_ref), atol=1e-6)


def _reference_h(m: EvolveGCNH, snaps: list[Data], *, masked: bool = True, swap_gru: bool = False,
                 weighted: bool = True) -> tuple[torch.Tensor, list[list[torch.Tensor]]]:
    """EvolveGCN-H from the reference code's equations (IBM ``egcn_h.py`` GRCU / mat_GRU_cell / TopK,
    ``taskers_utils.py`` get_node_mask / normalize_adj), dense, with the parameters of ``m``.

    Per step t and layer: A[u, v] = A[v, u] = the summed event counts of {u, v} (the loaders add every event
    reversed); Â = D^-1/2 (I + A) D^-1/2 with D the row sums; mask = -inf for nodes without an edge at t, else 0
    (the same mask in both layers); y = X p/||p|| + mask; top-k of y (k = layer width), the -inf entries dropped,
    padded with the last kept index; Z = (X[idx] ∘ tanh(y[idx]))^T; W_t = GRU(input Z, hidden W_{t-1}) with each
    gate act(W Z + U H + B); then H = rrelu(Â X W_t) (RReLU's deterministic slope, as in ``eval()``)."""
    n = snaps[0].num_nodes
    mats, masks = [], []
    for s in snaps:
        a = torch.zeros(n, n)
        w = s.edge_weight if weighted else torch.ones(s.edge_index.size(1))
        a.index_put_((s.edge_index[0], s.edge_index[1]), w, accumulate=True)
        a = a + a.t() + torch.eye(n)
        d = a.sum(1).pow(-0.5)
        mats.append(d[:, None] * a * d[None, :])
        mask = torch.full((n,), float("-inf"))
        mask[s.edge_index.reshape(-1)] = 0.0
        masks.append(mask if masked else torch.zeros(n))

    def gate(g: torch.nn.Module, act: Callable, z: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
        return act(g.W @ z + g.U @ h + g.bias)

    xs, weights = [s.x.float() for s in snaps], []
    for layer in m.layers:
        w, p, k, ws, outs = layer.W0, layer.summary.p, layer.W0.size(1), [], []
        cell = layer.rnn
        for a_hat, x, mask in zip(mats, xs, masks):
            y = (x @ p).view(-1) / p.norm() + mask
            vals, idx = y.topk(k)
            idx = idx[vals > float("-inf")]
            idx = torch.cat([idx, idx[-1].repeat(k - idx.numel())])
            z = (x[idx] * torch.tanh(y[idx]).view(-1, 1)).t()
            inp, hid = (w, z) if swap_gru else (z, w)
            upd, rst = gate(cell.update, torch.sigmoid, inp, hid), gate(cell.reset, torch.sigmoid, inp, hid)
            w = (1 - upd) * hid + upd * gate(cell.htilde, torch.tanh, inp, rst * hid)
            ws.append(w)
            outs.append(torch.nn.functional.rrelu(a_hat @ x @ w, training=False))
        xs = outs
        weights.append(ws)
    return xs[-1], weights


def test_evolvegcn_h_equals_the_reference_equations() -> None:
    """The whole -H forward against :func:`_reference_h` on a hand-made sequence: a node without edges has the best
    layer-1 score (the mask must skip it), one step has 2 active nodes for k = 3 and 4 (padding in both layers),
    repeated and reciprocal events carry counts (weighted, symmetrised Â)."""
    n, f = 8, 4
    spec = DataSpec("dynlink", num_features=f, num_nodes=n)
    torch.manual_seed(0)
    m = EvolveGCNH(spec, hidden_dim=3, layer_2_dim=4, cls_feats=5).eval()
    g = torch.Generator().manual_seed(3)
    edges = [
        ([[0, 1, 2, 3, 4, 2], [1, 2, 0, 4, 3, 1]], [1.0, 2.0, 1.0, 3.0, 1.0, 1.0]),  # 5, 6, 7 absent; (1,2)+(2,1)
        ([[5], [6]], [1.0]),  # two active nodes, fewer than k in both layers
        ([[1, 6, 2, 0], [5, 2, 6, 3]], [2.0, 1.0, 1.0, 1.0]),
    ]
    snaps = []
    for ei, ew in edges:
        x = torch.randn(n, f, generator=g)
        x[7] = 10 * m.layers[0].summary.p.detach().view(-1)  # the top raw score; node 7 never has an edge
        snaps.append(Data(x=x, edge_index=torch.tensor(ei), edge_weight=torch.tensor(ew), num_nodes=n))
    with torch.no_grad():
        ref, ref_w = _reference_h(m, snaps)
        got, got_w = m.node_embeddings(snaps), m.evolved_weights(snaps)
        assert torch.allclose(got, ref, atol=1e-5)
        for ws, rs in zip(got_w, ref_w):
            for w, r in zip(ws, rs):
                assert torch.allclose(w, r, atol=1e-5)
        # the comparison can tell: no mask, a swapped GRU (input <-> hidden) or binary Â give other embeddings
        for wrong in ({"masked": False}, {"swap_gru": True}, {"weighted": False}):
            assert not torch.allclose(_reference_h(m, snaps, **wrong)[0], ref, atol=1e-3), wrong


@pytest.mark.parametrize(("cls", "kw"), VARIANTS, ids=IDS)
def test_node_permutation_equivariance(cls: type, kw: dict) -> None:
    m, batch = _make(cls, **kw)
    m.eval()
    perm = torch.randperm(15, generator=torch.Generator().manual_seed(1))
    inv = torch.argsort(perm)  # new id of old node v is inv[v]
    snaps = [Data(x=s.x[perm], edge_index=inv[s.edge_index], edge_weight=s.edge_weight, num_nodes=15)
             for s in batch.snapshots]
    with torch.no_grad():
        h, hp = m.node_embeddings(batch.snapshots), m.node_embeddings(snaps)
        assert torch.allclose(hp, h[perm], atol=1e-5)
        s1 = m(batch)["logit"]
        s2 = m(SnapshotBatch(snaps, inv[batch.edge_label_index]))["logit"]
    assert torch.allclose(s1, s2, atol=1e-5)


def test_invalid_inputs_raise() -> None:
    spec, batch = tiny_problem("dynlink")
    with pytest.raises(ConfigError):
        EvolveGCNH(DataSpec("link", num_features=4))
    with pytest.raises(ConfigError):
        EvolveGCNH(DataSpec("edge", num_features=4, num_classes=0))
    m = EvolveGCNO(spec, hidden_dim=4, cls_feats=4, use_edge_weight=True)
    batch.snapshots[1].edge_weight = -torch.ones(batch.snapshots[1].edge_index.size(1))
    with pytest.raises(DataError, match="row 2"):
        m(batch)
    batch.snapshots[1].x = None
    with pytest.raises(DataError, match="field 'x'"):
        EvolveGCNO(spec, hidden_dim=4, cls_feats=4)(batch)


def test_edge_weights_enter_the_normalised_adjacency() -> None:
    spec, batch = tiny_problem("dynlink")
    outs = []
    for use in (False, True):
        torch.manual_seed(0)
        outs.append(
            EvolveGCNH(spec, hidden_dim=4, cls_feats=4, activation="relu", use_edge_weight=use).eval()
        )
    s = batch.snapshots[-1]
    s.edge_weight = torch.rand(s.edge_index.size(1), generator=torch.Generator().manual_seed(0)) + 0.5
    assert not torch.allclose(outs[0](batch)["logit"], outs[1](batch)["logit"])


def test_tiny_dynamic_sbm_map_above_density() -> None:
    g = torch.Generator().manual_seed(0)
    n, steps, hist = 100, 12, 3
    comm = torch.arange(n) % 2
    prob = torch.where(comm[:, None] == comm[None, :], 0.2, 0.01)
    snaps, adjs = [], []
    for _ in range(steps):  # edges resampled at every step
        a = torch.triu(torch.rand(n, n, generator=g) < prob, 1)
        a = a | a.t()
        adjs.append(a)
        snaps.append(Data(x=torch.eye(n), edge_index=a.nonzero().t(), num_nodes=n))
    torch.manual_seed(0)
    m = EvolveGCNH(DataSpec("dynlink", num_features=n, num_nodes=n), hidden_dim=32, cls_feats=64)
    opt = torch.optim.Adam(m.parameters(), lr=0.03)
    for it in range(60):
        t = hist + it % (steps - 2 - hist)  # targets at steps < the test step
        pos = snaps[t].edge_index
        pairs = torch.cat([pos, torch.randint(0, n, (2, 3 * pos.size(1)), generator=g)], 1)
        logit = m(SnapshotBatch(snaps[t - hist : t], pairs))["logit"]
        loss = torch.nn.functional.binary_cross_entropy_with_logits(
            logit, adjs[t][pairs[0], pairs[1]].float()
        )
        opt.zero_grad()
        loss.backward()
        opt.step()
    m.eval()
    t = steps - 1
    iu = torch.triu_indices(n, n, 1)  # all pairs of the test step
    with torch.no_grad():
        scores = m.score_pairs(m.node_embeddings(snaps[t - hist : t]), iu)
    y = adjs[t][iu[0], iu[1]].float()
    ap, density = average_precision_score(y.numpy(), scores.numpy()), float(y.mean())
    assert ap > 1.5 * density, (ap, density)  # random ranking gives AP ≈ density; optimum here ≈ 0.2


# ------------------------------------------------------------------ edge-sign task: reference protocol


def _edge_ds(steps: int = 8):
    from plexus.platform.data.graphs.temporal import dynamic_sbm

    ds = dynamic_sbm(num_nodes=30, steps=steps, split=(3, 2, 2), p_in=0.3)
    ds.spec.task, ds.spec.num_classes = "edge", 2
    comm = torch.tensor(ds.spec.extra["communities"])
    for s in ds.snapshots:
        s.edge_label = (comm[s.edge_index[0]] == comm[s.edge_index[1]]).long()
        s.edge_label_index = s.edge_index
    return ds


def test_edge_task_input_includes_the_target_step() -> None:
    """The labels of step t's edges are predicted from the embeddings at t (reference: snapshots t-h..t)."""
    from plexus.platform.config import TrainConfig
    from plexus.platform.training.tasks import EdgeTask

    ds = _edge_ds()
    task = EdgeTask(ds, TrainConfig())
    t = ds.steps["test"][-1]
    batch, y = task._batch(t, torch.device("cpu"))
    assert batch.snapshots[-1] is ds.snapshots[t]
    assert len(batch.snapshots) == min(t, task.window) + 1
    assert torch.equal(batch.edge_label_index, ds.snapshots[t].edge_label_index)
    assert torch.equal(y, ds.snapshots[t].edge_label)
    torch.manual_seed(0)
    m = EvolveGCNH(ds.spec, hidden_dim=4, cls_feats=4).eval()
    res = task.evaluate(m, "test", torch.device("cpu"))
    assert set(res) == {"test_f1_micro", "test_minority_f1", "test_minority_auc", "test_f1_micro_thr",
                        "test_minority_f1_thr", "test_threshold"}
    assert 0.0 <= res["test_minority_auc"] <= 1.0


def test_edge_task_class_weights_are_fixed_not_per_step() -> None:
    """Loss = mean_i w[y_i] CE_i with fixed w (reference ``Cross_Entropy``), not rebalanced on each step's labels."""
    from plexus.platform.config import TrainConfig
    from plexus.platform.training.tasks import EdgeTask

    ds = _edge_ds()
    logit = torch.randn(6, 2, generator=torch.Generator().manual_seed(0))
    y = torch.tensor([0, 1, 1, 1, 1, 1])
    ce = torch.nn.functional.cross_entropy(logit, y, reduction="none")
    w = torch.tensor([0.8, 0.2])
    task = EdgeTask(ds, TrainConfig(class_weights=[0.8, 0.2]))
    assert torch.allclose(task.loss({"logit": logit}, y), (w[y] * ce).mean())
    ds.spec.extra["class_weights"] = [0.8, 0.2]  # the dataset's reference weights are the default
    assert torch.allclose(EdgeTask(ds, TrainConfig()).loss({"logit": logit}, y), (w[y] * ce).mean())
    del ds.spec.extra["class_weights"]  # else: inverse frequency over *all* training labels, the same every step
    task = EdgeTask(ds, TrainConfig())
    ys = torch.cat([ds.snapshots[t].edge_label for t in ds.steps["train"]])
    cnt = torch.bincount(ys, minlength=2).float()
    assert torch.allclose(task.class_weights(), cnt.sum() / cnt / 2)
    with pytest.raises(ConfigError):
        TrainConfig(class_weights=[1.0])


def test_bitcoin_edge_task_declares_reference_class_weights() -> None:
    from plexus.platform.data.service import load_dataset
    from plexus.platform.errors import PlexusError

    try:
        ds = load_dataset("bitcoin-alpha", task="edge")
    except PlexusError as exc:  # raw file absent
        pytest.skip(f"bitcoin-alpha not available: {exc}")
    assert ds.spec.extra["class_weights"] == [0.8, 0.2]
    y = torch.cat([ds.snapshots[t].edge_label for t in ds.steps["train"]])
    assert float((y == 0).float().mean()) < 0.5  # class 0 (distrust) is the minority one the weights favour


def test_undirected_adjacency_lets_sources_receive_messages() -> None:
    """Reference loaders add every edge reversed: a node that only has out-edges still aggregates neighbours."""
    spec = DataSpec("dynlink", num_features=3, num_nodes=3)
    ei = torch.tensor([[0], [1]])  # 0 -> 1 only
    snaps = [Data(x=torch.eye(3), edge_index=ei, edge_weight=torch.tensor([2.0]), num_nodes=3)]
    outs = {}
    for und in (False, True):
        torch.manual_seed(0)
        m = EvolveGCNO(spec, hidden_dim=4, cls_feats=4, activation="relu", undirected=und, use_edge_weight=False)
        x = torch.eye(3)
        x[1] = 5.0  # node 1's features change; does node 0 see it?
        h0 = m.node_embeddings(snaps)
        h1 = m.node_embeddings([Data(x=x, edge_index=ei, num_nodes=3)])
        outs[und] = not torch.allclose(h0[0], h1[0])
    assert outs == {False: False, True: True}
    m = EvolveGCNO(spec, hidden_dim=4, cls_feats=4)
    assert m.undirected and m.use_edge_weight  # the reference's choices are the defaults


def test_dynlink_fixed_class_weights_follow_the_reference_loss() -> None:
    """``train.class_weights`` [non-edge, edge] give mean_i w[y_i] BCE_i; unset, the classes are balanced."""
    from plexus.platform.config import TrainConfig
    from plexus.platform.data.graphs.temporal import dynamic_sbm
    from plexus.platform.training.tasks import DynLinkTask

    ds = dynamic_sbm(num_nodes=20, steps=6, split=(2, 1, 1))
    logit = torch.randn(8, generator=torch.Generator().manual_seed(1))
    y = torch.tensor([1.0, 1.0, 0, 0, 0, 0, 0, 0])
    bce = torch.nn.functional.binary_cross_entropy_with_logits(logit, y, reduction="none")
    w = torch.where(y > 0, 0.9, 0.1)
    got = DynLinkTask(ds, TrainConfig(class_weights=[0.1, 0.9])).loss({"logit": logit}, y)
    assert torch.allclose(got, (w * bce).mean())
    bal = DynLinkTask(ds, TrainConfig()).loss({"logit": logit}, y)  # positives weighted by #neg / #pos = 3
    assert torch.allclose(bal, (torch.where(y > 0, 3.0, 1.0) * bce).mean())
    with pytest.raises(ConfigError):
        DynLinkTask(ds, TrainConfig(class_weights=[0.1, 0.2, 0.7])).loss({"logit": logit}, y)


def test_dynlink_active_negatives_come_from_the_window() -> None:
    from plexus.platform.config import TrainConfig
    from plexus.platform.data.graphs.temporal import dynamic_sbm
    from plexus.platform.training.tasks import DynLinkTask

    ds = dynamic_sbm(num_nodes=60, steps=8, split=(4, 1, 1), p_in=0.05, p_out=0.0)
    task = DynLinkTask(ds, TrainConfig(num_neg=3, neg_sampling="active"))
    steps = [t for t in ds.steps["train"] if t > 0 and task.targets(t).size(1)]
    batches = list(task.train_batches(0, torch.device("cpu")))
    assert len(batches) == len(steps)
    for batch, y in batches:
        t = next(t for t in steps if task.history(t)[-1] is batch.snapshots[-1])
        pos, neg = batch.edge_label_index[:, y > 0], batch.edge_label_index[:, y == 0]
        assert torch.equal(pos, task.targets(t)) and 0 < neg.size(1) <= 3 * pos.size(1)
        active = set(torch.cat([s.edge_index.reshape(-1) for s in task.history(t)]).tolist())
        assert set(neg[0].tolist()) <= set(pos[0].tolist()) and set(neg[1].tolist()) <= active
    with pytest.raises(ConfigError):
        TrainConfig(neg_sampling="hard")


def _signed_ds(num_nodes: int = 40, steps: int = 16, bad: int = 6, seed: int = 0):
    """Random pairs each step; a pair is distrust (0) when it touches one of ``bad`` fixed nodes: the sign is
    predictable from node identity (identity features), and distrust is the minority (about 27 %)."""
    from plexus.platform.data.graphs.temporal import temporal_dataset

    g = torch.Generator().manual_seed(seed)
    src = torch.randint(0, num_nodes, (steps * 40,), generator=g)
    dst = (src + torch.randint(1, num_nodes, (steps * 40,), generator=g)) % num_nodes
    time = torch.arange(steps).repeat_interleave(40).double()
    label = ((src >= bad) & (dst >= bad)).long()
    return temporal_dataset({"source": src, "target": dst, "time": time, "label": label}, "signed", task="edge",
                            window=1.0, steps=(9, 3, 3), features="identity", edge_targets="pairs")


class _RankOnly(torch.nn.Module):
    """Ranks distrust pairs first but never gives them a probability above 0.2 (the weighted argmax's bar)."""

    def __init__(self, bad: int) -> None:
        super().__init__()
        self.bad = bad

    def forward(self, batch):
        e = batch.edge_label_index
        hit = ((e[0] < self.bad) | (e[1] < self.bad)).float()
        return {"logit": torch.stack([-3.0 + hit, torch.zeros_like(hit)], 1)}


def test_edge_task_threshold_is_chosen_on_validation_and_recovers_a_ranking_minority() -> None:
    """A model that ranks the minority first but whose argmax is always the majority: argmax minority F1 is 0
    (every Bitcoin row was all-trust), the validation-chosen threshold finds the minority on test."""
    from plexus.platform.config import TrainConfig
    from plexus.platform.training.tasks import EdgeTask, val_threshold

    ds = _signed_ds()
    task = EdgeTask(ds, TrainConfig())
    assert task.monitor == "val_minority_auc"
    res = task.evaluate(_RankOnly(6), "test", torch.device("cpu"))
    assert res["test_minority_f1"] == 0.0 and res["test_minority_f1_thr"] == 1.0 and res["test_f1_micro_thr"] == 1.0
    assert 0.0 < res["test_threshold"] < 0.5
    assert val_threshold(np.array([0.9, 0.8, 0.8, 0.1]), np.array([1, 1, 0, 0])) == 0.8  # F1 0.8 beats 2/3
    assert val_threshold(np.array([0.9, 0.9, 0.1]), np.array([1, 0, 0])) == 0.9  # no cut inside equal scores
    assert val_threshold(np.array([0.3, 0.2]), np.array([0, 0])) == float("inf")


def test_edge_task_learns_a_sign_predictable_from_node_identity() -> None:
    """Trained end to end with the reference's weights [0.8, 0.2], EvolveGCN-O finds the distrust pairs of the
    later (test) steps: minority F1 > 0 and micro F1 above the all-trust rate."""
    from plexus.platform.config import TrainConfig
    from plexus.platform.training.tasks import EdgeTask
    from plexus.platform.training.trainer import Trainer

    ds = _signed_ds()
    ds.spec.extra["class_weights"] = [0.8, 0.2]
    torch.manual_seed(0)
    model = EvolveGCNO(ds.spec, hidden_dim=8, cls_feats=16)
    cfg = TrainConfig(epochs=30, lr=0.01, patience=0, seed=0)
    res = Trainer(model, EdgeTask(ds, cfg), cfg).fit()["metrics"]
    y = torch.cat([ds.snapshots[t].edge_label for t in ds.steps["test"]])
    assert res["test_minority_f1_thr"] > 0.5 and res["test_f1_micro_thr"] > float(y.float().mean())
