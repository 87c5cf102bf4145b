"""Link-prediction splits, negative sampling and target-link removal.

* :func:`split_edges` cuts the undirected edges of a graph into seeded random
  train/val/test sets (70/10/20 as in NCN's Planetoid protocol, or 85/5/10 as in
  GAE / PyG's ``RandomLinkSplit`` default) and draws, for val and test, as many
  negatives as positives: distinct pairs, no self loops, colliding with no true
  edge of the *whole* graph.
* :func:`sample_negatives` draws fresh training negatives (the task calls it once
  per epoch with its own generator).
* :func:`remove_target_edges` deletes the target links, in both directions, from
  a message-passing graph (NCN's target link removal, ``--maskinput``).

Pairs are ``LongTensor[2, P]``; an undirected edge ``{u, v}`` is stored once as
``u < v`` in ``pos`` and in both directions in ``edge_index``; negatives keep a
random orientation.
"""

from __future__ import annotations

from typing import Literal

import torch
from plexus.platform.data._types import LinkDataset
from plexus.platform.data.graphs._io import single_thread
from plexus.platform.errors import ConfigError
from plexus.platform.spec import DataSpec
from torch import Tensor
from torch_geometric.data import Data

__all__ = [
    "LINK_SPLITS",
    "link_dataset",
    "pair_keys",
    "remove_target_edges",
    "sample_negatives",
    "split_edges",
    "undirected_pairs",
]

LINK_SPLITS: dict[str, tuple[float, float, float]] = {"70/10/20": (0.7, 0.1, 0.2), "85/5/10": (0.85, 0.05, 0.1)}


def pair_keys(pairs: Tensor, num_nodes: int) -> Tensor:
    """Direction-free int64 key of each pair: ``min * N + max``."""
    lo, hi = torch.minimum(pairs[0], pairs[1]), torch.maximum(pairs[0], pairs[1])
    return lo * num_nodes + hi


def undirected_pairs(edge_index: Tensor, num_nodes: int) -> Tensor:
    """Distinct undirected edges as ``[2, E]`` with ``u < v`` (self loops dropped), sorted."""
    keep = edge_index[0] != edge_index[1]
    key = torch.unique(pair_keys(edge_index[:, keep], num_nodes))
    return torch.stack([key // num_nodes, key % num_nodes])


def sample_negatives(edge_index: Tensor, num_nodes: int, num: int, generator: torch.Generator | None = None,
                     *, exclude: Tensor | None = None) -> Tensor:
    """Draw ``num`` distinct random non-edges ``[2, num]`` (no self loops).

    A pair is a non-edge when neither direction appears in ``edge_index`` (nor in
    ``exclude``, extra pairs to avoid); no unordered pair is drawn twice. Each pair
    keeps the orientation it was drawn with (uniformly random), so an asymmetric
    scorer cannot tell negatives from directed positives by ``u < v``. Vectorised rejection sampling; raises
    :class:`ConfigError` when the graph is too dense to supply ``num`` non-edges.
    """
    dev = edge_index.device
    forbidden = pair_keys(edge_index.cpu(), num_nodes)
    if exclude is not None and exclude.numel():
        forbidden = torch.cat([forbidden, pair_keys(exclude.cpu(), num_nodes)])
    forbidden = torch.unique(forbidden)
    available = num_nodes * (num_nodes - 1) // 2 - int(
        (forbidden // num_nodes != forbidden % num_nodes).sum())
    if num > available:
        raise ConfigError(f"cannot draw {num} negative pairs: only {available} non-edges among {num_nodes} nodes")
    if num == 0:
        return torch.empty(2, 0, dtype=torch.long, device=dev)
    got = torch.empty(0, dtype=torch.long)
    pairs = torch.empty(2, 0, dtype=torch.long)
    for _ in range(1000):
        need = num - got.numel()
        if need <= 0:
            break
        m = int(need * 1.2) + 16
        u = torch.randint(0, num_nodes, (m,), generator=generator)
        v = torch.randint(0, num_nodes, (m,), generator=generator)
        got, pairs = _keep_new(torch.stack([u, v]), num_nodes, forbidden, got, pairs, need)
    else:  # pragma: no cover - only when nearly complete
        raise ConfigError(f"could not draw {num} negatives after 1000 rounds")
    return pairs.to(dev)


def _keep_new(cand: Tensor, num_nodes: int, forbidden: Tensor, got: Tensor, pairs: Tensor,
              need: int) -> tuple[Tensor, Tensor]:
    """Append to ``(got keys, pairs)`` up to ``need`` drawn pairs that are no self loop, not forbidden, not drawn
    before; the first occurrence of each unordered pair in draw order wins (deterministic)."""
    cand = cand[:, cand[0] != cand[1]]
    keys = pair_keys(cand, num_nodes)
    ok = ~torch.isin(keys, forbidden) & ~torch.isin(keys, got)
    cand, keys = cand[:, ok], keys[ok]
    uniq, inv = torch.unique(keys, return_inverse=True)
    first = torch.full((uniq.numel(),), keys.numel(), dtype=torch.long).scatter_reduce(
        0, inv, torch.arange(keys.numel()), reduce="amin")
    sel = first.sort().values[:need]
    return torch.cat([got, keys[sel]]), torch.cat([pairs, cand[:, sel]], 1)


def sample_active_negatives(edge_index: Tensor, num_nodes: int, num: int, active: Tensor,
                            generator: torch.Generator | None = None, *, rounds: int = 4) -> Tensor:
    """EvolveGCN's "smart" negatives (reference ``taskers_utils.get_non_existing_edges``): sources drawn from
    the sources of ``edge_index`` (the step's positives, with their multiplicity), destinations uniformly from
    ``active`` (the nodes with an edge in the input window), so negatives pair nodes that are active, as the
    positives do. Pairs are no self loops, not in ``edge_index`` in either direction, and distinct as
    unordered pairs. At most ``rounds`` draws of ``1.2 x need`` candidates: returns fewer than ``num`` pairs
    ``[2, <= num]`` when the pools are nearly exhausted (the reference returns fewer too)."""
    dev = edge_index.device
    src, active = edge_index[0].cpu(), torch.unique(active.cpu())
    got, pairs = torch.empty(0, dtype=torch.long), torch.empty(2, 0, dtype=torch.long)
    if num <= 0 or src.numel() == 0 or active.numel() == 0:
        return pairs.to(dev)
    forbidden = torch.unique(pair_keys(edge_index.cpu(), num_nodes))
    for _ in range(rounds):
        need = num - got.numel()
        if need <= 0:
            break
        m = int(need * 1.2) + 16
        u = src[torch.randint(0, src.numel(), (m,), generator=generator)]
        v = active[torch.randint(0, active.numel(), (m,), generator=generator)]
        got, pairs = _keep_new(torch.stack([u, v]), num_nodes, forbidden, got, pairs, need)
    return pairs.to(dev)


def remove_target_edges(edge_index: Tensor, targets: Tensor) -> Tensor:
    """``edge_index`` without every entry ``(u, v)`` such that ``{u, v}`` is a target pair.

    Both directions of each target link are removed; every other entry (other
    edges, self loops that are not targets, duplicates) is kept in order.
    """
    if targets.numel() == 0 or edge_index.numel() == 0:
        return edge_index
    n = int(max(int(edge_index.max()), int(targets.max()))) + 1
    drop = torch.isin(pair_keys(edge_index, n), pair_keys(targets.to(edge_index.device), n))
    return edge_index[:, ~drop]


@single_thread()
def split_edges(edge_index: Tensor, num_nodes: int, *, ratios: tuple[float, float, float] = (0.7, 0.1, 0.2),
                seed: int = 0, val_neg_ratio: float = 1.0) -> tuple[dict[str, Tensor], dict[str, Tensor]]:
    """Seeded random split of the undirected edges; returns ``(pos, neg)`` dicts of ``[2, P]`` pairs.

    ``neg["test"]`` has as many pairs as its positives, ``neg["val"]`` ``val_neg_ratio`` times as many
    (the NCN reference draws its validation negatives as a 20% split and keeps 10% of positives: 2.0);
    the test negatives do not depend on ``val_neg_ratio``.
    Negatives are disjoint from each other and from every true edge; ``neg["train"]`` is empty
    (training negatives are resampled each epoch with :func:`sample_negatives`).
    """
    if len(ratios) != 3 or any(r < 0 for r in ratios) or abs(sum(ratios) - 1) > 1e-6:
        raise ConfigError(f"link split ratios must be three non-negative numbers summing to 1, got {ratios}")
    if not val_neg_ratio > 0:
        raise ConfigError(f"val_neg_ratio must be positive, got {val_neg_ratio}")
    pairs = undirected_pairs(edge_index, num_nodes)
    g = torch.Generator().manual_seed(seed)
    perm = torch.randperm(pairs.size(1), generator=g)
    e = pairs.size(1)
    n_val, n_test = round(ratios[1] * e), round(ratios[2] * e)
    n_train = e - n_val - n_test
    pos = {"train": pairs[:, perm[:n_train]], "val": pairs[:, perm[n_train:n_train + n_val]],
           "test": pairs[:, perm[n_train + n_val:]]}
    both = sample_negatives(pairs, num_nodes, n_val + n_test, g)
    val_neg, n_val_neg = both[:, :n_val], round(val_neg_ratio * n_val)
    # the extra validation negatives are drawn last, so the test pairs are those of val_neg_ratio 1
    if n_val_neg > n_val:
        val_neg = torch.cat([val_neg, sample_negatives(pairs, num_nodes, n_val_neg - n_val, g, exclude=both)], 1)
    neg = {"train": torch.empty(2, 0, dtype=torch.long), "val": val_neg[:, :n_val_neg], "test": both[:, n_val:]}
    return pos, neg


def _both_directions(pairs: Tensor) -> Tensor:
    return torch.cat([pairs, pairs.flip(0)], dim=1)


def link_dataset(data: Data, name: str, *, split: Literal["70/10/20", "85/5/10"] | tuple[float, float, float] = "70/10/20",
                 seed: int = 0, val_edges_as_input: bool = False, val_neg_ratio: float = 1.0,
                 fingerprint: str = "", description: str = "") -> LinkDataset:
    """Turn a graph into a :class:`LinkDataset`.

    The training graph holds the training positives only (both directions);
    ``eval_edge_index`` is that graph, plus the validation edges when
    ``val_edges_as_input`` (NCN's ``--use_valedges_as_input``). ``val_neg_ratio``:
    validation negatives per validation positive (:func:`split_edges`).
    """
    if isinstance(split, str):
        if split not in LINK_SPLITS:
            raise ConfigError(f"unknown link split '{split}'; expected one of {sorted(LINK_SPLITS)}")
        ratios = LINK_SPLITS[split]
    else:
        ratios = tuple(float(r) for r in split)  # type: ignore[assignment]
    n = int(data.num_nodes)
    pos, neg = split_edges(data.edge_index, n, ratios=ratios, seed=seed, val_neg_ratio=val_neg_ratio)
    train_ei = _both_directions(pos["train"])
    eval_ei = _both_directions(torch.cat([pos["train"], pos["val"]], 1)) if val_edges_as_input else train_ei
    g = Data(x=data.x, edge_index=train_ei, num_nodes=n)
    spec = DataSpec(task="link", num_features=int(data.x.size(1)) if data.x is not None else 0, num_nodes=n,
                    extra={"split": "/".join(str(round(r * 100)) for r in ratios)})
    split_tag = split if isinstance(split, str) else ratios
    return LinkDataset(name=name, spec=spec, data=g, pos=pos, neg=neg, eval_edge_index=eval_ei,
                       fingerprint=fingerprint and (f"{fingerprint}-link{split_tag}-s{seed}-v{int(val_edges_as_input)}"
                                                    + (f"-vn{val_neg_ratio:g}" if val_neg_ratio != 1.0 else "")),
                       description=description)
