"""The link task's training epoch: the positives and negatives of each optimisation step.

Train settings (:class:`~plexus.platform.config.TrainConfig`) choose the loop; the defaults are the first
item of each:

* ``negatives``: ``per_batch``: the training positives in a seeded random order, cut into batches of
  ``batch_size``; each batch draws ``num_neg`` fresh non-edges per positive. ``per_epoch``: one draw of
  ``num_neg`` non-edges per training positive at the start of the epoch; positive ``i`` pairs with its own
  ``num_neg`` of them, so a batch takes the negatives of its positives (the NCN reference's
  ``negative_sampling`` once per epoch, then ``negedge[:, perm]``).
* ``drop_last``: ``False`` keeps the last partial batch; ``True`` skips it, floor(positives / batch_size)
  steps (the reference's ``PermIterator`` in training).
* ``pair_calls``: ``joint``: positives and negatives are scored in one ``forward``. ``separate``: the batch
  also carries ``edge_label_groups = [positives, negatives]``, and a model with the ``pair_groups``
  capability scores each group in its own predictor call (the reference calls its predictor once for the
  positives and once for the negatives, each with its own dropout draws).

Negatives are distinct non-edges of the training graph (:func:`sample_negatives`). With the model's
``target_link_removal`` the batch's positives leave its message-passing graph. Draws come from the epoch's
generator in a fixed order (the permutation, then the negatives), so an epoch depends only on (seed, epoch).
"""

from __future__ import annotations

from collections.abc import Iterator

import torch
from plexus.platform.config import TrainConfig
from plexus.platform.data.graphs import remove_target_edges, sample_negatives
from plexus.platform.errors import ConfigError
from plexus.platform.model import Capabilities
from torch import Tensor
from torch_geometric.data import Data

__all__ = ["batch_starts", "check_link_loop", "link_train_batches", "reject_link_settings"]

_LINK_ONLY = {"negatives": "per_batch", "drop_last": False, "pair_calls": "joint"}


def batch_starts(n: int, batch_size: int, drop_last: bool) -> range:
    """Start offsets of an epoch's batches over ``n`` items; ``drop_last`` leaves out a partial last batch."""
    return range(0, n - n % batch_size if drop_last else n, batch_size)


def check_link_loop(cfg: TrainConfig, num_pos: int, caps: Capabilities) -> None:
    """ConfigError when ``drop_last`` leaves an epoch without a step, or ``pair_calls: separate`` meets a model
    that cannot score pair groups apart (it would silently score them in one call)."""
    if cfg.drop_last and num_pos < cfg.batch_size:
        raise ConfigError(f"train.drop_last with batch_size {cfg.batch_size} > {num_pos} training positives "
                          "leaves no training step")
    if cfg.pair_calls == "separate" and not caps.pair_groups:
        raise ConfigError("train.pair_calls 'separate' needs a model that scores pair groups in separate calls "
                          "(capability pair_groups); this model scores all pairs in one call: use 'joint'")


def reject_link_settings(cfg: TrainConfig, task: str) -> None:
    """ConfigError when a link-only train setting is changed for another task kind (it would be ignored)."""
    for key, default in _LINK_ONLY.items():
        if getattr(cfg, key) != default:
            raise ConfigError(f"train.{key} applies to the link task only, not to a '{task}' task")


def link_train_batches(data: Data, pos: Tensor, cfg: TrainConfig, generator: torch.Generator, *,
                       tlr: bool) -> Iterator[tuple[Data, Tensor]]:
    """One epoch of ``(batch, target)`` (see the module docstring): ``batch.edge_label_index`` holds the batch's
    positives, then its negatives; ``target`` is 1 for each positive and 0 for each negative."""
    num_pos, bs, k = pos.size(1), cfg.batch_size, cfg.num_neg
    order = torch.randperm(num_pos, generator=generator)
    epoch_neg = None
    if cfg.negatives == "per_epoch":
        epoch_neg = sample_negatives(data.edge_index, data.num_nodes, num_pos * k, generator=generator)
    for start in batch_starts(num_pos, bs, cfg.drop_last):
        idx = order[start:start + bs]
        p = pos[:, idx]
        if epoch_neg is None:
            n = sample_negatives(data.edge_index, data.num_nodes, p.size(1) * k, generator=generator)
        else:  # positive i owns columns i, i + P, ..., i + (k - 1) P of the epoch's draw
            n = epoch_neg[:, (torch.arange(k).view(-1, 1) * num_pos + idx).reshape(-1)]
        batch = data.clone()
        if tlr:
            batch.edge_index = remove_target_edges(data.edge_index, p)
        batch.edge_label_index = torch.cat([p, n], dim=1)
        if cfg.pair_calls == "separate":
            batch.edge_label_groups = [p.size(1), n.size(1)]
        yield batch, torch.cat([torch.ones(p.size(1)), torch.zeros(n.size(1))])
