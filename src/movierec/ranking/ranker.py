"""The two-stage ordering: the two-tower's top ``candidates`` (and the item-to-item model's top
``itemitem_candidates``) ordered by the two-tower's score plus ``weight`` x a LightGBM LambdaRank booster's,
minus ``discount`` x the movie's log popularity. The booster corrects the first stage rather than replace it:
the first stage's order carries its catalogue coverage, which a booster learned on few labels gives up for
the popular head; ``weight`` and ``discount`` are chosen on validation under a coverage floor.

:meth:`TwoStage.order` is the one function that orders a user's candidates: the offline evaluation (exact
candidates) and the service (candidates from the vector index, filtered) both call it.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import scipy.sparse as sp

from movierec.errors import MovieRecError
from movierec.ranking.features import FEATURES, MovieFacts, pair_features
from movierec.ranking.itemitem import history_scores

BOOSTER = "booster.txt"
SETTINGS = "ranker.json"
ITEMITEM = "itemitem.npz"
FACTS = "movie_facts.npz"


@dataclass
class RankerSettings:
    candidates: int = 200  # the two-tower's top N per user (count)
    itemitem_candidates: int = 50  # the item-to-item model's top N added to them (count)
    weight: float = 1.0  # the booster's standardised score's weight beside the two-tower's
    discount: float = 0.0  # minus this x standardised log popularity
    min_ratings: int = 1  # profiles with fewer ratings keep the first stage's ordering (count)
    trees: int = 0  # boosting rounds of the saved booster (count)
    similar_weight: float = 0.0  # "similar movies": the item-to-item weights' share beside the taste cosine


def standardise(v: np.ndarray) -> np.ndarray:
    return (v - v.mean()) / max(float(v.std()), 1e-9)


def final_scores(two_tower: np.ndarray, booster: np.ndarray, log_popularity: np.ndarray, weight: float,
                 discount: float) -> np.ndarray:  # fmt: skip
    """One user's candidates: two-tower score + ``weight`` x booster score - ``discount`` x log popularity, each
    standardised over the candidates, so that the two settings mean the same whatever the scales."""
    z = [standardise(np.asarray(v, np.float64)) for v in (two_tower, booster, log_popularity)]
    return z[0] + weight * z[1] - discount * z[2]


def best_of(scores: np.ndarray, n: int, exclude: np.ndarray) -> np.ndarray:
    """The ``n`` best movie_idx of one user's catalogue ``scores`` (changed in place; ``-inf``: not allowed), none
    of ``exclude``, best first (ties: the lower movie_idx): what an exact search returns."""
    scores[np.asarray(exclude, np.int64)] = -np.inf
    n = min(n, int(np.isfinite(scores).sum()))
    if n <= 0:
        return np.zeros(0, np.int64)
    top = np.argpartition(-scores, n - 1)[:n]
    return top[np.lexsort((top, -scores[top]))].astype(np.int64)


class TwoStage:
    """Everything the second stage needs, loaded once: the movie vectors as indexed, the sparse item-to-item
    matrix, the movie facts and the booster."""

    def __init__(self, movie_vectors: np.ndarray, itemitem: sp.csr_matrix, facts: MovieFacts, booster,
                 settings: RankerSettings):  # fmt: skip
        self.movie_vectors = np.ascontiguousarray(movie_vectors, dtype=np.float32)
        self.itemitem = itemitem.tocsr()
        self.facts = facts
        self.booster = booster
        self.settings = settings

    # ----- the shared path ------------------------------------------------------------------------------
    def candidate_pool(self, vector: np.ndarray, items: np.ndarray, tt_cand: np.ndarray,
                       allowed: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:  # fmt: skip
        """``(cand, tt, ii)``: the two-tower's candidates ``tt_cand`` (best first) joined by the item-to-item
        model's top ``itemitem_candidates`` among ``allowed`` movies (bool mask; None: all) not in ``items``,
        with both models' scores of every candidate."""
        ii_all = history_scores(self.itemitem, items)
        n_ii = self.settings.itemitem_candidates
        if n_ii > 0 and len(items):
            pool = np.ones(len(ii_all), bool) if allowed is None else allowed.copy()
            pool[items] = False
            pool[tt_cand] = False
            pool &= ii_all > 0
            idx = np.flatnonzero(pool)
            if len(idx) > n_ii:
                idx = idx[np.argpartition(-ii_all[idx], n_ii - 1)[:n_ii]]
            idx = idx[np.lexsort((idx, -ii_all[idx]))]
            cand = np.concatenate([np.asarray(tt_cand, np.int64), idx.astype(np.int64)])
        else:
            cand = np.asarray(tt_cand, np.int64)
        return cand, self.movie_vectors[cand] @ np.asarray(vector, np.float32), ii_all[cand]

    def features(self, vector, items, ratings, tt_cand, allowed=None) -> tuple[np.ndarray, np.ndarray]:
        """``(cand, X)``: the candidate pool and its ``(len(cand), len(FEATURES))`` feature matrix."""
        cand, tt, ii = self.candidate_pool(vector, items, tt_cand, allowed)
        return cand, pair_features(items, ratings, cand, tt, ii, self.facts)

    def order(self, vector: np.ndarray, items: np.ndarray, ratings: np.ndarray, tt_cand: np.ndarray, k: int,
              allowed: np.ndarray | None = None) -> list[tuple[int, float]]:  # fmt: skip
        """The top ``k`` ``(movie_idx, score)`` of the user with user vector ``vector`` and history
        ``items``/``ratings``, from the two-tower's candidates ``tt_cand`` (best first, none rated, within the
        request's filters) and the item-to-item ones within ``allowed``. Profiles below ``min_ratings`` keep
        the two-tower's order."""
        if len(tt_cand) == 0:
            return []
        if len(items) < self.settings.min_ratings or self.booster is None:
            tt = self.movie_vectors[tt_cand] @ np.asarray(vector, np.float32)
            return [(int(m), float(s)) for m, s in zip(tt_cand[:k], tt[:k])]
        cand, x = self.features(vector, items, ratings, tt_cand, allowed)
        score = final_scores(x[:, 0], self.booster.predict(x, num_threads=1), self.facts.log_popularity[cand],
                             self.settings.weight, self.settings.discount)  # fmt: skip
        best = np.lexsort((np.arange(len(cand)), -score))[:k]  # ties: the candidate pool's order
        return [(int(cand[b]), float(score[b])) for b in best]

    def exact_candidates(self, vector: np.ndarray, exclude: np.ndarray) -> np.ndarray:
        """The two-tower's top ``candidates`` over the whole catalogue, none of ``exclude``: what an exact
        index search returns."""
        return best_of(self.movie_vectors @ np.asarray(vector, np.float32), self.settings.candidates, exclude)

    def exact_candidates_many(self, vectors: np.ndarray, histories: list[np.ndarray]) -> list[np.ndarray]:
        """:meth:`exact_candidates` for many users at once (``(B, dim)`` vectors, one history each): one matrix
        product per chunk rather than one pass over the catalogue per user."""
        out = []
        for s in range(0, len(vectors), 256):
            scores = np.asarray(vectors[s : s + 256], np.float32) @ self.movie_vectors.T
            out.extend(best_of(row, self.settings.candidates, seen) for row, seen in zip(scores, histories[s : s + 256]))
        return out

    # ----- files ----------------------------------------------------------------------------------------
    def save(self, folder: str | Path) -> None:
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        self.booster.save_model(str(folder / BOOSTER))
        (folder / SETTINGS).write_text(json.dumps({**asdict(self.settings), "features": FEATURES}, indent=2) + "\n")
        m = self.itemitem
        with open(folder / ITEMITEM, "wb") as f:
            np.savez(f, indptr=m.indptr, indices=m.indices, data=m.data, shape=np.array(m.shape))
        self.facts.save(folder / FACTS)


def load_two_stage(folder: str | Path, movie_vectors: np.ndarray) -> TwoStage:
    """The saved second stage; a missing or unreadable file is a :class:`MovieRecError` that says what to do."""
    import lightgbm as lgb

    folder = Path(folder)
    missing = [n for n in (BOOSTER, SETTINGS, ITEMITEM, FACTS) if not (folder / n).is_file()]
    if missing:
        raise MovieRecError(f"no ranker in {folder} (missing {', '.join(missing)}): run `dvc repro rank`, "
                            "or serve without it (MOVIEREC_RANKER=off)")  # fmt: skip
    try:
        meta = json.loads((folder / SETTINGS).read_text())
        if meta.get("features") != FEATURES:
            raise ValueError("its features are not the ones this code computes")
        settings = RankerSettings(**{k: v for k, v in meta.items() if k != "features"})
        booster = lgb.Booster(model_file=str(folder / BOOSTER))
        z = np.load(folder / ITEMITEM)
        itemitem = sp.csr_matrix((z["data"], z["indices"], z["indptr"]), shape=tuple(z["shape"]))
        facts = MovieFacts.load(folder / FACTS)
    except Exception as e:  # noqa: BLE001 - any damage to the files reads the same to the user
        raise MovieRecError(f"the ranker in {folder} cannot be read ({e}): run `dvc repro rank` again") from None
    if booster.num_feature() != len(FEATURES) or itemitem.shape[0] != len(movie_vectors):
        raise MovieRecError(f"the ranker in {folder} does not match the model's catalogue: run `dvc repro rank`")
    return TwoStage(movie_vectors, itemitem, facts, booster, settings)
