"""Tiny synthetic problems per task kind, for plugin contract tests (and a small multi-task fit loop).

``tiny_problem(kind, seed)`` returns ``(spec, batch)`` where ``batch`` is exactly
what the trainer hands to ``model(batch)`` for that task kind. The tabular spec
exercises every field kind and the roles recommender models look for:

* ``user`` (categorical, role ``user``), ``item`` (role ``item``, the candidate),
  ``cate`` (role ``item``: the candidate's category), ``ctx`` (role ``context``);
* ``price``, ``age`` numeric;
* ``genres`` multi-valued (max_len 3);
* ``hist_item`` / ``hist_cate`` sequences (role ``behavior``, max_len 6, sharing
  the vocabularies of ``item`` / ``cate``), left-padded with 0;
* for ``multitask``: also ``neg_item`` (a second behaviour type, sharing ``item``),
  ``spec.extra["behaviors"] = {"pos": ["hist_item", "hist_cate"], "neg": ["neg_item"]}``,
  and tasks ``["click", "buy"]``.
"""

from __future__ import annotations

from typing import Any

import torch

from plexus.platform.data._types import SnapshotBatch
from plexus.platform.spec import DataSpec, FieldSpec

__all__ = ["fit_ctr", "fit_multitask", "tiny_problem", "tiny_tabular_spec"]


def tiny_tabular_spec(multitask: bool = False) -> DataSpec:
    fields = [
        FieldSpec("user", "categorical", 12, role="user"),
        FieldSpec("item", "categorical", 30, role="item"),
        FieldSpec("cate", "categorical", 8, role="item"),
        FieldSpec("ctx", "categorical", 5, role="context"),
        FieldSpec("price", "numeric"),
        FieldSpec("age", "numeric", role="user"),
        FieldSpec("genres", "multi", 9, max_len=3),
        FieldSpec("hist_item", "sequence", 30, max_len=6, share_vocab="item", role="behavior"),
        FieldSpec("hist_cate", "sequence", 8, max_len=6, share_vocab="cate", role="behavior"),
    ]
    extra: dict[str, Any] = {"behaviors": {"pos": ["hist_item", "hist_cate"]}}
    tasks = ["label"]
    if multitask:
        fields.append(FieldSpec("neg_item", "sequence", 30, max_len=6, share_vocab="item", role="behavior"))
        extra["behaviors"]["neg"] = ["neg_item"]
        tasks = ["click", "buy"]
    return DataSpec(task="multitask" if multitask else "ctr", fields=fields, tasks=tasks, extra=extra)


def _tabular_batch(spec: DataSpec, g: torch.Generator, n: int = 16) -> dict[str, torch.Tensor]:
    batch: dict[str, torch.Tensor] = {}
    for f in spec.fields:
        if f.kind == "numeric":
            batch[f.name] = torch.randn(n, generator=g)
        elif f.kind == "categorical":
            batch[f.name] = torch.randint(1, f.vocab_size, (n,), generator=g)
        else:
            vals = torch.randint(1, f.vocab_size, (n, f.max_len), generator=g)
            lengths = torch.randint(0, f.max_len + 1, (n,), generator=g)
            lengths[0] = f.max_len  # at least one full row
            lengths[1] = 0  # and one empty history
            pos = torch.arange(f.max_len).expand(n, -1)
            keep = pos >= (f.max_len - lengths).unsqueeze(1)  # left padding
            batch[f.name] = vals * keep
    return batch


def tiny_problem(kind: str, seed: int = 0) -> tuple[DataSpec, Any]:
    """A small deterministic ``(spec, batch)`` for task kind ``kind``."""
    from torch_geometric.data import Batch, Data

    g = torch.Generator().manual_seed(seed)

    def graph(n: int, f: int, e: int) -> Data:
        src = torch.randint(0, n, (e,), generator=g)
        dst = torch.randint(0, n, (e,), generator=g)
        keep = src != dst
        ei = torch.stack([torch.cat([src[keep], dst[keep]]), torch.cat([dst[keep], src[keep]])])
        ei = torch.unique(ei, dim=1)
        return Data(x=torch.randn(n, f, generator=g), edge_index=ei, num_nodes=n)

    if kind in ("ctr", "multitask"):
        spec = tiny_tabular_spec(kind == "multitask")
        return spec, _tabular_batch(spec, g)
    if kind == "node":
        d = graph(20, 6, 60)
        return DataSpec("node", num_features=6, num_classes=3, num_nodes=20), d
    if kind == "link":
        d = graph(20, 6, 60)
        d.edge_label_index = torch.randint(0, 20, (2, 10), generator=g)
        return DataSpec("link", num_features=6, num_nodes=20), d
    if kind == "graph":
        graphs = [graph(int(torch.randint(4, 9, (1,), generator=g)), 5, 16) for _ in range(4)]
        return DataSpec("graph", num_features=5, num_classes=2), Batch.from_data_list(graphs)
    if kind in ("dynlink", "edge"):
        n = 15
        snaps = []
        for _ in range(3):
            d = graph(n, 4, 30)
            d.edge_weight = torch.ones(d.edge_index.size(1))
            snaps.append(d)
        eli = torch.randint(0, n, (2, 12), generator=g)
        spec = DataSpec(kind, num_features=4, num_nodes=n, num_classes=2 if kind == "edge" else 0)
        label = torch.randint(0, 2, (12,), generator=g)
        return spec, SnapshotBatch(snaps, eli, label)
    raise ValueError(f"unknown task kind {kind!r}")


def fit_ctr(model: torch.nn.Module, train: dict[str, torch.Tensor], y: torch.Tensor, test: dict[str, torch.Tensor],
            y_test: torch.Tensor, *, seed: int = 0, steps: int = 150, lr: float = 3e-3,
            batch_size: int = 128) -> float:
    """Train a CTR model on ``(train, y)`` and return its test ROC AUC on ``(test, y_test)``.

    Adam(``lr``), ``steps`` batches of ``batch_size`` rows drawn with replacement, loss = binary cross-entropy of
    ``out["logit"]`` plus ``out["aux_loss"]`` when the model returns one (DIEN-style auxiliary losses). Reseeds
    torch's global RNG with ``seed`` first, so batches and dropout masks depend on the arguments only. The model
    is left in eval mode.
    """
    from sklearn.metrics import roc_auc_score

    torch.manual_seed(seed)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    model.train()
    for _ in range(steps):
        idx = torch.randint(0, len(y), (batch_size,))
        out = model({k: v[idx] for k, v in train.items()})
        loss = torch.nn.functional.binary_cross_entropy_with_logits(out["logit"], y[idx]) + out.get("aux_loss", 0)
        opt.zero_grad()
        loss.backward()
        opt.step()
    model.eval()
    with torch.no_grad():
        return float(roc_auc_score(y_test.numpy(), model(test)["logit"].numpy()))


def fit_multitask(model: torch.nn.Module, feats: dict[str, torch.Tensor], labels: dict[str, torch.Tensor],
                  n_train: int, *, seed: int = 0, steps: int = 300, lr: float = 1e-2,
                  batch_size: int = 128) -> dict[str, float]:
    """Train a multi-task model on rows ``:n_train`` and return the held-out AUC per task (rows ``n_train:``).

    Adam(``lr``), ``steps`` batches of ``batch_size`` rows drawn with a generator seeded by ``seed``, loss = the
    sum of the tasks' binary cross-entropies. The model is left in eval mode.
    """
    from sklearn.metrics import roc_auc_score

    g = torch.Generator().manual_seed(seed)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    model.train()
    for _ in range(steps):
        idx = torch.randint(0, n_train, (batch_size,), generator=g)
        out = model({k: v[idx] for k, v in feats.items()})
        loss = sum(torch.nn.functional.binary_cross_entropy_with_logits(out[t], y[idx]) for t, y in labels.items())
        opt.zero_grad()
        loss.backward()
        opt.step()
    model.eval()
    with torch.no_grad():
        out = model({k: v[n_train:] for k, v in feats.items()})
    return {t: roc_auc_score(y[n_train:].numpy(), out[t].numpy()) for t, y in labels.items()}
