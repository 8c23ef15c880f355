"""Each loss on tiny tensors whose value is worked out by hand."""

import math

import pytest
import torch

from movierec.models.losses import bpr_loss, mse_bpr_loss, mse_loss, scaled_rating, view_softmax_loss

EYE = torch.eye(2)


def softmax(users, movies, target_view, target_movie, log_q=None):
    """view_softmax_loss with every distinct target movie a negative (as training does with negatives: 0)."""
    cand, col, count = torch.unique(target_movie, return_inverse=True, return_counts=True)
    lq = torch.zeros(len(cand)) if log_q is None else log_q
    own = torch.zeros(len(users), len(cand), dtype=torch.bool)
    own[target_view, col] = True
    return view_softmax_loss(users, movies[col], target_view, lq[col], movies, lq, count.float().log(), own)


def test_view_softmax_identity_pairs():
    loss = softmax(EYE, EYE, torch.tensor([0, 1]), torch.tensor([3, 7]))
    assert float(loss) == pytest.approx(math.log(1 + math.exp(-1)))


def test_view_softmax_log_q_correction():
    log_q = torch.tensor([0.0, math.log(2.0)])
    loss = softmax(EYE, EYE, torch.tensor([0, 1]), torch.tensor([3, 7]), log_q)
    row0 = math.log(1 + 0.5 / math.e)  # the negative (movie 7) is frequent: its logit drops by log 2
    row1 = math.log(1 + 2 / math.e)  # the positive is frequent: its logit drops by log 2
    assert float(loss) == pytest.approx((row0 + row1) / 2)


def test_view_softmax_own_positives_are_not_negatives():
    # one view, two positives: neither is the other's negative, and there is no other candidate
    loss = softmax(EYE[:1], EYE, torch.tensor([0, 0]), torch.tensor([5, 6]))
    assert float(loss) == pytest.approx(0.0)


def test_view_softmax_counts_a_repeated_negative_as_often_as_it_occurs():
    # view 0 likes movie 0; views 1 and 2 both like movie 1: for view 0 movie 1 is a negative twice over
    users = torch.tensor([[1.0, 0.0], [0.0, 1.0], [0.0, 1.0]])
    movies = torch.eye(2)
    loss = softmax(users, movies, torch.tensor([0, 1, 2]), torch.tensor([0, 1, 1]))
    row0 = math.log(1 + 2 * math.exp(-1))  # two rows of movie 1 against e^1 for the positive
    row12 = math.log(1 + math.exp(-1))  # movie 0 once
    assert float(loss) == pytest.approx((row0 + 2 * row12) / 3)


def test_bpr():
    assert float(bpr_loss(torch.tensor([2.0, 0.0]), torch.tensor([0.0, 0.0]))) == pytest.approx(
        (math.log(1 + math.exp(-2)) + math.log(2)) / 2
    )


def test_mse_on_the_rating_scale():
    assert scaled_rating(torch.tensor([-100.0, 0.0, 100.0])).tolist() == pytest.approx([0.5, 2.75, 5.0])
    assert float(mse_loss(torch.zeros(2), torch.tensor([2.75, 3.75]))) == pytest.approx(0.5)


def test_mse_bpr_combination():
    pos, neg, r = torch.zeros(2), torch.zeros(2), torch.tensor([2.75, 3.75])
    assert float(mse_bpr_loss(pos, neg, r)) == pytest.approx(0.7 * 0.5 + 0.3 * math.log(2))
