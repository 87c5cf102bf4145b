"""Shared network layers: the activation resolver, Dice, PReLU and the MLP."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from plexus.platform.errors import ConfigError
from plexus.platform.nn import ACTIVATIONS, MLP, Dice, PReLU, activation, feature_dropout, sparse_input
from torch import nn

X = torch.linspace(-4, 4, 33)

EXPECTED = {
    "relu": lambda x: x.clamp_min(0),
    "sigmoid": lambda x: 1 / (1 + torch.exp(-x)),
    "tanh": lambda x: (torch.exp(x) - torch.exp(-x)) / (torch.exp(x) + torch.exp(-x)),
    "gelu": lambda x: 0.5 * x * (1 + torch.erf(x / 2**0.5)),
    "elu": lambda x: torch.where(x > 0, x, torch.exp(x) - 1),
    "leaky_relu": lambda x: torch.where(x >= 0, x, 0.01 * x),
    "relu6": lambda x: x.clamp(0, 6),
    "rrelu": lambda x: torch.where(x >= 0, x, (1 / 8 + 1 / 3) / 2 * x),  # eval: the mean slope
    "softplus": lambda x: torch.log1p(torch.exp(x)),
    "identity": lambda x: x,
    "linear": lambda x: x,
    "prelu": lambda x: torch.where(x >= 0, x, 0.25 * x),  # initial slope
    "dice": lambda x: torch.sigmoid(x / (1 + 1e-8) ** 0.5) * x,  # eval at init: E = 0, Var = 1, α = 0
}


@pytest.mark.parametrize("name", ACTIVATIONS)
def test_each_activation_name_computes_its_function(name: str) -> None:
    act = activation(name, dim=1).eval()
    assert isinstance(act, nn.Module)
    got = act(X.unsqueeze(-1)).squeeze(-1)
    torch.testing.assert_close(got, EXPECTED[name](X), rtol=1e-5, atol=1e-6)


def test_resolver_covers_the_names_in_use_and_returns_fresh_modules() -> None:
    from plexus.nas.spaces.graphnas import ACTIVATIONS as NAS_SPACE
    from plexus.recsys.layers import Activation

    assert set(NAS_SPACE) <= set(ACTIVATIONS)
    assert set(Activation.__args__) <= set(ACTIVATIONS)
    assert activation("prelu", 3) is not activation("prelu", 3)
    # functional and module forms agree exactly (NAS layers used the functional ones)
    x = torch.randn(50) * 5
    for name, fn in {"relu": F.relu, "elu": F.elu, "leaky_relu": F.leaky_relu, "relu6": F.relu6,
                     "softplus": F.softplus, "sigmoid": torch.sigmoid, "tanh": torch.tanh}.items():
        assert torch.equal(activation(name)(x), fn(x)), name


def test_resolver_rejects_unknown_names_and_per_channel_without_width() -> None:
    with pytest.raises(ConfigError, match="unknown activation"):
        activation("swish-ish")
    for name in ("dice", "prelu"):
        with pytest.raises(ConfigError, match="per-channel"):
            activation(name)


def test_prelu_has_one_slope_per_last_channel() -> None:
    act = PReLU(3)
    with torch.no_grad():
        act.weight.copy_(torch.tensor([0.0, 0.5, 2.0]))
    x = -torch.ones(2, 4, 3)
    assert torch.equal(act(x)[0, 0], torch.tensor([0.0, -0.5, -2.0]))
    assert torch.equal(act(-x), -x)


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


def test_mlp_blocks_and_shapes() -> None:
    mlp = MLP([6, 5, 1], "prelu", dropout=0.1, batch_norm=True, plain_last=True)
    assert isinstance(mlp.blocks[-1]["linear"], torch.nn.Linear) and len(mlp.blocks[-1]) == 1
    assert mlp(torch.randn(8, 6)).shape == (8, 1)
    assert MLP([4, 3], "dice")(torch.randn(2, 5, 4), torch.ones(2, 5, dtype=torch.bool)).shape == (2, 5, 3)
    with pytest.raises(ConfigError):
        MLP([4, 3], "swish-ish")


def test_mlp_layer_norm_factory_activation_and_plain_last() -> None:
    mlp = MLP([5, 7, 7, 2], nn.Tanh, dropout=0.2, layer_norm=True, plain_last=True)
    assert [sorted(b) for b in mlp.blocks] == [["act", "drop", "linear", "ln"]] * 2 + [["linear"]]
    assert isinstance(mlp.blocks[0]["act"], nn.Tanh) and mlp.out_dim == 2
    assert mlp(torch.randn(3, 4, 5)).shape == (3, 4, 2)
    assert len(MLP([4, 3, 2]).blocks[-1]) == 2  # without plain_last the last block has its activation
    with pytest.raises(ConfigError):
        MLP([4, 3], batch_norm=True, layer_norm=True)
    with pytest.raises(ConfigError):
        MLP([4, 0])


def test_mlp_equals_its_definition() -> None:
    torch.manual_seed(0)
    mlp = MLP([6, 4, 3], "relu", batch_norm=True).eval()
    x = torch.randn(10, 6)
    b0, b1 = mlp.blocks
    want = F.relu(b1["bn"](b1["linear"](F.relu(b0["bn"](b0["linear"](x))))))
    assert torch.equal(mlp(x), want)
    # first_linear=False continues from the first block's Linear output
    assert torch.equal(mlp(b0["linear"](x), first_linear=False), want)


def test_mlp_loads_a_flat_sequential_state_dict() -> None:
    torch.manual_seed(0)
    flat = nn.Sequential(nn.Linear(6, 5), nn.LayerNorm(5), nn.ReLU(), nn.Dropout(0.1),
                         nn.Linear(5, 5), nn.LayerNorm(5), nn.ReLU(), nn.Dropout(0.1), nn.Linear(5, 1)).eval()
    with torch.no_grad():
        for p in flat.parameters():
            p.normal_()
    mlp = MLP([6, 5, 5, 1], dropout=0.1, layer_norm=True, plain_last=True).eval()
    parent = nn.Module()
    parent.head = mlp
    legacy = {f"head.{k}": v for k, v in flat.state_dict().items()}
    assert parent.load_state_dict(legacy, strict=True)
    x = torch.randn(4, 6)
    assert torch.equal(mlp(x), flat(x))
    assert "head.blocks.2.linear.weight" in parent.state_dict()


def test_sparse_input_is_used_only_for_sparse_cpu_matrices() -> None:
    x = torch.zeros(50, 40)
    x[torch.arange(50), torch.arange(50) % 40] = 1.0  # 2.5 % non-zero
    assert sparse_input(x).is_sparse
    torch.testing.assert_close(sparse_input(x).to_dense(), x)
    assert not sparse_input(torch.rand(50, 40) + 0.1).is_sparse  # dense features stay dense
    assert not sparse_input(torch.zeros(50, 40, dtype=torch.long)).is_sparse


def test_feature_dropout_of_a_sparse_matrix_keeps_zeros_and_scales_kept_values() -> None:
    torch.manual_seed(0)
    dense = (torch.rand(200, 100) < 0.05).float() * torch.rand(200, 100)
    x = dense.to_sparse().coalesce()
    assert feature_dropout(x, 0.6, training=False) is x
    assert not feature_dropout(dense, 0.6, training=True).is_sparse  # dense input: F.dropout
    out = feature_dropout(x, 0.6, training=True).to_dense()
    assert (out[dense == 0] == 0).all()
    kept = out[dense != 0] != 0
    torch.testing.assert_close(out[dense != 0][kept], dense[dense != 0][kept] / 0.4)
    assert abs(kept.float().mean().item() - 0.4) < 0.05  # F.dropout keeps 1 - p of the entries
