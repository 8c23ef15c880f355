"""Benchmark: where an uncached recommendation's machine time goes, under load and in one process.

    python bench/bench_request_cost.py             # uses the project bench_serve.py builds (ml-25m size)

Two `bentoml serve` processes on the same served project, side by side (2 workers each, in-process cache; the
one not measured idles): the service, and the same service with its index search replaced by a fixed answer
(``bench/no_search.py``). Interleaved rounds of wrk at 8 connections: ``/version`` and ``/ping`` on the service,
uncached recommendations (k = 10, every request a different known user) on both. With 8 connections the cores are
saturated, so a run's machine time per request is cores / throughput; the difference between the two
recommendation runs is what the index search costs under load.

Then, in this process: the search's CPU time per call (``time.thread_time``; a known user's search with their
rated movies left out, as the service makes it), back to back, and with 64 MB of other memory read between two
searches, which leaves the caches as cold as a loaded server does.

Prints a table and writes bench/results/request_cost.json.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import bench_serve as serve  # noqa: E402

RUNS = [("version", "service", "constant"), ("ping", "service", "constant_dict"),
        ("recommend", "service", "recommend"), ("recommend, no search", "no_search", "recommend")]  # fmt: skip


def over_http(root: Path, scripts: dict, duration: int, rounds: int, tmp: Path) -> dict[str, list[float]]:
    servers = {"service": serve.start_server(root, 2, 60, tmp / "service.log"),
               "no_search": serve.start_server(root, 2, 60, tmp / "no_search.log", module="no_search", cwd=HERE)}
    stretch = itertools.count(0, 30_000)  # every recommendation run walks its own stretch of the users
    rps: dict[str, list[float]] = {name: [] for name, _, _ in RUNS}
    try:
        for base, proc in servers.values():
            serve.wait_ready(base, proc)
        for name, server, mode in RUNS:  # warm-up, not measured
            serve.run_wrk(servers[server][0], scripts[mode], 8, 2, next(stretch))
        for i in range(rounds):
            for name, server, mode in RUNS:
                base, proc = servers[server]
                r, _, _ = serve.run_shared(base, scripts[mode], 8, duration, lambda: next(stretch), proc.pid, 2)
                rps[name].append(r["rps"])
            print(f"  round {i + 1}: " + ", ".join(f"{n} {v[-1]:.1f} req/s" for n, v in rps.items()), flush=True)
    finally:
        for _, proc in servers.values():
            proc.terminate()
        for _, proc in servers.values():
            proc.wait(30)
    return rps


def in_process(root: Path, n: int) -> dict[str, float]:
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    from movierec.serving.recommender import Paths, Recommender

    rec = Recommender(Paths.under(root))
    rng = np.random.default_rng(0)
    users = rng.choice(len(rec.user_vectors), size=min(n, len(rec.user_vectors)), replace=False)
    histories = [rec.bundle.history(int(u))[0] for u in users]
    junk = np.ones(16 * 2**20, np.float32)  # 64 MB: more than every cache of this machine together
    out = {}
    for label, between in [("warm", lambda: None), ("cold", junk.sum)]:
        best = float("inf")
        for _ in range(3):
            spent = 0.0
            for u, seen in zip(users, histories):
                between()
                t = time.thread_time()
                rec._search(rec.user_vectors[u], 10, (), None, None, seen)
                spent += time.thread_time() - t
            best = min(best, spent / len(users))
        out[f"search_cpu_ms_{label}"] = round(best * 1e3, 4)
    rec.index.close()
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default=str(HERE / ".data" / "serve-ml25m"),
                    help="a served project (bench_serve.py builds it)")  # fmt: skip
    ap.add_argument("--duration", type=int, default=10, help="seconds per wrk run")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--searches", type=int, default=1000, help="known users searched in this process")
    ap.add_argument("--out", default=str(HERE / "results" / "request_cost.json"))
    args = ap.parse_args()
    root = Path(args.data)
    if not (root / "data" / "index" / "qdrant" / "CURRENT").is_file():
        sys.exit(f"no served project in {root}: run `python bench/bench_serve.py` first (it builds one)")
    users = pd.read_parquet(root / "data" / "embeddings" / "user_ids.parquet")["userId"].tolist()
    tmp = Path(tempfile.mkdtemp(prefix="bench-cost-"))
    scripts = {}
    for mode in ("constant", "constant_dict", "recommend"):
        scripts[mode] = tmp / f"{mode}.lua"
        scripts[mode].write_text(serve.LUA % {"users": ",".join(map(str, users)), "movies": "0", "mode": mode,
                                              "warm": 0})  # fmt: skip
    rps = over_http(root, scripts, args.duration, args.rounds, tmp)
    cores = os.cpu_count() or 1
    median = {name: statistics.median(v) for name, v in rps.items()}
    share = {name: round(statistics.median(r / c for r, c in zip(v, rps["version"])), 3) for name, v in rps.items()}
    machine_ms = {name: cores / r * 1e3 for name, r in median.items()}
    print(f"\n| run (8 connections, 2 workers) | requests/s (median of {args.rounds}) | share of /version (median) "
          f"| machine ms / request |")  # fmt: skip
    print("|---|---|---|---|")
    for name, r in median.items():
        print(f"| {name} | {r:.1f} | {share[name]:.0%} | {machine_ms[name]:.3f} |")
    search_ms = machine_ms["recommend"] - machine_ms["recommend, no search"]
    budget_ms = machine_ms["version"] / 0.7 - machine_ms["recommend, no search"]
    print(f"\nthe index search under load: {search_ms:.3f} ms of machine time per request; 70% of /version's "
          f"throughput would leave it {budget_ms:.3f} ms")  # fmt: skip
    cpu = in_process(root, args.searches)
    print(f"the index search in one process: {cpu['search_cpu_ms_warm']:.3f} ms of CPU back to back, "
          f"{cpu['search_cpu_ms_cold']:.3f} ms with the caches cold")  # fmt: skip
    result = {"rps": rps, "median_rps": median, "share_of_version": share,
              "machine_ms_per_request": {n: round(v, 4) for n, v in machine_ms.items()},
              "search_machine_ms_under_load": round(search_ms, 4),
              "search_budget_ms_at_70_percent": round(budget_ms, 4),
              **cpu, "duration_s": args.duration, "known_users": len(users),
              "cpu": platform.processor() or platform.machine(), "cores": cores}  # fmt: skip
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    print(f"\nwrote {args.out}")


if __name__ == "__main__":
    main()
