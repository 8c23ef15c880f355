"""The real service: `bentoml serve` over HTTP with a real `redis-server` behind it."""

import json

import numpy as np
import pandas as pd
import pytest
import redis

pytestmark = pytest.mark.slow


def _user(project):
    r = pd.read_parquet(project / "data" / "prepared" / "train.parquet")
    uid = int(r["userId"].value_counts().index[0])
    seen = set()
    for s in ("train", "val", "test"):
        d = pd.read_parquet(project / "data" / "prepared" / f"{s}.parquet")
        seen |= set(d.loc[d["userId"] == uid, "movieId"].tolist())
    return uid, seen


def test_health_and_version(server):
    status, body = server.get("/ui/health")
    health = json.loads(body)
    assert status == 200 and health["status"] == "ok" and health["cache"] == "redis"
    assert health["movies"] == health["indexed"] == 400
    assert server.post("/version") == (200, {"model_version": health["model_version"]})
    assert server.post("/ping") == (200, {"ok": True})


def test_recommend_known_user_excludes_seen_and_is_cached_in_redis(server, project, redis_server):
    uid, seen = _user(project)
    body = {"user_id": uid, "k": 15, "explain": True}
    status, first = server.post("/recommend", body)
    assert status == 200 and first["cached"] is False and first["model_version"].startswith("two_tower-")
    assert len(first["items"]) == 15 and not seen & {m["movie_id"] for m in first["items"]}
    assert all({"movie_id", "title", "genres", "year", "score", "explanation"} <= set(m) for m in first["items"])
    status, second = server.post("/recommend", body)
    assert status == 200 and second["cached"] is True and second["items"] == first["items"]
    keys = redis.Redis.from_url(redis_server.url).keys(f"movierec:rec:{first['model_version']}:ranker-*:template:template:recommend:*")
    assert keys


def test_filters(server, project):
    uid, _ = _user(project)
    status, out = server.post("/recommend", {"user_id": uid, "k": 10, "genres": ["Drama", "Comedy"],
                                             "year_min": 1990, "year_max": 2005})  # fmt: skip
    assert status == 200 and out["items"]
    assert all({"Drama", "Comedy"} & set(m["genres"]) and 1990 <= m["year"] <= 2005 for m in out["items"])


@pytest.mark.parametrize(
    "path, body, code, says",
    [
        ("/recommend", {"user_id": 10**8}, 404, "unknown user_id"),
        ("/recommend", {"user_id": 1, "k": 0}, 400, "greater than or equal to 1"),
        ("/recommend", {"user_id": 1, "k": 101}, 400, "less than or equal to 100"),
        ("/recommend", {"user_id": 1, "genres": ["Nope"]}, 400, "unknown genre"),
        ("/recommend", '{"user_id": 1,', 400, "Invalid JSON"),
        ("/rate", {"ratings": []}, 400, "at least 1 item"),
        ("/rate", {"ratings": [{"movie_id": 1, "rating": 5.5}]}, 400, "less than or equal to 5"),
        ("/rate", {"ratings": [{"movie_id": 1, "rating": 3.3}]}, 400, "multiple of 0.5"),
        ("/rate", '{"ratings": [{"movie_id": 1, "rating": NaN}]}', 400, "finite number"),
        ("/unrate", {"session_id": "0123456789abcdef", "movie_ids": [1]}, 404, "unknown or expired"),
        ("/rate", {"ratings": [{"movie_id": 1, "rating": 4}] * 201}, 400, "at most 200 items"),
        ("/rate", {"ratings": [{"movie_id": 10**8, "rating": 4}]}, 404, "unknown movie_id"),
        ("/rate", {"ratings": [{"movie_id": 1, "rating": 4}], "session_id": "0123456789abcdef"}, 404, "unknown or expired"),
        ("/session", {"session_id": "not-hex!"}, 400, "pattern"),
        ("/similar", {"movie_id": 10**8}, 404, "unknown movie_id"),
        ("/search", {"query": ""}, 400, "at least 1 character"),
        ("/demo", {"profile": "nobody"}, 404, "unknown demo profile"),
    ],
)
def test_bad_input_gets_a_4xx_that_says_what_is_wrong(server, path, body, code, says):
    status, out = server.post(path, body)
    assert status == code, out
    assert says in json.dumps(out)


def test_refusals_of_the_framework_speak_json_and_the_page_answers_head(server):
    import urllib.error
    import urllib.request

    for method, path, code in [("GET", "/no/such/path", 404), ("POST", "/no_such_api", 404), ("GET", "/recommend", 405)]:
        req = urllib.request.Request(server.base + path, method=method, data=b"{}" if method == "POST" else None,
                                     headers={"Content-Type": "application/json"})  # fmt: skip
        with pytest.raises(urllib.error.HTTPError) as e:
            urllib.request.urlopen(req, timeout=10)
        assert e.value.code == code and e.value.headers["Content-Type"] == "application/json"
        assert set(json.loads(e.value.read())) == {"error"}
    head = urllib.request.urlopen(urllib.request.Request(server.base + "/ui/", method="HEAD"), timeout=10)
    assert head.status == 200 and head.read() == b""
    status, empty = server.post("/recommend", {"user_id": 1, "year_min": 2000, "year_max": 1990})
    assert status == 200 and empty["items"] == []  # a range no year is in: nothing to recommend, no error


def test_onboarding_flow_with_a_session(server):
    status, onb = server.post("/onboarding", {"n": 15})
    assert status == 200 and len(onb["items"]) == 15
    first = [{"movie_id": m["movie_id"], "rating": 5.0} for m in onb["items"][:3]]
    status, a = server.post("/rate", {"ratings": first, "k": 10})
    assert status == 200 and a["n_ratings"] == 3 and "rate 7 more" in a["advice"]
    assert a["journey"] == {"stage": "learning", "label": "Learning your taste", "n_ratings": 3, "strength": 0.06}
    sid = a["session_id"]
    status, cached = server.post("/session", {"session_id": sid, "k": 10})
    assert status == 200 and cached["cached"] is True and cached["items"] == a["items"]
    more = [{"movie_id": m["movie_id"], "rating": 1.0} for m in onb["items"][3:12]]
    status, b = server.post("/rate", {"session_id": sid, "ratings": more, "k": 10})
    assert status == 200 and b["n_ratings"] == 12 and b["advice"] is None and b["cached"] is False
    rated = {m["movie_id"] for m in onb["items"][:12]}
    assert not rated & {m["movie_id"] for m in b["items"]}
    status, after = server.post("/session", {"session_id": sid, "k": 10})
    assert after["items"] == b["items"], "the session's older cached answer was invalidated"
    status, bad = server.post("/rate", {"session_id": sid, "ratings": first[:1], "genres": ["Nope"]})
    assert status == 400 and "unknown genre" in json.dumps(bad)
    assert server.post("/session", {"session_id": sid})[1]["n_ratings"] == 12  # the bad request stored nothing


def test_a_rating_can_be_taken_back(server):
    status, onb = server.post("/onboarding", {"n": 15})
    ratings = [{"movie_id": m["movie_id"], "rating": 4.5} for m in onb["items"][:4]]
    status, a = server.post("/rate", {"ratings": ratings, "k": 10})
    sid, gone = a["session_id"], ratings[0]["movie_id"]
    status, b = server.post("/unrate", {"session_id": sid, "movie_ids": [gone], "k": 10})
    assert status == 200 and b["n_ratings"] == 3 and b["cached"] is False
    assert server.post("/session", {"session_id": sid, "k": 10})[1]["items"] == b["items"]  # a's answer is dropped
    # recommended as if the rating had never been given
    status, fresh = server.post("/rate", {"ratings": ratings[1:], "k": 10})
    assert [m["movie_id"] for m in b["items"]] == [m["movie_id"] for m in fresh["items"]]
    assert server.post("/unrate", {"session_id": sid, "movie_ids": [gone], "k": 10})[1]["n_ratings"] == 3  # again: no error
    assert server.post("/rate", {"session_id": sid, "ratings": ratings[:1]})[1]["n_ratings"] == 4  # and rated again
    assert server.post("/unrate", {"session_id": "0123456789abcdef", "movie_ids": [gone]})[0] == 404
    assert server.post("/unrate", {"session_id": sid, "movie_ids": [10**8]})[0] == 404
    assert server.post("/unrate", {"session_id": sid, "movie_ids": []})[0] == 400


def test_popular_similar_search_and_demo(server, project):
    status, pop = server.post("/popular", {"k": 5})
    assert status == 200 and pop["source"] == "popular" and len(pop["items"]) == 5
    status, trend = server.post("/trending", {"k": 5})  # a visitor's first view: the data's latest weeks
    trending = json.loads((project / "data" / "index" / "trending.json").read_text())
    assert status == 200 and trend["source"] == "trending" and "Trending now" in trend["label"]
    assert [m["movie_id"] for m in trend["items"]] == trending["movie_ids"][:5]
    status, sim = server.post("/similar", {"movie_id": pop["items"][0]["movie_id"], "k": 5})
    assert status == 200 and len(sim["items"]) == 5
    word = pop["items"][0]["title"].split()[0]
    status, found = server.post("/search", {"query": word})
    assert status == 200 and pop["items"][0]["movie_id"] in [m["movie_id"] for m in found["items"]]
    status, profiles = server.post("/demo_profiles")
    assert status == 200 and len(profiles["profiles"]) == 4
    status, demo = server.post("/demo", {"profile": "harsh_critic", "k": 5})
    assert status == 200 and demo["profile"]["key"] == "harsh_critic" and len(demo["items"]) == 5


def _raw(server, path: str, data: bytes, content_type: str | None) -> tuple[int, bytes]:
    import urllib.error
    import urllib.request

    headers = {"Content-Type": content_type} if content_type else {}
    req = urllib.request.Request(server.base + path, data=data, method="POST", headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def test_abuse_gets_a_4xx_never_a_500_and_one_log_line(server, project):
    uid, _ = _user(project)
    status, out = server.post("/recommend", {"user_id": 2**64})  # was a 500 (the cache key's 64-bit ints)
    assert status == 400 and "less than or equal to" in json.dumps(out)
    for body in ({"user_id": True}, {"user_id": "1"}, {"user_id": uid, "explain": 0}, {"user_id": uid, "k": 5.5}):
        assert server.post("/recommend", body)[0] == 400, body  # strict JSON types
    status, out = server.post("/recommend", {"user_id": uid, "k": 5.0})  # an integer, to JSON Schema
    assert status == 200 and len(out["items"]) == 5
    movie = server.post("/popular", {"k": 1})[1]["items"][0]["movie_id"]
    assert server.post("/rate", {"ratings": [{"movie_id": movie, "rating": "4"}]})[0] == 400
    assert server.post("/rate", {"ratings": [{"movie_id": movie, "rating": 4}]})[0] == 200  # a JSON integer is a number
    status, out = server.post("/recommend", {"user_id": 10**8})
    assert status == 404 and isinstance(out, dict) and "unknown user_id" in out["error"]  # one object, as validation's
    status, out = server.post("/recommend", {"user_id": 1, "k": 0})
    assert status == 400 and isinstance(out, dict) and out["error"] and out["detail"]

    body = json.dumps({"user_id": uid}).encode()
    for ctype in ("multipart/form-data", "text/plain", "application/x-www-form-urlencoded", None):
        status, raw = _raw(server, "/recommend", body, ctype)  # no boundary: was a 500 on every API
        assert status == 415 and b"application/json" in raw, ctype
    long_genres = json.dumps({"user_id": uid, "genres": ["x" * 3000] * 20}).encode()
    status, raw = _raw(server, "/recommend", long_genres, "application/json")
    assert status == 400 and len(raw) < 5_000  # the 60 KB of input is not echoed
    status, raw = _raw(server, "/recommend", b'{"user_id": 1, "pad": "' + b"x" * 70_000 + b'"}', "application/json")
    assert status == 413 and b"at most 65,536 bytes" in raw

    status, page = server.get("/")  # the framework's page loaded a third-party tag manager
    assert status == 200 and b"googletagmanager" not in page and page == server.get("/ui/")[1]

    log = server.log.read_text()
    assert "Exception on /recommend" not in log and "client error" in log  # one line at INFO, no traceback


def test_service_keeps_answering_when_redis_goes_away_and_recovers(server, project, redis_server):
    """Runs last in this module: it stops and restarts the shared redis-server."""
    uid, _ = _user(project)
    body = {"user_id": uid, "k": 7}
    assert server.post("/recommend", body)[0] == 200
    redis_server.stop()
    for _ in range(30):  # under load with Redis gone: every answer still a 200, computed afresh
        status, out = server.post("/recommend", body)
        assert status == 200 and out["cached"] is False and len(out["items"]) == 7
    status, rated = server.post("/rate", {"ratings": [{"movie_id": out["items"][0]["movie_id"], "rating": 4.5}]})
    assert status == 200, "sessions fall back to the worker's memory"
    assert "redis unavailable" in server.log.read_text()
    redis_server.start()
    import time

    deadline = time.monotonic() + 10
    cached = False
    while time.monotonic() < deadline and not cached:  # the outage back-off is about a second
        server.post("/recommend", body)
        cached = server.post("/recommend", body)[1]["cached"]
        time.sleep(0.2)
    assert cached, "the cache is used again once Redis is back"
    assert json.loads(server.get("/ui/health")[1])["cache"] == "redis"
    assert np.isfinite([m["score"] for m in out["items"]]).all()


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # BentoML's own, raised when the service module loads
def test_the_young_generations_are_collected_every_few_answers(monkeypatch):
    import gc

    from movierec.serving import service

    monkeypatch.setattr(service, "_FROZEN", True)  # not the worker's one-off freeze of everything alive
    monkeypatch.setattr(service, "_ANSWERS", 0)
    started = []

    def watch(phase, info):
        if phase == "start":
            started.append(info["generation"])

    gc.callbacks.append(watch)
    try:
        for _ in range(service.YOUNG_GC_EVERY - 1):
            service._json(b"{}")
        before = started.count(1)
        response = service._json(b'{"a":1}')
    finally:
        gc.callbacks.remove(watch)
    assert started.count(1) == before + 1 and response.body == b'{"a":1}'


def _asgi_call(gate, messages: list[dict], headers: list[tuple[bytes, bytes]]) -> tuple[int, bytes, list]:
    import asyncio

    seen, sent = [], []

    async def app(scope, receive, send):  # an API that echoes what it was given
        body = b""
        while True:
            m = await receive()
            body += m.get("body", b"")
            if not m.get("more_body"):
                break
        seen.append(body)
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": body})

    queue = list(messages)

    async def receive():
        return queue.pop(0) if queue else {"type": "http.disconnect"}

    async def send(message):
        sent.append(message)

    scope = {"type": "http", "method": "POST", "path": "/recommend", "headers": headers}
    asyncio.run(gate(app, 16)(scope, receive, send) if isinstance(gate, type) else gate(scope, receive, send))
    status = next(m["status"] for m in sent if m["type"] == "http.response.start")
    return status, b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body"), seen


def test_the_request_gate_counts_chunked_bodies_too():
    from movierec.serving.service import RequestGate

    json_ct = [(b"content-type", b"application/json; charset=utf-8")]
    chunks = [{"type": "http.request", "body": b'{"a":', "more_body": True},
              {"type": "http.request", "body": b"1}", "more_body": False}]  # fmt: skip
    status, body, seen = _asgi_call(RequestGate, chunks, json_ct)
    assert status == 200 and seen == [b'{"a":1}']  # handed on whole
    big = [{"type": "http.request", "body": b"x" * 10, "more_body": True}] * 3
    status, body, seen = _asgi_call(RequestGate, big, json_ct)
    assert status == 413 and seen == [] and b"at most 16 bytes" in body
    status, _, seen = _asgi_call(RequestGate, chunks[:1], json_ct + [(b"content-length", b"17")])
    assert status == 413 and seen == []
    status, _, seen = _asgi_call(RequestGate, chunks, [(b"content-type", b"text/plain")])
    assert status == 415 and seen == []


def test_several_workers_without_redis_are_refused_with_the_way_out(project, tmp_path):
    """Two workers with in-process sessions lost a visitor's session on every other request (404s): the
    server now refuses to start, and says what to do."""
    from tests.serving.conftest import start_server

    with pytest.raises(RuntimeError, match="MOVIEREC_WORKERS=2 needs REDIS_URL"):
        start_server(project, tmp_path / "serve.log", MOVIEREC_WORKERS="2")


def test_new_sessions_from_one_address_are_rate_limited(project, tmp_path):
    """20,000 /rate calls without a session_id made 60,000 Redis keys: new sessions are limited per address,
    and live sessions in all."""
    from tests.serving.conftest import start_server

    s = start_server(project, tmp_path / "serve.log", MOVIEREC_NEW_SESSIONS_PER_MINUTE="3", MOVIEREC_MAX_SESSIONS="2")
    try:
        movie = s.post("/popular", {"k": 1})[1]["items"][0]["movie_id"]
        rating = {"ratings": [{"movie_id": movie, "rating": 4.0}]}
        first = s.post("/rate", rating)
        assert first[0] == 200 and s.post("/rate", rating)[0] == 200
        status, out = s.post("/rate", rating)  # and in all: past the cap on live sessions
        assert status == 503 and "as many visitor sessions as it may (2)" in out["error"]
        status, out = s.post("/rate", rating)
        assert status == 429 and "at most 3 new sessions a minute" in out["error"]
        assert s.post("/rate", {**rating, "session_id": first[1]["session_id"]})[0] == 200  # rating on goes on
        # a 429 says when to come back; a client cannot dodge the limit by naming another address itself
        wait = _rate_with(s, rating, {"X-Forwarded-For": "203.0.113.9"})
        assert 1 <= int(wait.headers["Retry-After"]) <= 60 and f"try again in {wait.headers['Retry-After']} s" in wait.text
    finally:
        s.proc.terminate()
        s.proc.wait(15)
    # behind a proxy named in MOVIEREC_TRUSTED_PROXIES, the address it forwards is the one counted
    s = start_server(project, tmp_path / "proxied.log", MOVIEREC_NEW_SESSIONS_PER_MINUTE="1",
                     MOVIEREC_TRUSTED_PROXIES="127.0.0.1")  # fmt: skip
    try:
        assert [_rate_with(s, rating, {"X-Forwarded-For": f"203.0.113.{i}"}).code for i in (1, 2, 1)] == [200, 200, 429]
    finally:
        s.proc.terminate()
        s.proc.wait(15)


def _rate_with(server, body: dict, headers: dict):
    """POST /rate with extra headers: the answer with ``code``, ``headers`` and ``text``."""
    import types
    import urllib.error
    import urllib.request

    req = urllib.request.Request(server.base + "/rate", data=json.dumps(body).encode(), method="POST",
                                 headers={"Content-Type": "application/json", **headers})  # fmt: skip
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return types.SimpleNamespace(code=r.status, headers=r.headers, text=r.read().decode())
    except urllib.error.HTTPError as e:
        return types.SimpleNamespace(code=e.code, headers=e.headers, text=e.read().decode())


def test_explanations_written_by_an_openai_compatible_server_with_a_report(project, tmp_path):
    """The service with MOVIEREC_EXPLAINER=openai against a loopback chat server whose answers cite the user's
    own ratings: explained items say the text came from the model; a second request is served from the cache;
    /explanations counts it all. A server that fails gives the template, within the budget."""
    import re
    import time

    from tests.explanations.test_explainer import echo_chat
    from tests.serving.conftest import start_server

    chat = echo_chat()
    s = start_server(project, tmp_path / "serve.log", MOVIEREC_EXPLAINER="openai", MOVIEREC_OPENAI_MODEL="test",
                     OPENAI_BASE_URL=f"http://127.0.0.1:{chat.server_port}/v1", MOVIEREC_EXPLAIN_BUDGET_MS="3000",
                     MOVIEREC_LLM_PRICE_IN="1.0")  # fmt: skip
    try:
        uid, _ = _user(project)
        status, out = s.post("/recommend", {"user_id": uid, "k": 3, "explain": True})
        assert status == 200 and [m["explanation_source"] for m in out["items"]] == ["llm"] * 3, out
        assert all(m["explanation"].startswith("Because you rated") and "suit you well" in m["explanation"]
                   for m in out["items"])  # fmt: skip
        asked = len(chat.requests)
        status, again = s.post("/recommend", {"user_id": uid, "k": 3, "explain": True})
        assert again["items"] == out["items"] and len(chat.requests) == asked  # no new generation
        chat.script = "server_error"
        t = time.monotonic()
        status, failed = s.post("/recommend", {"user_id": uid, "k": 4, "explain": True})
        assert status == 200 and time.monotonic() - t < 3.0
        assert failed["items"][3]["explanation_source"] == "template"  # the one not generated before
        status, report = s.post("/explanations", {})
        assert status == 200 and report["provider"] == "openai" and report["generated"] == 3
        assert report["fallbacks"]["provider_error"] == 1 and report["tokens_in"] == 3 * 120 and report["spend"] > 0
        metrics = s.get("/metrics")[1].decode()  # and on Prometheus
        assert re.search(r'movierec_explanations_total\{[^}]*outcome="generated"[^}]*\} 3\.0', metrics), metrics[-3000:]
        assert "movierec_explanation_tokens_total" in metrics and "movierec_explanation_seconds_bucket" in metrics
    finally:
        chat.shutdown()
        s.proc.terminate()
        s.proc.wait(15)


def test_the_list_answers_at_once_and_the_page_asks_for_each_text(project, tmp_path):
    """With the default budget (none) a list no longer waits for the model: its items keep the template and
    carry `explanation_key`, and /explanation gives each text once written."""
    import time

    from tests.explanations.test_explainer import echo_chat
    from tests.serving.conftest import start_server

    chat = echo_chat(delay=0.8)
    s = start_server(project, tmp_path / "serve.log", MOVIEREC_EXPLAINER="openai", MOVIEREC_OPENAI_MODEL="test",
                     OPENAI_BASE_URL=f"http://127.0.0.1:{chat.server_port}/v1")  # fmt: skip
    try:
        uid, _ = _user(project)
        t = time.monotonic()
        status, out = s.post("/recommend", {"user_id": uid, "k": 3, "explain": True})
        assert status == 200 and time.monotonic() - t < 0.8  # before any text could be written
        assert [m["explanation_source"] for m in out["items"]] == ["template"] * 3
        for m in out["items"]:
            status, got = s.post("/explanation", {"key": m["explanation_key"], "wait_ms": 8000})
            assert status == 200 and got["status"] == "written" and got["explanation"].endswith("suit you well.")
        status, again = s.post("/recommend", {"user_id": uid, "k": 3, "explain": True})
        assert [m["explanation_source"] for m in again["items"]] == ["llm"] * 3  # written: from the cache now
        assert s.post("/explanation", {"key": "nonsense"})[0] == 400
    finally:
        chat.shutdown()
        s.proc.terminate()
        s.proc.wait(15)
