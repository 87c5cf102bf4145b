"""DIN (Zhou et al., KDD 2018): the spec's correctness checks (docs/models/din.md, section e)."""

from __future__ import annotations

import pytest
import torch
from fit_helpers import fit_ctr
from plexus.platform.errors import ConfigError
from plexus.platform.spec import DataSpec, FieldSpec
from plexus.platform.testing import tiny_problem
from plexus.recsys.din import DIN, DINBase


@pytest.fixture
def tiny():
    spec, batch = tiny_problem("ctr", seed=1)
    # align the two behaviour sequences' padding, as real (item, category) histories are
    batch["hist_cate"] = (batch["hist_item"] % 7 + 1) * (batch["hist_item"] != 0)
    return spec, batch


def test_roles_pairing_and_outputs(tiny):
    spec, batch = tiny
    m = DIN(spec)
    assert m.candidates == ["item", "cate"] and m.behaviors == ["hist_item", "hist_cate"]
    assert set(m.context) == {"user", "ctx", "price", "age", "genres"}
    out = m(batch)
    assert out["logit"].shape == (16,) and out["attention"].shape == (16, 6) and out["aux_loss"].dim() == 0
    mt_spec, mt_batch = tiny_problem("multitask")
    assert "neg_item" in DIN(mt_spec).context  # a second behaviour on the same vocabulary is a context feature
    assert DIN(mt_spec)(mt_batch)["logit"].shape == (16,)


def test_needs_candidate_and_behaviour():
    spec = DataSpec("ctr", fields=[FieldSpec("user", "categorical", 5, role="user"),
                                   FieldSpec("item", "categorical", 5, role="item")])
    with pytest.raises(ConfigError, match="behavior"):
        DIN(spec)


@pytest.mark.parametrize("normalize", [False, True])
def test_padding_gets_zero_weight_and_padding_embeddings_do_not_matter(tiny, normalize):
    spec, batch = tiny
    torch.manual_seed(0)
    m = DIN(spec, normalize=normalize)
    m(batch)  # one training step's statistics, then eval
    m.eval()
    out = m(batch)
    pad = batch["hist_item"] == 0
    assert pad.any() and (out["attention"][pad] == 0).all()
    with torch.no_grad():  # corrupt the padding rows the padded positions read
        m.embedding.table("hist_item").weight[0].normal_(0, 10)
        m.embedding.table("hist_cate").weight[0].normal_(0, 10)
        m.embedding.table("genres").weight[0].normal_(0, 10)
    out2 = m(batch)
    assert torch.allclose(out["logit"], out2["logit"], atol=1e-5)
    assert torch.allclose(out["attention"], out2["attention"], atol=1e-6)


def _duplicated(batch: dict[str, torch.Tensor]) -> tuple[dict, dict]:
    """Rows with a 3-long history h → (…, 0, 0, 0, h) and (h, h)."""
    once, twice = dict(batch), dict(batch)
    for name in ("hist_item", "hist_cate"):
        h = batch[name][:, -3:].clamp_min(1)
        once[name] = torch.cat([torch.zeros_like(h), h], 1)
        twice[name] = torch.cat([h, h], 1)
    return once, twice


def test_no_softmax_preserves_interest_intensity(tiny):
    spec, batch = tiny
    torch.manual_seed(0)
    raw, norm = DIN(spec, normalize=False).eval(), DIN(spec, normalize=True).eval()
    once, twice = _duplicated(batch)
    _, u1, w1 = raw.interest(once)
    _, u2, _ = raw.interest(twice)
    assert torch.allclose(u2, 2 * u1, atol=1e-6)  # duplicating the history doubles v_U
    assert not torch.allclose(w1.sum(-1), torch.ones(16), atol=1e-3)  # weights are not forced to sum to 1
    _, n1, wn = norm.interest(once)
    _, n2, _ = norm.interest(twice)
    assert torch.allclose(n1, n2, atol=1e-6)  # with the softmax switch it is a weighted mean
    assert torch.allclose(wn.sum(-1), torch.ones(16), atol=1e-6)


def test_empty_history_rows(tiny):
    spec, batch = tiny
    assert (batch["hist_item"][1] == 0).all()
    for normalize in (False, True):
        m = DIN(spec, normalize=normalize).eval()
        _, user, w = m.interest(batch)
        assert torch.all(w[1] == 0) and torch.all(user[1] == 0) and torch.isfinite(m(batch)["logit"]).all()


def test_mini_batch_aware_l2(tiny):
    spec, batch = tiny
    m = DIN(spec, l2_reg=0.05)
    out = m(batch)
    assert torch.allclose(out["aux_loss"], 0.05 * m.embedding.batch_l2(batch))
    out["aux_loss"].backward()
    w = m.embedding.table("item").weight
    present = set(torch.cat([batch["item"], batch["hist_item"].flatten()]).tolist()) - {0}
    touched = set((w.grad.abs().sum(1) > 0).nonzero().flatten().tolist())
    assert touched == present  # only the rows of ids in the mini-batch are regularised
    assert "aux_loss" not in m.eval()(batch)
    assert "aux_loss" not in DIN(spec, l2_reg=0.0)(batch)


def test_difference_term_switch(tiny):
    spec, batch = tiny
    paper, code = DIN(spec), DIN(spec, use_diff=True)
    d = 12 * 2
    assert paper.att.mlp.blocks[0]["linear"].in_features == 3 * d
    assert code.att.mlp.blocks[0]["linear"].in_features == 4 * d
    assert code(batch)["logit"].shape == (16,)


@pytest.mark.parametrize("use_diff", [False, True])
@pytest.mark.parametrize("activation", ["dice", "sigmoid"])
def test_activation_unit_split_first_layer_is_the_concatenated_input(tiny, use_diff, activation):
    """The activation unit's per-part first Linear equals W·[k, q, k∘q] (or [q, k, q−k, q∘k]) on the
    concatenated input, in train and eval mode, with the same gradients."""
    spec, batch = tiny
    torch.manual_seed(0)
    m = DIN(spec, use_diff=use_diff, att_activation=activation)
    emb = m.embedding
    query = torch.cat([emb.embed(c, batch[c]) for c in m.candidates], -1).detach()
    keys = torch.cat([emb.table(s)(batch[s]) for s in m.behaviors], -1).detach()
    mask = batch["hist_item"] != 0
    for train in (True, False):
        m.att.train(train)
        q1, q2 = query.clone().requires_grad_(), query.clone().requires_grad_()
        fast = m.att(q1, keys, mask)
        ref = m.att.reference(q2, keys, mask)
        assert torch.allclose(fast, ref, atol=1e-6)
        g = torch.randn_like(fast)
        w = m.att.mlp.blocks[0]["linear"].weight
        gw_fast = torch.autograd.grad(fast, [q1, w], g)
        gw_ref = torch.autograd.grad(ref, [q2, w], g)
        assert all(torch.allclose(a, b, atol=1e-5) for a, b in zip(gw_fast, gw_ref))


def test_activation_unit_reads_only_real_positions_in_training(tiny):
    """Training mode (Dice on batch statistics): padded keys, whatever they hold, change neither the scores
    nor the gradients; a row with an empty history scores 0 everywhere; an all-padded batch works."""
    spec, batch = tiny
    torch.manual_seed(0)
    m = DIN(spec, use_diff=True)
    emb = m.embedding
    query = torch.cat([emb.embed(c, batch[c]) for c in m.candidates], -1).detach()
    keys = torch.cat([emb.table(s)(batch[s]) for s in m.behaviors], -1).detach()
    mask = batch["hist_item"] != 0
    mask[3] = False
    noisy = torch.where(mask.unsqueeze(-1), keys, torch.randn_like(keys) * 10)
    w = m.att.mlp.blocks[0]["linear"].weight
    a, b = m.att(query, keys, mask), m.att(query, noisy, mask)
    assert (~mask).any() and (a[~mask] == 0).all() and (a[3] == 0).all()
    assert torch.allclose(a, b, atol=1e-6)
    g = torch.randn_like(a)
    assert torch.allclose(torch.autograd.grad(a, w, g)[0], torch.autograd.grad(b, w, g)[0], atol=1e-6)
    empty = m.att(query, keys, torch.zeros_like(mask))
    assert empty.shape == mask.shape and (empty == 0).all()


def test_peer_architecture_hyperparameters(tiny):
    """DeepCTR-Torch / FuxiCTR's DIN: Dice in the attention MLP, ReLU DNN, [q, k, q−k, q∘k], no MBA L2."""
    spec, batch = tiny
    m = DIN(spec, activation="relu", use_diff=True, l2_reg=0.0)
    assert isinstance(m.mlp.blocks[0]["act"], torch.nn.ReLU)
    assert "aux_loss" not in m(batch)


def _target_problem(n: int, seed: int, length: int = 8, n_items: int = 200, n_cates: int = 10):
    """Click iff the candidate's category occurs in a mixed-category history (spec check 5)."""
    g = torch.Generator().manual_seed(seed)
    item_cate = torch.arange(n_items) % n_cates + 2
    hist = torch.randint(2, n_items, (n, length), generator=g)
    lengths = torch.randint(3, length + 1, (n,), generator=g)
    keep = torch.arange(length).expand(n, -1) >= (length - lengths).unsqueeze(1)
    hist = hist * keep
    cand = torch.randint(2, n_items, (n,), generator=g)
    hist_cate = item_cate[hist] * keep
    y = (hist_cate == item_cate[cand].unsqueeze(1)).any(1).float()
    batch = {"user": torch.randint(1, 20, (n,), generator=g), "item": cand, "cate": item_cate[cand],
             "hist_item": hist, "hist_cate": hist_cate}
    spec = DataSpec("ctr", fields=[
        FieldSpec("user", "categorical", 20, role="user"),
        FieldSpec("item", "categorical", n_items, role="item"),
        FieldSpec("cate", "categorical", n_cates + 2, role="item"),
        FieldSpec("hist_item", "sequence", n_items, max_len=length, share_vocab="item", role="behavior"),
        FieldSpec("hist_cate", "sequence", n_cates + 2, max_len=length, share_vocab="cate", role="behavior"),
    ])
    return spec, batch, y




def test_din_learns_target_dependent_interest_that_sum_pooling_misses():
    spec, train, y = _target_problem(6000, 0)
    _, test, y_test = _target_problem(2000, 1)
    assert 0.3 < y.mean() < 0.7
    torch.manual_seed(0)
    din = fit_ctr(DIN(spec), train, y, test, y_test)
    torch.manual_seed(0)
    base = fit_ctr(DINBase(spec), train, y, test, y_test)
    assert din > 0.9, din
    assert din > base + 0.1, (din, base)
