"""Stage `rank`: the second stage, a LightGBM LambdaRank booster over the two-tower's candidates, learned on
the validation split (see movierec.ranking.training for which ratings each model sees)."""

import argparse
from pathlib import Path

import pandas as pd
import torch

from movierec.cli import run_stage
from movierec.evaluation.baselines import EASEScorer
from movierec.evaluation.protocol import TwoTowerScorer
from movierec.evaluation.trending import TrendBlendScorer, trend_order
from movierec.models.two_tower import load_checkpoint
from movierec.ranking.build import learn_ranker
from movierec.ranking.plots import plot_curves, plot_importance, write_curves
from movierec.ranking.training import RankConfig
from movierec.training.inputs import load_pipeline_data
from movierec.training.tracking import file_md5, find_run, metric_name, mlflow_run
from movierec.utils import load_params, make_config, set_seed, write_json


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--prepared", required=True)
    ap.add_argument("--features", required=True)
    ap.add_argument("--model", required=True)
    ap.add_argument("--ease", required=True, help="the ease stage's folder: EASE fitted on the training split")
    ap.add_argument("--out", required=True, help="folder for the booster and what it reads")
    ap.add_argument("--metrics", required=True, help="validation figures JSON")
    ap.add_argument("--plots", required=True, help="folder for feature importance and NDCG@K by stage")
    args = ap.parse_args()
    params = load_params()
    cfg = make_config(RankConfig, "rank", params["rank"])
    torch.set_num_threads(cfg.threads)
    set_seed(params["seed"])
    ev = params["evaluate"]
    data = load_pipeline_data(args.prepared, args.features, ev["relevance_threshold"])
    model, _ = load_checkpoint(args.model)
    train = pd.read_parquet(Path(args.prepared) / "train.parquet", columns=["movie_idx", "rating", "timestamp"])
    weeks = int(params["index"]["trending_weeks"])
    # below the ranker's profile size the service fuses the trending list in (models/blend.py)
    thin = TrendBlendScorer(TwoTowerScorer(model, known_users=False), trend_order(Path(args.prepared), data.movie_features, weeks),
                            data.n_movies, float(params["index"]["trending_blend"]), data.train)  # fmt: skip
    learned = learn_ranker(data, model, train, cfg, params["seed"],
                           EASEScorer.load(args.ease, data.n_movies, float(ev["ease_lambda"]), int(ev["ease_max_items"])),
                           weeks, thin=thin, progress=True, threshold=float(ev["relevance_threshold"]))  # fmt: skip
    learned.stage.save(args.out)
    # metrics hold what a rerun reproduces; timings go to the log and MLflow
    write_json(args.metrics, {k: v for k, v in learned.report.items() if k not in ("fit_seconds", "seconds")})
    plots = Path(args.plots)
    plots.mkdir(parents=True, exist_ok=True)
    plot_importance(learned.importance, plots / "feature_importance.png")
    write_curves(learned.curves, plots / "ndcg_by_stage.csv")
    plot_curves(learned.curves, plots / "ndcg_by_stage.png")
    v = learned.report["validation"]
    # the training run of this checkpoint gets the ranker's choices and validation figures
    with mlflow_run("rank", run_id=find_run("checkpoint_md5", file_md5(args.model))) as mlflow:
        mlflow.log_metrics({metric_name(f"rank_val_{name}_{k}"): x for name in ("two_tower", "two_tower+ranker", "ease")
                            for k, x in v[name].items()})  # fmt: skip
        mlflow.log_metrics({"rank_trees": learned.report["trees"], "rank_weight": learned.report["weight"],
                            "rank_discount": learned.report["discount"], "rank_min_ratings": learned.report["min_ratings"],
                            "similar_weight": learned.report["similar_weight"],
                            "rank_seconds": learned.report["fit_seconds"],
                            **{f"rank_seconds_{k}": t for k, t in learned.report["seconds"].items()}})  # fmt: skip
    print(f"ranker: {learned.report['trees']} trees, weight {learned.report['weight']}, discount "
          f"{learned.report['discount']}; validation NDCG@10 "
          f"two-tower {v['two_tower']['ndcg@10']:.4f}, +ranker {v['two_tower+ranker']['ndcg@10']:.4f}, EASE "
          f"{v['ease']['ndcg@10']:.4f}; coverage@10 +ranker {v['two_tower+ranker']['coverage@10']:.4f} (floor "
          f"{v['coverage_floor']:.4f}); from {learned.report['min_ratings']} ratings; similar movies: item-to-item "
          f"weight {learned.report['similar_weight']}; {learned.report['fit_seconds']} s "
          f"({', '.join(f'{k} {t} s' for k, t in learned.report['seconds'].items())})")  # fmt: skip


if __name__ == "__main__":
    run_stage(main)
