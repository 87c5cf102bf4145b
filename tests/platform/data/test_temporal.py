"""Temporal edge lists -> snapshots with time-respecting splits (EvolveGCN protocol)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
import torch


@pytest.fixture(scope="module", autouse=True)
def _private_cache(tmp_path_factory: pytest.TempPathFactory):
    mp = pytest.MonkeyPatch()
    mp.setenv("PLEXUS_DATA", str(tmp_path_factory.getbasetemp() / "plexus-data"))
    yield
    mp.undo()


@pytest.fixture(scope="module")
def otc(need_raw: Callable[[str], Path]):
    need_raw("bitcoin-otc")
    from plexus.platform.data.datasets_graph import bitcoin_otc

    return bitcoin_otc(task="edge")


def _check_time_respecting(ds) -> None:
    st = ds.steps
    assert max(st["train"]) < min(st["val"]) <= max(st["val"]) < min(st["test"])
    assert min(st["train"]) >= 1 and max(st["test"]) == len(ds.snapshots) - 1
    for k in st:
        assert st[k] == list(range(min(st[k]), max(st[k]) + 1))
    for s in ds.snapshots:
        lo, hi = s.time_range.tolist()
        if s.edge_index.size(1):
            assert float(s.edge_time.min()) >= lo
            assert float(s.edge_time.max()) < hi or s is ds.snapshots[-1]
            assert int(s.edge_index.max()) < ds.spec.num_nodes
        assert s.x.size(0) == ds.spec.num_nodes


def test_bitcoin_otc_matches_evolvegcn(otc) -> None:
    assert otc.spec.num_nodes == 5881
    assert len(otc.snapshots) == 138
    assert [len(otc.steps[k]) for k in ("train", "val", "test")] == [95, 14, 28]
    assert sum(s.edge_index.size(1) for s in otc.snapshots) == 35592
    _check_time_respecting(otc)
    assert otc.spec.num_classes == 2
    st = otc.stats()
    assert st["snapshots"] == 138 and st["nodes"] == 5881 and st["edges"] == 35592
    # node ids remapped to 0..N-1 in sorted raw-id order
    assert otc.node_ids.numel() == 5881 and bool((otc.node_ids.diff() > 0).all())


def test_degree_features_are_one_hot_degrees(otc) -> None:
    cap = otc.spec.num_features - 1
    for t in (0, 50, 137):
        s = otc.snapshots[t]
        n = otc.spec.num_nodes
        ei = s.edge_index[:, s.edge_index[0] != s.edge_index[1]]
        pairs = torch.unique(torch.cat([ei[0] * n + ei[1], ei[1] * n + ei[0]]))
        deg = torch.bincount(pairs // n, minlength=n).clamp(max=cap)
        assert torch.equal(s.x.sum(1), torch.ones(n))
        assert torch.equal(s.x.argmax(1), deg)


def test_uci_link_targets_are_both_orientations_of_each_pair(need_raw: Callable[[str], Path]) -> None:
    """Reference ``uc_irv_mess_dl.py`` adds every message reversed: the positives of a step are symmetric."""
    need_raw("uci-messages")
    from plexus.platform.config import TrainConfig
    from plexus.platform.data.datasets_graph import uci_messages
    from plexus.platform.training.tasks import DynLinkTask

    u = uci_messages()
    task = DynLinkTask(u, TrainConfig())
    n = u.spec.num_nodes
    for t in u.steps["test"][:3]:
        s = u.snapshots[t]
        pos = task.targets(t)
        keys = (pos[0] * n + pos[1]).tolist()
        assert len(set(keys)) == len(keys)
        ei = s.edge_index
        assert set(keys) == set(torch.cat([ei[0] * n + ei[1], ei[1] * n + ei[0]]).tolist())
    d = uci_messages(edge_targets="events")
    t = d.steps["test"][0]
    assert torch.equal(DynLinkTask(d, TrainConfig()).targets(t), d.snapshots[t].edge_index)


def test_bitcoin_alpha_and_uci_snapshot_counts(need_raw: Callable[[str], Path]) -> None:
    need_raw("bitcoin-alpha")
    need_raw("uci-messages")
    from plexus.platform.data.datasets_graph import bitcoin_alpha, uci_messages

    a = bitcoin_alpha()
    assert (a.spec.num_nodes, len(a.snapshots)) == (3783, 137)
    assert [len(a.steps[k]) for k in ("train", "val", "test")] == [95, 13, 28]
    _check_time_respecting(a)
    u = uci_messages()
    assert (u.spec.num_nodes, len(u.snapshots)) == (1899, 89)
    assert [len(u.steps[k]) for k in ("train", "val", "test")] == [62, 9, 17]
    # repeated messages inside a window are merged, counted in edge_weight
    assert float(sum(s.edge_weight.sum() for s in u.snapshots)) == 59835
    _check_time_respecting(u)
    from plexus.platform.errors import ConfigError

    with pytest.raises(ConfigError):
        uci_messages(task="edge")


def test_num_snapshots_option_and_fraction_steps(need_raw: Callable[[str], Path]) -> None:
    need_raw("bitcoin-alpha")
    from plexus.platform.data.datasets_graph import bitcoin_alpha
    from plexus.platform.errors import ConfigError

    ds = bitcoin_alpha(num_snapshots=40, steps=(0.7, 0.1, 0.2), features="none")
    assert len(ds.snapshots) == 40
    assert [len(ds.steps[k]) for k in ("train", "val", "test")] == [27, 4, 8]
    widths = torch.stack([s.time_range for s in ds.snapshots]).diff(dim=1).view(-1)
    assert torch.allclose(widths, widths[0].expand_as(widths))
    _check_time_respecting(ds)
    with pytest.raises(ConfigError):
        bitcoin_alpha(num_snapshots=40)  # 95/13/28 steps cannot fit 40 snapshots


def test_snapshot_batch_sees_only_the_past(otc) -> None:
    from plexus.platform.data.graphs.temporal import snapshot_batch

    t = otc.steps["val"][0]
    b = snapshot_batch(otc, t, num_hist_steps=10)
    assert len(b.snapshots) == 10
    assert all(float(s.time_range[1]) <= float(otc.snapshots[t].time_range[0]) + 1e-6 for s in b.snapshots)
    assert torch.equal(b.edge_label_index, otc.snapshots[t].edge_label_index)
    assert torch.equal(b.edge_label, otc.snapshots[t].edge_label)


def test_bitcoin_edge_targets_are_the_reference_pairs(otc) -> None:
    """Reference ``bitcoin_dl.py``: each rated pair in both orientations, one label per pair and step."""
    from plexus.platform.data.datasets_graph import bitcoin_otc

    n = otc.spec.num_nodes
    for t in (0, 60, 137):
        s = otc.snapshots[t]
        u, v = s.edge_label_index
        assert not bool((u == v).any())  # SNAP has no self ratings
        fwd = dict(zip((u * n + v).tolist(), s.edge_label.tolist()))
        assert len(fwd) == u.numel()  # no pair twice in the same orientation
        assert all(fwd[b * n + a] == lab for a, b, lab in zip(u.tolist(), v.tolist(), s.edge_label.tolist()))
        ei = s.edge_index  # the rated pairs, both orientations, are exactly the targets
        assert set((u * n + v).tolist()) == set(torch.cat([ei[0] * n + ei[1], ei[1] * n + ei[0]]).tolist())
    ev = bitcoin_otc(task="edge", edge_targets="events")  # rating > 0 -> 1; SNAP: 3563 negative ratings
    for a, b in zip(ev.snapshots, otc.snapshots):
        assert torch.equal(a.edge_label_index, a.edge_index) and torch.equal(a.edge_index, b.edge_index)
    assert int((torch.cat([s.edge_label for s in ev.snapshots]) == 0).sum()) == 3563


def test_window_assignment_on_a_tiny_list(tmp_path: Path) -> None:
    from plexus.platform.data.graphs.edgelist import load_edge_list

    f = tmp_path / "ev.csv"
    f.write_text("source,target,time,label\n10,20,0,1\n20,30,5,0\n10,20,9.5,0\n30,40,10,1\n40,10,25,1\n"
                 "10,30,31,0\n")
    ds = load_edge_list(f, kind="temporal", name="tiny", task="edge", window=10, steps=(1, 1, 1), features="identity")
    assert ds.spec.num_nodes == 4 and len(ds.snapshots) == 4
    s0 = ds.snapshots[0]
    # (10,20) twice in window 0 -> one edge, weight 2, latest label (0); node 10 -> 0, 20 -> 1, 30 -> 2
    assert s0.edge_index.t().tolist() == [[0, 1], [1, 2]]
    assert s0.edge_weight.tolist() == [2.0, 1.0] and s0.edge_label.tolist() == [0, 0]
    assert ds.snapshots[1].edge_index.t().tolist() == [[2, 3]]
    assert ds.snapshots[2].edge_index.t().tolist() == [[3, 0]]
    assert ds.steps == {"train": [1], "val": [2], "test": [3]}
    assert torch.equal(s0.x, torch.eye(4))
    assert torch.equal(s0.edge_label_index, s0.edge_index)


def test_pair_targets_take_the_majority_of_both_directions(tmp_path: Path) -> None:
    from plexus.platform.data.graphs.edgelist import load_edge_list
    from plexus.platform.errors import ConfigError

    f = tmp_path / "ev.csv"
    # window 0: 10->20 trust, 20->10 distrust twice: -1 overall -> 0 for both orientations; 20->30 trust -> 1
    # window 1: 30->40 trust, 40->30 distrust: a tie -> 0; 40->40 trust: a self loop, one target
    f.write_text("source,target,time,label\n10,20,0,1\n20,10,1,0\n20,10,2,0\n20,30,3,1\n30,40,10,1\n40,30,11,0\n"
                 "40,40,12,1\n10,30,25,1\n20,40,35,1\n")
    ds = load_edge_list(f, kind="temporal", name="tiny", task="edge", window=10, steps=(1, 1, 1),
                        features="identity", edge_targets="pairs")
    s0, s1 = ds.snapshots[0], ds.snapshots[1]
    got0 = sorted(zip(s0.edge_label_index.t().tolist(), s0.edge_label.tolist()))
    assert got0 == [([0, 1], 0), ([1, 0], 0), ([1, 2], 1), ([2, 1], 1)]
    got1 = sorted(zip(s1.edge_label_index.t().tolist(), s1.edge_label.tolist()))
    assert got1 == [([2, 3], 0), ([3, 2], 0), ([3, 3], 1)]
    assert s0.edge_index.size(1) == 3  # the message-passing edges stay the merged directed ones
    link = load_edge_list(f, kind="temporal", name="tiny2", task="dynlink", window=10, steps=(1, 1, 1),
                          features="identity", edge_targets="pairs")  # the same pairs as link targets
    assert sorted(link.snapshots[0].edge_label_index.t().tolist()) == [[0, 1], [1, 0], [1, 2], [2, 1]]
    f.write_text("source,target,time,label\n10,20,0,2\n20,10,1,0\n30,10,12,1\n30,20,22,1\n30,20,32,1\n")
    with pytest.raises(ConfigError, match="binary"):
        load_edge_list(f, kind="temporal", name="tiny3", task="edge", window=10, steps=(1, 1, 1),
                       edge_targets="pairs")


def test_dynamic_sbm_has_community_structure() -> None:
    from plexus.platform.data.graphs.temporal import dynamic_sbm

    ds = dynamic_sbm(num_nodes=60, steps=8, split=(5, 1, 1))
    comm = torch.tensor(ds.spec.extra["communities"])
    ei = ds.snapshots[4].edge_index
    same = float((comm[ei[0]] == comm[ei[1]]).float().mean())
    assert same > 0.8 and len(ds.snapshots) == 8
