"""Stage `index`: the Qdrant movie index and the serving bundle (catalog, known ratings, onboarding, demo profiles)."""

import argparse
import time
from pathlib import Path

import numpy as np
import pandas as pd

from movierec.cli import run_stage
from movierec.models.two_tower import load_checkpoint
from movierec.retrieval.index import EdgeMovieIndex, brute_force_top_k, build_edge_index, qdrant_url
from movierec.serving.bundle import catalog_table, movie_payloads, write_bundle
from movierec.utils import load_params, set_seed, write_json


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--prepared", required=True)
    ap.add_argument("--features", required=True)
    ap.add_argument("--embeddings", required=True)
    ap.add_argument("--model", required=True, help="checkpoint: the similarity the index must use")
    ap.add_argument("--out", required=True, help="folder for the index and the serving bundle")
    ap.add_argument("--metrics", required=True, help="index build and recall JSON")
    args = ap.parse_args()
    params = load_params()
    p = params["index"]
    rng = set_seed(params["seed"])
    model, _ = load_checkpoint(args.model)
    similarity = model.cfg.similarity
    prepared, emb, out = Path(args.prepared), Path(args.embeddings), Path(args.out)

    catalog = catalog_table(pd.read_parquet(Path(args.features) / "movie_features.parquet"))
    ratings = pd.concat([pd.read_parquet(prepared / f"{s}.parquet", columns=["user_idx", "movie_idx", "rating"])
                         for s in ("train", "val", "test") if (prepared / f"{s}.parquet").exists()])  # fmt: skip
    user_ids = pd.read_parquet(emb / "user_ids.parquet").sort_values("user_idx")["userId"].reset_index(drop=True)
    chosen = write_bundle(out, catalog, ratings, user_ids, p["onboarding_size"], p["demo_min_ratings"])

    movies = np.load(emb / "movie_vectors.npy")
    users = np.load(emb / "user_vectors.npy")
    build = build_edge_index(out / "qdrant", movies, movie_payloads(catalog), similarity, p["batch_size"])
    if qdrant_url():
        from qdrant_client import QdrantClient

        from movierec.retrieval.index import build_client_index

        build["server"] = build_client_index(QdrantClient(url=qdrant_url()), movies, movie_payloads(catalog), similarity)

    # recall of the approximate index against exact search, on sampled known users
    index = EdgeMovieIndex(out / "qdrant")
    ids = catalog["movieId"].to_numpy()
    sample = rng.choice(len(users), size=min(p["recall_sample"], len(users)), replace=False)
    k = 10
    hits, lat = 0, []
    for u in sample:
        t = time.perf_counter()
        got = [h.movie_id for h in index.search(users[u], k)]
        lat.append(time.perf_counter() - t)
        hits += len(set(got) & set(brute_force_top_k(movies, ids, users[u], k, similarity)))
    index.close()
    # metrics hold what a rerun reproduces; timings go to the log
    write_json(args.metrics, {"points": build["points"], "indexed_vectors": build["indexed_vectors"], "distance": similarity,
                              f"recall@{k}_vs_exact": round(hits / max(len(sample) * k, 1), 4),
                              "onboarding_movies": len(chosen["onboarding"]),
                              "demo_profiles": [pr["key"] for pr in chosen["profiles"]]})  # fmt: skip
    print(f"indexed {build['points']:,} movies ({similarity}); upsert {build['upsert_s']} s, HNSW {build['hnsw_build_s']} s, "
          f"query p50 {np.median(lat) * 1e3:.3f} ms; {len(chosen['profiles'])} demo profiles, "
          f"{len(chosen['onboarding'])} onboarding movies")


if __name__ == "__main__":
    run_stage(main)
