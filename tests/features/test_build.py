"""Features come from the training split only: changing held-out ratings changes no feature."""

import pandas as pd

from movierec.data.prepare import PrepareConfig, prepare
from movierec.data.synthetic import SyntheticConfig, generate
from movierec.features.build import FeatureConfig, build_features


def _frames(folder):
    return {p.name: pd.read_parquet(p) for p in sorted(folder.glob("*.parquet"))}


def test_no_test_leakage(tmp_path):
    generate(SyntheticConfig(n_users=80, n_movies=120, n_ratings=4_000, seed=2), tmp_path / "raw")
    prepare(tmp_path / "raw", tmp_path / "prep", PrepareConfig(seed=2))
    summary = build_features(tmp_path / "prep", tmp_path / "feat", FeatureConfig())
    assert summary["n_interactions"] == len(pd.read_parquet(tmp_path / "prep" / "train.parquet"))
    before = _frames(tmp_path / "feat")

    # scramble every held-out rating and timestamp: features must not move
    for name in ["test.parquet", "val.parquet"]:
        path = tmp_path / "prep" / name
        held = pd.read_parquet(path)
        held["rating"] = 5.5 - held["rating"]
        held["timestamp"] = held["timestamp"] + 10**8
        held.to_parquet(path)
    build_features(tmp_path / "prep", tmp_path / "feat2", FeatureConfig())
    after = _frames(tmp_path / "feat2")
    assert before.keys() == after.keys() and "tag_vocab.parquet" in before
    for name in before:
        pd.testing.assert_frame_equal(before[name], after[name])

    # while a changed training rating does move them
    train_path = tmp_path / "prep" / "train.parquet"
    train = pd.read_parquet(train_path)
    train.loc[0, "rating"] = 5.5 - train.loc[0, "rating"]
    train.to_parquet(train_path)
    build_features(tmp_path / "prep", tmp_path / "feat3", FeatureConfig())
    changed = _frames(tmp_path / "feat3")
    assert not changed["user_features.parquet"].equals(before["user_features.parquet"])


def test_genome_features_when_present(tmp_path):
    raw = tmp_path / "raw"
    generate(SyntheticConfig(n_users=30, n_movies=50, n_ratings=700, seed=1), raw)
    movies = pd.read_csv(raw / "movies.csv")
    (raw / "genome-tags.csv").write_text("tagId,tag\n1,dark\n2,funny\n")
    rows = [f"{m},{t},{(m % 7) / 7:.3f}" for m in movies["movieId"][:10] for t in (1, 2)]
    (raw / "genome-scores.csv").write_text("movieId,tagId,relevance\n" + "\n".join(rows) + "\n")
    stats = prepare(raw, tmp_path / "prep", PrepareConfig())
    assert stats["n_genome_tags"] == 2
    summary = build_features(tmp_path / "prep", tmp_path / "feat", FeatureConfig())
    assert summary["movies_with_genome"] == sum(1 for m in movies["movieId"][:10] if m % 7)
    import numpy as np

    assert np.load(tmp_path / "feat" / "genome.npy").shape == (50, 2)
