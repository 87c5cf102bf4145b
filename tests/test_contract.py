"""The plugin contract, run over every registered model and each of its task kinds.

New plugins join automatically: the parameters come from the catalog.
"""

from __future__ import annotations

import copy

import pytest
import torch

from plexus.platform.catalog import get_catalog
from plexus.platform.testing import tiny_problem

CASES = [
    pytest.param(name, kind, id=f"{name}-{kind}")
    for name, entry in sorted(get_catalog().models().items())
    if entry.status == "ok"
    for kind in entry.tasks
]


def _build(name: str, kind: str, seed: int):
    spec, batch = tiny_problem(kind, seed=0)
    torch.manual_seed(seed)
    model = get_catalog().model(name).build(spec)
    return spec, batch, model


def _expected_shapes(spec, batch, kind: str) -> dict[str, tuple[int, ...]]:
    if kind == "ctr":
        return {"logit": (16,)}
    if kind == "multitask":
        return {t: (16,) for t in spec.tasks}
    if kind == "node":
        return {"logit": (batch.num_nodes, spec.num_classes)}
    if kind == "link":
        return {"logit": (batch.edge_label_index.size(1),)}
    if kind == "graph":
        return {"logit": (batch.num_graphs, spec.num_classes)}
    if kind == "dynlink":
        return {"logit": (batch.edge_label_index.size(1),)}
    if kind == "edge":
        return {"logit": (batch.edge_label_index.size(1), spec.num_classes)}
    raise AssertionError(kind)


def _loss(out: dict[str, torch.Tensor], shapes: dict[str, tuple[int, ...]]) -> torch.Tensor:
    loss = sum(out[k].float().pow(2).mean() for k in shapes)
    if "aux_loss" in out:
        loss = loss + out["aux_loss"]
    return loss


@pytest.mark.parametrize("name,kind", CASES)
def test_forward_shapes(name: str, kind: str) -> None:
    spec, batch, model = _build(name, kind, 0)
    out = model(copy.copy(batch))
    assert isinstance(out, dict)
    for key, shape in _expected_shapes(spec, batch, kind).items():
        assert key in out, f"{name} output lacks '{key}' (has {sorted(out)})"
        assert tuple(out[key].shape) == shape, f"{name}[{key}] shape {tuple(out[key].shape)} != {shape}"
        assert torch.isfinite(out[key]).all()


@pytest.mark.parametrize("name,kind", CASES)
def test_backward_finite_gradients(name: str, kind: str) -> None:
    spec, batch, model = _build(name, kind, 0)
    model.train()
    out = model(copy.copy(batch))
    _loss(out, _expected_shapes(spec, batch, kind)).backward()
    grads = [p.grad for p in model.parameters() if p.requires_grad and p.grad is not None]
    assert grads, f"{name}: no parameter received a gradient"
    assert all(torch.isfinite(g).all() for g in grads)
    assert any(g.abs().sum() > 0 for g in grads)


@pytest.mark.parametrize("name,kind", CASES)
def test_state_dict_round_trip(name: str, kind: str) -> None:
    spec, batch, model = _build(name, kind, 0)
    _, _, other = _build(name, kind, 123)
    model.eval()
    other.eval()
    other.load_state_dict(model.state_dict())
    with torch.no_grad():
        a, b = model(copy.copy(batch)), other(copy.copy(batch))
    for key in _expected_shapes(spec, batch, kind):
        torch.testing.assert_close(a[key], b[key], rtol=0, atol=0)


@pytest.mark.parametrize("name,kind", CASES)
def test_seeded_determinism(name: str, kind: str) -> None:
    outs = []
    for _ in range(2):
        spec, batch, model = _build(name, kind, 7)
        model.train()
        torch.manual_seed(11)
        outs.append(model(copy.copy(batch)))
    for key in _expected_shapes(spec, batch, kind):
        torch.testing.assert_close(outs[0][key], outs[1][key], rtol=0, atol=0)


OUTPUT_NODES = [p for p in CASES if p.values[1] == "node"
                and getattr(get_catalog().model(p.values[0]).obj, "output_nodes", False)]


@pytest.mark.parametrize("name,kind", OUTPUT_NODES)
def test_output_nodes_rows_equal_the_full_output(name: str, kind: str) -> None:
    """A model declaring ``output_nodes`` returns, for ``batch.out_index``, exactly those rows of its full output."""
    _, batch, model = _build(name, kind, 0)
    model.eval()
    idx = torch.tensor([13, 2, 7, 19, 0])
    sub = copy.copy(batch)
    sub.out_index = idx
    with torch.no_grad():
        full, rows = model(copy.copy(batch))["logit"], model(sub)["logit"]
    torch.testing.assert_close(rows, full[idx], rtol=1e-5, atol=1e-5)


def test_every_builtin_plugin_loads() -> None:
    broken = {n: e.error for n, e in get_catalog().models().items() if e.source == "builtin" and e.status != "ok"}
    assert not broken, broken
    assert CASES, "no models registered"
