"""Constrained parameter sharing: only homogeneous layers inherit, and they inherit the parent's exact tensors."""

from __future__ import annotations

import dataclasses
from types import SimpleNamespace

import pytest
import torch
from plexus.nas.graphnas_net import GraphNASNet
from plexus.nas.sharing import WeightSharing, inherit_weights
from plexus.nas.spaces.graphnas import Architecture, LayerArch
from plexus.platform.testing import tiny_problem

PARENT = Architecture((
    LayerArch(attention="gat", aggregator="mean", activation="elu", heads=2, hidden=8, combine="concat", skip="residual"),
    LayerArch(attention="cos", aggregator="sum", activation="linear", heads=2, hidden=None, combine=None),
))


def with_layer(arch: Architecture, i: int, **changes) -> Architecture:
    layers = list(arch.layers)
    layers[i] = dataclasses.replace(layers[i], **changes)
    return Architecture(tuple(layers))


def trained_parent():
    spec, _ = tiny_problem("node")
    torch.manual_seed(0)
    parent = GraphNASNet(spec, arch=PARENT.to_json())
    with torch.no_grad():  # make the parent's tensors distinguishable from any fresh initialisation
        for p in parent.parameters():
            p.add_(torch.randn_like(p))
    return spec, {k: v.clone() for k, v in parent.state_dict().items()}


def child_of(spec, arch: Architecture) -> tuple[GraphNASNet, dict]:
    torch.manual_seed(1)
    child = GraphNASNet(spec, arch=arch.to_json())
    return child, {k: v.clone() for k, v in child.state_dict().items()}


def layer_keys(state: dict, i: int) -> list[str]:
    return [k for k in state if k.startswith(f"layers.{i}.")]


@pytest.mark.parametrize("change,inherits", [
    ({}, [0, 1]),                                       # identical architecture
    ({"aggregator": "max"}, [0, 1]),                    # aggregator is not a homogeneity constraint
    ({"skip": "none"}, [0, 1]),                         # neither is the skip connection
    ({"activation": "relu"}, [1]),                      # activation differs
    ({"attention": "gcn"}, [1]),                        # attention function differs
    ({"heads": 4}, []),                                 # shapes differ here and in the next layer's input
    ({"hidden": 16}, []),
    ({"combine": "mean"}, []),                          # output width differs -> next layer's input differs
])
def test_only_homogeneous_layers_inherit(change: dict, inherits: list[int]) -> None:
    spec, parent_state = trained_parent()
    arch = with_layer(PARENT, 0, **change)
    child, fresh = child_of(spec, arch)
    report = inherit_weights(child, arch, PARENT, parent_state)
    assert report.inherited_layers == inherits
    after = child.state_dict()
    for i in range(2):
        for key in layer_keys(after, i):
            same_as_parent = key in parent_state and parent_state[key].shape == after[key].shape \
                and torch.equal(after[key], parent_state[key])
            if i in inherits and key in parent_state and parent_state[key].shape == after[key].shape:
                assert same_as_parent, key
            else:  # never receives a tensor: keeps its own initialisation
                assert torch.equal(after[key], fresh[key]), key
                assert not same_as_parent, key
    assert set(report.rejected) == {0, 1} - set(inherits)


def test_aggregator_mlp_is_fresh_when_the_parent_has_none() -> None:
    spec, parent_state = trained_parent()
    arch = with_layer(PARENT, 1, aggregator="mlp")  # the parent's layer 1 sums: no pooling MLP to inherit
    child, fresh = child_of(spec, arch)
    report = inherit_weights(child, arch, PARENT, parent_state)
    assert 1 in report.inherited_layers
    after = child.state_dict()
    assert torch.equal(after["layers.1.conv.weight"], parent_state["layers.1.conv.weight"])
    assert torch.equal(after["layers.1.conv.pool.0.weight"], fresh["layers.1.conv.pool.0.weight"])


def test_callback_inherits_at_fit_start_and_keeps_trained_weights() -> None:
    spec, parent_state = trained_parent()
    arch = with_layer(PARENT, 1, attention="gat")
    child, _ = child_of(spec, arch)
    cb = WeightSharing(arch, PARENT, parent_state)
    trainer = SimpleNamespace(model=child, epoch=0)
    cb.on_fit_start(trainer)
    assert cb.report.inherited_layers == [0] and cb.report.rejected[1].startswith("attention")
    cb.on_fit_end(trainer, {})
    assert torch.equal(cb.trained_state["layers.0.conv.weight"], parent_state["layers.0.conv.weight"])
    none = WeightSharing(arch)  # no parent: nothing is inherited
    none.on_fit_start(SimpleNamespace(model=child_of(spec, arch)[0], epoch=0))
    assert none.report.inherited_layers == []


def test_a_child_that_inherited_trains_only_shared_epochs() -> None:
    """CPS: an inheriting child stops after ``shared_epochs``; one that inherited nothing trains its full budget."""
    from plexus.platform.training.callbacks import StopTraining

    spec, parent_state = trained_parent()
    arch = with_layer(PARENT, 1, attention="gat")
    cb = WeightSharing(arch, PARENT, parent_state, shared_epochs=3)
    cb.on_fit_start(SimpleNamespace(model=child_of(spec, arch)[0], epoch=0))
    cb.on_epoch_end(None, 2, {})
    with pytest.raises(StopTraining, match="inherited layers"):
        cb.on_epoch_end(None, 3, {})
    fresh = with_layer(with_layer(PARENT, 0, activation="tanh"), 1, attention="gat")  # no homogeneous layer
    cold = WeightSharing(fresh, PARENT, parent_state, shared_epochs=3)
    cold.on_fit_start(SimpleNamespace(model=child_of(spec, fresh)[0], epoch=0))
    assert cold.report.inherited_layers == []
    for epoch in range(1, 10):
        cold.on_epoch_end(None, epoch, {})  # never stops early
