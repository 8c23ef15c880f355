"""The training loop: seeded, early-stopped on validation NDCG@10, with a progress bar."""

from __future__ import annotations

import copy
import time
from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn
from tqdm.auto import tqdm

from movierec.evaluation.protocol import TwoTowerScorer, evaluate_scorer
from movierec.models.losses import LOSSES, bpr_loss, mse_bpr_loss, mse_loss, sampled_softmax_loss
from movierec.models.two_tower import TwoTower
from movierec.training.data import RatingLists, history_batch


@dataclass(frozen=True)
class TrainConfig:
    loss: str = "softmax"  # softmax | bpr | mse | mse_bpr
    epochs: int = 40
    batch_size: int = 1024
    learning_rate: float = 3e-3
    weight_decay: float = 0.0
    patience: int = 5  # epochs without a better validation NDCG@10 before stopping
    lr_decay: float = 0.5  # learning rate factor after each 2 epochs without improvement (1: constant)
    positive_threshold: float = 0.0  # softmax and BPR learn from ratings at or above this (stars)
    logq_weight: float = 1.0  # strength of the log-popularity correction in the softmax loss (0: none)
    short_history_prob: float = 0.3  # share of rows whose history is cut to 1..15 ratings (cold start)
    max_steps: int = 0  # stop after this many steps in all (0: no limit); for throughput measurements
    ema_decay: float = 0.0  # evaluate and keep an exponential moving average of the weights (0: off)
    tolerance: float = 0.0  # validation NDCG@10 this close to the best is no worse: the latest such epoch is kept
    seed: int = 42

    def __post_init__(self) -> None:
        if self.loss not in LOSSES:
            raise ValueError(f"loss must be one of {LOSSES}, not {self.loss!r}")
        if not 0.0 <= self.ema_decay < 1.0:
            raise ValueError(f"ema_decay must be in [0, 1), not {self.ema_decay}")
        if self.tolerance < 0:
            raise ValueError(f"tolerance must be 0 or more, not {self.tolerance}")


@dataclass
class TrainData:
    train: RatingLists  # known ratings while training
    val_relevant: dict[int, np.ndarray]  # user -> relevant validation movies (for early stopping)
    n_movies: int


class EarlyStopping:
    """Which epochs to keep and when to stop, from validation NDCG@10 alone.

    An epoch *holds* when it sets a new best, or (``tolerance`` > 0) comes within ``tolerance`` of the best so
    far; the latest holding epoch is the one kept, and training stops after ``patience`` epochs in a row that do
    not hold. The learning rate is cut after every 2 epochs without a new best.
    """

    def __init__(self, patience: int, tolerance: float = 0.0):
        self.patience, self.tolerance = patience, tolerance
        self.best, self.since_best, self.since_kept = float("-inf"), 0, 0

    def update(self, val: float) -> tuple[bool, bool, bool]:
        """``(keep, stop, slow_down)`` after an epoch that validated at ``val``."""
        new_best = val > self.best
        self.best = max(self.best, val)
        self.since_best = 0 if new_best else self.since_best + 1
        keep = new_best or (self.tolerance > 0 and val >= self.best - self.tolerance)
        self.since_kept = 0 if keep else self.since_kept + 1
        stop = not keep and self.since_kept >= self.patience  # a kept epoch never ends training
        return keep, stop, not stop and self.since_best > 0 and self.since_best % 2 == 0


def positives(train: RatingLists, threshold: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(users, movies, ratings)`` of the training rows a ranking loss learns from."""
    users = np.repeat(np.arange(train.n_users), train.counts())
    keep = train.ratings >= threshold
    return users[keep], train.items[keep], train.ratings[keep]


def fit(
    model: TwoTower,
    data: TrainData,
    cfg: TrainConfig,
    on_epoch: Callable[[dict], None] | None = None,
    progress: bool = True,
    device: str = "cpu",
) -> tuple[TwoTower, list[dict]]:
    """Train ``model`` in place; keep the weights of the epoch validation chose. With ``ema_decay``, an
    exponential moving average of the weights (updated after every step) is what each epoch validates and what
    is kept; training itself goes on from the live weights. Returns the model (kept weights loaded) and one
    record per epoch: ``epoch, loss, val_ndcg@10, val_recall@10, seconds, interactions_per_s, kept`` (True
    for the one epoch whose weights were kept).

    With ``tolerance`` (see :class:`EarlyStopping`), the latest epoch within ``tolerance`` of the best validation
    NDCG@10 so far is kept rather than the best itself. Validation NDCG on a small set wanders by about 0.001
    from epoch to epoch on a plateau, while each further epoch spreads the recommendations over more of the
    catalogue: where validation cannot tell two epochs apart, the later one is kept instead of whichever one
    noise put ahead.
    """
    torch.manual_seed(cfg.seed)
    rng = np.random.default_rng(cfg.seed)
    # the ranking losses learn from liked rows; MSE needs every rating level
    threshold = cfg.positive_threshold if cfg.loss in ("softmax", "bpr") else 0.0
    users, movies, ratings = positives(data.train, threshold)
    if len(users) == 0:
        raise ValueError(f"no training ratings at or above positive_threshold={threshold}")
    share = np.bincount(movies, minlength=data.n_movies) / len(movies)
    log_q = torch.from_numpy((cfg.logq_weight * np.log(np.maximum(share, 1e-12))).astype(np.float32)).to(device)
    model.to(device)
    opt = torch.optim.Adam(model.parameters(), lr=cfg.learning_rate, weight_decay=cfg.weight_decay)
    max_history = model.cfg.max_history

    averaged = None
    if cfg.ema_decay > 0:
        averaged = AveragedModel(model, multi_avg_fn=get_ema_multi_avg_fn(cfg.ema_decay))
        averaged.update_parameters(model)  # the average starts from the initial weights
    scored = averaged.module if averaged is not None else model  # what validation sees and what is kept

    history: list[dict] = []
    stopping = EarlyStopping(cfg.patience, cfg.tolerance)
    kept, kept_state, steps = 0, copy.deepcopy(model.state_dict()), 0
    for epoch in range(1, cfg.epochs + 1):
        model.train()
        shuffled = data.train.shuffled(rng)
        t0 = time.perf_counter()
        order = rng.permutation(len(users))
        n_batches = (len(order) + cfg.batch_size - 1) // cfg.batch_size
        quiet = {} if progress else {"disable": True}  # when shown, TQDM_DISABLE=1 still silences it
        bar = tqdm(range(n_batches), desc=f"epoch {epoch}", unit="batch", leave=False, **quiet)
        total, seen = 0.0, 0
        for b in bar:
            idx = order[b * cfg.batch_size : (b + 1) * cfg.batch_size]
            u, m, r = users[idx], movies[idx], ratings[idx]
            items, hist_r, mask = history_batch(shuffled, u, max_history, rng=rng, exclude=m,
                                                short_prob=cfg.short_history_prob)  # fmt: skip
            uid, m_t = torch.from_numpy(u).to(device), torch.from_numpy(m).to(device)
            uvec = model.user_vectors(items.to(device), hist_r.to(device), mask.to(device), uid)
            pos = model.movie_vectors(m_t)
            if cfg.loss == "softmax":
                loss = sampled_softmax_loss(uvec, pos, m_t, log_q[m_t])
            else:
                pos_s = (uvec * pos).sum(1)
                if cfg.loss == "mse":
                    loss = mse_loss(pos_s, torch.from_numpy(r).to(device))
                else:
                    neg = model.movie_vectors(torch.from_numpy(rng.integers(0, data.n_movies, len(u))).to(device))
                    neg_s = (uvec * neg).sum(1)
                    if cfg.loss == "bpr":
                        loss = bpr_loss(pos_s, neg_s)
                    else:
                        loss = mse_bpr_loss(pos_s, neg_s, torch.from_numpy(r).to(device))
            opt.zero_grad()
            loss.backward()
            opt.step()
            if averaged is not None:
                averaged.update_parameters(model)
            total += float(loss.detach()) * len(idx)
            seen += len(idx)
            steps += 1
            elapsed = time.perf_counter() - t0
            bar.set_postfix(loss=f"{total / seen:.4f}", rows_per_s=f"{seen / max(elapsed, 1e-9):,.0f}")
            if cfg.max_steps and steps >= cfg.max_steps:
                break
        seconds = time.perf_counter() - t0
        scorer = TwoTowerScorer(scored)  # ranks as evaluation will: the model's rank_history
        metrics, _, _ = evaluate_scorer(scorer, data.train, data.val_relevant, [10], data.n_movies)
        record = {"epoch": epoch, "loss": total / max(seen, 1), "val_ndcg@10": metrics["ndcg@10"],
                  "val_recall@10": metrics["recall@10"], "seconds": seconds,
                  "interactions_per_s": seen / max(seconds, 1e-9)}  # fmt: skip
        history.append(record)
        if on_epoch:
            on_epoch(record)
        if progress:
            tqdm.write(f"epoch {epoch}: loss {record['loss']:.4f}, val NDCG@10 {record['val_ndcg@10']:.4f}, "
                       f"{record['interactions_per_s']:,.0f} interactions/s")  # fmt: skip
        keep, stop, slow_down = stopping.update(record["val_ndcg@10"])
        if keep:
            kept, kept_state = epoch, copy.deepcopy(scored.state_dict())
        if stop:
            break
        if slow_down:  # a plateau: smaller steps usually find the next improvement
            for group in opt.param_groups:
                group["lr"] *= cfg.lr_decay
        if cfg.max_steps and steps >= cfg.max_steps:
            break
    for record in history:
        record["kept"] = record["epoch"] == kept
    model.load_state_dict(kept_state)
    model.eval()
    return model, history
