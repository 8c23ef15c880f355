"""The search-space file: what it accepts, and the message for each way it can be wrong."""

import optuna
import pytest

from movierec.errors import MovieRecError
from movierec.tuning.space import apply, as_overrides, current, load_space, parse_space

PARAMS = {"seed": 42, "train": {"learning_rate": 0.003, "batch_size": 1024, "patience": 5},
          "model": {"embedding_dim": 128, "popularity_discount": 0.15}}  # fmt: skip

GOOD = """
params:
  train.learning_rate: {low: 0.001, high: 0.01, log: true}
  train.patience: {low: 2, high: 8}
  model.embedding_dim: {choices: [64, 128, 256]}
  model.popularity_discount: {low: 0.0, high: 0.4, step: 0.05}
"""


def test_a_space_is_read_into_typed_dimensions_that_optuna_samples_inside():
    dims = {d.name: d for d in parse_space(GOOD, PARAMS)}
    assert dims["train.learning_rate"].log and dims["model.embedding_dim"].choices == (64, 128, 256)
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    for _ in range(20):
        trial = study.ask()
        values = {name: d.suggest(trial) for name, d in dims.items()}
        study.tell(trial, 0.0)
        assert 0.001 <= values["train.learning_rate"] <= 0.01
        assert isinstance(values["train.patience"], int) and 2 <= values["train.patience"] <= 8
        assert values["model.embedding_dim"] in (64, 128, 256)
        assert round(values["model.popularity_discount"] / 0.05, 6).is_integer()


@pytest.mark.parametrize("text, message", [
    ("params: [", "not valid YAML"),
    ("just a string", "non-empty `params:` section"),
    ("params: {}", "non-empty `params:` section"),
    ("params: {train.learning_rate: {low: 0.1, high: 1}}\nsampler: tpe", "unknown top-level key(s) sampler"),
    ("params: {train.learnig_rate: {low: 0.1, high: 1}}", "train.learnig_rate: not a setting of params.yaml"),
    ("params: {learning_rate: {low: 0.1, high: 1}}", "learning_rate: not a setting of params.yaml"),
    ("params: {train.learning_rate: 0.1}", "expected {low: .., high: ..} or {choices: [..]}"),
    ("params: {train.learning_rate: {low: 1, high: 0.1}}", "low (1) must be below high (0.1)"),
    ("params: {train.learning_rate: {low: 0, high: 1, log: true}}", "a log scale needs low > 0"),
    ("params: {train.learning_rate: {low: a, high: 1}}", "low and high must both be numbers"),
    ("params: {train.learning_rate: {low: 0.1, high: 1, scale: log}}", "unknown field(s) scale"),
    ("params: {train.learning_rate: {low: 0.1, high: 1, log: yes please}}", "log must be true or false"),
    ("params: {train.learning_rate: {low: 0.1, high: 1, step: 0}}", "step must be a positive number"),
    ("params: {model.embedding_dim: {choices: []}}", "choices must be a non-empty list"),
    ("params: {model.embedding_dim: {choices: [[64]]}}", "choices must be plain values"),
    ("params: {model.embedding_dim: {choices: [64], low: 1}}", "choices takes no low"),
])  # fmt: skip
def test_a_bad_space_is_refused_with_a_message_that_names_the_entry(text, message):
    with pytest.raises(MovieRecError) as e:
        parse_space(text, PARAMS)
    assert message in str(e.value)


def test_a_missing_space_file_is_named(tmp_path):
    with pytest.raises(MovieRecError, match="nope.yaml not found"):
        load_space(tmp_path / "nope.yaml", PARAMS)


def test_values_apply_to_a_copy_and_print_as_dvc_overrides():
    values = {"train.learning_rate": 0.005, "model.embedding_dim": 64}
    out = apply(PARAMS, values)
    assert out["train"]["learning_rate"] == 0.005 and out["model"]["embedding_dim"] == 64
    assert PARAMS["train"]["learning_rate"] == 0.003  # the original is untouched
    assert as_overrides(values) == "-S train.learning_rate=0.005 -S model.embedding_dim=64"


def test_todays_values_inside_the_space_make_the_first_trial():
    dims = parse_space(GOOD.replace("{low: 2, high: 8}", "{low: 6, high: 8}"), PARAMS)
    # patience 5 lies outside 6..8: left for the sampler
    assert current(dims, PARAMS) == {"train.learning_rate": 0.003, "model.embedding_dim": 128,
                                     "model.popularity_discount": 0.15}  # fmt: skip
