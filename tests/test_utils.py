import json

import numpy as np
import pytest

from movierec.cli import run_stage
from movierec.errors import DataValidationError
import movierec.utils
from movierec.utils import atomic_dir, atomic_path, load_params, set_seed, write_json


def test_set_seed_makes_draws_repeat():
    a = set_seed(11).random(3)
    b = set_seed(11).random(3)
    assert (a == b).all()
    assert (set_seed(11).random(3) == a).all() and not (set_seed(12).random(3) == a).all()


def test_atomic_path_leaves_nothing_on_failure(tmp_path):
    target = tmp_path / "out.txt"
    with pytest.raises(RuntimeError):
        with atomic_path(target) as tmp:
            tmp.write_text("half")
            raise RuntimeError("boom")
    assert list(tmp_path.iterdir()) == []
    with atomic_path(target) as tmp:
        tmp.write_text("whole")
    assert target.read_text() == "whole" and oct(target.stat().st_mode & 0o777) != "0o600"


def test_write_json_numpy_values_and_load_params(tmp_path):
    write_json(tmp_path / "m.json", {"b": np.int64(2), "a": np.float32(0.5), "c": np.arange(2)})
    assert json.loads((tmp_path / "m.json").read_text()) == {"a": 0.5, "b": 2, "c": [0, 1]}
    with pytest.raises(TypeError):
        write_json(tmp_path / "bad.json", {"x": object()})
    (tmp_path / "params.yaml").write_text("seed: 3\nprepare:\n  split: random\n")
    assert load_params(tmp_path / "params.yaml") == {"seed": 3, "prepare": {"split": "random"}}


def test_run_stage_prints_message_and_exits_1(capsys):
    def failing():
        raise DataValidationError("ratings.csv: 1 bad row(s)")

    with pytest.raises(SystemExit) as e:
        run_stage(failing)
    assert e.value.code == 1
    assert capsys.readouterr().err == "error: ratings.csv: 1 bad row(s)\n"


def test_run_stage_error_is_not_glued_to_a_progress_bar(capsys):
    import re
    import sys

    from tqdm import tqdm

    def failing_half_way():
        bar = tqdm(total=5, desc="prepare", file=sys.stderr, disable=False)
        bar.update(2)
        raise DataValidationError("bad")

    with pytest.raises(SystemExit):
        run_stage(failing_half_way)
    err = capsys.readouterr().err
    assert "prepare:  40%" in err
    assert "error: bad" in re.split("[\r\n]", err)  # a line (or a redrawn terminal line) of its own


@pytest.mark.parametrize("exchange", [True, False], ids=["exchange", "rename-aside"])
def test_atomic_dir_swaps_whole_folders(tmp_path, monkeypatch, exchange):
    if not exchange:  # a system without renameat2: the old folder is renamed aside, then removed
        monkeypatch.setattr(movierec.utils, "_exchange", lambda a, b: False)
    out = tmp_path / "out"
    with atomic_dir(out) as build:  # a first folder: nothing to swap out
        (build / "a.txt").write_text("1")
    with atomic_dir(out) as build:
        assert build != out and build.parent == tmp_path and not any(build.iterdir())
        (build / "b.txt").write_text("2")
        assert (out / "a.txt").read_text() == "1"  # readers see the old folder until the swap
    assert sorted(p.name for p in out.iterdir()) == ["b.txt"]  # nothing of the old folder is left in it
    with pytest.raises(RuntimeError):
        with atomic_dir(out) as build:
            (build / "c.txt").write_text("3")
            raise RuntimeError("half way")
    assert sorted(p.name for p in out.iterdir()) == ["b.txt"]  # a failure leaves the previous folder
    assert [p.name for p in tmp_path.iterdir()] == ["out"]  # and no build or old folder behind
