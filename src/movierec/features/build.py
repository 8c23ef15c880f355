"""Build every feature table from a prepared dataset folder. Only ``train.parquet`` supplies ratings:
validation and test ratings never reach a feature (``tests/features/test_build.py`` proves it)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from movierec.data.prepare import write_parquet
from movierec.features.interaction import interaction_features
from movierec.features.movie import genome_matrix, genre_matrix, genre_vocabulary, movie_features, tag_features
from movierec.features.user import user_features
from movierec.utils import atomic_dir, atomic_path


@dataclass(frozen=True)
class FeatureConfig:
    top_genres: int = 3  # genres listed per user
    tag_vocab_size: int = 1000  # most used tags kept
    tags_per_movie: int = 10  # tag ids kept per movie


def build_features(prepared: str | Path, out_dir: str | Path, cfg: FeatureConfig) -> dict:
    """Write ``user_features``, ``movie_features``, ``interactions`` (Parquet), ``genres.json``, and, when the
    data has them, ``tag_vocab.parquet`` and ``genome.npy`` + ``genome_tag_ids.npy``. Returns a summary. The
    folder is filled beside ``out_dir`` and swapped in whole: a failure leaves the previous one."""
    with atomic_dir(out_dir) as out:
        return _build(Path(prepared), out, cfg)


def _build(src: Path, out: Path, cfg: FeatureConfig) -> dict:
    train = pd.read_parquet(src / "train.parquet")
    movies = pd.read_parquet(src / "movies.parquet")
    users = pd.read_parquet(src / "user_index.parquet")

    vocab = genre_vocabulary(movies["genres"])
    multi_hot = genre_matrix(movies["genres"], vocab)
    mf = movie_features(movies, train, vocab)
    uf = user_features(users, train, multi_hot, vocab, cfg.top_genres)
    summary = {"n_genres": len(vocab), "n_users": len(uf), "n_movies": len(mf), "n_interactions": len(train)}

    if (src / "tags.parquet").is_file():
        tag_vocab, tag_ids = tag_features(pd.read_parquet(src / "tags.parquet"), len(mf), cfg.tag_vocab_size, cfg.tags_per_movie)  # noqa: E501
        mf["tag_ids"] = tag_ids
        write_parquet(tag_vocab, out / "tag_vocab.parquet")
        summary["n_tag_vocab"] = len(tag_vocab)
        summary["movies_with_tags"] = int(sum(1 for t in tag_ids if t))
    if (src / "genome_scores.parquet").is_file():
        mat, genome_ids = genome_matrix(pd.read_parquet(src / "genome_scores.parquet"), len(mf))
        for name, arr in (("genome.npy", mat), ("genome_tag_ids.npy", genome_ids)):
            with atomic_path(out / name) as tmp, open(tmp, "wb") as f:
                np.save(f, arr)
        mf["has_genome"] = mat.any(axis=1)
        summary["movies_with_genome"] = int(mf["has_genome"].sum())

    write_parquet(mf, out / "movie_features.parquet")
    write_parquet(uf, out / "user_features.parquet")
    write_parquet(interaction_features(train, uf), out / "interactions.parquet")
    with atomic_path(out / "genres.json") as tmp:
        tmp.write_text(json.dumps(vocab) + "\n")
    return summary
