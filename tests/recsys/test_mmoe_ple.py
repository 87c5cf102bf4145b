"""MMoE and PLE: gate semantics, PLE gradient routing, learning on real multi-task data."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from fit_helpers import fit_multitask
from plexus.platform.data.sources import ensure_raw
from plexus.platform.spec import DataSpec, FieldSpec
from plexus.platform.testing import tiny_problem
from plexus.recsys.mmoe import MMoE
from plexus.recsys.ple import PLE

CENSUS_COLS = (
    "age class_worker det_ind_code det_occ_code education wage_per_hour hs_college marital_stat "
    "major_ind_code major_occ_code race hisp_origin sex union_member unemp_reason "
    "full_or_part_emp capital_gains capital_losses stock_dividends tax_filer_stat region_prev_res "
    "state_prev_res det_hh_fam_stat det_hh_summ instance_weight mig_chg_msa mig_chg_reg "
    "mig_move_reg mig_same mig_prev_sunbelt num_emp fam_under_18 country_father country_mother "
    "country_self citizenship own_or_self vet_question vet_benefits weeks_worked year income_50k"
).split()


def census(n: int = 8000) -> tuple[DataSpec, dict[str, torch.Tensor], dict[str, torch.Tensor]]:
    """The MMoE benchmark's census-income tasks (income > 50k, never married) on the first n rows."""
    import pandas as pd

    root = ensure_raw("census-income")  # tests calling this carry @pytest.mark.data("census-income")
    df = pd.read_csv(
        root / "census-income.test.gz", header=None, names=CENSUS_COLS, skipinitialspace=True, nrows=n
    )
    cats = [
        "class_worker",
        "education",
        "sex",
        "race",
        "major_occ_code",
        "major_ind_code",
        "full_or_part_emp",
        "citizenship",
        "tax_filer_stat",
    ]
    fields, feats = [], {}
    for c in cats:
        codes, uniq = pd.factorize(df[c])
        fields.append(FieldSpec(c, "categorical", len(uniq) + 2, role="user"))
        feats[c] = torch.as_tensor(codes + 2, dtype=torch.long)
    for c in ["age", "weeks_worked"]:
        v = df[c].to_numpy(np.float32)
        fields.append(FieldSpec(c, "numeric", role="user"))
        feats[c] = torch.as_tensor((v - v.mean()) / v.std())
    labels = {
        "income": torch.as_tensor((df["income_50k"] == "50000+.").to_numpy(np.float32)),
        "marital": torch.as_tensor((df["marital_stat"] == "Never married").to_numpy(np.float32)),
    }
    return DataSpec("multitask", fields=fields, tasks=["income", "marital"]), feats, labels


def train_eval(model: torch.nn.Module, feats, labels, steps: int = 100, bs: int = 256) -> dict[str, float]:
    n = next(iter(labels.values())).shape[0]
    return fit_multitask(model, feats, labels, int(0.8 * n), seed=0, steps=steps, lr=3e-3, batch_size=bs)


@pytest.mark.parametrize("cls", [MMoE, PLE])
def test_outputs_every_task_and_backward(cls):
    spec, batch = tiny_problem("multitask")
    torch.manual_seed(0)
    model = cls(spec)
    out = model(batch)
    assert set(out) == set(spec.tasks)
    assert all(v.shape == (16,) for v in out.values())
    sum(v.sum() for v in out.values()).backward()
    grads = [p.grad for p in model.parameters() if p.grad is not None]
    assert grads and all(torch.isfinite(g).all() for g in grads)


def test_mmoe_gates_softmax_per_task_and_distinct():
    spec, batch = tiny_problem("multitask")
    torch.manual_seed(0)
    model = MMoE(spec, num_experts=5)
    gates = model.gate_weights(batch)
    assert set(gates) == {"click", "buy"}
    for g in gates.values():
        assert g.shape == (16, 5)
        assert (g > 0).all()
        torch.testing.assert_close(g.sum(-1), torch.ones(16))
        assert g.std(0).max() > 0  # input-dependent, not a constant mixture
    assert not torch.allclose(gates["click"], gates["buy"])
    # the gates really mix the experts: forcing task 'click's gate onto expert 0 changes only 'click'
    base = model(batch)
    with torch.no_grad():
        model.mmoe.gates[0].weight.zero_()
        model.mmoe.gates[0].weight[0, :] = 0.0
    out = model(batch)
    torch.testing.assert_close(out["buy"], base["buy"])
    assert not torch.allclose(out["click"], base["click"])


@pytest.mark.parametrize("levels", [1, 2, 3])
def test_ple_last_level_task_experts_isolated(levels):
    spec, batch = tiny_problem("multitask")
    torch.manual_seed(0)
    model = PLE(spec, num_levels=levels, specific_experts=2, shared_experts=2)
    model(batch)["buy"].sum().backward()  # task B's loss only
    last = model.ple.levels[-1]

    def grad_norm(module):
        return sum(0.0 if p.grad is None else float(p.grad.abs().sum()) for p in module.parameters())

    assert grad_norm(last.task_experts[0]) == 0.0  # task A ('click') experts: nothing from task B
    assert grad_norm(last.task_gates[0]) == 0.0
    assert grad_norm(model.towers.towers[0]) == 0.0
    assert grad_norm(last.task_experts[1]) > 0 and grad_norm(last.shared_experts) > 0
    if levels > 1:  # below the last level the shared gate routes task A's experts to everybody
        assert grad_norm(model.ple.levels[0].task_experts[0]) > 0
    for gates in model.gate_weights(batch):
        for g in gates.values():
            assert g.shape == (16, 4)
            torch.testing.assert_close(g.sum(-1), torch.ones(16))


@pytest.mark.data("census-income")
@pytest.mark.parametrize("cls", [MMoE, PLE])
def test_learns_census_income_tasks(cls):
    spec, feats, labels = census()
    torch.manual_seed(0)
    aucs = train_eval(cls(spec, expert_hidden=(32,), tower_hidden=(16,)), feats, labels)
    assert aucs["income"] > 0.8 and aucs["marital"] > 0.8, aucs


@pytest.mark.parametrize("cls", [MMoE, PLE])
def test_search_space_builds(cls):
    import optuna

    spec, batch = tiny_problem("multitask")
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    for _ in range(3):
        hp = cls.search_space(study.ask())
        out = cls(spec, **hp)(batch)
        assert set(out) == set(spec.tasks)
