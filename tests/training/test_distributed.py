"""Training in two CPU processes under torchrun (gloo), and the settings that choose processes and devices."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from movierec.errors import MovieRecError
from movierec.training.distributed import resolve_device, threads_per_process, under_torchrun, world
from movierec.training.loop import split_settings
from movierec.training.views import at_least
from tests.conftest import REPO
from tests.training import prepared


@pytest.fixture(scope="module")
def two_ranks(tmp_path_factory):
    root = prepared(tmp_path_factory.mktemp("ddp"), n_users=150, n_movies=120, n_ratings=7_000)
    out = root / "out"
    out.mkdir()
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
           str(Path(__file__).with_name("ddp_worker.py")), str(root), str(out)]  # fmt: skip
    done = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return out


def _weights(out: Path, name: str) -> list[dict]:
    return [torch.load(out / f"{name}-rank{r}.pt", weights_only=True) for r in (0, 1)]


def test_both_ranks_hold_the_same_weights_after_one_step(two_ranks):
    a, b = _weights(two_ranks, "one_step")
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]), key
    # each rank built its own random weights (see ddp_worker.py): the process group made them one
    assert json.loads((two_ranks / "one_step-rank1.json").read_text())["world"] == 2


def test_two_ranks_learn_together(two_ranks):
    records = [json.loads((two_ranks / f"epochs-rank{r}.json").read_text()) for r in (0, 1)]
    assert records[0] == records[1]  # the same losses and validation: rank 0's decisions reach rank 1
    losses = [r["loss"] for r in records[0]["history"]]
    assert losses[-1] < losses[0]
    assert sum(r["kept"] for r in records[0]["history"]) == 1
    a, b = _weights(two_ranks, "epochs")
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_steps_give_every_process_a_view():
    steps = [np.arange(5), np.arange(5, 6), np.arange(6, 9), np.arange(9, 10)]
    joined = at_least(steps, 2)
    assert [len(s) for s in joined] == [5, 5]  # 1 joins the next 3; the last 1 joins the step before it
    assert np.array_equal(np.concatenate(joined), np.arange(10))
    assert all(len(s) >= 2 for s in joined)
    with pytest.raises(ValueError, match="fewer than the 3"):
        at_least([np.arange(2)], 3)


def test_run_settings_are_not_training_settings(monkeypatch):
    cfg, run = split_settings({"epochs": 2, "threads": 1, "processes": 4, "device": "cpu"})
    assert cfg == {"epochs": 2} and run == {"threads": 1, "processes": 4, "device": "cpu"}
    assert split_settings({"epochs": 2})[1] == {"threads": 2, "processes": 1, "device": "auto"}  # the shipped params
    assert world() == (0, 1)
    assert resolve_device("cpu") == "cpu"
    assert resolve_device("auto") == ("cuda:0" if torch.cuda.is_available() else "cpu")
    with pytest.raises(MovieRecError, match="auto, cpu, cuda"):
        resolve_device("tpu")
    if not torch.cuda.is_available():
        with pytest.raises(MovieRecError, match="no CUDA device"):
            resolve_device("cuda")
    monkeypatch.delenv("LOCAL_RANK", raising=False)
    assert not under_torchrun() and threads_per_process(2) == 2
    monkeypatch.setenv("LOCAL_RANK", "1")
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("LOCAL_WORLD_SIZE", "2")
    assert under_torchrun() and threads_per_process(2) == 1 and threads_per_process(1) == 1
