"""Stage `download`: fetch, unpack or synthesise the dataset that params.yaml names."""

import argparse

from movierec.cli import run_stage
from movierec.data.acquire import acquire
from movierec.utils import load_params


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--out", required=True, help="folder for the ml-25m-schema CSVs")
    args = ap.parse_args()
    params = load_params()
    data = params["data"]
    source = acquire(
        data["dataset"], args.out, local_path=data.get("local_path", ""), synthetic=data.get("synthetic"),
        seed=params["seed"],
    )
    print(f"{source['dataset']}: ready in {args.out}")


if __name__ == "__main__":
    run_stage(main)
