"""Stage `embed`: user and movie vectors with their ids, and a report to check them by eye."""

import argparse
from pathlib import Path

import numpy as np
import pandas as pd

from movierec.cli import run_stage
from movierec.data.prepare import write_parquet
from movierec.models.embeddings import WELL_KNOWN, movie_vectors, nearest_neighbours, plot_projection, user_vectors
from movierec.models.two_tower import load_checkpoint, taste_part
from movierec.training.inputs import load_pipeline_data
from movierec.utils import atomic_path, load_params, write_json


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--prepared", required=True)
    ap.add_argument("--features", required=True)
    ap.add_argument("--model", required=True)
    ap.add_argument("--out", required=True, help="folder for the vectors")
    ap.add_argument("--report", required=True, help="folder for the projection and neighbours")
    args = ap.parse_args()
    params = load_params()
    model, _ = load_checkpoint(args.model)
    data = load_pipeline_data(args.prepared, args.features, params["evaluate"]["relevance_threshold"])
    out, report = Path(args.out), Path(args.report)
    out.mkdir(parents=True, exist_ok=True)
    report.mkdir(parents=True, exist_ok=True)

    movies = movie_vectors(model)
    users = user_vectors(model, data.known)  # from training + validation ratings, as evaluated
    for name, arr in (("movie_vectors.npy", movies), ("user_vectors.npy", users)):
        with atomic_path(out / name) as tmp, open(tmp, "wb") as f:
            np.save(f, arr)
    mf = data.movie_features
    write_parquet(mf[["movie_idx", "movieId"]], out / "movie_ids.parquet")
    write_parquet(pd.read_parquet(Path(args.prepared) / "user_index.parquet")[["user_idx", "userId"]], out / "user_ids.parquet")  # noqa: E501
    taste = taste_part(movies, model.cfg)  # neighbours by taste, not by the popularity bias
    write_json(report / "neighbours.json", nearest_neighbours(taste, mf, WELL_KNOWN))
    plot_projection(taste, mf, report / "projection.png")
    print(f"{len(movies):,} movie and {len(users):,} user vectors of size {movies.shape[1]} in {out}")


if __name__ == "__main__":
    run_stage(main)
