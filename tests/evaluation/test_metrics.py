"""Metrics on hand-computed rankings."""

import math

import numpy as np
import pytest

from movierec.evaluation.metrics import (
    catalog_coverage,
    hit_rate_at_k,
    hits_matrix,
    map_at_k,
    ndcg_at_k,
    precision_at_k,
    ranking_metrics,
    recall_at_k,
)

TOP = np.array([[1, 2, 3, 4]])
REL = [np.array([2, 4, 9])]  # hits at ranks 2 and 4; a third relevant movie never shown
HITS = hits_matrix(TOP, REL)


def test_hits():
    assert HITS.tolist() == [[False, True, False, True]]


def test_recall_precision_hit_rate():
    assert recall_at_k(HITS, REL, 2)[0] == pytest.approx(1 / 3)
    assert recall_at_k(HITS, REL, 4)[0] == pytest.approx(2 / 3)
    assert precision_at_k(HITS, 2)[0] == 0.5 and precision_at_k(HITS, 4)[0] == 0.5
    assert hit_rate_at_k(HITS, 1)[0] == 0 and hit_rate_at_k(HITS, 2)[0] == 1


def test_ndcg():
    dcg = 1 / math.log2(3) + 1 / math.log2(5)
    ideal = 1 + 1 / math.log2(3) + 1 / math.log2(4)
    assert ndcg_at_k(HITS, REL, 4)[0] == pytest.approx(dcg / ideal)
    perfect = hits_matrix(np.array([[9, 2]]), REL)
    assert ndcg_at_k(perfect, REL, 2)[0] == pytest.approx(1.0)  # ideal only counts min(|rel|, k)


def test_map():
    assert map_at_k(HITS, REL, 4)[0] == pytest.approx((1 / 2 + 2 / 4) / 3)
    one = [np.array([7])]
    assert map_at_k(hits_matrix(np.array([[5, 7, 8]]), one), one, 3)[0] == pytest.approx(0.5)


def test_coverage_and_summary():
    top = np.array([[1, 2], [2, 3]])
    assert catalog_coverage(top, 2, 10) == pytest.approx(0.3)
    assert catalog_coverage(top, 1, 10) == pytest.approx(0.2)
    m = ranking_metrics(top, [np.array([2]), np.array([5])], [1, 2], 10)
    assert m["hit_rate@2"] == 0.5 and m["recall@1"] == 0.0 and m["n_users"] == 2
    assert set(m) >= {"precision@2", "ndcg@2", "map@2", "coverage@2"}
