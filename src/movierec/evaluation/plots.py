"""Metric@K tables (for `dvc plots show`) and a picture of every model side by side."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402

METRICS = ["recall", "precision", "ndcg", "hit_rate", "map", "coverage"]


def metric_at_k_table(metrics: dict, ks: list[int]) -> pd.DataFrame:
    """One row per K: ``k, recall, precision, ndcg, hit_rate, map, coverage``."""
    return pd.DataFrame([{"k": k, **{m: metrics[f"{m}@{k}"] for m in METRICS}} for k in ks])


def write_metric_at_k(metrics: dict, ks: list[int], path: Path) -> None:
    metric_at_k_table(metrics, ks).to_csv(path, index=False, float_format="%.6g")


def plot_metric_at_k(results: dict[str, dict], ks: list[int], path: Path) -> None:
    fig, axes = plt.subplots(2, 3, figsize=(13, 7))
    for ax, metric in zip(axes.flat, METRICS):
        for name, metrics in results.items():
            table = metric_at_k_table(metrics, ks)
            ax.plot(table["k"], table[metric], marker="o", label=name)
        ax.set(title=f"{metric}@K", xlabel="K", xticks=ks)
    axes.flat[0].legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100, bbox_inches="tight", metadata={"Software": None})
    plt.close(fig)
