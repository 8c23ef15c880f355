"""Learn the second stage from a trained two-tower model: what the `rank` stage and the benchmarks call."""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import pandas as pd

from movierec.evaluation.baselines import EASEScorer
from movierec.evaluation.metrics import hits_matrix, ndcg_at_k
from movierec.evaluation.protocol import cold_start_ndcg, evaluate_scorer, user_sample
from movierec.evaluation.similar import choose_similar_weight
from movierec.models.embeddings import movie_vectors, user_vectors
from movierec.models.two_tower import taste_part
from movierec.ranking.features import FEATURES, MovieFacts
from movierec.ranking.itemitem import sparse_ease
from movierec.ranking.ranker import RankerSettings, TwoStage
from movierec.ranking.scorer import TwoStageScorer
from movierec.ranking.training import (
    RankConfig,
    blended,
    choose_blend,
    cross_validate,
    fit_booster,
    judge,
    ranking_rows,
    top_by_score,
)
from movierec.training.inputs import PipelineData


@dataclass
class Learned:
    stage: TwoStage
    report: dict  # validation figures, for metrics/rank.json
    curves: dict  # NDCG@K by stage on validation, for the plot
    importance: dict  # feature -> total gain


def learn_ranker(data: PipelineData, model, train: pd.DataFrame, cfg: RankConfig, seed: int, ease: EASEScorer,
                 recent_weeks: int, thin=None, progress: bool = False, threshold: float = 4.0) -> Learned:  # fmt: skip
    """Keep ``ease`` (fitted on the training split) sparse as the item-to-item model, then learn the ranker on
    the validation split (see :mod:`movierec.ranking.training`), and choose its tree count, popularity discount
    and ``min_ratings`` on validation. ``thin``: the ordering served below ``min_ratings`` (a scorer whose
    exclusions are the training ratings), against which each threshold of ``cfg.min_ratings_tried`` is judged."""
    t0 = time.perf_counter()
    seconds: dict[str, float] = {}

    def lap(name: str) -> None:  # where the stage's time goes, for metrics/rank.json
        seconds[name] = round(time.perf_counter() - t0 - sum(seconds.values()), 1)

    facts = MovieFacts.build(train, data.movie_features, recent_weeks)
    relevant = user_sample(data.val_relevant, cfg.max_users, seed)
    ease_val, _, _ = evaluate_scorer(ease, data.train, relevant, [10], data.n_movies)
    itemitem = sparse_ease(ease, cfg.itemitem_top_k)
    del ease  # the dense matrix (1.6 GB at ml-25m size) is freed here where the caller passed it without a name
    lap("ease_validation")
    # "similar movies" reads the same item-to-item weights: their share beside the taste cosine, on validation
    taste = taste_part(movie_vectors(model), model.cfg)
    similar_relevant = user_sample(data.val_relevant, cfg.similar_users, seed)
    similar_weight, similar = choose_similar_weight(taste, itemitem, data.train, similar_relevant, threshold,
                                                    cfg.similar_weights, cfg.similar_movies)  # fmt: skip
    lap("similar_movies")
    settings = RankerSettings(candidates=cfg.candidates, itemitem_candidates=cfg.itemitem_candidates,
                              similar_weight=similar_weight)  # fmt: skip
    stage = TwoStage(movie_vectors(model), itemitem, facts, None, settings)
    users = np.array(sorted(relevant), np.int64)
    vectors = user_vectors(model, data.train)  # from the training ratings: validation is still to come
    rows = ranking_rows(stage, vectors, data.train, relevant, users, progress=progress)
    lap("features")
    n_relevant = sum(len(relevant[int(u)]) for u in users)
    off = rows.offsets()
    tt_only = sum(float(rows.label[a : a + cfg.candidates].sum()) for a in off[:-1])
    oof, trees, curve = cross_validate(rows, cfg, seed)
    lap("cross_validation")
    two_tower = judge(rows, -rows.x[:, FEATURES.index("two_tower_rank")], relevant, data.n_movies)
    # the ranker must not narrow the lists onto the popular head: coverage at least coverage_vs_ease x EASE's, or
    # the two-tower's own where that is lower (a floor above it would buy coverage with accuracy, not keep it)
    floor = min(cfg.coverage_vs_ease * ease_val["coverage@10"], two_tower["coverage@10"])
    blend, table = choose_blend(rows, oof, facts.log_popularity, relevant, data.n_movies, floor, cfg.weights,
                                cfg.discounts)  # fmt: skip
    stage.booster = fit_booster(rows, cfg, trees, seed)
    lap("fit_booster")
    stage.settings.weight, stage.settings.discount, stage.settings.trees = blend["weight"], blend["discount"], trees
    chosen = next(t for t in table if t["weight"] == blend["weight"] and t["discount"] == blend["discount"])
    cold_users = user_sample(relevant, cfg.cold_start_users, seed)
    stage.settings.min_ratings, cold = choose_min_ratings(model, stage, thin, data, cold_users, cfg.min_ratings_tried,
                                                          seed)  # fmt: skip
    lap("choose_min_ratings")
    report = {
        "validation": {
            "two_tower": two_tower,
            "two_tower+ranker": {k: v for k, v in chosen.items() if k not in blend},
            "ease": {"ndcg@10": ease_val["ndcg@10"], "coverage@10": ease_val["coverage@10"]},
            f"candidate_recall@{cfg.candidates}": tt_only / max(n_relevant, 1),
            f"candidate_recall@{cfg.candidates}+{cfg.itemitem_candidates}": float(rows.label.sum()) / max(n_relevant, 1),
            "users": len(users), "rows": int(len(rows.label)), "relevant_labels": int(rows.label.sum()),
            "coverage_floor": floor,
        },
        "trees": trees, **blend, "min_ratings": stage.settings.min_ratings, "cold_start": cold, "grid": table,
        "similar_weight": similar_weight, "similar": similar,
        "fit_seconds": round(time.perf_counter() - t0, 1), "seconds": seconds,
    }  # fmt: skip
    gain = stage.booster.feature_importance("gain")
    importance = {f: float(g) for f, g in zip(FEATURES, gain)}
    ks = list(range(1, 21))
    curves = {
        "two_tower": _ndcg_curve(rows, -rows.x[:, FEATURES.index("two_tower_rank")], relevant, data.n_movies, ks),
        "two_tower+ranker": _ndcg_curve(rows, blended(rows, oof, facts.log_popularity, blend["weight"], blend["discount"]), relevant, data.n_movies, ks),
    }
    return Learned(stage, report, {"k": ks, **curves}, importance)


def _ndcg_curve(rows, score, relevant, n_movies, ks) -> list[float]:
    top = top_by_score(rows, score, max(ks))
    rel = [relevant[int(u)] for u in rows.users]
    hits = hits_matrix(top, rel)
    return [float(ndcg_at_k(hits, rel, k).mean()) for k in ks]


def choose_min_ratings(model, stage: TwoStage, thin, data: PipelineData, relevant: dict, tried: list[int],
                       seed: int) -> tuple[int, dict]:  # fmt: skip
    """The smallest profile size of ``tried`` from which the ranker's validation NDCG@10, with each user
    embedded from that many of their training ratings, is at least the ``thin`` ordering's (the largest of
    ``tried`` when none is); and the figures it was chosen on."""
    if thin is None:
        return min(tried), {}
    saved = stage.settings.min_ratings
    stage.settings.min_ratings = 0  # the ranker at every size, to compare
    ranked = cold_start_ndcg(TwoStageScorer(model, stage), data.train, relevant, tried, data.n_movies, seed)
    stage.settings.min_ratings = saved
    base = cold_start_ndcg(thin, data.train, relevant, tried, data.n_movies, seed)
    cold = {str(k): {"two_tower+ranker": ranked[f"ndcg@10_k{k}"], "served_before": base[f"ndcg@10_k{k}"]} for k in tried}
    good = [k for k in sorted(tried) if all(cold[str(j)]["two_tower+ranker"] >= cold[str(j)]["served_before"]
                                            for j in tried if j >= k)]  # fmt: skip
    return (good[0] if good else max(tried)), cold
