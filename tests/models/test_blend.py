"""Fusing a thin profile's ranking with the trending list, on rankings whose fusion is known."""

import numpy as np
import torch

from movierec.models.blend import C, PERSONAL, fuse, fuse_scores, trend_scores, trend_weight


def test_the_trending_share_fades_with_each_rating():
    assert trend_weight(0.2, 1) == 0.2 and trend_weight(0.2, 4) == 0.05
    assert trend_weight(0.2, 0) == 0.0 and trend_weight(0.2, PERSONAL) == 0.0 and trend_weight(0.0, 1) == 0.0


def test_fuse_weighs_both_rankings_by_reciprocal_rank():
    model, trend = [1, 2, 3, 4], [9, 3]
    assert fuse(model, trend, 0.0, 3) == [1, 2, 3]  # no share: the model's list as it is
    # 3 is third for the model and second trending: (0.8/63 + 0.2/62) beats 1 alone (0.8/61)
    assert fuse(model, trend, 0.2, 3) == [3, 1, 2]
    assert fuse(model, trend, 1.0, 2) == [9, 3]  # all of it: the trending list


def test_fused_score_matrices_rank_as_the_served_lists_do():
    rng = np.random.default_rng(0)
    scores = torch.from_numpy(rng.normal(size=(3, 50)).astype(np.float32))
    scores[1, 7] = float("-inf")  # excluded (a rated movie)
    trend = np.array([7, 11, 23, 5])
    w = torch.tensor([0.0, 0.3, 0.6])
    fused = fuse_scores(scores, trend_scores(trend, 50), w)
    assert torch.isneginf(fused[1, 7])  # stays excluded
    for u in range(3):
        order = torch.argsort(scores[u], descending=True).tolist()
        model = [m for m in order if not torch.isneginf(scores[u, m])]
        top = torch.topk(fused[u], 10).indices.tolist()
        served = fuse(model, [m for m in trend.tolist() if not torch.isneginf(scores[u, m])], float(w[u]), 10)
        assert top == served
    assert abs(trend_scores(trend, 50)[11].item() - 1.0 / (C + 2)) < 1e-7
