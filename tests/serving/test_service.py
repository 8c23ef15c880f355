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
    keys = redis.Redis.from_url(redis_server.url).keys(f"movierec:rec:{first['model_version']}:recommend:*")
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
        ("/recommend", {"user_id": 1, "year_min": 2000, "year_max": 1990}, 400, "after year_max"),
        ("/recommend", '{"user_id": 1,', 400, "Invalid JSON"),
        ("/rate", {"ratings": []}, 400, "at least 1 item"),
        ("/rate", {"ratings": [{"movie_id": 1, "rating": 5.5}]}, 400, "less than or equal to 5"),
        ("/rate", {"ratings": [{"movie_id": 1, "rating": 3.3}]}, 400, "multiple of 0.5"),
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


def test_onboarding_flow_with_a_session(server):
    status, onb = server.post("/onboarding", {"n": 15})
    assert status == 200 and len(onb["items"]) == 15
    first = [{"movie_id": m["movie_id"], "rating": 5.0} for m in onb["items"][:3]]
    status, a = server.post("/rate", {"ratings": first, "k": 10})
    assert status == 200 and a["n_ratings"] == 3 and "rate 7 more" in a["advice"]
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


def test_popular_similar_search_and_demo(server):
    status, pop = server.post("/popular", {"k": 5})
    assert status == 200 and pop["source"] == "popular" and len(pop["items"]) == 5
    status, sim = server.post("/similar", {"movie_id": pop["items"][0]["movie_id"], "k": 5})
    assert status == 200 and len(sim["items"]) == 5
    word = pop["items"][0]["title"].split()[0]
    status, found = server.post("/search", {"query": word})
    assert status == 200 and pop["items"][0]["movie_id"] in [m["movie_id"] for m in found["items"]]
    status, profiles = server.post("/demo_profiles")
    assert status == 200 and len(profiles["profiles"]) == 4
    status, demo = server.post("/demo", {"profile": "harsh_critic", "k": 5})
    assert status == 200 and demo["profile"]["key"] == "harsh_critic" and len(demo["items"]) == 5


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
