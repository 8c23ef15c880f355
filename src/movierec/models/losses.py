"""Training losses. Scores are raw two-tower scores (dot products); shapes are given per function."""

from __future__ import annotations

import torch
import torch.nn.functional as F

LOSSES = ("softmax", "bpr", "mse", "mse_bpr")


def sampled_softmax_loss(
    users: torch.Tensor, movies: torch.Tensor, movie_idx: torch.Tensor, log_q: torch.Tensor
) -> torch.Tensor:
    """In-batch sampled softmax with log-popularity (logQ) correction.

    ``users``, ``movies``: ``(B, d)``, row ``i`` a positive pair; ``movie_idx``: ``(B,)``; ``log_q``: ``(B,)`` log
    of each in-batch movie's chance of being sampled as a negative (its share of training positives).
    Every other movie in the batch is a negative for row ``i``; subtracting ``log_q`` stops popular movies
    from being pushed down merely for appearing often. Other rows holding the same movie are not counted as
    negatives.
    """
    logits = users @ movies.T - log_q.unsqueeze(0)
    same = movie_idx.unsqueeze(0) == movie_idx.unsqueeze(1)
    eye = torch.eye(len(movie_idx), dtype=torch.bool, device=logits.device)
    logits = logits.masked_fill(same & ~eye, float("-inf"))
    return F.cross_entropy(logits, torch.arange(len(movie_idx), device=logits.device))


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
