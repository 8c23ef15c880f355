"""MLflow tracking against a real local SQLite store."""

from movierec.training.tracking import file_md5, find_run, flatten, metric_name, mlflow_run, tracking_uri


def test_names_and_flattening():
    assert metric_name("ndcg@10") == "ndcg_at_10" and metric_name("a:b") == "a_b"
    assert flatten({"model": {"dim": 8, "h": [1]}, "seed": 1}) == {"model.dim": 8, "model.h": [1], "seed": 1}


def test_run_is_logged_and_found_again(tmp_path, monkeypatch):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'm.db'}")
    assert tracking_uri() == f"sqlite:///{tmp_path / 'm.db'}"
    (tmp_path / "ckpt").write_bytes(b"weights")
    digest = file_md5(tmp_path / "ckpt")
    assert find_run("checkpoint_md5", digest) is None
    with mlflow_run("train", tags={"checkpoint_md5": digest}) as mlflow:
        mlflow.log_params({"seed": 1})
        mlflow.log_metric("loss", 0.5, step=1)
        run_id = mlflow.active_run().info.run_id
    assert find_run("checkpoint_md5", digest) == run_id
    with mlflow_run("evaluate", run_id=run_id) as mlflow:
        mlflow.log_metric("test_ndcg_at_10", 0.3)
    run = mlflow.get_run(run_id)
    assert run.data.metrics == {"loss": 0.5, "test_ndcg_at_10": 0.3} and run.data.params == {"seed": "1"}
    assert file_md5(tmp_path / "none") == ""
