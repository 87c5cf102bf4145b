"""Explanations of the attention-style recommenders (see :mod:`plexus.platform.explain` for the protocol).

* ARM-Net(+): each exponential neuron's sparse gate support is a cross feature; its weight is
  the neuron's ``Σ_j |w_ij|`` with ``w_ij = z_ij · v_ij`` (ARM-Net's local attribution), summed
  over the heads and neurons that share the support, as a share of the row's total.
* DIN: the activation unit's weight ``a(e_j, v_A)`` of each behaviour for the candidate.
* AutoInt(+): per interacting layer, the attention ``α_{m,k}`` of field m on field k (mean over
  heads), recomputed from the layer's Q/K projections, so it holds whatever kernel the forward uses.
* DTRN: the TRM field gates ``w_t`` of each task.

Every function expects the model in eval mode and is called under ``torch.no_grad()``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import numpy as np
import torch
from plexus.platform.errors import ConfigError
from plexus.platform.explain import GlobalAttribution, RowExplanation, Term
from torch import Tensor

__all__ = [
    "autoint_attention",
    "explain_armnet",
    "explain_autoint",
    "explain_din",
    "explain_dtrn",
    "global_armnet",
    "global_autoint",
    "global_din",
    "global_dtrn",
]

Decode = Callable[[str, int], str]
_TOP_GLOBAL = 20


def _ordinal(n: int) -> str:
    if n == 1:
        return "most recent"
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix} most recent"


# ----------------------------------------------------------------------------- ARM-Net
def _armnet_parts(model: Any, batch: dict[str, Tensor]) -> tuple[np.ndarray, np.ndarray]:
    """(supports ``[B, K·o, m]`` bool, masses ``[B, K·o, m]`` = |z ∘ v|) of the exponential neurons."""
    z = model.field_gates(batch)  # [B, K, o, m]
    w = (z * model.arm.values).abs()
    return (z > 0).flatten(1, 2).cpu().numpy(), w.flatten(1, 2).float().cpu().numpy()


def _unique_rows(s: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``np.unique(s, axis=0, return_inverse=True, return_counts=True)`` for a bool ``[N, m]``, by packed bytes."""
    m = s.shape[-1]
    packed = np.ascontiguousarray(np.packbits(s, axis=-1))
    keys = packed.view(np.dtype((np.void, packed.shape[-1]))).reshape(-1)
    _, first, inv, count = np.unique(keys, return_index=True, return_inverse=True, return_counts=True)
    return s[first].reshape(-1, m), inv.reshape(-1), count


def explain_armnet(model: Any, batch: dict[str, Tensor], top_k: int) -> list[RowExplanation]:
    names = model.embedding.flat_names()
    supp, w = _armnet_parts(model, batch)
    neurons = supp.shape[1]
    title = (f"cross features: neurons' gate supports; weight = share of sum |gate x value| over "
             f"{neurons} neurons")
    out = []
    for b in range(supp.shape[0]):
        mass = w[b].sum(-1)  # [N]
        total = max(float(mass.sum()), 1e-12)
        uniq, inv, count = _unique_rows(supp[b])
        per_field = np.zeros(uniq.shape)
        np.add.at(per_field, inv, w[b])
        per_field /= total
        weight = per_field.sum(-1)
        order = [i for i in np.argsort(-weight, kind="stable") if uniq[i].any()][:top_k]
        terms = [Term(tuple(names[j] for j in np.flatnonzero(uniq[i])), float(weight[i]),
                      note=f"{count[i]} neuron{'s' if count[i] > 1 else ''}",
                      field_weights=tuple(float(per_field[i, j]) for j in np.flatnonzero(uniq[i])))
                 for i in order]
        scores = w[b].sum(0) / total
        out.append(RowExplanation("cross_features", title, terms,
                                  field_scores={n: float(s) for n, s in zip(names, scores)}))
    return out


def global_armnet(model: Any, batches: Iterable[dict[str, Tensor]], decode: Decode) -> GlobalAttribution:
    names = model.embedding.flat_names()
    supports, masses, rows = [], [], 0
    for batch in batches:
        s, w = _armnet_parts(model, batch)
        rows += s.shape[0]
        supports.append(s.reshape(-1, s.shape[-1]))
        masses.append(w.sum(-1).reshape(-1))
    s, mass = np.concatenate(supports), np.concatenate(masses)
    uniq, inv, count = _unique_rows(s)
    share = np.bincount(inv, weights=mass, minlength=len(uniq)) / max(float(mass.sum()), 1e-12)
    sf = s.astype(np.float32)
    co = (sf.T @ sf) / max(len(s), 1)  # co-occurrence of two fields in one neuron's support

    def entry(i: int) -> dict[str, Any]:
        return {"fields": [names[j] for j in np.flatnonzero(uniq[i])], "frequency": float(count[i] / len(s)),
                "mass_share": float(share[i])}

    real = [i for i in range(len(uniq)) if uniq[i].any()]
    frequent = sorted(real, key=lambda i: (-count[i], i))[:_TOP_GLOBAL]
    strongest = sorted(real, key=lambda i: (-share[i], i))[:_TOP_GLOBAL]
    return GlobalAttribution(
        "cross_features", f"ARM-Net: fields sharing an exponential neuron's gate support ({rows} rows)",
        co.tolist(), names, names, "share of (row, neuron) supports holding both fields",
        {"neurons": int(s.shape[0] // max(rows, 1)), "most_frequent": [entry(i) for i in frequent],
         "strongest": [entry(i) for i in strongest],
         "field_frequency": {n: float(co[j, j]) for j, n in enumerate(names)}}, rows)


# ----------------------------------------------------------------------------- DIN
def _din_weights(model: Any, batch: dict[str, Tensor]) -> tuple[Tensor, Tensor]:
    """(weights ``[B, L]``, mask ``[B, L]``) of the behaviours."""
    _, _, weights = model.interest(batch)
    mask = torch.stack([batch[s] != 0 for s in model.behaviors]).any(0)
    return weights.float(), mask


def _recency(mask: Tensor) -> Tensor:
    """1 for the last real position of each row, 2 for the one before, ...; 0 on padding."""
    return mask.flip(-1).long().cumsum(-1).flip(-1) * mask


def explain_din(model: Any, batch: dict[str, Tensor], top_k: int) -> list[RowExplanation]:
    weights, mask = _din_weights(model, batch)
    rec = _recency(mask)
    kind = "masked softmax" if model.normalize else "unnormalised, as in the paper"
    title = f"attention a(e_j, v_A) of each behaviour for the candidate ({kind})"
    out = []
    for b in range(weights.shape[0]):
        pos = torch.nonzero(mask[b]).view(-1).tolist()
        n = len(pos)
        pos.sort(key=lambda p: -float(weights[b, p]))
        terms = [Term(tuple(model.behaviors), float(weights[b, p]), positions=(p,) * len(model.behaviors),
                      note=_ordinal(int(rec[b, p]))) for p in pos[:top_k]]
        out.append(RowExplanation("behavior_attention", f"{title}; {n} behaviours", terms,
                                  subject=tuple(model.candidates)))
    return out


def global_din(model: Any, batches: Iterable[dict[str, Tensor]], decode: Decode) -> GlobalAttribution:
    length, rows = None, 0
    sums: Tensor | None = None
    counts: Tensor | None = None
    ids: dict[str, list[np.ndarray]] = {f: [] for f in model.behaviors}
    vals: list[np.ndarray] = []
    for batch in batches:
        weights, mask = _din_weights(model, batch)
        rows += weights.shape[0]
        m, w = mask.cpu(), weights.cpu()
        rec = _recency(m)
        length = w.shape[1]
        s = torch.zeros(length + 1).index_add_(0, rec.view(-1), (w * m).view(-1))
        c = torch.zeros(length + 1).index_add_(0, rec.view(-1), m.float().view(-1))
        sums, counts = (s, c) if sums is None else (sums + s, counts + c)
        vals.append(w[m].numpy())
        for f in model.behaviors:
            ids[f].append(batch[f].cpu()[m].numpy())
    assert sums is not None and counts is not None and length is not None
    mean = (sums[1:] / counts[1:].clamp_min(1)).tolist()
    v = np.concatenate(vals)
    top = {}
    for f, parts in ids.items():
        uniq, inv, cnt = np.unique(np.concatenate(parts), return_inverse=True, return_counts=True)
        avg = np.bincount(inv.reshape(-1), weights=v, minlength=len(uniq)) / np.maximum(cnt, 1)
        ranked = [i for i in np.argsort(-avg, kind="stable") if cnt[i] >= 5][:_TOP_GLOBAL]
        top[f] = [{"value": decode(f, int(uniq[i])), "mean_weight": float(avg[i]), "count": int(cnt[i])}
                  for i in ranked]
    return GlobalAttribution(
        "behavior_attention", f"DIN: mean attention by recency (1 = most recent behaviour; {rows} rows)",
        [mean], ["mean weight"], [str(r) for r in range(1, length + 1)], "attention weight",
        {"mean_weight_by_recency": mean, "behaviours_at_recency": counts[1:].tolist(),
         "top_behaviours": top}, rows)


# ----------------------------------------------------------------------------- AutoInt
def autoint_attention(model: Any, batch: dict[str, Tensor]) -> list[Tensor]:
    """Attention ``[B, H, M, M]`` of every interacting layer, from its own Q/K projections."""
    e = model.embedding.flat(batch)
    maps = []
    for layer in model.layers:
        b, m, _ = e.shape
        q = layer._proj(layer.q, e).view(b, m, layer.heads, layer.head_dim).transpose(1, 2)
        k = layer._proj(layer.k, e).view(b, m, layer.heads, layer.head_dim).transpose(1, 2)
        scale = float(getattr(layer, "scale", 1.0) or 1.0)
        maps.append(torch.softmax((q @ k.transpose(-1, -2)).float() * scale, dim=-1))
        e = layer(e)
    return maps


def _no_layers(model: Any) -> None:
    if len(model.layers) == 0:
        raise ConfigError("this AutoInt has no interacting layer (num_layers = 0): nothing to explain")


def explain_autoint(model: Any, batch: dict[str, Tensor], top_k: int) -> list[RowExplanation]:
    _no_layers(model)
    names = model.embedding.flat_names()
    maps = [a.mean(1).cpu() for a in autoint_attention(model, batch)]  # [B, M, M] per layer
    m = len(names)
    off = ~torch.eye(m, dtype=torch.bool)
    title = "field pairs: attention of field -> field (softmax over fields, mean over heads)"
    out = []
    for b in range(maps[0].shape[0]):
        terms = []
        received = torch.zeros(m)
        for li, a in enumerate(maps, 1):
            ab = a[b] * off
            received += ab.sum(0)
            flat = ab.view(-1)
            for idx in torch.argsort(flat, descending=True, stable=True)[:top_k].tolist():
                i, j = divmod(idx, m)
                terms.append(Term((names[i], names[j]), float(a[b, i, j]), group=f"layer {li}"))
        received = received / received.sum().clamp_min(1e-12)
        out.append(RowExplanation("field_pairs", title, terms,
                                  field_scores={n: float(s) for n, s in zip(names, received)}))
    return out


def global_autoint(model: Any, batches: Iterable[dict[str, Tensor]], decode: Decode) -> GlobalAttribution:
    _no_layers(model)
    names = model.embedding.flat_names()
    total: Tensor | None = None
    rows = 0
    for batch in batches:
        maps = torch.stack([a.mean(1).sum(0).cpu() for a in autoint_attention(model, batch)])  # [L, M, M]
        rows += len(next(iter(batch.values())))
        total = maps if total is None else total + maps
    assert total is not None
    mean = total / max(rows, 1)
    m = len(names)
    per_layer = {}
    for li, a in enumerate(mean, 1):
        flat = (a * ~torch.eye(m, dtype=torch.bool)).view(-1)
        per_layer[f"layer {li}"] = [{"from": names[i // m], "to": names[i % m], "mean_attention": float(flat[i])}
                                    for i in torch.argsort(flat, descending=True, stable=True)[:_TOP_GLOBAL].tolist()]
    return GlobalAttribution(
        "field_pairs", f"AutoInt: mean attention field -> field over {len(mean)} layer(s) and {rows} rows",
        mean.mean(0).tolist(), names, names, "attention (row field attends to column field)",
        {"per_layer": [a.tolist() for a in mean], "top_pairs": per_layer}, rows)


# ----------------------------------------------------------------------------- DTRN
def explain_dtrn(model: Any, batch: dict[str, Tensor], top_k: int) -> list[RowExplanation]:
    gates = {t: g.float().cpu() for t, g in model.field_weights(batch).items()}
    names = model.field_names
    title = "task gates: TRM field weights per task (1 = neutral, > 1 amplifies the field)"
    out = []
    for b in range(next(iter(gates.values())).shape[0]):
        terms = []
        for t, g in gates.items():
            for j in torch.argsort(g[b], descending=True, stable=True)[:top_k].tolist():
                terms.append(Term((names[j],), float(g[b, j]), group=t))
        mean = torch.stack([g[b] for g in gates.values()]).mean(0)
        mean = mean / mean.sum().clamp_min(1e-12)
        out.append(RowExplanation("task_gates", title, terms,
                                  field_scores={n: float(s) for n, s in zip(names, mean)}))
    return out


def global_dtrn(model: Any, batches: Iterable[dict[str, Tensor]], decode: Decode) -> GlobalAttribution:
    total: Tensor | None = None
    rows = 0
    for batch in batches:
        g = torch.stack([v.float().sum(0).cpu() for v in model.field_weights(batch).values()])  # [T, F]
        rows += len(next(iter(batch.values())))
        total = g if total is None else total + g
    assert total is not None
    mean = total / max(rows, 1)
    names = model.field_names
    per_task = {t: {"mean_gate": dict(zip(names, mean[i].tolist())),
                    "gate_mass_share": dict(zip(names, (mean[i] / mean[i].sum().clamp_min(1e-12)).tolist()))}
                for i, t in enumerate(model.tasks)}
    return GlobalAttribution(
        "task_gates", f"DTRN: mean TRM field gate per task ({rows} rows)", mean.tolist(), list(model.tasks),
        list(names), "mean gate (1 = neutral)", {"per_task": per_task}, rows)
