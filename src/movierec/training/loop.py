"""The training loop: seeded, early-stopped on validation NDCG@10, with a progress bar."""

from __future__ import annotations

import copy
import dataclasses
import math
import time
from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn
from tqdm.auto import tqdm

from movierec.evaluation.protocol import TwoTowerScorer, evaluate_scorer, user_sample
from movierec.models.losses import LOSSES, bpr_loss, mse_bpr_loss, mse_loss, view_softmax_loss
from movierec.models.two_tower import TwoTower
from movierec.training.data import RatingLists
from movierec.training.distributed import world
from movierec.training.views import ViewBatch, epoch_batches


AUTO = "auto"
AUTO_SETTINGS = {"batch_size": int, "targets_per_view": int, "negatives": int, "sparse_updates": bool, "patience": int}
SMALL_BATCH, LARGE_BATCH = 1024, 32768
STEPS_PER_EPOCH = 512
PATIENCE_STEPS = 1000
SPARSE_CATALOGUE = 20_000


def auto_settings(n_targets: int, n_movies: int, weight_decay: float = 0.0, batch_size: int | str = AUTO) -> dict:
    """The settings that follow the data's size, for ``n_targets`` liked training ratings over ``n_movies``
    movies (with ``batch_size`` given, the others follow it).

    Small data keeps the step it was tuned at (1,024 targets, 4 per history view, every target a negative,
    dense updates). Once an epoch at that step would run past about 512 steps, the step grows with the data (a
    power of two, up to 32,768 targets) so that an epoch stays near 512 steps: per-step work that does not
    grow with the step (the optimiser, the history gathering) is then spread over more targets, and an epoch of
    ml-25m takes minutes rather than half an hour. Larger steps take more targets per view (up to 32: a
    MovieLens user has dozens of liked ratings) and share a sample of 4,096 negatives instead of all their
    targets (the softmax's cost grows with targets x negatives). Above 20,000 movies the id tables get sparse
    updates: a step then touches the rows of the movies it saw instead of every row of both tables.

    Patience is counted in epochs, but what it waits for is steps: 5 epochs without a gain, or fewer where
    they hold more than about 1,000 steps (at least 2). An epoch of ml-latest-small is some 60 steps, and its
    validation on 600 users wanders; one of ml-25m is some 450 steps of 32 times the targets, validated on
    5,000 users, and each costs minutes."""
    if batch_size == AUTO:
        ideal = max(n_targets, 1) / STEPS_PER_EPOCH
        batch_size = int(min(max(2 ** round(math.log2(ideal)), SMALL_BATCH), LARGE_BATCH))
    steps = max(n_targets / batch_size, 1.0)
    return {"batch_size": batch_size, "targets_per_view": min(max(batch_size // 256, 4), 32),
            "negatives": 0 if batch_size <= 4096 else 4096,
            "sparse_updates": n_movies > SPARSE_CATALOGUE and not weight_decay,
            "patience": min(max(round(PATIENCE_STEPS / steps), 2), 5)}  # fmt: skip


@dataclass(frozen=True)
class TrainConfig:
    loss: str = "softmax"  # softmax | bpr | mse | mse_bpr
    epochs: int = 40
    # "auto" derives a setting from the data's size (see auto_settings)
    batch_size: int | str = AUTO  # training targets (liked ratings) per step; also the shared negatives
    targets_per_view: int | str = AUTO  # liked ratings predicted from one history sample of a user
    negatives: int | str = AUTO  # softmax: shared negatives per step, sampled from its targets (0: all its targets)
    sparse_updates: bool | str = AUTO  # the id tables get sparse gradients and SparseAdam (lazy: only rows seen)
    val_users: int = 5000  # validation users (a fixed seeded sample when there are more; 0: all)
    learning_rate: float = 0.003002
    weight_decay: float = 0.0
    patience: int | str = AUTO  # epochs without a gain of more than tolerance in validation NDCG@10 before stopping
    lr_decay: float = 0.5  # learning rate factor after each 2 epochs without improvement (1: constant)
    positive_threshold: float = 3.0  # softmax and BPR learn from ratings at or above this (stars)
    logq_weight: float = 1.028  # strength of the log-popularity correction in the softmax loss (0: none)
    short_history_prob: float = 0.3  # share of rows whose history is cut to 1..15 ratings (cold start)
    max_steps: int = 0  # stop after this many steps in all (0: no limit); for throughput measurements
    ema_decay: float = 0.998  # evaluate and keep an exponential moving average of the weights (0: off)
    tolerance: float = 0.001  # validation NDCG@10 this close to the best is no worse: the latest such epoch is kept
    seed: int = 42

    def __post_init__(self) -> None:
        if self.loss not in LOSSES:
            raise ValueError(f"loss must be one of {LOSSES}, not {self.loss!r}")
        if not 0.0 <= self.ema_decay < 1.0:
            raise ValueError(f"ema_decay must be in [0, 1), not {self.ema_decay}")
        if self.tolerance < 0:
            raise ValueError(f"tolerance must be 0 or more, not {self.tolerance}")
        for name, kind in AUTO_SETTINGS.items():
            value = getattr(self, name)
            if value != AUTO and (type(value) is not kind):
                words = "true or false" if kind is bool else "an integer"
                raise ValueError(f"{name} must be {words} or {AUTO!r}, not {value!r}")
        if self.sparse_updates is True and self.weight_decay:
            raise ValueError("sparse_updates has no weight decay (SparseAdam): set one of them off")
        if self.epochs < 1 or (self.patience != AUTO and self.patience < 1) or self.learning_rate <= 0 or self.weight_decay < 0 or self.max_steps < 0:
            raise ValueError(f"epochs and patience must be 1 or more, learning_rate above 0, weight_decay and max_steps "
                             f"0 or more, not {self.epochs}, {self.patience}, {self.learning_rate}, "
                             f"{self.weight_decay} and {self.max_steps}")  # fmt: skip
        if not 0 < self.lr_decay <= 1 or not 0 <= self.short_history_prob <= 1 or self.logq_weight < 0:
            raise ValueError(f"lr_decay must be in (0, 1], short_history_prob in [0, 1], logq_weight 0 or more, not "
                             f"{self.lr_decay}, {self.short_history_prob} and {self.logq_weight}")  # fmt: skip
        if any(v != AUTO and v < 1 for v in (self.batch_size, self.targets_per_view)) or self.val_users < 0 or (
                self.negatives != AUTO and self.negatives < 0):
            raise ValueError(f"batch_size and targets_per_view must be 1 or more, val_users and negatives 0 or "
                             f"more, not {self.batch_size}, {self.targets_per_view}, {self.val_users} and "
                             f"{self.negatives}")  # fmt: skip

    def resolved(self, n_targets: int, n_movies: int) -> TrainConfig:
        """This configuration with every ``"auto"`` step setting replaced by :func:`auto_settings`'s value."""
        derived = auto_settings(n_targets, n_movies, self.weight_decay, self.batch_size)
        return dataclasses.replace(self, **{k: v for k, v in derived.items() if getattr(self, k) == AUTO})


RUN_SETTINGS = {"threads": 2, "processes": 1, "device": "auto"}  # how, not what, to train: not TrainConfig's


def split_settings(train_params: dict) -> tuple[dict, dict]:
    """params.yaml's ``train`` section -> ``(TrainConfig keyword arguments, run settings)``: ``threads`` (torch
    CPU threads, 0 = torch's default), ``processes`` and ``device`` (see :mod:`movierec.training.distributed`)."""
    cfg = dict(train_params)
    run = {k: type(v)(cfg.pop(k, v)) for k, v in RUN_SETTINGS.items()}
    return cfg, run


@dataclass
class TrainData:
    train: RatingLists  # known ratings while training
    val_relevant: dict[int, np.ndarray]  # user -> relevant validation movies (for early stopping)
    n_movies: int


class EarlyStopping:
    """Which epochs to keep and when to stop, from validation NDCG@10 alone.

    An epoch *gains* when it beats the level of the last gain by more than ``tolerance``; training stops after
    ``patience`` epochs in a row without a gain, so a curve that only creeps (less than ``tolerance`` over
    ``patience`` epochs) ends training as a falling one does. An epoch *holds* when it sets a new best, or
    (``tolerance`` > 0) comes within ``tolerance`` of the best so far; the latest holding epoch is the one kept.
    The learning rate is cut after every 2 epochs without a new best.
    """

    def __init__(self, patience: int, tolerance: float = 0.0):
        self.patience, self.tolerance = patience, tolerance
        self.best, self.level, self.since_best, self.since_gain = float("-inf"), float("-inf"), 0, 0

    def update(self, val: float) -> tuple[bool, bool, bool]:
        """``(keep, stop, slow_down)`` after an epoch that validated at ``val``."""
        new_best = val > self.best
        self.best = max(self.best, val)
        self.since_best = 0 if new_best else self.since_best + 1
        keep = new_best or (self.tolerance > 0 and val >= self.best - self.tolerance)
        gain = val > self.level + self.tolerance
        self.level = val if gain else self.level
        self.since_gain = 0 if gain else self.since_gain + 1
        stop = self.since_gain >= max(self.patience, 1)
        return keep, stop, not stop and self.since_best > 0 and self.since_best % 2 == 0


def positives(train: RatingLists, threshold: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(users, movies, ratings)`` of the training rows a ranking loss learns from."""
    users = np.repeat(np.arange(train.n_users), train.counts())
    keep = train.ratings >= threshold
    return users[keep], train.items[keep], train.ratings[keep]


def target_threshold(cfg: TrainConfig) -> float:
    """The rating from which a training row is a target: the ranking losses learn from liked rows, MSE needs
    every rating level."""
    return cfg.positive_threshold if cfg.loss in ("softmax", "bpr") else 0.0


def resolve(cfg: TrainConfig, data: TrainData) -> TrainConfig:
    """``cfg`` with its ``"auto"`` step settings derived from ``data``'s size: what :func:`fit` trains with."""
    n_targets = int((data.train.ratings >= target_threshold(cfg)).sum())
    if n_targets == 0:
        raise ValueError(f"no training ratings at or above positive_threshold={target_threshold(cfg)}")
    return cfg.resolved(n_targets, data.n_movies)


def sparse_id_tables(model: TwoTower) -> list[torch.nn.Parameter]:
    """Switch the catalogue-sized id tables to sparse gradients and return them: a step then updates only
    the rows of the movies it saw, instead of every row of two ``(n_movies, dim)`` tables."""
    tables = [model.movie_id, model.history_emb] + ([model.user_id] if model.user_id is not None else [])
    for table in tables:
        table.sparse = True
    return [t.weight for t in tables]


def step_loss(model: TwoTower, batch: ViewBatch, cfg: TrainConfig, log_q: torch.Tensor, n_movies: int,
              rng: np.random.Generator, device: str) -> torch.Tensor:  # fmt: skip
    """The loss of one step. Movie vectors are computed once per distinct movie of the step (targets and,
    for BPR, sampled negatives), user vectors once per view."""
    dev = torch.device(device)
    mask = batch.mask
    uniq_hist, inv = np.unique(batch.items[mask].numpy(), return_inverse=True)
    items = torch.full_like(batch.items, len(uniq_hist))
    items[mask] = torch.from_numpy(inv.reshape(-1))
    table = model.history_rows(torch.from_numpy(uniq_hist).to(dev))
    uid = torch.from_numpy(batch.user).to(dev)
    uvec = model.user_vectors(items.to(dev), batch.ratings.to(dev), mask.to(dev), uid, table=table)
    n_t = len(batch.target_movie)
    sampled = rng.integers(0, n_movies, n_t) if cfg.loss in ("bpr", "mse_bpr") else None
    wanted = batch.target_movie if sampled is None else np.concatenate([batch.target_movie, sampled])
    cand, col, count = np.unique(wanted, return_inverse=True, return_counts=True)
    col = col.reshape(-1)
    mvec = model.movie_vectors(torch.from_numpy(cand).to(dev))
    view = torch.from_numpy(batch.target_view).to(dev)
    pos = mvec[torch.from_numpy(col[:n_t]).to(dev)]
    if cfg.loss == "softmax":
        if cfg.negatives and n_t > cfg.negatives:  # a sample of the step's targets, each standing for n_t / N
            neg_col, neg_count = np.unique(col[rng.choice(n_t, cfg.negatives, replace=False)], return_counts=True)
            weight = np.log(neg_count * (n_t / cfg.negatives))
        else:
            neg_col, weight = np.arange(len(cand)), np.log(count)
        at = np.minimum(np.searchsorted(neg_col, col), len(neg_col) - 1)
        hit = neg_col[at] == col
        own = torch.zeros(len(batch.user), len(neg_col), dtype=torch.bool)
        own[torch.from_numpy(batch.target_view[hit]), torch.from_numpy(at[hit])] = True
        lq = log_q[torch.from_numpy(cand).to(dev)]
        neg_col_t = torch.from_numpy(neg_col).to(dev)
        return view_softmax_loss(uvec, pos, view, lq[torch.from_numpy(col).to(dev)], mvec[neg_col_t], lq[neg_col_t],
                                 torch.from_numpy(weight).float().to(dev), own.to(dev))  # fmt: skip
    pos_s = (uvec[view] * pos).sum(1)
    stars = torch.from_numpy(batch.target_rating).to(dev)
    if cfg.loss == "mse":
        return mse_loss(pos_s, stars)
    neg_s = (uvec[view] * mvec[torch.from_numpy(col[n_t:]).to(dev)]).sum(1)
    return bpr_loss(pos_s, neg_s) if cfg.loss == "bpr" else mse_bpr_loss(pos_s, neg_s, stars)


class StepLoss(torch.nn.Module):
    """:func:`step_loss` as a module's forward, so that DistributedDataParallel can wrap it: its gradients are
    then averaged over the processes in the backward pass."""

    def __init__(self, model: TwoTower):
        super().__init__()
        self.model = model

    def forward(self, batch: ViewBatch, cfg: TrainConfig, log_q: torch.Tensor, n_movies: int,
                rng: np.random.Generator, device: str) -> torch.Tensor:  # fmt: skip
        return step_loss(self.model, batch, cfg, log_q, n_movies, rng, device)


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
    for the one epoch whose weights were kept); the last record also says what ended training, ``stopped_by``:
    ``early_stopping``, ``epochs`` (all of them ran) or ``max_steps``. ``"auto"`` step settings are resolved by
    :func:`resolve` first.

    With ``tolerance`` (see :class:`EarlyStopping`), the latest epoch within ``tolerance`` of the best validation
    NDCG@10 so far is kept rather than the best itself. Validation NDCG on a small set wanders by about 0.001
    from epoch to epoch on a plateau, while each further epoch spreads the recommendations over more of the
    catalogue: where validation cannot tell two epochs apart, the later one is kept instead of whichever one
    noise put ahead.

    In a process group (see :mod:`movierec.training.distributed`), every process takes the same steps, each on
    its own share of a step's views (its in-batch negatives are its share's targets); the gradients are averaged
    by DistributedDataParallel, so the weights stay the same everywhere. Rank 0 alone validates and calls
    ``on_epoch``; it tells the others what validation decided.

    Training runs with torch's deterministic algorithms: with more than one CPU thread, the gradient sums of
    the embedding lookups otherwise land in a different order from run to run, and the same seed gave a
    different checkpoint each time.
    """
    previous = torch.are_deterministic_algorithms_enabled(), torch.is_deterministic_algorithms_warn_only_enabled()
    # warn_only: on GPUs some ops have no deterministic version; they warn rather than stop training
    torch.use_deterministic_algorithms(True, warn_only=True)
    try:
        return _fit(model, data, cfg, on_epoch, progress, device)
    finally:
        torch.use_deterministic_algorithms(previous[0], warn_only=previous[1])


def _fit(model: TwoTower, data: TrainData, cfg: TrainConfig, on_epoch: Callable[[dict], None] | None, progress: bool,
         device: str) -> tuple[TwoTower, list[dict]]:  # fmt: skip
    torch.manual_seed(cfg.seed)
    rng = np.random.default_rng(cfg.seed)  # the epochs' views and steps: the same stream in every process
    rank, n_procs = world()
    # negatives and BPR draws: each process its own stream (one process keeps the single shared stream)
    step_rng = rng if n_procs == 1 else np.random.default_rng([cfg.seed, rank])
    threshold = target_threshold(cfg)
    movies = data.train.items[data.train.ratings >= threshold]  # the targets of an epoch
    cfg = resolve(cfg, data)
    share = np.bincount(movies, minlength=data.n_movies) / len(movies)
    log_q = torch.from_numpy((cfg.logq_weight * np.log(np.maximum(share, 1e-12))).astype(np.float32)).to(device)
    val_relevant = user_sample(data.val_relevant, cfg.val_users, cfg.seed)
    model.to(device)
    sparse = sparse_id_tables(model) if cfg.sparse_updates else []
    dense = [p for p in model.parameters() if all(p is not t for t in sparse)]
    opts = [torch.optim.Adam(dense, lr=cfg.learning_rate, weight_decay=cfg.weight_decay)]
    if sparse:
        opts.append(torch.optim.SparseAdam(sparse, lr=cfg.learning_rate))
    stepper = StepLoss(model)
    if n_procs > 1:
        if sparse and dist.get_backend() == "nccl":
            raise ValueError("sparse_updates needs gloo (CPU) in several processes; NCCL has no sparse all-reduce")
        # the content buffers never change: no need to send them at every step
        ids = [torch.device(device).index] if str(device).startswith("cuda") else None
        stepper = DistributedDataParallel(stepper, device_ids=ids, broadcast_buffers=False)

    averaged = None
    if cfg.ema_decay > 0:
        averaged = AveragedModel(model, multi_avg_fn=get_ema_multi_avg_fn(cfg.ema_decay))
        averaged.update_parameters(model)  # the average starts from the initial weights
    scored = averaged.module if averaged is not None else model  # what validation sees and what is kept

    history: list[dict] = []
    stopping = EarlyStopping(cfg.patience, cfg.tolerance)
    kept, kept_state, steps, stopped_by = 0, copy.deepcopy(model.state_dict()), 0, "epochs"
    for epoch in range(1, cfg.epochs + 1):
        model.train()
        t0 = time.perf_counter()
        n_steps, batches = epoch_batches(data.train, lambda r: r >= threshold, cfg.targets_per_view, cfg.batch_size,
                                         model.cfg.max_history, rng, cfg.short_history_prob, rank, n_procs)  # fmt: skip
        # a bar on a terminal only (disable=None): a log file gets the epoch lines below, not every redraw
        bar = tqdm(batches, total=n_steps, desc=f"epoch {epoch}", unit="step", leave=False,
                   disable=None if progress and rank == 0 else True)
        total, seen = 0.0, 0
        for batch in bar:
            loss = stepper(batch, cfg, log_q, data.n_movies, step_rng, device)
            for opt in opts:
                opt.zero_grad()
            loss.backward()
            for opt in opts:
                opt.step()
            if averaged is not None:
                averaged.update_parameters(model)
            n = len(batch.target_movie)
            total += float(loss.detach()) * n
            seen += n
            steps += 1
            elapsed = time.perf_counter() - t0
            bar.set_postfix(loss=f"{total / max(seen, 1):.4f}", rows_per_s=f"{seen / max(elapsed, 1e-9):,.0f}")
            if cfg.max_steps and steps >= cfg.max_steps:
                break
        seconds = time.perf_counter() - t0
        if n_procs > 1:  # the epoch's loss and throughput over every process's share
            sums = torch.tensor([total, float(seen)], dtype=torch.float64)
            dist.all_reduce(sums)
            total, seen = float(sums[0]), int(sums[1])
        metrics = [None]
        if rank == 0:
            scorer = TwoTowerScorer(scored)  # ranks as evaluation will: the model's rank_history
            metrics[0] = evaluate_scorer(scorer, data.train, val_relevant, [10], data.n_movies)[0]
        if n_procs > 1:
            dist.broadcast_object_list(metrics, src=0)
        record = {"epoch": epoch, "loss": total / max(seen, 1), "val_ndcg@10": metrics[0]["ndcg@10"],
                  "val_recall@10": metrics[0]["recall@10"], "seconds": seconds,
                  "interactions_per_s": seen / max(seconds, 1e-9)}  # fmt: skip
        history.append(record)
        if on_epoch and rank == 0:
            on_epoch(record)
        if progress and rank == 0:
            tqdm.write(f"epoch {epoch}: loss {record['loss']:.4f}, val NDCG@10 {record['val_ndcg@10']:.4f}, "
                       f"{record['interactions_per_s']:,.0f} interactions/s")  # fmt: skip
        keep, stop, slow_down = stopping.update(record["val_ndcg@10"])
        if keep:
            kept, kept_state = epoch, copy.deepcopy(scored.state_dict())
        if stop:
            stopped_by = "early_stopping"
            break
        if slow_down:  # a plateau: smaller steps usually find the next improvement
            for opt in opts:
                for group in opt.param_groups:
                    group["lr"] *= cfg.lr_decay
        if cfg.max_steps and steps >= cfg.max_steps:
            stopped_by = "max_steps"
            break
    for record in history:
        record["kept"] = record["epoch"] == kept
    history[-1]["stopped_by"] = stopped_by
    for table in (model.movie_id, model.history_emb, model.user_id):
        if table is not None:
            table.sparse = False
    model.load_state_dict(kept_state)
    model.eval()
    return model, history
