"""Validation of raw CSVs: every bad-input case gives a clear error, or is skipped and counted."""

import json

import numpy as np
import pandas as pd
import pytest

from movierec.data.prepare import PrepareConfig, prepare
from movierec.errors import DataValidationError
from tests.conftest import ratings_csv, write_raw

GOOD = [(1, 1, 4.0, 1000), (1, 2, 3.5, 1001), (1, 5, 5.0, 1002), (1, 3, 2.0, 1003), (1, 4, 0.5, 1004),
        (2, 1, 3.0, 2000), (2, 2, 4.5, 2001), (2, 3, 1.0, 2002)]  # fmt: skip


def run(tmp_path, ratings: str, policy="error", **kw):
    raw = write_raw(tmp_path / "raw", ratings, **kw)
    return prepare(raw, tmp_path / "out", PrepareConfig(bad_rows=policy, val_fraction=0.0))


def test_good_data_with_crlf_quoted_commas_and_utf8(tmp_path):
    crlf = ratings_csv(GOOD).replace("\n", "\r\n")
    stats = run(tmp_path, crlf)
    assert (stats["n_ratings"], stats["n_users"], stats["n_movies"], stats["n_movies_catalog"]) == (8, 2, 5, 5)
    assert stats["split"] == {"train": 6, "test": 2}
    assert stats["avg_rating"] == pytest.approx(np.mean([r[2] for r in GOOD]))
    assert stats["sparsity"] == pytest.approx(1 - 8 / 10)
    movies = pd.read_parquet(tmp_path / "out" / "movies.parquet")
    assert movies.loc[1, "title"] == "American President, The (1995)"
    assert movies.loc[2, "title"].startswith("Amélie")
    assert movies.loc[3, "genres"] == "(no genres listed)"
    train = pd.read_parquet(tmp_path / "out" / "train.parquet")
    test = pd.read_parquet(tmp_path / "out" / "test.parquet")
    assert list(train.columns) == ["user_idx", "movie_idx", "userId", "movieId", "rating", "timestamp"]
    assert test.groupby("userId").size().to_dict() == {1: 1, 2: 1}
    both = pd.concat([train, test])
    assert not both.duplicated(["userId", "movieId"]).any() and len(both) == 8


def test_index_maps_are_contiguous_and_consistent(tmp_path):
    rows = [(10, 5, 4.0, 1), (10, 1, 3.0, 2), (99, 5, 2.0, 3), (99, 3, 2.5, 4)]
    run(tmp_path, ratings_csv(rows))
    out = tmp_path / "out"
    users = pd.read_parquet(out / "user_index.parquet")
    movies = pd.read_parquet(out / "movie_index.parquet")
    assert users.to_dict("list") == {"userId": [10, 99], "user_idx": [0, 1]}
    assert movies["movie_idx"].tolist() == [0, 1, 2, 3, 4] and movies["movieId"].tolist() == [1, 2, 3, 4, 5]
    allr = pd.concat([pd.read_parquet(out / "train.parquet"), pd.read_parquet(out / "test.parquet")])
    assert (users.set_index("userId").loc[allr["userId"], "user_idx"].to_numpy() == allr["user_idx"]).all()
    assert (movies.set_index("movieId").loc[allr["movieId"], "movie_idx"].to_numpy() == allr["movie_idx"]).all()


def test_missing_header_is_an_error_naming_file_and_line(tmp_path):
    text = ratings_csv(GOOD).split("\n", 1)[1]  # drop the header line
    with pytest.raises(DataValidationError, match=r"ratings.csv: line 1: header is missing"):
        run(tmp_path, text)


def test_header_missing_a_column(tmp_path):
    with pytest.raises(DataValidationError, match="missing: timestamp"):
        run(tmp_path, ratings_csv([r[:3] for r in GOOD], header="userId,movieId,rating"))


def test_corrupt_timestamp_names_file_line_and_count(tmp_path):
    rows = GOOD[:2] + [(1, 5, 5.0, "yesterday")] + GOOD[3:6] + [(2, 2, 4.5, "noon")] + GOOD[7:]
    with pytest.raises(DataValidationError) as e:
        run(tmp_path, ratings_csv(rows))
    msg = str(e.value)
    assert "ratings.csv: 2 bad row(s)" in msg
    assert "timestamp is not an integer (line 4, 8)" in msg
    assert "bad_rows: skip" in msg  # says what to do


def test_corrupt_rows_skipped_and_counted(tmp_path):
    rows = GOOD[:2] + [(1, 5, 5.0, "yesterday")] + GOOD[3:]
    stats = run(tmp_path, ratings_csv(rows), policy="skip")
    assert stats["n_ratings"] == 7
    assert stats["rows_skipped"] == {"total": 1, "by_reason": {"ratings.csv: timestamp is not an integer": 1}}


def test_wrong_field_count_reports_physical_line(tmp_path):
    text = ratings_csv(GOOD).replace("1,5,5.0,1002\n", "1,5,5.0\n")
    with pytest.raises(DataValidationError, match=r"wrong number of fields \(expected 4\) \(line 4\)"):
        run(tmp_path, text)
    stats = run(tmp_path, text, policy="skip")
    assert stats["n_ratings"] == 7 and stats["rows_skipped"]["total"] == 1


def test_unknown_movie_id(tmp_path):
    with pytest.raises(DataValidationError, match=r"movieId is not in movies.csv \(line 10\)"):
        run(tmp_path, ratings_csv(GOOD + [(2, 777, 4.0, 1)]))
    stats = run(tmp_path, ratings_csv(GOOD + [(2, 777, 4.0, 1)]), policy="skip")
    assert stats["rows_skipped"]["by_reason"] == {"ratings.csv: movieId is not in movies.csv": 1}


@pytest.mark.parametrize(
    "row, reason",
    [
        ((2, 5, 5.5, 1), "rating is not between 0.5 and 5.0 in steps of 0.5"),
        ((2, 5, 3.7, 1), "rating is not between 0.5 and 5.0 in steps of 0.5"),
        ((2, 5, 0.0, 1), "rating is not between 0.5 and 5.0 in steps of 0.5"),
        ((-2, 5, 3.0, 1), "userId is not a positive 32-bit integer"),
        ((2, 5, 3.0, -5), "timestamp is not a time between 1970 and now"),
        ((2, 5, 3.0, 99999999999), "timestamp is not a time between 1970 and now"),
        ((2, 5, "", 1), "rating is empty"),
        ((2.5, 5, 3.0, 1), "userId is not an integer"),
    ],
)
def test_each_bad_value_is_named(tmp_path, row, reason):
    with pytest.raises(DataValidationError, match=reason):
        run(tmp_path, ratings_csv(GOOD + [row]))
    assert run(tmp_path, ratings_csv(GOOD + [row]), policy="skip")["rows_skipped"]["total"] == 1


def test_duplicates_error_or_keep_latest(tmp_path):
    rows = GOOD + [(1, 1, 1.0, 5000)]  # user 1 rates movie 1 again, later
    with pytest.raises(DataValidationError, match="duplicate"):
        run(tmp_path, ratings_csv(rows))
    stats = run(tmp_path, ratings_csv(rows), policy="skip")
    assert stats["n_ratings"] == 8
    out = tmp_path / "out"
    allr = pd.concat([pd.read_parquet(out / "train.parquet"), pd.read_parquet(out / "test.parquet")])
    assert allr.query("userId == 1 and movieId == 1")["rating"].tolist() == [1.0]


def test_blank_lines_are_not_data(tmp_path):
    text = ratings_csv(GOOD).replace("1,5,5.0,1002\n", "1,5,5.0,1002\n\n")
    assert run(tmp_path, text)["n_ratings"] == 8


def test_bad_movies_file(tmp_path):
    movies = "movieId,title,genres\n1,Toy Story (1995),Comedy\n1,Again (1999),Drama\n2,,Drama\nx,Oops,Drama\n"
    with pytest.raises(DataValidationError) as e:
        run(tmp_path, ratings_csv([(1, 1, 4.0, 1)]), movies=movies)
    msg = str(e.value)
    assert msg.startswith("movies.csv: 3 bad row(s)")
    assert "duplicate movieId (line 3)" in msg and "title is empty (line 4)" in msg
    assert "movieId is not an integer (line 5)" in msg


def test_nothing_left_is_an_error(tmp_path):
    with pytest.raises(DataValidationError, match="no valid ratings"):
        run(tmp_path, ratings_csv([(1, 777, 4.0, 1)]), policy="skip")


def test_policy_must_be_known(tmp_path):
    with pytest.raises(ValueError, match="error' or 'skip"):
        run(tmp_path, ratings_csv(GOOD), policy="ignore")


def test_tags_on_held_out_pairs_are_dropped(tmp_path):
    tags = "userId,movieId,tag,timestamp\n" + "".join(f"{u},{m},t{u}{m},1\n" for u, m, _, _ in GOOD)
    stats = run(tmp_path, ratings_csv(GOOD), tags=tags)
    out = tmp_path / "out"
    test = pd.read_parquet(out / "test.parquet")
    kept = pd.read_parquet(out / "tags.parquet")
    held = set(zip(test["userId"], test["movieId"]))
    assert stats["tags_dropped_holdout"] == 2 and stats["n_tags"] == 6
    assert not held & set(zip(kept["userId"], kept["movieId"]))


def test_same_seed_same_split(tmp_path):
    rows = [(u, m, 3.0, u * 10 + m) for u in range(1, 5) for m in range(1, 6)]
    raw = write_raw(tmp_path / "raw", ratings_csv(rows))
    a = prepare(raw, tmp_path / "a", PrepareConfig(seed=3))
    b = prepare(raw, tmp_path / "b", PrepareConfig(seed=3))
    assert json.dumps(a, sort_keys=True) == json.dumps(b, sort_keys=True)
    for name in ["train", "val", "test"]:
        pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / "a" / f"{name}.parquet"), pd.read_parquet(tmp_path / "b" / f"{name}.parquet"))  # noqa: E501


def test_a_failed_run_leaves_the_previous_output(tmp_path):
    run(tmp_path, ratings_csv(GOOD))
    before = {p.name: p.read_bytes() for p in (tmp_path / "out").iterdir()}
    bad_tags = "userId,movieId,tag,timestamp\n1,1,fun,1\n1,2,dark,noon\n"
    with pytest.raises(DataValidationError, match="tags.csv"):
        # other ratings, and a bad tag: the tags are read after the ratings' tables are written
        run(tmp_path, ratings_csv(GOOD[:-1]), tags=bad_tags)
    assert {p.name: p.read_bytes() for p in (tmp_path / "out").iterdir()} == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out", "raw"]  # no half-built folder beside it
