"""The two-tower model's settings: one dataclass, stored in every checkpoint beside the weights."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any

SIMILARITIES = ("dot", "cosine")


@dataclass(frozen=True)
class TwoTowerConfig:
    n_users: int
    n_movies: int
    n_genres: int
    n_tags: int = 0  # tag vocabulary size; 0 = the dataset has no tags
    tags_per_movie: int = 0
    n_genome: int = 0  # genome relevance columns; 0 = none
    embedding_dim: int = 128  # size of user and movie vectors
    hidden_dims: tuple[int, ...] = (256,)  # MLP widths inside each tower
    dropout: float = 0.04616
    batch_norm: bool = False
    similarity: str = "dot"  # dot | cosine; the vector index must use the same
    temperature: float = 0.1  # cosine scores are divided by this
    use_user_id: bool = False  # add a learned id vector for users known at training time
    id_dropout: float = 0.3732  # share of training rows whose movie-id vector is dropped, so content carries
    year_buckets: int = 24  # release-year embedding buckets (5-year bins from 1900; one for unknown)
    max_history: int = 400  # most recent rated movies pooled per user while training
    rank_history: int = 0  # most recent rated movies pooled when a user is embedded to rank; 0 = all
    item_bias: bool = True  # dot only: each movie vector ends in a learned bias, each user vector in 1.0
    popularity_discount: float = 0.1567  # item_bias only: at ranking time, bias minus this x scaled log popularity

    def __post_init__(self) -> None:
        if self.similarity not in SIMILARITIES:
            raise ValueError(f"similarity must be one of {SIMILARITIES}, not {self.similarity!r}")
        if self.item_bias and self.similarity != "dot":
            raise ValueError("item_bias needs similarity=dot (a bias has no place in a cosine)")
        if self.embedding_dim < 1 or self.year_buckets < 1 or self.temperature <= 0 or any(h < 1 for h in self.hidden_dims):
            raise ValueError(f"embedding_dim, year_buckets and hidden_dims must be 1 or more and temperature above 0, "
                             f"not {self.embedding_dim}, {self.year_buckets}, {list(self.hidden_dims)} and "
                             f"{self.temperature}")  # fmt: skip
        if not 0 <= self.dropout < 1 or not 0 <= self.id_dropout < 1:
            raise ValueError(f"dropout and id_dropout must be in [0, 1), not {self.dropout} and {self.id_dropout}")
        if self.max_history < 1 or self.rank_history < 0:
            raise ValueError(f"max_history must be 1 or more and rank_history 0 (all) or more, not "
                             f"{self.max_history} and {self.rank_history}")  # fmt: skip
        if self.popularity_discount < 0:
            raise ValueError(f"popularity_discount must be 0 or more, not {self.popularity_discount}")
        if self.popularity_discount and not self.item_bias:
            raise ValueError("popularity_discount needs item_bias=true (it lowers the movie's bias entry)")
        object.__setattr__(self, "hidden_dims", tuple(int(h) for h in self.hidden_dims))

    @property
    def vector_dim(self) -> int:
        """Length of the user and movie vectors the index holds: ``embedding_dim``, plus one with ``item_bias``."""
        return self.embedding_dim + int(self.item_bias)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "TwoTowerConfig":
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in names})
