"""Benchmark: two-tower training throughput on synthetic data of ml-25m size.

    python bench/bench_train.py              # needs bench/.data from bench_prepare.py (run that first)
    python bench/bench_train.py --steps 300
    python bench/bench_train.py -S train.batch_size=1024 -S train.targets_per_view=4   # other settings

Trains the model of params.yaml, with the full-size training settings below (or -S overrides of any
params.yaml key), for a fixed number of steps and reports training ratings per second (the epoch's setup
included) and the time one full epoch would take at that rate. Prints a table and writes
bench/results/train.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import sys
import time
from pathlib import Path

import torch

from movierec.training.inputs import build_model, load_pipeline_data
from movierec.training.loop import TrainConfig, TrainData, fit, split_settings
from movierec.utils import load_params

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_seeds import apply_overrides, parse_overrides  # noqa: E402

HERE = Path(__file__).resolve().parent
# the settings the README gives for ml-25m-sized data: large steps of many targets per user vector
FULL_SIZE = ["train.batch_size=32768", "train.targets_per_view=32", "train.negatives=4096", "train.sparse_updates=true"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default=str(HERE / ".data" / "synthetic-25000095"))
    ap.add_argument("--steps", type=int, default=200)
    ap.add_argument("--out", default=str(HERE / "results" / "train.json"))
    ap.add_argument("-S", "--set", action="append", default=None, metavar="KEY=VALUE",
                    help=f"override a params.yaml key (default: {' '.join(FULL_SIZE)})")  # fmt: skip
    args = ap.parse_args()
    overrides = parse_overrides(FULL_SIZE if args.set is None else args.set)[0]
    params = apply_overrides(load_params(HERE.parent / "params.yaml"), overrides)
    train_params, run = split_settings(params["train"])
    threads = run["threads"]
    if threads:
        torch.set_num_threads(threads)
    data_dir = Path(args.data)
    if not (data_dir / "features" / "movie_features.parquet").is_file():
        sys.exit(f"no prepared data in {data_dir}: run bench/bench_prepare.py first")
    t0 = time.perf_counter()
    data = load_pipeline_data(data_dir / "prepared", data_dir / "features", params["evaluate"]["relevance_threshold"])
    load_s = time.perf_counter() - t0
    # validation after the measured steps is not what is measured: keep it small
    few = dict(list(data.val_relevant.items())[:500])
    model = build_model(data, params["model"])
    cfg = TrainConfig(**{**train_params, "max_steps": args.steps, "epochs": 1}, seed=params["seed"])
    device = "cuda" if torch.cuda.is_available() else "cpu"
    _, history = fit(model, TrainData(data.train, few, data.n_movies), cfg, progress=False, device=device)
    rate = history[0]["interactions_per_s"]
    # the softmax loss learns from ratings at or above positive_threshold: that is one epoch
    epoch_rows = int((data.train.ratings >= cfg.positive_threshold).sum()) if cfg.loss in ("softmax", "bpr") else len(data.train.items)  # noqa: E501
    result = {
        "overrides": overrides,
        "train_ratings": int(len(data.train.items)),
        "epoch_rows": epoch_rows,
        "steps": args.steps,
        "batch_size": cfg.batch_size,
        "interactions_per_s": rate,
        "epoch_s_extrapolated": epoch_rows / rate,
        "load_s": load_s,
        "peak_rss_gb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2,
        "device": device,
        "threads": torch.get_num_threads(),
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform()},
        "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    print(f"\ntwo-tower training on {result['train_ratings']:,} training ratings ({device}, {result['threads']} threads)")
    print("settings: " + " ".join(f"{k}={v}" for k, v in overrides.items()))
    print(f"{'measure':<28} {'value':>14}")
    for key in ["steps", "batch_size", "interactions_per_s", "epoch_rows", "epoch_s_extrapolated", "load_s", "peak_rss_gb"]:  # noqa: E501
        v = result[key]
        print(f"{key:<28} {v:>14,.1f}" if isinstance(v, float) else f"{key:<28} {v:>14,}")
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
