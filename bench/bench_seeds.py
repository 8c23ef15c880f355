"""Benchmark: how much the two-tower model's test metrics move with the training seed alone.

    python bench/bench_seeds.py                                   # default params, seeds 42 1 2
    python bench/bench_seeds.py --seeds 42 1 2 3 --procs 2
    python bench/bench_seeds.py -S train.logq_weight=1.2 -S model.embedding_dim=64   # one run of each, per seed
    python bench/bench_seeds.py -S train.logq_weight=1.0,1.2      # a grid, as with dvc exp run -S
    python bench/bench_seeds.py --discounts 0.1 0.2 0.3           # each model also ranked under these discounts

Needs the pipeline's outputs (`dvc repro`, at least up to `features`): the prepared split is the same for
every run (params.yaml's seed), only the training seed changes. Each run trains the model from params.yaml,
with the overrides of its configuration, then evaluates it on the test split by the protocol of
`stages/evaluate.py` (NDCG@10, recall@10, coverage@10), and on validation as `movierec tune` judges a trial
(NDCG@10, coverage@10). `model.popularity_discount` acts at ranking time only, so `--discounts` ranks each
trained model again under other values without training it again: the accuracy-coverage trade of one set of
weights, averaged over seeds. One run at a time on a 2-core machine takes
about as long as `dvc repro`'s `train` stage; on a CUDA machine several processes share the GPU
(`--procs`). A change that moves NDCG@10 by less than the spread this prints is within seed noise.
Prints a table (mean and standard deviation per configuration and discount) and writes bench/results/seeds.json.
"""

from __future__ import annotations

import argparse
import dataclasses
import itertools
import json
import multiprocessing as mp
import os
import platform
import re
import statistics
import time
from pathlib import Path

import yaml

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent


def parse_overrides(specs: list[str]) -> list[dict]:
    """``["a.b=1,2", "c.d=x"]`` -> the grid ``[{a.b: 1, c.d: x}, {a.b: 2, c.d: x}]`` (values parsed as YAML)."""
    axes = []
    for spec in specs:
        key, sep, values = spec.partition("=")
        if not sep or "." not in key:
            raise SystemExit(f"-S {spec!r}: expected section.key=value[,value...], e.g. train.logq_weight=1.2")
        # commas inside [...] belong to a list value (model.hidden_dims=[256,128])
        axes.append([(key, yaml.safe_load(v)) for v in re.split(r",(?![^\[]*\])", values)])
    return [dict(combo) for combo in itertools.product(*axes)]


def apply_overrides(params: dict, overrides: dict) -> dict:
    params = json.loads(json.dumps(params))  # a deep copy
    for key, value in overrides.items():
        section, name = key.split(".", 1)
        if section not in params or name not in params[section]:
            raise SystemExit(f"-S {key}: no such parameter in params.yaml")
        params[section][name] = value
    return params


def run_one(job: tuple[dict, int, str, str, int, list[float]]) -> dict:
    overrides, seed, data_dir, device, threads, discounts = job
    import torch

    from movierec.training.inputs import build_model, load_pipeline_data
    from movierec.training.loop import TrainConfig, TrainData, fit, split_settings
    from movierec.utils import load_params, set_seed

    params = apply_overrides(load_params(ROOT / "params.yaml"), overrides)
    train_params = split_settings(params["train"])[0]
    torch.set_num_threads(threads)
    set_seed(seed)
    data = load_pipeline_data(Path(data_dir) / "prepared", Path(data_dir) / "features",
                              params["evaluate"]["relevance_threshold"])  # fmt: skip
    model = build_model(data, params["model"])
    t0 = time.perf_counter()
    model, history = fit(model, TrainData(data.train, data.val_relevant, data.n_movies),
                         TrainConfig(**train_params, seed=seed), progress=False, device=device)  # fmt: skip
    seconds = time.perf_counter() - t0
    best = next(r for r in history if r["kept"])
    run = {"overrides": overrides, "seed": seed, "best_epoch": best["epoch"], "seconds": seconds}
    run.update(figures(model, params, data))
    if discounts:
        # the discount acts at ranking time only, so one trained model is ranked again under each value
        run["by_discount"] = {}
        for alpha in discounts:
            model.cfg = dataclasses.replace(model.cfg, popularity_discount=alpha)
            run["by_discount"][str(alpha)] = figures(model, params, data)
    return run


def figures(model, params: dict, data) -> dict:
    """Validation figures as early stopping and `movierec tune` measure them, and test figures as the evaluate
    stage does."""
    from movierec.evaluation.protocol import TwoTowerScorer, evaluate_scorer
    from movierec.tuning.study import validation_figures

    scorer = TwoTowerScorer(model)
    metrics, _, _ = evaluate_scorer(scorer, data.known, data.test_relevant, [10], data.n_movies)
    return {**validation_figures(scorer, params, data), "ndcg@10": metrics["ndcg@10"],
            "recall@10": metrics["recall@10"], "coverage@10": metrics["coverage@10"]}  # fmt: skip


FIGURES = ("ndcg@10", "coverage@10", "val_ndcg@10", "val_coverage@10")


def mean_sd(rs: list[dict]) -> dict:
    row = {}
    for m in FIGURES:
        values = [r[m] for r in rs]
        row[m] = statistics.mean(values)
        row[f"{m}_sd"] = statistics.stdev(values) if len(values) > 1 else 0.0
    return row


def summarise(runs: list[dict]) -> list[dict]:
    """Mean and spread over seeds per configuration and, where runs were ranked under several popularity
    discounts, per discount."""
    groups: dict[str, list[dict]] = {}
    for r in runs:
        groups.setdefault(json.dumps(r["overrides"], sort_keys=True), []).append(r)
    rows = []
    for key, rs in groups.items():
        row = {"overrides": json.loads(key), "runs": len(rs), **mean_sd(rs)}
        if "by_discount" in rs[0]:
            row["by_discount"] = {a: mean_sd([r["by_discount"][a] for r in rs]) for a in rs[0]["by_discount"]}
        rows.append(row)
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("-S", "--set", action="append", default=[], metavar="KEY=V[,V]",
                    help="override a params.yaml value; repeat for more; commas make a grid")  # fmt: skip
    ap.add_argument("--baseline", action="store_true", help="also run the unmodified params beside the overrides")
    ap.add_argument("--seeds", type=int, nargs="+", default=[42, 1, 2])
    ap.add_argument("--data", default=str(ROOT / "data"), help="folder holding prepared/ and features/")
    ap.add_argument("--procs", type=int, default=1, help="runs at a time")
    ap.add_argument("--threads", type=int, default=0, help="torch threads per run (0: cores / procs)")
    ap.add_argument("--discounts", type=float, nargs="*", default=[],
                    help="also rank each trained model under these model.popularity_discount values")
    ap.add_argument("--out", default=str(HERE / "results" / "seeds.json"))
    args = ap.parse_args()
    if not (Path(args.data) / "features" / "movie_features.parquet").is_file():
        raise SystemExit(f"no prepared data under {args.data}: run `dvc repro features` first")
    configs = parse_overrides(args.set) if args.set else [{}]
    if args.baseline and args.set:
        configs.insert(0, {})
    import torch

    device = "cuda" if torch.cuda.is_available() else "cpu"
    threads = args.threads or max(1, (os.cpu_count() or 1) // args.procs)
    jobs = [(c, s, args.data, device, threads, args.discounts) for s in args.seeds for c in configs]
    runs = []
    with mp.get_context("spawn").Pool(args.procs) as pool:
        for r in pool.imap_unordered(run_one, jobs):
            runs.append(r)
            print(f"  {json.dumps(r['overrides'])} seed {r['seed']}: NDCG@10 {r['ndcg@10']:.4f}, "
                  f"coverage@10 {r['coverage@10']:.4f} ({r['seconds']:.0f} s)", flush=True)  # fmt: skip
    rows = summarise(runs)
    print(f"\n{len(args.seeds)} seeds, on {device}")
    print("| overrides | discount | runs | val NDCG@10 | val coverage@10 | NDCG@10 | coverage@10 |")
    print("|---|---|---|---|---|---|---|")
    for row in rows:
        name = ", ".join(f"{k}={v}" for k, v in row["overrides"].items()) or "(params.yaml)"
        for alpha, fig in [("params", row), *row.get("by_discount", {}).items()]:
            cells = " | ".join(f"{fig[m]:.4f} ± {fig[m + '_sd']:.4f}" for m in
                               ("val_ndcg@10", "val_coverage@10", "ndcg@10", "coverage@10"))  # fmt: skip
            print(f"| {name} | {alpha} | {row['runs']} | {cells} |")
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    result = {"device": device, "machine": platform.machine(), "cpus": os.cpu_count(), "seeds": args.seeds,
              "discounts": args.discounts, "summary": rows, "runs": runs}  # fmt: skip
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
