"""Shared recommender layers: embeddings, sparse maps, mini-batch aware L2."""

from __future__ import annotations

import pytest
import torch
from plexus.platform.errors import ConfigError, DataError
from plexus.platform.testing import tiny_problem
from plexus.recsys.layers import FieldEmbedding, entmax, entmax15, entmax_bisect, sparsemax


@pytest.fixture
def tiny():
    return tiny_problem("ctr", seed=3)


def test_field_embedding_kinds_and_shared_tables(tiny):
    spec, batch = tiny
    emb = FieldEmbedding(spec, 4)
    # one table per embedding key; sequences reuse the candidate's table
    assert set(emb.tables) == set(spec.vocab_sizes())
    assert emb.table("hist_item") is emb.table("item")
    assert emb.embed("item", batch["item"]).shape == (16, 4)
    e, mask = emb.sequence("hist_item", batch["hist_item"])
    assert e.shape == (16, 6, 4) and torch.equal(mask, batch["hist_item"] != 0)
    # numeric: value times a learned vector
    v = emb.numeric["price"]
    assert torch.allclose(emb.embed("price", batch["price"]), batch["price"][:, None] * v)
    # multi-valued: mean over the non-padding ids only
    g = batch["genres"]
    table = emb.table("genres").weight
    for r in range(16):
        ids = g[r][g[r] != 0]
        want = table[ids].mean(0) if len(ids) else torch.zeros(4)
        assert torch.allclose(emb.embed("genres", g)[r], want, atol=1e-6)
    flat = emb.flat(batch)
    assert flat.shape == (16, len(emb.flat_names()), 4)
    assert emb.flat(batch, include_sequences=False).shape[1] == len(emb.flat_names()) - 2
    # padding row is zero and receives no gradient
    assert torch.all(table[0] == 0)
    flat.sum().backward()
    assert torch.all(emb.table("genres").weight.grad[0] == 0)


def test_field_embedding_rejects_bad_dim_and_missing_fields(tiny):
    with pytest.raises(ConfigError):
        FieldEmbedding(tiny[0], 0)
    spec, batch = tiny
    del batch["price"]
    with pytest.raises(DataError, match="field 'price'"):
        FieldEmbedding(spec, 4).flat(batch)


def test_batch_l2_only_rows_in_batch_scaled_by_frequency(tiny):
    spec, batch = tiny
    emb = FieldEmbedding(spec, 3, init_std=0.5)
    names = ["item", "hist_item"]  # share one table
    loss = emb.batch_l2(batch, names)
    ids = torch.cat([batch["item"], batch["hist_item"].reshape(-1)])
    ids = ids[ids != 0]
    uniq, counts = torch.unique(ids, return_counts=True)
    w = emb.table("item").weight
    want = sum(w[j].pow(2).sum() / c for j, c in zip(uniq.tolist(), counts.tolist()))
    assert torch.allclose(loss, want)
    loss.backward()
    touched = (w.grad.abs().sum(1) > 0).nonzero().flatten()
    assert set(touched.tolist()) == set(uniq.tolist())  # every present id, nothing else (not padding)
    assert w.grad[0].abs().sum() == 0


@pytest.mark.parametrize("fn", [sparsemax, entmax15, lambda z: entmax_bisect(z, 1.7), lambda z: entmax(z, 2.5)])
def test_sparse_maps_are_distributions_with_exact_zeros(fn):
    torch.manual_seed(0)
    z = torch.randn(50, 9) * 3
    p = fn(z)
    assert torch.allclose(p.sum(-1), torch.ones(50), atol=1e-5)
    assert (p >= 0).all()
    assert (p == 0).any(-1).float().mean() > 0.5  # sparse: most rows have exact zeros
    # order preserving: larger score never gets a smaller probability
    i = z.argsort(-1)
    assert (p.gather(-1, i).diff(dim=-1) >= -1e-6).all()


def test_entmax_identities():
    torch.manual_seed(1)
    z = torch.randn(20, 7, dtype=torch.float64) * 2
    assert torch.allclose(entmax(z, 1.0), torch.softmax(z, -1))
    assert torch.allclose(entmax_bisect(z, 2.0, n_iter=80), sparsemax(z), atol=1e-8)
    assert torch.allclose(entmax_bisect(z, 1.5, n_iter=80), entmax15(z), atol=1e-8)
    # sparsemax is the Euclidean projection onto the simplex: for the hand example below τ = 0.5
    p = sparsemax(torch.tensor([[1.0, 0.8, -1.0]]))
    assert torch.allclose(p, torch.tensor([[0.6, 0.4, 0.0]]))
    # dim argument
    assert torch.allclose(sparsemax(z.T, dim=0), sparsemax(z).T)


@pytest.mark.parametrize("fn", [sparsemax, entmax15, lambda z: entmax_bisect(z, 1.3, n_iter=80)])
def test_sparse_map_gradients(fn):
    torch.manual_seed(2)
    z = (torch.randn(4, 6, dtype=torch.float64) * 2).requires_grad_()
    assert torch.autograd.gradcheck(fn, (z,), eps=1e-6, atol=1e-4)
