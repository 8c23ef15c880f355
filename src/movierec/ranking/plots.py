"""The ranker's pictures: what it leans on, and what each stage gives on validation."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402


def plot_importance(importance: dict[str, float], path: Path) -> None:
    """Horizontal bars of each feature's total gain, largest on top."""
    items = sorted(importance.items(), key=lambda kv: kv[1])
    fig, ax = plt.subplots(figsize=(7, 0.3 * len(items) + 1.2))
    ax.barh([k for k, _ in items], [v for _, v in items], color="tab:blue")
    ax.set(title="Ranker feature importance (total gain)", xlabel="gain")
    fig.savefig(path, dpi=100, bbox_inches="tight", metadata={"Software": None})
    plt.close(fig)


def write_curves(curves: dict, path: Path) -> None:
    pd.DataFrame(curves).to_csv(path, index=False, float_format="%.6g")


def plot_curves(curves: dict, path: Path) -> None:
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for name, values in curves.items():
        if name != "k":
            ax.plot(curves["k"], values, marker="o", ms=3, label=name)
    ax.set(title="Validation NDCG@K by stage (ranker: out-of-fold)", xlabel="K", ylabel="NDCG@K")
    ax.legend()
    ax.grid(alpha=0.3)
    fig.savefig(path, dpi=100, bbox_inches="tight", metadata={"Software": None})
    plt.close(fig)
