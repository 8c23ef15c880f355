"""Benchmark: which "similar movies" ranking, chosen on validation.

    python bench/bench_similar.py            # needs `dvc repro rank` (the checkpoint, the item-to-item weights)

Each candidate ranks, for every movie, the 10 most similar others. similar_hit@10 (movierec.evaluation.similar)
asks, for each pair of a movie a user liked before the hold-out and one they liked in it, whether the second is
among the first's 10; mean over pairs per user, then over users. Validation: lists from the training ratings,
pairs to the validation split. Test: lists from training + validation ratings, pairs to the test split.

A hit rate alone is won by popularity (the same list for every movie), so the choice rests on similar_excess@10:
the hit rate minus its value with the users' held-out movies shuffled among users (what a list earns whatever its
movie). Beside it: the share of series films (films sharing a name) whose list holds another film of the series,
and where the sequels of three well-known films land. Prints a table and writes bench/results/similar.json.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch

from movierec.evaluation.similar import (
    blend_similarity,
    itemknn_similarity,
    liked,
    neighbour_lists,
    popularity_similarity,
    series_groups,
    series_share,
    similar_figures,
)
from movierec.models.embeddings import movie_vectors
from movierec.models.two_tower import load_checkpoint, taste_part
from movierec.ranking.ranker import load_two_stage
from movierec.training.inputs import load_pipeline_data
from movierec.utils import load_params

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "bench" / "results" / "similar.json"
CASES = {"Toy Story (1995)": ["Toy Story 2 (1999)", "Toy Story 3 (2010)"],
         "Matrix, The (1999)": ["Matrix Reloaded, The (2003)", "Matrix Revolutions, The (2003)"],
         "Lord of the Rings: The Fellowship of the Ring, The (2001)": [
             "Lord of the Rings: The Two Towers, The (2002)", "Lord of the Rings: The Return of the King, The (2003)"]}


def candidates(model, stage, ratings, n: int) -> dict:
    with torch.no_grad():
        taste = taste_part(model.movie_vectors().numpy(), model.cfg)
    out = {f"taste cosine + {w} x item-to-item": blend_similarity(taste, stage.itemitem, w)
           for w in [0.25, 0.5, 1.0, 2.0]}  # fmt: skip
    return {"taste cosine": blend_similarity(taste, stage.itemitem, 0.0), **out,
            "ItemKNN cosine (baseline)": itemknn_similarity(ratings, n),
            "popularity (reference)": popularity_similarity(ratings, n)}  # fmt: skip


def sequel_ranks(similarity, titles: list[str]) -> dict:
    """Where each case's sequels land in its list (1: first)."""
    out = {}
    for query, sequels in CASES.items():
        if query not in titles:
            continue
        q = titles.index(query)
        scores = np.asarray(similarity(np.array([q])), np.float32)[0].copy()
        scores[q] = -np.inf
        out[query] = {s: int((scores > scores[titles.index(s)]).sum()) + 1 for s in sequels if s in titles}
    return out


def main() -> None:
    params = load_params(ROOT / "params.yaml")
    threshold = float(params["evaluate"]["relevance_threshold"])
    data = load_pipeline_data(ROOT / "data" / "prepared", ROOT / "data" / "features", threshold)
    model, _ = load_checkpoint(ROOT / "models" / "two_tower.pt")
    stage = load_two_stage(ROOT / "models" / "ranker", movie_vectors(model))
    n = data.n_movies
    titles = data.movie_features["title"].astype(str).tolist()
    groups = series_groups(titles)
    rows = {}
    for split, ratings, relevant in (("val", data.train, data.val_relevant), ("test", data.known, data.test_relevant)):
        before = liked(ratings, threshold)
        for name, similarity in candidates(model, stage, ratings, n).items():
            nb = neighbour_lists(similarity, n, 10)
            row = rows.setdefault(name, {})
            row.update({f"{split}_{k}": v for k, v in similar_figures(nb, before, relevant).items()})
            if split == "test":
                row.update(series_share(nb, groups))
                row["sequel_ranks"] = sequel_ranks(similarity, titles)
    eligible = {k: r for k, r in rows.items() if "item-to-item" in k or k == "taste cosine"}
    choice = max(eligible, key=lambda k: eligible[k]["val_similar_excess@10"])
    print("| ranking | val excess@10 | val hit@10 | test excess@10 | test hit@10 | series any@10 | sequels (rank) |")
    print("|---|---|---|---|---|---|---|")
    for name, r in rows.items():
        mark = " (chosen)" if name == choice else ""
        seq = "; ".join(" ".join(str(x) for x in v.values()) for v in r["sequel_ranks"].values())
        print(f"| {name}{mark} | {r['val_similar_excess@10']:.4f} | {r['val_similar_hit@10']:.4f} | "
              f"{r['test_similar_excess@10']:.4f} | {r['test_similar_hit@10']:.4f} | {r['series_any@10']:.3f} | {seq} |")  # fmt: skip
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps({"chosen": choice, "series_movies": len({i for g in groups for i in g}),
                               "rankings": rows}, indent=2, ensure_ascii=False) + "\n")  # fmt: skip
    print(f"chosen on validation: {choice}; wrote {OUT}")


if __name__ == "__main__":
    main()
