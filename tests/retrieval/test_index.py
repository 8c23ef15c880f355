"""The movie index: Qdrant Edge in-process, and the Qdrant server backend through qdrant-client.

No Qdrant server can run on the test machines, so the server backend is tested against
``QdrantClient(":memory:")``, which speaks the same client API (collections, aliases, payload indexes,
filters) as a server; only the transport differs."""

import numpy as np
import pytest
from qdrant_client import QdrantClient

from movierec.errors import MovieRecError
from movierec.retrieval import index as ix
from movierec.retrieval.index import (
    ClientMovieIndex, EdgeMovieIndex, Filters, brute_force_top_k, build_client_index, build_edge_index, open_index,
)  # fmt: skip

GENRES = ["Action", "Drama", "Comedy", "Romance"]


def _data(n=600, dim=16, seed=0):
    rng = np.random.default_rng(seed)
    vectors = rng.normal(size=(n, dim)).astype(np.float32)
    ids = np.arange(1, n + 1) * 10  # movie ids are not row numbers
    payloads = []
    for i in range(n):
        p = {"movie_id": int(ids[i]), "title": f"Movie {i}", "genres": [GENRES[i % 4], GENRES[(i // 4) % 4]],
             "popularity": int(rng.integers(1, 100))}  # fmt: skip
        if i % 10:  # every tenth movie has no known year
            p["year"] = 1950 + i % 70
        payloads.append(p)
    return vectors, ids, payloads, rng


@pytest.mark.parametrize("similarity", ["dot", "cosine"])
def test_edge_top_k_equals_brute_force(tmp_path, similarity):
    vectors, ids, payloads, rng = _data()
    stats = build_edge_index(tmp_path / "q", vectors, payloads, similarity, batch_size=128)
    assert stats["points"] == 600 and stats["indexed_vectors"] == 600  # the HNSW graph is built
    index = EdgeMovieIndex(tmp_path / "q")
    assert index.count() == 600
    for _ in range(25):
        query = rng.normal(size=16).astype(np.float32)
        got = [h.movie_id for h in index.search(query, 10)]
        assert got == brute_force_top_k(vectors, ids, query, 10, similarity)
    index.close()


def _check_filters(index, vectors, ids, payloads, rng):
    query = rng.normal(size=16).astype(np.float32)
    by_id = {p["movie_id"]: p for p in payloads}
    got = index.search(query, 20, Filters(genres=("Romance",)))
    assert len(got) == 20 and all("Romance" in by_id[h.movie_id]["genres"] for h in got)
    got = index.search(query, 20, Filters(year_min=1990, year_max=1999))
    assert len(got) == 20 and all(1990 <= by_id[h.movie_id].get("year", 0) <= 1999 for h in got)
    top = [h.movie_id for h in index.search(query, 5)]
    got = [h.movie_id for h in index.search(query, 5, Filters(exclude=frozenset(top[:3])))]
    assert not set(top[:3]) & set(got) and got[:2] == top[3:]
    assert Filters().empty and not Filters(genres=("Drama",)).empty


def test_edge_filters(tmp_path):
    vectors, ids, payloads, rng = _data()
    build_edge_index(tmp_path / "q", vectors, payloads, "dot")
    index = EdgeMovieIndex(tmp_path / "q")
    _check_filters(index, vectors, ids, payloads, rng)
    index.close()


def test_exclusion_asks_for_fewer_first_and_for_all_when_they_crowd_the_top():
    from types import SimpleNamespace

    points = [SimpleNamespace(id=i, score=100.0 - i) for i in range(1, 101)]  # best first
    asked = []

    def query(n):
        asked.append(n)
        return points[:n]

    def top(k, drop):
        asked.clear()
        return [h.movie_id for h in ix._overfetch(query, k, k + len(drop), frozenset(drop))]

    assert top(5, range(50, 90)) == [1, 2, 3, 4, 5] and asked == [25]  # k + half the 40 excluded held the top 5
    assert top(5, range(1, 21)) == [21, 22, 23, 24, 25] and asked == [15, 25]  # the excluded crowd the top: ask again
    assert top(5, ()) == [1, 2, 3, 4, 5] and asked == [5]
    few = points[:8]
    asked.clear()
    got = ix._overfetch(lambda n: asked.append(n) or few[:n], 5, 25, frozenset(range(1, 21)))
    assert got == [] and asked == [15]  # fewer points than asked for: nothing more to find


def test_edge_exclusion_equals_brute_force_over_the_rest(tmp_path):
    vectors, ids, payloads, rng = _data()
    build_edge_index(tmp_path / "q", vectors, payloads, "dot")
    index = EdgeMovieIndex(tmp_path / "q")
    for crowded in (True, False):
        query = rng.normal(size=16).astype(np.float32)
        ranked = brute_force_top_k(vectors, ids, query, 600, "dot")
        # the best 30 excluded (the first ask comes back short) or 30 from further down (it does not)
        drop = set(ranked[:30]) if crowded else set(ranked[200:230])
        got = [h.movie_id for h in index.search(query, 10, Filters(exclude=frozenset(drop)))]
        assert got == [m for m in ranked if m not in drop][:10]
    index.close()


def test_edge_rebuild_swaps_in_one_step_and_a_failed_build_changes_nothing(tmp_path):
    vectors, ids, payloads, rng = _data()
    root = tmp_path / "q"
    build_edge_index(root, vectors, payloads, "dot")
    first = (root / ix.CURRENT).read_text().strip()
    build_edge_index(root, -vectors, payloads, "dot")
    second = (root / ix.CURRENT).read_text().strip()
    assert second != first and [p.name for p in root.glob("shard-*")] == [second]
    query = rng.normal(size=16).astype(np.float32)
    index = EdgeMovieIndex(root)
    assert [h.movie_id for h in index.search(query, 5)] == brute_force_top_k(-vectors, ids, query, 5, "dot")
    index.close()
    bad = [dict(p) for p in payloads]
    bad[300]["movie_id"] = "not-an-id"
    with pytest.raises(ValueError):
        build_edge_index(root, vectors, bad, "dot")
    assert (root / ix.CURRENT).read_text().strip() == second  # readers still get the complete index
    index = EdgeMovieIndex(root)
    assert index.count() == 600
    index.close()


def test_several_processes_can_search_one_index(tmp_path):
    """Each server worker is a process that opens the same shard."""
    import subprocess
    import sys

    vectors, ids, payloads, rng = _data()
    build_edge_index(tmp_path / "q", vectors, payloads, "dot")
    mine = EdgeMovieIndex(tmp_path / "q")
    code = ("import sys; from movierec.retrieval.index import EdgeMovieIndex; "
            "print(EdgeMovieIndex(sys.argv[1]).count())")  # fmt: skip
    other = subprocess.run([sys.executable, "-c", code, str(tmp_path / "q")], capture_output=True, text=True, timeout=60)
    assert other.returncode == 0, other.stderr
    assert other.stdout.strip() == "600" and mine.count() == 600
    mine.close()


def test_missing_index_says_what_to_run(tmp_path):
    with pytest.raises(MovieRecError, match="dvc repro index"):
        EdgeMovieIndex(tmp_path)
    with pytest.raises(MovieRecError, match="unknown similarity"):
        ix.distance_name("euclid")


@pytest.mark.filterwarnings("ignore:.*(Payload indexes|Local mode):UserWarning")
def test_server_backend_top_k_filters_and_alias_swap():
    vectors, ids, payloads, rng = _data(n=300)
    client = QdrantClient(":memory:")
    stats = build_client_index(client, vectors, payloads, "cosine", batch_size=100)
    assert stats["points"] == 300
    index = ClientMovieIndex(client)
    for _ in range(10):
        query = rng.normal(size=16).astype(np.float32)
        assert [h.movie_id for h in index.search(query, 10)] == brute_force_top_k(vectors, ids, query, 10, "cosine")
    _check_filters(index, vectors, ids, payloads, rng)
    first = stats["collection"]
    again = build_client_index(client, vectors[::-1].copy(), payloads[::-1], "cosine")
    names = [c.name for c in client.get_collections().collections]
    assert again["collection"] in names and first not in names  # the alias moved, the old collection is gone
    assert index.count() == 300


@pytest.mark.filterwarnings("ignore:Failed to obtain server version:UserWarning")
def test_qdrant_url_selects_the_server_backend(tmp_path, monkeypatch):
    monkeypatch.setenv("QDRANT_URL", "http://127.0.0.1:6333")
    index = open_index(tmp_path)
    assert isinstance(index, ClientMovieIndex) and index.alias == ix.ALIAS
    index.close()
    monkeypatch.setenv("QDRANT_API_KEY", "secret")  # the index stage uploads through the same client
    assert ix.server_client().init_options["api_key"] == "secret"
    monkeypatch.delenv("QDRANT_URL")
    with pytest.raises(MovieRecError):
        open_index(tmp_path)  # the Edge backend, which finds no index here


def test_a_small_catalogue_is_scanned_exactly_and_a_graph_is_walked_when_asked(tmp_path, monkeypatch):
    """Under ``full_scan_kb`` of vectors Qdrant scans exactly, however small the candidate list; with
    ``full_scan_kb=1`` every search walks the HNSW graph: approximate with a short candidate list, and
    close to exact with the served one (``SEARCH_EF``). Random 64-d vectors: a hard case for a graph."""
    vectors, ids, payloads, rng = _data(n=3000, dim=64)
    queries = rng.normal(size=(200, 64)).astype(np.float32)
    exact = build_edge_index(tmp_path / "scan", vectors, payloads, "dot")
    graph = build_edge_index(tmp_path / "graph", vectors, payloads, "dot", full_scan_kb=1)
    assert exact["exact"] and not graph["exact"] and graph["indexed_vectors"] == 3000
    scan_index, graph_index = EdgeMovieIndex(tmp_path / "scan"), EdgeMovieIndex(tmp_path / "graph")
    assert ix.recall_at_k(graph_index, vectors, ids, queries, 10, "dot") >= 0.98
    monkeypatch.setattr(ix, "SEARCH_EF", 10)
    assert ix.recall_at_k(scan_index, vectors, ids, queries, 10, "dot") == 1.0
    assert ix.recall_at_k(graph_index, vectors, ids, queries, 10, "dot") < 0.9
