"""The movie vector index: Qdrant Edge in-process by default, a Qdrant server when ``QDRANT_URL`` is set.

Both backends hold one point per movie (point id = MovieLens ``movieId``) with the payload ``movie_id``,
``title``, ``genres`` (keyword list), ``year`` (integer, absent when unknown) and ``popularity`` (training
ratings), keyword/integer payload indexes for the genre and year filters, and the distance the model was
trained with (``dot`` -> Dot, ``cosine`` -> Cosine).

Rebuilding never leaves a half index for a reader:

- Edge: each build writes a new shard folder ``shard-<n>`` beside the old one, builds its HNSW graph, and only
  then rewrites the one-line pointer file ``CURRENT`` (atomic rename); old shards are removed afterwards.
- Server: each build fills a new collection, then moves the alias that searches use onto it in one
  alias operation, then drops the old collection.
"""

from __future__ import annotations

import os
import shutil
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Protocol, Sequence

import numpy as np
from tqdm import tqdm

from movierec.errors import MovieRecError
from movierec.utils import atomic_path

CURRENT = "CURRENT"
ALIAS = "movierec_movies"
HNSW_M = 16
HNSW_EF_CONSTRUCT = 128
# Candidate list at query time (at least the limit). With ml-latest-small's trained vectors searched through
# the graph, recall@10 against exact search was 0.975 at 64, 0.985 at 128 and 0.990 at 256 (near-random
# vectors, as in the serving benchmark, gave 1.0 at each: they do not tell).
SEARCH_EF = 128
# a segment, or a filter's result, under this many KB of vectors is scanned exactly instead of walking the graph:
# ml-latest-small's 9,724 movies (5 MB) are, ml-25m's 62,423 (32 MB) are not
FULL_SCAN_KB = 10_000
OVERFETCH_MAX = 256  # exclude up to this many movies by asking for k + that many and dropping them here
OVERFETCH_FIRST = 0.5  # ask first for k + this share of them; again for all only when too many came back


@dataclass(frozen=True)
class Hit:
    movie_id: int
    score: float


@dataclass(frozen=True)
class Filters:
    """What a recommendation may contain: any of ``genres``, ``year_min <= year <= year_max``, and none of
    ``exclude`` (movie ids)."""

    genres: tuple[str, ...] = ()
    year_min: int | None = None
    year_max: int | None = None
    exclude: frozenset[int] = field(default_factory=frozenset)

    @property
    def empty(self) -> bool:
        return not self.genres and self.year_min is None and self.year_max is None and not self.exclude


def _plan(k: int, filters: Filters) -> tuple[int, Filters, frozenset[int]]:
    """How to ask the index: ``(limit, filters for the index, ids to drop from its answer)``.

    A short exclusion list (a typical user's rated movies) is cheaper and more exact as an over-fetch,
    ``k + len(exclude)`` nearest then the excluded dropped, than as a filter inside the graph walk; long
    lists go into the filter."""
    if filters.exclude and len(filters.exclude) <= OVERFETCH_MAX:
        return k + len(filters.exclude), Filters(filters.genres, filters.year_min, filters.year_max), filters.exclude
    return k, filters, frozenset()


def _overfetch(query: Callable[[int], Sequence], k: int, limit: int, drop: frozenset[int]) -> list[Hit]:
    """Top ``k`` of ``query(limit)`` with the ids in ``drop`` left out, asking for fewer first.

    A user's rated movies take only some of the places at the top of their list, and a shorter list is cheaper
    to fetch: so ask for ``k`` + half of them first, and for ``limit`` only when fewer than ``k`` remain. With
    both limits within the candidate list (``SEARCH_EF``) the graph walk is the same, so is the answer. On the
    62,423-movie benchmark index the first ask sufficed for 88% of 500 users, and a search took 0.140 ms
    instead of 0.163 ms."""
    first = k + int(len(drop) * OVERFETCH_FIRST)
    if first < limit:
        points = query(first)
        hits = _hits(points, drop, k)
        if len(hits) == k or len(points) < first:  # enough, or nothing more to find
            return hits
    return _hits(query(limit), drop, k)


def _hits(points, drop: frozenset[int], k: int) -> list[Hit]:
    """The first ``k`` scored points whose id is not in ``drop``, as hits (only those are converted)."""
    out = []
    for p in points:
        if p.id not in drop:
            out.append(Hit(int(p.id), float(p.score)))
            if len(out) == k:
                break
    return out


class MovieIndex(Protocol):
    def search(self, vector: Sequence[float], k: int, filters: Filters = Filters()) -> list[Hit]: ...

    def count(self) -> int: ...

    def close(self) -> None: ...


def distance_name(similarity: str) -> str:
    """The index distance for the model's similarity (``dot`` or ``cosine``)."""
    try:
        return {"dot": "Dot", "cosine": "Cosine"}[similarity]
    except KeyError:
        raise MovieRecError(f"unknown similarity {similarity!r}: expected 'dot' or 'cosine'") from None


def _batches(n: int, size: int, desc: str) -> Iterable[tuple[int, int]]:
    for start in tqdm(range(0, n, size), desc=desc, unit="batch", total=(n + size - 1) // size, leave=False,
                      disable=None):  # terminals only
        yield start, min(start + size, n)


# ----- Qdrant Edge (in-process) ---------------------------------------------------------------------------
def _edge_filter(q, f: Filters):
    must = []
    if f.genres:
        must.append(q.FieldCondition(key="genres", match=q.MatchAny(any=list(f.genres))))
    if f.year_min is not None or f.year_max is not None:
        must.append(q.FieldCondition(key="year", range=q.RangeFloat(gte=f.year_min, lte=f.year_max)))
    must_not = [q.HasIdCondition(point_ids=set(f.exclude))] if f.exclude else None
    return q.Filter(must=must or None, must_not=must_not) if (must or must_not) else None


def build_edge_index(
    root: str | Path,
    vectors: np.ndarray,
    payloads: list[dict],
    similarity: str,
    batch_size: int = 2048,
    full_scan_kb: int = FULL_SCAN_KB,
) -> dict:
    """Build a new shard under ``root`` and make it current; return build timings.

    ``vectors``: ``(n, dim)`` float32; ``payloads``: ``n`` dicts, each with an integer ``movie_id``;
    ``full_scan_kb``: see ``FULL_SCAN_KB`` (1: every search walks the HNSW graph).
    """
    import qdrant_edge as q

    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    n, dim = vectors.shape
    existing = [int(p.name.split("-")[1]) for p in root.glob("shard-*") if p.name.split("-")[1].isdigit()]
    shard_dir = root / f"shard-{max(existing, default=0) + 1}"
    config = q.EdgeConfig(
        vectors=q.EdgeVectorParams(size=dim, distance=getattr(q.Distance, distance_name(similarity))),
        hnsw_config=q.HnswIndexConfig(m=HNSW_M, ef_construct=HNSW_EF_CONSTRUCT, full_scan_threshold=full_scan_kb),
        # indexing_threshold 1 KB: the HNSW graph is built whatever the catalogue's size (Qdrant still scans
        # exactly where a filter leaves fewer candidates than full_scan_threshold)
        optimizers=q.EdgeOptimizersConfig(default_segment_number=1, indexing_threshold=1),
        max_search_threads=1,  # one segment: a query uses one thread; server workers then never compete
        # no write-ahead log: the shard is written once here and flushed; without one, any number of server
        # worker processes can open it at once (a WAL is locked by the first process that opens the shard)
        wal_enabled=False,
    )
    t0 = time.perf_counter()
    shard = q.EdgeShard.create(str(shard_dir), config)
    try:
        shard.update(q.UpdateOperation.create_field_index("genres", q.PayloadSchemaType.Keyword))
        shard.update(q.UpdateOperation.create_field_index("year", q.PayloadSchemaType.Integer))
        for s, e in _batches(n, batch_size, "upsert"):
            points = [q.Point(int(payloads[i]["movie_id"]), vectors[i].tolist(), payloads[i]) for i in range(s, e)]
            shard.update(q.UpdateOperation.upsert_points(points))
        t1 = time.perf_counter()
        shard.optimize()  # merges segments and builds the HNSW graph before anyone searches
        t2 = time.perf_counter()
        info = shard.info()
        shard.flush()
    finally:
        shard.close()
    with atomic_path(root / CURRENT) as tmp:
        tmp.write_text(shard_dir.name + "\n")
    for old in root.glob("shard-*"):
        if old.name != shard_dir.name:
            shutil.rmtree(old, ignore_errors=True)
    return {"points": info.points_count, "indexed_vectors": info.indexed_vectors_count,
            "upsert_s": round(t1 - t0, 3), "hnsw_build_s": round(t2 - t1, 3),
            "exact": vectors.nbytes / 1024 < full_scan_kb}  # fmt: skip


class EdgeMovieIndex:
    """Searches the current shard under ``root`` in this process (one search thread, set at build time)."""

    def __init__(self, root: str | Path):
        import qdrant_edge as q

        self._q = q
        root = Path(root)
        pointer = root / CURRENT
        if not pointer.exists():
            raise MovieRecError(f"no movie index in {root}: run `dvc repro index` to build it")
        self.path = root / pointer.read_text().strip()
        self._shard = q.EdgeShard.load(str(self.path))
        # Filtered searches (a user's rated movies excluded, genres, years) walk the graph with ACORN: plain
        # filtered HNSW lost its way when the filter removed a user's neighbourhood (62,423 movies: recall@10
        # 0.55 against exact search, some queries returned a single movie); with ACORN: 0.998.
        self._acorn = q.AcornSearchParams(enable=True, max_selectivity=1.0)

    def search(self, vector: Sequence[float], k: int, filters: Filters = Filters()) -> list[Hit]:
        q = self._q
        limit, filters, drop = _plan(k, filters)
        flt = _edge_filter(q, filters)
        acorn = None if flt is None else self._acorn
        query = q.Query.Nearest(np.asarray(vector, np.float32).tolist())

        def ask(n: int):  # the candidate list must hold every answer
            params = q.SearchParams(hnsw_ef=max(SEARCH_EF, n), acorn=acorn)
            return self._shard.query(q.QueryRequest(limit=n, query=query, filter=flt, params=params,
                                                    with_payload=False))  # fmt: skip

        return _overfetch(ask, k, limit, drop)

    def count(self) -> int:
        return int(self._shard.info().points_count)

    def close(self) -> None:
        self._shard.close()


# ----- Qdrant server, through qdrant-client -----------------------------------------------------------------
def _client_filter(models, f: Filters):
    must = []
    if f.genres:
        must.append(models.FieldCondition(key="genres", match=models.MatchAny(any=list(f.genres))))
    if f.year_min is not None or f.year_max is not None:
        must.append(models.FieldCondition(key="year", range=models.Range(gte=f.year_min, lte=f.year_max)))
    must_not = [models.HasIdCondition(has_id=sorted(f.exclude))] if f.exclude else None
    return models.Filter(must=must or None, must_not=must_not) if (must or must_not) else None


def build_client_index(client, vectors: np.ndarray, payloads: list[dict], similarity: str,
                       alias: str = ALIAS, batch_size: int = 2048) -> dict:  # fmt: skip
    """Fill a new collection, point ``alias`` at it, drop the collection it pointed at before."""
    from qdrant_client import models

    n, dim = vectors.shape
    old = [a.collection_name for a in client.get_aliases().aliases if a.alias_name == alias]
    name = f"{alias}_{time.strftime('%Y%m%d%H%M%S')}_{uuid.uuid4().hex[:8]}"
    t0 = time.perf_counter()
    client.create_collection(
        name,
        vectors_config=models.VectorParams(size=dim, distance=getattr(models.Distance, distance_name(similarity).upper())),
        hnsw_config=models.HnswConfigDiff(m=HNSW_M, ef_construct=HNSW_EF_CONSTRUCT),
    )  # fmt: skip
    client.create_payload_index(name, "genres", models.PayloadSchemaType.KEYWORD)
    client.create_payload_index(name, "year", models.PayloadSchemaType.INTEGER)
    for s, e in _batches(n, batch_size, "upload"):
        client.upsert(name, points=models.Batch(ids=[int(p["movie_id"]) for p in payloads[s:e]],
                                                vectors=vectors[s:e].tolist(), payloads=payloads[s:e]), wait=True)  # fmt: skip
    ops = [models.DeleteAliasOperation(delete_alias=models.DeleteAlias(alias_name=alias))] if old else []
    ops.append(models.CreateAliasOperation(create_alias=models.CreateAlias(collection_name=name, alias_name=alias)))
    client.update_collection_aliases(change_aliases_operations=ops)
    for c in old:
        client.delete_collection(c)
    return {"points": client.count(alias, exact=True).count, "collection": name,
            "upload_s": round(time.perf_counter() - t0, 3)}  # fmt: skip


class ClientMovieIndex:
    """Searches a Qdrant server (or any qdrant-client backend) through the alias the build maintains."""

    def __init__(self, client, alias: str = ALIAS):
        from qdrant_client import models

        self._models = models
        self.client = client
        self.alias = alias

    def search(self, vector: Sequence[float], k: int, filters: Filters = Filters()) -> list[Hit]:
        limit, filters, drop = _plan(k, filters)
        flt = _client_filter(self._models, filters)
        query = np.asarray(vector, np.float32).tolist()

        def ask(n: int):
            params = self._models.SearchParams(hnsw_ef=max(SEARCH_EF, n))
            return self.client.query_points(self.alias, query=query, limit=n, query_filter=flt, search_params=params,
                                            with_payload=False).points  # fmt: skip

        return _overfetch(ask, k, limit, drop)

    def count(self) -> int:
        return int(self.client.count(self.alias, exact=True).count)

    def close(self) -> None:
        self.client.close()


def qdrant_url() -> str | None:
    return os.environ.get("QDRANT_URL") or None


def server_client():
    """A client of the Qdrant server named by ``QDRANT_URL``, with ``QDRANT_API_KEY`` when set: one way to
    connect for the index stage (which uploads) and the service (which searches)."""
    from qdrant_client import QdrantClient

    return QdrantClient(url=qdrant_url(), api_key=os.environ.get("QDRANT_API_KEY") or None)


def open_index(root: str | Path) -> MovieIndex:
    """The server named by ``QDRANT_URL`` when set, else the Edge shard under ``root``."""
    if qdrant_url():
        return ClientMovieIndex(server_client())
    return EdgeMovieIndex(root)


def recall_at_k(index: MovieIndex, vectors: np.ndarray, ids: np.ndarray, queries: np.ndarray, k: int,
                similarity: str) -> float:
    """Share of exact search's top ``k`` (over ``vectors``) that ``index`` returns, over ``queries``."""
    hits = 0
    for q in queries:
        got = {h.movie_id for h in index.search(q, k)}
        hits += len(got & set(brute_force_top_k(vectors, ids, q, k, similarity)))
    return hits / max(len(queries) * k, 1)


def brute_force_top_k(vectors: np.ndarray, ids: np.ndarray, query: np.ndarray, k: int, similarity: str) -> list[int]:
    """Exact top-``k`` movie ids for ``query`` (``(dim,)``) by the index's distance; ties by id."""
    v = vectors
    if similarity == "cosine":
        v = v / np.maximum(np.linalg.norm(v, axis=1, keepdims=True), 1e-12)
    scores = v @ query
    order = np.lexsort((ids, -scores))[:k]
    return [int(i) for i in ids[order]]
