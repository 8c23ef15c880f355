"""Benchmark: two checkouts' services side by side, serial uncached latency in interleaved rounds.

    python bench/bench_serve_ab.py --base HEAD~1 --data <served project>   # e.g. a kept full-size run

One `bentoml serve` (one worker, in-process cache) runs this working tree's code, another the code of ``--base``
(a `git worktree` of that commit; its ``src`` comes first on the path), both on the same served project. Round
after round, each endpoint is driven by wrk with one connection, on each server in turn (the order alternating),
each run on requests never sent before. A single 10-s run's p99 rests on its dozen slowest requests and moves
by several milliseconds with what else the machine does; interleaved rounds on the same day separate a change
from the day's pace. ``/version`` runs beside them: a constant that tells the machine's pace.

Prints a table and writes bench/results/serve_ab.json.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import pandas as pd

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import bench_serve as serve  # noqa: E402

MODES = ["constant", "recommend", "recommend_filtered", "onboarding"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--base", required=True, help="the commit to compare this working tree's code with")
    ap.add_argument("--data", default=str(HERE / ".data" / "serve-ml25m"), help="a served project (bench_serve.py)")
    ap.add_argument("--rounds", type=int, default=4)
    ap.add_argument("--duration", type=int, default=10, help="seconds per wrk run")
    ap.add_argument("--out", default=str(HERE / "results" / "serve_ab.json"))
    args = ap.parse_args()
    if shutil.which("wrk") is None:
        sys.exit("needs wrk: apt-get install wrk")
    root = Path(args.data)
    if not (root / "data" / "index" / "qdrant" / "CURRENT").is_file():
        sys.exit(f"no served project in {root}: run bench_serve.py (or bench_full_size.py --keep) first")
    base = subprocess.run(["git", "rev-parse", args.base], cwd=serve.REPO, capture_output=True, text=True,
                          check=True).stdout.strip()  # fmt: skip
    here = subprocess.run(["git", "rev-parse", "HEAD"], cwd=serve.REPO, capture_output=True, text=True,
                          check=True).stdout.strip()  # fmt: skip
    tmp = Path(tempfile.mkdtemp(prefix="bench-ab-"))
    tree = tmp / "base"
    subprocess.run(["git", "worktree", "add", "--detach", str(tree), base], cwd=serve.REPO, check=True,
                   capture_output=True)  # fmt: skip
    users = pd.read_parquet(root / "data" / "embeddings" / "user_ids.parquet")["userId"].tolist()
    movies = pd.read_parquet(root / "data" / "index" / "catalog.parquet")["movieId"].tolist()
    scripts = {}
    for mode in MODES:
        scripts[mode] = tmp / f"{mode}.lua"
        scripts[mode].write_text(serve.LUA % {"users": ",".join(map(str, users)),
                                              "movies": ",".join(map(str, movies[:20000])), "mode": mode, "warm": 0})
    servers = {}
    try:
        servers["now"] = serve.start_server(root, 1, 60, tmp / "now.log")
        os.environ["PYTHONPATH"] = str(tree / "src")  # the base's package first (only children read it)
        servers["base"] = serve.start_server(root, 1, 60, tmp / "base.log", cwd=tree)
        for url, proc in servers.values():
            serve.wait_ready(url, proc)
        stretch = itertools.count(0, 30_000)  # every run walks its own stretch of the users: nothing cached
        for name in servers:  # warm-up, not measured
            serve.run_wrk(servers[name][0], scripts["recommend"], 1, 2, next(stretch))
        runs: dict[str, dict[str, list[dict]]] = {m: {"base": [], "now": []} for m in MODES}
        for i in range(args.rounds):
            order = ["base", "now"] if i % 2 == 0 else ["now", "base"]
            for mode in MODES:
                for name in order:
                    runs[mode][name].append(serve.run_wrk(servers[name][0], scripts[mode], 1, args.duration,
                                                          next(stretch)))  # fmt: skip
            print(f"  round {i + 1}: " + ", ".join(f"{m} p99 base {runs[m]['base'][-1]['p99_ms']} now "
                                                   f"{runs[m]['now'][-1]['p99_ms']}" for m in MODES), flush=True)
    finally:
        for _, proc in servers.values():
            proc.terminate()
            proc.wait(30)
        subprocess.run(["git", "worktree", "remove", "--force", str(tree)], cwd=serve.REPO, capture_output=True)
    rows = []
    for mode in MODES:
        for name in ("base", "now"):
            r = runs[mode][name]
            rows.append({"endpoint": mode, "code": name, "p50_ms_median": statistics.median(x["p50_ms"] for x in r),
                         "p99_ms_median": statistics.median(x["p99_ms"] for x in r),
                         "p99_ms_runs": [x["p99_ms"] for x in r], "non_2xx": sum(x["non_2xx"] for x in r)})  # fmt: skip
    print()
    print(f"base {base[:7]}, now {here[:7]} (working tree); {args.rounds} rounds of {args.duration} s, one connection")
    print("| endpoint | code | p50 ms (median of runs) | p99 ms (median of runs) | p99 ms per run | non-2xx |")
    print("|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['endpoint']} | {r['code']} | {r['p50_ms_median']:.2f} | {r['p99_ms_median']:.2f} | "
              f"{', '.join(f'{x:.2f}' for x in r['p99_ms_runs'])} | {r['non_2xx']} |")
    Path(args.out).write_text(json.dumps({"base": base, "now": here, "data": str(root), "rounds": args.rounds,
                                          "duration_s": args.duration, "rows": rows}, indent=2) + "\n")  # fmt: skip
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
