"""Unpack a MovieLens release (zip or folder, any vintage) into the ml-25m CSV schema.

Output files, all UTF-8 with a header row:

- ``ratings.csv``: ``userId,movieId,rating,timestamp``
- ``movies.csv``: ``movieId,title,genres`` (genres ``|``-separated, ``(no genres listed)`` when none)
- optional, copied when present: ``tags.csv``, ``links.csv``, ``genome-scores.csv``, ``genome-tags.csv``,
  ``README.txt`` (the dataset's licence travels with it)

Old layouts are converted: ml-1m/ml-10m (``ratings.dat`` with ``::`` separators, latin-1) and ml-100k
(``u.data`` tab-separated, ``u.item`` pipe-separated, latin-1, genres as 19 flags).
"""

from __future__ import annotations

import csv
import io
import shutil
import zipfile
from pathlib import Path
from typing import IO, Callable

from movierec.errors import DownloadError
from movierec.utils import atomic_path

CSV_FILES = ["ratings.csv", "movies.csv", "tags.csv", "links.csv", "genome-scores.csv", "genome-tags.csv"]
NO_GENRES = "(no genres listed)"
# ml-100k's genre flags, in column order, when the archive lacks u.genre.
ML100K_GENRES = [
    "unknown", "Action", "Adventure", "Animation", "Children's", "Comedy", "Crime", "Documentary", "Drama",
    "Fantasy", "Film-Noir", "Horror", "Musical", "Mystery", "Romance", "Sci-Fi", "Thriller", "War", "Western",
]  # fmt: skip


def _genre_name(g: str) -> str:
    """Old releases spell one genre ``Children's``; ml-25m spells it ``Children``."""
    return "Children" if g == "Children's" else g


class _Reader:
    """Uniform access to the members of a zip archive or a folder, found by base name."""

    def __init__(self, src: Path):
        self.src = src
        if src.is_dir():
            self.zip = None
            self.members = {p.name: p for p in sorted(src.rglob("*")) if p.is_file()}
        elif zipfile.is_zipfile(src):
            self.zip = zipfile.ZipFile(src)
            self.members = {Path(n).name: n for n in self.zip.namelist() if not n.endswith("/")}
        else:
            raise DownloadError(f"{src} is neither a folder nor a zip archive")

    def has(self, name: str) -> bool:
        return name in self.members

    def open(self, name: str) -> IO[bytes]:
        m = self.members[name]
        return self.zip.open(m) if self.zip else open(m, "rb")


def normalize(src: str | Path, out_dir: str | Path) -> list[str]:
    """Write the ml-25m-schema CSVs for the release at ``src`` into ``out_dir``; return the file names."""
    src, out_dir = Path(src), Path(out_dir)
    if not src.exists():
        raise DownloadError(f"{src} does not exist")
    reader = _Reader(src)
    out_dir.mkdir(parents=True, exist_ok=True)
    written: list[str] = []
    if reader.has("ratings.csv") and reader.has("movies.csv"):
        for name in CSV_FILES + ["README.txt"]:
            if reader.has(name):
                _copy(reader, name, out_dir / name)
                written.append(name)
    elif reader.has("ratings.dat") and reader.has("movies.dat"):
        _write(out_dir / "ratings.csv", lambda f: _dat_ratings(reader, f))
        _write(out_dir / "movies.csv", lambda f: _dat_movies(reader, f))
        written += ["ratings.csv", "movies.csv"]
        if reader.has("tags.dat"):
            _write(out_dir / "tags.csv", lambda f: _dat_tags(reader, f))
            written.append("tags.csv")
    elif reader.has("u.data") and reader.has("u.item"):
        _write(out_dir / "ratings.csv", lambda f: _u_data(reader, f))
        _write(out_dir / "movies.csv", lambda f: _u_item(reader, f))
        written += ["ratings.csv", "movies.csv"]
    else:
        raise DownloadError(
            f"{src} is not in a MovieLens layout: expected ratings.csv + movies.csv, "
            "ratings.dat + movies.dat, or u.data + u.item"
        )
    if "README.txt" not in written and reader.has("README"):  # old releases name the licence file README
        _copy(reader, "README", out_dir / "README.txt")
        written.append("README.txt")
    return written


def _copy(reader: _Reader, name: str, dest: Path) -> None:
    with atomic_path(dest) as tmp, reader.open(name) as fin, open(tmp, "wb") as fout:
        shutil.copyfileobj(fin, fout, 1 << 20)


def _write(dest: Path, fill: Callable[[IO[str]], None]) -> None:
    with atomic_path(dest) as tmp, open(tmp, "w", encoding="utf-8", newline="") as f:
        fill(f)


def _lines(reader: _Reader, name: str) -> io.TextIOWrapper:
    return io.TextIOWrapper(reader.open(name), encoding="latin-1", newline="")


def _dat_ratings(reader: _Reader, out: IO[str]) -> None:
    out.write("userId,movieId,rating,timestamp\n")
    with _lines(reader, "ratings.dat") as f:
        for line in f:
            line = line.rstrip("\r\n")
            if line:
                out.write(line.replace("::", ",") + "\n")


def _dat_movies(reader: _Reader, out: IO[str]) -> None:
    w = csv.writer(out, lineterminator="\n")
    w.writerow(["movieId", "title", "genres"])
    with _lines(reader, "movies.dat") as f:
        for line in f:
            line = line.rstrip("\r\n")
            if not line:
                continue
            movie_id, title, genres = line.split("::", 2)
            names = [_genre_name(g) for g in genres.split("|") if g]
            w.writerow([movie_id, title, "|".join(names) or NO_GENRES])


def _dat_tags(reader: _Reader, out: IO[str]) -> None:
    w = csv.writer(out, lineterminator="\n")
    w.writerow(["userId", "movieId", "tag", "timestamp"])
    with _lines(reader, "tags.dat") as f:
        for line in f:
            line = line.rstrip("\r\n")
            if line:
                user, movie, rest = line.split("::", 2)
                tag, ts = rest.rsplit("::", 1)
                w.writerow([user, movie, tag, ts])


def _u_data(reader: _Reader, out: IO[str]) -> None:
    out.write("userId,movieId,rating,timestamp\n")
    with _lines(reader, "u.data") as f:
        for line in f:
            parts = line.split()
            if parts:
                out.write(",".join(parts) + "\n")


def _u_item(reader: _Reader, out: IO[str]) -> None:
    genres = ML100K_GENRES
    if reader.has("u.genre"):
        with _lines(reader, "u.genre") as f:
            pairs = [ln.strip().split("|") for ln in f if ln.strip()]
        genres = [name for name, _ in sorted(pairs, key=lambda p: int(p[1]))]
    w = csv.writer(out, lineterminator="\n")
    w.writerow(["movieId", "title", "genres"])
    with _lines(reader, "u.item") as f:
        for line in f:
            line = line.rstrip("\r\n")
            if not line:
                continue
            fields = line.split("|")
            flags = fields[-len(genres) :]
            names = [_genre_name(g) for g, flag in zip(genres, flags) if flag == "1" and g != "unknown"]
            w.writerow([fields[0], fields[1], "|".join(names) or NO_GENRES])
