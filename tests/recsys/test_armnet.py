"""ARM-Net / ARM-Net+ (Cai et al., SIGMOD 2021): the spec's correctness checks (docs/models/armnet.md, e)."""

from __future__ import annotations

import pytest
import torch
from fit_helpers import fit_ctr
from plexus.platform.errors import ConfigError
from plexus.platform.spec import DataSpec, FieldSpec
from plexus.platform.testing import tiny_problem
from plexus.recsys.armnet import ARMNet, ARMNetPlus, ExponentialNeurons
from plexus.recsys.baselines import LR

SMALL = {"num_heads": 2, "num_neurons": 8, "mlp_hidden": (32,)}


def test_exponential_neuron_identity():
    torch.manual_seed(0)
    arm = ExponentialNeurons(num_fields=5, embed_dim=4, heads=2, neurons=3, alpha=1.5)
    e = torch.randn(6, 5, 4, dtype=torch.float64) * 0.5
    arm = arm.double()
    y, z = arm(e)
    w = z * arm.values  # [B, K, o, m]
    # exp(Σ_j w_ij e_j) = Π_j exp(e_j)^{w_ij}, element-wise over the embedding dimension
    prod = (torch.exp(e)[:, None, None] ** w[..., None]).prod(3)
    assert torch.allclose(y, prod, rtol=1e-10)
    assert y.shape == (6, 2, 3, 4) and z.shape == (6, 2, 3, 5)


@pytest.mark.parametrize("alpha", [1.5, 2.0, 2.5])
def test_gates_are_sparse_distributions(alpha):
    spec, batch = tiny_problem("ctr")
    torch.manual_seed(0)
    m = ARMNet(spec, alpha=alpha, **SMALL)
    m.embedding.init_std = 1.0  # scores of order 1 (the default small init starts near-uniform)
    m.embedding.reset_parameters()
    z = m.field_gates(batch)
    assert z.shape == (16, 2, 8, len(m.embedding.flat_names()))
    assert torch.allclose(z.sum(-1), torch.ones(16, 2, 8), atol=1e-5)
    assert (z == 0).any()  # α > 1 gives exact zeros
    soft = ARMNet(spec, alpha=1.0, **SMALL)
    assert (soft.field_gates(batch) > 0).all()  # α = 1 is the softmax


def test_single_field_value_vector_makes_neuron_depend_on_that_field_only():
    torch.manual_seed(0)
    arm = ExponentialNeurons(num_fields=4, embed_dim=3, heads=1, neurons=2, alpha=2.0).double()
    j = 2
    with torch.no_grad():
        arm.values.zero_()
        arm.values[..., j] = 1.3
    e = torch.randn(5, 4, 3, dtype=torch.float64)
    y, z = arm(e)
    # log y_i = z_ij v_ij e_j: parallel to e_j, no other field's embedding enters the product
    assert torch.allclose(torch.log(y), (z[..., j] * 1.3)[..., None] * e[:, None, None, j], atol=1e-10)
    # with a softmax gate (never exactly 0) the exponent is never exactly zero, so e_j is always used
    arm.alpha = 1.0
    _, z1 = arm(e)
    assert (z1[..., j] > 0).all()


def test_bn_placement_switch():
    spec, batch = tiny_problem("ctr")
    for bn, cls in (("neurons", torch.nn.BatchNorm1d), ("flat", torch.nn.BatchNorm1d), ("none", torch.nn.Identity)):
        m = ARMNet(spec, bn=bn, **SMALL)
        assert isinstance(m.bn, cls)
        assert torch.isfinite(m(batch)["logit"]).all()
    assert ARMNet(spec, bn="neurons", **SMALL).bn.num_features == 16
    assert ARMNet(spec, bn="flat", **SMALL).bn.num_features == 16 * 10
    with pytest.raises(ConfigError):
        ARMNet(spec, alpha=0.5)


def test_clamp_numeric():
    spec, batch = tiny_problem("ctr")
    m = ARMNet(spec, clamp_numeric=True, **SMALL).eval()
    hi = dict(batch, price=batch["price"].abs() + 1.0)  # all clamp to 1
    one = dict(batch, price=torch.ones(16))
    assert torch.allclose(m(hi)["logit"], m(one)["logit"])
    m2 = ARMNet(spec, clamp_numeric=False, **SMALL).eval()
    assert not torch.allclose(m2(hi)["logit"], m2(one)["logit"])


def test_armnet_plus_ensemble():
    spec, batch = tiny_problem("ctr")
    m = ARMNetPlus(spec, **SMALL).eval()
    assert torch.equal(m.ensemble.weight, torch.full((1, 2), 0.5)) and m.ensemble.bias.item() == 0
    arm = m.arm_logit(batch)
    dnn = m.dnn(m.dnn_embedding.flat(batch).flatten(1)).squeeze(-1)
    assert torch.allclose(m(batch)["logit"], 0.5 * arm + 0.5 * dnn, atol=1e-6)
    own = {id(p) for p in m.dnn_embedding.parameters()}
    assert own and not own & {id(p) for p in m.embedding.parameters()}  # its own embedding table


def _xnor_problem(n: int, seed: int):
    """label = 1[(f1 ∈ S1) == (f2 ∈ S2)]: a pure second-order multiplicative relation; f3, f4 are noise."""
    g = torch.Generator().manual_seed(seed)
    x = {f"f{i}": torch.randint(1, 21, (n,), generator=g) for i in range(1, 5)}
    y = ((x["f1"] <= 10) == (x["f2"] % 2 == 0)).float()
    spec = DataSpec("ctr", fields=[FieldSpec(f"f{i}", "categorical", 21) for i in range(1, 5)])
    return spec, x, y




def test_multiplicative_task_and_gate_attribution():
    spec, train, y = _xnor_problem(4000, 0)
    _, test, y_test = _xnor_problem(2000, 1)
    torch.manual_seed(0)
    assert abs(fit_ctr(LR(spec), train, y, test, y_test) - 0.5) < 0.1
    torch.manual_seed(0)
    m = ARMNet(spec, num_heads=1, num_neurons=16, mlp_hidden=(64,))
    assert fit_ctr(m, train, y, test, y_test) > 0.95
    with torch.no_grad():  # local attribution: Σ over instances and neurons of |w_ij|
        z = m.field_gates(test)
        attribution = (z * m.arm.values).abs().sum((0, 1, 2))
    top2 = set(attribution.topk(2).indices.tolist())
    assert top2 == {0, 1}, attribution
