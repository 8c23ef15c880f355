"""Pictures of a study: optimisation history, parameter importances, the accuracy-coverage Pareto front."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import optuna  # noqa: E402

from movierec.tuning.study import COVERAGE, NDCG  # noqa: E402


def _save(fig, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100, bbox_inches="tight", metadata={"Software": None})
    plt.close(fig)


def _complete(study: optuna.Study) -> list[optuna.trial.FrozenTrial]:
    return [t for t in study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,)) if NDCG in t.user_attrs]


def plot_history(study: optuna.Study, path: Path, chosen: int | None = None, floor: float = 0.0) -> None:
    """Validation NDCG@10 per trial in order, the best so far among trials at or above the coverage ``floor``,
    those below it, and the pruned trials' last reported value."""
    fig, ax = plt.subplots(figsize=(8, 4.5))
    done = _complete(study)
    ok = [t for t in done if t.user_attrs[COVERAGE] >= floor]
    low = [t for t in done if t.user_attrs[COVERAGE] < floor]
    ax.scatter([t.number for t in ok], [t.user_attrs[NDCG] for t in ok], s=22, label="complete")
    if low:
        ax.scatter([t.number for t in low], [t.user_attrs[NDCG] for t in low], s=22, facecolors="none",
                   edgecolors="C0", label=f"complete, coverage@10 below {floor:.4f}")  # fmt: skip
    pruned = [t for t in study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.PRUNED,))
              if t.intermediate_values]  # fmt: skip
    if pruned:
        ax.scatter([t.number for t in pruned], [t.intermediate_values[t.last_step] for t in pruned], s=22,
                   marker="x", color="grey", label="pruned (last epoch reported)")  # fmt: skip
    if ok:
        ax.step([t.number for t in ok], np.maximum.accumulate([t.user_attrs[NDCG] for t in ok]), where="post",
                color="C1", label="best so far" + (" at or above the floor" if floor else ""))  # fmt: skip
    pick = next((t for t in done if t.number == chosen), None)
    if pick is not None:
        ax.scatter([pick.number], [pick.user_attrs[NDCG]], s=120, facecolors="none", edgecolors="C3",
                   label=f"chosen (trial {pick.number})")  # fmt: skip
    ax.set(xlabel="trial", ylabel="validation NDCG@10", title=f"Optimisation history: {study.study_name}")
    ax.legend(loc="lower right", fontsize="small")
    _save(fig, path)


def plot_importances(study: optuna.Study, path: Path) -> dict[str, float]:
    """fANOVA importance of each searched setting for validation NDCG@10 (complete trials); returns it."""
    done = _complete(study)
    if len(done) < 2 or not done[0].params:
        return {}
    target = (lambda t: t.user_attrs[NDCG]) if len(study.directions) > 1 else None
    evaluator = optuna.importance.FanovaImportanceEvaluator(seed=0)  # a random forest: seeded, so reruns agree
    importances = optuna.importance.get_param_importances(study, evaluator=evaluator, target=target)
    names = list(importances)[::-1]
    fig, ax = plt.subplots(figsize=(7, 0.45 * len(names) + 1.2))
    ax.barh(names, [importances[n] for n in names])
    ax.set(xlabel="importance for validation NDCG@10 (fANOVA)", title=f"Setting importances: {study.study_name}")
    _save(fig, path)
    return {k: float(v) for k, v in importances.items()}


def pareto_front(points: np.ndarray) -> np.ndarray:
    """Indices of the rows of ``points`` (``(n, 2)``, both to maximise) that no other row beats in both."""
    keep = []
    for i, p in enumerate(points):
        beaten = np.any(np.all(points >= p, axis=1) & np.any(points > p, axis=1))
        if not beaten:
            keep.append(i)
    return np.array(keep, dtype=np.int64)


def plot_pareto(study: optuna.Study, path: Path, chosen: int | None = None,
                references: dict[str, tuple[float, float]] | None = None, floor: float = 0.0) -> list[int]:  # fmt: skip
    """Validation coverage@10 against NDCG@10 for every complete trial, the front of the trade highlighted;
    ``references``: other models' validation points (``name -> (coverage, ndcg)``); ``floor``: the coverage a
    chosen trial needs, drawn as a line. Returns the front's trials."""
    done = _complete(study)
    fig, ax = plt.subplots(figsize=(7.5, 5))
    front: list[int] = []
    if done:
        pts = np.array([[t.user_attrs[COVERAGE], t.user_attrs[NDCG]] for t in done])
        idx = pareto_front(pts)
        front = [done[i].number for i in idx]
        ax.scatter(pts[:, 0], pts[:, 1], s=18, color="lightgrey", label="trials")
        order = idx[np.argsort(pts[idx, 0])]
        ax.plot(pts[order, 0], pts[order, 1], marker="o", color="C0", label="Pareto front")
        for t in done:
            if t.number == chosen:
                ax.scatter([t.user_attrs[COVERAGE]], [t.user_attrs[NDCG]], s=140, facecolors="none", edgecolors="C3",
                           label=f"chosen (trial {t.number})")  # fmt: skip
    if floor:
        ax.axvline(floor, ls="--", color="grey", label=f"coverage floor {floor:.4f}")
    for i, (name, (cov, ndcg)) in enumerate((references or {}).items()):
        ax.scatter([cov], [ndcg], marker="*", s=160, color=f"C{i + 2}", label=name)
    ax.set(xlabel="validation coverage@10 (share of the catalogue)", ylabel="validation NDCG@10",
           title=f"Accuracy against coverage: {study.study_name}")  # fmt: skip
    ax.legend(loc="lower left")
    _save(fig, path)
    return front
