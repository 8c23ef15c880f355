"""Stage `index`: the Qdrant movie index and the serving bundle (catalog, known ratings, onboarding, demo profiles)."""

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from movierec.cli import run_stage
from movierec.models.two_tower import load_checkpoint
from movierec.retrieval.index import EdgeMovieIndex, build_edge_index, qdrant_url, recall_at_k
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

    tag_vocab = Path(args.features) / "tag_vocab.parquet"
    catalog = catalog_table(pd.read_parquet(Path(args.features) / "movie_features.parquet"),
                            pd.read_parquet(tag_vocab) if tag_vocab.is_file() else None)  # fmt: skip
    columns = ["user_idx", "movie_idx", "rating", "timestamp"]
    ratings = pd.concat([pd.read_parquet(prepared / f"{s}.parquet", columns=columns)
                         for s in ("train", "val", "test") if (prepared / f"{s}.parquet").exists()])  # fmt: skip
    user_ids = pd.read_parquet(emb / "user_ids.parquet").sort_values("user_idx")["userId"].reset_index(drop=True)
    chosen = write_bundle(out, catalog, ratings, user_ids, p["onboarding_size"], p["demo_min_ratings"], p["trending_weeks"],
                          float(p["trending_blend"]))

    movies = np.load(emb / "movie_vectors.npy")
    users = np.load(emb / "user_vectors.npy")
    build = build_edge_index(out / "qdrant", movies, movie_payloads(catalog), similarity, p["batch_size"])
    if qdrant_url():
        from movierec.retrieval.index import build_client_index, server_client

        build["server"] = build_client_index(server_client(), movies, movie_payloads(catalog), similarity)

    # recall against exact search on sampled known users: as served, and through the HNSW graph (a catalogue
    # small enough to be scanned exactly is served exactly: then a throw-away graph-only index is measured)
    index = EdgeMovieIndex(out / "qdrant")
    ids = catalog["movieId"].to_numpy()
    queries = users[np.sort(rng.choice(len(users), size=min(p["recall_sample"], len(users)), replace=False))]
    k = 10
    t = time.perf_counter()
    served = recall_at_k(index, movies, ids, queries, k, similarity)
    per_query = (time.perf_counter() - t) / max(len(queries), 1)
    index.close()
    graph = served
    if build["exact"]:
        with tempfile.TemporaryDirectory(dir=out) as tmp:
            build_edge_index(tmp, movies, movie_payloads(catalog), similarity, p["batch_size"], full_scan_kb=1)
            graph_index = EdgeMovieIndex(tmp)
            graph = recall_at_k(graph_index, movies, ids, queries, k, similarity)
            graph_index.close()
    # metrics hold what a rerun reproduces; timings go to the log
    write_json(args.metrics, {"points": build["points"], "indexed_vectors": build["indexed_vectors"], "distance": similarity,
                              f"recall@{k}_vs_exact": round(served, 4), f"graph_recall@{k}_vs_exact": round(graph, 4),
                              "search": "exact scan" if build["exact"] else "HNSW graph",
                              "onboarding_movies": len(chosen["onboarding"]),
                              "demo_profiles": [pr["key"] for pr in chosen["profiles"]]})  # fmt: skip
    print(f"indexed {build['points']:,} movies ({similarity}); upsert {build['upsert_s']} s, HNSW {build['hnsw_build_s']} s, "
          f"{per_query * 1e3:.3f} ms per query and exact check; {len(chosen['profiles'])} demo profiles, "
          f"{len(chosen['onboarding'])} onboarding movies")


if __name__ == "__main__":
    run_stage(main)
