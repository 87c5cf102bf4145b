"""Evaluation metrics with the exact semantics of the reference papers / code.

Every function accepts torch tensors, numpy arrays or Python sequences and
returns a Python ``float`` (or a ``dict`` of floats).

* Binary classification / CTR: :func:`auc`, :func:`log_loss`, :func:`gauc`
  (DIN's user-weighted AUC), :func:`rela_impr` (DIN's RelaImpr).
* Link prediction, OGB Evaluator semantics: :func:`hits_at_k`, :func:`mrr`.
* Dynamic link prediction, EvolveGCN semantics (``logger.py``):
  :func:`temporal_map_mrr` over an explicit candidate list and
  :func:`ranking_metrics_all_pairs`, the same metrics over *all* non-self pairs
  of a time step computed in memory-bounded chunks; :func:`average_over_steps`.
* Multi-class: :func:`accuracy`, :func:`f1_micro`, :func:`f1_macro`,
  :func:`minority_f1`, :func:`roc_auc_ovr`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch

__all__ = [
    "accuracy",
    "auc",
    "average_over_steps",
    "f1_macro",
    "f1_micro",
    "gauc",
    "hits_at_k",
    "log_loss",
    "minority_class",
    "minority_f1",
    "mrr",
    "ranking_metrics_all_pairs",
    "rela_impr",
    "roc_auc_ovr",
    "temporal_map_mrr",
]

ArrayLike = Any  # torch.Tensor | np.ndarray | Sequence


def _np(x: ArrayLike, dtype: Any = None) -> np.ndarray:
    if isinstance(x, torch.Tensor):
        x = x.detach().cpu()
        if x.dtype in (torch.bfloat16, torch.float16):
            x = x.float()
        x = x.numpy()
    a = np.asarray(x)
    return a.astype(dtype, copy=False) if dtype is not None else a


def _t(x: ArrayLike) -> torch.Tensor:
    if isinstance(x, torch.Tensor):
        return x.detach()
    return torch.as_tensor(np.asarray(x))


def _skm() -> Any:
    """scikit-learn's metrics, imported on first use: the import takes 1-2 s, and accuracy and F1 do not need it."""
    from sklearn import metrics

    return metrics


def _check_len(a: np.ndarray, b: np.ndarray, names: str) -> None:
    if a.shape[0] != b.shape[0]:
        raise ValueError(f"{names}: length mismatch ({a.shape[0]} vs {b.shape[0]})")


# --------------------------------------------------------------------------- binary / CTR


def auc(y_true: ArrayLike, y_score: ArrayLike) -> float:
    """ROC-AUC (ties count 1/2, as scikit-learn). ``nan`` when ``y_true`` has one class only."""
    y, s = _np(y_true, np.float64).ravel(), _np(y_score, np.float64).ravel()
    _check_len(y, s, "auc")
    if y.size == 0 or np.all(y == y[0]):
        return float("nan")
    return float(_skm().roc_auc_score(y, s))


def log_loss(y_true: ArrayLike, y_prob: ArrayLike, eps: float = 1e-7) -> float:
    """Mean binary cross-entropy ``-mean(y log p + (1-y) log(1-p))`` with ``p`` clipped to ``[eps, 1-eps]``."""
    y, p = _np(y_true, np.float64).ravel(), _np(y_prob, np.float64).ravel()
    _check_len(y, p, "log_loss")
    if y.size == 0:
        return float("nan")
    p = np.clip(p, eps, 1.0 - eps)
    return float(-np.mean(y * np.log(p) + (1.0 - y) * np.log1p(-p)))


def _grouped_auc(y: np.ndarray, s: np.ndarray, g: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-group AUC via tie-averaged ranks (Mann-Whitney U). Returns (auc per valid group, group sizes)."""
    order = np.lexsort((s, g))  # by group, then score
    g, s, y = g[order], s[order], y[order]
    n = g.size
    new_group = np.r_[True, g[1:] != g[:-1]]
    group_start = np.flatnonzero(new_group)
    gid = np.cumsum(new_group) - 1
    pos_in_group = np.arange(n) - group_start[gid]
    # runs of equal (group, score) get the average 1-based rank within their group
    new_run = new_group | np.r_[True, s[1:] != s[:-1]]
    run_id = np.cumsum(new_run) - 1
    run_start = np.flatnonzero(new_run)
    run_end = np.r_[run_start[1:], n]  # exclusive
    run_rank = (pos_in_group[run_start] + (run_end - run_start - 1) / 2.0) + 1.0
    rank = run_rank[run_id]
    size = np.bincount(gid).astype(np.float64)
    n_pos = np.bincount(gid, weights=y)
    n_neg = size - n_pos
    r_pos = np.bincount(gid, weights=rank * y)
    valid = (n_pos > 0) & (n_neg > 0)
    u = r_pos[valid] - n_pos[valid] * (n_pos[valid] + 1) / 2.0
    return u / (n_pos[valid] * n_neg[valid]), size[valid]


def gauc(y_true: ArrayLike, y_score: ArrayLike, groups: ArrayLike) -> float:
    """DIN's user-weighted AUC: ``sum_u #impr_u * AUC_u / sum_u #impr_u``.

    Users whose labels are all equal are skipped (they have no AUC) and do not
    count in the denominator. ``nan`` when no user has both labels.
    """
    y, s, g = _np(y_true, np.float64).ravel(), _np(y_score, np.float64).ravel(), _np(groups).ravel()
    _check_len(y, s, "gauc")
    _check_len(y, g, "gauc groups")
    if y.size == 0:
        return float("nan")
    if not np.all((y == 0) | (y == 1)):
        raise ValueError("gauc: y_true must be 0/1")
    aucs, sizes = _grouped_auc(y, s, g)
    if sizes.size == 0:
        return float("nan")
    return float(np.sum(aucs * sizes) / np.sum(sizes))


def rela_impr(auc_model: float, auc_base: float) -> float:
    """DIN's RelaImpr in percent: ``((AUC_model - 0.5) / (AUC_base - 0.5) - 1) * 100``."""
    if auc_base == 0.5:
        raise ValueError("rela_impr: the base model's AUC is 0.5 (no improvement over random is defined)")
    return float(((auc_model - 0.5) / (auc_base - 0.5) - 1.0) * 100.0)


# --------------------------------------------------------------------------- OGB link prediction


def hits_at_k(pos_scores: ArrayLike, neg_scores: ArrayLike, k: int) -> float:
    """OGB ``Evaluator`` Hits@K.

    Shared negatives (``neg_scores`` 1-D, ogbl-collab/ppa/ddi and Planetoid):
    the threshold is the K-th highest negative score and a positive counts if
    it scores *strictly* higher; with fewer than K negatives the result is 1.0.
    Per-positive negatives (``neg_scores`` ``[P, M]``, ogbl-citation2): a
    positive counts if its OGB rank (see :func:`mrr`) is ``<= K``.
    """
    pos, neg = _t(pos_scores).double().reshape(-1), _t(neg_scores).double()
    if k < 1:
        raise ValueError(f"hits_at_k: k must be >= 1, got {k}")
    if pos.numel() == 0:
        return float("nan")
    if neg.dim() == 2:
        return float((_ogb_ranks(pos, neg) <= k).double().mean())
    neg = neg.reshape(-1)
    if neg.numel() < k:
        return 1.0
    kth = torch.topk(neg, k).values[-1]
    return float((pos > kth).double().mean())


def _ogb_ranks(pos: torch.Tensor, neg: torch.Tensor) -> torch.Tensor:
    if neg.size(0) != pos.numel():
        raise ValueError(f"neg_scores must be [P, M] with P = {pos.numel()}, got {tuple(neg.shape)}")
    pos = pos.view(-1, 1)
    optimistic = (neg > pos).sum(dim=1)
    pessimistic = (neg >= pos).sum(dim=1)
    return 0.5 * (optimistic + pessimistic).double() + 1.0


def mrr(pos_scores: ArrayLike, neg_scores_per_pos: ArrayLike) -> float:
    """OGB ``Evaluator`` MRR: mean of ``1 / rank`` with
    ``rank = 0.5 * (#{neg > pos} + #{neg >= pos}) + 1`` against each positive's own negatives ``[P, M]``."""
    pos, neg = _t(pos_scores).double().reshape(-1), _t(neg_scores_per_pos).double()
    if neg.dim() == 1:
        neg = neg.view(pos.numel(), -1) if pos.numel() else neg.view(0, 0)
    if pos.numel() == 0:
        return float("nan")
    return float((1.0 / _ogb_ranks(pos, neg)).mean())


# --------------------------------------------------------------------------- EvolveGCN MAP / MRR


def _tie_rank(gt: torch.Tensor, ge: torch.Tensor) -> torch.Tensor:
    """Expected 1-based position of an item with ``gt`` strictly better and ``ge`` at-least-as-good
    (itself included) candidates under uniformly random tie-breaking."""
    return 1.0 + gt.double() + 0.5 * (ge - gt - 1).double()


def _ap_from_counts(pos_vals: torch.Tensor, count_ge: torch.Tensor) -> float:
    """scikit-learn's ``average_precision_score``: ``sum_t (R_t - R_{t-1}) P_t`` over distinct thresholds.

    ``pos_vals`` are the positives' scores; ``count_ge[i]`` is the number of candidates
    (positives included) scoring ``>= pos_vals[i]``.
    """
    n_pos = pos_vals.numel()
    if n_pos == 0:
        return float("nan")
    uniq, inv, cnt = torch.unique(pos_vals, return_inverse=True, return_counts=True)
    total_ge = torch.zeros(uniq.numel(), dtype=torch.float64).scatter_reduce(
        0, inv, count_ge.double(), reduce="amax", include_self=False
    )
    # positives >= each distinct value: suffix sum over ascending unique values
    tp_ge = torch.flip(torch.cumsum(torch.flip(cnt, [0]), 0), [0]).double()
    return float(((cnt.double() / n_pos) * (tp_ge / total_ge)).sum())


def temporal_map_mrr(scores: ArrayLike, labels: ArrayLike, src: ArrayLike | None = None) -> dict[str, float]:
    """EvolveGCN's MAP and MRR for one time step over an explicit candidate list.

    MAP is scikit-learn's ``average_precision_score(labels, scores)`` over all candidates.
    MRR (``logger.get_MRR``): for every source node ``src`` that has at least one
    positive candidate, rank all of its candidates by score (descending; other
    positives count), average ``1/rank`` over its positives, then average over such
    sources. Ties get their expected rank under random tie-breaking (the reference's
    ``argsort`` breaks them arbitrarily).

    Args:
        scores: ``[C]`` candidate scores (logits or probabilities).
        labels: ``[C]`` 0/1.
        src: ``[C]`` source node of each candidate; without it MRR is ``nan``.

    Returns:
        ``{"map", "mrr", "num_candidates"}``.
    """
    s, y = _t(scores).double().reshape(-1), _t(labels).reshape(-1).bool()
    if s.numel() != y.numel():
        raise ValueError("temporal_map_mrr: scores and labels differ in length")
    pos_vals = s[y]
    out = {"map": float("nan"), "mrr": float("nan"), "num_candidates": float(s.numel())}
    if src is None:
        ss = torch.sort(s).values
        out["map"] = _ap_from_counts(pos_vals, s.numel() - torch.searchsorted(ss, pos_vals, right=False))
        return out
    u = _t(src).reshape(-1).long()
    if u.numel() != s.numel():
        raise ValueError("temporal_map_mrr: src and scores differ in length")
    pu = u[y]
    ge_all, gt_row, ge_row = _chunk_counts(s, u, pos_vals, pu)
    out["map"] = _ap_from_counts(pos_vals, ge_all)
    out["mrr"] = _row_mrr(pu, _tie_rank(gt_row, ge_row))
    return out


def _chunk_counts(
    sc: torch.Tensor, src: torch.Tensor, pos_vals: torch.Tensor, pos_src: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """For each positive ``i``: number of candidates in ``sc`` scoring ``>= pos_vals[i]`` (all rows), and
    numbers scoring ``>`` / ``>=`` it among candidates with the same source ``pos_src[i]``. O(C log C)."""
    ss = torch.sort(sc).values
    ge_all = sc.numel() - torch.searchsorted(ss, pos_vals, right=False)
    gt_row = torch.zeros(pos_vals.numel(), dtype=torch.long)
    ge_row = torch.zeros(pos_vals.numel(), dtype=torch.long)
    if sc.numel() == 0 or pos_vals.numel() == 0:
        return ge_all, gt_row, ge_row
    lo, hi = int(src.min()), int(src.max())
    sel = torch.nonzero((pos_src >= lo) & (pos_src <= hi)).view(-1)
    if sel.numel() == 0:
        return ge_all, gt_row, ge_row
    # dense order-preserving ranks shared by candidate scores and positives' scores; key = (row, rank)
    _, inv = torch.unique(torch.cat([sc, pos_vals[sel]]), return_inverse=True)
    m = int(inv.max()) + 2
    r_chunk, r_pos = inv[: sc.numel()], inv[sc.numel():]
    ck = torch.sort((src - lo) * m + r_chunk).values
    base = (pos_src[sel] - lo) * m
    row_end = torch.searchsorted(ck, base + m, right=False)
    gt_row[sel] = row_end - torch.searchsorted(ck, base + r_pos, right=True)
    ge_row[sel] = row_end - torch.searchsorted(ck, base + r_pos, right=False)
    return ge_all, gt_row, ge_row


def _row_mrr(pos_src: torch.Tensor, ranks: torch.Tensor) -> float:
    if pos_src.numel() == 0:
        return float("nan")
    rows, inv = torch.unique(pos_src, return_inverse=True)
    per_row = torch.zeros(rows.numel(), dtype=torch.float64).index_add_(0, inv, 1.0 / ranks)
    n = torch.zeros(rows.numel(), dtype=torch.float64).index_add_(0, inv, torch.ones_like(ranks))
    return float((per_row / n).mean())


def ranking_metrics_all_pairs(
    score_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
    num_nodes: int,
    pos_edge_index: ArrayLike,
    chunk_size: int = 1 << 20,
    exclude_self: bool = True,
) -> dict[str, float]:
    """EvolveGCN MAP / MRR over *all* ordered node pairs of a time step, in chunks.

    Candidates are all ``(u, v)`` with ``u != v`` (``exclude_self``); a candidate is
    positive iff it is in ``pos_edge_index`` (duplicates collapse). Exact: the
    result equals :func:`temporal_map_mrr` on the materialised ``N^2`` list, but at
    most ``chunk_size`` scores live at once. The positives are scored first (one call on
    the E true pairs), then one pass over blocks of whole rows counts, per positive, the
    candidates of its row that score higher / at least as high (compared directly) and
    those of the whole step scoring at least as high (each score binned among the sorted
    positives' scores: no sort of the candidates, no top-k). In that pass a positive's own
    score is taken from the first call, so a ``score_fn`` whose last bits depend on the
    batch it is given still ranks every positive consistently.

    Args:
        score_fn: ``(src [C], dst [C]) -> scores [C]`` (long index tensors in, any device).
        num_nodes: N.
        pos_edge_index: ``[2, E]`` true edges of the step.
        chunk_size: number of pairs scored per call.
        exclude_self: drop ``(u, u)`` pairs from the candidates.

    Returns:
        ``{"map", "mrr", "num_candidates"}``.
    """
    n = int(num_nodes)
    if chunk_size < 1:
        raise ValueError("chunk_size must be >= 1")
    pe = _t(pos_edge_index).long().reshape(2, -1).cpu()
    if pe.numel() and (pe.min() < 0 or pe.max() >= n):
        raise ValueError(f"pos_edge_index has node ids outside [0, {n})")
    keys = torch.unique(pe[0] * n + pe[1])  # sorted: the positives of a block of rows are a contiguous slice
    if exclude_self:
        keys = keys[(keys // n) != (keys % n)]
    num_cand = n * n - (n if exclude_self else 0)
    pos_src = keys // n
    # the positives' scores, in the order of `keys`
    pos_vals = torch.empty(keys.numel(), dtype=torch.float64)
    for start in range(0, keys.numel(), chunk_size):
        k = keys[start:start + chunk_size]
        pos_vals[start:start + k.numel()] = _t(score_fn(k // n, k % n)).reshape(-1).double().cpu()
    order = torch.argsort(pos_vals)
    sorted_vals = pos_vals[order]
    # hist[k]: candidates with exactly k positives scoring <= them; a candidate counts for positive j
    # (ascending order) iff it scores >= sorted_vals[j], i.e. iff k > j. Binning each score among the
    # P positives (log P comparisons) replaces sorting every chunk (log C), and needs no top-k.
    hist = torch.zeros(keys.numel() + 1, dtype=torch.long)
    gt_row = torch.zeros(keys.numel(), dtype=torch.long)
    ge_row = torch.zeros(keys.numel(), dtype=torch.long)
    for start in range(0, n * n if keys.numel() else 0, chunk_size):
        flat = torch.arange(start, min(start + chunk_size, n * n))
        if exclude_self:
            flat = flat[(flat // n) != (flat % n)]
        if not flat.numel():
            continue
        sc = _t(score_fn(flat // n, flat % n)).reshape(-1).double().cpu()
        # the chunk's rows, dense; cells outside the chunk (and self pairs) stay -inf: never >= a positive
        r_lo, r_hi = int(flat[0]) // n, int(flat[-1]) // n
        dense = torch.full(((r_hi - r_lo + 1) * n,), -math.inf, dtype=torch.float64)
        dense[flat - r_lo * n] = sc
        k_lo, k_hi = (int(i) for i in torch.searchsorted(keys, torch.tensor([int(flat[0]), int(flat[-1]) + 1])))
        # a positive ranks with the score of the first call, whatever the batch
        dense[keys[k_lo:k_hi] - r_lo * n] = pos_vals[k_lo:k_hi]
        hist += torch.bincount(torch.searchsorted(sorted_vals, dense, right=True), minlength=hist.numel())
        lo, hi = (int(i) for i in torch.searchsorted(keys, torch.tensor([r_lo * n, (r_hi + 1) * n])))
        if hi > lo:  # positives whose row meets the chunk: compared with that row's candidates directly
            row_sc = dense.view(-1, n).index_select(0, pos_src[lo:hi] - r_lo)
            v = pos_vals[lo:hi, None]
            gt_row[lo:hi] += (row_sc > v).sum(1)
            ge_row[lo:hi] += (row_sc >= v).sum(1)
    ge_all = torch.empty(keys.numel(), dtype=torch.long)
    ge_all[order] = torch.flip(torch.cumsum(torch.flip(hist, [0]), 0), [0])[1:]
    return {
        "map": _ap_from_counts(pos_vals, ge_all),
        "mrr": _row_mrr(pos_src, _tie_rank(gt_row, ge_row)),
        "num_candidates": float(num_cand),
    }


def average_over_steps(results: Sequence[dict[str, float]], keys: Sequence[str] = ("map", "mrr")) -> dict[str, float]:
    """EvolveGCN's epoch metric: per-step values averaged with weights ``num_candidates``
    (steps whose value is ``nan`` are left out)."""
    out: dict[str, float] = {}
    for k in keys:
        num = den = 0.0
        for r in results:
            v, w = float(r[k]), float(r["num_candidates"])
            if not math.isnan(v):
                num, den = num + v * w, den + w
        out[k] = num / den if den > 0 else float("nan")
    return out


# --------------------------------------------------------------------------- multi-class


def _labels(y_pred: ArrayLike, threshold: float) -> np.ndarray:
    p = _np(y_pred)
    if p.ndim == 2:
        return p.argmax(axis=1)
    if np.issubdtype(p.dtype, np.floating):
        return (p >= threshold).astype(np.int64)
    return p.ravel()


def accuracy(y_true: ArrayLike, y_pred: ArrayLike, threshold: float = 0.5) -> float:
    """Fraction correct. ``y_pred``: labels ``[N]``, scores ``[N, C]`` (argmax), or
    floating ``[N]`` binary scores thresholded at ``threshold`` (pass 0.0 for logits)."""
    y, p = _np(y_true).ravel(), _labels(y_pred, threshold)
    _check_len(y, p, "accuracy")
    return float(np.mean(y == p)) if y.size else float("nan")


def f1_micro(y_true: ArrayLike, y_pred: ArrayLike, threshold: float = 0.5) -> float:
    """Micro-averaged F1 (equals accuracy for single-label multi-class). ``y_pred`` as in :func:`accuracy`."""
    y, p = _np(y_true).ravel(), _labels(y_pred, threshold)
    _check_len(y, p, "f1_micro")
    return float(np.mean(y == p)) if y.size else 0.0  # one true and one predicted label per row: F1 = accuracy


def f1_macro(y_true: ArrayLike, y_pred: ArrayLike, threshold: float = 0.5) -> float:
    """Unweighted mean of per-class F1 over the classes present in ``y_true`` or ``y_pred``."""
    y, p = _np(y_true).ravel(), _labels(y_pred, threshold)
    _check_len(y, p, "f1_macro")
    if y.size == 0:
        return 0.0
    # per class 2 tp / (2 tp + fp + fn) from two bincounts; sklearn's f1_score gives the same value at 10-100x the
    # cost (its input validation is most of a node-classification epoch's evaluation on Cora)
    _, index = np.unique(np.concatenate([y, p]), return_inverse=True)
    yi, pi = index[:y.size], index[y.size:]
    k = int(index.max()) + 1
    tp = np.bincount(yi[yi == pi], minlength=k)
    denom = np.bincount(yi, minlength=k) + np.bincount(pi, minlength=k)
    return float(np.mean(2 * tp / denom))


def minority_class(y_true: ArrayLike) -> int:
    """The least frequent label of a non-empty ``y_true`` (smallest label on ties)."""
    classes, counts = np.unique(_np(y_true).ravel(), return_counts=True)
    return int(classes[np.argmin(counts)])


def minority_f1(y_true: ArrayLike, y_pred: ArrayLike, threshold: float = 0.5) -> float:
    """F1 of the least frequent class of ``y_true`` (smallest label on ties), e.g. Elliptic's illicit class."""
    y, p = _np(y_true).ravel(), _labels(y_pred, threshold)
    _check_len(y, p, "minority_f1")
    if y.size == 0:
        return float("nan")
    c = minority_class(y)
    tp, fp, fn = np.sum((y == c) & (p == c)), np.sum((y != c) & (p == c)), np.sum((y == c) & (p != c))
    return float(2 * tp / (2 * tp + fp + fn)) if tp + fp + fn else 0.0


def roc_auc_ovr(y_true: ArrayLike, y_score: ArrayLike, from_logits: bool | None = None) -> float:
    """Multi-class one-vs-rest ROC-AUC, macro average (scikit-learn's ``multi_class="ovr"``):
    mean over classes ``c`` of ``AUC(y == c, p[:, c])`` with ``p`` class probabilities.

    Args:
        y_true: ``[N]`` labels in ``0..C-1``.
        y_score: ``[N, C]`` probabilities or logits.
        from_logits: apply a softmax first; ``None`` decides from the data (rows
            that are non-negative and sum to 1 are taken as probabilities).

    Classes with no positive (or no negative) example are skipped.
    """
    y, s = _np(y_true).ravel(), _np(y_score, np.float64)
    if s.ndim != 2:
        raise ValueError(f"roc_auc_ovr: y_score must be [N, C], got shape {s.shape}")
    _check_len(y, s, "roc_auc_ovr")
    if from_logits is None:
        from_logits = not (np.all(s >= 0) and np.allclose(s.sum(1), 1.0, atol=1e-6))
    if from_logits:
        s = np.exp(s - s.max(axis=1, keepdims=True))
        s = s / s.sum(axis=1, keepdims=True)
    vals = []
    for c in range(s.shape[1]):
        yc = (y == c).astype(np.float64)
        if 0 < yc.sum() < yc.size:
            vals.append(_skm().roc_auc_score(yc, s[:, c]))
    return float(np.mean(vals)) if vals else float("nan")
