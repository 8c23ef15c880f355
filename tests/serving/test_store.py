"""Cache and sessions: the in-process store, and a real redis-server that goes away and comes back."""

import time

import pytest

from movierec.serving import store as store_module
from movierec.serving.store import SESSION_KEYS_PREFIX, MemoryKV, Store
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
    yield Store(server.url, cache_ttl=60, session_ttl=60)
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
    store.session_set("s1", {10: 4.5, 20: 1.0})
    assert store.session_get("s1") == {10: 4.5, 20: 1.0}
    assert store.backend in ("memory", "redis")


def test_redis_outage_bypasses_the_cache_and_recovers():
    server = RedisServer(free_port())
    server.start()
    store = Store(server.url, cache_ttl=60, session_ttl=60)
    store.redis.retry_after = 0.2
    store.cache_set("k", b"1")
    store.session_set("s", {1: 5.0})
    server.stop()
    assert store.cache_get("k") is None  # a miss, not an exception
    assert store.backend == "redis-unavailable"
    store.cache_set("k2", b"2")  # dropped
    store.session_set("s2", {2: 3.0})  # kept in memory meanwhile
    assert store.session_get("s2") == {2: 3.0}
    t = time.monotonic()
    for _ in range(100):  # while down, calls skip Redis instead of waiting on it
        store.cache_get("k")
    assert store.redis.failures >= 1 and time.monotonic() - t < 5
    server.start()
    time.sleep(0.25)
    store.cache_set("k3", b"3")
    assert store.cache_get("k3") == b"3" and store.backend == "redis"
    assert store.redis.failures == 0


def test_new_cache_entries_ride_with_the_next_read_or_are_flushed_soon():
    server = RedisServer(free_port())
    server.start()
    try:
        worker, other = Store(server.url, cache_ttl=60), Store(server.url, cache_ttl=60)  # two server workers
        worker.cache_set("a", b"1")
        assert other.cache_get("a") is None  # not written yet: it waits for this worker's next round trip
        assert worker.cache_get("b") is None  # that read carried the write
        assert other.cache_get("a") == b"1"
        worker.cache_set("c", b"3")  # no read follows: the background flush writes it
        deadline = time.monotonic() + 5
        while other.cache_get("c") is None and time.monotonic() < deadline:
            time.sleep(0.01)
        assert other.cache_get("c") == b"3" and worker.redis.client.ttl("c") > 0
        for i in range(store_module.MAX_PENDING + 1):  # a burst is written at once, not held
            worker.cache_set(f"burst{i}", b"x")
        assert worker._pending == [] and other.cache_get("burst0") == b"x"
        worker.cache_set("d", b"4", session_id="s")  # a session's entries are written at once
        assert other.cache_get("d") == b"4" and worker.redis.client.smembers(SESSION_KEYS_PREFIX + "s") == {b"d"}
        worker.close()
        worker.cache_set("e", b"5")
        worker.close()  # what waits is written on close
        assert other.cache_get("e") == b"5"
        ok, replies = worker.redis.batch([("SET", "n", b"1"), ("INCRBY", "n", "x"), ("GET", "n")])
        assert ok and replies[0] == b"OK" and "not an integer" in str(replies[1]) and replies[2] == b"1"
    finally:
        server.stop()
