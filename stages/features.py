"""Stage `features`: user, movie and interaction features from the training split."""

import argparse

from movierec.cli import run_stage
from movierec.features.build import FeatureConfig, build_features
from movierec.utils import load_params, make_config


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--prepared", required=True)
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    summary = build_features(args.prepared, args.out, make_config(FeatureConfig, "features", load_params()["features"]))
    print(", ".join(f"{k}={v:,}" for k, v in summary.items()))


if __name__ == "__main__":
    run_stage(main)
