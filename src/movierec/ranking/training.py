"""Learning the ranker without leakage.

Which ratings each model sees:

- the two-tower model and the item-to-item model are fitted on the training split;
- the ranker learns from the validation split: for each validation user, the features come from their
  training ratings alone (as if the validation ratings were still to come), and a candidate's label is 1 when
  the user rated it in validation at or above the relevance threshold;
- its settings (the number of trees, its weight beside the two-tower, the popularity discount) are chosen by
  cross-validation over validation users: folds of users, each fold judged by a booster that did not learn
  from it; the profile size from which it serves, by validation cold start;
- the test split is read once, by the `evaluate` stage, for the configuration chosen.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from tqdm.auto import tqdm

from movierec.evaluation.metrics import catalog_coverage, hits_matrix, ndcg_at_k
from movierec.ranking.features import FEATURES, user_lists
from movierec.ranking.ranker import TwoStage, final_scores
from movierec.training.data import RatingLists


@dataclass
class RankingRows:
    """The ranker's training table, grouped by user (one LambdaRank query each)."""

    x: np.ndarray  # (rows, len(FEATURES)) float32
    label: np.ndarray  # (rows,) 0/1
    users: np.ndarray  # (queries,) user_idx
    sizes: np.ndarray  # (queries,) candidates per user
    cand: np.ndarray  # (rows,) movie_idx

    def offsets(self) -> np.ndarray:
        return np.concatenate([[0], np.cumsum(self.sizes)])


def ranking_rows(stage: TwoStage, vectors: np.ndarray, history: RatingLists, relevant: dict[int, np.ndarray],
                 users: np.ndarray, progress: bool = False) -> RankingRows:  # fmt: skip
    """Candidates, features and labels of ``users`` whose history is ``history`` and whose held-out relevant
    movies are ``relevant``; ``vectors``: ``(n_users, dim)`` user vectors from that same history."""
    xs, labels, cands, sizes = [], [], [], []
    lists = [user_lists(history, int(u)) for u in users]
    tt = stage.exact_candidates_many(vectors[np.asarray(users, np.int64)], [items for items, _ in lists])
    bar = tqdm(users, desc="ranker features", unit="user", disable=None if progress else True, leave=False)
    for u, (items, ratings), tt_cand in zip(bar, lists, tt):
        cand, x = stage.features(vectors[u], items, ratings, tt_cand)
        xs.append(x)
        labels.append(np.isin(cand, relevant.get(int(u), ())).astype(np.float32))
        cands.append(cand)
        sizes.append(len(cand))
    width = len(FEATURES)
    return RankingRows(np.concatenate(xs) if xs else np.zeros((0, width), np.float32),
                       np.concatenate(labels) if labels else np.zeros(0, np.float32), np.asarray(users, np.int64),
                       np.array(sizes, np.int64), np.concatenate(cands) if cands else np.zeros(0, np.int64))  # fmt: skip


@dataclass
class RankConfig:
    """The ``rank`` section of params.yaml."""

    candidates: int = 200
    itemitem_candidates: int = 50
    itemitem_top_k: int = 100
    min_ratings_tried: list[int] = field(default_factory=lambda: [10, 15, 20, 30, 50])
    coverage_vs_ease: float = 2.0
    weights: list[float] = field(default_factory=lambda: [0.0, 0.25, 0.5, 1.0, 2.0, 4.0])
    discounts: list[float] = field(default_factory=lambda: [0.0, 0.05, 0.1, 0.15, 0.2, 0.3, 0.4, 0.6])
    learning_rate: float = 0.05
    num_leaves: int = 3
    min_data_in_leaf: int = 100
    feature_fraction: float = 0.8
    lambda_l2: float = 10.0
    truncation_level: int = 10
    max_trees: int = 300
    folds: int = 5
    max_users: int = 4000
    cold_start_users: int = 1000
    threads: int = 2
    similar_weights: list[float] = field(default_factory=lambda: [0.0, 0.25, 0.5, 1.0, 2.0, 4.0])
    similar_movies: int = 10000
    similar_users: int = 20000

    def __post_init__(self):
        if min(self.candidates, self.num_leaves, self.max_trees, self.min_data_in_leaf, self.truncation_level) < 1 \
                or self.folds < 2:
            raise ValueError("candidates, num_leaves, max_trees, min_data_in_leaf and truncation_level must be 1 or "
                             "more, folds 2 or more")
        if not 0 < self.feature_fraction <= 1 or self.learning_rate <= 0:
            raise ValueError("feature_fraction must be in (0, 1] and learning_rate above 0")
        if not self.min_ratings_tried or min(self.min_ratings_tried) < 1:
            raise ValueError("min_ratings_tried must be a list of counts, 1 or more")
        if not self.discounts or min(self.discounts) < 0 or not self.weights or min(self.weights) < 0:
            raise ValueError("weights and discounts must be lists of numbers, 0 or more")

    def lightgbm(self, seed: int) -> dict:
        return {"objective": "lambdarank", "metric": "ndcg", "eval_at": [10], "learning_rate": self.learning_rate,
                "num_leaves": self.num_leaves, "min_data_in_leaf": self.min_data_in_leaf,
                "feature_fraction": self.feature_fraction, "lambda_l2": self.lambda_l2, "seed": seed,
                "lambdarank_truncation_level": self.truncation_level,
                "deterministic": True, "force_row_wise": True, "num_threads": self.threads, "verbosity": -1}  # fmt: skip


def _rows_of(rows: RankingRows, queries: np.ndarray) -> np.ndarray:
    """Positions of the candidate rows of ``queries`` (users' positions in ``rows``), in their order."""
    off = rows.offsets()
    return np.concatenate([np.arange(off[q], off[q + 1]) for q in queries]) if len(queries) else np.zeros(0, np.int64)


def _dataset(rows: RankingRows, sel: np.ndarray):
    import lightgbm as lgb

    idx = _rows_of(rows, sel)
    return lgb.Dataset(rows.x[idx], rows.label[idx], group=rows.sizes[sel], feature_name=FEATURES,
                       free_raw_data=False)  # fmt: skip


def cross_validate(rows: RankingRows, params: RankConfig, seed: int) -> tuple[np.ndarray, int, list[float]]:
    """``(oof, trees, curve)``: out-of-fold booster scores for every row (seeded folds of users), the number of
    trees with the best mean held-out NDCG@10 over the folds, and that mean curve. One curve over all folds
    rather than early stopping per fold: a fold of a few hundred users stops on noise."""
    import lightgbm as lgb

    fold = np.random.default_rng(seed).permutation(len(rows.users)) % params.folds
    useful = _has_positive(rows)
    lgb_params = params.lightgbm(seed)
    boosters, curves, held = [], [], []
    for f in range(params.folds):
        train_q = np.flatnonzero((fold != f) & useful)
        valid_q = np.flatnonzero((fold == f) & useful)
        if len(train_q) == 0 or len(valid_q) == 0:
            continue
        record: dict = {}
        boosters.append(lgb.train(lgb_params, _dataset(rows, train_q), params.max_trees,
                                  valid_sets=[_dataset(rows, valid_q)], valid_names=["held"],
                                  callbacks=[lgb.record_evaluation(record)]))  # fmt: skip
        curves.append(np.array(record["held"]["ndcg@10"]) * len(valid_q))
        held.append(np.flatnonzero(fold == f))
    if not curves:
        raise ValueError("too few validation users with a relevant candidate to cross-validate the ranker")
    curve = np.sum(curves, axis=0) / sum(len(h) for h in held)
    trees = int(np.argmax(curve)) + 1
    oof = np.zeros(len(rows.label), np.float64)
    for booster, qs in zip(boosters, held):  # one call per fold: a prediction is row by row all the same
        idx = _rows_of(rows, qs)
        oof[idx] = booster.predict(rows.x[idx], num_iteration=trees)
    return oof, trees, curve.tolist()


def _has_positive(rows: RankingRows) -> np.ndarray:
    off = rows.offsets()
    return np.array([rows.label[off[q] : off[q + 1]].any() for q in range(len(rows.users))], bool)


def fit_booster(rows: RankingRows, params: RankConfig, trees: int, seed: int):
    """The booster learned from every user with a relevant candidate, for ``trees`` rounds."""
    import lightgbm as lgb

    return lgb.train(params.lightgbm(seed), _dataset(rows, np.flatnonzero(_has_positive(rows))), max(trees, 1))


def top_by_score(rows: RankingRows, score: np.ndarray, k: int) -> np.ndarray:
    """``(queries, k)`` movie_idx: each user's candidates by descending ``score`` (ties: pool order)."""
    q = len(rows.users)
    out = np.full((q, k), -1, np.int64)
    if q == 0 or len(score) == 0:
        return out
    # every user at once: scores padded to the longest pool, the pads sorting after every real candidate
    width = int(rows.sizes.max())
    col = np.arange(len(score)) - np.repeat(rows.offsets()[:-1], rows.sizes)
    row = np.repeat(np.arange(q), rows.sizes)
    neg = np.full((q, width), np.inf)
    neg[row, col] = -np.asarray(score, np.float64)
    best = np.argsort(neg, axis=1, kind="stable")[:, :k]  # stable: ties stay in pool order
    cand = np.full((q, width), -1, np.int64)
    cand[row, col] = rows.cand
    picked = np.take_along_axis(cand, best, axis=1)
    out[:, : picked.shape[1]] = np.where(best < rows.sizes[:, None], picked, -1)
    return out


def judge(rows: RankingRows, score: np.ndarray, relevant: dict[int, np.ndarray], n_movies: int, k: int = 10) -> dict:
    """NDCG@k over the users with a relevant movie, and coverage@k over all of them, of the order ``score``."""
    top = top_by_score(rows, score, k)
    rel = [relevant.get(int(u), np.zeros(0, np.int64)) for u in rows.users]
    has = np.array([len(r) > 0 for r in rel])
    hits = hits_matrix(top[has], [r for r, h in zip(rel, has) if h])
    return {f"ndcg@{k}": float(ndcg_at_k(hits, [r for r, h in zip(rel, has) if h], k).mean()),
            f"coverage@{k}": catalog_coverage(top, k, n_movies)}  # fmt: skip


def blended(rows: RankingRows, booster: np.ndarray, log_popularity: np.ndarray, weight: float,
            discount: float) -> np.ndarray:  # fmt: skip
    """Every row's served score (:func:`~movierec.ranking.ranker.final_scores`, user by user) for booster
    scores ``booster``."""
    off = rows.offsets()
    pop, tt = log_popularity[rows.cand], rows.x[:, FEATURES.index("two_tower_score")]
    return np.concatenate([final_scores(tt[a:b], booster[a:b], pop[a:b], weight, discount)
                           for a, b in zip(off[:-1], off[1:])])  # fmt: skip


def choose_blend(rows: RankingRows, oof: np.ndarray, log_popularity: np.ndarray, relevant: dict, n_movies: int,
                 min_coverage: float, weights: list[float], discounts: list[float]) -> tuple[dict, list[dict]]:  # fmt: skip
    """The ``(weight, discount)`` of the grid with the best out-of-fold NDCG@10 among those whose coverage@10
    reaches ``min_coverage`` (the most coverage when none does; ties: the smaller settings); and the grid's
    figures."""
    table = [{"weight": w, "discount": d, **judge(rows, blended(rows, oof, log_popularity, w, d), relevant, n_movies)}
             for w in weights for d in discounts]  # fmt: skip
    ok = [t for t in table if t["coverage@10"] >= min_coverage]
    if ok:
        chosen = max(ok, key=lambda t: (t["ndcg@10"], -t["discount"], -t["weight"]))
    else:
        chosen = max(table, key=lambda t: (t["coverage@10"], -t["discount"], -t["weight"]))
    return {"weight": float(chosen["weight"]), "discount": float(chosen["discount"])}, table
