"""Stage `train`: fit the two-tower model, keep the epoch validation chose, log the run to MLflow."""

import argparse
import contextlib
import sys
import time
from pathlib import Path

import pandas as pd
import torch

from movierec.cli import run_stage
from movierec.models.two_tower import save_checkpoint
from movierec.training.curves import plot_curves
from movierec.training.distributed import needs_launch, process_group, relaunch, resolve_device, threads_per_process
from movierec.training.inputs import build_model, load_pipeline_data
from movierec.training.loop import AUTO, AUTO_SETTINGS, TrainConfig, TrainData, fit, resolve, split_settings
from movierec.training.tracking import file_md5, flatten, metric_name, mlflow_run
from movierec.utils import load_params, make_config, set_seed, write_json


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--prepared", required=True)
    ap.add_argument("--features", required=True)
    ap.add_argument("--model", required=True, help="checkpoint to write")
    ap.add_argument("--metrics", required=True, help="training summary JSON")
    ap.add_argument("--curves", required=True, help="folder for the training curves (CSV + PNG)")
    args = ap.parse_args()
    params = load_params()
    train_params, run = split_settings(params["train"])
    threads, processes, device = run["threads"], run["processes"], resolve_device(run["device"])
    cfg = make_config(TrainConfig, "train", train_params, seed=params["seed"])  # checked before any process starts
    if needs_launch(processes):
        sys.exit(relaunch(processes, __file__, sys.argv[1:]))
    threads = threads_per_process(threads)
    if threads:
        torch.set_num_threads(threads)
    with process_group(device) as (rank, n_procs):
        train(args, params, cfg, device, rank, n_procs)


def train(args: argparse.Namespace, params: dict, cfg: TrainConfig, device: str, rank: int, n_procs: int) -> None:
    """Every process trains; rank 0 alone logs to MLflow and writes the checkpoint, metrics and curves."""
    set_seed(params["seed"])
    data = load_pipeline_data(args.prepared, args.features, params["evaluate"]["relevance_threshold"])
    model = build_model(data, params["model"])
    logged = {"seed": params["seed"], "model": params["model"], "train": params["train"],
              "relevance_threshold": params["evaluate"]["relevance_threshold"]}  # fmt: skip
    with mlflow_run("train") if rank == 0 else contextlib.nullcontext() as mlflow:

        def on_epoch(r: dict) -> None:
            mlflow.log_metrics({metric_name(k): v for k, v in r.items() if k != "epoch"}, step=r["epoch"])

        if mlflow is not None:
            mlflow.log_params(flatten(logged))
        t0 = time.perf_counter()
        model, history = fit(model, TrainData(data.train, data.val_relevant, data.n_movies), cfg, device=device,
                             on_epoch=on_epoch if mlflow is not None else None)  # fmt: skip
        seconds = time.perf_counter() - t0
        if mlflow is None:
            return
        best = next(r for r in history if r["kept"])
        used = resolve(cfg, TrainData(data.train, data.val_relevant, data.n_movies))
        save_checkpoint(args.model, model.cpu(), {"epoch": best["epoch"], "val_ndcg@10": best["val_ndcg@10"]})
        summary = {
            "best_epoch": best["epoch"],
            "epochs_run": len(history),
            "stopped_by": history[-1]["stopped_by"],
            "val_ndcg@10": best["val_ndcg@10"],
            "val_recall@10": best["val_recall@10"],
            "n_parameters": sum(p.numel() for p in model.parameters()),
            "train_ratings": len(data.train.items),
            # the size-dependent settings trained with; "auto" lists those derived from the data's size
            "settings": {k: getattr(used, k) for k in AUTO_SETTINGS},
            "auto": [k for k in AUTO_SETTINGS if getattr(cfg, k) == AUTO],
        }
        write_json(args.metrics, summary)
        curves = pd.DataFrame(history)
        Path(args.curves).mkdir(parents=True, exist_ok=True)
        shown = curves.drop(columns=["seconds", "interactions_per_s", "kept", "stopped_by"])
        shown.to_csv(Path(args.curves) / "curves.csv", index=False)
        plot_curves(curves, Path(args.curves) / "curves.png")
        mlflow.log_metrics({metric_name(f"best_{k}"): float(v) for k, v in summary.items()
                            if isinstance(v, (int, float))})  # fmt: skip
        mlflow.log_params({f"resolved.{k}": v for k, v in summary["settings"].items()})
        mlflow.log_metrics({"train_seconds": seconds,
                            "interactions_per_s": float(curves["interactions_per_s"].mean())})  # fmt: skip
        mlflow.set_tag("checkpoint_md5", file_md5(args.model))
        mlflow.log_artifact(args.model)
    print(f"kept epoch {best['epoch']} of {len(history)} (stopped by {summary['stopped_by']}): val NDCG@10 "
          f"{best['val_ndcg@10']:.4f}; settings {summary['settings']}; "
          f"{seconds:.0f} s, {curves['interactions_per_s'].mean():,.0f} interactions/s on {device}"
          + (f" in {n_procs} processes" if n_procs > 1 else ""))


if __name__ == "__main__":
    run_stage(main)
