"""Choose `index.trending_blend` on validation: how much of the trending list a thin profile's ranking takes.

    python bench/bench_blend.py        # after dvc repro (reads data/prepared, data/features, models/)

For each weight of a grid, the cold-start NDCG@10 of validation users embedded from 1, 3 and 5 of their
training ratings (the rest of their training ratings excluded from the ranking, as in `evaluate`), with the
trending list fused in (`models/blend.py`); weight 0 is the model alone. The weight with the best mean over
1, 3 and 5 ratings is the one to set in params.yaml. Test figures are never looked at here. Prints a table and
writes bench/results/blend.json.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

HERE = Path(__file__).resolve().parent


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--root", default=".")
    ap.add_argument("--weights", default="0,0.1,0.2,0.3,0.4,0.5,0.7")
    ap.add_argument("--out", default=str(HERE / "results" / "blend.json"))
    args = ap.parse_args()
    import numpy as np

    from movierec.evaluation.protocol import TwoTowerScorer, cold_start_ndcg, user_sample
    from movierec.evaluation.trending import TrendBlendScorer, trend_order
    from movierec.models.two_tower import load_checkpoint
    from movierec.training.inputs import load_pipeline_data
    from movierec.utils import load_params

    root = Path(args.root)
    params = load_params(root / "params.yaml")
    ev = params["evaluate"]
    data = load_pipeline_data(root / "data" / "prepared", root / "data" / "features", ev["relevance_threshold"])
    relevant = user_sample(data.val_relevant, int(ev["max_users"]), params["seed"])
    model, _ = load_checkpoint(root / "models" / "two_tower.pt")
    trend = trend_order(root / "data" / "prepared", data.movie_features, int(params["index"]["trending_weeks"]))
    ks = [1, 3, 5]
    rows = []
    for w in [float(x) for x in args.weights.split(",")]:
        scorer = TrendBlendScorer(TwoTowerScorer(model, known_users=False), trend, data.n_movies, w, data.train)
        out = cold_start_ndcg(scorer, data.train, relevant, ks, data.n_movies, params["seed"])
        rows.append({"weight": w, **{k: round(v, 4) for k, v in out.items()}, "mean": round(float(np.mean(list(out.values()))), 4)})
        print(f"weight {w:<5} " + "  ".join(f"{k} {v:.4f}" for k, v in out.items()) + f"  mean {rows[-1]['mean']:.4f}")
    best = max(rows, key=lambda r: r["mean"])
    result = {"split": "validation", "users": len(relevant), "trending_movies": len(trend), "ks": ks, "rows": rows,
              "best_weight": best["weight"]}  # fmt: skip
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    print(f"best weight on validation: {best['weight']} (mean NDCG@10 over 1, 3, 5 ratings {best['mean']:.4f})")


if __name__ == "__main__":
    main()
