"""Benchmark: visitors keep rating through a Redis outage, and no rating is lost.

    python bench/bench_outage.py                  # about 3 minutes (builds a small served project once)
    python bench/bench_outage.py --duration 60 --clients 8

Builds a small served project from synthetic data (the stage scripts, as `dvc repro` runs them), starts a real
`redis-server` (no persistence) and `bentoml serve` with 2 workers and ``REDIS_URL``, then runs ``--clients``
threads for ``--duration`` seconds. Each client starts visitor sessions (``/rate`` with 3 ratings) and rates
movies one at a time on them, remembering every rating the service accepted (a 2xx). At 10 s Redis is paused
(SIGSTOP) for 10 s; at 35 s it is killed and started again 2 s later, empty. After the load, every session is
read back (``/session``) and its number of ratings compared with what its client saw accepted.

Prints a table and writes bench/results/outage.json.
"""

from __future__ import annotations

import argparse
import json
import random
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections import Counter, defaultdict
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from bench_serve import build_project, free_port, start_server, wait_ready  # noqa: E402

PHASES = [(0, "before"), (10, "redis paused"), (20, "after the pause"), (35, "redis killed"), (37, "restarted, empty")]


def phase_at(t: float) -> str:
    return [name for start, name in PHASES if t >= start][-1]


def post(base: str, path: str, body: dict) -> tuple[int, dict | None]:
    req = urllib.request.Request(base + path, json.dumps(body).encode(), {"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=15) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, None
    except OSError:
        return 0, None  # no answer at all


class Redis:
    def __init__(self, port: int):
        self.port, self.proc = port, None

    def start(self) -> None:
        self.proc = subprocess.Popen(["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
                                      "--appendonly", "no"], stdout=subprocess.DEVNULL)  # fmt: skip
        time.sleep(0.5)

    def signal(self, sig: int) -> None:
        self.proc.send_signal(sig)

    def kill(self) -> None:
        self.proc.kill()
        self.proc.wait(10)


def client(base: str, movies: list[int], until: float, t0: float, rng: random.Random, log: list, accepted: dict) -> None:
    session = None
    while time.monotonic() < until:
        t = time.monotonic()
        if session is None or rng.random() < 0.05:
            picks = {m: rng.choice([1.0, 2.5, 4.0, 5.0]) for m in rng.sample(movies, 3)}
            status, out = post(base, "/rate", {"ratings": [{"movie_id": m, "rating": r} for m, r in picks.items()],
                                               "k": 10, "explain": False})  # fmt: skip
            if 200 <= status < 300:
                session = out["session_id"]
                accepted[session] = dict(picks)
        else:
            m, r = rng.choice(movies), rng.choice([1.0, 2.5, 4.0, 5.0])
            status, _ = post(base, "/rate", {"session_id": session, "ratings": [{"movie_id": m, "rating": r}],
                                             "k": 10, "explain": False})  # fmt: skip
            if 200 <= status < 300:
                accepted[session][m] = r
        log.append((phase_at(t - t0), status, time.monotonic() - t))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default=str(HERE / ".data" / "outage-small"))
    ap.add_argument("--clients", type=int, default=8)
    ap.add_argument("--duration", type=float, default=60.0)
    ap.add_argument("--out", default=str(HERE / "results" / "outage.json"))
    args = ap.parse_args()
    root = Path(args.data)
    build_project(root, n_movies=3_000, n_users=2_000, n_ratings=200_000, steps=200)
    import pandas as pd

    movies = pd.read_parquet(root / "data" / "index" / "catalog.parquet")["movieId"].astype(int).tolist()
    redis = Redis(free_port())
    redis.start()
    tmp = Path(tempfile.mkdtemp(prefix="bench-outage-"))
    base, proc = start_server(root, workers=2, cache_ttl=300, log=tmp / "serve.log",
                              redis_url=f"redis://127.0.0.1:{redis.port}/0")  # fmt: skip
    try:
        wait_ready(base, proc)
        logs: list[list] = [[] for _ in range(args.clients)]
        accepted: list[dict] = [defaultdict(dict) for _ in range(args.clients)]
        t0 = time.monotonic()
        until = t0 + args.duration
        threads = [threading.Thread(target=client, args=(base, movies, until, t0, random.Random(i), logs[i], accepted[i]))
                   for i in range(args.clients)]  # fmt: skip
        for th in threads:
            th.start()
        events = [(10, lambda: redis.signal(signal.SIGSTOP)), (20, lambda: redis.signal(signal.SIGCONT)),
                  (35, redis.kill), (37, redis.start)]  # fmt: skip
        for at, act in events:
            time.sleep(max(0.0, t0 + at - time.monotonic()))
            act()
        for th in threads:
            th.join()
        time.sleep(10)  # the workers write back what they took during the outage
        sessions = {s: r for a in accepted for s, r in a.items()}
        lost, present_total, unreadable = 0, 0, 0
        for sid, ratings in sessions.items():
            status, out = post(base, "/session", {"session_id": sid, "k": 10, "explain": False})
            if status != 200:
                unreadable += 1
                lost += len(ratings)
                continue
            present_total += out["n_ratings"]
            lost += max(0, len(ratings) - out["n_ratings"])
    finally:
        proc.terminate()
        proc.wait(60)
        redis.kill()

    rows = []
    every = [e for log in logs for e in log]
    for _, name in PHASES:
        mine = [e for e in every if e[0] == name]
        codes = Counter(s // 100 for _, s, _ in mine)
        lat = sorted(d for _, _, d in mine)
        rows.append({"phase": name, "requests": len(mine), "2xx": codes[2], "4xx": codes[4], "5xx": codes[5],
                     "no_answer": codes[0], "p50_ms": round(lat[len(lat) // 2] * 1e3, 1) if lat else None,
                     "p99_ms": round(lat[int(len(lat) * 0.99)] * 1e3, 1) if lat else None})  # fmt: skip
    accepted_total = sum(len(r) for r in sessions.values())
    result = {"clients": args.clients, "duration_s": args.duration, "workers": 2, "phases": rows,
              "sessions": len(sessions), "ratings_accepted": accepted_total, "ratings_read_back": present_total,
              "ratings_lost": lost, "sessions_unreadable": unreadable}  # fmt: skip
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    print(f"\n{'phase':<18} {'requests':>8} {'2xx':>6} {'4xx':>5} {'5xx':>5} {'none':>5} {'p50 ms':>7} {'p99 ms':>7}")
    for r in rows:
        print(f"{r['phase']:<18} {r['requests']:>8} {r['2xx']:>6} {r['4xx']:>5} {r['5xx']:>5} {r['no_answer']:>5} "
              f"{r['p50_ms']!s:>7} {r['p99_ms']!s:>7}")  # fmt: skip
    print(f"\n{len(sessions)} sessions, {accepted_total} ratings accepted, {present_total} read back, "
          f"{lost} lost, {unreadable} sessions unreadable")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
