"""Benchmark: which "similar movies" ranking, chosen on validation.

    python bench/bench_similar.py            # needs `dvc repro train` (the checkpoint and the prepared data)

Each candidate ranks, for every movie, the 10 most similar others. similar_hit@10 (movierec.evaluation.similar)
asks, for each pair of a movie a user liked before the hold-out and one they liked in it, whether the second is
among the first's 10; mean over pairs per user, then over users. Validation: lists from the training ratings,
pairs to the validation split. Test: lists from training + validation ratings, pairs to the test split.

A hit rate alone rewards popular movies: the same top-10 list for every movie scores well. So a candidate must
name movie-specific lists to be chosen: the share of the catalogue that appears in some movie's list
(`distinct`) at least ItemKNN's. Among those, the best validation similar_hit@10 is served.
Prints a table and writes bench/results/similar.json.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import torch

from movierec.evaluation.similar import (
    itemknn_similarity,
    liked,
    neighbour_lists,
    popularity_similarity,
    similar_hit_rate,
    vector_similarity,
)
from movierec.models.two_tower import load_checkpoint, taste_part
from movierec.training.inputs import load_pipeline_data
from movierec.utils import load_params

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "bench" / "results" / "similar.json"


def one_rating_scores(model, n: int):
    """The model's full score (taste and popularity-discounted bias) for a visitor whose one rating is 5 stars
    for the movie: "people who loved this also love"."""
    with torch.no_grad():
        users = model.user_vectors(torch.arange(n).unsqueeze(1), torch.full((n, 1), 5.0),
                                   torch.ones(n, 1, dtype=torch.bool), torch.full((n,), -1)).numpy()  # fmt: skip
        movies = model.movie_vectors().numpy()
    return lambda rows: users[rows] @ movies.T


def candidates(model, ratings, n: int) -> dict:
    with torch.no_grad():
        taste = taste_part(model.movie_vectors().numpy(), model.cfg)
        history = model.history_table().numpy()[:-1]
    cos, knn = vector_similarity(taste, cosine=True), itemknn_similarity(ratings, n)
    return {
        "taste dot product (the index's, served before)": (vector_similarity(taste, cosine=False), True),
        "taste cosine": (cos, True),
        "history-table cosine (user tower's input side)": (vector_similarity(history, cosine=True), True),
        "one 5-star rating, full score": (one_rating_scores(model, n), True),
        "taste cosine + ItemKNN cosine": (lambda rows: cos(rows) + knn(rows), False),  # needs co-occurrence served
        "ItemKNN cosine (baseline)": (knn, False),
        "popularity (reference)": (popularity_similarity(ratings, n), False),
    }


def main() -> None:
    params = load_params(ROOT / "params.yaml")
    threshold = float(params["evaluate"]["relevance_threshold"])
    data = load_pipeline_data(ROOT / "data" / "prepared", ROOT / "data" / "features", threshold)
    model, _ = load_checkpoint(ROOT / "models" / "two_tower.pt")
    n = data.n_movies
    titles = data.movie_features["title"].tolist()
    rows = {}
    for split, ratings, relevant in (("val", data.train, data.val_relevant), ("test", data.known, data.test_relevant)):
        before = liked(ratings, threshold)
        for name, (similarity, vectors_only) in candidates(model, ratings, n).items():
            t0 = time.perf_counter()
            nb = neighbour_lists(similarity, n, 10)
            row = rows.setdefault(name, {"model_vectors_only": vectors_only})
            row[f"{split}_similar_hit@10"] = similar_hit_rate(nb, before, relevant)
            row[f"{split}_distinct"] = len(np.unique(nb)) / n
            row[f"{split}_seconds"] = time.perf_counter() - t0
            if split == "test":
                for query in ("Toy Story (1995)", "Amelie (Fabuleux destin d'Amélie Poulain, Le) (2001)"):
                    if query in titles:
                        q = titles.index(query)
                        row.setdefault("examples", {})[query] = [titles[j] for j in nb[q, :5]]
                if "Toy Story (1995)" in titles and "Toy Story 2 (1999)" in titles:
                    q, t = titles.index("Toy Story (1995)"), titles.index("Toy Story 2 (1999)")
                    scores = np.asarray(similarity(np.array([q])), np.float32)[0].copy()
                    scores[q] = -np.inf
                    row["toy_story_2_rank"] = int((scores > scores[t]).sum()) + 1
    floor = rows["ItemKNN cosine (baseline)"]["val_distinct"]
    eligible = {k: r for k, r in rows.items() if r["model_vectors_only"] and r["val_distinct"] >= floor}
    choice = max(eligible, key=lambda k: eligible[k]["val_similar_hit@10"])
    print(f"| ranking | val similar_hit@10 | val distinct | test similar_hit@10 | test distinct | Toy Story 2's rank |")
    print("|---|---|---|---|---|---|")
    for name, r in rows.items():
        mark = " (chosen)" if name == choice else ""
        print(f"| {name}{mark} | {r['val_similar_hit@10']:.4f} | {r['val_distinct']:.3f} | "
              f"{r['test_similar_hit@10']:.4f} | {r['test_distinct']:.3f} | {r.get('toy_story_2_rank', '-')} |")  # fmt: skip
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps({"chosen": choice, "distinct_floor": floor, "rankings": rows}, indent=2,
                              ensure_ascii=False) + "\n")  # fmt: skip
    print(f"chosen on validation: {choice}; wrote {OUT}")


if __name__ == "__main__":
    main()
