"""Stage `prepare`: validate the raw CSVs, index users and movies, split per user, write Parquet."""

import argparse

from movierec.cli import run_stage
from movierec.data.prepare import PrepareConfig, prepare
from movierec.data.tables import source_name
from movierec.utils import load_params, make_config, write_json


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--raw", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--stats", required=True, help="statistics.json to write")
    args = ap.parse_args()
    params = load_params()
    cfg = make_config(PrepareConfig, "prepare", params["prepare"], seed=params["seed"])
    data = params.get("data", {})  # only to name the user's own files in messages
    stats = prepare(args.raw, args.out, cfg, origin=source_name(data.get("dataset", ""), data.get("local_path", "")))
    write_json(args.stats, stats)
    print(f"{stats['n_ratings']:,} ratings, {stats['n_users']:,} users, {stats['n_movies']:,} rated movies; "
          f"split {stats['split']}; skipped {stats['rows_skipped']['total']:,} rows")


if __name__ == "__main__":
    run_stage(main)
