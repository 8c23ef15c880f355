"""Benchmark: the two-stage ordering against the two-tower, EASE and popularity on the test split, over training
seeds, on the random and the temporal split.

    python bench/bench_ranker.py                        # seeds 42 1 2, both splits
    python bench/bench_ranker.py --seeds 42 --splits random

Needs the pipeline's raw data (`dvc repro download`). For each split the data are prepared and featurised
with params.yaml (the temporal split in a temporary folder); for each seed the two-tower model is trained
from params.yaml, the ranker learned as the `rank` stage learns it (validation only), and all four orderings
evaluated once on the test split by the protocol of the `evaluate` stage. On the temporal split each user's
latest ratings are the test and, before them, the validation: every model predicts what came later.
Prints a table and writes bench/results/ranker.json.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
MODELS = ("two_tower", "two_tower+ranker", "ease", "popularity")
FIGURES = ("ndcg@10", "recall@10", "coverage@10")


def prepared(split: str, tmp: Path) -> Path:
    """A folder holding ``prepared/`` and ``features/`` for ``split``."""
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    if params["prepare"]["split"] == split and (ROOT / "data" / "features").is_dir():
        return ROOT / "data"
    params["prepare"]["split"] = split
    out = tmp / split
    out.mkdir(parents=True)
    (out / "params.yaml").write_text(yaml.safe_dump(params))
    for cmd in ([sys.executable, str(ROOT / "stages/prepare.py"), "--raw", str(ROOT / "data/raw"), "--out", "prepared",
                 "--stats", "statistics.json"],
                [sys.executable, str(ROOT / "stages/features.py"), "--prepared", "prepared", "--out", "features"]):  # fmt: skip
        subprocess.run(cmd, cwd=out, check=True, capture_output=True)
    return out


def run(data_dir: Path, seed: int, params: dict) -> dict:
    import pandas as pd
    import torch

    from movierec.evaluation.baselines import EASEScorer, PopularityScorer
    from movierec.evaluation.protocol import TwoTowerScorer, evaluate_scorer
    from movierec.evaluation.trending import TrendBlendScorer, trend_order
    from movierec.ranking.build import learn_ranker
    from movierec.ranking.scorer import TwoStageScorer
    from movierec.ranking.training import RankConfig
    from movierec.training.inputs import build_model, load_pipeline_data
    from movierec.training.loop import TrainConfig, TrainData, fit, split_settings
    from movierec.utils import make_config, set_seed

    torch.set_num_threads(2)
    ev, ix = params["evaluate"], params["index"]
    data = load_pipeline_data(data_dir / "prepared", data_dir / "features", ev["relevance_threshold"])
    set_seed(seed)
    t0 = time.perf_counter()
    model = build_model(data, params["model"])
    model, _ = fit(model, TrainData(data.train, data.val_relevant, data.n_movies),
                   TrainConfig(**split_settings(params["train"])[0], seed=seed), progress=False)  # fmt: skip
    train_s = time.perf_counter() - t0
    train = pd.read_parquet(data_dir / "prepared" / "train.parquet", columns=["movie_idx", "rating", "timestamp"])
    trend = trend_order(data_dir / "prepared", data.movie_features, int(ix["trending_weeks"]))

    def thin(exclude):
        return TrendBlendScorer(TwoTowerScorer(model, known_users=False), trend, data.n_movies,
                                float(ix["trending_blend"]), exclude)  # fmt: skip

    t0 = time.perf_counter()
    ease = EASEScorer(data.train, data.n_movies, float(ev["ease_lambda"]), int(ev["ease_max_items"]))  # the ease stage
    ease_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    learned = learn_ranker(data, model, train, make_config(RankConfig, "rank", params["rank"]), params["seed"], ease,
                           int(ix["trending_weeks"]), thin=thin(data.train))  # fmt: skip
    rank_s = time.perf_counter() - t0
    scorers = [TwoTowerScorer(model), TwoStageScorer(model, learned.stage, thin=thin(data.known)), ease,
               PopularityScorer(data.train, data.n_movies)]  # fmt: skip
    out = {"train_s": round(train_s, 1), "ease_stage_s": round(ease_s, 1), "rank_stage_s": round(rank_s, 1), "trees": learned.report["trees"],
           "weight": learned.report["weight"], "discount": learned.report["discount"], "min_ratings": learned.report["min_ratings"],
           "validation": learned.report["validation"]}  # fmt: skip
    for s in scorers:
        m, _, _ = evaluate_scorer(s, data.known, data.test_relevant, [10], data.n_movies)
        out[s.name] = {f: m[f] for f in FIGURES}
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seeds", type=int, nargs="+", default=[42, 1, 2])
    ap.add_argument("--splits", nargs="+", default=["random", "temporal"], choices=["random", "temporal"])
    ap.add_argument("--out", default=str(HERE / "results" / "ranker.json"))
    args = ap.parse_args()
    sys.path.insert(0, str(ROOT / "src"))
    from movierec.utils import load_params

    params = load_params(ROOT / "params.yaml")
    result: dict = {"machine": {"cpu": platform.processor() or platform.machine(), "python": platform.python_version()},
                    "seeds": args.seeds}  # fmt: skip
    rank_s = []
    with tempfile.TemporaryDirectory() as tmp:
        for split in args.splits:
            data_dir = prepared(split, Path(tmp))
            per_seed = {}
            for seed in args.seeds:
                per_seed[str(seed)] = run(data_dir, seed, params)
                rank_s.append(per_seed[str(seed)]["rank_stage_s"])
                r = per_seed[str(seed)]
                print(f"{split} seed {seed}: " + ", ".join(f"{m} {r[m]['ndcg@10']:.4f}/{r[m]['coverage@10']:.4f}" for m in MODELS),
                      flush=True)  # fmt: skip
            mean = {m: {f: statistics.mean(per_seed[s][m][f] for s in per_seed) for f in FIGURES} for m in MODELS}
            sd = {m: {f: statistics.stdev(per_seed[s][m][f] for s in per_seed) if len(per_seed) > 1 else 0.0
                      for f in FIGURES} for m in MODELS}  # fmt: skip
            n = params["rank"]["candidates"]
            result[split] = {"mean": mean, "sd": sd, "per_seed": per_seed,
                             f"candidate_recall@{n}": statistics.mean(per_seed[s]["validation"][f"candidate_recall@{n}"] for s in per_seed),
                             f"candidate_recall@{n}+{params['rank']['itemitem_candidates']}": statistics.mean(
                                 per_seed[s]["validation"][f"candidate_recall@{n}+{params['rank']['itemitem_candidates']}"] for s in per_seed)}  # fmt: skip
    result["rank_stage_s"] = statistics.mean(rank_s)
    print(f"\n{'split':9} {'model':18} {'NDCG@10':>16} {'recall@10':>10} {'coverage@10':>12} {'NDCG vs EASE':>13} {'cov vs EASE':>12}")
    for split in args.splits:
        mean, sd, ease = result[split]["mean"], result[split]["sd"], result[split]["mean"]["ease"]
        for m in MODELS:
            print(f"{split:9} {m:18} {mean[m]['ndcg@10']:.4f} ± {sd[m]['ndcg@10']:.4f} {mean[m]['recall@10']:10.4f} "
                  f"{mean[m]['coverage@10']:12.4f} {mean[m]['ndcg@10'] / ease['ndcg@10']:12.3f}x "
                  f"{mean[m]['coverage@10'] / ease['coverage@10']:11.2f}x")  # fmt: skip
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2, sort_keys=True) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
