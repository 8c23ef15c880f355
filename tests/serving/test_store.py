"""Cache and sessions: the in-process store, and a real redis-server that goes away and comes back."""

import time

import pytest
import redis

from movierec.serving import store as store_module
from movierec.serving.store import (
    SESSION_KEYS_PREFIX, REMOVED, CreationLimit, MemoryKV, Session, SessionFull, SessionNotFound, SessionUnavailable, Store,
    TooManySessions,
)  # fmt: skip
from tests.serving.conftest import RedisServer, free_port


def test_memory_kv_expires_and_evicts_least_recent():
    kv = MemoryKV(max_items=2)
    kv.set("a", 1, ttl=60)
    kv.set("b", 2, ttl=60)
    assert kv.get("a") == 1  # a is now the most recent
    kv.set("c", 3, ttl=60)
    assert kv.get("b") is None and kv.get("a") == 1 and kv.get("c") == 3
    kv.set("short", 1, ttl=0.01)
    time.sleep(0.03)
    assert kv.get("short") is None
    kv.add_member("s", "x", 60)
    kv.add_member("s", "y", 60)
    assert kv.members("s") == {"x", "y"}


def test_cache_key_depends_on_version_endpoint_and_whole_request():
    k = Store.cache_key("v1", "recommend", {"user_id": 1, "k": 10})
    assert k == Store.cache_key("v1", "recommend", {"k": 10, "user_id": 1})  # key order does not matter
    assert k != Store.cache_key("v2", "recommend", {"user_id": 1, "k": 10})
    assert k != Store.cache_key("v1", "recommend", {"user_id": 1, "k": 11})
    assert k != Store.cache_key("v1", "demo", {"user_id": 1, "k": 10})


@pytest.fixture(params=["memory", "redis"])
def store(request):
    if request.param == "memory":
        yield Store(None, cache_ttl=60, session_ttl=60)
        return
    server = RedisServer(free_port())
    server.start()
    store = Store(server.url, cache_ttl=60, session_ttl=60)
    yield store
    store.close()
    server.stop()


def test_cache_and_session_invalidation(store):
    key = store.cache_key("v", "session", {"session_id": "s1"})
    other = store.cache_key("v", "recommend", {"user_id": 3})
    store.cache_set(key, b'{"items":[1,2]}', session_id="s1")
    store.cache_set(other, b'{"items":[3]}')
    assert store.cache_get(key) == b'{"items":[1,2]}'
    store.invalidate_session("s1")
    assert store.cache_get(key) is None and store.cache_get(other) == b'{"items":[3]}'
    store.invalidate_session("never-seen")  # harmless

    assert store.session_get("s1") is None
    with pytest.raises(SessionNotFound):
        store.session_rate("s1", {10: 4.5}, new=False, max_ratings=5)  # only a new session may start
    first = store.session_rate("s1", {10: 4.5, 20: 1.0}, new=True, max_ratings=5)
    assert first == store.session_get("s1") == Session({10: 4.5, 20: 1.0}, 1)
    store.cache_set(key, b'{"items":[1,2]}', session_id="s1")
    second = store.session_rate("s1", {20: 2.0, 30: 5.0}, new=False, max_ratings=5)  # 20 rated again: replaced
    assert second == Session({10: 4.5, 20: 2.0, 30: 5.0}, 2) and store.cache_get(key) is None
    with pytest.raises(SessionFull) as full:
        store.session_rate("s1", {40: 1.0, 50: 1.0, 60: 1.0}, new=False, max_ratings=5)
    assert full.value.args[0] == 6 and store.session_get("s1") == second  # nothing stored
    assert store.backend == ("memory" if store.redis is None else "redis")


def test_a_rating_taken_back_is_gone_and_frees_its_place(store):
    store.session_rate("u", {10: 4.5, 20: 1.0, 30: 3.0}, new=True, max_ratings=3)
    key = store.cache_key("v", "session", {"session_id": "u"})
    store.cache_set(key, b"{}", session_id="u")
    after = store.session_rate("u", {20: REMOVED, 99: REMOVED}, new=False, max_ratings=3)  # 99: never rated, no error
    assert after.ratings == {10: 4.5, 30: 3.0} and after.removed == {20, 99} and after.version == 2
    assert store.session_get("u") == after and store.cache_get(key) is None  # the answers made with it are dropped
    # a removed rating does not count against the most a session holds, and can be given again
    again = store.session_rate("u", {40: 2.0}, new=False, max_ratings=3)
    assert again.ratings == {10: 4.5, 30: 3.0, 40: 2.0}
    assert store.session_rate("u", {20: 5.0}, new=False, max_ratings=4).ratings[20] == 5.0
    with pytest.raises(SessionNotFound):
        store.session_rate("nobody", {1: REMOVED}, new=False, max_ratings=3)


def test_a_rating_taken_back_stays_gone_through_a_redis_restart():
    """Each worker keeps a copy of the sessions it serves and fills it back into a Redis that lost everything:
    the removal is filled back with the rest, whichever worker took it. (Copies fill in only what Redis lacks,
    first come first kept: a worker that last saw the session before the removal and fills first brings the
    rating back, as it would an older value of a rating changed since.)"""
    server = RedisServer(free_port())
    server.start()
    one, two = (Store(server.url, cache_ttl=60, session_ttl=60) for _ in range(2))
    for s in (one, two):
        s.redis.retry_after = 0.2
    one.session_rate("t", {1: 4.0, 2: 5.0}, new=True, max_ratings=10)
    assert two.session_get("t").ratings == {1: 4.0, 2: 5.0}  # two's copy holds movie 2
    assert two.session_rate("t", {2: REMOVED}, new=False, max_ratings=10).ratings == {1: 4.0}
    assert one.session_get("t").ratings == {1: 4.0}  # one's copy now holds the removal too
    server.stop()
    server.start()  # without persistence: empty
    assert _eventually(lambda: one.session_get("t") is not None and two.session_get("t") is not None)
    assert one.session_get("t").ratings == two.session_get("t").ratings == {1: 4.0}
    for s in (one, two):
        s.close()
    server.stop()


def test_concurrent_ratings_of_one_session_all_land(store):
    """Two /rate calls on one session at once used to read, merge and write back each on its own: one of
    the two ratings was lost now and then. The merge is one atomic step now."""
    import threading

    store.session_rate("race", {0: 3.0}, new=True, max_ratings=500)
    barrier = threading.Barrier(8)

    def rate(movie: int) -> None:
        barrier.wait()
        for j in range(25):
            store.session_rate("race", {movie * 100 + j: 4.0}, new=False, max_ratings=500)

    threads = [threading.Thread(target=rate, args=(m,)) for m in range(1, 9)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    session = store.session_get("race")
    assert len(session.ratings) == 1 + 8 * 25 and session.version == 1 + 8 * 25


def test_redis_outage_bypasses_the_cache_and_recovers():
    server = RedisServer(free_port())
    server.start()
    store = Store(server.url, cache_ttl=60, session_ttl=60)
    store.redis.retry_after = 0.2
    store.cache_set("k", b"1")
    store.session_rate("s", {1: 5.0}, new=True, max_ratings=10)
    server.stop()
    assert store.cache_get("k") is None  # a miss, not an exception
    assert store.backend == "redis-unavailable"
    store.cache_set("k2", b"2")  # dropped
    store.session_rate("s2", {2: 3.0}, new=True, max_ratings=10)  # kept in memory meanwhile
    assert store.session_get("s2").ratings == {2: 3.0}
    t = time.monotonic()
    for _ in range(100):  # while down, calls skip Redis instead of waiting on it
        store.cache_get("k")
    assert store.redis.failures >= 1 and time.monotonic() - t < 5
    assert _eventually(lambda: not store.listening.is_set())  # a miss is asked of Redis again until the directory is rebuilt
    server.start()
    time.sleep(0.25)
    store.cache_set("k3", b"3")
    assert store.cache_get("k3") == b"3" and store.backend == "redis"
    assert store.redis.failures == 0
    assert _eventually(store.listening.is_set)  # subscribed again: other workers' writes are heard
    other = Store(server.url, cache_ttl=60)
    key = Store.cache_key("v", "recommend", {"user_id": 7})
    other.cache_set(key, b"7")
    other.flush()
    assert _eventually(lambda: store.cache_get(key) == b"7")
    other.close()
    store.close()
    server.stop()


def _eventually(check, timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


def _gets(server) -> int:
    """GET commands the redis-server has run so far."""
    return server_client(server).info("commandstats").get("cmdstat_get", {}).get("calls", 0)


def server_client(server):
    import redis

    return redis.Redis(port=server.port)


def test_key_directory_expires_and_forgets_the_oldest():
    d = Store(None).known  # the same structure, with or without Redis
    d.max_items = 2
    d.set("a", True, ttl=60)
    d.set("b", True, ttl=60)
    d.set("c", True, ttl=60)
    assert d.get("a") is None and d.get("b") and d.get("c") and len(d._d) == 2
    d.set("short", True, ttl=0.01)
    time.sleep(0.03)
    assert d.get("short") is None
    d.delete("c")
    assert d.get("c") is None


def test_new_cache_entries_are_written_behind_and_announced_to_the_other_workers():
    server = RedisServer(free_port())
    server.start()
    worker, other = Store(server.url, cache_ttl=60), Store(server.url, cache_ttl=60)  # two server workers
    try:
        assert _eventually(lambda: worker.listening.is_set() and other.listening.is_set())
        a, c, d, e = (Store.cache_key("v", "recommend", {"user_id": u}) for u in (1, 3, 4, 5))
        worker.cache_set(a, b"1")
        assert other.cache_get(a) is None  # not written, nor announced yet
        assert worker.cache_get(a) == b"1"  # its own read carries the write first
        assert _eventually(lambda: other.cache_get(a) == b"1")  # heard of it: read from Redis
        worker.cache_set(c, b"3")  # no read follows: the background flush writes and announces it
        assert _eventually(lambda: other.cache_get(c) == b"3") and worker.redis.client.ttl(c) > 0
        burst = [Store.cache_key("v", "recommend", {"user_id": 100 + i}) for i in range(store_module.MAX_PENDING + 1)]
        for key in burst:  # a burst is written at once, not held
            worker.cache_set(key, b"x")
        assert worker._pending == [] and worker.redis.client.get(burst[0]) == b"x"
        worker.cache_set(d, b"4", session_id="s")  # a session's entries are written at once
        assert worker.redis.client.get(d) == b"4"
        assert worker.redis.client.smembers(SESSION_KEYS_PREFIX + "s") == {d.encode()}
        assert _eventually(lambda: other.cache_get(d) == b"4")
        worker.cache_set(e, b"5")
        worker.close()  # what waits is written on close
        assert worker.redis.client.get(e) == b"5"
        ok, replies = worker.redis.batch([("SET", "n", b"1"), ("INCRBY", "n", "x"), ("GET", "n")])
        assert ok and replies[0] == b"OK" and "not an integer" in str(replies[1]) and replies[2] == b"1"
    finally:
        worker.close()
        other.close()
        server.stop()


def test_a_key_nobody_wrote_is_a_miss_without_a_round_trip():
    server = RedisServer(free_port())
    server.start()
    earlier = Store.cache_key("v", "recommend", {"user_id": 1})
    server_client(server).set(earlier, b"old", ex=60)  # written before this worker started
    store = Store(server.url, cache_ttl=60)
    try:
        assert _eventually(store.listening.is_set)
        before = _gets(server)
        for u in range(2, 12):
            assert store.cache_get(Store.cache_key("v", "recommend", {"user_id": u})) is None
        assert _gets(server) == before  # ten misses, no GET
        assert store.cache_get(earlier) == b"old"  # found by the scan when it subscribed
        server_client(server).delete(earlier)
        assert store.cache_get(earlier) is None and store.known.get(earlier) is None  # deleted: forgotten
        assert _gets(server) == before + 2
    finally:
        store.close()
        server.stop()


def test_without_permission_to_subscribe_every_read_asks_redis(caplog):
    server = RedisServer(free_port())
    server.start()
    server_client(server).execute_command("ACL", "SETUSER", "cacheonly", "on", ">pw", "~*", "+@all", "-subscribe")
    store = Store(f"redis://cacheonly:pw@127.0.0.1:{server.port}/0", cache_ttl=60)
    try:
        assert _eventually(lambda: "no cache key directory" in caplog.text)
        assert not store.listening.is_set()
        key = Store.cache_key("v", "recommend", {"user_id": 1})
        server_client(server).set(key, b"1", ex=60)  # written by another worker, never announced to this one
        assert store.cache_get(key) == b"1"
    finally:
        store.close()
        server.stop()


def test_sessions_outlive_a_redis_outage():
    """Sessions used to fall back to one worker's memory while Redis was down and vanish when it came back.
    Now: a worker answers from its own copy, takes ratings into it, and writes the whole session back when
    Redis answers again (here a Redis restarted without persistence, which lost everything); a worker with no
    copy says so plainly instead of calling the session unknown."""
    server = RedisServer(free_port())
    server.start()
    worker, other = (Store(server.url, cache_ttl=60, session_ttl=60) for _ in range(2))
    for s in (worker, other):
        s.redis.retry_after = 0.2
    worker.session_rate("old", {1: 4.0}, new=True, max_ratings=10)
    worker.session_rate("quiet", {7: 3.0}, new=True, max_ratings=10)  # not touched during the outage
    server.stop()
    assert worker.session_get("old").ratings == {1: 4.0}  # its own copy
    assert worker.session_rate("old", {2: 5.0}, new=False, max_ratings=10).ratings == {1: 4.0, 2: 5.0}
    worker.session_rate("fresh", {3: 1.0}, new=True, max_ratings=10)  # started during the outage
    with pytest.raises(SessionUnavailable):
        other.session_get("old")  # no copy: it cannot tell, and does not pretend the session is unknown
    partial = other.session_rate("old", {4: 2.0}, new=False, max_ratings=10)  # a rating it takes all the same
    assert partial.partial and partial.ratings == {4: 2.0} and other.session_get("old") == partial
    server.start()
    assert _eventually(lambda: not worker._unsaved and not other._unsaved)  # written back in the background
    everything = {1: 4.0, 2: 5.0, 4: 2.0}
    assert worker.session_get("old").ratings == everything  # both written back, merged, then read from Redis
    assert other.session_get("old") == worker.session_get("old") and not other.session_get("old").partial
    assert other.session_get("fresh").ratings == {3: 1.0}
    # Redis lost "quiet" and `other` never saw it: the worker that holds a copy fills it back on its own, once
    # its key directory finds Redis again (no request of it failed for this session)
    assert _eventually(lambda: other.session_get("quiet") is not None)
    assert other.session_get("quiet").ratings == {7: 3.0}
    assert worker.session_rate("quiet", {8: 1.0}, new=False, max_ratings=10).ratings == {7: 3.0, 8: 1.0}
    for s in (worker, other):
        s.close()
    server.stop()


def test_new_sessions_are_limited_per_address_and_minute():
    limit = CreationLimit(per_minute=3)
    assert [limit.allow("a", now=t) for t in (0, 1, 2, 3)] == [True, True, True, False]
    assert limit.allow("b", now=3)  # another address has its own budget
    assert limit.allow("a", now=61)  # a minute after the first one
    assert all(CreationLimit(0).allow("a", now=0) for _ in range(100))  # 0: no limit


def test_cached_answers_never_evict_sessions_and_the_cache_is_bounded_by_bytes(monkeypatch):
    monkeypatch.setattr(store_module, "MEMORY_CACHE_BYTES", 10_000)
    store = Store(None, cache_ttl=60, session_ttl=60)
    store.session_rate("keep", {1: 4.0}, new=True, max_ratings=10)
    for i in range(1_000):  # 1 MB of answers through a 10 KB cache
        store.cache_set(f"k{i}", b"x" * 1_000)
    assert store.session_get("keep").ratings == {1: 4.0}
    assert store.memory.nbytes <= 10_000 and store.cache_get("k999") == b"x" * 1_000 and store.cache_get("k0") is None


def test_live_sessions_are_capped_in_all_and_refused_past_the_cap_without_forgetting_anyone(store):
    """20,000 new sessions grew Redis without bound: past ``max_sessions`` live ones, a new session is refused
    (nothing stored), while the live ones keep taking ratings; an expired one frees its place."""
    store.max_sessions = 3
    for s in ("a", "b", "c"):
        store.session_rate(s, {1: 4.0}, new=True, max_ratings=10)
    with pytest.raises(TooManySessions):
        store.session_rate("d", {1: 4.0}, new=True, max_ratings=10)
    with pytest.raises(SessionNotFound):
        store.session_rate("d", {2: 4.0}, new=False, max_ratings=10)  # nothing was stored for it
    assert store.session_rate("a", {2: 3.0}, new=False, max_ratings=10).ratings == {1: 4.0, 2: 3.0}
    assert all(store.session_get(s) is not None for s in "abc")  # nobody was evicted to make room


def test_an_expired_session_frees_its_place_under_the_cap():
    server = RedisServer(free_port())
    server.start()
    try:
        for store in (Store(None, session_ttl=1, max_sessions=2), Store(server.url, session_ttl=1, max_sessions=2)):
            store.session_rate("a", {1: 4.0}, new=True, max_ratings=10)
            store.session_rate("b", {1: 4.0}, new=True, max_ratings=10)
            with pytest.raises(TooManySessions):
                store.session_rate("c", {1: 4.0}, new=True, max_ratings=10)
            time.sleep(2.1)  # both expire (Redis counts whole seconds)
            assert store.session_rate("c", {1: 4.0}, new=True, max_ratings=10).ratings == {1: 4.0}
            if store.redis is not None:
                assert redis.Redis.from_url(server.url).zcard(store_module.LIVE_SESSIONS) == 1  # the expired ones left
                store.close()
    finally:
        server.stop()
