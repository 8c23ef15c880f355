"""Started by test_distributed.py under torchrun: trains on small prepared data in a process group and writes
each rank's weights and epoch records, once after a single step and once after a few epochs."""

import json
import sys
from pathlib import Path

import torch

from movierec.training.distributed import process_group
from movierec.training.inputs import build_model, load_pipeline_data
from movierec.training.loop import TrainConfig, TrainData, fit

SMALL_MODEL = {"embedding_dim": 16, "hidden_dims": [32], "max_history": 50}


def main() -> None:
    data_dir, out = Path(sys.argv[1]), Path(sys.argv[2])
    torch.set_num_threads(1)
    data = load_pipeline_data(data_dir / "prep", data_dir / "feat", 4.0)
    train = TrainData(data.train, data.val_relevant, data.n_movies)
    with process_group("cpu") as (rank, world):
        runs = {"one_step": dict(epochs=1, max_steps=1, sparse_updates=True, negatives=64),
                "epochs": dict(epochs=4, ema_decay=0.9)}  # fmt: skip
        for name, kw in runs.items():
            torch.manual_seed(100 + rank)  # different initial weights: the process group must make them equal
            model = build_model(data, SMALL_MODEL)
            model, history = fit(model, train, TrainConfig(batch_size=256, seed=0, **kw), progress=False)
            torch.save(model.state_dict(), out / f"{name}-rank{rank}.pt")
            records = [{k: v for k, v in r.items() if k not in ("seconds", "interactions_per_s")} for r in history]
            (out / f"{name}-rank{rank}.json").write_text(json.dumps({"world": world, "history": records}))


if __name__ == "__main__":
    main()
