"""Fetch a MovieLens archive from GroupLens or a mirror, verify it, and unpack it as ml-25m-style CSVs.

A *mirror* is any folder or http(s) base URL laid out like GroupLens's download folder
(``<base>/ml-latest-small.zip`` and, where GroupLens publishes one, ``<base>/ml-latest-small.zip.md5``).
It is chosen with the ``MOVIELENS_MIRROR`` environment variable; without it the archive comes from GroupLens.
Archives are cached (``MOVIEREC_CACHE``, default ``~/.cache/movierec``) so a rerun does not fetch them again.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import re
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from tqdm.auto import tqdm

from movierec.errors import DownloadError
from movierec.utils import atomic_path

GROUPLENS_URL = "https://files.grouplens.org/datasets/movielens/"
MIRROR_ENV = "MOVIELENS_MIRROR"
CACHE_ENV = "MOVIEREC_CACHE"
_CHUNK = 1 << 20


@dataclass(frozen=True)
class DatasetSpec:
    """One MovieLens release: its archive name and, for the benchmark sets, the pinned MD5."""

    name: str
    archive: str
    md5: str | None = None  # None: verify against the ``.md5`` file published beside the archive


DATASETS: dict[str, DatasetSpec] = {
    spec.name: spec
    for spec in [
        DatasetSpec("ml-25m", "ml-25m.zip", "6b51fb2759a8657d3bfcbfc42b592ada"),
        DatasetSpec("ml-20m", "ml-20m.zip"),
        DatasetSpec("ml-1m", "ml-1m.zip", "c4d9eecfca2ab87c1945afe126590906"),
        DatasetSpec("ml-100k", "ml-100k.zip", "0e33842e24a9c977be4e0107933c0723"),
        DatasetSpec("ml-latest", "ml-latest.zip"),
        DatasetSpec("ml-latest-small", "ml-latest-small.zip"),
    ]
}


def offline_help(dataset: str) -> str:
    """The three ways forward when GroupLens cannot be reached."""
    return (
        f"could not reach GroupLens to download {dataset}. Three ways forward:\n"
        f"  1. a mirror (a folder or http(s) URL laid out like GroupLens's, holding {dataset}.zip):\n"
        f"       export {MIRROR_ENV}=/path/to/movielens-mirror   # or https://host/movielens/\n"
        f"       dvc repro\n"
        f"  2. a local copy (a folder or zip in MovieLens CSV layout):\n"
        f"       dvc exp run -S data.dataset=local -S data.local_path=/path/to/{dataset}.zip\n"
        f"  3. synthetic MovieLens-shaped data, no download at all:\n"
        f"       dvc exp run -S data.dataset=synthetic"
    )


def md5_of(path: Path) -> str:
    h = hashlib.md5()
    with open(path, "rb") as f:
        while chunk := f.read(_CHUNK):
            h.update(chunk)
    return h.hexdigest()


def parse_md5_file(text: str) -> str:
    """Accept both ``MD5 (name) = hex`` (GroupLens) and ``hex  name`` (md5sum) forms."""
    m = re.search(r"\b([0-9a-fA-F]{32})\b", text)
    if not m:
        raise DownloadError(f"checksum file holds no MD5 digest: {text[:80]!r}")
    return m.group(1).lower()


def cache_dir() -> Path:
    return Path(os.environ.get(CACHE_ENV) or Path.home() / ".cache" / "movierec")


class _Source:
    """Where archives come from: a local folder or an http(s) base URL."""

    def __init__(self, base: str, is_mirror: bool):
        self.is_mirror = is_mirror
        if base.startswith("file://"):
            base = base[len("file://") :]
        self.is_http = base.startswith(("http://", "https://"))
        self.base = (base.rstrip("/") + "/") if self.is_http else base
        if not self.is_http and not Path(base).is_dir():
            raise DownloadError(f"{MIRROR_ENV}={base!r} is neither an http(s) URL nor an existing folder")

    def describe(self, name: str) -> str:
        return self.base + name if self.is_http else str(Path(self.base) / name)

    def read_text(self, name: str) -> str:
        if self.is_http:
            with urllib.request.urlopen(self._request(name), timeout=30) as resp:
                return resp.read().decode("utf-8", "replace")
        path = Path(self.base) / name
        if not path.is_file():
            raise FileNotFoundError(str(path))
        return path.read_text(encoding="utf-8", errors="replace")

    def fetch(self, name: str, dest: Path, expected_md5: str) -> None:
        """Copy ``name`` to ``dest`` atomically with a progress bar; check length and MD5 before commit."""
        h = hashlib.md5()
        with atomic_path(dest) as tmp, open(tmp, "wb") as out:
            if self.is_http:
                resp = urllib.request.urlopen(self._request(name), timeout=60)
                total = resp.headers.get("Content-Length")
                total = int(total) if total else None
            else:
                resp = open(Path(self.base) / name, "rb")
                total = os.fstat(resp.fileno()).st_size
            written = 0
            with resp, tqdm(total=total, unit="B", unit_scale=True, desc=name, leave=False, disable=None) as bar:
                try:
                    while chunk := resp.read(_CHUNK):
                        out.write(chunk)
                        h.update(chunk)
                        written += len(chunk)
                        bar.update(len(chunk))
                except http.client.IncompleteRead as e:
                    written += len(e.partial)
                    raise DownloadError(
                        f"transfer of {self.describe(name)} was cut short "
                        f"({written:,} of {total:,} bytes)" if total else f"transfer of {name} was cut short"
                    ) from e
            if total is not None and written != total:
                raise DownloadError(
                    f"transfer of {self.describe(name)} was cut short ({written:,} of {total:,} bytes)"
                )
            out.flush()
            digest = h.hexdigest()
            if digest != expected_md5:
                raise DownloadError(
                    f"checksum mismatch for {self.describe(name)}: got MD5 {digest}, expected {expected_md5}. "
                    "The file is corrupt or not the published archive; nothing was kept."
                )

    def _request(self, name: str) -> urllib.request.Request:
        return urllib.request.Request(self.base + name, headers={"User-Agent": "movierec"})


def resolve_source() -> _Source:
    mirror = os.environ.get(MIRROR_ENV, "").strip()
    if mirror:
        return _Source(mirror, is_mirror=True)
    return _Source(GROUPLENS_URL, is_mirror=False)


def _expected_md5(spec: DatasetSpec, source: _Source) -> str:
    if spec.md5:
        return spec.md5
    try:
        return parse_md5_file(source.read_text(spec.archive + ".md5"))
    except (FileNotFoundError, urllib.error.HTTPError) as e:
        raise DownloadError(
            f"no checksum for {spec.archive}: {source.describe(spec.archive + '.md5')} is missing, "
            "and an archive that cannot be verified is not used."
        ) from e


def fetch_archive(dataset: str, dest_dir: Path | None = None) -> Path:
    """Return the path of a verified archive for ``dataset``, downloading it if the cache lacks it.

    A cached archive is re-verified before use; a failed transfer is retried once; nothing partial is
    ever left at the returned path.
    """
    if dataset not in DATASETS:
        raise DownloadError(f"unknown dataset {dataset!r}; choose one of {', '.join(DATASETS)}")
    spec = DATASETS[dataset]
    source = resolve_source()
    dest_dir = Path(dest_dir) if dest_dir else cache_dir()
    dest = dest_dir / spec.archive
    try:
        expected = _expected_md5(spec, source)
    except urllib.error.URLError as e:
        raise _unreachable(dataset, source, e) from e
    if dest.is_file() and md5_of(dest) == expected:
        return dest
    last: Exception | None = None
    for attempt in (1, 2):
        try:
            source.fetch(spec.archive, dest, expected)
            return dest
        except urllib.error.HTTPError as e:
            if e.code == 404:
                raise DownloadError(f"{source.describe(spec.archive)} does not exist (HTTP 404)") from e
            last = e
        except FileNotFoundError as e:
            raise DownloadError(f"{source.describe(spec.archive)} does not exist in the mirror") from e
        except urllib.error.URLError as e:
            if not source.is_mirror:
                raise _unreachable(dataset, source, e) from e
            last = e
        except (DownloadError, OSError, http.client.HTTPException) as e:
            last = e
        if attempt == 1:
            print(f"download of {spec.archive} failed ({last}); retrying once")
    if isinstance(last, DownloadError):
        raise last
    raise DownloadError(f"download of {source.describe(spec.archive)} failed twice: {last}")


def _unreachable(dataset: str, source: _Source, err: Exception) -> DownloadError:
    if source.is_mirror:
        return DownloadError(f"mirror {source.base} cannot be reached: {err}")
    return DownloadError(offline_help(dataset) + f"\n(reason: {err})")


