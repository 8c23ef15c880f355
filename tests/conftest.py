"""Shared fixtures: tiny hand-made MovieLens folders whose answers are known."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
MOVIES_CSV = (
    "movieId,title,genres\r\n"
    "1,Toy Story (1995),Adventure|Animation|Children|Comedy|Fantasy\r\n"
    '2,"American President, The (1995)",Comedy|Drama|Romance\r\n'
    "3,Amélie (Fabuleux destin d'Amélie Poulain  Le) (2001),Comedy|Romance\r\n"
    "4,Babylon 5,(no genres listed)\r\n"
    "5,Heat (1995),Action|Crime|Thriller\r\n"
)


def write_raw(folder: Path, ratings: str, movies: str = MOVIES_CSV, tags: str | None = None) -> Path:
    """Write a raw dataset folder from CSV text (bytes as given: CRLF and UTF-8 kept)."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "ratings.csv").write_bytes(ratings.encode("utf-8"))
    (folder / "movies.csv").write_bytes(movies.encode("utf-8"))
    if tags is not None:
        (folder / "tags.csv").write_bytes(tags.encode("utf-8"))
    return folder


def ratings_csv(rows: list[tuple], header: str = "userId,movieId,rating,timestamp") -> str:
    return header + "\n" + "".join(",".join(str(x) for x in r) + "\n" for r in rows)


@pytest.fixture
def mirror() -> Path:
    """The shared local MovieLens mirror (``MOVIELENS_MIRROR``, else ``../shared/data/movielens``)."""
    path = Path(os.environ.get("MOVIELENS_MIRROR") or REPO.parent / "shared" / "data" / "movielens")
    if not (path / "ml-latest-small.zip").is_file():
        pytest.fail(f"no MovieLens mirror at {path}: set MOVIELENS_MIRROR to a folder holding ml-latest-small.zip "
                    f"and its .md5 (or run `make test-fast`, which leaves out the tests that need one)")  # fmt: skip
    return path


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path_factory, monkeypatch):
    """Each test downloads into its own archive cache, never the user's."""
    monkeypatch.setenv("MOVIEREC_CACHE", str(tmp_path_factory.mktemp("cache")))
