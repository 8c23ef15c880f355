"""Response cache and visitor sessions: Redis when ``REDIS_URL`` is set, else in this process.

Redis is an optimisation, never a dependency of an answer: every Redis call is guarded. When Redis stops
answering, the outage is logged once, cache reads miss and cache writes are dropped, sessions fall back to
this process's memory, and Redis is tried again after ``retry_after`` seconds, so the service recovers on its
own when Redis returns.

A request nobody has answered before costs no Redis round trip. Each worker keeps a directory of the cache
keys Redis holds (a ``MemoryKV`` of keys): the ones it wrote, the ones other workers announce on ``KEYS_CHANNEL``
when they write, and those found by a scan when it (re)subscribes. A key missing from the directory is a miss
without asking Redis; a key in it is read from Redis, so an answer always comes from Redis or is computed,
never from a stale copy. A key the directory has not heard of yet only costs a recomputation.

New entries are not written at once: they ride with this worker's next cache read (the writes waiting, then
the read, in one round trip), or a background flush writes them within ``WRITE_BEHIND_S``, with one
announcement for the batch. A round trip costs about as much CPU as the search itself on a small machine, most
of it in system calls. Responses computed from a visitor's session are written at once: invalidating the
session must find every one of them.
"""

from __future__ import annotations

import hashlib
import logging
import math
import threading
import time
import uuid
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any, Callable

import orjson

log = logging.getLogger("movierec.store")

CACHE_PREFIX = "movierec:rec:"
SESSION_PREFIX = "movierec:sess:"  # hashes (see Store.session_rate)
SESSION_KEYS_PREFIX = "movierec:session-keys:"
KEYS_CHANNEL = "movierec:cache-keys"  # workers announce the cache keys they write here
WRITE_BEHIND_S = 0.05  # a new cache entry reaches Redis within this long when no cache read carries it
MAX_PENDING = 64  # more new entries waiting than this are written at once
MEMORY_CACHE_BYTES = 64 * 1024**2  # the in-process cache's answers, at most
MEMORY_TEXTS_BYTES = 32 * 1024**2  # the in-process cache's explanation texts, at most
MAX_SESSIONS = 100_000  # live sessions in all (Redis) or in this worker: past it, new ones are refused
LIVE_SESSIONS = "movierec:live-sessions"  # sorted set: session key -> when it expires (Unix seconds)
RECONNECT_GRACE_S = 10.0  # after Redis came back: a session it lacks may still be on its way back from a worker
MAX_WRITE_BACK = 100_000  # ratings a session may hold when written back after an outage (the service caps lower)


class MemoryKV:
    """A small TTL + LRU dict with the few Redis operations used here, bounded by entries and, for bytes
    values, by their total size."""

    def __init__(self, max_items: int = 50_000, max_bytes: int | None = None):
        self._d: OrderedDict[str, tuple[float, Any]] = OrderedDict()
        self.max_items, self.max_bytes = max_items, max_bytes
        self.nbytes = 0  # of the bytes values held
        self._lock = threading.Lock()

    def get(self, key: str) -> Any:
        with self._lock:
            item = self._d.get(key)
            if item is None:
                return None
            if item[0] < time.monotonic():
                self._drop(key)
                return None
            self._d.move_to_end(key)
            return item[1]

    def set(self, key: str, value: Any, ttl: float) -> None:
        with self._lock:
            self._drop(key)
            self._d[key] = (time.monotonic() + ttl, value)
            self.nbytes += _size(value)
            while len(self._d) > self.max_items or (self.max_bytes is not None and self.nbytes > self.max_bytes):
                self._drop(next(iter(self._d)))

    def _drop(self, key: str) -> None:
        item = self._d.pop(key, None)
        if item is not None:
            self.nbytes -= _size(item[1])

    def keys(self) -> list[str]:
        with self._lock:
            return list(self._d)

    def live(self) -> int:
        """How many entries have not expired (expired ones are dropped as they are counted)."""
        with self._lock:
            if len(self._d) < self.max_items:
                return len(self._d)  # an upper bound, and under the cap: no need to look closer
            now = time.monotonic()
            for key in [k for k, (expires, _) in self._d.items() if expires < now]:
                self._drop(key)
            return len(self._d)

    def delete(self, *keys: str) -> None:
        with self._lock:
            for k in keys:
                self._drop(k)

    def add_member(self, key: str, member: str, ttl: float) -> None:
        members = set(self.get(key) or ()) | {member}
        self.set(key, members, ttl)

    def members(self, key: str) -> set[str]:
        return set(self.get(key) or ())


def _size(value: Any) -> int:
    return len(value) if isinstance(value, (bytes, bytearray, str)) else 0


class GuardedRedis:
    """Runs Redis calls; on a connection failure answers ``default`` and stays off Redis for ``retry_after`` s."""

    def __init__(self, url: str, retry_after: float = 1.0, timeout: float = 0.05):
        import redis

        self._errors = (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError)
        self._refused = redis.exceptions.ResponseError
        self.client = redis.Redis.from_url(url, socket_timeout=timeout, socket_connect_timeout=timeout)
        self._conn = None  # this store's own connection for ``batch``, taken from the client's pool once
        self._conn_lock = threading.Lock()
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

    def batch(self, commands: list[tuple]) -> tuple[bool, list | None]:
        """Send ``commands`` (each ``(NAME, *args)``) in one round trip; ``(True, replies)`` in order, or
        ``(False, None)`` while Redis is down. A command Redis refuses answers its ``ResponseError``.

        The hot path of every request: it writes the commands on one connection and reads the replies,
        without the client's per-command machinery (about 30 µs of Python per command here)."""

        def run(client):
            with self._conn_lock:
                if self._conn is None:
                    self._conn = client.connection_pool.get_connection()
                conn = self._conn
                try:
                    conn.send_packed_command(conn.pack_commands(commands))
                    replies = []
                    for _ in commands:
                        try:
                            replies.append(conn.read_response())
                        except self._refused as e:
                            replies.append(e)
                    return replies
                except BaseException:
                    conn.disconnect()  # unread replies must not answer the next batch; it reconnects
                    raise

        return self.call(run)


class Store:
    """The cache and the session store of one server worker."""

    def __init__(self, redis_url: str | None = None, cache_ttl: float = 300, session_ttl: float = 86_400,
                 max_sessions: int = MAX_SESSIONS):  # fmt: skip
        self.max_sessions = max_sessions
        self.redis = GuardedRedis(redis_url) if redis_url else None
        # the in-process cache, bounded by size; sessions apart, so that cached answers never evict them
        self.memory = MemoryKV(max_items=100_000, max_bytes=MEMORY_CACHE_BYTES)
        # with Redis, copies: the least recent dropped past the cap (Redis keeps the session)
        self.sessions = MemoryKV(max_items=max_sessions)
        self.texts = MemoryKV(max_items=200_000, max_bytes=MEMORY_TEXTS_BYTES)  # explanations, apart from answers
        self._sessions_lock = threading.Lock()  # one merge at a time in memory
        self._unsaved: dict[str, dict[int, float]] = {}  # ratings taken while Redis was down, by session
        self._reconnected_at = float("-inf")  # when the key directory last found Redis again
        self.cache_ttl = cache_ttl
        self.session_ttl = session_ttl
        self._pending: list[tuple[str, bytes]] = []  # new cache entries not yet in Redis
        self._pending_lock = threading.Lock()
        self._flusher: threading.Thread | None = None
        self._closed = threading.Event()
        self.known = MemoryKV(max_items=100_000)  # cache keys Redis holds, as far as this worker knows, until
        # their TTL; the least recently used forgotten first (a forgotten key costs a recomputation, never a wrong
        # answer)
        self.listening = threading.Event()  # set while subscribed: only then is a key missing from it a miss
        self._token = uuid.uuid4().hex[:12].encode()  # tells this store's announcements from the others'
        if redis_url:
            threading.Thread(target=self._listen, args=(redis_url,), name="movierec-cache-keys", daemon=True).start()

    def close(self) -> None:
        """Write what is waiting and stop the background threads."""
        self._closed.set()
        self.flush()

    @property
    def backend(self) -> str:
        if self.redis is None:
            return "memory"
        return "redis" if self.redis.ping() else "redis-unavailable"

    # ----- response cache ------------------------------------------------------------------------------
    @staticmethod
    def cache_key(version: str, endpoint: str, request: dict) -> str:
        body = orjson.dumps(request, option=orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS)
        return f"{CACHE_PREFIX}{version}:{endpoint}:{hashlib.sha1(body).hexdigest()}"

    def cache_get(self, key: str) -> bytes | None:
        """The cached response body (JSON bytes), or None on a miss or while Redis is down."""
        if self.redis is None:
            return self.memory.get(key)
        if self.listening.is_set() and self.known.get(key) is None:
            return None  # nobody has written it: a miss without a round trip
        ok, replies = self.redis.batch([*self._take_pending(), ("GET", key)])
        if not ok:
            return None
        if not isinstance(replies[-1], bytes):
            self.known.delete(key)  # expired or deleted
            return None
        return replies[-1]

    def cache_set(self, key: str, body: bytes, session_id: str | None = None) -> None:
        """Cache a response body; with ``session_id``, remember the key so the session can drop it."""
        if self.redis is None:
            self.memory.set(key, body, self.cache_ttl)
            if session_id:
                self.memory.add_member(SESSION_KEYS_PREFIX + session_id, key, self.cache_ttl)
            return

        if not session_id:
            with self._pending_lock:
                self._pending.append((key, body))
                waiting = len(self._pending)
            self.known.set(key, True, self.cache_ttl)  # a read of it carries the write first
            if self._flusher is None:
                self._start_flusher()
            if waiting > MAX_PENDING:
                self.flush()
            return
        skey = SESSION_KEYS_PREFIX + session_id
        # the set of a session's cached answers lives as long as its newest answer: bounded in time, not a day
        ok, _ = self.redis.batch([*self._take_pending(also=(key, body)), ("SADD", skey, key),
                                  ("EXPIRE", skey, int(self.cache_ttl))])  # fmt: skip
        if ok:
            self.known.set(key, True, self.cache_ttl)

    # ----- explanation texts ----------------------------------------------------------------------------
    def texts_get(self, keys: list[str]) -> list[str | None]:
        """Cached explanation texts (None where missing), in one round trip; all missing while Redis is down."""
        if self.redis is None:
            return [self.texts.get(k) for k in keys]
        ok, values = self.redis.call(lambda r: r.mget(keys))
        if not ok:
            return [None] * len(keys)
        return [v.decode() if isinstance(v, bytes) else None for v in values]

    def text_set(self, key: str, text: str, ttl: float) -> None:
        if self.redis is None:
            self.texts.set(key, text, ttl)
        else:
            self.redis.call(lambda r: r.set(key, text.encode(), ex=max(int(ttl), 1)))

    def flush(self) -> None:
        """Write the new cache entries still waiting for a round trip (dropped while Redis is down)."""
        commands = self._take_pending()
        if commands and self.redis is not None:
            self.redis.batch(commands)

    def _take_pending(self, also: tuple[str, bytes] | None = None) -> list[tuple]:
        """The writes waiting (and ``also``), then one announcement of their keys to the other workers."""
        if not self._pending and also is None:
            return []
        with self._pending_lock:
            pending, self._pending = self._pending, []
        if also is not None:
            pending.append(also)
        ttl = int(self.cache_ttl)
        announce = b" ".join([self._token, *(k.encode() for k, _ in pending)])  # keys hold no spaces
        return [*(("SET", k, body, "EX", ttl) for k, body in pending), ("PUBLISH", KEYS_CHANNEL, announce)]

    def _start_flusher(self) -> None:
        with self._pending_lock:
            if self._flusher is not None:
                return
            self._flusher = threading.Thread(target=self._flush_every, name="movierec-cache-flush", daemon=True)
        self._flusher.start()

    def _flush_every(self) -> None:
        while not self._closed.wait(WRITE_BEHIND_S):
            if self._pending:
                self.flush()
            if self._unsaved:
                self._write_back()

    def _listen(self, url: str) -> None:
        """Keep the key directory: subscribe to the announcements, then scan for the keys written before;
        on a lost connection, stop trusting the directory's misses and try again after ``retry_after``."""
        import redis

        client = redis.Redis.from_url(url, socket_timeout=5, socket_connect_timeout=0.5)
        first = True
        while not self._closed.is_set():
            pubsub = client.pubsub(ignore_subscribe_messages=True)
            try:
                pubsub.subscribe(KEYS_CHANNEL)
                for i, key in enumerate(client.scan_iter(match=CACHE_PREFIX + "*", count=1000)):
                    if i >= self.known.max_items:
                        break
                    self.known.set(key.decode(), True, self.cache_ttl)
                self.listening.set()
                if not first:  # the connection was lost: Redis may have restarted, empty
                    self._reconnected_at = time.monotonic()
                    self._refill_all()
                first = False
                while not self._closed.is_set():
                    message = pubsub.get_message(timeout=0.5)
                    if message is not None:
                        self._heard(message["data"])
            except (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError):
                pass  # GuardedRedis logs the outage
            except redis.exceptions.RedisError as e:  # e.g. no permission to subscribe or scan
                log.warning("no cache key directory (%s): every cache read asks Redis", e)
                return
            finally:
                self.listening.clear()
                pubsub.close()
            self._closed.wait(self.redis.retry_after)
        client.close()

    def _heard(self, data: bytes) -> None:
        token, *keys = data.split(b" ")
        if token != self._token:
            for key in keys:
                self.known.set(key.decode(), True, self.cache_ttl)

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
    # A session is a hash: one field per rated movie (movie id -> stars) and ``v``, its version, raised by every
    # rating. Ratings are merged in one atomic step (a Lua script in Redis, a lock in memory), so that two
    # concurrent /rate calls on one session both land.
    #
    # With Redis, each worker also keeps a copy of every session it serves. While Redis is down it answers from
    # the copy and takes new ratings (and sessions) into it; once Redis answers, it writes those ratings back
    # (they are newer than anything there) and fills in whatever Redis lacks from the copy without overwriting
    # anything (a Redis restarted without persistence lost it all; another worker may have taken newer ratings).
    # Whenever the key directory's connection to Redis is lost and found again, every copy is filled back that
    # way: a restart is noticed even when no request of this worker failed.
    @staticmethod
    def new_session_id() -> str:
        return uuid.uuid4().hex

    def session_get(self, session_id: str) -> Session | None:
        """The session's ratings and version, or None for an unknown or expired session. While Redis is down,
        this worker's own copy; :class:`SessionUnavailable` when it has none."""
        key = SESSION_PREFIX + session_id
        if self.redis is None:
            with self._sessions_lock:
                return self.sessions.get(key)
        self._write_back()
        ok, raw = self.redis.call(lambda r: r.hgetall(key))
        if ok and raw:
            return self._keep(key, _session(raw))
        local = self._copy(session_id)
        if ok:  # not in Redis: expired (and so is the copy), or lost by a Redis restarted without persistence
            if local is not None:
                return self._merge(session_id, {}, True, MAX_WRITE_BACK, fill=local.held())[1]
            if self._just_reconnected():  # another worker may be filling it back right now
                raise SessionUnavailable(session_id)
            return None
        if local is None:
            raise SessionUnavailable(session_id)
        return local

    def session_rate(self, session_id: str, ratings: dict[int, float], new: bool, max_ratings: int) -> Session:
        """Merge ``ratings`` into the session (a new one when ``new``) in one atomic step and return it.
        Raises :class:`SessionNotFound` (not ``new`` and unknown or expired), :class:`SessionFull` (it would
        hold more than ``max_ratings``) or :class:`TooManySessions` (``new``, and ``max_sessions`` are live);
        in each case nothing is stored. While Redis is down, a worker with no
        copy of the session starts a *partial* one from these ratings (``Session.partial``)."""
        key = SESSION_PREFIX + session_id
        if self.redis is not None:
            self._write_back()
            local = self._copy(session_id)
            try:
                ok, session = self._merge(session_id, ratings, new, max_ratings, cap=new)
            except SessionNotFound:
                if local is None and not self._just_reconnected():
                    raise
                # lost by Redis: this worker's copy, or (just after Redis came back, while the workers that hold
                # copies fill them back) these ratings alone, which the fills then complete
                ok, session = self._merge(session_id, ratings, True, max_ratings, fill=local.held() if local else None)
            if ok:
                return session
        with self._sessions_lock:
            found = self.sessions.get(key)
            if found is None and not new and self.redis is None:
                raise SessionNotFound(session_id)
            if found is None and self.redis is None and self.sessions.live() >= self.max_sessions:
                raise TooManySessions(self.max_sessions)  # rather than forget the least recent visitor
            partial = found.partial if found is not None else not new  # Redis down, and no copy here
            session = _merged(found, ratings, partial)
            if len(session.ratings) > max_ratings:
                raise SessionFull(len(session.ratings))
            self.sessions.set(key, session, self.session_ttl)
            if self.redis is not None:  # newer than what Redis holds: written back when it answers
                self._unsaved[session_id] = {**self._unsaved.get(session_id, {}), **ratings}
        if self.redis is not None:
            self._start_flusher()
        self.invalidate_session(session_id)
        return session

    def _just_reconnected(self) -> bool:
        return time.monotonic() - self._reconnected_at < RECONNECT_GRACE_S

    def _copy(self, session_id: str) -> Session | None:
        with self._sessions_lock:
            return self.sessions.get(SESSION_PREFIX + session_id)

    def _merge(self, session_id: str, ratings: dict[int, float], new: bool, max_ratings: int,
               fill: dict[int, float] | None = None, cap: bool = False) -> tuple[bool, Session | None]:  # fmt: skip
        """The atomic merge in Redis: set ``ratings``, and set those of ``fill`` the session lacks; ``cap``: a
        session it creates counts against ``max_sessions`` (a visitor's new one; not one filled back after an
        outage). ``(True, session)``, or ``(False, None)`` while Redis is down."""
        key, skey = SESSION_PREFIX + session_id, SESSION_KEYS_PREFIX + session_id
        args = [int(self.session_ttl), max_ratings, 0 if new else 1, len(ratings), int(time.time()),
                self.max_sessions if cap else 0]  # fmt: skip
        for movie, stars in [*ratings.items(), *(fill or {}).items()]:
            args += [int(movie), float(stars)]
        ok, reply = self.redis.call(lambda r: r.eval(_RATE_SCRIPT, 3, key, skey, LIVE_SESSIONS, *args))
        if not ok:
            return False, None
        if reply[0] == b"missing":
            raise SessionNotFound(session_id)
        if reply[0] == b"full":
            raise SessionFull(int(reply[1]))
        if reply[0] == b"crowded":
            raise TooManySessions(self.max_sessions)
        return True, self._keep(key, _session(dict(zip(reply[::2], reply[1::2]))))

    def _keep(self, key: str, session: Session) -> Session:
        """This worker's copy of a session Redis holds: what it answers from while Redis is down."""
        with self._sessions_lock:
            self.sessions.set(key, session, self.session_ttl)
        return session

    def _refill_all(self) -> None:
        """After the connection to Redis was lost: fill every session this worker holds back into Redis."""
        with self._sessions_lock:
            held = [k[len(SESSION_PREFIX):] for k in self.sessions.keys() if k.startswith(SESSION_PREFIX)]
            for session_id in held:
                self._unsaved.setdefault(session_id, {})
        if held:
            self._start_flusher()

    def _write_back(self) -> None:
        """Once Redis answers again: each session that took ratings while it was down (or that must be filled
        back) gets them set, and the rest of this worker's copy filled in where Redis lacks it."""
        while self._unsaved and self.redis.up:
            with self._sessions_lock:
                if not self._unsaved:
                    return
                session_id, ratings = next(iter(self._unsaved.items()))
                local = self.sessions.get(SESSION_PREFIX + session_id)
            try:  # new=True: a session started during the outage is created
                ok = local is None or self._merge(session_id, ratings, True, MAX_WRITE_BACK, fill=local.held())[0]
            except SessionFull:
                ok = True  # beyond any limit the service sets; dropped rather than retried forever
            if not ok:
                return
            with self._sessions_lock:
                if self._unsaved.get(session_id) == ratings:
                    del self._unsaved[session_id]


REMOVED = 0.0  # the stars a taken-back rating is stored with: a mark, so that no copy or fill brings it back


@dataclass(frozen=True)
class Session:
    ratings: dict[int, float]  # movie id -> stars
    version: int  # raised by every rating
    partial: bool = False  # only the ratings this worker took while Redis was down: the rest is in Redis
    removed: frozenset[int] = frozenset()  # movies whose rating was taken back

    def held(self) -> dict[int, float]:
        """Ratings and removal marks: what a fill writes back where Redis lacks it."""
        return {**{m: REMOVED for m in self.removed}, **self.ratings}


class SessionNotFound(KeyError):
    """No such session: never created, or expired."""


class SessionFull(ValueError):
    """The merge would leave the session with more ratings than allowed (``args[0]``)."""


class TooManySessions(RuntimeError):
    """A new session would pass the cap on live sessions (``args[0]``)."""


class SessionUnavailable(RuntimeError):
    """Redis is down and this worker holds no copy of the session: it cannot tell what the session holds."""


def _session(raw: dict) -> Session:
    version = int(raw.pop(b"v", 0))
    stars = {int(m): float(s) for m, s in raw.items()}
    return Session({m: s for m, s in stars.items() if s != REMOVED}, version,
                   removed=frozenset(m for m, s in stars.items() if s == REMOVED))  # fmt: skip


def _merged(found: Session | None, ratings: dict[int, float], partial: bool) -> Session:
    """``ratings`` (stars, or ``REMOVED``) over the session ``found`` (None: a new one), as a new version."""
    held = {**(found.held() if found is not None else {}), **ratings}
    return Session({m: s for m, s in held.items() if s != REMOVED}, (found.version if found is not None else 0) + 1,
                   partial, frozenset(m for m, s in held.items() if s == REMOVED))  # fmt: skip


# KEYS: the session hash, the set of its cached answers, the live sessions (key -> expiry); ARGV: ttl, most
# ratings, must exist (1/0), how many of the pairs that follow to set, now (Unix seconds), most live sessions
# (0: no cap), then movie id, stars pairs: those first ones set, the rest only where the session lacks the movie.
# Stars 0 mark a rating taken back (``REMOVED``): kept as a field, so that a fill never brings it back, and not
# counted against the most ratings.
# Bumps the version, drops the cached answers, returns the whole hash: or {"missing"} / {"full", n} /
# {"crowded", n} with nothing changed.
_RATE_SCRIPT = """
local exists = redis.call("EXISTS", KEYS[1]) == 1
if ARGV[3] == "1" and not exists then return {"missing"} end
if not exists and tonumber(ARGV[6]) > 0 then
  redis.call("ZREMRANGEBYSCORE", KEYS[3], "-inf", ARGV[5])
  local live = redis.call("ZCARD", KEYS[3])
  if live >= tonumber(ARGV[6]) then return {"crowded", live} end
end
local stars = {}
local held = redis.call("HGETALL", KEYS[1])
for i = 1, #held, 2 do
  if held[i] ~= "v" then stars[held[i]] = tonumber(held[i + 1]) end
end
local set_end = 6 + 2 * tonumber(ARGV[4])
for i = 7, #ARGV, 2 do
  if i < set_end or stars[ARGV[i]] == nil then stars[ARGV[i]] = tonumber(ARGV[i + 1]) end
end
local n = 0
for _, s in pairs(stars) do
  if s ~= 0 then n = n + 1 end
end
if n > tonumber(ARGV[2]) then return {"full", n} end
for i = 7, #ARGV, 2 do
  if i < set_end then redis.call("HSET", KEYS[1], ARGV[i], ARGV[i + 1])
  else redis.call("HSETNX", KEYS[1], ARGV[i], ARGV[i + 1]) end
end
redis.call("HINCRBY", KEYS[1], "v", 1)
redis.call("EXPIRE", KEYS[1], ARGV[1])
redis.call("ZADD", KEYS[3], tonumber(ARGV[5]) + tonumber(ARGV[1]), KEYS[1])
local cached = redis.call("SMEMBERS", KEYS[2])
for _, k in ipairs(cached) do redis.call("DEL", k) end
redis.call("DEL", KEYS[2])
return redis.call("HGETALL", KEYS[1])
"""


class CreationLimit:
    """At most ``per_minute`` new sessions per client address in any minute (0: no limit), in this worker. It
    keeps one small entry per address seen in the last minute."""

    def __init__(self, per_minute: int):
        self.per_minute = per_minute
        self._seen: dict[str, list[float]] = {}
        self._lock = threading.Lock()

    def allow(self, client: str, now: float | None = None) -> bool:
        if self.per_minute <= 0:
            return True
        now = time.monotonic() if now is None else now
        with self._lock:
            if len(self._seen) > 10_000:  # forget the addresses quiet for a minute
                self._seen = {c: t for c, t in self._seen.items() if t and t[-1] > now - 60}
            recent = [t for t in self._seen.get(client, []) if t > now - 60]
            if len(recent) >= self.per_minute:
                self._seen[client] = recent
                return False
            self._seen[client] = [*recent, now]
            return True

    def retry_after(self, client: str, now: float | None = None) -> int:
        """Whole seconds until ``client`` may start a session again (0: now)."""
        now = time.monotonic() if now is None else now
        with self._lock:
            recent = [t for t in self._seen.get(client, []) if t > now - 60]
        if self.per_minute <= 0 or len(recent) < self.per_minute:
            return 0
        return max(1, math.ceil(recent[-self.per_minute] + 60 - now))
