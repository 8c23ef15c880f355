"""Benchmark: do explanations point at related movies, and do they vary along a list?

    python bench/bench_explanations.py        # after dvc repro (reads models/, data/embeddings/, data/index/)

For 20 known users (seeded draw among those with at least 20 ratings), their top 10 with explanations: the
share of explained recommendations whose cited movies share a genre with it, and the number of distinct cited
movies per list of 10, for the service's rule beside the previous one (the two movies nearest in taste among
those rated 4 stars or more, the same for every item of a list). Prints a table and writes
bench/results/explanations.json.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent


def previous_rule(rec, i: int, items: np.ndarray, ratings: np.ndarray) -> np.ndarray:
    liked = np.flatnonzero(ratings >= min(4.0, float(ratings.max())))
    sims = rec._unit[items[liked]] @ rec._unit[i]
    return liked[np.argsort(-sims, kind="stable")[:2]]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--root", default=".", help="the project whose outputs to read")
    ap.add_argument("--users", type=int, default=20)
    ap.add_argument("--out", default=str(HERE / "results" / "explanations.json"))
    args = ap.parse_args()
    from movierec.serving.recommender import Paths, Recommender

    rec = Recommender(Paths.under(args.root))
    counts = np.diff(rec.bundle.indptr)
    rng = np.random.default_rng(0)
    users = rng.choice(np.flatnonzero(counts >= 20), size=args.users, replace=False)
    by_id = {u: uid for uid, u in rec.user_idx.items()}
    result = {}
    for name in ("previous", "service"):
        shares, distinct = [], []
        for u in users:
            items, ratings = rec.bundle.history(int(u))
            found = rec.for_user(by_id[int(u)], k=10)["items"]
            cited_list, cited = [], {}
            for m in found:
                i = rec.movie_idx[m["movie_id"]]
                if name == "previous":
                    top = previous_rule(rec, i, items, ratings)
                else:
                    top = rec.anchors(i, items, ratings, cited)
                    for t in top:
                        cited[int(items[t])] = cited.get(int(items[t]), 0) + 1
                shares.append(bool((rec._genre_hot[items[top]] & rec._genre_hot[i]).any()))
                cited_list += [int(items[t]) for t in top]
            distinct.append(len(set(cited_list)))
        result[name] = {"explained": len(shares), "share_sharing_a_genre": round(float(np.mean(shares)), 3),
                        "distinct_cited_per_list": round(float(np.mean(distinct)), 2)}  # fmt: skip
    Path(args.out).write_text(json.dumps({"users": args.users, **result}, indent=2) + "\n")
    print(f"{'rule':<10} {'explained':>9} {'share a genre':>14} {'distinct cited / 10':>20}")
    for name, r in result.items():
        print(f"{name:<10} {r['explained']:>9} {r['share_sharing_a_genre']:>14.3f} {r['distinct_cited_per_list']:>20.2f}")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
