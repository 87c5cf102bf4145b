"""DeepFM and Wide & Deep: the defining equations hold and both learn interactions LR cannot."""

from __future__ import annotations

import itertools

import torch
from plexus.platform.spec import DataSpec, FieldSpec
from plexus.platform.testing import tiny_problem
from plexus.recsys.baselines import LR
from plexus.recsys.deepfm import DeepFM, WideDeep
from sklearn.metrics import roc_auc_score


def test_deepfm_fm_part_is_the_pairwise_sum_and_embeddings_are_shared() -> None:
    spec, batch = tiny_problem("ctr")
    torch.manual_seed(0)
    m = DeepFM(spec, embed_dim=4, hidden=(8,))
    v = m.embedding.flat(batch)
    brute = sum((v[:, f] * v[:, g]).sum(-1) for f, g in itertools.combinations(range(v.size(1)), 2))
    lin = m.linear.flat(batch).sum((1, 2)) + m.bias
    torch.testing.assert_close(m.fm_logit(batch, v), lin + brute, rtol=1e-5, atol=1e-6)
    with torch.no_grad():
        m.out.weight.zero_()
        m.out.bias.zero_()
    torch.testing.assert_close(m(batch)["logit"], lin + brute, rtol=1e-5, atol=1e-6)
    # the deep component reads the same embedding table as the FM component
    m2 = DeepFM(spec, embed_dim=4, hidden=(8,))
    deep = m2.out(m2.mlp(m2.embedding.flat(batch).flatten(1))).sum()
    deep.backward()
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in m2.embedding.parameters())
    assert not any(isinstance(mod, torch.nn.Embedding) for name, mod in m2.named_modules()
                   if name.startswith("mlp"))


def test_wide_deep_wide_part_is_linear_and_crosses_add_pair_weights() -> None:
    spec, batch = tiny_problem("ctr")
    torch.manual_seed(0)
    m = WideDeep(spec, embed_dim=4, hidden=(8,), cross=True, cross_buckets=1009)
    with torch.no_grad():
        m.out.weight.zero_()
        m.out.bias.zero_()
    wide_only = m.wide.flat(batch).sum((1, 2)) + m.bias
    torch.testing.assert_close(m(batch)["logit"], wide_only)  # cross weights start at zero
    with torch.no_grad():
        m.cross_weight.weight.fill_(0.5)
    n_pairs = len(m.cats) * (len(m.cats) - 1) // 2
    torch.testing.assert_close(m(batch)["logit"], wide_only + 0.5 * n_pairs)


def _xor_problem(n: int, seed: int) -> tuple[DataSpec, dict[str, torch.Tensor], torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    spec = DataSpec("ctr", fields=[FieldSpec(f"f{i}", "categorical", 4) for i in range(3)])
    batch = {f"f{i}": torch.randint(2, 4, (n,), generator=g) for i in range(3)}
    y = ((batch["f0"] == 2) ^ (batch["f1"] == 2)).float()
    return spec, batch, y


def _fit_auc(model: torch.nn.Module, batch, y, test_batch, test_y, steps: int = 300) -> float:
    opt = torch.optim.Adam(model.parameters(), lr=0.02)
    for _ in range(steps):
        opt.zero_grad()
        torch.nn.functional.binary_cross_entropy_with_logits(model(batch)["logit"], y).backward()
        opt.step()
    model.eval()
    with torch.no_grad():
        return roc_auc_score(test_y.numpy(), model(test_batch)["logit"].numpy())


def test_deep_models_learn_a_pairwise_interaction_lr_cannot() -> None:
    spec, batch, y = _xor_problem(2000, 0)
    _, tb, ty = _xor_problem(1000, 1)
    torch.manual_seed(0)
    lr = _fit_auc(LR(spec), batch, y, tb, ty)
    torch.manual_seed(0)
    dfm = _fit_auc(DeepFM(spec, embed_dim=8, hidden=(32,)), batch, y, tb, ty)
    torch.manual_seed(0)
    wd = _fit_auc(WideDeep(spec, embed_dim=8, hidden=(32,)), batch, y, tb, ty)
    assert lr < 0.6 and dfm > 0.95 and wd > 0.95, (lr, dfm, wd)
