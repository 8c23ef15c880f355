"""Stage `ease`: fit EASE on the training split once. `rank` reads it (the item-to-item feature, the coverage
floor, similar movies) and `evaluate` scores it as a baseline, so a change to the ranker's settings does not fit
it again."""

import argparse
import time

from movierec.cli import run_stage
from movierec.evaluation.baselines import EASEScorer
from movierec.training.inputs import load_pipeline_data
from movierec.utils import load_params, use_threads


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--prepared", required=True)
    ap.add_argument("--features", required=True)
    ap.add_argument("--out", required=True, help="folder for the weights")
    args = ap.parse_args()
    params = load_params()
    ev = params["evaluate"]
    use_threads(int(params["train"].get("threads", 0)))
    data = load_pipeline_data(args.prepared, args.features, ev["relevance_threshold"])
    # one dense factorisation with nothing to count along the way: a line first, so that a long fit is not silent
    print(f"EASE: fitting on {len(data.train.items):,} training ratings, up to {int(ev['ease_max_items']):,} movies",
          flush=True)  # fmt: skip
    t0 = time.perf_counter()
    ease = EASEScorer(data.train, data.n_movies, float(ev["ease_lambda"]), int(ev["ease_max_items"]))
    fit = time.perf_counter() - t0
    ease.save(args.out)
    print(f"EASE: {len(ease.items)} movies, lambda {ease.lam}; fitted in {fit:.1f} s, "
          f"{ease.b.numel() * 4 / 1e9:.2f} GB written to {args.out}")


if __name__ == "__main__":
    run_stage(main)
