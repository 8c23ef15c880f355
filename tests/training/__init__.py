"""Shared by the training tests: small synthetic datasets taken through prepare and features."""

from pathlib import Path

from movierec.data.prepare import PrepareConfig, prepare
from movierec.data.synthetic import SyntheticConfig, generate
from movierec.features.build import FeatureConfig, build_features


def prepared(root: Path, seed: int = 9, **synthetic) -> Path:
    """Synthetic data (``SyntheticConfig`` fields) through prepare and features under ``root``: ``root/prep``
    and ``root/feat``. Returns ``root``."""
    generate(SyntheticConfig(seed=seed, **synthetic), root / "raw")
    prepare(root / "raw", root / "prep", PrepareConfig(seed=seed))
    build_features(root / "prep", root / "feat", FeatureConfig())
    return root
