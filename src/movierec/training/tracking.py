"""MLflow tracking: a local SQLite store inside the repository unless ``MLFLOW_TRACKING_URI`` names another."""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import re
import subprocess
from pathlib import Path
from typing import Iterator

EXPERIMENT = "movierec"


def tracking_uri(root: str | Path = ".") -> str:
    return os.environ.get("MLFLOW_TRACKING_URI") or f"sqlite:///{Path(root).resolve() / 'mlflow.db'}"


def metric_name(name: str) -> str:
    """MLflow allows letters, digits, ``_-. /`` in names: ``ndcg@10`` becomes ``ndcg_at_10``."""
    return re.sub(r"[^A-Za-z0-9_\-. /]", "_", name.replace("@", "_at_"))


def flatten(d: dict, prefix: str = "") -> dict:
    out = {}
    for k, v in d.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict):
            out.update(flatten(v, key + "."))
        else:
            out[key] = v
    return out


def file_md5(path: str | Path) -> str:
    p = Path(path)
    return hashlib.md5(p.read_bytes()).hexdigest() if p.is_file() else ""


def git_commit() -> str:
    try:
        return subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return ""


@contextlib.contextmanager
def mlflow_run(run_name: str, tags: dict | None = None, run_id: str | None = None) -> Iterator[object]:
    """Start (or resume, with ``run_id``) a run in the ``movierec`` experiment; yields the ``mlflow`` module."""
    import mlflow

    logging.getLogger("alembic").setLevel(logging.WARNING)  # the SQLite store migrates itself quietly
    mlflow.set_tracking_uri(tracking_uri())
    mlflow.set_experiment(EXPERIMENT)
    base = {"git_commit": git_commit(), "dvc_lock_md5": file_md5("dvc.lock")}
    with mlflow.start_run(run_id=run_id, run_name=None if run_id else run_name, tags={**base, **(tags or {})}):
        yield mlflow


def find_run(tag: str, value: str) -> str | None:
    """The id of the newest run whose ``tag`` equals ``value``, if any."""
    import mlflow

    mlflow.set_tracking_uri(tracking_uri())
    exp = mlflow.get_experiment_by_name(EXPERIMENT)
    if exp is None:
        return None
    runs = mlflow.search_runs([exp.experiment_id], filter_string=f"tags.{tag} = '{value}'",
                              order_by=["start_time DESC"], max_results=1, output_format="list")  # fmt: skip
    return runs[0].info.run_id if runs else None
