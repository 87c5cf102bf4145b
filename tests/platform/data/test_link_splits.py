"""Link splits, negative sampling and target link removal."""

from __future__ import annotations

import pytest
import torch
from plexus.platform.data.graphs.link import (
    link_dataset,
    pair_keys,
    remove_target_edges,
    sample_negatives,
    split_edges,
    undirected_pairs,
)


@pytest.fixture(scope="module")
def cora_data():
    from plexus.platform.data.datasets_planetoid import cora

    return cora().data


def _keys(p: torch.Tensor, n: int) -> set[int]:
    return set(pair_keys(p, n).tolist())


@pytest.mark.parametrize("split", ["70/10/20", "85/5/10"])
def test_split_is_a_partition_with_valid_negatives(cora_data, split: str) -> None:
    n = int(cora_data.num_nodes)
    ds = link_dataset(cora_data, "cora", split=split, seed=3)
    true = _keys(cora_data.edge_index, n)
    parts = {k: _keys(v, n) for k, v in ds.pos.items()}
    assert parts["train"].isdisjoint(parts["val"]) and parts["train"].isdisjoint(parts["test"])
    assert parts["val"].isdisjoint(parts["test"])
    assert parts["train"] | parts["val"] | parts["test"] == true
    for k in ("val", "test"):
        neg = ds.neg[k]
        assert neg.size(1) == ds.pos[k].size(1)
        assert bool((neg[0] != neg[1]).all())
        assert _keys(neg, n).isdisjoint(true)  # not colliding with ANY true edge
        assert len(_keys(neg, n)) == neg.size(1)  # distinct
    assert _keys(ds.neg["val"], n).isdisjoint(_keys(ds.neg["test"], n))
    # message-passing graph = training positives, both directions; no val/test edge leaks in
    mp = _keys(ds.data.edge_index, n)
    assert mp == parts["train"] and ds.data.edge_index.size(1) == 2 * len(parts["train"])
    assert torch.equal(ds.eval_edge_index, ds.data.edge_index)


def test_split_is_seeded(cora_data) -> None:
    a = link_dataset(cora_data, "c", seed=0)
    b = link_dataset(cora_data, "c", seed=0)
    c = link_dataset(cora_data, "c", seed=1)
    assert torch.equal(a.pos["test"], b.pos["test"]) and torch.equal(a.neg["val"], b.neg["val"])
    assert not torch.equal(a.pos["test"], c.pos["test"])


def test_val_edges_as_input(cora_data) -> None:
    n = int(cora_data.num_nodes)
    ds = link_dataset(cora_data, "c", val_edges_as_input=True)
    assert _keys(ds.eval_edge_index, n) == _keys(ds.pos["train"], n) | _keys(ds.pos["val"], n)
    assert _keys(ds.data.edge_index, n) == _keys(ds.pos["train"], n)


def test_sample_negatives_properties() -> None:
    n = 30
    g = torch.Generator().manual_seed(0)
    pairs = torch.combinations(torch.arange(n), 2).t()
    edges = pairs[:, torch.randperm(pairs.size(1), generator=g)[:300]]  # dense-ish graph: 300 of 435 pairs
    ei = torch.cat([edges, edges.flip(0)], 1)
    neg = sample_negatives(ei, n, 100, torch.Generator().manual_seed(1))
    assert neg.shape == (2, 100)
    assert _keys(neg, n).isdisjoint(_keys(edges, n)) and len(_keys(neg, n)) == 100
    assert bool((neg[0] != neg[1]).all())
    again = sample_negatives(ei, n, 100, torch.Generator().manual_seed(1))
    assert torch.equal(neg, again)
    # every remaining non-edge can be drawn; one more is impossible
    allneg = sample_negatives(ei, n, 135, torch.Generator().manual_seed(2))
    assert _keys(allneg, n) == _keys(pairs, n) - _keys(edges, n)
    from plexus.platform.errors import ConfigError

    with pytest.raises(ConfigError):
        sample_negatives(ei, n, 136)


def test_active_negatives_pair_active_nodes() -> None:
    """EvolveGCN's smart sampling: sources from the positives' sources, destinations from the active nodes."""
    from plexus.platform.data.graphs import sample_active_negatives

    n = 200
    pos = torch.tensor([[0, 1, 2, 3, 1], [1, 0, 3, 2, 4]])
    active = torch.tensor([5, 6, 7, 8, 9, 10, 11, 12, 1, 2, 6])
    neg = sample_active_negatives(pos, n, 20, active, torch.Generator().manual_seed(0))
    assert neg.shape == (2, 20)
    assert set(neg[0].tolist()) <= {0, 1, 2, 3} and set(neg[1].tolist()) <= set(active.tolist())
    assert _keys(neg, n).isdisjoint(_keys(pos, n)) and len(_keys(neg, n)) == 20
    assert bool((neg[0] != neg[1]).all())
    assert torch.equal(neg, sample_active_negatives(pos, n, 20, active, torch.Generator().manual_seed(0)))
    few = sample_active_negatives(pos, n, 500, torch.tensor([1, 4]), torch.Generator().manual_seed(0))
    # the pools allow only {0,4}, {2,1}, {2,4}, {3,1}, {3,4} (and {1,4}, {0,1} are positives): fewer, no repeats
    assert _keys(few, n) <= _keys(torch.tensor([[0, 2, 2, 3, 3], [4, 1, 4, 1, 4]]), n)
    assert len(_keys(few, n)) == few.size(1) >= 1


def test_remove_target_edges_both_directions_and_nothing_else() -> None:
    ei = torch.tensor([[0, 1, 1, 2, 2, 3, 0, 3, 4], [1, 0, 2, 1, 3, 2, 3, 0, 4]])
    targets = torch.tensor([[0, 3], [2, 1]])  # {0,2}? no: pairs (0,2) and (3,1)
    out = remove_target_edges(ei, torch.tensor([[1, 3], [0, 2]]))  # targets {1,0} and {3,2}
    kept = set(map(tuple, out.t().tolist()))
    assert kept == {(1, 2), (2, 1), (0, 3), (3, 0), (4, 4)}
    # pairs that are not edges remove nothing
    assert torch.equal(remove_target_edges(ei, targets), ei)
    assert torch.equal(remove_target_edges(ei, torch.empty(2, 0, dtype=torch.long)), ei)


def test_remove_target_edges_on_cora_batch(cora_data) -> None:
    ds = link_dataset(cora_data, "c", seed=0)
    n = int(cora_data.num_nodes)
    batch = ds.pos["train"][:, :256]
    out = remove_target_edges(ds.data.edge_index, batch)
    assert out.size(1) == ds.data.edge_index.size(1) - 2 * 256
    assert _keys(out, n) == _keys(ds.data.edge_index, n) - _keys(batch, n)
    assert _keys(out, n).isdisjoint(_keys(batch, n))


def test_undirected_pairs_and_bad_ratios(cora_data) -> None:
    from plexus.platform.errors import ConfigError

    p = undirected_pairs(cora_data.edge_index, int(cora_data.num_nodes))
    assert p.size(1) == 5278 and bool((p[0] < p[1]).all())
    with pytest.raises(ConfigError):
        split_edges(cora_data.edge_index, int(cora_data.num_nodes), ratios=(0.5, 0.2, 0.2))
    with pytest.raises(ConfigError):
        link_dataset(cora_data, "c", split="60/20/20")  # type: ignore[arg-type]


def test_negatives_have_random_orientation() -> None:
    ei = torch.tensor([[0, 1], [1, 0]])
    neg = sample_negatives(ei, 500, 2000, torch.Generator().manual_seed(0))
    frac = float((neg[0] < neg[1]).float().mean())
    assert 0.4 < frac < 0.6


def test_val_neg_ratio_adds_validation_negatives_and_keeps_test(cora_data) -> None:
    from plexus.platform.errors import ConfigError

    n = int(cora_data.num_nodes)
    pos1, neg1 = split_edges(cora_data.edge_index, n, seed=4)
    pos2, neg2 = split_edges(cora_data.edge_index, n, seed=4, val_neg_ratio=2.0)
    assert all(torch.equal(pos1[k], pos2[k]) for k in pos1)
    assert torch.equal(neg1["test"], neg2["test"])
    assert neg2["val"].size(1) == 2 * pos2["val"].size(1)
    assert torch.equal(neg2["val"][:, :neg1["val"].size(1)], neg1["val"])
    keys = _keys(neg2["val"], n)
    assert len(keys) == neg2["val"].size(1)  # no pair twice
    assert keys.isdisjoint(_keys(cora_data.edge_index, n)) and keys.isdisjoint(_keys(neg2["test"], n))
    half = split_edges(cora_data.edge_index, n, seed=4, val_neg_ratio=0.5)[1]["val"]
    assert half.size(1) == round(0.5 * pos1["val"].size(1))
    ds = link_dataset(cora_data, "c", seed=4, val_neg_ratio=2.0)
    assert ds.neg["val"].size(1) == 2 * ds.pos["val"].size(1)
    with pytest.raises(ConfigError):
        split_edges(cora_data.edge_index, n, val_neg_ratio=0.0)
