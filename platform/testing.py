"""Tiny synthetic problems per task kind, for plugin contract tests (a plugin author's as well as ours).

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
from plexus.platform.data import SnapshotBatch
from plexus.platform.spec import DataSpec, FieldSpec

__all__ = ["tabular_batch", "tiny_problem", "tiny_tabular_spec"]


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


def tabular_batch(spec: DataSpec, g: torch.Generator, n: int = 16) -> dict[str, torch.Tensor]:
    """``n`` random rows of every field of ``spec``: numerics ~ N(0, 1), ids >= 1, sequences left-padded with 0
    (the first row full, the second empty)."""
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
        return spec, tabular_batch(spec, g)
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
