"""Old MovieLens layouts become the ml-25m schema."""

import zipfile

import pandas as pd
import pytest

from movierec.data.normalize import normalize
from movierec.errors import DownloadError


def test_ml1m_dat_latin1_double_colon(tmp_path):
    path = tmp_path / "ml-1m.zip"
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("ml-1m/ratings.dat", "1::1193::5::978300760\r\n1::661::3::978302109\r\n")
        z.writestr("ml-1m/movies.dat", "1193::One Flew Over the Cuckoo's Nest (1975)::Drama\n"
                   "661::James and the Giant Peach (1996)::Animation|Children's|Musical\n"
                   "3::Misérables, Les (1995)::Drama|Musical\n".encode("latin-1"))  # fmt: skip
        z.writestr("ml-1m/README", "licence")
    files = normalize(path, tmp_path / "out")
    assert files == ["ratings.csv", "movies.csv", "README.txt"]
    r = pd.read_csv(tmp_path / "out" / "ratings.csv")
    assert r.to_dict("list") == {"userId": [1, 1], "movieId": [1193, 661], "rating": [5, 3],
                                 "timestamp": [978300760, 978302109]}  # fmt: skip
    m = pd.read_csv(tmp_path / "out" / "movies.csv", encoding="utf-8")
    assert m.loc[1, "genres"] == "Animation|Children|Musical"
    assert m.loc[2, "title"] == "Misérables, Les (1995)"


def test_ml10m_tags_dat(tmp_path):
    src = tmp_path / "ml-10m"
    src.mkdir()
    (src / "ratings.dat").write_text("1::1::4.5::10\n")
    (src / "movies.dat").write_text("1::Toy Story (1995)::Comedy\n")
    (src / "tags.dat").write_text("15::1::pixar, animation::1138537770\n")
    normalize(src, tmp_path / "out")
    t = pd.read_csv(tmp_path / "out" / "tags.csv")
    assert t.loc[0, "tag"] == "pixar, animation" and t.loc[0, "timestamp"] == 1138537770


def test_ml100k_tabs_and_genre_flags(tmp_path):
    src = tmp_path / "ml-100k"
    src.mkdir()
    (src / "u.data").write_text("196\t242\t3\t881250949\n186\t302\t3\t891717742\n")
    flags = lambda on: "|".join("1" if i in on else "0" for i in range(19))  # noqa: E731
    (src / "u.item").write_bytes(
        (f"242|Kolya (1996)|24-Jan-1997||http://x|{flags({5})}\n"
         f"302|L.A. Confidential (1997)|01-Jan-1997||http://y|{flags({6, 10, 13, 16})}\n"
         f"267|unknown||||{flags({0})}\n").encode("latin-1")  # fmt: skip
    )
    normalize(src, tmp_path / "out")
    r = pd.read_csv(tmp_path / "out" / "ratings.csv")
    assert list(r.columns) == ["userId", "movieId", "rating", "timestamp"] and len(r) == 2
    m = pd.read_csv(tmp_path / "out" / "movies.csv")
    assert m["genres"].tolist() == ["Comedy", "Crime|Film-Noir|Mystery|Thriller", "(no genres listed)"]


def test_ml100k_uses_u_genre_when_present(tmp_path):
    src = tmp_path / "ml-100k"
    src.mkdir()
    (src / "u.data").write_text("1\t1\t3\t1\n")
    (src / "u.genre").write_text("Comedy|1\nunknown|0\n\n")
    (src / "u.item").write_text("1|Toy Story (1995)||||0|1\n")
    normalize(src, tmp_path / "out")
    assert pd.read_csv(tmp_path / "out" / "movies.csv").loc[0, "genres"] == "Comedy"


def test_not_a_movielens_layout(tmp_path):
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "data.csv").write_text("a,b\n")
    with pytest.raises(DownloadError, match="not in a MovieLens layout"):
        normalize(tmp_path / "src", tmp_path / "out")
    with pytest.raises(DownloadError, match="does not exist"):
        normalize(tmp_path / "missing", tmp_path / "out")
    (tmp_path / "file.txt").write_text("x")
    with pytest.raises(DownloadError, match="neither a folder nor a zip"):
        normalize(tmp_path / "file.txt", tmp_path / "out")
