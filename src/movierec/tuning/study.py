"""Optuna studies over params.yaml, judged on the validation split alone.

A trial trains the two-tower model (or fits EASE) with params.yaml plus the trial's values, once per trial
seed, and scores the result on **validation**: NDCG@10, and coverage@10 for the second objective or the
coverage floor. The test split is read only by :func:`test_figures`, once the search has chosen. Trials report
their per-epoch validation NDCG@10, so the pruner stops a trial whose curve falls below the median of the
trials before it.
"""

from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator

import optuna

from movierec.errors import MovieRecError
from movierec.evaluation.baselines import EASEScorer
from movierec.evaluation.protocol import TwoTowerScorer, evaluate_scorer, user_sample
from movierec.training.inputs import PipelineData, build_model
from movierec.training.loop import TrainConfig, TrainData, fit, split_settings
from movierec.tuning.space import Dimension, apply, current
from movierec.utils import make_config, set_seed

MODELS = ("two_tower", "ease")
OBJECTIVES = ("ndcg", "ndcg+coverage")
NDCG, COVERAGE = "val_ndcg@10", "val_coverage@10"


@dataclass
class TuneSettings:
    study: str
    model: str = "two_tower"  # two_tower | ease
    objective: str = "ndcg"  # ndcg | ndcg+coverage (two objectives: the Pareto front)
    trials: int = 40  # finished trials the study holds at the end (all processes together)
    minutes: float = 0.0  # this process stops starting trials after this long (0: no limit)
    min_coverage: float = 0.0  # single objective: a trial below this validation coverage@10 is not chosen
    seed: int = 42  # the sampler's; worker w draws from seed + w, so that processes sharing a study differ
    worker: int = 0
    pruning: bool = True
    startup_trials: int = 10  # random trials before TPE models the results (and before pruning starts)
    # no pruning before this epoch: early validation curves rank configurations poorly (a weight average that
    # spans hundreds of steps starts slow and overtakes), so a trial is judged once its curve has settled
    warmup_epochs: int = 10
    # training seeds per two-tower trial, judged on their mean: configurations differ by about the spread across
    # seeds, and the mean of n runs spreads 1/sqrt(n) as much, at n times the cost (empty: params.yaml's seed)
    trial_seeds: tuple[int, ...] = ()

    def __post_init__(self) -> None:
        if self.model not in MODELS:
            raise MovieRecError(f"--model must be one of {', '.join(MODELS)}, not {self.model!r}")
        if self.objective not in OBJECTIVES:
            raise MovieRecError(f"--objective must be one of {', '.join(OBJECTIVES)}, not {self.objective!r}")
        if self.trials < 1 or self.minutes < 0 or not 0 <= self.min_coverage <= 1:
            raise MovieRecError("--trials must be 1 or more, --minutes 0 or more, --min-coverage in 0..1")
        if self.trial_seeds and self.model != "two_tower":
            raise MovieRecError("--trial-seeds is for --model two_tower: EASE draws nothing at random")
        if len(set(self.trial_seeds)) != len(self.trial_seeds):
            raise MovieRecError(f"--trial-seeds must differ from one another, not {list(self.trial_seeds)}")

    @property
    def multi(self) -> bool:
        return self.objective == "ndcg+coverage"


def open_storage(storage: str):
    """An Optuna storage: an RDB URL (``sqlite:///tune/studies.db``, ``postgresql://...``), or a file path ending
    in ``.log`` for a journal file (several processes on one machine or a shared disk)."""
    if "://" in storage:
        if storage.startswith("sqlite:///"):
            Path(storage.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
        return storage
    if storage.endswith(".log"):
        from optuna.storages.journal import JournalFileBackend, JournalStorage

        Path(storage).parent.mkdir(parents=True, exist_ok=True)
        return JournalStorage(JournalFileBackend(storage))
    raise MovieRecError(f"--storage {storage!r}: expected a database URL (sqlite:///path.db, postgresql://...) "
                        "or a journal file path ending in .log")  # fmt: skip


def coverage_constraint(min_coverage: float) -> Callable[[optuna.trial.FrozenTrial], list[float]]:
    """Optuna's constraint form (feasible at <= 0): validation coverage@10 at least ``min_coverage``. A pruned
    trial has no coverage; the pruning already marks it as poor."""

    def constraint(trial: optuna.trial.FrozenTrial) -> list[float]:
        return [min_coverage - trial.user_attrs[COVERAGE] if COVERAGE in trial.user_attrs else 0.0]

    return constraint


def open_study(settings: TuneSettings, storage: str, dimensions: list[Dimension], params: dict,
               warm: str | None = None) -> optuna.Study:  # fmt: skip
    """Create the study, or load it when the storage holds it already (so an interrupted study resumes).
    A new study's first trial is params.yaml as it is, so the search is measured against today's defaults;
    with ``warm`` (another study's name in the same storage), it starts from that study's trials instead."""
    constraints = coverage_constraint(settings.min_coverage) if settings.min_coverage and not settings.multi else None
    sampler = optuna.samplers.TPESampler(seed=settings.seed + settings.worker, n_startup_trials=settings.startup_trials,
                                         constraints_func=constraints, multivariate=True)
    pruner = (optuna.pruners.MedianPruner(n_startup_trials=max(3, settings.startup_trials // 2),
                                          n_warmup_steps=settings.warmup_epochs)
              if settings.pruning and not settings.multi else optuna.pruners.NopPruner())  # fmt: skip
    directions = ["maximize", "maximize"] if settings.multi else ["maximize"]
    storage = open_storage(storage)
    try:  # the storage admits one study per name, so exactly one of the processes that start together creates it
        study = optuna.create_study(study_name=settings.study, storage=storage, sampler=sampler, pruner=pruner,
                                    directions=directions)  # fmt: skip
        created = True
    except optuna.exceptions.DuplicatedStudyError:
        study = optuna.load_study(study_name=settings.study, storage=storage, sampler=sampler, pruner=pruner)
        created = False
    if study.directions != [optuna.study.StudyDirection.MAXIMIZE] * len(directions):
        raise MovieRecError(f"study {settings.study!r} exists with another objective; pick another --study name")
    if created:
        study.set_user_attr("model", settings.model)
        study.set_user_attr("objective", settings.objective)
        study.set_user_attr("min_coverage", settings.min_coverage)
        if warm:
            source = optuna.load_study(study_name=warm, storage=storage)
            print(f"warm start: {warm_start(study, source)} complete trial(s) copied from study {warm!r}")
        else:
            study.enqueue_trial(current(dimensions, params), user_attrs={"defaults": True})
    return study


def warm_start(study: optuna.Study, source: optuna.Study) -> int:
    """Copy ``source``'s complete trials into a new ``study`` of the same space (no training: their validation
    figures are known), so that a two-objective study starts from a single-objective one's results. Returns how
    many were copied."""
    copied = 0
    for t in source.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,)):
        if NDCG not in t.user_attrs:
            continue
        values = [t.user_attrs[NDCG], t.user_attrs[COVERAGE]] if len(study.directions) > 1 else [t.user_attrs[NDCG]]
        study.add_trial(optuna.trial.create_trial(params=t.params, distributions=t.distributions, values=values,
                                                  user_attrs={**t.user_attrs, "copied_from": f"{source.study_name}/{t.number}"}))  # fmt: skip
        copied += 1
    return copied


def finished(study: optuna.Study) -> list[optuna.trial.FrozenTrial]:
    states = (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED)
    return study.get_trials(deepcopy=False, states=states)


def _fit_two_tower(params: dict, data: PipelineData, seed: int, on_epoch=None) -> tuple[Any, list[dict]]:
    train_params = split_settings(params["train"])[0]
    cfg = make_config(TrainConfig, "train", train_params, seed=seed)
    set_seed(seed)
    model = build_model(data, params["model"])
    return fit(model, TrainData(data.train, data.val_relevant, data.n_movies), cfg, on_epoch=on_epoch,
               progress=False)  # fmt: skip


def ease_scorer(params: dict, data: PipelineData) -> EASEScorer:
    ev = params["evaluate"]
    if float(ev["ease_lambda"]) <= 0:
        raise MovieRecError(f"evaluate.ease_lambda must be above 0, not {ev['ease_lambda']}")
    return EASEScorer(data.train, data.n_movies, float(ev["ease_lambda"]), int(ev["ease_max_items"]))


def validation_figures(scorer, params: dict, data: PipelineData) -> dict[str, float]:
    """NDCG@10 and coverage@10 on the validation split, ranked from the training ratings alone: the users
    early stopping watches (``train.val_users``)."""
    relevant = user_sample(data.val_relevant, int(params["train"]["val_users"]), int(params["seed"]))
    metrics = evaluate_scorer(scorer, data.train, relevant, [10], data.n_movies)[0]
    return {NDCG: metrics["ndcg@10"], COVERAGE: metrics["coverage@10"]}


def make_objective(settings: TuneSettings, dimensions: list[Dimension], params: dict, data: PipelineData,
                   tracker=None) -> Callable[[optuna.Trial], Any]:  # fmt: skip
    """The function Optuna calls per trial; with ``tracker`` (the mlflow module, inside the study's run) each trial
    is a nested run with its values, per-epoch curve and outcome."""

    def objective(trial: optuna.Trial):
        values = {d.name: d.suggest(trial) for d in dimensions}
        trial.set_user_attr("worker", settings.worker)
        trial_params = apply(params, values)
        run = tracker.start_run(run_name=f"trial {trial.number}", nested=True) if tracker else contextlib.nullcontext()
        with run:
            if tracker:
                tracker.log_params({**values, "trial": trial.number, "study": settings.study})

            def on_epoch(record: dict) -> None:
                if tracker:
                    tracker.log_metrics({"val_ndcg_at_10": record["val_ndcg@10"], "loss": record["loss"]},
                                        step=record["epoch"])  # fmt: skip
                if not settings.multi:
                    trial.report(record["val_ndcg@10"], record["epoch"])
                    if settings.pruning and trial.should_prune():
                        if tracker:
                            tracker.set_tag("state", "pruned")
                        raise optuna.TrialPruned(f"pruned at epoch {record['epoch']}")

            t0 = time.perf_counter()
            if settings.model == "ease":
                figures = validation_figures(ease_scorer(trial_params, data), trial_params, data)
            else:
                # the first seed's curve is reported to the pruner, so that every trial is judged on the same seed
                per_seed = []
                for i, seed in enumerate(settings.trial_seeds or (int(params["seed"]),)):
                    model, history = _fit_two_tower(trial_params, data, seed, on_epoch if i == 0 else None)
                    per_seed.append({"seed": seed, "epochs": len(history),
                                     **validation_figures(TwoTowerScorer(model), trial_params, data)})  # fmt: skip
                trial.set_user_attr("epochs", per_seed[0]["epochs"])
                if len(per_seed) > 1:
                    trial.set_user_attr("per_seed", per_seed)
                figures = {k: sum(r[k] for r in per_seed) / len(per_seed) for k in (NDCG, COVERAGE)}
            for name, value in figures.items():
                trial.set_user_attr(name, value)
            trial.set_user_attr("seconds", time.perf_counter() - t0)
            if tracker:
                tracker.log_metrics({"val_ndcg_at_10_final": figures[NDCG], "val_coverage_at_10": figures[COVERAGE]})
                tracker.set_tag("state", "complete")
        return (figures[NDCG], figures[COVERAGE]) if settings.multi else figures[NDCG]

    return objective


def chosen(study: optuna.Study, min_coverage: float = 0.0, tolerance: float = 0.0) -> optuna.trial.FrozenTrial:
    """The trial to apply: among complete trials at or above ``min_coverage`` validation coverage@10 (in a
    two-objective study, among its Pareto front), those within ``tolerance`` of the best validation NDCG@10 are
    as good as validation can tell (the early-stopping rule of ``train.tolerance``); of them, the one with the
    most coverage."""
    pool = study.best_trials if len(study.directions) > 1 else study.get_trials(
        deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))  # fmt: skip
    feasible = [t for t in pool if t.user_attrs.get(COVERAGE, 0.0) >= min_coverage]
    if not feasible:
        best = max((t.user_attrs.get(COVERAGE, 0.0) for t in pool), default=float("nan"))
        raise MovieRecError(f"no complete trial reaches validation coverage@10 {min_coverage} (the most: {best:.4f}); "
                            "run more trials or lower --min-coverage")  # fmt: skip
    top = max(t.user_attrs[NDCG] for t in feasible)
    level = [t for t in feasible if t.user_attrs[NDCG] >= top - tolerance]
    return max(level, key=lambda t: (t.user_attrs[COVERAGE], t.user_attrs[NDCG], -t.number))


@contextlib.contextmanager
def _quiet_optuna() -> Iterator[None]:
    level = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    try:
        yield
    finally:
        optuna.logging.set_verbosity(level)


def run_study(study: optuna.Study, objective, settings: TuneSettings, log: Callable[[str], None] = print) -> int:
    """Run trials until the study holds ``settings.trials`` finished ones (counting every process's) or
    ``settings.minutes`` pass; returns how many this process ran."""
    from optuna.study import MaxTrialsCallback

    left = settings.trials - len(finished(study))
    if left <= 0:
        return 0
    states = (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED)
    ran = [0]

    def report(study: optuna.Study, trial: optuna.trial.FrozenTrial) -> None:
        ran[0] += 1
        if trial.state == optuna.trial.TrialState.COMPLETE:
            outcome = f"val NDCG@10 {trial.user_attrs[NDCG]:.4f}, coverage@10 {trial.user_attrs[COVERAGE]:.4f}"
        elif trial.state == optuna.trial.TrialState.PRUNED:
            outcome = f"pruned after epoch {trial.last_step}"
        else:
            outcome = trial.state.name.lower()
        done = len(finished(study))
        log(f"trial {trial.number} ({done}/{settings.trials}): {outcome}; {_short(trial.params)}")

    with _quiet_optuna():
        study.optimize(objective, n_trials=left, timeout=settings.minutes * 60 or None, catch=(MovieRecError,),
                       callbacks=[MaxTrialsCallback(settings.trials, states=states), report],
                       gc_after_trial=True)  # fmt: skip
    return ran[0]


def _short(values: dict) -> str:
    return ", ".join(f"{k.split('.', 1)[1]}={_fmt(v)}" for k, v in values.items())


def _fmt(v: Any) -> str:
    return f"{v:.4g}" if isinstance(v, float) else str(v)


def summary(study: optuna.Study, best: optuna.trial.FrozenTrial) -> dict:
    """What the study did: trial counts by outcome, its span in time, the chosen trial and today's defaults."""
    trials = study.get_trials(deepcopy=False)
    counts: dict[str, int] = {}
    for t in trials:
        counts[t.state.name.lower()] = counts.get(t.state.name.lower(), 0) + 1
    starts = [t.datetime_start for t in trials if t.datetime_start]
    ends = [t.datetime_complete for t in trials if t.datetime_complete]
    defaults = next((t for t in trials if t.user_attrs.get("defaults") and t.state.is_finished()), None)
    out = {
        "study": study.study_name,
        "trials": counts,
        "wall_minutes": (max(ends) - min(starts)).total_seconds() / 60 if starts and ends else 0.0,
        "trial_minutes": sum(t.duration.total_seconds() for t in trials if t.duration) / 60,
        "chosen": {"trial": best.number, "params": best.params, NDCG: best.user_attrs[NDCG],
                   COVERAGE: best.user_attrs[COVERAGE]},  # fmt: skip
    }
    if defaults is not None and NDCG in defaults.user_attrs:
        out["defaults"] = {"trial": defaults.number, NDCG: defaults.user_attrs[NDCG],
                           COVERAGE: defaults.user_attrs[COVERAGE]}  # fmt: skip
    return out


def test_figures(model_name: str, params: dict, data: PipelineData, seeds: list[int]) -> dict:
    """The test split's NDCG@10, recall@10 and coverage@10 of one configuration, per training seed and their
    mean, under the evaluate stage's protocol (known = training + validation ratings). Called once the search
    has chosen, never inside it."""
    from statistics import mean, stdev

    relevant = user_sample(data.test_relevant, int(params["evaluate"]["max_users"]), int(params["seed"]))
    runs = []
    for seed in seeds if model_name == "two_tower" else seeds[:1]:  # EASE draws nothing at random
        scorer = TwoTowerScorer(_fit_two_tower(params, data, seed)[0]) if model_name == "two_tower" else ease_scorer(params, data)
        m = evaluate_scorer(scorer, data.known, relevant, [10], data.n_movies)[0]
        runs.append({"seed": seed, "ndcg@10": m["ndcg@10"], "recall@10": m["recall@10"],
                     "coverage@10": m["coverage@10"]})  # fmt: skip
    out: dict = {"runs": runs}
    for key in ("ndcg@10", "recall@10", "coverage@10"):
        values = [r[key] for r in runs]
        out[key] = mean(values)
        out[f"{key}_sd"] = stdev(values) if len(values) > 1 else 0.0
    return out
