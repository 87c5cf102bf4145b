"""Task kinds: each owns its loss, its batch iteration, its metrics and its monitored metric.

Models and tasks meet only through the data specification and the model's
output dict (see :mod:`plexus.platform.spec`).
"""

from __future__ import annotations

import copy
from abc import ABC, abstractmethod
from collections.abc import Iterator
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from plexus.platform.config import TrainConfig
from plexus.platform.data import SnapshotBatch
from plexus.platform.data.graphs import sample_active_negatives, sample_negatives, target_pairs
from plexus.platform.errors import ConfigError
from plexus.platform.model import Capabilities, capabilities
from plexus.platform.training.link_loop import check_link_loop, link_train_batches, reject_link_settings
from torch import Tensor, nn

__all__ = [
    "TASKS",
    "CTRTask",
    "DynLinkTask",
    "EdgeTask",
    "GraphTask",
    "LinkTask",
    "MultiTask",
    "NodeTask",
    "Task",
    "make_task",
]


def _m():
    # imported on first use: the metrics pull in scikit-learn (about 0.5 s), which training alone never needs
    from plexus.platform import metrics

    return metrics


class Task(ABC):
    """One kind of learning problem over one dataset."""

    kind: str = ""
    monitor: str = "val_loss"
    mode: str = "max"

    def __init__(self, dataset: Any, cfg: TrainConfig) -> None:
        self.dataset = dataset
        self.cfg = cfg
        self.spec = dataset.spec
        self.rank, self.world = 0, 1
        self.caps = Capabilities()

    def bind(self, model: nn.Module) -> None:
        """Called by the trainer with the (unwrapped) model before training."""
        self.caps = capabilities(model)

    def shard(self, rank: int, world: int) -> None:
        """Data-parallel training: this process takes every ``world``-th row of each global batch."""
        self.rank, self.world = rank, world

    @abstractmethod
    def train_batches(self, epoch: int, device: torch.device) -> Iterator[tuple[Any, Any]]:
        """Yield ``(model_input, target)`` for one epoch; order depends only on (seed, epoch)."""

    @abstractmethod
    def loss(self, out: dict[str, Tensor], target: Any) -> Tensor: ...

    @abstractmethod
    def evaluate(self, model: nn.Module, split: str, device: torch.device) -> dict[str, float]:
        """Metrics of ``split`` named ``<split>_<metric>``."""

    def epoch_generator(self, epoch: int) -> torch.Generator:
        return torch.Generator().manual_seed(self.cfg.seed * 100_003 + epoch)

    def num_train_items(self) -> int:
        return 0


# ----------------------------------------------------------------------------- tabular


def _to(batch: dict[str, Tensor], device: torch.device) -> dict[str, Tensor]:
    return {k: v.to(device, non_blocking=True) for k, v in batch.items()}


class CTRTask(Task):
    """Binary click prediction: BCE on ``out["logit"]``; AUC, log loss, GAUC (when user ids exist)."""

    kind = "ctr"
    monitor = "val_auc"

    def num_train_items(self) -> int:
        return self.dataset.num_rows("train")

    gather_batches = 8  #: one gather per field per 8 batches, then slices (not ~40 small gathers a step)

    def train_batches(self, epoch: int, device: torch.device) -> Iterator[tuple[Any, Any]]:
        n, bs = self.dataset.num_rows("train"), self.cfg.batch_size
        order = torch.randperm(n, generator=self.epoch_generator(epoch))
        for first in range(0, n, bs * self.gather_batches):
            idx = order[first:first + bs * self.gather_batches]
            feats = {k: v[idx] for k, v in self.dataset.features["train"].items()}
            labels = {k: v[idx] for k, v in self.dataset.labels["train"].items()}
            for start in range(0, len(idx), bs):
                part = slice(start + self.rank, start + bs, self.world)  # this rank's share of the batch
                yield (_to({k: v[part] for k, v in feats.items()}, device),
                       _to({k: v[part] for k, v in labels.items()}, device))

    def _targets(self, labels: dict[str, Tensor]) -> Tensor:
        return next(iter(labels.values()))

    def loss(self, out: dict[str, Tensor], target: Any) -> Tensor:
        return F.binary_cross_entropy_with_logits(out["logit"].float().view(-1), self._targets(target).float())

    @torch.no_grad()
    def predict(self, model: nn.Module, split: str, device: torch.device) -> dict[str, np.ndarray]:
        outs: dict[str, list[Tensor]] = {}
        for feats, _, _ in self.dataset.batches(split, max(self.cfg.batch_size, 4096)):
            out = model(_to(feats, device))
            for k, v in out.items():
                if v.dim() >= 1 and v.shape[0] == next(iter(feats.values())).shape[0] and k != "attention":
                    outs.setdefault(k, []).append(v.float().view(v.shape[0], -1)[:, 0].cpu())
        return {k: torch.cat(v).numpy() for k, v in outs.items()}

    def evaluate(self, model: nn.Module, split: str, device: torch.device) -> dict[str, float]:
        m = _m()
        pred = self.predict(model, split, device)
        y = self._targets(self.dataset.labels[split]).numpy()
        prob = 1.0 / (1.0 + np.exp(-pred["logit"].astype(np.float64)))
        res = {f"{split}_auc": m.auc(y, prob), f"{split}_logloss": m.log_loss(y, prob)}
        groups = self.dataset.groups.get(split) if self.dataset.groups else None
        if groups is not None:
            res[f"{split}_gauc"] = m.gauc(y, prob, groups.numpy())
        return res


class MultiTask(CTRTask):
    """Several binary tasks: sum of per-task BCE; per-task AUC and their mean (``val_auc``)."""

    kind = "multitask"
    monitor = "val_auc"

    def loss(self, out: dict[str, Tensor], target: Any) -> Tensor:
        return sum(F.binary_cross_entropy_with_logits(out[t].float().view(-1), target[t].float())
                   for t in self.spec.tasks)

    def evaluate(self, model: nn.Module, split: str, device: torch.device) -> dict[str, float]:
        m = _m()
        pred = self.predict(model, split, device)
        res: dict[str, float] = {}
        aucs = []
        for t in self.spec.tasks:
            y = self.dataset.labels[split][t].numpy()
            prob = 1.0 / (1.0 + np.exp(-pred[t].astype(np.float64)))
            res[f"{split}_auc_{t}"] = m.auc(y, prob)
            res[f"{split}_logloss_{t}"] = m.log_loss(y, prob)
            aucs.append(res[f"{split}_auc_{t}"])
        res[f"{split}_auc"] = float(np.mean(aucs))
        return res


# ----------------------------------------------------------------------------- graphs


class NodeTask(Task):
    """Full-batch node classification: CE on the training mask; accuracy, macro F1 (and ROC AUC when binary).

    The monitored metric is ``val_acc``, or ``val_auc`` for a binary dataset that declares ROC AUC as its
    metric (``spec.extra["metric"] == "auc"``: Tolokers and the other binary sets of Platonov et al. 2023),
    so that the test metric is read at the epoch that is best on the same metric.

    A model with ``output_nodes = True`` gets the mask's node ids as ``batch.out_index`` and returns
    their rows only, which spares the work for nodes that neither the loss nor the metric reads.
    """

    kind = "node"
    monitor = "val_acc"

    def __init__(self, dataset: Any, cfg: TrainConfig) -> None:
        super().__init__(dataset, cfg)
        if self.spec.num_classes == 2 and self.spec.extra.get("metric") == "auc":
            self.monitor = "val_auc"

    def num_train_items(self) -> int:
        return int(self.dataset.data.train_mask.sum())

    def _input(self, split: str, device: torch.device) -> tuple[Any, Tensor]:
        d = self.dataset.data.to(device)
        mask = getattr(d, f"{split}_mask")
        if self.caps.output_nodes:
            d = copy.copy(d)  # shallow: the dataset's Data keeps no out_index
            d.out_index = mask.nonzero().view(-1)
        return d, mask

    def _rows(self, logit: Tensor, mask: Tensor) -> Tensor:
        return logit if self.caps.output_nodes else logit[mask]

    def train_batches(self, epoch: int, device: torch.device) -> Iterator[tuple[Any, Any]]:
        d, mask = self._input("train", device)
        yield d, d.y[mask]

    def loss(self, out: dict[str, Tensor], target: Any) -> Tensor:
        mask = self.dataset.data.train_mask.to(out["logit"].device)
        return F.cross_entropy(self._rows(out["logit"], mask).float(), target)

    @torch.no_grad()
    def evaluate(self, model: nn.Module, split: str, device: torch.device) -> dict[str, float]:
        m = _m()
        d, mask = self._input(split, device)
        logit = self._rows(model(d)["logit"].float(), mask).cpu()
        y = d.y[mask].cpu().numpy()
        pred = logit.argmax(-1).numpy()
        res = {f"{split}_acc": m.accuracy(y, pred), f"{split}_f1_macro": m.f1_macro(y, pred),
               f"{split}_loss": float(F.cross_entropy(logit, torch.as_tensor(y)))}
        if self.spec.num_classes == 2:
            res[f"{split}_auc"] = m.auc(y, torch.softmax(logit, -1)[:, 1].numpy())
        return res


class LinkTask(Task):
    """Static link prediction: BCE on positives vs random negatives; AUC, Hits@K, MRR (OGB).

    The training loop (fresh negatives per batch or per epoch, a partial last batch kept or dropped,
    positives and negatives scored jointly or apart) follows the train settings: see :mod:`.link_loop`.
    """

    kind = "link"
    monitor = "val_hits_at_100"  # MLflow metric names may not contain "@"
    ks = (10, 20, 50, 100)

    def num_train_items(self) -> int:
        return int(self.dataset.pos["train"].size(1))

    def bind(self, model: nn.Module) -> None:
        super().bind(model)
        check_link_loop(self.cfg, self.num_train_items(), self.caps)

    def train_batches(self, epoch: int, device: torch.device) -> Iterator[tuple[Any, Any]]:
        for batch, target in link_train_batches(self.dataset.data, self.dataset.pos["train"], self.cfg,
                                                self.epoch_generator(epoch), tlr=self.caps.target_link_removal):
            yield batch.to(device), target.to(device)

    def loss(self, out: dict[str, Tensor], target: Any) -> Tensor:
        return F.binary_cross_entropy_with_logits(out["logit"].float().view(-1), target)

    @torch.no_grad()
    def _score(self, model: nn.Module, pairs: Tensor, device: torch.device) -> Tensor:
        data = self.dataset.data.clone()
        if self.dataset.eval_edge_index is not None:
            data.edge_index = self.dataset.eval_edge_index
        scores = []
        for start in range(0, pairs.size(1), 65536):
            data.edge_label_index = pairs[:, start:start + 65536]
            scores.append(model(data.to(device))["logit"].float().view(-1).cpu())
        return torch.cat(scores)

    def evaluate(self, model: nn.Module, split: str, device: torch.device) -> dict[str, float]:
        m = _m()
        pos = self._score(model, self.dataset.pos[split], device)
        neg = self._score(model, self.dataset.neg[split], device)
        y = np.concatenate([np.ones(len(pos)), np.zeros(len(neg))])
        res = {f"{split}_auc": m.auc(y, torch.cat([pos, neg]).sigmoid().numpy())}
        for k in self.ks:
            res[f"{split}_hits_at_{k}"] = m.hits_at_k(pos, neg, k)
        res[f"{split}_mrr"] = m.mrr(pos, neg.view(1, -1).expand(len(pos), -1))
        return res


class GraphTask(Task):
    """Graph classification over mini-batches of graphs: CE; accuracy, macro F1."""

    kind = "graph"
    monitor = "val_acc"

    def num_train_items(self) -> int:
        return int(self.dataset.split_index["train"].numel())

    def _batches(self, idx: Tensor, device: torch.device) -> Iterator[Any]:
        from torch_geometric.data import Batch

        for start in range(0, idx.numel(), self.cfg.batch_size):
            yield Batch.from_data_list([self.dataset.graphs[i] for i in idx[start:start + self.cfg.batch_size]
                                        .tolist()]).to(device)

    def train_batches(self, epoch: int, device: torch.device) -> Iterator[tuple[Any, Any]]:
        idx = self.dataset.split_index["train"]
        idx = idx[torch.randperm(idx.numel(), generator=self.epoch_generator(epoch))]
        for b in self._batches(idx, device):
            yield b, b.y.view(-1)

    def loss(self, out: dict[str, Tensor], target: Any) -> Tensor:
        return F.cross_entropy(out["logit"].float(), target)

    @torch.no_grad()
    def evaluate(self, model: nn.Module, split: str, device: torch.device) -> dict[str, float]:
        m = _m()
        logits, ys = [], []
        for b in self._batches(self.dataset.split_index[split], device):
            logits.append(model(b)["logit"].float().cpu())
            ys.append(b.y.view(-1).cpu())
        logit, y = torch.cat(logits), torch.cat(ys)
        pred = logit.argmax(-1)
        return {f"{split}_acc": m.accuracy(y.numpy(), pred.numpy()),
                f"{split}_f1_macro": m.f1_macro(y.numpy(), pred.numpy()),
                f"{split}_loss": float(F.cross_entropy(logit, y))}


class _SnapshotTask(Task):
    """Shared iteration over a snapshot sequence: step ``t`` sees snapshots ``[t - window, t)``."""

    window: int = 10

    def history(self, t: int) -> list[Any]:
        return self.dataset.snapshots[max(0, t - self.window):t]

    def num_train_items(self) -> int:
        return len(self.dataset.steps["train"])

    def targets(self, t: int) -> Tensor:
        """The target pairs of step ``t`` (:func:`~plexus.platform.data.graphs.target_pairs`)."""

        return target_pairs(self.dataset.snapshots[t])


class DynLinkTask(_SnapshotTask):
    """Link prediction on the next snapshot (EvolveGCN protocol).

    The positives of step ``t`` are its target pairs (:meth:`targets`: on the EvolveGCN datasets both
    orientations of every pair with an event, as the reference loaders add each event reversed).
    Training: the positives against ``num_neg`` x as many random non-edges (``neg_sampling``: uniform,
    or the reference's "smart" pairs of active nodes), with BCE weighted so both classes weigh the same,
    or with fixed ``train.class_weights`` ``[non-edge, edge]`` (the reference's ``[0.1, 0.9]``, loss
    ``mean_i w[y_i] · BCE_i``). Evaluation: MAP and MRR over all non-self pairs of each step, scored in
    memory-bounded chunks.
    """

    kind = "dynlink"
    monitor = "val_map"

    def __init__(self, dataset: Any, cfg: TrainConfig) -> None:
        super().__init__(dataset, cfg)
        w = getattr(cfg, "class_weights", None)
        if w and len(w) != 2:
            raise ConfigError(f"dynlink class_weights needs 2 values [non-edge, edge], got {list(w)}")

    def train_batches(self, epoch: int, device: torch.device) -> Iterator[tuple[Any, Any]]:
        g = self.epoch_generator(epoch)
        steps = list(self.dataset.steps["train"])
        for i in torch.randperm(len(steps), generator=g).tolist():
            t = steps[i]
            if t == 0:
                continue
            pos = self.targets(t)
            if pos.size(1) == 0:
                continue
            num, hist = pos.size(1) * self.cfg.num_neg, self.history(t)
            if self.cfg.neg_sampling == "active":
                active = torch.cat([s.edge_index.reshape(-1) for s in hist])
                neg = sample_active_negatives(pos, self.spec.num_nodes, num, active, generator=g)
            else:
                neg = sample_negatives(pos, self.spec.num_nodes, num, generator=g)
            pairs = torch.cat([pos, neg], 1)
            y = torch.cat([torch.ones(pos.size(1)), torch.zeros(neg.size(1))])
            yield SnapshotBatch(hist, pairs).to(device), y.to(device)

    def loss(self, out: dict[str, Tensor], target: Any) -> Tensor:
        logit = out["logit"].float().view(-1)
        w = getattr(self.cfg, "class_weights", None)
        if w:  # the reference's Cross_Entropy: mean_i w[y_i] * CE_i with fixed [non-edge, edge] weights
            wt = torch.where(target > 0.5, float(w[1]), float(w[0]))
            return (wt * F.binary_cross_entropy_with_logits(logit, target, reduction="none")).mean()
        pos_w = (target.numel() - target.sum()) / target.sum().clamp(min=1)
        return F.binary_cross_entropy_with_logits(logit, target, pos_weight=pos_w)

    @torch.no_grad()
    def evaluate(self, model: nn.Module, split: str, device: torch.device) -> dict[str, float]:
        m = _m()
        maps, mrrs = [], []
        for t in self.dataset.steps[split]:
            hist = [s.to(device) for s in self.history(t)]
            pos = self.targets(t)
            if pos.size(1) == 0 or not hist:
                continue
            if capabilities(model).pair_scoring:
                h = model.node_embeddings(hist)  # once per step; pairs are scored chunk by chunk
                pair_score = (model.pair_scorer(h) if hasattr(model, "pair_scorer")
                              else lambda pairs, h=h: model.score_pairs(h, pairs))

                def score(src: Tensor, dst: Tensor, pair_score: Any = pair_score) -> Tensor:
                    return pair_score(torch.stack([src, dst]).to(device)).float().view(-1).cpu()
            else:
                def score(src: Tensor, dst: Tensor, hist: list = hist) -> Tensor:
                    b = SnapshotBatch(hist, torch.stack([src, dst]).to(device))
                    return model(b)["logit"].float().view(-1).cpu()

            r = m.ranking_metrics_all_pairs(score, self.spec.num_nodes, pos, chunk_size=1 << 16)
            maps.append(r["map"])
            mrrs.append(r["mrr"])
        return {f"{split}_map": float(np.mean(maps)) if maps else 0.0,
                f"{split}_mrr": float(np.mean(mrrs)) if mrrs else 0.0}


class EdgeTask(_SnapshotTask):
    """Edge classification at a snapshot (EvolveGCN protocol): class-weighted CE; micro F1 and minority-class F1.

    The labels of step ``t``'s pairs (:meth:`targets`, e.g. both orientations of every rated pair, see
    ``plexus.platform.data.graphs.temporal``) are predicted from the embeddings *at* ``t``: input snapshots
    ``[t - window, t]`` (the reference ``edge_cls_tasker``: ``idx - num_hist_steps .. idx``). Loss
    ``mean_i w[y_i] · CE_i`` (reference ``Cross_Entropy``), fixed ``w``: ``train.class_weights``, else the
    dataset's (``spec.extra["class_weights"]``, EvolveGCN's ``[0.8, 0.2]`` on Bitcoin), else inverse class
    frequencies over all training steps. Metrics: micro F1 and minority F1 of the argmax (the reference's) and
    of a threshold on the minority probability chosen on *validation* (:func:`val_threshold`, ``_thr``).
    Selection on ``val_minority_auc`` (the reference: argmax minority F1, which on Bitcoin was 0 in every
    epoch, so ties kept epoch 1; the best-F1 threshold of a model that barely ranks predicts all minority).
    """

    kind = "edge"
    monitor = "val_minority_auc"

    def __init__(self, dataset: Any, cfg: TrainConfig) -> None:
        super().__init__(dataset, cfg)
        self._weights: Tensor | None = None

    def history(self, t: int) -> list[Any]:  # the target step included
        return self.dataset.snapshots[max(0, t - self.window):t + 1]

    def _batch(self, t: int, device: torch.device) -> tuple[Any, Tensor]:
        y = self.dataset.snapshots[t].edge_label.long().to(device)
        return SnapshotBatch(self.history(t), self.targets(t)).to(device), y

    def class_weights(self) -> Tensor:
        """The fixed loss weight of each class (see the class docstring for where they come from)."""
        c = max(int(self.spec.num_classes), 2)
        w = getattr(self.cfg, "class_weights", None) or self.spec.extra.get("class_weights")
        if self._weights is None and w:
            if len(w) != c:
                raise ConfigError(f"class_weights needs {c} values (one per class), got {list(w)}")
            self._weights = torch.tensor([float(v) for v in w])
        elif self._weights is None:
            ys = [self.dataset.snapshots[t].edge_label.long() for t in self.dataset.steps["train"]]
            counts = torch.bincount(torch.cat(ys), minlength=c).float() if ys else torch.ones(c)
            self._weights = (counts.sum() / counts.clamp(min=1)) / c
        return self._weights

    def train_batches(self, epoch: int, device: torch.device) -> Iterator[tuple[Any, Any]]:
        steps = list(self.dataset.steps["train"])
        for i in torch.randperm(len(steps), generator=self.epoch_generator(epoch)).tolist():
            if self.targets(steps[i]).size(1):
                yield self._batch(steps[i], device)

    def loss(self, out: dict[str, Tensor], target: Any) -> Tensor:
        w = self.class_weights().to(out["logit"].device)
        return (w[target] * F.cross_entropy(out["logit"].float(), target, reduction="none")).mean()

    def _probs(self, model: nn.Module, split: str, device: torch.device) -> tuple[Tensor, np.ndarray]:
        got = [self._batch(t, device) for t in self.dataset.steps[split] if self.targets(t).size(1)]
        return (torch.cat([model(b)["logit"].float().softmax(-1).cpu() for b, _ in got]),
                torch.cat([y.cpu() for _, y in got]).numpy())

    @torch.no_grad()
    def evaluate(self, model: nn.Module, split: str, device: torch.device) -> dict[str, float]:
        """F1s of the argmax and of the validation-chosen ``threshold`` (``_thr``); ROC-AUC of the minority."""
        m, (prob, y) = _m(), self._probs(model, split, device)
        p, c = prob.argmax(-1).numpy(), m.minority_class(y)
        auc = m.auc(y == c, prob[:, c].numpy()) if np.unique(y).size > 1 else float("nan")
        res = {f"{split}_f1_micro": m.f1_micro(y, p), f"{split}_minority_f1": m.minority_f1(y, p),
               f"{split}_minority_auc": float(auc), f"{split}_threshold": float("nan")}
        if prob.size(1) == 2:  # binary: the threshold on the minority probability of best validation F1
            pv, yv = (prob, y) if split == "val" or not self.dataset.steps["val"] else self._probs(model, "val", device)
            cv = m.minority_class(yv)
            tau = val_threshold(pv[:, cv].numpy(), yv == cv)
            p, res[f"{split}_threshold"] = np.where(prob[:, cv].numpy() >= tau, cv, 1 - cv), float(tau)
        return res | {f"{split}_f1_micro_thr": m.f1_micro(y, p), f"{split}_minority_f1_thr": m.minority_f1(y, p)}


def val_threshold(score: np.ndarray, positive: np.ndarray) -> float:
    """``tau`` of best F1 of a class predicted where ``score >= tau`` on (validation) scores; no positive: inf."""
    order = np.argsort(-score, kind="stable")
    s, tp = score[order], np.cumsum(positive[order].astype(np.float64))
    if tp.size == 0 or tp[-1] == 0:
        return float("inf")
    f1 = np.where(np.r_[s[1:] != s[:-1], True], 2 * tp / (np.arange(1, s.size + 1) + tp[-1]), -1.0)
    return float(s[int(np.argmax(f1))])  # a cut falls only after the last of equal scores


TASKS: dict[str, type[Task]] = {t.kind: t for t in (CTRTask, MultiTask, NodeTask, LinkTask, GraphTask,
                                                    DynLinkTask, EdgeTask)}


def make_task(dataset: Any, cfg: TrainConfig) -> Task:
    if dataset.spec.task != "link":
        reject_link_settings(cfg, dataset.spec.task)
    return TASKS[dataset.spec.task](dataset, cfg)
