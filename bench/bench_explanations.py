"""Benchmark: are the movies an explanation cites the ones its recommendation rests on?

    python bench/bench_explanations.py        # after dvc repro (reads models/, data/embeddings/, data/index/)

For 20 known users (a seeded draw among those with at least 20 ratings), their top 10 with explanations, as the
service answers them (200 explained recommendations). For each one that cites the user's ratings:

- the fall of the two-tower's score of the movie when its cited ratings are left out of the user vector
  together, against the fall when as many liked ratings drawn at random are left out (the mean over 20 draws);
- the stars of every cited rating (none may be below 3.5, nor below the user's own mean);
- how often one rating is cited within one list (at most twice).

Prints a table and writes bench/results/explanations.json: the ratio of the mean cited fall to the mean random
fall, the share of items whose cited fall is the larger, the lowest cited stars and what each reason was.
"""

from __future__ import annotations

import argparse
import json
from collections import Counter
from pathlib import Path

import numpy as np
import torch

HERE = Path(__file__).resolve().parent


def fall(rec, i: int, items: np.ndarray, ratings: np.ndarray, drop_sets: list[np.ndarray]) -> np.ndarray:
    """The two-tower's score of movie ``i`` with the whole profile, minus its score with each set of positions
    left out."""
    n = len(items)
    mask = np.ones((1 + len(drop_sets), n), bool)
    for row, drop in enumerate(drop_sets, 1):
        mask[row, drop] = False
    with torch.no_grad():
        u = rec.model.user_vectors(torch.as_tensor(np.broadcast_to(items, mask.shape).copy(), dtype=torch.long),
                                   torch.as_tensor(np.broadcast_to(ratings, mask.shape).copy(), dtype=torch.float32),
                                   torch.as_tensor(mask), table=rec._table).numpy()  # fmt: skip
    scores = u @ rec.movie_vectors[i] * (1.0 if rec._inv_norm is None else rec._inv_norm[i])
    return scores[0] - scores[1:]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--root", default=".", help="the project whose outputs to read")
    ap.add_argument("--users", type=int, default=20)
    ap.add_argument("--draws", type=int, default=20, help="random sets of liked ratings per explained item")
    ap.add_argument("--out", default=str(HERE / "results" / "explanations.json"))
    args = ap.parse_args()
    from movierec.explanations.context import CONTEXT
    from movierec.serving.recommender import Paths, Recommender

    rec = Recommender(Paths.under(args.root))
    counts = np.diff(rec.bundle.indptr)
    rng = np.random.default_rng(0)
    users = rng.choice(np.flatnonzero(counts >= 20), size=args.users, replace=False)
    by_id = {u: uid for uid, u in rec.user_idx.items()}
    cited_falls, random_falls, lowest, reasons, most_cited = [], [], [], Counter(), 0
    explained = 0
    for u in users:
        items, ratings = rec.bundle.history(int(u))
        title_pos = {rec._titles[m]: p for p, m in enumerate(items)}
        liked = rec.liked(ratings)
        answer = rec.for_user(by_id[int(u)], k=10, explain=True)
        per_list = Counter()
        for m in answer["items"]:
            ctx = m[CONTEXT]
            explained += 1
            reasons[ctx.reason] += 1
            if not ctx.anchors:
                continue
            cited = np.array([title_pos[a.title] for a in ctx.anchors])
            per_list.update(cited.tolist())
            lowest.append(min(float(ratings[c]) for c in cited))
            draws = [rng.choice(liked, size=len(cited), replace=False) for _ in range(args.draws)]
            f = fall(rec, rec.movie_idx[m["movie_id"]], items, ratings, [cited, *draws])
            cited_falls.append(float(f[0]))
            random_falls.append(float(f[1:].mean()))
        most_cited = max(most_cited, max(per_list.values(), default=0))
    c, r = np.array(cited_falls), np.array(random_falls)
    result = {
        "users": int(args.users),
        "explained": explained,
        "citing_ratings": len(c),
        "reasons": dict(reasons),
        "mean_cited_fall": round(float(c.mean()), 4),
        "mean_random_fall": round(float(r.mean()), 4),
        "ratio": round(float(c.mean() / r.mean()), 2),
        "share_cited_larger": round(float((c > r).mean()), 3),
        "lowest_cited_stars": min(lowest),
        "cited_below_3.5": int(sum(s < 3.5 for s in lowest)),
        "most_citations_of_one_rating_in_a_list": most_cited,
    }
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    print(f"{'explained':>9} {'citing':>7} {'cited fall':>11} {'random fall':>12} {'ratio':>6} {'cited larger':>13} "
          f"{'lowest stars':>13} {'max per list':>13}")  # fmt: skip
    print(f"{explained:>9} {len(c):>7} {result['mean_cited_fall']:>11.4f} {result['mean_random_fall']:>12.4f} "
          f"{result['ratio']:>6.2f} {result['share_cited_larger']:>13.3f} {result['lowest_cited_stars']:>13} "
          f"{most_cited:>13}")  # fmt: skip
    print("reasons:", dict(reasons))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
