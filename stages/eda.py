"""Stage `eda`: exploratory plots (PNG + CSV for `dvc plots show`) and a data-quality summary."""

import argparse
import json

from movierec.cli import run_stage
from movierec.eda.report import make_eda
from movierec.utils import load_params, write_json


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--prepared", required=True)
    ap.add_argument("--features", required=True)
    ap.add_argument("--stats", required=True, help="statistics.json from prepare")
    ap.add_argument("--out", required=True, help="folder for plots")
    ap.add_argument("--summary", required=True, help="data-quality JSON to write")
    args = ap.parse_args()
    with open(args.stats) as f:
        stats = json.load(f)
    summary = make_eda(args.prepared, args.features, args.out, stats, load_params()["eda"]["cold_start_threshold"])
    write_json(args.summary, summary)


if __name__ == "__main__":
    run_stage(main)
