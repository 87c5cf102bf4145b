"""Metrics against scikit-learn, the reference code's definitions and hand computations."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from plexus.platform import metrics as M
from sklearn import metrics as skm


def _rng(seed: int = 0) -> np.random.Generator:
    return np.random.default_rng(seed)


# ------------------------------------------------------------------ binary / CTR


def test_auc_matches_sklearn_with_ties_and_tensors():
    r = _rng()
    y = r.integers(0, 2, 500)
    s = np.round(r.random(500), 1)  # many ties
    assert M.auc(torch.tensor(y), torch.tensor(s)) == pytest.approx(skm.roc_auc_score(y, s), abs=1e-12)
    assert M.auc([0, 0, 1, 1], [0.1, 0.5, 0.5, 0.9]) == pytest.approx(0.875)  # 3 wins + 1 tie / 4
    assert math.isnan(M.auc([1, 1], [0.2, 0.3]))


def test_log_loss_matches_sklearn_and_clips():
    r = _rng(1)
    y = r.integers(0, 2, 300)
    p = r.uniform(0.01, 0.99, 300)
    assert M.log_loss(y, torch.tensor(p)) == pytest.approx(skm.log_loss(y, p), rel=1e-10)
    # p=0 for a positive is clipped, finite, equals -log(eps)/n
    assert M.log_loss([1, 0], [0.0, 0.0], eps=1e-7) == pytest.approx((-math.log(1e-7) - math.log(1 - 1e-7)) / 2)


def test_gauc_hand_computation_skips_single_label_users():
    # user 0: 4 impressions, pos {0.9, 0.3}, neg {0.5, 0.1} -> pairs 0.9>0.5,0.9>0.1,0.3<0.5,0.3>0.1 = 3/4
    # user 1: 2 impressions, all clicked -> skipped
    # user 2: 3 impressions, pos {0.4}, neg {0.4, 0.8} -> tie(0.5) + loss(0) = 0.25
    y = [1, 0, 1, 0, 1, 1, 1, 0, 0]
    s = [0.9, 0.5, 0.3, 0.1, 0.2, 0.7, 0.4, 0.4, 0.8]
    g = [0, 0, 0, 0, 1, 1, 2, 2, 2]
    expected = (4 * 0.75 + 3 * 0.25) / (4 + 3)
    assert M.gauc(y, s, g) == pytest.approx(expected, abs=1e-12)
    assert math.isnan(M.gauc([1, 1, 0], [0.1, 0.2, 0.3], [0, 0, 1]))


def test_gauc_matches_per_user_sklearn_on_random_data():
    r = _rng(2)
    g = r.integers(0, 40, 2000)
    y = r.integers(0, 2, 2000)
    s = np.round(r.random(2000), 2)
    num = den = 0.0
    for u in np.unique(g):
        m = g == u
        if y[m].min() != y[m].max():
            num += m.sum() * skm.roc_auc_score(y[m], s[m])
            den += m.sum()
    assert M.gauc(torch.tensor(y), torch.tensor(s), torch.tensor(g)) == pytest.approx(num / den, abs=1e-12)


def test_rela_impr():
    # DIN Table 3, MovieLens: LR .7263 vs BaseModel .7300 -> -1.61 %
    assert M.rela_impr(0.7263, 0.7300) == pytest.approx(-1.61, abs=0.01)
    assert M.rela_impr(0.8, 0.7) == pytest.approx(50.0)


# ------------------------------------------------------------------ OGB


def test_hits_at_k_ogb_semantics():
    neg = torch.tensor([0.9, 0.8, 0.7, 0.1])
    pos = torch.tensor([0.95, 0.8, 0.75, 0.05])
    # K=2: threshold = 2nd highest neg = 0.8; strictly greater: 0.95 only (0.8 tie does not count)
    assert M.hits_at_k(pos, neg, 2) == pytest.approx(0.25)
    # K=3: threshold 0.7 -> 0.95, 0.8, 0.75
    assert M.hits_at_k(pos, neg, 3) == pytest.approx(0.75)
    # fewer negatives than K -> 1.0
    assert M.hits_at_k(pos, neg, 5) == 1.0
    # numpy input and duplicates among negatives: 2nd highest of [1,1,0] is 1
    assert M.hits_at_k(np.array([1.0, 1.5]), np.array([1.0, 1.0, 0.0]), 2) == pytest.approx(0.5)


def test_mrr_ogb_ties_and_hits_per_positive():
    pos = torch.tensor([0.5, 0.5, 2.0])
    neg = torch.tensor([[0.9, 0.5, 0.1], [0.1, 0.2, 0.3], [2.0, 2.0, 2.0]])
    # ranks: row0 opt=1 pess=2 -> 2.5; row1 -> 1; row2 opt=0 pess=3 -> 2.5
    expected = (1 / 2.5 + 1 / 1 + 1 / 2.5) / 3
    assert M.mrr(pos, neg) == pytest.approx(expected)
    assert M.hits_at_k(pos, neg, 1) == pytest.approx(1 / 3)
    assert M.hits_at_k(pos, neg, 3) == pytest.approx(1.0)


# ------------------------------------------------------------------ EvolveGCN


def _evolvegcn_row_mrr(probs: np.ndarray, true: np.ndarray) -> float:
    """IBM/EvolveGCN logger.get_row_MRR (no ties in our data)."""
    order = np.flip(probs.argsort())
    ranks = np.arange(1, true.shape[0] + 1, dtype=float)[(true == 1)[order]]
    return float((1 / ranks).sum() / ranks.shape[0])


def _dense_problem(n: int, seed: int, ties: bool):
    g = torch.Generator().manual_seed(seed)
    emb = torch.randn(n, 4, generator=g, dtype=torch.float64)
    if ties:
        emb = torch.round(emb * 2) / 2

    def score_fn(src: torch.Tensor, dst: torch.Tensor) -> torch.Tensor:
        return (emb[src] * emb[dst]).sum(-1)

    e = torch.randint(0, n, (2, 3 * n), generator=g)
    return score_fn, e


def _materialised(score_fn, n, pos):
    src, dst = torch.meshgrid(torch.arange(n), torch.arange(n), indexing="ij")
    src, dst = src.reshape(-1), dst.reshape(-1)
    keep = src != dst
    src, dst = src[keep], dst[keep]
    s = score_fn(src, dst)
    pos_keys = set((pos[0] * n + pos[1]).tolist())
    y = torch.tensor([int(k in pos_keys) for k in (src * n + dst).tolist()])
    return src, dst, s, y


def test_temporal_map_mrr_matches_sklearn_and_reference_rows():
    n = 25
    score_fn, pos = _dense_problem(n, 0, ties=False)
    src, _dst, s, y = _materialised(score_fn, n, pos)
    out = M.temporal_map_mrr(s, y, src)
    assert out["map"] == pytest.approx(skm.average_precision_score(y.numpy(), s.numpy()), abs=1e-12)
    rows = []
    for u in range(n):
        m = src == u
        if y[m].sum() > 0:
            rows.append(_evolvegcn_row_mrr(s[m].numpy(), y[m].numpy()))
    assert out["mrr"] == pytest.approx(np.mean(rows), abs=1e-12)
    assert out["num_candidates"] == n * (n - 1)


def test_temporal_map_with_ties_matches_sklearn():
    r = _rng(3)
    y = r.integers(0, 2, 400)
    s = np.round(r.random(400), 1)
    assert M.temporal_map_mrr(s, y)["map"] == pytest.approx(skm.average_precision_score(y, s), abs=1e-12)


def test_temporal_mrr_tie_hand_computation():
    # one source: scores [0.9, 0.5, 0.5, 0.1], positives at 0.5 (two tied, one a positive)
    # positive rank = 1 + 1 greater + 0.5 * 1 tied other = 2.5
    out = M.temporal_map_mrr([0.9, 0.5, 0.5, 0.1], [0, 1, 0, 0], [0, 0, 0, 0])
    assert out["mrr"] == pytest.approx(1 / 2.5)


def _brute_mrr(s, y, src):
    """Per row: rank = 1 + #higher + (#tied others)/2 (expected rank under random tie-breaking)."""
    rows = []
    for u in torch.unique(src[y == 1]).tolist():
        m = src == u
        su, yu = s[m], y[m]
        rr = [1.0 / (1 + int((su > v).sum()) + 0.5 * (int((su == v).sum()) - 1)) for v in su[yu == 1].tolist()]
        rows.append(sum(rr) / len(rr))
    return float(np.mean(rows))


@pytest.mark.parametrize("ties", [False, True])
@pytest.mark.parametrize("chunk", [1, 7, 50, 10_000])
def test_all_pairs_chunked_equals_unchunked(ties, chunk):
    n = 23
    score_fn, pos = _dense_problem(n, 1, ties=ties)
    src, _dst, s, y = _materialised(score_fn, n, pos)
    ref = M.temporal_map_mrr(s, y, src)
    assert ref["mrr"] == pytest.approx(_brute_mrr(s, y, src), abs=1e-12)
    assert ref["map"] == pytest.approx(skm.average_precision_score(y.numpy(), s.numpy()), abs=1e-12)
    out = M.ranking_metrics_all_pairs(score_fn, n, pos, chunk_size=chunk)
    assert out["map"] == pytest.approx(ref["map"], abs=1e-12)
    assert out["mrr"] == pytest.approx(ref["mrr"], abs=1e-12)
    assert out["num_candidates"] == ref["num_candidates"]


def test_all_pairs_never_scores_more_than_a_chunk_and_skips_self_pairs():
    n = 30
    inner, pos = _dense_problem(n, 2, ties=False)
    pos = torch.cat([pos, torch.tensor([[3], [3]])], 1)  # a self loop is not a candidate
    sizes = []

    def score_fn(src, dst):
        assert not bool((src == dst).any())
        sizes.append(src.numel())
        return inner(src, dst)

    out = M.ranking_metrics_all_pairs(score_fn, n, pos, chunk_size=64)
    assert max(sizes) <= 64
    pos_nodiag = pos[:, pos[0] != pos[1]]
    _src, _dst, s, y = _materialised(inner, n, pos_nodiag)
    assert out["map"] == pytest.approx(skm.average_precision_score(y.numpy(), s.numpy()), abs=1e-12)


def test_all_pairs_ranks_each_positive_with_one_score_when_the_last_bits_depend_on_the_batch():
    """A scorer whose rounding depends on its batch (blocked GEMMs do) must not rank a positive against a
    second, slightly different copy of itself: a perfect scorer still gets MAP and MRR 1."""
    n = 40
    g = torch.Generator().manual_seed(3)
    pos = torch.randint(0, n, (2, 90), generator=g)
    pos = pos[:, pos[0] != pos[1]]
    truth = torch.zeros(n, n, dtype=torch.float64)
    truth[pos[0], pos[1]] = 1.0

    def score_fn(a, b):  # positives tie at 1 up to a batch-dependent wobble far below any real gap
        return truth[a, b] + 1e-9 * (a.numel() % 7)

    out = M.ranking_metrics_all_pairs(score_fn, n, pos, chunk_size=97)
    assert out["map"] == pytest.approx(1.0, abs=1e-9)
    assert out["mrr"] <= 1.0 + 1e-12


def test_random_scores_map_near_density():
    n = 60
    g = torch.Generator().manual_seed(5)
    table = torch.rand(n, n, generator=g, dtype=torch.float64)
    pos = torch.randint(0, n, (2, 180), generator=g)
    out = M.ranking_metrics_all_pairs(lambda a, b: table[a, b], n, pos, chunk_size=500)
    density = torch.unique(pos[0] * n + pos[1]).numel() / (n * (n - 1))
    assert abs(out["map"] - density) < 0.03
    perfect = M.ranking_metrics_all_pairs(
        lambda a, b: torch.isin(a * n + b, pos[0] * n + pos[1]).double(), n, pos, chunk_size=333
    )
    assert perfect["map"] == pytest.approx(1.0)


def test_average_over_steps_weights_by_candidates():
    res = [{"map": 0.5, "mrr": 0.2, "num_candidates": 100.0},
           {"map": 0.1, "mrr": float("nan"), "num_candidates": 300.0}]
    out = M.average_over_steps(res)
    assert out["map"] == pytest.approx((50 + 30) / 400)
    assert out["mrr"] == pytest.approx(0.2)


# ------------------------------------------------------------------ multi-class


def test_classification_metrics_match_sklearn():
    r = _rng(4)
    y = r.choice([0, 1, 2], size=300, p=[0.6, 0.3, 0.1])
    logits = r.normal(size=(300, 3)) + np.eye(3)[y] * 1.0
    pred = logits.argmax(1)
    t = torch.tensor(logits)
    assert M.accuracy(y, t) == pytest.approx(skm.accuracy_score(y, pred))
    assert M.f1_micro(torch.tensor(y), t) == pytest.approx(skm.f1_score(y, pred, average="micro"))
    assert M.f1_macro(y, pred) == pytest.approx(skm.f1_score(y, pred, average="macro"))
    assert M.minority_f1(y, t) == pytest.approx(skm.f1_score(y, pred, labels=[2], average="macro"))
    probs = torch.softmax(t, 1).numpy()
    ref = skm.roc_auc_score(y, probs, multi_class="ovr")
    assert M.roc_auc_ovr(y, t) == pytest.approx(ref, abs=1e-12)  # logits: softmax applied
    assert M.roc_auc_ovr(y, probs) == pytest.approx(ref, abs=1e-12)
    assert M.roc_auc_ovr(y, logits, from_logits=False) != pytest.approx(ref, abs=1e-6)


def test_minority_f1_picks_least_frequent_class_and_binary_threshold():
    y = [1, 1, 1, 0, 1]  # class 0 is the minority
    p = [0.9, 0.8, 0.2, 0.1, 0.7]  # predicted labels 1,1,0,0,1
    # class 0: tp=1 (idx3), fp=1 (idx2), fn=0 -> F1 = 2/3
    assert M.minority_f1(y, p) == pytest.approx(2 / 3)
    assert M.accuracy(y, p) == pytest.approx(0.8)
    assert M.accuracy(y, torch.tensor([2.0, 1.0, -1.0, -3.0, 0.5]), threshold=0.0) == pytest.approx(0.8)


def test_f1_macro_and_micro_equal_sklearn_on_random_labellings() -> None:
    """Our bincount F1 against scikit-learn's: labels absent from one side, shifted label values, one class."""
    rng = np.random.default_rng(0)
    for trial in range(200):
        n, k = int(rng.integers(1, 60)), int(rng.integers(1, 6))
        y = rng.integers(0, k, n)
        p = rng.integers(0, k + 1, n) if trial % 3 else y.copy()
        if trial % 7 == 0:
            y, p = y * 10 - 3, p * 10 - 3
        assert M.f1_macro(y, p) == pytest.approx(skm.f1_score(y, p, average="macro", zero_division=0), abs=1e-12)
        assert M.f1_micro(y, p) == pytest.approx(skm.f1_score(y, p, average="micro"), abs=1e-12)
