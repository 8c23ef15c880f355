"""The BentoML service: one class, loaded once per worker, typed JSON APIs, and the web page under ``/ui``.

Environment: ``MOVIEREC_HOME`` (folder holding ``models/`` and ``data/``; default: the working directory),
``REDIS_URL`` (cache and sessions; default: in-process), ``QDRANT_URL`` (a Qdrant server; default: the
embedded Qdrant Edge index), ``MOVIEREC_WORKERS`` (server processes, default 1), ``MOVIEREC_CACHE_TTL`` and
``MOVIEREC_SESSION_TTL`` (seconds), ``MOVIEREC_NEW_SESSIONS_PER_MINUTE`` (per client address and worker; 0: no limit),
``MOVIEREC_MAX_SESSIONS`` (live visitor sessions in all, in Redis, or per worker without it; new ones past it get a 503),
``MOVIEREC_RANKER`` (``on``, the default: the learned ranker orders the two-tower's candidates; ``off``).
"""

from __future__ import annotations

import contextlib
import functools
import gc
import hashlib
import inspect
import logging
import os
import threading
from pathlib import Path
from typing import Annotated, Any, Callable, Iterator

for _var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
    os.environ.setdefault(_var, "1")  # one BLAS thread per worker: workers, not threads, use the cores

import bentoml  # noqa: E402
import orjson  # noqa: E402
from fastapi import FastAPI  # noqa: E402
from fastapi.responses import HTMLResponse  # noqa: E402
from starlette.responses import RedirectResponse, Response  # noqa: E402
from pydantic import BaseModel, BeforeValidator, Field  # noqa: E402
from pydantic.json_schema import models_json_schema  # noqa: E402

from movierec.errors import MovieRecError  # noqa: E402
from movierec.explanations import providers  # noqa: E402
from movierec.explanations.explainer import Explainer  # noqa: E402
from movierec.explanations.monitor import Monitor  # noqa: E402
from movierec.serving import answers  # noqa: E402
from movierec.serving.recommender import NotFoundError, Paths, Recommender  # noqa: E402
from movierec.serving.store import (  # noqa: E402
    MAX_SESSIONS, REMOVED, CreationLimit, Session, SessionFull, SessionNotFound, SessionUnavailable, Store,
    TooManySessions,
)  # fmt: skip

log = logging.getLogger("movierec.service")

# Strict JSON types: `true` is not user 1, "4" is not 4 stars, 0 is not false. Ids fit in 64 bits and every
# string is short, so that no input reaches the cache keys, the logs or an error message unbounded.
def _whole(value):
    """JSON Schema counts 41.0 as an integer: take it as 41 (and nothing else that is not an integer)."""
    return int(value) if isinstance(value, float) and value.is_integer() and abs(value) < 2**63 else value


Whole = BeforeValidator(_whole)
Stars = Annotated[float, Field(strict=True, ge=0.5, le=5.0, multiple_of=0.5, allow_inf_nan=False,
                                description="0.5 to 5.0 in half stars")]  # fmt: skip
K = Annotated[int, Field(strict=True, ge=1, le=100, description="how many recommendations"), Whole]
Genre = Annotated[str, Field(min_length=1, max_length=40)]
Genres = Annotated[list[Genre], Field(max_length=20, description="keep movies of any of these genres")]
Year = Annotated[int | None, Field(strict=True, ge=1800, le=2100), Whole]
MovieId = Annotated[int, Field(strict=True, ge=1, le=2**63 - 1), Whole]
Flag = Annotated[bool, Field(strict=True)]
MaybeFlag = Annotated[bool | None, Field(strict=True)]
Count = Annotated[int, Field(strict=True, ge=1, le=50), Whole]
SessionId = Annotated[str, Field(min_length=8, max_length=64, pattern=r"^[0-9a-f]+$")]
MAX_BODY = 64 * 1024  # bytes; the largest valid request (200 ratings, 20 genres) is under 10 KB
MAX_SESSION = 500  # ratings one visitor's session holds
UNAVAILABLE = ("the session store (Redis) is not answering and this server process holds no copy of the session: "
               "nothing was lost; try again in a moment")


class Rating(BaseModel):
    movie_id: MovieId
    rating: Stars


WEB = Path(__file__).parent / "web"
ui = FastAPI(title="movierec web page")


class ClientError(Exception):
    """A request the service cannot answer, and why: answered as ``{"error": message}`` with ``status`` (and
    ``headers``, such as a 429's ``Retry-After``)."""

    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None):
        super().__init__(message)
        self.status, self.headers = status, headers


def _error(status: int, message: str, headers: dict[str, str] | None = None) -> Response:
    return Response(orjson.dumps({"error": message}), status_code=status, media_type="application/json", headers=headers)


@contextlib.contextmanager
def _client_errors() -> Iterator[None]:
    """Our own errors are the client's: 404 for an unknown id, 400 for the rest, with their message."""
    try:
        yield
    except NotFoundError as e:
        raise ClientError(404, str(e)) from None
    except MovieRecError as e:
        raise ClientError(400, str(e)) from None


def _answers_client_errors(api: Callable) -> Callable:
    """A client's error is answered, not raised: one JSON object ``{"error": ...}`` (the shape of the
    framework's own validation errors), logged as one line at INFO rather than as a server error."""

    @functools.wraps(api)
    async def wrapper(*args, **kwargs):
        try:
            return await api(*args, **kwargs)
        except ClientError as e:
            log.info("client error %d on /%s: %s", e.status, api.__name__, e)
            ctx = kwargs.get("ctx")
            if ctx is not None:  # an API that takes the context answers with its status, not the response's
                ctx.response.status_code = e.status
            if ctx is not None and e.headers:
                ctx.response.headers.update(e.headers)
            return _error(e.status, str(e), e.headers)

    return wrapper


# what each API can refuse, beyond the 400 (bad input), 413, 415 (the gate) and 500 that every one can
REFUSALS = {"recommend": (404,), "similar": (404,), "demo": (404,), "rate": (404, 429, 503), "unrate": (404, 503),
            "session": (404, 503)}
PUBLISHED: dict[str, bytes] = {}  # the OpenAPI document as served, built once per worker


def publish(genres: list[str], profiles: list[str]) -> bytes:
    """The framework's OpenAPI document, made true to the service: every refusal in the one ``Error`` shape
    with each status an API can answer, ``genres`` limited to the catalogue's own and ``profile`` to the demo
    profiles' keys."""
    spec = MovieRec.openapi_spec.asdict()
    schemas = spec["components"]["schemas"]
    for name in [n for n in schemas if n.endswith("IODescriptor")] + ["InvalidArgument", "NotFound", "InternalServerError"]:
        del schemas[name]  # the framework's flattened copies of the answers, and its error shapes
    returns = {api.name: inspect.signature(api.func, eval_str=True).return_annotation for api in MovieRec.apis.values()}
    refs, defs = models_json_schema([(m, "validation") for m in {*returns.values(), answers.Error}],
                                    ref_template="#/components/schemas/{model}")  # fmt: skip
    schemas.update(defs["$defs"])
    error = {"application/json": {"schema": refs[answers.Error, "validation"]}}
    phrases = {400: "Bad request", 404: "Unknown id", 413: "Body too large", 415: "Not JSON",
               429: "Too many new sessions", 500: "Server error", 503: "Session store unavailable"}  # fmt: skip
    for api in MovieRec.apis.values():
        post = spec["paths"][api.route]["post"]
        # the framework inlines a flattened copy of the input (its optional fields lose their `null`): use the whole one
        inputs = schemas[f"{api.name}__Input"]
        post["requestBody"] = {"content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{api.name}__Input"}}},
                               "required": bool(inputs.get("required"))}  # fmt: skip
        ok = {"description": "The answer", "content": {"application/json": {"schema": refs[returns[api.name], "validation"]}}}
        post["responses"] = {"200": ok} | {str(status): {"description": phrases[status], "content": error}
                                           for status in sorted((400, 413, 415, 500, *REFUSALS.get(api.name, ())))}  # fmt: skip
    for schema in _objects(spec):
        genre = schema.get("properties", {}).get("genres", {}).get("items")
        if isinstance(genre, dict) and genre.get("type") == "string":
            genre["enum"] = list(genres)
    schemas["demo__Input"]["properties"]["profile"]["enum"] = list(profiles)
    spec["openapi"] = "3.1.0"  # the schemas are pydantic's JSON Schema, where an optional field is `{"type": "null"}`
    return orjson.dumps(spec)


def _objects(tree) -> Iterator[dict]:
    """Every JSON object in ``tree``, depth first."""
    if isinstance(tree, dict):
        yield tree
        for value in tree.values():
            yield from _objects(value)
    elif isinstance(tree, list):
        for value in tree:
            yield from _objects(value)


class RequestGate:
    """ASGI middleware in front of every API: a POST body must be JSON (``application/json``: a web page on
    another site cannot send that without a CORS preflight, which the service does not grant) of at most
    ``max_body`` bytes. Anything else is refused before it is read or parsed. ``GET /`` leads to the web page."""

    def __init__(self, app, max_body: int = MAX_BODY):
        self.app, self.max_body = app, max_body

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] == "http":
            send = _json_refusals(scope, send)
        if scope["type"] == "http" and scope["method"] in ("GET", "HEAD") and scope["path"] == "/":
            # the framework's page here loads a third-party tag manager: send visitors to ours, which is offline
            return await RedirectResponse("/ui/", status_code=307)(scope, receive, send)
        if scope["type"] == "http" and scope["path"] == "/docs.json" and "body" in PUBLISHED:
            return await Response(PUBLISHED["body"], media_type="application/json")(scope, receive, send)
        if scope["type"] != "http" or scope["method"] != "POST":
            return await self.app(scope, receive, send)
        headers = dict(scope["headers"])
        bodiless = headers.get(b"content-length", b"0").strip() == b"0" and b"transfer-encoding" not in headers
        if b"content-type" not in headers and bodiless:  # no body: an API's defaults, as for `{}`
            return await self.app(scope, receive, send)
        if headers.get(b"content-type", b"").split(b";")[0].strip().lower() != b"application/json":
            return await _error(415, "send the request body as JSON, with Content-Type: application/json")(scope, receive, send)
        too_large = _error(413, f"a request body holds at most {self.max_body:,} bytes")
        length = headers.get(b"content-length")
        if length is not None:
            if not length.strip().isdigit() or int(length) > self.max_body:
                return await too_large(scope, receive, send)
            return await self.app(scope, receive, send)
        body = bytearray()  # chunked: read it here, counting, then hand it on whole
        while True:
            message = await receive()
            if message["type"] != "http.request":
                return
            body += message.get("body", b"")
            if len(body) > self.max_body:
                return await too_large(scope, receive, send)
            if not message.get("more_body"):
                break
        handed = False

        async def replay():
            nonlocal handed
            if handed:
                return await receive()
            handed = True
            return {"type": "http.request", "body": bytes(body), "more_body": False}

        return await self.app(scope, replay, send)


def _json_refusals(scope, send):
    """``send`` with the framework's plain-text 404 and 405 answered in the one error shape instead."""
    held: dict = {}

    async def wrapped(message) -> None:
        if message["type"] == "http.response.start" and message["status"] in (404, 405):
            headers = dict(message.get("headers", []))
            if not headers.get(b"content-type", b"").startswith(b"application/json"):
                held.update(status=message["status"], allow=headers.get(b"allow"))
                return
        if message["type"] == "http.response.body" and held:
            if message.get("more_body"):
                return
            where = f"{scope['method']} {scope['path'][:200]}"
            text = (f"{where}: no such path; the APIs are listed at /docs.json" if held["status"] == 404 else
                    f"{where}: method not allowed here" + (f"; use {held['allow'].decode()}" if held["allow"] else ""))
            body = orjson.dumps({"error": text})
            headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
            headers += [(b"allow", held["allow"])] if held["allow"] else []
            await send({"type": "http.response.start", "status": held["status"], "headers": headers})
            return await send({"type": "http.response.body", "body": body})
        await send(message)

    return wrapped


class _ClientErrorsAtInfo(logging.Filter):
    """The framework logs a request that fails validation at ERROR with a traceback: one line at INFO instead."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        client = exc is not None and (type(exc).__name__ == "ValidationError"
                                      or getattr(getattr(exc, "error_code", None), "value", 500) < 500)  # fmt: skip
        if client:
            where = record.args[0] if isinstance(record.args, tuple) and record.args else "?"
            record.levelno, record.levelname = logging.INFO, "INFO"
            record.msg, record.args = "client error on %s: %s", (where, str(exc).splitlines()[0][:200])
            record.exc_info, record.exc_text = None, None
        return True


logging.getLogger("bentoml._internal.server.http_app").addFilter(_ClientErrorsAtInfo())


def _answer(version: str, fn: Callable[[], dict]) -> bytes:
    """Run ``fn`` and encode its answer with the model version (JSON bytes); never a 500 for bad input."""
    with _client_errors():
        out = fn()
    return _encode(version, out)


def _encode(version: str, out: dict) -> bytes:
    out["model_version"] = version
    return orjson.dumps(out, option=orjson.OPT_NON_STR_KEYS)  # a tenth of json.dumps's time here


_FROZEN = False
_ANSWERS = 0
FULL_GC_EVERY_S = 600.0
YOUNG_GC_EVERY = 64  # answers between two collections of the young generations


def _tame_the_collector() -> None:
    """Keep long garbage collections off the request path.

    A worker holds hundreds of thousands of long-lived objects (model, index, catalogue, the framework's app)
    and, under load, tens of thousands more that live for a few seconds (BentoML keeps each request's
    timeout timer, future, context and trace span, about 20 objects, until its timeout passes, hence a 10 s
    timeout rather than 30+). CPython's full collections scanned them all, up to ~190 ms, about once a second at
    1,000 requests/s: a constant endpoint showed a p99 of 43 ms, 2.3 ms with the collector off. So: freeze what
    exists at the first answer (never scanned again), and run the full collection every 10 minutes instead of
    by allocation count.

    The young collections need help too: CPython starts one when allocations outnumber deallocations by 700,
    and under a steady load the objects of requests 10 s old die as fast as new ones are made, so the young
    generation grew to 50,000-160,000 objects before a collection came, a pause of 40-130 ms (uncached
    recommendations at 8 connections: p99 80-140 ms against a p50 of 8 ms). Collecting the young generations
    every ``YOUNG_GC_EVERY`` answers keeps each pause near a millisecond for the same total work.
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(700, 10, 1_000_000)  # gen2 by allocation count: practically never

    def full_collection() -> None:
        gc.collect()
        timer = threading.Timer(FULL_GC_EVERY_S, full_collection)
        timer.daemon = True
        timer.start()

    timer = threading.Timer(FULL_GC_EVERY_S, full_collection)
    timer.daemon = True
    timer.start()


def _json(body: bytes) -> Response:
    global _FROZEN, _ANSWERS
    if not _FROZEN:
        _tame_the_collector()
        _FROZEN = True
    _ANSWERS += 1
    if _ANSWERS % YOUNG_GC_EVERY == 0:
        gc.collect(1)  # the young generations; what survives moves to the old one, which only the timer scans
    return Response(body, media_type="application/json")


# The new-session limit counts per client address. Behind a reverse proxy every request comes from the proxy, which
# names the client in X-Forwarded-For: that header is believed only from the proxies named here (addresses or
# networks, comma-separated), by no one when unset. (The server reads FORWARDED_ALLOW_IPS when a worker starts.)
os.environ["FORWARDED_ALLOW_IPS"] = os.environ.get("MOVIEREC_TRUSTED_PROXIES", "")

WORKERS = int(os.environ.get("MOVIEREC_WORKERS", "1"))
if WORKERS > 1 and not os.environ.get("REDIS_URL"):
    # sessions (and the cache) would live in each worker's own memory, and a visitor's next request would land
    # on whichever worker accepts it: their session would come and go
    raise MovieRecError(f"MOVIEREC_WORKERS={WORKERS} needs REDIS_URL, where every worker keeps the visitors' sessions: "
                        "start redis-server and set REDIS_URL=redis://localhost:6379/0, or run one worker")


@bentoml.service(name="movierec", workers=WORKERS, traffic={"timeout": 10})
@bentoml.asgi_app(ui, path="/ui")
class MovieRec:
    def __init__(self) -> None:
        root = Path(os.environ.get("MOVIEREC_HOME", "."))
        self.rec = Recommender(Paths.under(root))
        self.store = Store(os.environ.get("REDIS_URL") or None,
                           cache_ttl=float(os.environ.get("MOVIEREC_CACHE_TTL", 300)),
                           session_ttl=float(os.environ.get("MOVIEREC_SESSION_TTL", 86_400)),
                           max_sessions=int(os.environ.get("MOVIEREC_MAX_SESSIONS", MAX_SESSIONS)))  # fmt: skip
        self.new_sessions = CreationLimit(int(os.environ.get("MOVIEREC_NEW_SESSIONS_PER_MINUTE", 30)))
        self.model_version = self.rec.version
        provider = providers.from_environment()
        monitor = Monitor(provider.name if provider else "template", provider.model if provider else "template",
                          float(os.environ.get("MOVIEREC_LLM_PRICE_IN", 0)), float(os.environ.get("MOVIEREC_LLM_PRICE_OUT", 0)))
        self.explainer = Explainer(provider, self.store, monitor, set(self.rec.genres), self.model_version,
                                   budget_s=float(os.environ.get("MOVIEREC_EXPLAIN_BUDGET_MS", 0)) / 1000,
                                   ttl_s=float(os.environ.get("MOVIEREC_EXPLAIN_TTL", 7 * 86_400)))  # fmt: skip
        self._cache_version = f"{self.model_version}:{self.rec.ranker_version}:{monitor.provider}:{monitor.model}"  # answers differ by explainer
        self._version_body = orjson.dumps({"model_version": self.model_version})
        PUBLISHED["body"] = publish(self.rec.genres, sorted(self.rec.profiles))
        log.info("movierec %s: %d movies, %d known users, cache %s, explanations by %s", self.model_version,
                 len(self.rec.movie_ids), len(self.rec.user_idx), self.store.backend, monitor.model)  # fmt: skip

    @bentoml.on_shutdown
    def close(self) -> None:
        """Write the cache entries still waiting for a round trip to Redis."""
        self.explainer.close()
        self.store.close()

    # ----- cached helpers ------------------------------------------------------------------------------
    async def _cached(self, endpoint: str, request: dict, fn: Callable[[], dict], session_id: str | None = None,
                      fresh: bool = False) -> Response:  # fmt: skip
        """Answer from the cache, else compute (its explanations within their budget) and cache; ``fresh``:
        known not to be cached (skip the lookup). An answer with explanations still on their way is not
        cached: the next request gets them."""
        key = self.store.cache_key(self._cache_version, endpoint, request)
        hit = None if fresh else self.store.cache_get(key)
        if hit is not None:
            return _json(b'{"cached":true,' + hit[1:])
        with _client_errors():
            out = fn()
        partial = await self.explainer.explain(out.get("items", ()))
        body = _encode(self.model_version, out)
        if not partial:
            self.store.cache_set(key, body, session_id)
        return _json(b'{"cached":false,' + body[1:])

    # ----- APIs ---------------------------------------------------------------------------------------
    @bentoml.api
    @_answers_client_errors
    async def version(self) -> answers.Version:
        """The model version; constant, so it also measures the framework's own overhead."""
        return _json(self._version_body)

    @bentoml.api
    @_answers_client_errors
    async def ping(self) -> answers.Ping:
        """A constant encoded by BentoML itself from its model (benchmark reference)."""
        return answers.Ping(ok=True)

    @bentoml.api
    @_answers_client_errors
    async def recommend(self, user_id: MovieId, k: K = 10, genres: Genres = [], year_min: Year = None,
                        year_max: Year = None, explain: MaybeFlag = None) -> answers.ForUser:  # noqa: B006  # fmt: skip
        """Recommendations for a known user: movies they rated are excluded. ``explain`` left out: explained
        for a rich profile (50 ratings or more)."""
        req = {"user_id": user_id, "k": k, "genres": sorted(genres), "year_min": year_min, "year_max": year_max,
               "explain": explain}  # fmt: skip
        return await self._cached("recommend", req, lambda: self.rec.for_user(user_id, k, genres, year_min, year_max, explain))

    @bentoml.api
    @_answers_client_errors
    async def similar(self, movie_id: MovieId, k: K = 10) -> answers.Similar:
        """Movies nearest to one movie in the model's space."""
        return _json(_answer(self.model_version, lambda: self.rec.similar(movie_id, k)))

    @bentoml.api
    @_answers_client_errors
    async def search(self, query: Annotated[str, Field(min_length=1, max_length=200)],
                     limit: Count = 10) -> answers.Found:  # fmt: skip
        """Movies whose title contains ``query`` (case-insensitive), title starts first, then most rated."""
        return _json(_answer(self.model_version, lambda: self.rec.search(query, limit)))

    @bentoml.api
    @_answers_client_errors
    async def onboarding(self, n: Count = 15) -> answers.Onboarding:
        """Movies to ask a new visitor to rate: popular, spread over genres and decades."""
        return _json(_answer(self.model_version, lambda: self.rec.onboarding(n)))

    @bentoml.api
    @_answers_client_errors
    async def popular(self, k: K = 10, genres: Genres = [], year_min: Year = None, year_max: Year = None) -> answers.Recommendations:  # noqa: B006
        """The most rated movies, labelled as such: what a visitor with no ratings sees."""
        req = {"k": k, "genres": sorted(genres), "year_min": year_min, "year_max": year_max}
        return await self._cached("popular", req, lambda: self.rec.popular(k, genres, year_min, year_max))

    @bentoml.api
    @_answers_client_errors
    async def trending(self, k: K = 10, genres: Genres = [], year_min: Year = None, year_max: Year = None) -> answers.Recommendations:  # noqa: B006
        """Trending now: the most rated movies over the data's latest weeks, labelled as such (a visitor's first view)."""
        req = {"k": k, "genres": sorted(genres), "year_min": year_min, "year_max": year_max}
        return await self._cached("trending", req, lambda: self.rec.trending(k, genres, year_min, year_max))

    @bentoml.api
    @_answers_client_errors
    async def rate(self, ratings: Annotated[list[Rating], Field(min_length=1, max_length=200)],
                   session_id: SessionId | None = None, k: K = 10, genres: Genres = [], year_min: Year = None,
                   year_max: Year = None, explain: Flag = True, ctx: bentoml.Context = None) -> answers.ForSession:  # noqa: B006  # fmt: skip
        """A visitor rates movies (a new session, or more ratings on ``session_id``) and gets recommendations
        from the user tower at once. A later rating of the same movie replaces the earlier one."""
        with _client_errors():  # before anything is stored
            self.rec.check_filters(genres, year_min, year_max)
        if session_id is not None:  # said first; the merge checks again
            try:
                unknown = self.store.session_get(session_id) is None
            except SessionUnavailable:  # the merge below takes the ratings all the same
                unknown = False
            if unknown:
                raise ClientError(404, f"unknown or expired session_id {session_id}: start a new one by leaving it out")
        for r in ratings:
            if r.movie_id not in self.rec.movie_idx:
                raise ClientError(404, f"unknown movie_id {r.movie_id}: search by title to find a movie's id")
        new = session_id is None
        if new:
            client = ctx.request.client.host if ctx is not None and ctx.request.client else "?"
            if not self.new_sessions.allow(client):
                wait = self.new_sessions.retry_after(client)
                raise ClientError(429, f"at most {self.new_sessions.per_minute} new sessions a minute from one address: "
                                       f"keep rating on your session_id, or try again in {wait} s",
                                  {"Retry-After": str(wait)})  # fmt: skip
            session_id = self.store.new_session_id()
        try:  # one atomic merge: concurrent ratings of one session all land
            session = self.store.session_rate(session_id, {r.movie_id: r.rating for r in ratings}, new, MAX_SESSION)
        except SessionNotFound:
            raise ClientError(404, f"unknown or expired session_id {session_id}: start a new one by leaving it out") from None
        except SessionFull as e:
            raise ClientError(400, f"a session holds at most {MAX_SESSION} ratings; this one would hold {e.args[0]}") from None
        except SessionUnavailable:
            raise ClientError(503, UNAVAILABLE) from None
        except TooManySessions as e:
            raise ClientError(503, f"the service holds as many visitor sessions as it may ({e.args[0]:,}): try again "
                                   "later, as unused sessions expire") from None  # fmt: skip
        return await self._session_answer(session_id, session, k, genres, year_min, year_max, explain, fresh=True)

    @bentoml.api
    @_answers_client_errors
    async def unrate(self, session_id: SessionId, movie_ids: Annotated[list[MovieId], Field(min_length=1, max_length=200)],
                     k: K = 10, genres: Genres = [], year_min: Year = None, year_max: Year = None,
                     explain: Flag = True) -> answers.ForSession:  # noqa: B006  # fmt: skip
        """Take ratings back: the session forgets these movies' ratings (one it does not hold is no error) and
        answers with recommendations from the ratings left."""
        with _client_errors():
            self.rec.check_filters(genres, year_min, year_max)
        expired = f"unknown or expired session_id {session_id}: rate movies through /rate to start one"
        if self._session(session_id) is None:
            raise ClientError(404, expired)
        for m in movie_ids:
            if m not in self.rec.movie_idx:
                raise ClientError(404, f"unknown movie_id {m}: search by title to find a movie's id")
        try:
            session = self.store.session_rate(session_id, {m: REMOVED for m in movie_ids}, False, MAX_SESSION)
        except SessionNotFound:
            raise ClientError(404, expired) from None
        except SessionUnavailable:
            raise ClientError(503, UNAVAILABLE) from None
        return await self._session_answer(session_id, session, k, genres, year_min, year_max, explain, fresh=True)

    @bentoml.api
    @_answers_client_errors
    async def session(self, session_id: SessionId, k: K = 10, genres: Genres = [], year_min: Year = None,
                      year_max: Year = None, explain: Flag = True) -> answers.ForSession:  # noqa: B006  # fmt: skip
        """Recommendations for an existing session (cached until the session rates again)."""
        session = self._session(session_id)
        if session is None:
            raise ClientError(404, f"unknown or expired session_id {session_id}: rate movies through /rate to start one")
        return await self._session_answer(session_id, session, k, genres, year_min, year_max, explain)

    def _session(self, session_id: str) -> Session | None:
        try:
            return self.store.session_get(session_id)
        except SessionUnavailable:
            raise ClientError(503, UNAVAILABLE) from None

    async def _session_answer(self, session_id: str, session: Session, k, genres, year_min, year_max, explain,
                        fresh: bool = False) -> Response:  # fmt: skip
        # the ratings themselves (a digest) in the key: an answer is only ever served for the ratings it was
        # computed from, whichever worker or store held them
        digest = hashlib.sha1(orjson.dumps(sorted(session.ratings.items()))).hexdigest()
        req = {"session_id": session_id, "ratings": digest, "k": k, "genres": sorted(genres),
               "year_min": year_min, "year_max": year_max, "explain": explain}  # fmt: skip
        merged = session.ratings

        def run() -> dict:
            out = self.rec.for_ratings(merged, k, genres, year_min, year_max, explain)
            n = len(merged)
            advice = None if n >= 10 else f"{n} rated so far: rate {10 - n} more for better picks (10 to 15 is best)."
            if session.partial:
                advice = (f"the session store is not answering: these picks use the {n} ratings this server has "
                          "seen; the others are kept, and all are merged back once it answers")  # fmt: skip
            return {**out, "session_id": session_id, "n_ratings": n, "advice": advice}

        return await self._cached("session", req, run, session_id=session_id, fresh=fresh)

    @bentoml.api
    @_answers_client_errors
    async def demo_profiles(self) -> answers.Profiles:
        """The demo profiles: real users of the dataset chosen by their ratings."""
        return _json(_answer(self.model_version, lambda: {"profiles": list(self.rec.profiles.values())}))

    @bentoml.api
    @_answers_client_errors
    async def demo(self, profile: Annotated[str, Field(min_length=1, max_length=40)], k: K = 10,
                   explain: Flag = True) -> answers.ForProfile:  # fmt: skip
        """Instant recommendations for a demo profile, with explanations."""
        return await self._cached("demo", {"profile": profile, "k": k, "explain": explain},
                            lambda: self.rec.demo(profile, k, explain))  # fmt: skip

    @bentoml.api
    @_answers_client_errors
    async def explanation(self, key: Annotated[str, Field(min_length=20, max_length=400, pattern=r"^movierec:explain:")],
                          wait_ms: Annotated[int, Field(strict=True, ge=0, le=8_000), Whole] = 5_000) -> answers.Explanation:  # fmt: skip
        """The model's text for an item's ``explanation_key`` (a list answers at once with the template while
        the model writes), waiting at most ``wait_ms`` for it (ask again while ``pending``; the framework ends
        any request at 10 s)."""
        if self.explainer.provider is None:  # no model writes here: the template is the text
            return _json(orjson.dumps({"key": key, "status": "template", "explanation": None}))
        text = await self.explainer.wait(key, wait_ms / 1000)
        status = "pending" if text is None else "written" if text else "template"
        return _json(orjson.dumps({"key": key, "status": status, "explanation": text or None}))

    @bentoml.api
    @_answers_client_errors
    async def explanations(self) -> answers.ExplanationReport:
        """Today's explanations in this server process (UTC): how many were generated, served from the cache or
        fell back to the template and why, their latency, tokens, spend and the month's projected cost."""
        return _json(orjson.dumps(self.explainer.monitor.report()))

    # ----- web page and health (GET) --------------------------------------------------------------------
    @ui.api_route("/", methods=["GET", "HEAD"], response_class=HTMLResponse)
    def page(self) -> str:
        return (WEB / "index.html").read_text(encoding="utf-8")

    @ui.get("/health")
    def health(self) -> dict[str, Any]:
        return {"status": "ok", "model_version": self.model_version, "movies": len(self.rec.movie_ids),
                "indexed": self.rec.index.count(), "cache": self.store.backend}  # fmt: skip


MovieRec.add_asgi_middleware(RequestGate, max_body=MAX_BODY)
