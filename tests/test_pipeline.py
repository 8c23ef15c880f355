"""End to end: the stage scripts and `dvc repro` in a throw-away copy of the repository."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from movierec.data.acquire import acquire
from movierec.data.prepare import PrepareConfig, prepare
from tests.conftest import REPO, ratings_csv, write_raw

BIN = str(Path(sys.executable).parent)


def _env(**extra):
    env = {**os.environ, "PATH": BIN + os.pathsep + os.environ["PATH"], "TQDM_DISABLE": "1", **extra}
    env.pop("MLFLOW_TRACKING_URI", None)
    return env


def _run(args, cwd, **env):
    return subprocess.run(args, cwd=cwd, env=_env(**env), capture_output=True, text=True, timeout=600)


@pytest.fixture
def repo_copy(tmp_path):
    dst = tmp_path / "repo"
    dst.mkdir()
    for name in ["dvc.yaml", "params.yaml", "stages", "src"]:
        src = REPO / name
        if src.is_dir():
            shutil.copytree(src, dst / name, ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
        else:
            shutil.copy(src, dst / name)
    git_user = ["-c", "user.name=movierec-test", "-c", "user.email=test@localhost"]
    for cmd in (["git", "init", "-q"], ["dvc", "init", "-q"], ["git", "add", "-A"],
                ["git", *git_user, "commit", "-qm", "copy"]):  # fmt: skip
        assert _run(cmd, dst).returncode == 0
    return dst


def _set_params(repo: Path, **changes):
    params = yaml.safe_load((repo / "params.yaml").read_text())
    for dotted, value in changes.items():
        node = params
        *path, last = dotted.split("__")
        for key in path:
            node = node[key]
        node[last] = value
    (repo / "params.yaml").write_text(yaml.safe_dump(params))


@pytest.mark.slow
def test_dvc_repro_on_synthetic_data(repo_copy):
    _set_params(repo_copy, data__dataset="synthetic", data__synthetic__n_users=120, data__synthetic__n_movies=200,
                data__synthetic__n_ratings=6000, model__embedding_dim=16, model__hidden_dims=[32],
                train__epochs=1, evaluate__ease_max_items=150)  # fmt: skip
    first = _run(["dvc", "repro"], repo_copy)
    assert first.returncode == 0, first.stdout + first.stderr
    stats = json.loads((repo_copy / "metrics" / "statistics.json").read_text())
    assert stats["n_ratings"] == 6000 and stats["n_users"] == 120
    assert sum(stats["split"].values()) == 6000
    for name in ["train", "val", "test", "movies", "user_index", "movie_index", "tags"]:
        assert (repo_copy / "data" / "prepared" / f"{name}.parquet").is_file()
    for name in ["user_features", "movie_features", "interactions"]:
        assert (repo_copy / "data" / "features" / f"{name}.parquet").is_file()
    assert len(list((repo_copy / "plots" / "eda").glob("*.png"))) == 8
    assert json.loads((repo_copy / "metrics" / "data_quality.json").read_text())["n_ratings"] == 6000

    # model, evaluation and embeddings
    assert json.loads((repo_copy / "metrics" / "train.json").read_text())["epochs_run"] == 1
    evaluation = json.loads((repo_copy / "metrics" / "evaluation.json").read_text())
    assert set(evaluation) == {"two_tower", "two_tower+ranker", "ease", "popularity"}
    test = pd.read_parquet(repo_copy / "data" / "prepared" / "test.parquet")
    with_relevant = test.loc[test["rating"] >= 4.0, "userId"].nunique()  # relevance_threshold 4.0
    for name, m in evaluation.items():
        assert m["n_users"] == with_relevant, name  # every test user with a relevant movie, and only them
        assert m["hit_rate@10"] >= m["precision@10"] and m["recall@20"] >= m["recall@10"], name
        assert m["coverage@20"] >= m["coverage@10"] > 0, name
    cold = json.loads((repo_copy / "metrics" / "cold_start.json").read_text())
    ks = {f"ndcg@10_k{k}" for k in (1, 3, 5, 10, 15)}
    assert set(cold) == {"two_tower", "two_tower+ranker", "two_tower_trending", "ease", "popularity"}
    assert set(cold["two_tower"]) == ks
    for k in ("ndcg@10_k10", "ndcg@10_k15"):  # from 10 ratings the served ranking is the model's own
        assert cold["two_tower_trending"][k] == cold["two_tower"][k]
    movies = np.load(repo_copy / "data" / "embeddings" / "movie_vectors.npy")
    users = np.load(repo_copy / "data" / "embeddings" / "user_vectors.npy")
    # 16 taste dimensions plus the movie bias (item_bias, on by default): users carry a 1.0 there
    assert movies.shape == (200, 17) and users.shape == (120, 17)
    assert np.all(users[:, -1] == 1.0)
    assert json.loads((repo_copy / "plots" / "embeddings" / "neighbours.json").read_text())
    rank = json.loads((repo_copy / "metrics" / "rank.json").read_text())
    assert rank["trees"] >= 1 and {"weight": rank["weight"], "discount": rank["discount"]} in [
        {"weight": t["weight"], "discount": t["discount"]} for t in rank["grid"]]
    v = rank["validation"]  # the coverage floor: 2x EASE's, or the two-tower's own where lower
    assert v["coverage_floor"] == min(2.0 * v["ease"]["coverage@10"], v["two_tower"]["coverage@10"])
    assert {"booster.txt", "ranker.json", "itemitem.npz", "movie_facts.npz"} <= {
        p.name for p in (repo_copy / "models" / "ranker").iterdir()}
    for png in ["train/curves.png", "evaluate/metric_at_k.png", "embeddings/projection.png",
                "rank/feature_importance.png", "rank/ndcg_by_stage.png"]:
        assert (repo_copy / "plots" / png).stat().st_size > 5_000

    # the index and the serving bundle
    index = json.loads((repo_copy / "metrics" / "index.json").read_text())
    assert index["points"] == index["indexed_vectors"] == 200 and index["recall@10_vs_exact"] == 1.0
    assert index["search"] == "exact scan" and 0.9 <= index["graph_recall@10_vs_exact"] <= 1.0
    assert (repo_copy / "data" / "index" / "qdrant" / "CURRENT").is_file()
    assert len(json.loads((repo_copy / "data" / "index" / "onboarding.json").read_text())) == 15

    # the run is in MLflow: params, per-epoch and final metrics, the checkpoint, tags
    import mlflow

    mlflow.set_tracking_uri(f"sqlite:///{repo_copy / 'mlflow.db'}")
    run = mlflow.search_runs(experiment_names=["movierec"], output_format="list")[0]
    assert run.data.params["model.embedding_dim"] == "16" and "git_commit" in run.data.tags
    assert "val_ndcg_at_10" in run.data.metrics and "test_two_tower_ndcg_at_10" in run.data.metrics
    assert run.data.tags["dvc_lock_md5"]

    again = _run(["dvc", "repro"], repo_copy)
    assert again.returncode == 0 and "Running stage" not in again.stdout  # nothing changed, nothing reruns

    _set_params(repo_copy, evaluate__ks=[5, 10])
    third = _run(["dvc", "repro"], repo_copy)
    ran = [line.split("'")[1] for line in third.stdout.splitlines() if line.startswith("Running stage")]
    assert ran == ["evaluate"], third.stdout
    # the ranker's settings rerun the ranker and what reads it, never the model fits before it (EASE's included)
    _set_params(repo_copy, rank__learning_rate=0.1)
    fourth = _run(["dvc", "repro"], repo_copy)
    ran = [line.split("'")[1] for line in fourth.stdout.splitlines() if line.startswith("Running stage")]
    assert ran and ran[0] == "rank" and not {"ease", "train"} & set(ran), fourth.stdout
    shown = _run(["dvc", "exp", "show", "--no-pager", "--json"], repo_copy)
    assert shown.returncode == 0 and '"served"' in shown.stdout
    # the headline figures alone are metrics: a table that fits a terminal; the detailed files are read by path
    table = _run(["dvc", "metrics", "show"], repo_copy)
    assert table.returncode == 0 and max(map(len, table.stdout.splitlines())) <= 160, table.stdout
    summary = json.loads((repo_copy / "metrics" / "summary.json").read_text())
    evaluation = json.loads((repo_copy / "metrics" / "evaluation.json").read_text())
    assert summary["served"]["ndcg"] == evaluation["two_tower+ranker"]["ndcg@10"]
    assert summary["ease"]["cov"] == evaluation["ease"]["coverage@10"]
    detail = _run(["dvc", "metrics", "show", "metrics/evaluation.json"], repo_copy)
    assert detail.returncode == 0 and "two_tower+ranker.ndcg@10" in detail.stdout


def test_the_venvs_dvc_runs_stages_without_an_activated_venv(repo_copy):
    """`.venv/bin/dvc repro` used to fail with ModuleNotFoundError: the stages call `python`, which was the
    system's. Whatever the venv's Python starts now finds the venv's programs first."""
    _set_params(repo_copy, data__dataset="synthetic", data__synthetic__n_users=50, data__synthetic__n_movies=60,
                data__synthetic__n_ratings=1000)  # fmt: skip
    bare = {"PATH": "/usr/bin:/bin", "HOME": os.environ.get("HOME", "/tmp"), "TQDM_DISABLE": "1"}
    done = subprocess.run([os.path.join(BIN, "dvc"), "repro", "prepare"], cwd=repo_copy, env=bare,
                          capture_output=True, text=True, timeout=600)  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    assert (repo_copy / "data" / "prepared" / "train.parquet").exists()


def test_stage_reports_bad_data_without_traceback(tmp_path):
    """The message names the user's own folder and quotes the line as their file holds it (it used to name the
    pipeline's copy, and rebuild the line from parsed values: `5.0,39.0,3.0,...` for integer ids)."""
    ratings = "userId,movieId,rating,timestamp\n1,1,4.0,964982703\n0001,0002,3.5,soon\n"
    write_raw(tmp_path / "raw", ratings)
    params = yaml.safe_load((REPO / "params.yaml").read_text())
    params["data"].update(dataset="local", local_path="/home/me/my-ratings")
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    out = _run([sys.executable, str(REPO / "stages" / "prepare.py"), "--raw", "raw", "--out", "prep",
                "--stats", "stats.json"], tmp_path)  # fmt: skip
    assert out.returncode == 1
    assert out.stderr.startswith("error: ratings.csv (from /home/me/my-ratings): 1 bad row(s)")
    assert "timestamp is not an integer (line 3); e.g. line 3: '0001,0002,3.5,soon'" in out.stderr
    assert "Traceback" not in out.stderr
    write_raw(tmp_path / "raw", "userId,movieId,rating,timestamp\n")
    empty = _run([sys.executable, str(REPO / "stages" / "prepare.py"), "--raw", "raw", "--out", "prep",
                  "--stats", "stats.json"], tmp_path)  # fmt: skip
    assert empty.stderr.startswith("error: ratings.csv (from /home/me/my-ratings): no valid ratings left")


def test_download_stage_offline_message(tmp_path):
    shutil.copy(REPO / "params.yaml", tmp_path / "params.yaml")
    out = _run([sys.executable, str(REPO / "stages" / "download.py"), "--out", "raw"], tmp_path,
               MOVIELENS_MIRROR=str(tmp_path / "no-such-mirror"))  # fmt: skip
    assert out.returncode == 1 and "is neither an http(s) URL nor an existing folder" in out.stderr
    assert "Traceback" not in out.stderr


def test_ml_latest_small_from_the_mirror(mirror, tmp_path, monkeypatch):
    """The reference numbers of ml-latest-small (September 2018 release)."""
    monkeypatch.setenv("MOVIELENS_MIRROR", str(mirror))
    acquire("ml-latest-small", tmp_path / "raw")
    stats = prepare(tmp_path / "raw", tmp_path / "prep", PrepareConfig())
    assert (stats["n_ratings"], stats["n_users"], stats["n_movies"]) == (100_836, 610, 9_724)
    assert stats["n_movies_catalog"] == 9_742 and stats["rows_skipped"]["total"] == 0


@pytest.mark.slow
def test_train_stage_starts_torchrun_itself(repo_copy):
    """``train.processes: 2``: the stage runs under torchrun in two gloo processes; rank 0 alone writes."""
    _set_params(repo_copy, data__dataset="synthetic", data__synthetic__n_users=120, data__synthetic__n_movies=200,
                data__synthetic__n_ratings=6000, model__embedding_dim=16, model__hidden_dims=[32],
                train__epochs=2, train__processes=2, train__device="cpu")  # fmt: skip
    done = _run(["dvc", "repro", "train"], repo_copy)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "interactions/s on cpu in 2 processes" in done.stdout
    summary = json.loads((repo_copy / "metrics" / "train.json").read_text())
    assert summary["epochs_run"] == 2
    from movierec.models.two_tower import load_checkpoint

    model, ckpt = load_checkpoint(repo_copy / "models" / "two_tower.pt")
    assert ckpt["epoch"] == summary["best_epoch"] and model.cfg.n_movies == 200
    assert len((repo_copy / "plots" / "train" / "curves.csv").read_text().splitlines()) == 3  # header + 2 epochs

    _set_params(repo_copy, train__processes=0)
    bad = _run(["dvc", "repro", "train"], repo_copy)
    assert bad.returncode != 0 and "train.processes must be 1 or more" in bad.stderr


def test_generated_folders_are_ignored_by_git():
    """`dvc plots show` writes dvc_plots/; the pipeline's data and the environment are not git's either."""
    for path in ("dvc_plots/index.html", "data/raw/ratings.csv", "models/two_tower.pt", ".venv/bin/python", "mlflow.db"):
        done = subprocess.run(["git", "check-ignore", "-q", path], cwd=REPO)
        assert done.returncode == 0, f"{path} is not ignored by git"
