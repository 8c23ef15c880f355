"""Each loss on tiny tensors whose value is worked out by hand."""

import math

import pytest
import torch

from movierec.models.losses import bpr_loss, mse_bpr_loss, mse_loss, sampled_softmax_loss, scaled_rating

EYE = torch.eye(2)


def test_sampled_softmax_identity_pairs():
    loss = sampled_softmax_loss(EYE, EYE, torch.tensor([3, 7]), torch.zeros(2))
    assert float(loss) == pytest.approx(math.log(1 + math.exp(-1)))


def test_sampled_softmax_log_q_correction():
    log_q = torch.tensor([0.0, math.log(2.0)])
    loss = sampled_softmax_loss(EYE, EYE, torch.tensor([3, 7]), log_q)
    row0 = math.log(1 + 0.5 / math.e)  # the negative (movie 7) is frequent: its logit drops by log 2
    row1 = math.log(1 + 2 / math.e)  # the positive is frequent: its logit drops by log 2
    assert float(loss) == pytest.approx((row0 + row1) / 2)


def test_sampled_softmax_same_movie_is_not_a_negative():
    loss = sampled_softmax_loss(EYE, EYE, torch.tensor([5, 5]), torch.zeros(2))
    assert float(loss) == pytest.approx(0.0)


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
