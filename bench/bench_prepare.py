"""Benchmark: wall time and peak memory of `prepare` + `features` on synthetic data of ml-25m size.

    python bench/bench_prepare.py                 # 162,541 users, 62,423 movies, 25,000,095 ratings
    python bench/bench_prepare.py --scale 0.1     # a tenth of that, for a quick look

Each stage runs in its own process (as under `dvc repro`) and reports its own peak RSS. The raw CSVs are
generated once into bench/.data/ and reused. Target on a 2-core machine: both stages under 5 minutes in all
and under 8 GB peak. Prints a table and writes bench/results/prepare_features.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ML25M = {"n_users": 162_541, "n_movies": 62_423, "n_ratings": 25_000_095}
TARGET_S, TARGET_GB = 300.0, 8.0

CHILD = """
import json, resource, sys, time
t = time.perf_counter()
kind, a, b = sys.argv[1:4]
if kind == "generate":
    from movierec.data.synthetic import SyntheticConfig, generate
    generate(SyntheticConfig(**json.loads(sys.argv[4])), b)
elif kind == "prepare":
    from movierec.data.prepare import PrepareConfig, prepare
    prepare(a, b, PrepareConfig())
else:
    from movierec.features.build import FeatureConfig, build_features
    build_features(a, b, FeatureConfig())
peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"wall_s": time.perf_counter() - t, "peak_rss_gb": peak_kb / 1024**2}))
"""


def run(kind: str, a: str, b: str, *extra: str) -> dict:
    env = {**os.environ, "TQDM_DISABLE": "1"}
    out = subprocess.run([sys.executable, "-c", CHILD, kind, a, b, *extra], env=env, capture_output=True, text=True)
    if out.returncode != 0:
        sys.exit(f"{kind} failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--scale", type=float, default=1.0, help="fraction of ml-25m size (default 1.0)")
    ap.add_argument("--out", default=str(HERE / "results" / "prepare_features.json"))
    args = ap.parse_args()
    size = {k: max(1, int(round(v * args.scale))) for k, v in ML25M.items()}
    work = HERE / ".data" / f"synthetic-{size['n_ratings']}"
    raw, prepared, features = work / "raw", work / "prepared", work / "features"
    results: dict = {"size": size, "machine": {"cpus": os.cpu_count(), "platform": platform.platform()}}
    if not (raw / "ratings.csv").is_file():
        print(f"generating {size['n_ratings']:,} synthetic ratings into {raw} ...", flush=True)
        results["generate"] = run("generate", "", str(raw), json.dumps(size))
    results["prepare"] = run("prepare", str(raw), str(prepared))
    results["features"] = run("features", str(prepared), str(features))
    total_s = results["prepare"]["wall_s"] + results["features"]["wall_s"]
    peak = max(results["prepare"]["peak_rss_gb"], results["features"]["peak_rss_gb"])
    results["total"] = {"wall_s": total_s, "peak_rss_gb": peak}
    results["target"] = {"wall_s": TARGET_S, "peak_rss_gb": TARGET_GB,
                         "met": total_s < TARGET_S and peak < TARGET_GB}  # fmt: skip
    results["when"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())

    print(f"\nprepare + features on {size['n_ratings']:,} ratings, {size['n_users']:,} users, "
          f"{size['n_movies']:,} movies ({os.cpu_count()} CPUs)")  # fmt: skip
    print(f"{'step':<10} {'wall (s)':>10} {'peak RSS (GB)':>14}")
    for step in ["generate", "prepare", "features", "total"]:
        if step in results:
            r = results[step]
            print(f"{step:<10} {r['wall_s']:>10.1f} {r['peak_rss_gb']:>14.2f}")
    verdict = "met" if results["target"]["met"] else "NOT met"
    print(f"target: prepare + features < {TARGET_S:.0f} s and < {TARGET_GB:.0f} GB: {verdict}")
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(results, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
