"""Benchmark: the BentoML service over real HTTP (wrk on loopback) on a catalogue of ml-25m size.

    python bench/bench_serve.py                    # builds bench/.data/serve-ml25m once (about 7 minutes)
    python bench/bench_serve.py --workers 2 --cache redis --duration 10

Builds a served project from synthetic data of ml-25m's size (62,423 movies, 162,541 users, 25,000,095
ratings; the model is trained for a few hundred steps only: latency does not depend on its quality), starts a
real `redis-server` and `bentoml serve` (with the Redis cache, then with the in-process cache that serves when
no ``REDIS_URL`` is set), and drives each endpoint with wrk, in series (1 connection) and with 8 concurrent
connections:

- ``constant``: ``/version``, which returns a constant as ready JSON bytes, the way every API of the service
  answers: the framework's own ceiling on this machine;
- ``constant_dict``: ``/ping``, a constant returned as a dict through BentoML's own response encoding (for
  reference: what a plain BentoML endpoint costs);
- ``recommend``: a known user, ``k`` = 10 (the default), every request different (cache cold: a request is sent
  again only after its cache entry expired), then a fixed set of 50 replayed (cache warm);
- ``recommend_filtered``: the same with a genre and a year-range filter;
- ``onboarding``: a new visitor posts 10 ratings and gets recommendations (a new session each time).

Latency percentiles are wrk's, which corrects for coordinated omission: a single stall of the server also
delays the requests wrk could not send meanwhile, and wrk counts them.

Prints a table and writes bench/results/serve.json.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import platform
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import pandas as pd
import yaml

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
BIN = Path(sys.executable).parent
STAGES = ["download", "prepare", "features", "train", "ease", "rank", "embed", "index"]

LUA = r"""
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
local counter = 0
local users = {%(users)s}
local movies = {%(movies)s}
local genres = {"Action", "Drama", "Comedy", "Thriller", "Romance", "Sci-Fi"}
local mode = "%(mode)s"
local warm = %(warm)d

local threads = 0
function setup(thread)
  thread:set("tid", threads)
  threads = threads + 1
end
function init(args)
  -- cold rows: each run and thread walks its own stretch of the request space, never a request sent before
  counter = tonumber(args[1] or "0") + (tid or 0) * 15000
end
function request()
  counter = counter + 1
  local n = counter
  if warm > 0 then n = counter %% warm end
  local user = users[(n %% #users) + 1]
  local k = 10
  if mode == "constant" then
    return wrk.format(nil, "/version", nil, "{}")
  elseif mode == "constant_dict" then
    return wrk.format(nil, "/ping", nil, "{}")
  elseif mode == "recommend" then
    return wrk.format(nil, "/recommend", nil, string.format('{"user_id": %%d, "k": %%d}', user, k))
  elseif mode == "recommend_filtered" then
    local g = genres[(n %% #genres) + 1]
    local y = 1960 + (n %% 40)
    return wrk.format(nil, "/recommend", nil, string.format(
      '{"user_id": %%d, "k": %%d, "genres": ["%%s"], "year_min": %%d, "year_max": %%d}', user, k, g, y, y + 20))
  else
    local parts = {}
    for i = 1, 10 do
      local m = movies[((n * 7919 + i * 104729) %% #movies) + 1]
      parts[i] = string.format('{"movie_id": %%d, "rating": %%.1f}', m, 1 + ((n + i) %% 9) * 0.5)
    end
    return wrk.format(nil, "/rate", nil, '{"k": 10, "explain": false, "ratings": [' .. table.concat(parts, ",") .. ']}')
  end
end
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def build_project(root: Path, n_movies: int, n_users: int, n_ratings: int, steps: int) -> None:
    if (root / "data" / "index" / "qdrant" / "CURRENT").is_file():
        return
    root.mkdir(parents=True, exist_ok=True)
    for name in ["dvc.yaml", "params.yaml", "stages"]:
        src = REPO / name
        shutil.copytree(src, root / name, dirs_exist_ok=True) if src.is_dir() else shutil.copy(src, root / name)
    params = yaml.safe_load((root / "params.yaml").read_text())
    params["data"]["dataset"] = "synthetic"
    params["data"]["synthetic"].update(n_users=n_users, n_movies=n_movies, n_ratings=n_ratings)
    params["train"].update(epochs=1, max_steps=steps)
    (root / "params.yaml").write_text(yaml.safe_dump(params))
    stages = yaml.safe_load((root / "dvc.yaml").read_text())["stages"]
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}", "MOVIEREC_CACHE": str(root / ".cache")}
    env.pop("QDRANT_URL", None)
    for name in STAGES:
        t = time.perf_counter()
        subprocess.run(" ".join(stages[name]["cmd"].split()), shell=True, cwd=root, env=env, check=True)
        print(f"  stage {name}: {time.perf_counter() - t:.1f} s", flush=True)


def wait_ready(base: str, proc: subprocess.Popen, timeout: float = 180) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit("bentoml serve exited before it was ready")
        try:
            with urllib.request.urlopen(base + "/readyz", timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            time.sleep(0.5)
    raise SystemExit("bentoml serve was not ready in time")


def parse_wrk(out: str) -> dict:
    def ms(v: str) -> float:
        num, unit = float(re.match(r"[\d.]+", v).group()), re.sub(r"[\d.]+", "", v)
        return num * {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 6e4}[unit]

    lat = dict(re.findall(r"^\s+(50|75|90|99)%\s+(\S+)", out, re.M))
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    non2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    errors = re.search(r"Socket errors:.*", out)
    return {"rps": round(rps, 1), "p50_ms": round(ms(lat["50"]), 3), "p99_ms": round(ms(lat["99"]), 3),
            "non_2xx": int(non2xx.group(1)) if non2xx else 0,
            "socket_errors": errors.group(0) if errors else None}  # fmt: skip


def run_wrk(base: str, script: Path, connections: int, duration: int, start: int = 0) -> dict:
    """One wrk run; its requests start at number ``start`` of the script's sequence (see ``measure``)."""
    threads = 1 if connections == 1 else 2
    cmd = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{duration}s", "--latency", "-s", str(script), base, "--",
           str(start)]  # fmt: skip
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    return parse_wrk(out)


# With several workers, the kernel hands each new connection to whichever worker accepts first, and wrk's
# connections stay open for the whole run: now and then one worker takes nearly all 8 and the other idles,
# measuring one worker's throughput. Such a run (a worker over BALANCED of the workers' CPU time) is repeated,
# at most ATTEMPTS times in all; each row records the split and its attempts.
BALANCED = 0.7
ATTEMPTS = 3


def worker_cpu(server_pid: int) -> list[float]:
    """CPU seconds so far of each worker process of the `bentoml serve` with this pid, by pid."""
    tick = os.sysconf("SC_CLK_TCK")
    out = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:
            continue
        fields = text.rsplit(")", 1)[1].split()
        cmdline = (stat.parent / "cmdline").read_bytes() if int(fields[1]) == server_pid else b""
        if b"_bentoml_impl.worker" in cmdline:
            out[int(stat.parent.name)] = (int(fields[11]) + int(fields[12])) / tick
    return [out[pid] for pid in sorted(out)]


def run_shared(base: str, script: Path, connections: int, duration: int, start, server_pid: int,
               workers: int) -> tuple[dict, list[float], int]:  # fmt: skip
    """``run_wrk``, each worker's share of the workers' CPU time during the run, and the attempts it took: a run
    with 8 connections that one worker took nearly alone is run again. ``start``: a callable giving each
    attempt's first request (a cold run's attempts never repeat a request)."""
    for attempt in range(1, ATTEMPTS + 1):
        before = worker_cpu(server_pid)
        r = run_wrk(base, script, connections, duration, start())
        used = [b - a for a, b in zip(before, worker_cpu(server_pid))]
        share = [round(u / max(sum(used), 1e-9), 2) for u in used]
        if connections == 1 or workers == 1 or max(share) <= BALANCED:
            break
        print(f"  (one worker did {max(share):.0%} of the work: run again)", flush=True)
    return r, share, attempt


def start_server(root: Path, workers: int, cache_ttl: float, log: Path, redis_url: str | None = None,
                 module: str = "service", cwd: Path = REPO) -> tuple[str, subprocess.Popen]:  # fmt: skip
    """Start `bentoml serve` of ``module``'s MovieRec (from ``cwd``) on the served project ``root`` on a free
    port; its output goes to ``log``. Return its base URL and process (not yet ready: see ``wait_ready``)."""
    port = free_port()
    env = {**os.environ, "MOVIEREC_HOME": str(root), "MOVIEREC_WORKERS": str(workers),
           "MOVIEREC_CACHE_TTL": str(cache_ttl), "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}",
           "MOVIEREC_NEW_SESSIONS_PER_MINUTE": "0"}  # every client here is one address: no limit  # fmt: skip
    env.pop("REDIS_URL", None)
    if redis_url:
        env["REDIS_URL"] = redis_url
    cmd = [str(BIN / "bentoml"), "serve", f"{module}:MovieRec", "--port", str(port), "--host", "127.0.0.1"]
    with open(log, "w") as out:  # the child keeps its own copy of the file
        proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT)
    return f"http://127.0.0.1:{port}", proc


REPEATED = [("constant", "-"), ("constant_dict", "-"), ("recommend", "cold")]
PLAN = [("constant", 0, "-"), ("constant_dict", 0, "-"), ("recommend", 0, "cold"), ("recommend", 50, "warm"),
        ("recommend_filtered", 0, "cold"), ("recommend_filtered", 50, "warm"), ("onboarding", 0, "-")]  # fmt: skip


def measure(root: Path, scripts: dict, backend: str, workers: int, duration: int, repeats: int, rport: int, rclient,
            tmp: Path) -> list[dict]:  # fmt: skip
    """Start `bentoml serve` with ``workers`` and the ``backend`` cache (redis or memory), run the plan and then
    ``repeats`` rounds of both constants' and uncached recommendations' runs at 8 connections, stop it."""
    redis_url = f"redis://127.0.0.1:{rport}/0" if backend == "redis" else None
    base, proc = start_server(root, workers, max(5, 2 * duration), tmp / f"serve-{backend}-{workers}.log", redis_url)
    # A cold run must not meet a request an earlier run cached. Each cold run (or attempt) starts 30,000 requests
    # further on in the walk over the known users (its threads 15,000 apart; a run sends fewer than that), so a
    # request comes round again only 162,541 requests (5 runs or more) later, long after its cache entry
    # expired: the server caches for 2 run lengths here. Redis counts its cache hits during cold runs (0 when
    # all is well); each cold row records them.
    stretch = itertools.count(0, 30_000)
    rows = []

    def redis_hits() -> int | None:
        return rclient.info("stats")["keyspace_hits"] if backend == "redis" else None

    def run_row(mode: str, warm: int, cache: str, conns: int, **extra) -> dict:
        start = (lambda: next(stretch)) if cache == "cold" else (lambda: 0)
        hits = redis_hits()
        r, share, attempts = run_shared(base, scripts[(mode, warm)], conns, duration, start, proc.pid, workers)
        if cache == "cold" and hits is not None:
            extra["redis_cache_hits"] = redis_hits() - hits
        rows.append({"backend": backend, "workers": workers, "endpoint": mode, "cache": cache, "connections": conns,
                     **r, "worker_cpu_share": share, "attempts": attempts, **extra})  # fmt: skip
        return rows[-1]

    try:
        wait_ready(base, proc)
        for mode, warm, cache in PLAN:  # warm the server up on each endpoint (not measured)
            run_wrk(base, scripts[(mode, warm)], 8, 2, next(stretch) if cache == "cold" else 0)
        for mode, warm, cache in PLAN:
            for conns in (1, 8):
                if cache == "warm":  # fill the cache with the replayed requests first
                    run_wrk(base, scripts[(mode, warm)], 1, 2)
                r = run_row(mode, warm, cache, conns)
                print(f"  {backend:<6} workers={workers} {mode:<19} cache={cache:<4} c={conns}: "
                      f"{r['rps']:8.1f} req/s  p50 {r['p50_ms']:7.3f} ms  p99 {r['p99_ms']:7.3f} ms  "
                      f"non-2xx {r['non_2xx']}", flush=True)  # fmt: skip
        for i in range(repeats):  # the shares the target is set on, measured again and again, interleaved
            done = [run_row(mode, 0, cache, 8, repeat=i + 1) for mode, cache in REPEATED]
            print(f"  {backend:<6} workers={workers} repeat {i + 1}: "
                  + ", ".join(f"{r['endpoint']} {r['rps']:.1f} req/s" for r in done), flush=True)  # fmt: skip
    finally:
        proc.terminate()
        proc.wait(30)
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default=str(HERE / ".data" / "serve-ml25m"))
    ap.add_argument("--n-movies", type=int, default=62_423)
    ap.add_argument("--n-users", type=int, default=162_541)
    ap.add_argument("--n-ratings", type=int, default=25_000_095)
    ap.add_argument("--steps", type=int, default=300, help="training steps (latency does not need a good model)")
    ap.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--cache", nargs="+", choices=["redis", "memory"], default=["redis", "memory"],
                    help="the response cache: redis-server (REDIS_URL) or the in-process default")
    ap.add_argument("--duration", type=int, default=10, help="seconds per wrk run")
    ap.add_argument("--repeats", type=int, default=5, help="rounds of /version, /ping and uncached recommendation "
                    "runs at 8 connections after the table, for the shares' medians")  # fmt: skip
    ap.add_argument("--out", default=str(HERE / "results" / "serve.json"))
    args = ap.parse_args()
    if shutil.which("wrk") is None or shutil.which("redis-server") is None:
        sys.exit("needs wrk and redis-server: apt-get install wrk redis-server")
    root = Path(args.data)
    print(f"served project in {root}")
    build_project(root, args.n_movies, args.n_users, args.n_ratings, args.steps)
    users = pd.read_parquet(root / "data" / "embeddings" / "user_ids.parquet")["userId"].tolist()
    movies = pd.read_parquet(root / "data" / "index" / "catalog.parquet")["movieId"].tolist()
    n_points = json.loads((root / "metrics" / "index.json").read_text())["points"]

    tmp = Path(tempfile.mkdtemp(prefix="bench-serve-"))
    scripts = {}
    for mode in ("constant", "constant_dict", "recommend", "recommend_filtered", "onboarding"):
        for warm in (0, 50):
            lua = LUA % {"users": ",".join(map(str, users)), "movies": ",".join(map(str, movies[:20000])),
                         "mode": mode, "warm": warm}  # fmt: skip
            scripts[(mode, warm)] = tmp / f"{mode}-{warm}.lua"
            scripts[(mode, warm)].write_text(lua)

    rport = free_port()
    redis_proc = subprocess.Popen(["redis-server", "--port", str(rport), "--save", "", "--appendonly", "no"],
                                  stdout=subprocess.DEVNULL)  # fmt: skip
    import redis

    time.sleep(0.5)
    rclient = redis.Redis(port=rport)
    rows = []
    try:
        for backend in args.cache:
            for workers in args.workers:
                if backend == "memory" and workers > 1:  # the service refuses: sessions would not be shared
                    print(f"skipping {workers} workers with the in-process cache: several workers need REDIS_URL")
                    continue
                rows += measure(root, scripts, backend, workers, args.duration, args.repeats, rport, rclient, tmp)
    finally:
        redis_proc.terminate()
        redis_proc.wait(10)

    table = [r for r in rows if "repeat" not in r]
    print()
    print("| cache | workers | endpoint | cache state | connections | requests/s | p50 ms | p99 ms | non-2xx |")
    print("|---|---|---|---|---|---|---|---|---|")
    for r in table:
        print(f"| {r['backend']} | {r['workers']} | {r['endpoint']} | {r['cache']} | {r['connections']} | "
              f"{r['rps']:.1f} | {r['p50_ms']:.3f} | {r['p99_ms']:.3f} | {r['non_2xx']} |")  # fmt: skip
    ratios = {}
    for b in args.cache:
        for w in args.workers:
            mine = [r for r in table if r["backend"] == b and r["workers"] == w and r["connections"] == 8]
            const = {r["endpoint"]: r["rps"] for r in mine if r["endpoint"].startswith("constant")}
            for r in mine:
                if not r["endpoint"].startswith("constant"):
                    ratios[f"{b}/w{w}/{r['endpoint']}/{r['cache']}"] = {
                        name: round(r["rps"] / rps, 3) for name, rps in const.items()}  # fmt: skip
    print("\nthroughput at 8 connections as a share of the constant endpoints' (constant = /version, "
          "constant_dict = /ping):")
    for k, v in ratios.items():
        print(f"  {k}: " + ", ".join(f"{v[c]:.0%} of {c}" for c in v))
    repeated = {}
    for b in args.cache:
        for w in args.workers:
            runs = [r for r in rows if "repeat" in r and r["backend"] == b and r["workers"] == w]
            rps = {mode: [r["rps"] for r in runs if r["endpoint"] == mode] for mode, _ in REPEATED}
            if rps["recommend"]:
                repeated[f"{b}/w{w}"] = {
                    **{f"{mode}_rps": v for mode, v in rps.items()},
                    **{f"median_{mode}_rps": statistics.median(v) for mode, v in rps.items()},
                    **{f"median_share_of_{c}": round(statistics.median(r / k for r, k in zip(rps["recommend"], v)), 3)
                       for c, v in rps.items() if c != "recommend"}}  # fmt: skip
    if repeated:
        print(f"\nuncached recommendations at 8 connections, {args.repeats} interleaved rounds (median share of "
              f"each round's constant):")  # fmt: skip
        for k, v in repeated.items():
            print(f"  {k}: recommend {v['median_recommend_rps']:.1f} req/s: {v['median_share_of_constant']:.0%} of "
                  f"/version ({v['median_constant_rps']:.1f}), {v['median_share_of_constant_dict']:.0%} of /ping "
                  f"({v['median_constant_dict_rps']:.1f}); runs {v['recommend_rps']}")  # fmt: skip
    result = {"catalog_movies": n_points, "known_users": len(users), "duration_s": args.duration, "rows": rows,
              "share_of_constant_at_8": ratios, "repeated_share_at_8": repeated,
              "cpu": platform.processor() or platform.machine(), "cores": os.cpu_count()}  # fmt: skip
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    print(f"\nwrote {args.out}")


if __name__ == "__main__":
    main()
