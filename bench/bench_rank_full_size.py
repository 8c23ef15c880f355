"""Benchmark: the `rank` stage alone at MovieLens 25M size, on a kept full-size run (wall time, peak memory, laps).

    python bench/bench_full_size.py --keep                        # once: a full-size run to reuse (about 45 min)
    python bench/bench_rank_full_size.py --run /path/to/kept/run  # then the rank stage on it (about 5 min)

The run folder needs `data/prepared`, `data/features` and `models/two_tower.pt` from a full-size run. The `ease`
stage (EASE fitted on the training split, which `rank` reads) and then the `rank` stage run this checkout's code
(stages/, src/) with this checkout's params.yaml and the run's `data` section, in a scratch folder, each as its
own process: its wall time and the peak resident memory of that process are the stage's own. The rank stage's
laps (where its time goes) are read from the line it prints.

Prints a table and writes bench/results/rank_full_size.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parent.parent


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--run", type=Path, required=True, help="a kept full-size run folder")
    ap.add_argument("--out", type=Path, default=REPO / "bench" / "results" / "rank_full_size.json")
    args = ap.parse_args()
    run = args.run.resolve()
    for need in ("data/prepared", "data/features", "models/two_tower.pt", "params.yaml"):
        if not (run / need).exists():
            sys.exit(f"{run} has no {need}: pass the folder of a full-size run (bench_full_size.py --keep)")
    with tempfile.TemporaryDirectory(prefix="rank-full-size-") as tmp:
        work = Path(tmp)
        (work / "data").symlink_to(run / "data")
        (work / "models").mkdir()
        (work / "models" / "two_tower.pt").symlink_to(run / "models" / "two_tower.pt")
        params = yaml.safe_load((REPO / "params.yaml").read_text())
        params["data"] = yaml.safe_load((run / "params.yaml").read_text())["data"]
        (work / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
        inputs = ["--prepared", "data/prepared", "--features", "data/features"]
        stages = {
            "ease": inputs + ["--out", "models/ease"],
            "rank": inputs + ["--model", "models/two_tower.pt", "--ease", "models/ease", "--out", "models/ranker",
                              "--metrics", "metrics/rank.json", "--plots", "plots/rank"],
        }  # fmt: skip
        walls, peaks = {}, {}
        for name, stage_args in stages.items():
            walls[name], peaks[name], printed = run_stage(name, stage_args, work)
        report = json.loads((work / "metrics" / "rank.json").read_text())
    line = next(x for x in printed.splitlines() if x.startswith("ranker:"))
    laps = {name: float(s) for name, s in re.findall(r"(\w+) ([\d.]+) s", line.split("s (", 1)[1])}
    commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=REPO, capture_output=True, text=True).stdout.strip()
    result = {"command": "python bench/bench_rank_full_size.py --run <kept full-size run>", "commit": commit,
              "machine": {"cpus": os.cpu_count(), "platform": platform.platform()}, "data": params["data"],
              "wall_s": round(walls["rank"], 1), "peak_rss_gb": round(peaks["rank"], 2), "laps_s": laps,
              "ease_stage": {"wall_s": round(walls["ease"], 1), "peak_rss_gb": round(peaks["ease"], 2)},
              "choices": {k: report[k] for k in ("trees", "weight", "discount", "min_ratings", "similar_weight")},
              "validation": report["validation"]}  # fmt: skip
    print("| stage | wall | peak memory |\n|---|---|---|")
    for name in walls:
        print(f"| {name} | {walls[name]:.1f} s | {peaks[name]:.2f} GB |")
    print("| lap | seconds |\n|---|---|")
    for name, s in laps.items():
        print(f"| {name} | {s} |")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {args.out}")


def run_stage(name: str, stage_args: list[str], work: Path) -> tuple[float, float, str]:
    """One stage as its own process: wall seconds, the peak resident GB of that process (its own rusage, from
    ``wait4``), and what it printed."""
    env = {**os.environ, "PYTHONPATH": str(REPO / "src")}
    log = work / f"{name}.log"
    with open(log, "w") as out:
        t0 = time.perf_counter()
        proc = subprocess.Popen([sys.executable, str(REPO / "stages" / f"{name}.py"), *stage_args], cwd=work,
                                env=env, stdout=out, stderr=subprocess.STDOUT)  # fmt: skip
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - t0
    printed = log.read_text()
    if os.waitstatus_to_exitcode(status) != 0:
        sys.exit(f"the {name} stage failed:\n{printed[-3000:]}")
    return wall, usage.ru_maxrss / 1e6, printed  # KB on Linux


if __name__ == "__main__":
    main()
