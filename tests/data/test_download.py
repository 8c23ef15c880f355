"""The downloader against a real HTTP server on loopback serving a mirror folder."""

import hashlib
import http.server
import threading
import zipfile
from functools import partial
from pathlib import Path

import pytest

from movierec.data import download
from movierec.data.acquire import acquire
from movierec.data.download import fetch_archive, parse_md5_file
from movierec.errors import DownloadError
from tests.conftest import MOVIES_CSV, ratings_csv

ARCHIVE = "ml-latest-small.zip"


def make_mirror(folder: Path, md5: str | None = None) -> bytes:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / ARCHIVE
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("ml-latest-small/ratings.csv", ratings_csv([(1, 1, 4.0, 10), (1, 2, 3.0, 11), (2, 1, 5.0, 12)]))
        z.writestr("ml-latest-small/movies.csv", MOVIES_CSV)
        z.writestr("ml-latest-small/README.txt", "licence text")
    data = path.read_bytes()
    digest = md5 or hashlib.md5(data).hexdigest()
    (folder / (ARCHIVE + ".md5")).write_text(f"MD5 ({ARCHIVE}) = {digest}\n")
    return data


class Handler(http.server.SimpleHTTPRequestHandler):
    """Serves the mirror folder; ``mode`` bends the archive transfer: ``truncate`` or ``flaky``."""

    mode = "ok"
    archive_requests = 0

    def log_message(self, *args):
        pass

    def do_GET(self):
        if self.path.endswith(".zip"):
            type(self).archive_requests += 1
            if self.mode == "flaky" and type(self).archive_requests == 1:
                self.send_error(503, "try again")
                return
            if self.mode in ("truncate", "truncate-always"):
                if self.mode == "truncate-always" or type(self).archive_requests == 1:
                    body = (Path(self.directory) / ARCHIVE).read_bytes()
                    self.send_response(200)
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body[: len(body) // 2])
                    self.close_connection = True
                    return
        super().do_GET()


@pytest.fixture
def serve(tmp_path, monkeypatch):
    servers = []

    def start(folder: Path, mode: str = "ok") -> str:
        handler = type("H", (Handler,), {"mode": mode, "archive_requests": 0})
        srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), partial(handler, directory=str(folder)))
        threading.Thread(target=srv.serve_forever, daemon=True).start()
        servers.append((srv, handler))
        url = f"http://127.0.0.1:{srv.server_address[1]}/"
        monkeypatch.setenv("MOVIELENS_MIRROR", url)
        return handler

    yield start
    for srv, _ in servers:
        srv.shutdown()


def test_good_archive_over_http_then_from_cache(tmp_path, serve):
    data = make_mirror(tmp_path / "mirror")
    handler = serve(tmp_path / "mirror")
    path = fetch_archive("ml-latest-small")
    assert path.read_bytes() == data
    assert fetch_archive("ml-latest-small") == path  # verified cache: no second transfer
    assert handler.archive_requests == 1
    assert not list(path.parent.glob("*.part"))


def test_wrong_checksum_keeps_nothing(tmp_path, serve):
    make_mirror(tmp_path / "mirror", md5="0" * 32)
    serve(tmp_path / "mirror")
    with pytest.raises(DownloadError, match="checksum mismatch"):
        fetch_archive("ml-latest-small")
    assert list(download.cache_dir().glob("*")) == []


def test_truncated_transfer_is_retried_once(tmp_path, serve):
    data = make_mirror(tmp_path / "mirror")
    handler = serve(tmp_path / "mirror", mode="truncate")
    assert fetch_archive("ml-latest-small").read_bytes() == data
    assert handler.archive_requests == 2


def test_truncated_twice_fails_and_leaves_no_partial_file(tmp_path, serve):
    make_mirror(tmp_path / "mirror")
    handler = serve(tmp_path / "mirror", mode="truncate-always")
    with pytest.raises(DownloadError, match="cut short"):
        fetch_archive("ml-latest-small")
    assert handler.archive_requests == 2
    assert list(download.cache_dir().glob("*")) == []


def test_server_error_retried_once(tmp_path, serve):
    make_mirror(tmp_path / "mirror")
    handler = serve(tmp_path / "mirror", mode="flaky")
    fetch_archive("ml-latest-small")
    assert handler.archive_requests == 2


def test_missing_archive(tmp_path, serve):
    make_mirror(tmp_path / "mirror")
    (tmp_path / "mirror" / ARCHIVE).unlink()
    serve(tmp_path / "mirror")
    with pytest.raises(DownloadError, match="does not exist"):
        fetch_archive("ml-latest-small")


def test_missing_checksum_file(tmp_path, serve):
    make_mirror(tmp_path / "mirror")
    (tmp_path / "mirror" / (ARCHIVE + ".md5")).unlink()
    serve(tmp_path / "mirror")
    with pytest.raises(DownloadError, match="no checksum"):
        fetch_archive("ml-latest-small")


def test_pinned_checksum_used_for_benchmark_sets(tmp_path, monkeypatch):
    folder = tmp_path / "mirror"
    folder.mkdir()
    (folder / "ml-100k.zip").write_bytes(b"not the real archive")
    monkeypatch.setenv("MOVIELENS_MIRROR", str(folder))
    with pytest.raises(DownloadError, match="expected 0e33842e24a9c977be4e0107933c0723"):
        fetch_archive("ml-100k")


def test_local_folder_mirror_and_acquire(tmp_path, monkeypatch):
    make_mirror(tmp_path / "mirror")
    monkeypatch.setenv("MOVIELENS_MIRROR", str(tmp_path / "mirror"))
    source = acquire("ml-latest-small", tmp_path / "raw")
    assert sorted(p.name for p in (tmp_path / "raw").iterdir()) == ["README.txt", "movies.csv", "ratings.csv", "source.json"]  # noqa: E501
    assert source["dataset"] == "ml-latest-small" and source["archive"] == ARCHIVE
    assert "mirror" not in (tmp_path / "raw" / "source.json").read_text()  # same bytes from any mirror


def test_offline_without_mirror_names_three_ways_forward(monkeypatch):
    monkeypatch.delenv("MOVIELENS_MIRROR", raising=False)
    monkeypatch.setattr(download, "GROUPLENS_URL", "http://127.0.0.1:9/")  # discard port: refused at once
    with pytest.raises(DownloadError) as e:
        fetch_archive("ml-latest-small")
    msg = str(e.value)
    assert "export MOVIELENS_MIRROR=" in msg
    assert "dvc exp run -S data.dataset=local -S data.local_path=" in msg
    assert "dvc exp run -S data.dataset=synthetic" in msg


def test_bad_mirror_and_unknown_dataset(tmp_path, monkeypatch):
    monkeypatch.setenv("MOVIELENS_MIRROR", str(tmp_path / "nowhere"))
    with pytest.raises(DownloadError, match="neither an http"):
        fetch_archive("ml-latest-small")
    with pytest.raises(DownloadError, match="unknown dataset"):
        fetch_archive("ml-2m")
    with pytest.raises(DownloadError, match="unknown data.dataset"):
        acquire("ml-2m", tmp_path / "raw")
    with pytest.raises(DownloadError, match="local_path is empty"):
        acquire("local", tmp_path / "raw")
    assert not (tmp_path / "raw").exists() and not (tmp_path / "raw.building").exists()


def test_md5_file_forms():
    assert parse_md5_file("MD5 (a.zip) = D96548C7DF8822A03A15E9E765CCB3BC") == "d96548c7df8822a03a15e9e765ccb3bc"
    assert parse_md5_file("d96548c7df8822a03a15e9e765ccb3bc  a.zip\n") == "d96548c7df8822a03a15e9e765ccb3bc"
    with pytest.raises(DownloadError):
        parse_md5_file("<html>not found</html>")


def test_acquire_local_zip_and_synthetic(tmp_path):
    make_mirror(tmp_path / "copy")
    src = acquire("local", tmp_path / "raw", local_path=str(tmp_path / "copy" / ARCHIVE))
    assert src["dataset"] == "local" and len(src["md5"]) == 32
    assert (tmp_path / "raw" / "ratings.csv").is_file()
    syn = acquire("synthetic", tmp_path / "raw", synthetic={"n_users": 30, "n_movies": 60, "n_ratings": 700}, seed=4)
    assert syn["n_ratings"] == 700 and syn["config"]["seed"] == 4
    assert not (tmp_path / "raw" / "README.txt").read_text().startswith("licence")  # the old folder was replaced
