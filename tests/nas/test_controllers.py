"""Controllers without training: conservative steps, policy gradient, pruning, resumable state."""

from __future__ import annotations

import io
import random

import optuna
import pytest
import torch
from plexus.nas.controllers import OptunaController, RandomController, RCNASController, make_controller
from plexus.nas.spaces.graphnas import GraphNASSpace
from plexus.platform.errors import ConfigError


def fake_reward(space: GraphNASSpace, arch, noise: random.Random) -> float:
    """A deterministic landscape (GAT-like choices are better) plus a little noise."""
    score = sum(layer.attention in ("gat", "sym-gat") for layer in arch.layers) * 0.2
    score += sum(layer.activation == "elu" for layer in arch.layers) * 0.1
    return score + noise.random() * 0.05


def drive(ctl, steps: int, seed: int = 0) -> list[tuple]:
    noise = random.Random(seed)
    log = []
    for _ in range(steps):
        best_before, best_reward_before = ctl.best_arch, ctl.best_reward
        p = ctl.propose()
        r = fake_reward(ctl.space, p.arch, noise)
        ctl.observe(p, r, "COMPLETE")
        log.append((best_before, best_reward_before, p, r))
    return log


def test_conservative_controller_changes_exactly_one_class_per_step() -> None:
    space = GraphNASSpace(2)
    ctl = RCNASController(space, seed=3)
    log = drive(ctl, 40)
    assert log[0][2].info["phase"] == "init" and log[0][2].parent is None
    seen_actions = set()
    for best_before, best_r, p, r in log[1:]:
        assert p.parent == best_before                     # the child's parent is the current best
        assert space.changed_classes(best_before, p.arch) == {p.info["action"]}
        seen_actions.add(p.info["action"])
        assert ctl.best_reward >= best_r                   # the best never gets worse
    assert len(seen_actions) >= 3                          # the guider samples several classes
    rewards = [r for *_, r in log]
    assert ctl.best_reward == max(rewards)
    assert [ctl.best_reward] == [r for *_, r in log if r == ctl.best_reward]


def test_argmax_guider_picks_the_most_uncertain_class() -> None:
    space = GraphNASSpace(2)
    ctl = RCNASController(space, seed=0, guide="argmax")
    arch = space.default()
    ent = ctl.entropies(arch)
    assert ctl.choose_class(arch) == max(ent, key=ent.get)
    # near-uniform controllers: the class with most values has the largest entropy
    assert max(ent, key=ent.get) == "activation"
    assert all(v > 0 for v in ent.values())


def test_classes_pinned_to_one_value_are_never_chosen_or_mutated() -> None:
    # --choices may pin a class to one value (the demo's quick sizes do): the guider must skip it, since no
    # child can differ from the best in that class (it used to raise IndexError on an empty choice list)
    space = GraphNASSpace(2, choices={"hidden": [4], "heads": [1], "aggregator": ["sum"]})
    ctl = RCNASController(space, seed=0)
    log = drive(ctl, 60)
    actions = {p.info["action"] for *_, p, _ in log[1:]}
    actions |= {ctl.choose_class(ctl.best_arch) for _ in range(500)}  # softmax(H) gives H=0 weight exp(-max H)
    assert actions and not actions & {"hidden", "heads", "aggregator"}
    assert set(ctl.mutable_classes()) == {"attention", "activation", "combine", "skip"}
    with pytest.raises(ConfigError, match="single value"):
        ctl.mutate(ctl.best_arch, "heads")
    pinned = GraphNASSpace(1, choices={"attention": ["gcn"], "aggregator": ["sum"], "activation": ["elu"],
                                       "heads": [1], "skip": ["none"]})
    ctl1 = RCNASController(pinned, seed=0)
    first = ctl1.propose()
    ctl1.observe(first, 0.5)
    with pytest.raises(ConfigError, match="single value"):
        ctl1.propose()


@pytest.mark.parametrize("sign", [1.0, -1.0])
def test_policy_gradient_moves_log_probability_with_the_advantage(sign: float) -> None:
    space = GraphNASSpace(2)
    ctl = RCNASController(space, seed=1, lr=1e-2, entropy_coeff=0.0)
    parent = space.default()
    child = ctl.mutate(parent, "attention")
    before = ctl.log_prob(parent, child, "attention").item()
    other = {k: v.clone() for k, v in ctl.controller("aggregator").state_dict().items()}
    for _ in range(3):
        ctl.reinforce(parent, child, "attention", advantage=sign * 0.5)
    after = ctl.log_prob(parent, child, "attention").item()
    assert (after - before) * sign > 0
    # only the chosen class's controller is updated
    assert all(torch.equal(v, ctl.controller("aggregator").state_dict()[k]) for k, v in other.items())


def test_observe_uses_best_initialised_baseline_and_positive_advantage_raises_probability() -> None:
    space = GraphNASSpace(2)
    ctl = RCNASController(space, seed=2, lr=1e-2)
    init = ctl.propose()
    ctl.observe(init, 0.5)
    assert ctl.baseline is None and ctl.best_reward == 0.5
    p = ctl.propose()
    before = ctl.log_prob(p.parent, p.arch, p.info["action"]).item()
    ctl.observe(p, 0.8)
    assert p.info["advantage"] == pytest.approx(0.3)        # baseline starts at the best reward
    assert ctl.baseline == pytest.approx(0.95 * 0.5 + 0.05 * 0.8)
    assert ctl.log_prob(p.parent, p.arch, p.info["action"]).item() > before
    assert ctl.best_arch == p.arch and ctl.best_reward == 0.8


@pytest.mark.parametrize("name", ["autognn", "random", "optuna"])
def test_state_dict_resumes_the_same_search(name: str) -> None:
    space = GraphNASSpace(2)
    a = make_controller(name, space, seed=7)
    drive(a, 6)
    buf = io.BytesIO()
    torch.save(a.state_dict(), buf)
    buf.seek(0)
    state = torch.load(buf, weights_only=True)
    b = make_controller(name, space, seed=7)
    b.load_state_dict(state)
    assert b.best_arch == a.best_arch and b.best_reward == a.best_reward
    if name == "optuna":
        assert len(b.study.trials) == len(a.study.trials) == 6
        drive(b, 2)  # the replayed study keeps working
        assert len(b.study.trials) == 8
        return
    next_a = [p.arch for *_, p, _ in drive(a, 4, seed=9)]
    next_b = [p.arch for *_, p, _ in drive(b, 4, seed=9)]
    assert next_a == next_b


def test_optuna_pruning_hook_prunes_a_bad_architecture() -> None:
    space = GraphNASSpace(2)
    ctl = OptunaController(space, seed=0, sampler="random", pruner="median", warmup_steps=2)
    for value in (0.8, 0.7):
        p = ctl.propose()
        hook, = ctl.callbacks(p, "val_acc")
        for step in range(1, 4):
            hook.on_evaluate(None, step, {"val_acc": value})
        ctl.observe(p, value)
    p = ctl.propose()
    hook, = ctl.callbacks(p, "val_acc")
    hook.on_evaluate(None, 1, {"val_acc": 0.1})  # warm-up steps are never pruned
    with pytest.raises(optuna.TrialPruned):
        hook.on_evaluate(None, 2, {"val_acc": 0.1})
    ctl.observe(p, None, "PRUNED")
    states = [t.state.name for t in ctl.study.trials]
    assert states == ["COMPLETE", "COMPLETE", "PRUNED"]
    assert ctl.best_reward == 0.8


def test_random_controller_covers_the_space_and_unknown_names_fail() -> None:
    space = GraphNASSpace(2)
    ctl = RandomController(space, seed=0)
    archs = [ctl.propose().arch for _ in range(30)]
    assert len({a.to_json() for a in archs}) == 30
    assert all(ctl.propose().parent is None for _ in range(3))
    with pytest.raises(ConfigError, match="unknown NAS controller"):
        make_controller("darts", space)
    with pytest.raises(ConfigError, match="does not take"):
        make_controller("random", space, share=True)
