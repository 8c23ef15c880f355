"""Benchmark: the whole pipeline at MovieLens 25M size, end to end from an empty DVC cache, stage by stage.

    python bench/bench_full_size.py                       # about 45 minutes on 2 cores
    python bench/bench_full_size.py -S train.epochs=2     # overrides for `dvc exp run`

Clones the committed project into a scratch folder (a fresh clone: an empty DVC cache, no outputs) and runs

    dvc exp run -S data.dataset=synthetic -S data.synthetic.n_users=162541 \\
                -S data.synthetic.n_movies=62423 -S data.synthetic.n_ratings=25000095  [training overrides]

and params.yaml's training settings as they are (the step settings derive from the data's size; training runs
until early stopping ends it); ``-S`` adds overrides.
Every stage's ``python`` goes through a small wrapper that records the stage's wall time and the peak resident
memory of its process tree (``getrusage`` of its children), so the figures are the stages' own, under the
real `dvc exp run`. Then it starts `bentoml serve` (one worker) on the result, sends a known user's and a
new visitor's request, and reads what the worker holds.

Prints a table and writes bench/results/full_size.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(HERE))
from bench_serve import BIN, start_server, wait_ready  # noqa: E402

FULL_SIZE_DATA = {"data.dataset": "synthetic", "data.synthetic.n_users": "162541",
                  "data.synthetic.n_movies": "62423", "data.synthetic.n_ratings": "25000095"}  # fmt: skip

# the wrapper every stage's `python` resolves to: run the real interpreter, then append one JSON line
WRAPPER = """#!{python}
import json, os, resource, subprocess, sys, time
t = time.perf_counter()
rc = subprocess.call([{python!r}] + sys.argv[1:])
wall = time.perf_counter() - t
peak_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
with open(os.environ["BENCH_STAGE_LOG"], "a") as f:
    f.write(json.dumps({{"argv": sys.argv[1:], "wall_s": wall, "peak_rss_kb": peak_kb, "rc": rc}}) + "\\n")
sys.exit(rc)
"""


def git(*args: str, cwd: Path = REPO) -> str:
    return subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, text=True).stdout.strip()


def worker_rss(server_pid: int) -> list[float]:
    """Resident memory (GB) of each worker process of the `bentoml serve` with this pid."""
    out = []
    for status in Path("/proc").glob("[0-9]*/status"):
        try:
            text = status.read_text()
            cmdline = (status.parent / "cmdline").read_bytes()
        except OSError:
            continue
        fields = dict(line.split(":", 1) for line in text.splitlines() if ":" in line)
        if int(fields["PPid"]) == server_pid and b"_bentoml_impl.worker" in cmdline:
            out.append(int(fields["VmRSS"].split()[0]) / 1024**2)
    return out


def post(base: str, path: str, body: dict) -> dict:
    req = urllib.request.Request(base + path, json.dumps(body).encode(), {"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=120) as r:
        return json.loads(r.read())


def serve_check(root: Path, log: Path) -> dict:
    """One `bentoml serve` worker on the run's outputs: a known user's and a new visitor's recommendations,
    then what the worker holds."""
    import pandas as pd

    base, proc = start_server(root, workers=1, cache_ttl=0, log=log)
    try:
        wait_ready(base, proc, timeout=600)
        users = pd.read_parquet(root / "data" / "embeddings" / "user_ids.parquet")["userId"]
        onboarding = json.loads((root / "data" / "index" / "onboarding.json").read_text())
        for u in users.sample(20, random_state=0):
            post(base, "/recommend", {"user_id": int(u), "k": 10})
        rated = [{"movie_id": int(m), "rating": 4.5 if i % 2 else 2.0} for i, m in enumerate(onboarding[:10])]
        post(base, "/rate", {"ratings": rated, "k": 10, "explain": True})
        rss = worker_rss(proc.pid)
    finally:
        proc.terminate()
        proc.wait(timeout=60)
    return {"workers": len(rss), "worker_rss_gb": round(max(rss), 3) if rss else None}


def with_genome(root: Path, dst: Path, n_tags: int = 1128) -> Path:
    """A served project beside ``root`` whose checkpoint carries a genome of ml-25m's width for every movie
    (random relevance, fresh weights: a worker's memory does not depend on their values), sharing ``root``'s
    embeddings and index: what a worker holds when the model was trained on a real ml-25m download."""
    import dataclasses

    import torch

    from movierec.models.two_tower import TwoTower, load_checkpoint, save_checkpoint

    shutil.rmtree(dst, ignore_errors=True)
    model, _ = load_checkpoint(root / "models" / "two_tower.pt")
    cfg = dataclasses.replace(model.cfg, n_genome=n_tags)
    content = {k.removeprefix("content_"): v for k, v in model.state_dict().items() if k.startswith("content_")}
    content["genome"] = torch.rand(cfg.n_movies, n_tags, generator=torch.Generator().manual_seed(0)).half()
    (dst / "models").mkdir(parents=True, exist_ok=True)
    (dst / "data").mkdir(exist_ok=True)
    save_checkpoint(dst / "models" / "two_tower.pt", TwoTower(cfg, content).eval())
    for name in ("embeddings", "index"):
        (dst / "data" / name).symlink_to(root / "data" / name)
    (dst / "models" / "ranker").symlink_to(root / "models" / "ranker")
    return dst


def serving_figures(root: Path, work: Path) -> dict:
    """What one worker holds on the run's outputs, and on the same with a checkpoint that carries a genome."""
    def size_mb(project: Path) -> float:
        return round((project / "models" / "two_tower.pt").stat().st_size / 1024**2, 1)

    serving = {**serve_check(root, work / "serve.log"), "checkpoint_mb": size_mb(root)}
    genome = with_genome(root, work / "with-genome")
    serving["with_genome"] = {**serve_check(genome, work / "serve-genome.log"), "checkpoint_mb": size_mb(genome)}
    return serving


def train_figures(summary: dict, curves: Path) -> dict:
    """How training ended: the epochs run and kept, what stopped it, the step settings and the validation
    curve."""
    import pandas as pd

    keys = ("epochs_run", "best_epoch", "stopped_by", "train_ratings", "val_ndcg@10", "settings", "auto")
    curve = pd.read_csv(curves)
    return {**{k: summary[k] for k in keys if k in summary},
            "val_ndcg@10_by_epoch": [round(float(v), 5) for v in curve["val_ndcg@10"]]}  # fmt: skip


def run_figures(work: Path, root: Path, command: str, commit: str, total: float) -> dict:
    """The figures of a finished `dvc exp run` in ``work``: each stage's wall time and peak memory (from the
    wrapper's log), the models' test metrics, how training ended, the index."""
    stages = {}
    for line in (work / "stages.jsonl").read_text().splitlines():
        rec = json.loads(line)
        script = next((a for a in rec["argv"] if a.startswith("stages/")), None)
        if script:
            stages[Path(script).stem] = {"wall_s": round(rec["wall_s"], 1), "peak_rss_gb": round(rec["peak_rss_kb"] / 1024**2, 2)}
    metrics = {name: json.loads((root / "metrics" / f"{name}.json").read_text())
               for name in ("evaluation", "train", "index", "statistics")}  # fmt: skip
    evaluation = metrics["evaluation"]
    models = [m for m in ("two_tower+ranker", "two_tower", "ease", "popularity") if m in evaluation]
    return {
        "command": command,
        "commit": commit,
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform()},
        "stages": stages,
        "total_s": round(total, 1),
        "metrics": {m: {k: evaluation[m][k] for k in ("ndcg@10", "recall@10", "coverage@10", "n_users") if k in evaluation[m]}
                    for m in models},  # fmt: skip
        "train": train_figures(metrics["train"], root / "plots" / "train" / "curves.csv"),
        "index": {k: metrics["index"][k] for k in ("points", "search", "recall@10_vs_exact", "graph_recall@10_vs_exact")
                  if k in metrics["index"]},
    }


def write_result(path: Path, result: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(result, indent=2) + "\n")
    tmp.replace(path)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("-S", "--set", action="append", default=[], metavar="KEY=VALUE", help="more `dvc exp run -S` overrides")
    ap.add_argument("--workdir", type=Path, default=None, help="scratch folder (default: a temporary one, removed)")
    ap.add_argument("--keep", action="store_true", help="keep the scratch folder (its outputs, cache and logs)")
    ap.add_argument("--out", type=Path, default=HERE / "results" / "full_size.json")
    ap.add_argument("--serve-only", type=Path, metavar="WORKDIR",
                    help="only measure serving again, on a kept run's folder; updates 'serving' in --out")  # fmt: skip
    args = ap.parse_args()
    if args.serve_only:
        result = json.loads(args.out.read_text())
        result["serving"] = serving_figures(args.serve_only / "project", args.serve_only)
        write_result(args.out, result)
        print(json.dumps(result["serving"], indent=2))
        return

    overrides = dict(FULL_SIZE_DATA)
    for kv in args.set:
        key, _, value = kv.partition("=")
        overrides[key] = value
    work = args.workdir or Path(tempfile.mkdtemp(prefix="movierec-full-size-"))
    if work.exists():
        shutil.rmtree(work)
    root = work / "project"
    subprocess.run(["git", "clone", "--quiet", str(REPO), str(root)], check=True)
    commit = git("rev-parse", "HEAD", cwd=root)
    shim = work / "bin"
    shim.mkdir()
    for name in ("python", "python3"):
        (shim / name).write_text(WRAPPER.format(python=sys.executable))
        (shim / name).chmod(0o755)
    log = work / "stages.jsonl"
    env = {**os.environ, "PATH": f"{shim}{os.pathsep}{BIN}{os.pathsep}{os.environ['PATH']}",
           "BENCH_STAGE_LOG": str(log), "MOVIEREC_CACHE": str(work / "downloads"),
           # the clone's own code, not the working tree's that the venv's editable install points to
           "PYTHONPATH": str(root / "src")}  # fmt: skip
    for var in ("QDRANT_URL", "MLFLOW_TRACKING_URI"):
        env.pop(var, None)
    cmd = [str(BIN / "dvc"), "exp", "run"] + [a for k, v in overrides.items() for a in ("-S", f"{k}={v}")]
    print("$", " ".join(cmd[1:]), flush=True)
    t = time.perf_counter()
    subprocess.run(cmd, cwd=root, env=env, check=True)
    total = time.perf_counter() - t

    result = run_figures(work, root, "dvc " + " ".join(cmd[1:]), commit, total)
    write_result(args.out, result)  # before serving: a failure there keeps the run's figures
    result["serving"] = serving = serving_figures(root, work)
    write_result(args.out, result)
    stages, evaluation = result["stages"], json.loads((root / "metrics" / "evaluation.json").read_text())
    models = list(result["metrics"])

    print(f"\n{'stage':<10} {'wall':>10} {'peak RSS':>10}")
    for name, s in stages.items():
        print(f"{name:<10} {s['wall_s']:>9.1f}s {s['peak_rss_gb']:>8.2f}GB")
    print(f"{'total':<10} {total:>9.1f}s  (dvc exp run, all stages and DVC's own work)")
    t = result["train"]
    print(f"\ntraining: {t['epochs_run']} epochs, stopped by {t.get('stopped_by')}, kept epoch {t['best_epoch']}; "
          f"validation NDCG@10 by epoch {t['val_ndcg@10_by_epoch']}")
    print(f"\n{'model':<16} {'NDCG@10':>8} {'recall@10':>10} {'coverage@10':>12}")
    for m in models:
        e = evaluation[m]
        print(f"{m:<16} {e['ndcg@10']:>8.4f} {e['recall@10']:>10.4f} {e['coverage@10']:>12.4f}")
    print(f"\nserving: one worker holds {serving['worker_rss_gb']} GB; checkpoint {serving['checkpoint_mb']} MB")
    g = serving["with_genome"]
    print(f"with a 1,128-tag genome: one worker holds {g['worker_rss_gb']} GB; checkpoint {g['checkpoint_mb']} MB")
    print(f"wrote {args.out}")
    if args.workdir is None and not args.keep:
        shutil.rmtree(work)


if __name__ == "__main__":
    main()
