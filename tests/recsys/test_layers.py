"""Shared recommender layers: embeddings, Dice, sparse maps, mini-batch aware L2."""

from __future__ import annotations

import pytest
import torch
from plexus.platform.errors import ConfigError, DataError
from plexus.platform.testing import tiny_problem
from plexus.recsys.layers import MLP, Dice, FieldEmbedding, entmax, entmax15, entmax_bisect, sparsemax


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


def _dice_formula(x, alpha, mean, var, eps=1e-8):
    """DIN eq. 5 as the paper writes it: p·s + (1 − p)·α·s, p = sigmoid((s − E[s]) / sqrt(Var[s] + ε))."""
    p = torch.sigmoid((x - mean) / torch.sqrt(var + eps))
    return p * x + (1 - p) * alpha * x


def test_dice_matches_formula_in_train_and_eval():
    torch.manual_seed(0)
    dice = Dice(5)
    with torch.no_grad():
        dice.alpha.copy_(torch.linspace(-0.5, 0.5, 5))
    x = (torch.randn(64, 5) * 3 + 1).requires_grad_()
    out = dice(x)
    mean, var = x.mean(0), x.var(0, unbiased=False)
    x_ref = x.detach().clone().requires_grad_()
    alpha_ref = dice.alpha.detach().clone().requires_grad_()
    want = _dice_formula(x_ref, alpha_ref, x_ref.mean(0), x_ref.var(0, unbiased=False))
    assert torch.allclose(out, want, atol=1e-6)
    # gradients through the batch statistics and α, as the formula's
    g = torch.randn_like(out)
    out.backward(g)
    want.backward(g)
    assert torch.allclose(x.grad, x_ref.grad, atol=1e-6)
    assert torch.allclose(dice.alpha.grad, alpha_ref.grad, atol=1e-5)
    # running stats moved towards the batch statistics (from 0 and 1, momentum 0.1)
    assert torch.allclose(dice.running_mean, 0.1 * mean.detach(), atol=1e-6)
    assert torch.allclose(dice.running_var, 0.9 + 0.1 * var.detach(), atol=1e-6)
    dice.eval()
    y = torch.randn(7, 3, 5)
    assert torch.allclose(dice(y), _dice_formula(y, dice.alpha, dice.running_mean, dice.running_var), atol=1e-6)
    # eval output of one row does not depend on the other rows of the batch
    assert torch.allclose(dice(y[:1]), dice(y)[:1])
    # with E = 0 and Var → 0, Dice is PReLU: x for x > 0, α·x otherwise
    dice.running_mean.zero_()
    dice.running_var.zero_()
    assert torch.allclose(dice(y), torch.where(y > 0, y, dice.alpha * y), atol=1e-4)


def test_dice_masked_statistics_match_formula():
    torch.manual_seed(1)
    dice = Dice(4)
    with torch.no_grad():
        dice.alpha.uniform_(-1, 1)
    x = torch.randn(6, 5, 4) * 2
    mask = torch.rand(6, 5) > 0.4
    rows = x[mask]
    want = _dice_formula(x, dice.alpha, rows.mean(0), rows.var(0, unbiased=False))
    assert torch.allclose(dice(x, mask), want, atol=1e-6)
    assert torch.allclose(dice.running_var, 0.9 + 0.1 * rows.var(0, unbiased=False), atol=1e-6)


def test_dice_mask_excludes_padding_from_statistics():
    dice = Dice(2)
    x = torch.randn(4, 3, 2)
    mask = torch.tensor([[True, True, False]] * 4)
    x2 = x.clone()
    x2[:, 2] = 1000.0
    assert torch.allclose(dice(x, mask)[:, :2], dice(x2, mask)[:, :2])


def test_mlp_layers():
    mlp = MLP([6, 5, 1], "prelu", dropout=0.1, batch_norm=True, plain_last=True)
    assert isinstance(mlp.blocks[-1]["linear"], torch.nn.Linear) and len(mlp.blocks[-1]) == 1
    assert mlp(torch.randn(8, 6)).shape == (8, 1)
    assert MLP([4, 3], "dice")(torch.randn(2, 5, 4), torch.ones(2, 5, dtype=torch.bool)).shape == (2, 5, 3)
    with pytest.raises(ConfigError):
        MLP([4, 3], "swish-ish")


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
