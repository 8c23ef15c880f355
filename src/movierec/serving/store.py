"""Response cache and visitor sessions: Redis when ``REDIS_URL`` is set, else in this process.

Redis is an optimisation, never a dependency of an answer: every Redis call is guarded. When Redis stops
answering, the outage is logged once, cache reads miss and cache writes are dropped, sessions fall back to
this process's memory, and Redis is tried again after ``retry_after`` seconds, so the service recovers on its
own when Redis returns.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
import time
import uuid
from collections import OrderedDict
from typing import Any, Callable

log = logging.getLogger("movierec.store")

CACHE_PREFIX = "movierec:rec:"
SESSION_PREFIX = "movierec:session:"
SESSION_KEYS_PREFIX = "movierec:session-keys:"


class MemoryKV:
    """A small TTL + LRU dict with the few Redis operations used here."""

    def __init__(self, max_items: int = 50_000):
        self._d: OrderedDict[str, tuple[float, Any]] = OrderedDict()
        self._max = max_items
        self._lock = threading.Lock()

    def get(self, key: str) -> Any:
        with self._lock:
            item = self._d.get(key)
            if item is None:
                return None
            if item[0] < time.monotonic():
                del self._d[key]
                return None
            self._d.move_to_end(key)
            return item[1]

    def set(self, key: str, value: Any, ttl: float) -> None:
        with self._lock:
            self._d[key] = (time.monotonic() + ttl, value)
            self._d.move_to_end(key)
            while len(self._d) > self._max:
                self._d.popitem(last=False)

    def delete(self, *keys: str) -> None:
        with self._lock:
            for k in keys:
                self._d.pop(k, None)

    def add_member(self, key: str, member: str, ttl: float) -> None:
        members = set(self.get(key) or ()) | {member}
        self.set(key, members, ttl)

    def members(self, key: str) -> set[str]:
        return set(self.get(key) or ())


class GuardedRedis:
    """Runs Redis calls; on a connection failure answers ``default`` and stays off Redis for ``retry_after`` s."""

    def __init__(self, url: str, retry_after: float = 1.0, timeout: float = 0.05):
        import redis

        self._errors = (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError)
        self.client = redis.Redis.from_url(url, socket_timeout=timeout, socket_connect_timeout=timeout)
        self.retry_after = retry_after
        self._down_until = 0.0
        self.failures = 0

    @property
    def up(self) -> bool:
        return time.monotonic() >= self._down_until

    def call(self, fn: Callable[[Any], Any], default: Any = None) -> tuple[bool, Any]:
        """``(True, result)`` when Redis answered, ``(False, default)`` when it is down."""
        if not self.up:
            return False, default
        try:
            result = fn(self.client)
        except self._errors as e:
            if self.failures == 0:  # first failure of this outage
                log.warning("redis unavailable (%s): bypassing it, retrying in %.1f s", e, self.retry_after)
            self.failures += 1
            self._down_until = time.monotonic() + self.retry_after
            return False, default
        if self._down_until:
            log.warning("redis is back after %d failed calls", self.failures)
            self._down_until = 0.0
            self.failures = 0
        return True, result

    def ping(self) -> bool:
        return self.call(lambda r: r.ping(), False)[1] is True


class Store:
    """The cache and the session store of one server worker."""

    def __init__(self, redis_url: str | None = None, cache_ttl: float = 300, session_ttl: float = 86_400):
        self.redis = GuardedRedis(redis_url) if redis_url else None
        self.memory = MemoryKV()
        self.cache_ttl = cache_ttl
        self.session_ttl = session_ttl

    @property
    def backend(self) -> str:
        if self.redis is None:
            return "memory"
        return "redis" if self.redis.ping() else "redis-unavailable"

    # ----- response cache ------------------------------------------------------------------------------
    @staticmethod
    def cache_key(version: str, endpoint: str, request: dict) -> str:
        body = json.dumps(request, sort_keys=True, separators=(",", ":"))
        return f"{CACHE_PREFIX}{version}:{endpoint}:{hashlib.sha1(body.encode()).hexdigest()}"

    def cache_get(self, key: str) -> bytes | None:
        """The cached response body (JSON bytes), or None on a miss or while Redis is down."""
        if self.redis is None:
            return self.memory.get(key)
        ok, raw = self.redis.call(lambda r: r.get(key))
        return raw if ok else None

    def cache_set(self, key: str, body: bytes, session_id: str | None = None) -> None:
        """Cache a response body; with ``session_id``, remember the key so the session can drop it."""
        if self.redis is None:
            self.memory.set(key, body, self.cache_ttl)
            if session_id:
                self.memory.add_member(SESSION_KEYS_PREFIX + session_id, key, self.session_ttl)
            return

        def write(r):
            if not session_id:
                return r.set(key, body, ex=int(self.cache_ttl))  # one round trip on the hot path
            pipe = r.pipeline(transaction=False)
            pipe.set(key, body, ex=int(self.cache_ttl))
            pipe.sadd(SESSION_KEYS_PREFIX + session_id, key)
            pipe.expire(SESSION_KEYS_PREFIX + session_id, int(self.session_ttl))
            return pipe.execute()

        self.redis.call(write)

    def invalidate_session(self, session_id: str) -> None:
        """Drop every cached response computed from this session's earlier ratings."""
        skey = SESSION_KEYS_PREFIX + session_id
        keys = self.memory.members(skey)
        self.memory.delete(*keys, skey)
        if self.redis is not None:
            def drop(r):
                members = [m.decode() for m in r.smembers(skey)]
                r.delete(*members, skey) if members else r.delete(skey)

            self.redis.call(drop)

    # ----- sessions -----------------------------------------------------------------------------------
    @staticmethod
    def new_session_id() -> str:
        return uuid.uuid4().hex

    def session_get(self, session_id: str) -> dict[int, float] | None:
        """``{movie_id: stars}``, or None for an unknown or expired session."""
        key = SESSION_PREFIX + session_id
        if self.redis is not None:
            ok, raw = self.redis.call(lambda r: r.get(key))
            if ok:
                return {int(m): float(s) for m, s in json.loads(raw).items()} if raw is not None else None
        raw = self.memory.get(key)
        return dict(raw) if raw is not None else None

    def session_set(self, session_id: str, ratings: dict[int, float]) -> None:
        key = SESSION_PREFIX + session_id
        if self.redis is not None:
            body = json.dumps({str(m): s for m, s in ratings.items()})
            ok, _ = self.redis.call(lambda r: r.set(key, body, ex=int(self.session_ttl)))
            if ok:
                return
        self.memory.set(key, dict(ratings), self.session_ttl)
