"""Explanations of ARM-Net, DIN, AutoInt and DTRN: faithful to what the models compute."""

from __future__ import annotations

import inspect
import json

import pytest
import torch
from fit_helpers import fit_ctr
from plexus.platform.explain import can_explain, can_explain_globally, write_global_attribution
from plexus.platform.spec import DataSpec, FieldSpec
from plexus.platform.testing import tiny_problem, tiny_tabular_spec
from plexus.recsys.armnet import ARMNet, ARMNetPlus
from plexus.recsys.autoint import AutoInt, AutoIntPlus
from plexus.recsys.din import DIN, DINBase
from plexus.recsys.dtrn import DTRN


def _decode(field: str, idx: int) -> str:
    return f"{field}:{idx}"


def _xnor_problem(n: int, seed: int):
    """label = 1[(f1 <= 10) == (f2 even)]: only f1 and f2 matter; f3..f6 are noise."""
    g = torch.Generator().manual_seed(seed)
    x = {f"f{i}": torch.randint(1, 21, (n,), generator=g) for i in range(1, 7)}
    y = ((x["f1"] <= 10) == (x["f2"] % 2 == 0)).float()
    spec = DataSpec("ctr", fields=[FieldSpec(f"f{i}", "categorical", 21) for i in range(1, 7)])
    return spec, x, y


@pytest.fixture(scope="module")
def trained_armnet():
    spec, train, y = _xnor_problem(4000, 0)
    _, test, y_test = _xnor_problem(1000, 1)
    torch.manual_seed(0)
    m = ARMNet(spec, num_heads=2, num_neurons=16, mlp_hidden=(64,))
    auc = fit_ctr(m, train, y, test, y_test, steps=300)
    return m, test, auc


def _masked_logit(model: ARMNet, batch: dict[str, torch.Tensor], drop: torch.Tensor) -> torch.Tensor:
    """Logits with the embedding of field ``drop[b]`` zeroed in row b."""
    flat = model.embedding.flat
    keep = torch.ones(len(drop), model.num_fields, 1)
    keep[torch.arange(len(drop)), drop] = 0.0
    model.embedding.flat = lambda *a, **k: flat(*a, **k) * keep  # type: ignore[method-assign]
    try:
        return model(batch)["logit"]
    finally:
        del model.embedding.flat


def test_armnet_masking_top_ranked_fields_moves_the_prediction_more(trained_armnet) -> None:
    model, test, auc = trained_armnet
    assert auc > 0.9  # the explanation is about a model that learned the relation
    names = model.embedding.flat_names()
    with torch.no_grad():
        ex = model.explain(test, top_k=3)
        scores = torch.tensor([[e.field_scores[n] for n in names] for e in ex])  # [B, m]
        base = model(test)["logit"]
        first = (_masked_logit(model, test, scores.argmax(1)) - base).abs()
        last = (_masked_logit(model, test, scores.argmin(1)) - base).abs()
    assert first.mean() > 3 * last.mean(), (first.mean(), last.mean())
    assert (first > last).float().mean() > 0.8
    # and the fields it ranks first are the two that define the label
    assert set(scores.mean(0).topk(2).indices.tolist()) == {0, 1}


def test_armnet_cross_features_are_gate_supports(trained_armnet) -> None:
    model, test, _ = trained_armnet
    batch = {k: v[:20] for k, v in test.items()}
    names = model.embedding.flat_names()
    with torch.no_grad():
        ex = model.explain(batch, top_k=50)
        z = model.field_gates(batch).flatten(1, 2)  # [B, N, m]
        w = (z * model.arm.values.flatten(0, 1)).abs()
    for b, e in enumerate(ex):
        supports = {tuple(names[j] for j in torch.nonzero(z[b, n] > 0).view(-1).tolist()) for n in range(z.shape[1])}
        assert {t.fields for t in e.terms} == supports
        assert sum(t.weight for t in e.terms) == pytest.approx(1.0, abs=1e-5)
        assert sum(int(t.note.split()[0]) for t in e.terms) == z.shape[1]
        # a term's weight is the |gate x value| mass of the neurons with that support
        t = e.terms[0]
        idx = [j for j in range(z.shape[1]) if tuple(names[i] for i in torch.nonzero(z[b, j] > 0).view(-1)) == t.fields]
        assert t.weight == pytest.approx(float(w[b, idx].sum() / w[b].sum()), rel=1e-4)
        for f, fw in zip(t.fields, t.field_weights, strict=True):  # each field's gate mass in those neurons
            assert fw == pytest.approx(float(w[b, idx, names.index(f)].sum() / w[b].sum()), rel=1e-4)
        assert sum(t.field_weights) == pytest.approx(t.weight, rel=1e-6)
        assert [t.weight for t in e.terms] == sorted((t.weight for t in e.terms), reverse=True)


@pytest.mark.parametrize("normalize", [False, True])
def test_din_weights_equal_the_activation_unit_output(normalize: bool) -> None:
    spec, batch = tiny_problem("ctr")
    torch.manual_seed(0)
    m = DIN(spec, normalize=normalize).eval()
    L = spec.field("hist_item").max_len
    with torch.no_grad():
        ex = m.explain(batch, top_k=L)
    emb = m.embedding
    for b in range(len(ex)):
        row = {k: v[b:b + 1] for k, v in batch.items()}
        with torch.no_grad():  # the unit called directly on this row's query and keys
            q = torch.cat([emb.embed(c, row[c]) for c in m.candidates], -1)
            k = torch.cat([emb.table(s)(row[s]) for s in m.behaviors], -1)
            mask = torch.stack([row[s] != 0 for s in m.behaviors]).any(0)
            unit = m.att(q, k, mask)[0]
            if normalize:
                unit = torch.softmax((unit / k.shape[-1] ** 0.5).masked_fill(~mask[0], float("-inf")), -1)
        real = torch.nonzero(mask[0]).view(-1).tolist()
        assert sorted(t.positions[0] for t in ex[b].terms) == real
        for t in ex[b].terms:
            assert t.fields == ("hist_item", "hist_cate") and t.positions == (t.positions[0],) * 2
            assert t.weight == pytest.approx(float(unit[t.positions[0]]), abs=1e-6)
    assert ex[1].terms == []  # the empty history has nothing to attend to
    recency = [t.note for t in ex[0].terms]
    assert "most recent" in recency and len(set(recency)) == L


def test_autoint_attention_matches_the_layers() -> None:
    spec, batch = tiny_problem("ctr")
    torch.manual_seed(0)
    m = AutoIntPlus(spec, num_layers=2).eval()
    for layer in m.layers:  # weights of order 1, so attention is far from uniform
        torch.nn.init.normal_(layer.q.weight, std=1.0)
        torch.nn.init.normal_(layer.k.weight, std=1.0)
    m.embedding.init_std = 0.5
    m.embedding.reset_parameters()
    names = m.embedding.flat_names()
    from plexus.recsys._explain import autoint_attention

    with torch.no_grad():
        ex = m.explain(batch, top_k=4)
        maps = [a.mean(1) for a in autoint_attention(m, batch)]
        e, ref = m.embedding.flat(batch), []
        for layer in m.layers:  # the layer's own weights: its explicit path, or what its forward kept
            if "return_attention" in inspect.signature(layer.forward).parameters:
                e, att = layer(e, return_attention=True)
            else:
                e = layer(e)
                att = layer.last_attention
            ref.append(att.mean(1))
    for a, r in zip(maps, ref, strict=True):
        assert torch.allclose(a, r, atol=1e-5)
    assert torch.allclose(maps[0].sum(-1), torch.ones(16, len(names)), atol=1e-5)
    for b, e in enumerate(ex):
        assert [t.group for t in e.terms] == ["layer 1"] * 4 + ["layer 2"] * 4
        for t in e.terms:
            i, j = names.index(t.fields[0]), names.index(t.fields[1])
            assert i != j and t.weight == pytest.approx(float(maps[int(t.group[-1]) - 1][b, i, j]), abs=1e-6)
        off = maps[0][b] * ~torch.eye(len(names), dtype=torch.bool)
        assert e.terms[0].weight == pytest.approx(float(off.max()), abs=1e-6)


def test_dtrn_gates_are_the_trm_field_weights() -> None:
    spec, batch = tiny_problem("multitask")
    torch.manual_seed(0)
    m = DTRN(spec).eval()
    with torch.no_grad():
        ex = m.explain(batch, top_k=3)
        gates = m.field_weights(batch)
    for b, e in enumerate(ex):
        assert [t.group for t in e.terms] == ["click"] * 3 + ["buy"] * 3
        for t in e.terms:
            assert t.weight == pytest.approx(float(gates[t.group][b, m.field_names.index(t.fields[0])]), abs=1e-6)
        top = gates["buy"][b].topk(3).indices.tolist()
        assert [t.fields[0] for t in e.terms[3:]] == [m.field_names[j] for j in top]


def test_nothing_to_explain_and_plain_autoint() -> None:
    spec = tiny_tabular_spec()
    assert not can_explain(DINBase(spec)) and not can_explain_globally(DINBase(spec))
    for cls in (ARMNet, ARMNetPlus, DIN, AutoInt, AutoIntPlus):
        assert can_explain(cls(spec)) and can_explain_globally(cls(spec))
    from plexus.platform.errors import ConfigError

    _, batch = tiny_problem("ctr")
    with pytest.raises(ConfigError, match="nothing to explain"):
        AutoInt(spec, num_layers=0).eval().explain(batch, 3)


@pytest.mark.parametrize("cls,kind", [(ARMNetPlus, "cross_features"), (DIN, "behavior_attention"),
                                      (AutoIntPlus, "field_pairs"), (DTRN, "task_gates")])
def test_global_attribution_files(cls, kind, tmp_path) -> None:
    spec, batch = tiny_problem("multitask" if cls is DTRN else "ctr")
    torch.manual_seed(0)
    m = cls(spec).eval()
    halves = [{k: v[:8] for k, v in batch.items()}, {k: v[8:] for k, v in batch.items()}]
    with torch.no_grad():
        g = m.global_attribution(iter(halves), _decode)
    assert g.kind == kind and g.rows == 16
    assert len(g.matrix) == len(g.row_labels) and all(len(r) == len(g.col_labels) for r in g.matrix)
    js, png = write_global_attribution(g, tmp_path / "explain", model=cls.__name__)
    data = json.loads(js.read_text())
    assert data["kind"] == kind and data["model"] == cls.__name__ and data["matrix"] == g.matrix
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    if cls is DIN:  # mean weight by recency equals the per-position mean of the explained weights
        with torch.no_grad():
            ex = m.explain(batch, top_k=6)
        ones = [t.weight for e in ex for t in e.terms if t.note == "most recent"]
        assert g.matrix[0][0] == pytest.approx(sum(ones) / len(ones), abs=1e-6)
    if cls is DTRN:
        with torch.no_grad():
            gates = m.field_weights(batch)
        assert g.matrix[1] == pytest.approx(gates["buy"].mean(0).tolist(), abs=1e-6)


def test_the_end_of_run_attribution_stops_reading_rows_at_its_deadline() -> None:
    """The training service gives the attribution 5 % of the fit: past its deadline no further batch is read."""
    from plexus.platform.data.service import load_dataset
    from plexus.platform.explain import MAX_ROWS, global_attribution

    ds = load_dataset("synthetic-behavior", num_users=1500)
    n_val = ds.num_rows("val")
    assert n_val > 512
    torch.manual_seed(0)
    model = DIN(ds.spec)
    full = global_attribution(model, ds)
    cut = global_attribution(model, ds, deadline=0.0)  # long past: the first batch only
    assert full.rows == min(MAX_ROWS, n_val) and cut.rows == 512
