"""Tiny Optuna studies on synthetic data: they complete, prune, resume from their storage, share one study
between two processes, and write the chosen configuration as a params file with the command that applies it."""

import json
import os
import subprocess
import sys
from pathlib import Path

import optuna
import pytest
import yaml

from movierec.errors import MovieRecError
from movierec.training.inputs import load_pipeline_data
from movierec.tuning.command import main as tune
from movierec.tuning.space import parse_space
from movierec.tuning.study import (
    COVERAGE,
    NDCG,
    TuneSettings,
    chosen,
    finished,
    make_objective,
    open_storage,
    open_study,
    run_study,
)
from tests.conftest import REPO
from tests.training import prepared

SPACE = """
params:
  train.learning_rate: {low: 0.001, high: 0.02, log: true}
  model.popularity_discount: {low: 0.0, high: 0.4}
"""


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> Path:
    """A project folder: synthetic data through prepare and features, a small model's params.yaml (few steps per
    epoch, so no weight averaging: it would barely move), a search space."""
    root = tmp_path_factory.mktemp("tune")
    prepared(root, n_users=200, n_movies=400, n_ratings=12000)
    (root / "data").mkdir()
    (root / "prep").rename(root / "data" / "prepared")
    (root / "feat").rename(root / "data" / "features")
    params = yaml.safe_load((REPO / "params.yaml").read_text())
    params["model"].update(embedding_dim=16, hidden_dims=[32])
    params["train"].update(epochs=5, ema_decay=0.0, batch_size=256)
    (root / "params.yaml").write_text(yaml.safe_dump(params))
    (root / "space.yaml").write_text(SPACE)
    return root


def _args(project: Path, *extra: str) -> list[str]:
    return ["--params", str(project / "params.yaml"), "--space", str(project / "space.yaml"),
            "--data", str(project / "data"), "--out", str(project / "tune"), "--plots", str(project / "plots"),
            "--storage", f"sqlite:///{project / 'studies.db'}", "--startup-trials", "2", *extra]  # fmt: skip


@pytest.fixture(autouse=True)
def _mlflow_in_tmp(project, monkeypatch):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{project / 'mlflow.db'}")


def test_a_study_resumes_from_its_storage_and_writes_the_chosen_params(project):
    tune(_args(project, "--study", "resume", "--trials", "2", "--no-test"))
    storage = f"sqlite:///{project / 'studies.db'}"
    study = optuna.load_study(study_name="resume", storage=storage)
    assert len(finished(study)) == 2
    first, params = study.trials[0], yaml.safe_load((project / "params.yaml").read_text())
    assert first.user_attrs["defaults"] and first.params == {
        "train.learning_rate": params["train"]["learning_rate"],
        "model.popularity_discount": params["model"]["popularity_discount"]}  # fmt: skip
    # the same command again with a larger budget runs only the trials still missing
    tune(_args(project, "--study", "resume", "--trials", "4", "--seeds", "42", "1"))
    study = optuna.load_study(study_name="resume", storage=storage)
    assert len(finished(study)) == 4 and [t.number for t in study.trials] == [0, 1, 2, 3]
    summary = json.loads((project / "tune" / "resume" / "summary.json").read_text())
    best = summary["chosen"]
    assert best[NDCG] == max(t.user_attrs[NDCG] for t in study.trials if NDCG in t.user_attrs)
    written = yaml.safe_load((project / "tune" / "resume" / "best_params.yaml").read_text())
    assert written["train"]["learning_rate"] == best["params"]["train.learning_rate"]
    assert written["model"]["popularity_discount"] == best["params"]["model.popularity_discount"]
    assert summary["apply"].startswith("dvc exp run -S ") and "-S model.popularity_discount=" in summary["apply"]
    assert [r["seed"] for r in summary["test"]["runs"]] == [42, 1] and 0 < summary["test"]["ndcg@10"] < 1
    lam = yaml.safe_load((project / "params.yaml").read_text())["evaluate"]["ease_lambda"]
    assert summary["ease_validation"]["ease_lambda"] == lam and 0 < summary["ease_validation"][NDCG] < 1
    for name in ("history", "importances", "pareto"):
        assert (project / "plots" / "resume" / f"{name}.png").stat().st_size > 5000
    # the experiment tracker holds the study's run with one nested run per trial
    import mlflow

    mlflow.set_tracking_uri(os.environ["MLFLOW_TRACKING_URI"])
    runs = mlflow.search_runs(experiment_names=["movierec"], output_format="list")
    trial_runs = [r for r in runs if r.data.tags.get("mlflow.parentRunId") and r.data.params.get("study") == "resume"]
    assert len(trial_runs) == 4 and all("val_ndcg_at_10" in r.data.metrics for r in trial_runs)


def test_a_trial_whose_curve_lags_the_median_is_pruned(project):
    params = yaml.safe_load((project / "params.yaml").read_text())
    data = load_pipeline_data(project / "data" / "prepared", project / "data" / "features", 4.0)
    dims = parse_space("params:\n  train.learning_rate: {low: 0.0000001, high: 0.01, log: true}\n", params)
    settings = TuneSettings(study="prune", trials=4, startup_trials=2, warmup_epochs=3)
    study = open_study(settings, f"sqlite:///{project / 'prune.db'}", dims, params)
    for lr in (0.01, 0.003, 1e-7):  # after three good curves, one that cannot learn
        study.enqueue_trial({"train.learning_rate": lr})
    assert run_study(study, make_objective(settings, dims, params, data), settings, log=lambda _: None) == 4
    states = [t.state for t in study.trials]
    assert states[:3] == [optuna.trial.TrialState.COMPLETE] * 3
    assert states[3] == optuna.trial.TrialState.PRUNED and study.trials[3].last_step < 5
    # a budget already spent runs nothing more
    assert run_study(study, make_objective(settings, dims, params, data), settings) == 0


def test_a_trial_on_several_seeds_is_judged_on_their_mean(project):
    params = yaml.safe_load((project / "params.yaml").read_text())
    data = load_pipeline_data(project / "data" / "prepared", project / "data" / "features", 4.0)
    dims = parse_space("params:\n  train.learning_rate: {low: 0.001, high: 0.02, log: true}\n", params)
    figures = {}
    for name, seeds in (("one", (3,)), ("two", (3, 4))):
        settings = TuneSettings(study=name, trials=1, trial_seeds=seeds)
        study = open_study(settings, f"sqlite:///{project / 'seeds.db'}", dims, params)
        run_study(study, make_objective(settings, dims, params, data), settings, log=lambda _: None)
        figures[name] = study.trials[0].user_attrs
    one, two = figures["one"], figures["two"]
    assert "per_seed" not in one and [r["seed"] for r in two["per_seed"]] == [3, 4]
    first, second = two["per_seed"]
    assert (first[NDCG], first[COVERAGE]) == (one[NDCG], one[COVERAGE])  # the same seed trains the same model
    assert (first[NDCG], first[COVERAGE]) != (second[NDCG], second[COVERAGE])
    assert two[NDCG] == pytest.approx((first[NDCG] + second[NDCG]) / 2)
    assert two[COVERAGE] == pytest.approx((first[COVERAGE] + second[COVERAGE]) / 2)
    with pytest.raises(MovieRecError, match="--trial-seeds must differ"):
        TuneSettings(study="x", trial_seeds=(3, 3))
    with pytest.raises(MovieRecError, match="--trial-seeds is for --model two_tower"):
        TuneSettings(study="x", model="ease", trial_seeds=(3, 4))


def test_two_objectives_draw_a_pareto_front_and_a_floor_picks_from_it(project):
    # a single-objective study's complete trials seed the two-objective one, untrained: their figures are known
    storage = f"sqlite:///{project / 'studies.db'}"
    source = optuna.create_study(study_name="source", storage=storage, direction="maximize")
    space = {"train.learning_rate": optuna.distributions.FloatDistribution(0.001, 0.02, log=True),
             "model.popularity_discount": optuna.distributions.FloatDistribution(0.0, 0.4)}  # fmt: skip
    for i, (lr, ndcg, cov) in enumerate([(0.002, 0.30, 0.01), (0.004, 0.01, 0.99)]):
        source.add_trial(optuna.trial.create_trial(params={"train.learning_rate": lr, "model.popularity_discount": 0.1},
                                                   distributions=space, value=ndcg,
                                                   user_attrs={NDCG: ndcg, COVERAGE: cov}))  # fmt: skip
    tune(_args(project, "--study", "front", "--objective", "ndcg+coverage", "--warm-start", "source", "--trials", "4",
               "--no-test"))  # fmt: skip
    study = optuna.load_study(study_name="front", storage=storage)
    assert [t.user_attrs.get("copied_from") for t in study.trials[:2]] == ["source/0", "source/1"]
    assert study.trials[0].values == [0.30, 0.01] and len(finished(study)) == 4
    summary = json.loads((project / "tune" / "front" / "summary.json").read_text())
    assert sorted(summary["pareto_front"]) == sorted(t.number for t in study.best_trials)
    assert (project / "plots" / "front" / "pareto.png").stat().st_size > 5000
    floor = max(t.user_attrs[COVERAGE] for t in study.best_trials)
    assert chosen(study, floor).user_attrs[COVERAGE] == floor
    with pytest.raises(MovieRecError, match="no complete trial reaches validation coverage@10"):
        chosen(study, floor + 0.01)


@pytest.mark.slow
def test_two_processes_share_one_study(project):
    """Optuna's distributed mode on one machine: two `movierec tune` processes, one SQLite study."""
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    args = _args(project, "--study", "shared", "--trials", "6", "--no-test")
    other = subprocess.Popen([sys.executable, "-m", "movierec.tuning.command", *args, "--worker", "1"], env=env,
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)  # fmt: skip
    tune(args)
    out, _ = other.communicate(timeout=600)
    assert other.returncode == 0, out
    study = optuna.load_study(study_name="shared", storage=f"sqlite:///{project / 'studies.db'}")
    workers = [t.user_attrs.get("worker") for t in finished(study)]
    # each process stops once the study holds 6 finished trials; one started just before may still finish
    assert 6 <= len(workers) <= 7 and set(workers) == {0, 1}
    assert sum(bool(t.user_attrs.get("defaults")) for t in study.trials) == 1
    assert len({json.dumps(t.params, sort_keys=True) for t in study.trials}) == len(study.trials)


def test_whichever_process_creates_the_study_queues_the_defaults_once(project):
    params = yaml.safe_load((project / "params.yaml").read_text())
    dims = parse_space(SPACE, params)
    storage = f"sqlite:///{project / 'first.db'}"
    # worker 1 happens to start first and has begun a trial by the time worker 0 opens the study
    open_study(TuneSettings(study="first", worker=1), storage, dims, params).ask()
    study = open_study(TuneSettings(study="first", worker=0), storage, dims, params)
    assert [bool(t.user_attrs.get("defaults")) for t in study.trials] == [True]


def test_bad_settings_are_refused_with_what_to_do(project):
    with pytest.raises(MovieRecError, match="--objective must be one of"):
        TuneSettings(study="x", objective="recall")
    with pytest.raises(MovieRecError, match="journal file path ending in .log"):
        open_storage("studies.db")
    with pytest.raises(MovieRecError, match="run `dvc repro features` first"):
        tune(_args(project, "--data", str(project / "nowhere")))
    with pytest.raises(MovieRecError, match="searches evaluate.ease_\\* settings only"):
        tune(_args(project, "--model", "ease"))


def test_the_choice_takes_the_most_coverage_among_trials_validation_cannot_tell_apart():
    study = optuna.create_study(directions=["maximize", "maximize"])
    space = {"model.popularity_discount": optuna.distributions.FloatDistribution(0.0, 0.4)}
    for i, (ndcg, cov) in enumerate([(0.300, 0.10), (0.2995, 0.20), (0.250, 0.50), (0.240, 0.40)]):
        study.add_trial(optuna.trial.create_trial(params={"model.popularity_discount": i / 10}, distributions=space,
                                                  values=[ndcg, cov], user_attrs={NDCG: ndcg, COVERAGE: cov}))  # fmt: skip
    assert chosen(study).number == 0  # no tolerance: the best NDCG@10
    assert chosen(study, tolerance=0.001).number == 1  # 0.0005 apart is noise: the wider list wins
    assert chosen(study, min_coverage=0.3, tolerance=0.001).number == 2  # the floor first; trial 3 is dominated
