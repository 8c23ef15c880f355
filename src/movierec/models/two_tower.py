"""A user tower and a movie tower that map into one vector space; a recommendation is a nearest neighbour.

- The **movie tower** reads the movie id and its content: multi-hot genres, release year, popularity, tag ids
  and genome relevance where present. During training the id vector of a share of rows is dropped
  (``id_dropout``), so the content path learns to place rarely rated movies on its own.
- The **user tower** reads only a list of (movie, rating) pairs: it pools the rated movies' vectors, once
  plainly and once weighted by how far each rating sits from the user's mean, and adds rating statistics.
  A new visitor who rated 10 movies is embedded exactly like a known user, with no retraining. A learned
  user-id vector can be added for known users (``use_user_id``).
- With ``item_bias`` (dot product only) each movie vector ends in a learned bias and each user vector in a
  constant 1.0, so ``user . movie`` is taste match plus the movie's bias: popularity no longer has to be
  squeezed into the taste dimensions, and a plain dot-product index still ranks exactly.
  ``popularity_discount`` then lowers each bias by that much times the movie's scaled log popularity
  whenever the model ranks (not while it trains): a smooth trade of a little accuracy for a wider spread of
  the catalogue, applied in the vectors themselves so that evaluation, the index and the service agree.
"""

from __future__ import annotations

import io
import struct
import zipfile

import numpy as np
import pandas as pd
import torch
from torch import nn

from movierec.models.config import TwoTowerConfig
from movierec.utils import atomic_path


def _mlp(n_in: int, hidden: tuple[int, ...], n_out: int, dropout: float, batch_norm: bool) -> nn.Sequential:
    layers: list[nn.Module] = []
    for h in hidden:
        layers.append(nn.Linear(n_in, h))
        if batch_norm:
            layers.append(nn.BatchNorm1d(h))
        layers += [nn.ReLU(), nn.Dropout(dropout)]
        n_in = h
    layers.append(nn.Linear(n_in, n_out))
    return nn.Sequential(*layers)


def year_bucket(year: np.ndarray, n_buckets: int) -> np.ndarray:
    """5-year bins from 1900 (``1`` .. ``n_buckets - 1``, clipped); ``0`` for an unknown year."""
    y = np.asarray(year, dtype=np.float64)
    b = np.clip((y - 1900) // 5 + 1, 1, n_buckets - 1)
    return np.where(np.isnan(y), 0, b).astype(np.int64)


def movie_content(movie_features: pd.DataFrame, cfg: TwoTowerConfig, genome: np.ndarray | None = None) -> dict:
    """Content tensors in ``movie_idx`` order: ``genres (n, G)``, ``year (n,)``, ``popularity (n,)``
    (``log1p(count)`` scaled to 0..1), ``tags (n, T)`` (padded with ``n_tags``), ``genome (n, n_genome)`` (float16)."""
    mf = movie_features.sort_values("movie_idx")
    genre_cols = [c for c in mf.columns if c.startswith("genre_")]
    pop = mf["popularity"].to_numpy(np.float32)
    tags = np.full((len(mf), max(cfg.tags_per_movie, 1)), cfg.n_tags, dtype=np.int64)
    if cfg.n_tags and "tag_ids" in mf:
        for i, ids in enumerate(mf["tag_ids"]):
            ids = list(ids)[: cfg.tags_per_movie]
            tags[i, : len(ids)] = ids
    years = mf["year"].astype("Float64").to_numpy(dtype=np.float64, na_value=np.nan)
    return {
        "genres": torch.from_numpy(mf[genre_cols].to_numpy(np.float32).copy()),
        "year": torch.from_numpy(year_bucket(years, cfg.year_buckets)),
        "popularity": torch.from_numpy(pop / max(float(pop.max()), 1e-6)),
        "tags": torch.from_numpy(tags),
        # relevance in 0..1 needs no more than float16: half the memory and checkpoint of float32
        "genome": torch.from_numpy(np.asarray(genome, dtype=np.float16))
        if cfg.n_genome and genome is not None
        else torch.zeros(len(mf), 0, dtype=torch.float16),
    }


class TwoTower(nn.Module):
    """Two towers over one catalogue. Content tensors are buffers, so a checkpoint is self-contained."""

    def __init__(self, cfg: TwoTowerConfig, content: dict[str, torch.Tensor] | None = None):
        super().__init__()
        self.cfg = cfg
        d, n = cfg.embedding_dim, cfg.n_movies
        if content is None:  # shapes only; a checkpoint's state dict fills them in
            content = {
                "genres": torch.zeros(n, cfg.n_genres),
                "year": torch.zeros(n, dtype=torch.long),
                "popularity": torch.zeros(n),
                "tags": torch.full((n, max(cfg.tags_per_movie, 1)), cfg.n_tags, dtype=torch.long),
                "genome": torch.zeros(n, cfg.n_genome, dtype=torch.float16),
            }
        for name, tensor in content.items():
            self.register_buffer(f"content_{name}", tensor, persistent=True)

        # movie tower
        self.movie_id = nn.Embedding(n, d)
        self.genre_proj = nn.Linear(cfg.n_genres, d, bias=False)
        self.year_emb = nn.Embedding(cfg.year_buckets, d)
        self.tag_emb = nn.EmbeddingBag(cfg.n_tags + 1, d, mode="mean", padding_idx=cfg.n_tags)
        self.genome_proj = nn.Linear(cfg.n_genome, d, bias=False) if cfg.n_genome else None
        n_parts = 4 + (1 if cfg.n_genome else 0)
        self.movie_mlp = _mlp(n_parts * d + 1, cfg.hidden_dims, d + int(cfg.item_bias), cfg.dropout, cfg.batch_norm)

        # user tower
        self.history_emb = nn.Embedding(n + 1, d, padding_idx=n)
        self.history_genre = nn.Linear(cfg.n_genres, d, bias=False)
        self.user_mlp = _mlp(2 * d + 3, cfg.hidden_dims, d, cfg.dropout, cfg.batch_norm)
        self.user_id = nn.Embedding(cfg.n_users, d) if cfg.use_user_id else None

        for emb in [self.movie_id, self.year_emb, self.tag_emb, self.history_emb] + ([self.user_id] if self.user_id else []):  # noqa: E501
            nn.init.normal_(emb.weight, std=0.05)
        with torch.no_grad():
            self.history_emb.weight[n].zero_()
            self.tag_emb.weight[cfg.n_tags].zero_()

    # ----- movie tower -------------------------------------------------------------------------------
    def movie_vectors(self, movie_idx: torch.Tensor | None = None) -> torch.Tensor:
        """``(B,)`` movie indices (all movies when None) -> ``(B, dim)`` vectors."""
        if movie_idx is None:
            movie_idx = torch.arange(self.cfg.n_movies, device=self.movie_id.weight.device)
        ident = self.movie_id(movie_idx)
        if self.training and self.cfg.id_dropout > 0:
            keep = (torch.rand(len(movie_idx), 1, device=ident.device) >= self.cfg.id_dropout).float()
            ident = ident * keep
        parts = [
            ident,
            self.genre_proj(self.content_genres[movie_idx]),
            self.year_emb(self.content_year[movie_idx]),
            self.tag_emb(self.content_tags[movie_idx]),
            self.content_popularity[movie_idx].unsqueeze(1),
        ]
        if self.genome_proj is not None:
            parts.append(self.genome_proj(self.content_genome[movie_idx].float()))
        out = self.movie_mlp(torch.cat(parts, dim=1))
        if self.cfg.popularity_discount and not self.training:
            # ranking only: training learns the bias as it is, and what is ranked (validation, test, the
            # exported vectors, the index) sees it lowered in proportion to the movie's log popularity
            discount = self.cfg.popularity_discount * self.content_popularity[movie_idx].unsqueeze(1)
            out = torch.cat([out[:, :-1], out[:, -1:] - discount], dim=1)
        return self._finish(out)

    # ----- user tower --------------------------------------------------------------------------------
    def user_vectors(
        self,
        items: torch.Tensor,
        ratings: torch.Tensor,
        mask: torch.Tensor,
        user_idx: torch.Tensor | None = None,
        table: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Embed users from rated movies.

        ``items``: ``(B, H)`` movie indices (any value where ``mask`` is False); ``ratings``: ``(B, H)`` stars;
        ``mask``: ``(B, H)`` bool, True for real entries; ``user_idx``: ``(B,)`` known-user indices, or -1,
        used only when the model has user-id vectors; ``table``: :meth:`history_table`, precomputed by a
        server that embeds one visitor per request, or :meth:`history_rows` for the movies of one training
        step, ``items`` then indexing its rows. Returns ``(B, dim)``.
        """
        m = mask.float()
        # one table of history vectors, then weighted sums by embedding_bag: no (B, H, d) tensor is ever
        # built, which keeps long histories cheap
        if table is None:
            table = self.history_table()
        items = torch.where(mask, items, torch.full_like(items, table.shape[0] - 1))  # last row: padding
        n = m.sum(1, keepdim=True).clamp(min=1.0)
        mean_r = (ratings * m).sum(1, keepdim=True) / n
        dev = (ratings - mean_r) * m
        std_r = ((dev * dev).sum(1, keepdim=True) / n).sqrt()
        pooled = nn.functional.embedding_bag(items, table, per_sample_weights=m / n, mode="sum")
        liked = nn.functional.embedding_bag(items, table, per_sample_weights=dev / n, mode="sum")
        return self._user_out(pooled, liked, mean_r, std_r, m.sum(1, keepdim=True), user_idx)

    def _user_out(self, pooled, liked, mean_r, std_r, count, user_idx) -> torch.Tensor:
        """The user tower past its pooling: what :meth:`user_vectors` and :meth:`leave_one_out` share."""
        stats = torch.cat([(mean_r - 3.5) / 1.0, std_r, torch.log1p(count) / 5.0], dim=1)
        u = self.user_mlp(torch.cat([pooled, liked, stats], dim=1))
        if self.user_id is not None and user_idx is not None:
            known = (user_idx >= 0).float().unsqueeze(1)
            u = u + self.user_id(user_idx.clamp(min=0)) * known
        if self.cfg.item_bias:  # the movie vector's last entry is its bias: a constant 1 here adds it
            u = nn.functional.pad(u, (0, 1), value=1.0)
        return self._finish(u)

    def leave_one_out(self, items: torch.Tensor, ratings: torch.Tensor, table: torch.Tensor | None = None,
                      rows: torch.Tensor | None = None, user_idx: int = -1) -> torch.Tensor:  # fmt: skip
        """``(n,)`` one user's rated movies and stars -> ``(len(rows), dim)``: row ``j`` is the user's vector with
        the rated movie ``rows[j]`` (a position in ``items``; all when None) left out, exactly as
        :meth:`user_vectors` would embed that shorter history. The pooled sums are taken once and each left-out
        movie subtracted from them, so that any number of leave-one-out vectors costs one pass of the small MLP
        (what explanations use to find the ratings a score rests on)."""
        if table is None:
            table = self.history_table()
        t_all, r_all = table[items], ratings.float().unsqueeze(1)  # (n, d), (n, 1)
        t, r = (t_all, r_all) if rows is None else (t_all[rows], r_all[rows])
        count = torch.full_like(r, float(len(items) - 1))
        n = count.clamp(min=1.0)
        s, rs, rr = t_all.sum(0), (r_all * t_all).sum(0), (r_all * r_all).sum()
        mean_r = (r_all.sum() - r) / n
        pooled = (s - t) / n
        liked = (rs - r * t) / n - mean_r * pooled
        std_r = ((rr - r * r) / n - mean_r * mean_r).clamp(min=0.0).sqrt()
        who = torch.full((len(r),), user_idx, dtype=torch.long)
        return self._user_out(pooled, liked, mean_r, std_r, count, who)

    def history_table(self) -> torch.Tensor:
        """``(n_movies + 1, dim)``: what each rated movie contributes to a user vector (last row: padding)."""
        genre_part = self.history_genre(self.content_genres)
        return self.history_emb.weight + nn.functional.pad(genre_part, (0, 0, 0, 1))

    def history_rows(self, movie_idx: torch.Tensor) -> torch.Tensor:
        """``(M,)`` movie indices -> ``(M + 1, dim)``: :meth:`history_table`'s rows for those movies only, then
        the padding row. Training reads a step's movies through it, so that the gradient of the id table
        touches only their rows."""
        rows = self.history_emb(movie_idx) + self.history_genre(self.content_genres[movie_idx])
        return nn.functional.pad(rows, (0, 0, 0, 1))

    # ----- scoring -----------------------------------------------------------------------------------
    def _finish(self, x: torch.Tensor) -> torch.Tensor:
        if self.cfg.similarity == "cosine":
            return nn.functional.normalize(x, dim=-1) / self.cfg.temperature**0.5
        return x

    @staticmethod
    def score(users: torch.Tensor, movies: torch.Tensor) -> torch.Tensor:
        """``(B, d) x (M, d) -> (B, M)`` scores. Cosine vectors carry ``1/sqrt(temperature)`` each, so the
        dot product is cosine / temperature and a plain dot-product index ranks them correctly."""
        return users @ movies.T


def taste_part(vectors: np.ndarray, cfg: TwoTowerConfig) -> np.ndarray:
    """Movie or user vectors without the bias column (``item_bias``): what movie-to-movie similarity and
    explanations compare."""
    return vectors[..., :-1] if cfg.item_bias else vectors


def save_checkpoint(path, model: TwoTower, extra: dict | None = None) -> None:
    """Weights, buffers and config in one file that loads with ``torch.load(weights_only=True)``; written
    atomically and byte-for-byte reproducible: ``dvc.lock`` records the checkpoint's hash, so the same weights
    must give the same file. ``torch.save`` stamps a random serialization id into its zip (and the older
    format keys tensors by memory address), so the archive is rewritten with that id zeroed and fixed entry
    dates; ``torch.load`` reads it as usual."""
    buf = io.BytesIO()
    torch.save({"config": model.cfg.to_dict(), "state_dict": model.state_dict(), **(extra or {})}, buf)
    buf.seek(0)
    with atomic_path(path) as tmp, zipfile.ZipFile(buf) as src, zipfile.ZipFile(tmp, "w", zipfile.ZIP_STORED) as out:
        for info in src.infolist():
            data = src.read(info.filename)
            if info.filename.endswith(".data/serialization_id"):
                data = b"0" * len(data)
            entry = zipfile.ZipInfo(info.filename, date_time=(1980, 1, 1, 0, 0, 0))
            # pad the local header so that each record starts on a 64-byte boundary, as torch.save does:
            # a memory-mapped load (see load_checkpoint) then gives tensors aligned data
            start = out.fp.tell() + 30 + len(info.filename.encode()) + 4
            entry.extra = b"FB" + struct.pack("<H", -start % 64) + b"Z" * (-start % 64)
            out.writestr(entry, data)


def load_checkpoint(path, map_location: str = "cpu", mmap: bool = False) -> tuple[TwoTower, dict]:
    """Rebuild the model from a checkpoint alone; ``weights_only=True``: no code in the file is run.

    ``mmap``: the tensors stay pages of the file, read only when touched. A server that never runs the movie
    tower then never holds its content (at ml-25m size the genome alone is 62,423 x 1,128 floats), and its
    workers share the pages they do read."""
    ckpt = torch.load(path, map_location=map_location, weights_only=True, mmap=mmap)
    cfg = TwoTowerConfig.from_dict(ckpt["config"])
    if mmap:
        with torch.device("meta"):  # shapes only: the file's tensors are assigned, not copied
            model = TwoTower(cfg)
        model.load_state_dict(ckpt["state_dict"], assign=True)
    else:
        model = TwoTower(cfg)
        model.load_state_dict(ckpt["state_dict"])
    model.eval()
    return model, ckpt
