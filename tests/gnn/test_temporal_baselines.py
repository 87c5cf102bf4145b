"""EvolveGCN's baselines: the static snapshot GCN and GCN-GRU (plexus.gnn.temporal_baselines)."""

from __future__ import annotations

import pytest
import torch
from plexus.gnn.evolvegcn import EvolveGCNO
from plexus.gnn.temporal_baselines import GCNGRU, SnapshotGCN
from plexus.platform.data._types import SnapshotBatch
from plexus.platform.errors import ConfigError, DataError
from plexus.platform.spec import DataSpec
from plexus.platform.testing import tiny_problem
from torch_geometric.data import Data

MODELS = [(SnapshotGCN, {}), (GCNGRU, {}), (GCNGRU, {"cell": "lstm", "rnn_dim": 7, "rnn_layers": 2})]
IDS = ["static", "gru", "lstm"]


def _make(cls: type, kind: str = "edge", **kw: object) -> tuple[torch.nn.Module, SnapshotBatch]:
    spec, batch = tiny_problem(kind)
    torch.manual_seed(0)
    return cls(spec, hidden_dim=6, layer_2_dim=5, cls_feats=8, **kw), batch


def _dense_gcn(snap: Data, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    """relu(D̃^{-1/2}(A + I)D̃^{-1/2} X W), dense; A = W + W^T (weighted, undirected: the defaults)."""
    n = snap.num_nodes
    a = torch.zeros(n, n)
    ew = getattr(snap, "edge_weight", None)
    ew = torch.ones(snap.edge_index.size(1)) if ew is None else ew.float()
    a.index_put_((snap.edge_index[0], snap.edge_index[1]), ew, accumulate=True)
    a = a + a.t()
    a.fill_diagonal_(1.0)
    dinv = a.sum(0).pow(-0.5)
    return torch.relu(dinv[:, None] * a * dinv[None, :] @ x @ w)


def _two_layers(m: torch.nn.Module, snap: Data) -> torch.Tensor:
    w1, w2 = m.gcn.weights
    return _dense_gcn(snap, _dense_gcn(snap, snap.x, w1), w2)


@pytest.mark.parametrize("kind", ["dynlink", "edge"])
@pytest.mark.parametrize(("cls", "kw"), MODELS, ids=IDS)
def test_shapes_head_and_gradients(cls: type, kw: dict, kind: str) -> None:
    m, batch = _make(cls, kind, **kw)
    out = m(batch)["logit"]
    p = batch.edge_label_index.size(1)
    assert out.shape == ((p,) if kind == "dynlink" else (p, 2))
    out.sum().backward()
    for name, prm in m.named_parameters():  # the shared GCN weights, the RNN and the head all learn
        assert prm.grad is not None and torch.isfinite(prm.grad).all() and prm.grad.abs().sum() > 0, name
    m.eval()
    h = m.node_embeddings(batch.snapshots)
    assert h.shape == (15, kw.get("rnn_dim", 5))
    assert torch.allclose(m.score_pairs(h, batch.edge_label_index), m(batch)["logit"])
    # EvolveGCN's head: the same MLP layout on [h_u || h_v], and the split scorer it uses to rank all pairs
    ref = EvolveGCNO(tiny_problem(kind)[0], hidden_dim=6, layer_2_dim=h.size(1), cls_feats=8)
    assert [tuple(p.shape) for p in m.classifier.parameters()] == [tuple(p.shape) for p in ref.classifier.parameters()]
    many = torch.cartesian_prod(torch.arange(15), torch.arange(15)).t().repeat(1, 10)
    with torch.no_grad():
        assert torch.allclose(m.pair_scorer(h)(many), m.score_pairs(h, many), atol=1e-5)


def test_static_gcn_is_a_two_layer_gcn_of_the_last_snapshot_only() -> None:
    m, batch = _make(SnapshotGCN, activation="relu")
    last = batch.snapshots[-1]
    assert torch.allclose(m.node_embeddings(batch.snapshots), _two_layers(m, last), atol=1e-5)
    # earlier snapshots (edges and features) do not matter; the last one does
    g = torch.Generator().manual_seed(3)
    other = [Data(x=torch.randn_like(s.x), edge_index=torch.randint(0, 15, (2, 40), generator=g), num_nodes=15)
             for s in batch.snapshots[:-1]]
    with torch.no_grad():
        h = m.node_embeddings(batch.snapshots)
        assert torch.equal(m.node_embeddings(other + [last]), h)
        assert torch.equal(m.node_embeddings([last]), h)
        moved = Data(x=last.x + 1.0, edge_index=last.edge_index, edge_weight=last.edge_weight, num_nodes=15)
        assert not torch.allclose(m.node_embeddings(batch.snapshots[:-1] + [moved]), h)


@pytest.mark.parametrize("cell", ["gru", "lstm"])
def test_gcn_gru_runs_the_rnn_over_each_nodes_shared_gcn_embeddings(cell: str) -> None:
    m, batch = _make(GCNGRU, activation="relu", cell=cell)
    seq = m.snapshot_embeddings(batch.snapshots)
    assert seq.shape == (len(batch.snapshots), 15, 5)
    for t, s in enumerate(batch.snapshots):  # the same W^{(1)}, W^{(2)} at every step
        assert torch.allclose(seq[t], _two_layers(m, s), atol=1e-5)
    # the embedding of a node is the RNN's last state over that node's sequence, written out step by step
    h = torch.zeros(15, 5)
    c = torch.zeros(15, 5)
    r = m.rnn
    for x in seq:
        gi, gh = x @ r.weight_ih_l0.t() + r.bias_ih_l0, h @ r.weight_hh_l0.t() + r.bias_hh_l0
        if cell == "gru":  # torch's GRU: r, z, n gates
            (ir, iz, inn), (hr, hz, hn) = gi.chunk(3, 1), gh.chunk(3, 1)
            rg, z = torch.sigmoid(ir + hr), torch.sigmoid(iz + hz)
            h = (1 - z) * torch.tanh(inn + rg * hn) + z * h
        else:
            i, f, gg, o = (gi + gh).chunk(4, 1)
            c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(gg)
            h = torch.sigmoid(o) * torch.tanh(c)
    assert torch.allclose(m.node_embeddings(batch.snapshots), h, atol=1e-5)


def test_gcn_gru_depends_on_earlier_snapshots_and_their_order() -> None:
    m, batch = _make(GCNGRU)
    m.eval()
    snaps = batch.snapshots
    with torch.no_grad():
        h = m.node_embeddings(snaps)
        first = Data(x=snaps[0].x + 1.0, edge_index=snaps[0].edge_index, edge_weight=snaps[0].edge_weight,
                     num_nodes=15)
        assert not torch.allclose(m.node_embeddings([first] + snaps[1:]), h, atol=1e-4)
        assert not torch.allclose(m.node_embeddings(snaps[1:]), h, atol=1e-4)
        assert not torch.allclose(m.node_embeddings([snaps[1], snaps[0], snaps[2]]), h, atol=1e-4)


@pytest.mark.parametrize(("cls", "kw"), MODELS, ids=IDS)
def test_node_permutation_equivariance(cls: type, kw: dict) -> None:
    m, batch = _make(cls, **kw)
    m.eval()
    perm = torch.randperm(15, generator=torch.Generator().manual_seed(1))
    inv = torch.argsort(perm)  # new id of old node v is inv[v]
    snaps = [Data(x=s.x[perm], edge_index=inv[s.edge_index], edge_weight=s.edge_weight, num_nodes=15)
             for s in batch.snapshots]
    with torch.no_grad():
        assert torch.allclose(m.node_embeddings(snaps), m.node_embeddings(batch.snapshots)[perm], atol=1e-5)
        s1 = m(batch)["logit"]
        s2 = m(SnapshotBatch(snaps, inv[batch.edge_label_index]))["logit"]
    assert torch.allclose(s1, s2, atol=1e-5)


def test_invalid_inputs_raise() -> None:
    spec, batch = tiny_problem("edge")
    for cls in (SnapshotGCN, GCNGRU):
        with pytest.raises(ConfigError, match="supports tasks"):
            cls(DataSpec("link", num_features=4))
        with pytest.raises(ConfigError, match="node features"):
            cls(DataSpec("edge", num_features=0, num_classes=2))
        with pytest.raises(ConfigError, match="num_classes"):
            cls(DataSpec("edge", num_features=4, num_classes=1))
        with pytest.raises(ConfigError, match="hidden_dim"):
            cls(spec, hidden_dim=0)
        with pytest.raises(DataError, match="at least one snapshot"):
            cls(spec).node_embeddings([])
    with pytest.raises(ConfigError, match="cell"):
        GCNGRU(spec, cell="rnn")
    batch.snapshots[-1].edge_weight = -torch.ones(batch.snapshots[-1].edge_index.size(1))
    with pytest.raises(DataError, match="edge weights"):
        GCNGRU(spec)(batch)


# ------------------------------------------------------------------ learning on synthetic problems


def _signed_ds(num_nodes: int = 40, steps: int = 16, bad: int = 6, seed: int = 0):
    """Random pairs each step; a pair is distrust (0) when it touches one of ``bad`` fixed nodes: the sign follows
    node identity (identity features), distrust is the minority (about 27 %)."""
    from plexus.platform.data.graphs.temporal import temporal_dataset

    g = torch.Generator().manual_seed(seed)
    src = torch.randint(0, num_nodes, (steps * 40,), generator=g)
    dst = (src + torch.randint(1, num_nodes, (steps * 40,), generator=g)) % num_nodes
    time = torch.arange(steps).repeat_interleave(40).double()
    label = ((src >= bad) & (dst >= bad)).long()
    return temporal_dataset({"source": src, "target": dst, "time": time, "label": label}, "signed", task="edge",
                            window=1.0, steps=(9, 3, 3), features="identity", edge_targets="pairs")


@pytest.mark.parametrize("cls", [SnapshotGCN, GCNGRU], ids=["static", "gru"])
def test_edge_task_learns_a_sign_that_follows_node_identity(cls: type) -> None:
    """Trained by the platform's edge task with the reference weights [0.8, 0.2], both baselines find the distrust
    pairs of the test steps: minority AUC near 1, micro-F1 above the all-trust rate."""
    from plexus.platform.config import TrainConfig
    from plexus.platform.training.tasks import EdgeTask
    from plexus.platform.training.trainer import Trainer

    ds = _signed_ds()
    ds.spec.extra["class_weights"] = [0.8, 0.2]
    torch.manual_seed(0)
    model = cls(ds.spec, hidden_dim=8, cls_feats=16)
    cfg = TrainConfig(epochs=30, lr=0.01, patience=0, seed=0)
    res = Trainer(model, EdgeTask(ds, cfg), cfg).fit()["metrics"]
    y = torch.cat([ds.snapshots[t].edge_label for t in ds.steps["test"]])
    assert res["test_minority_auc"] > 0.9, res
    assert res["test_minority_f1_thr"] > 0.5 and res["test_f1_micro_thr"] > float(y.float().mean()), res


def test_only_gcn_gru_learns_a_sign_set_by_the_previous_snapshot() -> None:
    """A pair's label at step t is whether its source carried a flag in the *previous* snapshot's features; the
    last snapshot's flags are fresh coin flips. GCN-GRU sees the history and learns it; the static GCN, which reads
    the last snapshot only, stays at chance."""
    n, steps, hist = 24, 40, 3
    g = torch.Generator().manual_seed(0)
    flags = torch.rand(steps, n, generator=g) < 0.5
    snaps = []
    for t in range(steps):
        ei = torch.randint(0, n, (2, 12), generator=g)
        snaps.append(Data(x=torch.cat([torch.eye(n), flags[t, :, None].float()], 1), edge_index=ei, num_nodes=n))

    def step(t: int) -> tuple[SnapshotBatch, torch.Tensor]:
        src = torch.randperm(n, generator=g)[:16]
        pairs = torch.stack([src, (src + 1 + torch.randint(0, n - 1, (16,), generator=g)) % n])
        return SnapshotBatch(snaps[t - hist:t + 1], pairs), flags[t - 1, src].long()

    spec = DataSpec("edge", num_features=n + 1, num_nodes=n, num_classes=2)
    acc = {}
    for cls in (SnapshotGCN, GCNGRU):
        torch.manual_seed(0)
        m = cls(spec, hidden_dim=16, cls_feats=16, activation="relu")
        opt = torch.optim.Adam(m.parameters(), lr=0.02)
        for it in range(300):
            b, y = step(hist + it % 24)  # train on steps 3..26, test on 30..39
            loss = torch.nn.functional.cross_entropy(m(b)["logit"], y)
            opt.zero_grad()
            loss.backward()
            opt.step()
        m.eval()
        with torch.no_grad():
            hits = [(m(b)["logit"].argmax(-1) == y).float() for b, y in (step(t) for t in range(30, steps))]
        acc[cls.__name__] = float(torch.cat(hits).mean())
    assert acc["GCNGRU"] > 0.75 and acc["SnapshotGCN"] < 0.65, acc
