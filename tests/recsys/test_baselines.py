"""Recommender baselines + contract and learning checks for every recsys plugin."""

from __future__ import annotations

import io
import itertools

import optuna
import pytest
import torch
from plexus.platform.catalog import get_catalog
from plexus.platform.testing import tiny_problem, tiny_tabular_spec
from plexus.recsys.armnet import ARMNet, ARMNetPlus
from plexus.recsys.autoint import AutoInt, AutoIntPlus
from plexus.recsys.baselines import DNN, FM, LR, SharedBottom
from plexus.recsys.din import DIN, DINBase
from sklearn.metrics import roc_auc_score

CTR_MODELS = {"lr": LR, "fm": FM, "dnn": DNN, "din": DIN, "din_base": DINBase, "autoint": AutoInt,
              "autoint_plus": AutoIntPlus, "armnet": ARMNet, "armnet_plus": ARMNetPlus}
ALL = {**CTR_MODELS, "shared_bottom": SharedBottom}


def test_lr_is_a_sum_of_per_value_weights():
    spec, batch = tiny_problem("ctr")
    m = LR(spec)
    with torch.no_grad():
        m.bias.fill_(0.3)
    w = m.weights
    want = 0.3 + sum(w.pooled(n, batch[n])[:, 0] for n in w.flat_names())
    assert torch.allclose(m(batch)["logit"], want, atol=1e-6)
    want_item = w.table("item").weight[batch["item"], 0]
    assert torch.allclose(w.embed("item", batch["item"])[:, 0], want_item)


def test_fm_pairwise_trick_equals_brute_force():
    spec, batch = tiny_problem("ctr")
    m = FM(spec, embed_dim=5)
    m.factors.init_std = 0.5
    m.factors.reset_parameters()
    v = m.factors.flat(batch)
    brute = sum((v[:, i] * v[:, j]).sum(-1) for i, j in itertools.combinations(range(v.shape[1]), 2))
    assert torch.allclose(FM.pairwise(v), brute, atol=1e-5)
    lin = m.linear.flat(batch).sum((1, 2)) + m.bias
    assert torch.allclose(m(batch)["logit"], lin + brute, atol=1e-5)


def test_shared_bottom_one_logit_per_task():
    spec, batch = tiny_problem("multitask")
    out = SharedBottom(spec, tower=())(batch)
    assert set(out) == {"click", "buy"} and all(v.shape == (16,) for v in out.values())
    out = SharedBottom(spec)(batch)
    assert not torch.allclose(out["click"], out["buy"])  # separate towers


@pytest.mark.parametrize("name", sorted(ALL))
def test_contract(name):
    cls = ALL[name]
    spec, batch = tiny_problem("multitask" if name == "shared_bottom" else "ctr")
    torch.manual_seed(0)
    m = cls(spec)
    out = m(batch)
    logits = [out["logit"]] if "logit" in out else [out[t] for t in spec.tasks]
    assert all(t.shape == (16,) and torch.isfinite(t).all() for t in logits)
    loss = sum(t.sum() for t in logits) + out.get("aux_loss", 0)
    loss.backward()
    grads = [p.grad for p in m.parameters() if p.grad is not None]
    assert grads and all(torch.isfinite(g).all() for g in grads)
    # state dict round trip and seeded determinism
    buf = io.BytesIO()
    torch.save(m.state_dict(), buf)
    buf.seek(0)
    torch.manual_seed(123)
    m2 = cls(spec)
    m2.load_state_dict(torch.load(buf, weights_only=True))
    m.eval(), m2.eval()
    a, b = m(batch), m2(batch)
    assert all(torch.equal(a[k], b[k]) for k in a)
    torch.manual_seed(0)
    m3 = cls(spec)
    torch.manual_seed(0)
    m4 = cls(spec)
    assert all(torch.equal(p, q) for p, q in zip(m3.state_dict().values(), m4.state_dict().values()))


@pytest.mark.parametrize("name", sorted(ALL))
def test_registered_and_search_space_builds(name):
    entry = get_catalog().model(name)
    assert entry.obj is ALL[name]
    assert all(p.help for p in entry.schema.params.values()), "every hyperparameter is documented"
    spec, batch = tiny_problem(entry.task)
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    for _ in range(2):
        trial = study.ask()
        model = entry.build(spec, **entry.search_space(trial))
        out = model(batch)
        assert all(torch.isfinite(v).all() for v in out.values())


def _synthetic(n: int, seed: int, multitask: bool = False):
    """The tiny tabular spec with a learnable signal: user taste × item category, price, context, genres."""
    spec = tiny_tabular_spec(multitask)
    g = torch.Generator().manual_seed(seed)
    user_taste = torch.randint(2, 8, (12,), generator=torch.Generator().manual_seed(99))
    user = torch.randint(1, 12, (n,), generator=g)
    item = torch.randint(2, 30, (n,), generator=g)
    cate = item % 6 + 2
    hist_item = torch.randint(2, 30, (n, 6), generator=g)
    keep = torch.arange(6).expand(n, -1) >= torch.randint(0, 6, (n, 1), generator=g)
    hist_item = hist_item * keep
    batch = {
        "user": user, "item": item, "cate": cate, "ctx": torch.randint(1, 5, (n,), generator=g),
        "price": torch.randn(n, generator=g), "age": torch.randn(n, generator=g),
        "genres": torch.randint(0, 9, (n, 3), generator=g),
        "hist_item": hist_item, "hist_cate": (hist_item % 6 + 2) * keep,
    }
    signal = (2.5 * (cate == user_taste[user]).float() + 1.0 * batch["price"] - 1.0 * (batch["ctx"] == 1).float()
              + 0.8 * (batch["genres"] == 3).any(1).float() - 1.0)
    labels = {"label": torch.bernoulli(torch.sigmoid(2 * signal), generator=g)}
    if multitask:
        batch["neg_item"] = torch.randint(0, 30, (n, 6), generator=g)
        labels = {"click": labels["label"],
                  "buy": labels["label"] * torch.bernoulli(torch.sigmoid(2 * batch["age"]), generator=g)}
    return spec, batch, labels


SMALL = {
    "dnn": {"hidden": (32,)}, "din": {"hidden": (32,), "att_hidden": (16,)}, "din_base": {"hidden": (32,)},
    "autoint": {"num_layers": 2, "head_dim": 8}, "autoint_plus": {"num_layers": 1, "head_dim": 8, "dnn_hidden": (32,)},
    "armnet": {"num_heads": 2, "num_neurons": 8, "mlp_hidden": (32,)},
    "armnet_plus": {"num_heads": 2, "num_neurons": 8, "mlp_hidden": (32,), "dnn_hidden": (32,)},
    "shared_bottom": {"bottom": (32,), "tower": (16,)},
}


@pytest.mark.parametrize("name", sorted(ALL))
def test_learns_synthetic_ctr(name):
    multitask = name == "shared_bottom"
    spec, train, labels = _synthetic(3000, 0, multitask)
    _, test, test_labels = _synthetic(1500, 1, multitask)
    torch.manual_seed(0)
    model = ALL[name](spec, **SMALL.get(name, {}))
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    for _ in range(200):
        idx = torch.randint(0, 3000, (128,))
        out = model({k: v[idx] for k, v in train.items()})
        loss = sum(torch.nn.functional.binary_cross_entropy_with_logits(out["logit" if t == "label" else t], y[idx])
                   for t, y in labels.items()) + out.get("aux_loss", 0)
        opt.zero_grad()
        loss.backward()
        opt.step()
    model.eval()
    with torch.no_grad():
        out = model(test)
    for t, y in test_labels.items():
        auc = roc_auc_score(y.numpy(), out["logit" if t == "label" else t].numpy())
        assert auc > 0.7, (t, auc)
