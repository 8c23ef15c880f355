"""``movierec tune``: an Optuna study over params.yaml on the validation split, then the chosen configuration's
test figures, its params file, the ``dvc exp run`` command that applies it, and the study's plots.

    movierec tune                                        # 40 trials of tune/space.yaml, study "two_tower"
    movierec tune --study ease --model ease --space tune/ease.yaml --trials 12
    movierec tune --study front --objective ndcg+coverage --trials 30
    movierec tune --worker 1 &  movierec tune             # two processes, one study (each its own seed)
    movierec tune --study seeds2 --trial-seeds 42 1       # each trial judged on two training seeds' mean

Reads ``data/prepared`` and ``data/features`` (run ``dvc repro features`` first). Not part of ``dvc repro``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import yaml

from movierec.errors import MovieRecError

DEFAULT_STORAGE = "sqlite:///tune/studies.db"


def parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="movierec tune", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    ap.add_argument("--space", default="tune/space.yaml", help="search space YAML (default: %(default)s)")
    ap.add_argument("--study", default="two_tower", help="study name in the storage (default: %(default)s)")
    ap.add_argument("--model", default="two_tower", help="two_tower | ease")
    ap.add_argument("--objective", default="ndcg", help="ndcg | ndcg+coverage (default: %(default)s)")
    ap.add_argument("--trials", type=int, default=40, help="finished trials the study ends with, all processes")
    ap.add_argument("--minutes", type=float, default=0.0, help="stop starting trials after this long (0: no limit)")
    ap.add_argument("--min-coverage", type=float, default=0.0,
                    help="choose only trials at or above this validation coverage@10")  # fmt: skip
    ap.add_argument("--coverage-vs-ease", type=float, default=0.0, metavar="FACTOR",
                    help="the same floor as FACTOR x EASE's validation coverage@10 at params.yaml's ease_lambda")
    ap.add_argument("--tolerance", type=float, default=None,
                    help="validation NDCG@10 this close to the best is as good: the most coverage among them is chosen "
                         "(default: params.yaml's train.tolerance)")  # fmt: skip
    ap.add_argument("--storage", default=DEFAULT_STORAGE, help="RDB URL or journal .log file (default: %(default)s)")
    ap.add_argument("--warm-start", metavar="STUDY", help="a new study starts from STUDY's complete trials (same storage)")
    ap.add_argument("--worker", type=int, default=0, help="this process's number when several share a study")
    ap.add_argument("--no-prune", action="store_true", help="run every trial to its end")
    ap.add_argument("--warmup-epochs", type=int, default=10, help="no pruning before this epoch (default: %(default)s)")
    ap.add_argument("--startup-trials", type=int, default=10, help="random trials before TPE (default: %(default)s)")
    ap.add_argument("--trial-seeds", type=int, nargs="+", default=[], metavar="SEED",
                    help="train each trial once per seed and judge it on the mean (default: params.yaml's seed)")
    ap.add_argument("--seeds", type=int, nargs="+", default=[42, 1, 2], help="training seeds of the test figures")
    ap.add_argument("--no-test", action="store_true", help="skip the chosen configuration's test figures")
    ap.add_argument("--params", default="params.yaml")
    ap.add_argument("--data", default="data", help="folder holding prepared/ and features/")
    ap.add_argument("--out", default="tune", help="folder for <study>/best_params.yaml and summary.json")
    ap.add_argument("--plots", default="plots/tune", help="folder for <study>/*.png")
    ap.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: params.yaml's train.threads)")
    return ap


def main(argv: list[str] | None = None) -> None:
    args = parser().parse_args(argv)
    from movierec.training.inputs import load_pipeline_data
    from movierec.training.tracking import mlflow_run
    from movierec.tuning import plots
    from movierec.tuning.space import apply, as_overrides, load_space
    from movierec.tuning.study import (
        COVERAGE,
        NDCG,
        TuneSettings,
        chosen,
        make_objective,
        open_study,
        run_study,
        summary,
        test_figures,
        validation_figures,
        ease_scorer,
    )
    from movierec.utils import load_params, use_threads, write_json

    params = load_params(args.params)
    dimensions = load_space(args.space, params)
    if args.model == "ease" and any(not d.name.startswith("evaluate.ease_") for d in dimensions):
        raise MovieRecError("--model ease searches evaluate.ease_* settings only")
    settings = TuneSettings(study=args.study, model=args.model, objective=args.objective, trials=args.trials,
                            minutes=args.minutes, min_coverage=args.min_coverage, seed=int(params["seed"]),
                            worker=args.worker, pruning=not args.no_prune, startup_trials=args.startup_trials,
                            warmup_epochs=args.warmup_epochs, trial_seeds=tuple(args.trial_seeds))  # fmt: skip
    data_dir = Path(args.data)
    if not (data_dir / "features" / "movie_features.parquet").is_file():
        raise MovieRecError(f"no prepared data under {data_dir}: run `dvc repro features` first")
    use_threads(args.threads or int(params["train"].get("threads", 0)))
    data = load_pipeline_data(data_dir / "prepared", data_dir / "features", params["evaluate"]["relevance_threshold"])
    ease_point = validation_figures(ease_scorer(params, data), params, data) if args.model == "two_tower" else None
    if args.coverage_vs_ease:
        if ease_point is None:
            raise MovieRecError("--coverage-vs-ease is for --model two_tower")
        settings.min_coverage = args.coverage_vs_ease * ease_point[COVERAGE]
        print(f"coverage floor: {settings.min_coverage:.4f} = {args.coverage_vs_ease} x EASE's validation "
              f"coverage@10 {ease_point[COVERAGE]:.4f} (ease_lambda {params['evaluate']['ease_lambda']})")  # fmt: skip

    study = open_study(settings, args.storage, dimensions, params, warm=args.warm_start)
    t0 = time.perf_counter()
    with mlflow_run(f"tune {args.study}", tags={"study": args.study, "worker": str(args.worker)}) as mlflow:
        ran = run_study(study, make_objective(settings, dimensions, params, data, tracker=mlflow), settings)
    print(f"worker {args.worker}: {ran} trial(s) in {(time.perf_counter() - t0) / 60:.1f} min")
    if args.worker != 0:
        return  # worker 0 writes the study's outputs

    tolerance = float(params["train"]["tolerance"]) if args.tolerance is None else args.tolerance
    best = chosen(study, settings.min_coverage, tolerance)
    result = summary(study, best)
    result["settings"] = {"model": args.model, "objective": args.objective, "space": args.space,
                          "min_coverage": settings.min_coverage, "tolerance": tolerance,
                          "sampler_seed": settings.seed, "trial_seeds": list(settings.trial_seeds)}  # fmt: skip
    if ease_point is not None:
        result["ease_validation"] = {"ease_lambda": params["evaluate"]["ease_lambda"], **ease_point}
    out, pics = Path(args.out) / args.study, Path(args.plots) / args.study
    nested: dict = {}
    for name, value in best.params.items():
        section, key = name.split(".", 1)
        nested.setdefault(section, {})[key] = value
    out.mkdir(parents=True, exist_ok=True)
    (out / "best_params.yaml").write_text(f"# chosen on validation by `movierec tune --study {args.study}`, "
                                          f"trial {best.number}\n" + yaml.safe_dump(nested, sort_keys=True))  # fmt: skip
    result["apply"] = f"dvc exp run {as_overrides(best.params)}"
    refs = {f"EASE (lambda {params['evaluate']['ease_lambda']})": (ease_point[COVERAGE], ease_point[NDCG])} if ease_point else {}
    plots.plot_history(study, pics / "history.png", best.number, settings.min_coverage)
    result["importances"] = plots.plot_importances(study, pics / "importances.png")
    result["pareto_front"] = plots.plot_pareto(study, pics / "pareto.png", best.number, refs, settings.min_coverage)
    before = json.loads((out / "summary.json").read_text()) if (out / "summary.json").is_file() else {}
    seeds = args.seeds if args.model == "two_tower" else args.seeds[:1]
    if before.get("chosen", {}).get("trial") == best.number and before.get("test", {}).get("seeds") == seeds:
        result["test"] = before["test"]  # the same choice: its test figures are computed once, not again
    elif not args.no_test:
        print(f"test figures of trial {best.number}, seeds {seeds} ...", flush=True)
        result["test"] = {"seeds": seeds, **test_figures(args.model, apply(params, best.params), data, seeds)}
    write_json(out / "summary.json", result)
    counts = result["trials"]
    print(f"study {args.study}: {sum(counts.values())} trials ({json.dumps(counts)}), "
          f"{result['wall_minutes']:.1f} min wall; chosen trial {best.number}: validation NDCG@10 "
          f"{best.user_attrs[NDCG]:.4f}, coverage@10 {best.user_attrs[COVERAGE]:.4f}")  # fmt: skip
    if "test" in result:
        t = result["test"]
        print(f"test over seeds {args.seeds}: NDCG@10 {t['ndcg@10']:.4f} ± {t['ndcg@10_sd']:.4f}, "
              f"coverage@10 {t['coverage@10']:.4f} ± {t['coverage@10_sd']:.4f}")  # fmt: skip
    print(f"wrote {out / 'best_params.yaml'}, {out / 'summary.json'} and {pics}/*.png; apply with:\n  {result['apply']}")


if __name__ == "__main__":
    from movierec.cli import run_stage

    run_stage(lambda: main(sys.argv[1:]))
