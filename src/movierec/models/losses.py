"""Training losses. Scores are raw two-tower scores (dot products); shapes are given per function."""

from __future__ import annotations

import torch
import torch.nn.functional as F

LOSSES = ("softmax", "bpr", "mse", "mse_bpr")


def view_softmax_loss(
    users: torch.Tensor,
    positives: torch.Tensor,
    target_view: torch.Tensor,
    log_q_pos: torch.Tensor,
    negatives: torch.Tensor,
    log_q_neg: torch.Tensor,
    log_count: torch.Tensor,
    own: torch.Tensor,
) -> torch.Tensor:
    """Sampled softmax with negatives shared by a whole step and several positives per user vector.

    ``users``: ``(V, d)``, one vector per view; ``positives``: ``(T, d)``, each target's movie vector;
    ``target_view``: ``(T,)``, its view; ``negatives``: ``(N, d)``, the step's shared negative candidates (its
    target movies, or a sample of them); ``log_q_pos`` ``(T,)`` and ``log_q_neg`` ``(N,)``: log of each movie's
    share of training positives (times the logQ weight); ``log_count``: ``(N,)`` log of how many of the step's
    targets each candidate stands for; ``own``: ``(V, N)`` True where a candidate is one of the view's own
    positives, which are never its negatives.

    This is the in-batch softmax of one row per target (every other target's movie a negative, as often as
    it occurs), with the user vector computed once per view. All logits subtract ``log_q``, so popular movies
    are not pushed down merely for appearing often. Returns the mean over targets.
    """
    neg = (users @ negatives.T - log_q_neg.unsqueeze(0) + log_count.unsqueeze(0)).masked_fill(own, float("-inf"))
    lse = torch.logsumexp(neg, dim=1)  # (V,); -inf when a view has no negative
    pos = (users[target_view] * positives).sum(1) - log_q_pos
    return F.softplus(lse[target_view] - pos).mean()  # -log(e^pos / (e^pos + e^lse))


def bpr_loss(pos_scores: torch.Tensor, neg_scores: torch.Tensor) -> torch.Tensor:
    """Bayesian personalised ranking: ``mean(-log sigmoid(pos - neg))`` over ``(B,)`` score pairs."""
    return -F.logsigmoid(pos_scores - neg_scores).mean()


def scaled_rating(scores: torch.Tensor) -> torch.Tensor:
    """Map scores onto the rating scale: ``0.5 + 4.5 * sigmoid(score)``, in 0.5..5.0 stars."""
    return 0.5 + 4.5 * torch.sigmoid(scores)


def mse_loss(scores: torch.Tensor, ratings: torch.Tensor) -> torch.Tensor:
    """Mean squared error between ``scaled_rating(scores)`` and the ``(B,)`` observed ratings (stars)."""
    return F.mse_loss(scaled_rating(scores), ratings)


def mse_bpr_loss(pos_scores, neg_scores, ratings) -> torch.Tensor:
    """``0.7 * MSE + 0.3 * BPR``: fit the ratings while keeping rated movies above random ones."""
    return 0.7 * mse_loss(pos_scores, ratings) + 0.3 * bpr_loss(pos_scores, neg_scores)
