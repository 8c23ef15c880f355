"""One source of defaults: every setting's default in the code is the value params.yaml ships, so a test that
leans on a default trains, prepares or generates what the pipeline does. A setting that differs on purpose is
overridden where it is used, in the open."""

from dataclasses import MISSING, fields

import pytest

from movierec.data.prepare import PrepareConfig
from movierec.data.synthetic import SyntheticConfig
from movierec.features.build import FeatureConfig
from movierec.models.config import TwoTowerConfig
from movierec.ranking.training import RankConfig
from movierec.training.loop import RUN_SETTINGS, TrainConfig, split_settings
from movierec.utils import load_params
from tests.conftest import REPO

PARAMS = load_params(REPO / "params.yaml")


def _defaults(cls) -> dict:
    return {f.name: (f.default if f.default is not MISSING else f.default_factory())
            for f in fields(cls) if f.default is not MISSING or f.default_factory is not MISSING}  # fmt: skip


def _same(a, b) -> bool:
    return tuple(a) == tuple(b) if isinstance(a, (list, tuple)) else a == b


@pytest.mark.parametrize("cls, section", [
    (TwoTowerConfig, PARAMS["model"]),
    (TrainConfig, split_settings(PARAMS["train"])[0] | {"seed": PARAMS["seed"]}),
    (PrepareConfig, PARAMS["prepare"] | {"seed": PARAMS["seed"]}),
    (FeatureConfig, PARAMS["features"]),
    (SyntheticConfig, PARAMS["data"]["synthetic"] | {"seed": PARAMS["seed"]}),
    (RankConfig, PARAMS["rank"]),
], ids=["model", "train", "prepare", "features", "synthetic", "rank"])  # fmt: skip
def test_code_defaults_are_the_shipped_params(cls, section):
    defaults = _defaults(cls)
    unknown = sorted(set(section) - set(defaults))
    assert not unknown, f"params.yaml sets {unknown}, which {cls.__name__} does not have"
    differ = {k: (defaults[k], v) for k, v in section.items() if not _same(defaults[k], v)}
    assert not differ, f"{cls.__name__} defaults (code, params.yaml) differ: {differ}"


def test_run_settings_default_to_the_shipped_params():
    assert split_settings(PARAMS["train"])[1] == RUN_SETTINGS


def test_a_typo_or_a_refused_value_in_params_names_the_section():
    from movierec.errors import MovieRecError
    from movierec.utils import make_config

    with pytest.raises(MovieRecError, match=r"params.yaml train: unknown setting\(s\) epoch; known: .*epochs"):
        make_config(TrainConfig, "train", {"epoch": 3})
    with pytest.raises(MovieRecError, match="params.yaml train: loss must be one of"):
        make_config(TrainConfig, "train", {"loss": "hinge"})
    with pytest.raises(MovieRecError, match="params.yaml model: item_bias needs similarity=dot"):
        make_config(TwoTowerConfig, "model", {"similarity": "cosine"}, n_users=1, n_movies=1, n_genres=1)
    assert make_config(TrainConfig, "train", {"epochs": 3}, seed=1) == TrainConfig(epochs=3, seed=1)


@pytest.mark.parametrize("cls, section, values, message", [
    (TrainConfig, "train", {"epochs": "ten"}, "epochs must be an integer, not 'ten'"),
    (TrainConfig, "train", {"patience": 2.5}, "patience must be an integer or 'auto', not 2.5"),
    (TrainConfig, "train", {"sparse_updates": 1}, "sparse_updates must be true or false or 'auto', not 1"),
    (TrainConfig, "train", {"batch_size": 1024.0}, "batch_size must be an integer or 'auto', not 1024.0"),
    (TrainConfig, "train", {"learning_rate": "fast"}, "learning_rate must be a number"),
    (TrainConfig, "train", {"learning_rate": 0}, "learning_rate above 0"),
    (TrainConfig, "train", {"lr_decay": 1.5}, "lr_decay must be in (0, 1]"),
    (TwoTowerConfig, "model", {"hidden_dims": [256, "a"]}, "hidden_dims must be a list of integers"),
    (TwoTowerConfig, "model", {"dropout": 1.0}, "dropout and id_dropout must be in [0, 1)"),
    (TwoTowerConfig, "model", {"embedding_dim": 0}, "embedding_dim, year_buckets and hidden_dims must be 1 or more"),
])  # fmt: skip
def test_a_wrong_type_or_an_out_of_range_value_is_refused_by_name(cls, section, values, message):
    from movierec.errors import MovieRecError
    from movierec.utils import make_config

    extra = {"n_users": 1, "n_movies": 1, "n_genres": 1} if cls is TwoTowerConfig else {}
    with pytest.raises(MovieRecError) as e:
        make_config(cls, section, values, **extra)
    assert str(e.value).startswith(f"params.yaml {section}: ") and message in str(e.value)


def test_an_integer_is_a_valid_float_setting():
    from movierec.utils import make_config

    assert make_config(TrainConfig, "train", {"learning_rate": 1}).learning_rate == 1.0
