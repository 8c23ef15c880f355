"""Load what the model, its training and its evaluation read from the prepared data and features."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from movierec.evaluation.protocol import relevant_movies
from movierec.models.config import TwoTowerConfig
from movierec.utils import make_config
from movierec.models.two_tower import TwoTower, movie_content
from movierec.training.data import RatingLists


@dataclass
class PipelineData:
    n_users: int
    n_movies: int
    train: RatingLists  # training ratings: what the model learns from
    known: RatingLists  # training + validation ratings: the input and the exclusions at test time
    val_relevant: dict[int, np.ndarray]
    test_relevant: dict[int, np.ndarray]
    movie_features: pd.DataFrame
    genome: np.ndarray | None
    n_tags: int


def load_pipeline_data(prepared: str | Path, features: str | Path, relevance_threshold: float) -> PipelineData:
    prepared, features = Path(prepared), Path(features)
    n_users = len(pd.read_parquet(prepared / "user_index.parquet"))
    mf = pd.read_parquet(features / "movie_features.parquet")
    train = pd.read_parquet(prepared / "train.parquet")
    val_path = prepared / "val.parquet"
    val = pd.read_parquet(val_path) if val_path.is_file() else train.iloc[:0]
    test = pd.read_parquet(prepared / "test.parquet")
    tag_vocab = features / "tag_vocab.parquet"
    genome_path = features / "genome.npy"
    return PipelineData(
        n_users=n_users,
        n_movies=len(mf),
        train=RatingLists.from_frame(train, n_users),
        known=RatingLists.from_frame(pd.concat([train, val], ignore_index=True), n_users),
        val_relevant=relevant_movies(val, relevance_threshold),
        test_relevant=relevant_movies(test, relevance_threshold),
        movie_features=mf,
        genome=np.load(genome_path) if genome_path.is_file() else None,  # float16, as the model keeps it
        n_tags=len(pd.read_parquet(tag_vocab)) if tag_vocab.is_file() else 0,
    )


def build_model(data: PipelineData, model_params: dict) -> TwoTower:
    """A fresh model sized for ``data`` from the ``model`` section of params.yaml."""
    mf = data.movie_features
    tags_per_movie = int(mf["tag_ids"].map(len).max()) if data.n_tags and "tag_ids" in mf else 0
    cfg = make_config(
        TwoTowerConfig,
        "model",
        model_params,
        n_users=data.n_users,
        n_movies=data.n_movies,
        n_genres=sum(c.startswith("genre_") for c in mf.columns),
        n_tags=data.n_tags if tags_per_movie else 0,
        tags_per_movie=tags_per_movie,
        n_genome=0 if data.genome is None else data.genome.shape[1],
    )
    return TwoTower(cfg, movie_content(mf, cfg, data.genome))
