"""Stage `evaluate`: the two-tower model beside popularity and EASE under one protocol; cold start."""

import argparse
import time
from pathlib import Path

import numpy as np
import torch

from movierec.cli import run_stage
from movierec.evaluation.baselines import EASEScorer, PopularityScorer
from movierec.evaluation.plots import plot_metric_at_k, write_metric_at_k
from movierec.evaluation.protocol import (
    TwoTowerScorer,
    cold_start_ndcg,
    evaluate_scorer,
    segment_metrics,
    user_sample,
)
from movierec.evaluation.similar import blend_similarity, similar_report
from movierec.evaluation.trending import TrendBlendScorer, trend_order
from movierec.models.embeddings import movie_vectors
from movierec.models.two_tower import load_checkpoint, taste_part
from movierec.ranking.ranker import load_two_stage
from movierec.ranking.scorer import TwoStageScorer
from movierec.training.inputs import load_pipeline_data
from movierec.training.tracking import file_md5, find_run, metric_name, mlflow_run
from movierec.utils import load_params, use_threads, write_json


def summary(results: dict, cold: dict, similar: dict) -> dict:
    """The headline figures, few and short enough for `dvc metrics show` and `dvc exp show` to fit a terminal, all
    at 10: NDCG and coverage of the served ordering beside the two-tower alone, EASE and popularity, the served
    ordering's NDCG from 1 and 10 ratings (cold start), and similar movies' excess hit rate; every figure is in the
    detailed files too."""
    served, tt, ease = results["two_tower+ranker"], results["two_tower"], results["ease"]
    return {
        "served": {"ndcg": served["ndcg@10"], "cov": served["coverage@10"]},
        "two_tower": {"ndcg": tt["ndcg@10"]},
        "ease": {"ndcg": ease["ndcg@10"], "cov": ease["coverage@10"]},
        "pop": {"ndcg": results["popularity"]["ndcg@10"]},
        "cold": {k: cold["two_tower+ranker"][f"ndcg@10_{k}"] for k in ("k1", "k10")},
        "similar": {"excess": similar["served"]["similar_excess@10"]},
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--prepared", required=True)
    ap.add_argument("--features", required=True)
    ap.add_argument("--model", required=True)
    ap.add_argument("--ease", required=True, help="the ease stage's folder: EASE fitted on the training split")
    ap.add_argument("--ranker", required=True, help="the rank stage's folder: the served two-stage ordering")
    ap.add_argument("--metrics", required=True, help="metrics JSON: every model side by side")
    ap.add_argument("--segments", required=True, help="per-segment metrics JSON")
    ap.add_argument("--cold-start", required=True, help="cold-start NDCG@10 JSON")
    ap.add_argument("--similar", required=True, help="item-to-item JSON: similar movies against ItemKNN")
    ap.add_argument("--summary", required=True, help="the headline figures JSON: what `dvc metrics show` prints")
    ap.add_argument("--plots", required=True, help="folder for metric@K plots")
    args = ap.parse_args()
    params = load_params()
    ev = params["evaluate"]
    use_threads(int(params["train"].get("threads", 0)))
    ks = [int(k) for k in ev["ks"]]

    data = load_pipeline_data(args.prepared, args.features, ev["relevance_threshold"])
    # a fixed seeded sample of test users when there are more than max_users; its size is each model's n_users
    relevant = user_sample(data.test_relevant, int(ev["max_users"]), params["seed"])
    model, _ = load_checkpoint(args.model)
    t0 = time.perf_counter()
    # thin profiles: the model's ranking with the trending list fused in (models/blend.py), as served
    trend = trend_order(Path(args.prepared), data.movie_features, int(params["index"]["trending_weeks"]))
    blend = TrendBlendScorer(TwoTowerScorer(model, known_users=False), trend, data.n_movies,
                             float(params["index"]["trending_blend"]), data.known)  # fmt: skip
    stage = load_two_stage(args.ranker, movie_vectors(model))  # the served ordering, and similar movies below
    scorers = [
        TwoTowerScorer(model),
        TwoStageScorer(model, stage, thin=blend),
        EASEScorer.load(args.ease, data.n_movies, float(ev["ease_lambda"]), int(ev["ease_max_items"])),
        PopularityScorer(data.train, data.n_movies),
    ]
    # cold start reads every model 5 times over: a fixed seeded sample of the evaluated users when there are more
    cold_relevant = user_sample(relevant, int(ev["cold_start_users"]), params["seed"])
    user_counts = data.train.counts()
    movie_counts = np.bincount(data.train.items, minlength=data.n_movies)
    results, segments, cold, laps = {}, {}, {}, {}
    for scorer in scorers:
        t = time.perf_counter()
        metrics, users, top = evaluate_scorer(scorer, data.known, relevant, ks, data.n_movies, progress=True)
        results[scorer.name] = metrics
        segments[scorer.name] = segment_metrics(top, users, relevant, user_counts, movie_counts)
        cold_scorer = TwoTowerScorer(model, known_users=False) if scorer.name == "two_tower" else scorer  # noqa: E501
        cold[scorer.name] = cold_start_ndcg(cold_scorer, data.known, cold_relevant,
                                            [int(k) for k in ev["cold_start_ks"]], data.n_movies, params["seed"])  # fmt: skip
        laps[scorer.name] = time.perf_counter() - t
    t = time.perf_counter()
    cold_ks = [int(k) for k in ev["cold_start_ks"]]
    cold[blend.name] = cold_start_ndcg(blend, data.known, cold_relevant, cold_ks, data.n_movies, params["seed"])
    # "similar movies": the served ranking (taste cosine + item-to-item) beside the others, same pairs
    with torch.no_grad():
        taste = taste_part(model.movie_vectors().numpy(), model.cfg)
    served = blend_similarity(taste, stage.itemitem, stage.settings.similar_weight)
    similar = similar_report(taste, data.known, relevant, float(ev["relevance_threshold"]), served=served,
                             titles=data.movie_features["title"].astype(str).tolist(),
                             anchors=int(params["rank"]["similar_movies"]))  # fmt: skip
    laps["cold_start_trending_and_similar"] = time.perf_counter() - t
    seconds = time.perf_counter() - t0
    write_json(args.similar, similar)
    write_json(args.metrics, results)
    write_json(args.segments, segments)
    write_json(args.cold_start, cold)
    write_json(args.summary, summary(results, cold, similar))
    Path(args.plots).mkdir(parents=True, exist_ok=True)
    for name, metrics in results.items():
        write_metric_at_k(metrics, ks, Path(args.plots) / f"{name}.csv")
    plot_metric_at_k(results, ks, Path(args.plots) / "metric_at_k.png")

    run_id = find_run("checkpoint_md5", file_md5(args.model))
    with mlflow_run("evaluate", run_id=run_id) as mlflow:
        for name, metrics in results.items():
            mlflow.log_metrics({metric_name(f"test_{name}_{k}"): v for k, v in metrics.items()})
        for name, values in cold.items():
            mlflow.log_metrics({metric_name(f"cold_{name}_{k}"): v for k, v in values.items()})
        for name, values in similar.items():
            mlflow.log_metrics({metric_name(f"similar_{name}_{k}"): v for k, v in values.items()})
        mlflow.log_metric("evaluate_seconds", seconds)
    tt, ease, ranked = results["two_tower"], results["ease"], results["two_tower+ranker"]
    print(f"NDCG@10: two-tower {tt['ndcg@10']:.4f}, +ranker {ranked['ndcg@10']:.4f}, EASE {ease['ndcg@10']:.4f}, popularity "
          f"{results['popularity']['ndcg@10']:.4f}; coverage@10: two-tower {tt['coverage@10']:.4f}, +ranker {ranked['coverage@10']:.4f}, "
          f"EASE {ease['coverage@10']:.4f}; similar movies excess@10: served {similar['served']['similar_excess@10']:.4f}, "
          f"two-tower {similar['two_tower']['similar_excess@10']:.4f}, ItemKNN {similar['itemknn']['similar_excess@10']:.4f}, "
          f"popularity {similar['popularity']['similar_excess@10']:.4f}; {seconds:.0f} s "
          f"({', '.join(f'{k} {v:.0f} s' for k, v in laps.items())})")  # fmt: skip


if __name__ == "__main__":
    run_stage(main)
