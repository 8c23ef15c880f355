"""The two-stage ordering as a scorer of the evaluation protocol (:mod:`movierec.evaluation.protocol`): each
user's candidates ranked by :meth:`TwoStage.order`, exactly as the service ranks them, every other movie
``-inf``."""

from __future__ import annotations

import numpy as np
import torch

from movierec.models.embeddings import user_vectors
from movierec.ranking.features import user_lists
from movierec.ranking.ranker import TwoStage
from movierec.training.data import RatingLists


class TwoStageScorer:
    """Scores for :func:`~movierec.evaluation.protocol.top_k`: the served order of each user's candidate pool
    (best highest), ``-inf`` elsewhere. Profiles thinner than the ranker's ``min_ratings`` are scored by
    ``thin`` (the served ordering for them: the two-tower with trending fused in) when given."""

    name = "two_tower+ranker"

    def __init__(self, model, stage: TwoStage, thin=None):
        self.model, self.stage, self.thin = model.eval(), stage, thin

    def __call__(self, users: np.ndarray, known: RatingLists) -> torch.Tensor:
        users = np.asarray(users, np.int64)
        out = torch.full((len(users), len(self.stage.movie_vectors)), float("-inf"))
        counts = known.counts()[users]
        thin = counts < self.stage.settings.min_ratings if self.thin is not None else np.zeros(len(users), bool)
        if thin.any():
            out[torch.from_numpy(np.flatnonzero(thin))] = torch.as_tensor(self.thin(users[thin], known)).float()
        rich = np.flatnonzero(~thin)
        vectors = user_vectors(self.model, known, users=users[rich])
        lists = [user_lists(known, int(users[row])) for row in rich]
        tt = self.stage.exact_candidates_many(vectors, [items for items, _ in lists])
        for row, v, (items, ratings), cand in zip(rich, vectors, lists, tt):
            found = self.stage.order(v, items, ratings, cand, len(cand) + self.stage.settings.itemitem_candidates)
            if found:
                idx = torch.as_tensor([m for m, _ in found])
                out[row, idx] = torch.arange(len(found), 0, -1, dtype=torch.float32)
        return out
