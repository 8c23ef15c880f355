"""Training curves as a picture: loss and validation metrics per epoch."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402


def plot_curves(history: pd.DataFrame, path: Path) -> None:
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(11, 4))
    a1.plot(history["epoch"], history["loss"], marker="o")
    a1.set(xlabel="epoch", ylabel="training loss", title="Training loss")
    a2.plot(history["epoch"], history["val_ndcg@10"], marker="o", label="NDCG@10")
    a2.plot(history["epoch"], history["val_recall@10"], marker="o", label="Recall@10")
    # the epoch whose weights were kept: the best, or with a tolerance the latest as good as validation can tell
    kept = history.loc[history["kept"].idxmax()]
    a2.axvline(kept["epoch"], ls="--", color="grey", label=f"kept epoch {int(kept['epoch'])}")
    a2.set(xlabel="epoch", ylabel="validation", title="Validation (early stopping on NDCG@10)")
    a2.legend()
    fig.savefig(path, dpi=100, bbox_inches="tight", metadata={"Software": None})
    plt.close(fig)
