"""AutoInt / AutoInt+ (Song et al., CIKM 2019): the spec's correctness checks (docs/models/autoint.md, e)."""

from __future__ import annotations

import pytest
import torch
from fit_helpers import fit_ctr
from plexus.platform.errors import ConfigError
from plexus.platform.spec import DataSpec, FieldSpec
from plexus.platform.testing import tiny_problem
from plexus.recsys.autoint import AutoInt, AutoIntPlus, InteractingLayer
from plexus.recsys.baselines import LR


@pytest.mark.parametrize("code_variant", [False, True])
def test_field_permutation_equivariance(code_variant):
    spec, batch = tiny_problem("ctr")
    torch.manual_seed(0)
    m = AutoInt(spec, qkv_relu=code_variant, layer_norm=code_variant).eval()
    e = m.embedding.flat(batch)
    perm = torch.randperm(e.shape[1])
    out, att = m.interact(e, return_attention=True)
    out_p, att_p = m.interact(e[:, perm], return_attention=True)
    assert torch.allclose(out_p, out[:, perm], atol=1e-5)
    for a, ap in zip(att, att_p):
        assert torch.allclose(ap, a[:, :, perm][:, :, :, perm], atol=1e-6)
        assert torch.allclose(a.sum(-1), torch.ones_like(a.sum(-1)), atol=1e-5)  # rows sum to 1
    assert len(att) == 3 and att[0].shape == (16, 2, e.shape[1], e.shape[1])


def test_single_head_without_residual_matches_hand_written_attention():
    torch.manual_seed(0)
    layer = InteractingLayer(5, head_dim=4, heads=1, residual=False)
    e = torch.randn(3, 6, 5)
    q, k, v = e @ layer.q.weight.T, e @ layer.k.weight.T, e @ layer.v.weight.T
    want = torch.relu(torch.softmax(q @ k.transpose(1, 2), -1) @ v)
    assert torch.allclose(layer(e), want, atol=1e-6)
    # with the residual: ReLU(attention + W_Res e)
    res = InteractingLayer(5, head_dim=4, heads=1, residual=True)
    with torch.no_grad():
        for name in ("q", "k", "v"):
            getattr(res, name).weight.copy_(getattr(layer, name).weight)
    want_res = torch.relu(torch.softmax(q @ k.transpose(1, 2), -1) @ v + e @ res.res.weight.T)
    assert torch.allclose(res(e), want_res, atol=1e-6)


def test_multi_head_concatenates_heads():
    torch.manual_seed(0)
    layer = InteractingLayer(5, head_dim=3, heads=2, residual=False)
    e = torch.randn(2, 4, 5)
    heads = []
    for h in range(2):
        sl = slice(3 * h, 3 * h + 3)
        q, k, v = (e @ getattr(layer, n).weight[sl].T for n in ("q", "k", "v"))
        heads.append(torch.softmax(q @ k.transpose(1, 2), -1) @ v)
    assert torch.allclose(layer(e), torch.relu(torch.cat(heads, -1)), atol=1e-6)


def test_code_variant_layer_norm():
    torch.manual_seed(0)
    layer = InteractingLayer(5, head_dim=4, heads=2, qkv_relu=True, layer_norm=True)
    out = layer(torch.randn(3, 6, 5))
    assert torch.allclose(out.mean(-1), torch.zeros(3, 6), atol=1e-5)
    assert layer.q.bias is not None  # Dense layers with bias, as in the reference code


def test_zero_layers_is_a_linear_logit_over_embeddings():
    spec, batch = tiny_problem("ctr")
    m = AutoInt(spec, num_layers=0).eval()
    e = m.embedding.flat(batch).flatten(1)
    assert torch.allclose(m(batch)["logit"], e @ m.out.weight[0] + m.out.bias, atol=1e-6)


def test_autoint_plus_sums_the_dnn_logit():
    spec, batch = tiny_problem("ctr")
    m = AutoIntPlus(spec, has_wide=True).eval()
    e = m.embedding.flat(batch)
    want = m.autoint_logit(batch, e) + m.dnn(e.flatten(1)).squeeze(-1)
    assert torch.allclose(m(batch)["logit"], want, atol=1e-6)


@pytest.mark.parametrize("sdpa", [True, False])
@pytest.mark.parametrize("code_variant", [False, True])
def test_fused_attention_is_the_explicit_unscaled_softmax(code_variant, sdpa):
    """The SDPA path (scale=1, the paper has no 1/sqrt(d')) and the CPU path (hand-written backward, products
    reordered) equal softmax(Q K^T) V, outputs and gradients of the input and of every weight, in train (no
    dropout) and eval mode; the explicit path returns the weights it used."""
    torch.manual_seed(0)
    layer = InteractingLayer(6, head_dim=5, heads=3, qkv_relu=code_variant, layer_norm=code_variant)
    layer.use_sdpa = sdpa  # SDPA is the default on CUDA; forced here on CPU
    e = torch.randn(4, 7, 6) * 3  # large scores: 1/sqrt(5) scaling would change the result visibly
    for train in (True, False):
        layer.train(train)
        e1, e2 = e.clone().requires_grad_(), e.clone().requires_grad_()
        fast = layer(e1)
        slow, att = layer(e2, return_attention=True)
        b, m, _ = e.shape
        q, k = (layer._proj(lin, e).view(b, m, 3, 5).transpose(1, 2) for lin in (layer.q, layer.k))
        assert torch.allclose(att, torch.softmax(q @ k.transpose(-1, -2), -1), atol=1e-6)
        assert torch.allclose(fast, slow, atol=1e-5)
        g = torch.randn_like(fast)
        params = list(layer.parameters())
        g_fast = torch.autograd.grad(fast, [e1, *params], g)
        g_slow = torch.autograd.grad(slow, [e2, *params], g)
        assert all(torch.allclose(a, b, atol=1e-4) for a, b in zip(g_fast, g_slow))
        scaled = torch.softmax(q @ k.transpose(-1, -2) / 5 ** 0.5, -1)
        assert not torch.allclose(att, scaled, atol=1e-3)


def test_attend_numeric_false_routes_numerics_through_the_wide_term_only():
    spec, batch = tiny_problem("ctr")
    numeric = [f.name for f in spec.fields if f.kind == "numeric"]
    assert numeric
    with pytest.raises(ConfigError, match="has_wide"):
        AutoInt(spec, attend_numeric=False)
    torch.manual_seed(0)
    m = AutoInt(spec, attend_numeric=False, has_wide=True).eval()
    assert set(m.embedding.flat_names()) == {f.name for f in spec.fields if f.kind != "numeric"}
    assert m.num_fields == len(spec.fields) - len(numeric)
    changed = {**batch, numeric[0]: batch[numeric[0]] + 1.0}
    delta = m(changed)["logit"] - m(batch)["logit"]
    w = m.wide.numeric[numeric[0].replace(".", "__dot__")]
    assert torch.allclose(delta, w.sum().expand_as(delta), atol=1e-6)  # linear in the numeric, nothing else


def _xor_problem(n: int, seed: int):
    g = torch.Generator().manual_seed(seed)
    x = {f"f{i}": torch.randint(1, 21, (n,), generator=g) for i in range(1, 5)}
    y = ((x["f1"] <= 10) ^ (x["f2"] % 2 == 0)).float()
    spec = DataSpec("ctr", fields=[FieldSpec(f"f{i}", "categorical", 21) for i in range(1, 5)])
    return spec, x, y




def test_xor_needs_interactions():
    spec, train, y = _xor_problem(4000, 0)
    _, test, y_test = _xor_problem(2000, 1)
    torch.manual_seed(0)
    auc_lr = fit_ctr(LR(spec), train, y, test, y_test)
    torch.manual_seed(0)
    auc_ai = fit_ctr(AutoInt(spec), train, y, test, y_test)
    assert abs(auc_lr - 0.5) < 0.1, auc_lr
    assert auc_ai > 0.95, auc_ai
