"""The recommender behind the service, free of any web framework: loads the model, embeddings, index and
bundle once, then answers in plain dicts.

- Known users are served from their exported vectors; the search leaves their rated movies out (``_search``).
- A visitor's ratings are embedded by the user tower at request time (one small MLP pass over a history table
  precomputed at load), exactly as cold-start evaluation embeds held-out users.
- Explanations are grounded in the user's own ratings: the highly rated movies nearest (cosine of movie
  vectors) to each recommendation, and the genres they share with it.
"""

from __future__ import annotations

import os
import unicodedata
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from movierec.errors import MovieRecError
from movierec.evaluation.similar import most_similar, row_scaled, unit_rows
from movierec.models.two_tower import TwoTower, load_checkpoint, taste_part
from movierec.retrieval.index import OVERFETCH_MAX, Filters, MovieIndex, open_index
from movierec.explanations.context import CONTEXT, Anchor, Context, nameable, natural_title, template
from movierec.models.blend import DEPTH, fuse, trend_weight
from movierec.ranking.ranker import BOOSTER, TwoStage, best_of, load_two_stage
from movierec.serving.bundle import Bundle, load_bundle
from movierec.training.tracking import file_md5

LIKED = 3.5  # stars: a rating that can ground an explanation (and at or above the user's own mean)
CITED = 2  # ratings an explanation cites at most
MAX_CITED = 2  # movies of one list that one rating may explain
# Liked ratings weighed per list at most: a heavy rater's thousands of liked movies would cost a leave-one-out
# vector each (tens of ms); those nearest the list's movies in the taste space are the ones that can matter.
WEIGHED = 256

# the visitor's journey, by how many ratings a profile holds: (from, stage, what the page says)
JOURNEY = [(0, "new", "New here: trending now"), (1, "learning", "Learning your taste"),
           (10, "personal", "Personalised for you"), (50, "rich", "Rich profile")]  # fmt: skip
FUSE_EXTRA = 50  # a thin profile's fusion looks this far past k down the model's ranking
RICH = 50  # ratings from which a profile is "rich": its strength is full, and explanations are on by default


def journey(n_ratings: int) -> dict:
    """Where a profile of ``n_ratings`` stands: ``stage``, its ``label``, and ``strength`` in 0..1."""
    stage, label = next((s, lab) for lo, s, lab in reversed(JOURNEY) if n_ratings >= lo)
    return {"stage": stage, "label": label, "n_ratings": int(n_ratings), "strength": round(min(n_ratings, RICH) / RICH, 2)}


def search_form(text: str) -> str:
    """How titles and queries are compared: accents dropped, case folded, a trailing article moved to the front
    (``"Matrix, The (1999)"`` -> ``"the matrix (1999)"``; ``"Amélie"`` -> ``"amelie"``)."""
    plain = "".join(c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c)).strip()
    return natural_title(plain).casefold()


def empty_years(year_min: int | None, year_max: int | None) -> bool:
    """A year range that no movie is in."""
    return year_min is not None and year_max is not None and year_min > year_max


class NotFoundError(MovieRecError):
    """An id the service does not know."""


@dataclass(frozen=True)
class Paths:
    model: Path
    embeddings: Path
    index: Path
    ranker: Path | None = None  # the rank stage's folder; None: the two-tower's ordering alone

    @classmethod
    def under(cls, root: str | Path, ranker: bool | None = None) -> "Paths":
        """The pipeline's outputs under ``root``; ``ranker`` None: on unless ``MOVIEREC_RANKER=off``."""
        root = Path(root)
        if ranker is None:
            ranker = ranker_setting()
        return cls(root / "models" / "two_tower.pt", root / "data" / "embeddings", root / "data" / "index",
                   root / "models" / "ranker" if ranker else None)  # fmt: skip


def ranker_setting() -> bool:
    """``MOVIEREC_RANKER``: ``on`` (the default) or ``off``; anything else stops the start with the choices."""
    value = os.environ.get("MOVIEREC_RANKER", "on").strip().lower()
    if value not in ("on", "off"):
        raise MovieRecError(f"MOVIEREC_RANKER={value!r}: use on (the learned ranker orders the two-tower's "
                            "candidates) or off (the two-tower's ordering alone)")  # fmt: skip
    return value == "on"


class Recommender:
    def __init__(self, paths: Paths, index: MovieIndex | None = None):
        for p in (paths.model, paths.embeddings, paths.index):
            if not p.exists():
                raise MovieRecError(f"{p} is missing: run `dvc repro` to build the model, embeddings and index")
        torch.set_num_threads(1)  # one request at a time per worker; more threads only contend
        self.model: TwoTower
        self.model, _ = load_checkpoint(paths.model, mmap=True)
        # the checkpoint's MD5: what dvc.lock records and what tags its MLflow run
        self.version = "two_tower-" + file_md5(paths.model)[:12]
        with torch.no_grad():
            self._table = self.model.history_table()
        self.user_vectors = np.load(paths.embeddings / "user_vectors.npy", mmap_mode="r")  # workers share the pages
        uid = pd.read_parquet(paths.embeddings / "user_ids.parquet")
        self.user_idx = dict(zip(uid["userId"].astype(int), uid["user_idx"].astype(int)))
        self.movie_vectors = movie_vectors = np.load(paths.embeddings / "movie_vectors.npy")  # as indexed
        # the index's ranking of a movie for a query: the dot product, over the movie's norm for cosine
        self._inv_norm = None
        if self.model.cfg.similarity == "cosine":
            self._inv_norm = 1.0 / np.maximum(np.linalg.norm(movie_vectors, axis=1), 1e-12)
        # "similar to a movie" and explanations compare tastes, without the bias column (item_bias)
        taste = taste_part(movie_vectors, self.model.cfg)
        self._unit = unit_rows(taste)
        self.bundle: Bundle = load_bundle(paths.index, len(self.user_vectors))
        cat = self.bundle.catalog
        self.movie_ids = cat["movieId"].to_numpy(np.int64)
        self.movie_idx = {int(m): i for i, m in enumerate(self.movie_ids)}
        self._titles = cat["title"].astype(str).tolist()
        self._genres = cat["genres"].tolist()
        self._tags = cat["tags"].tolist() if "tags" in cat else [[] for _ in range(len(cat))]  # older bundles: none
        self._years = [None if pd.isna(y) else int(y) for y in cat["year"]]
        self._year_array = np.array([np.nan if y is None else y for y in self._years], np.float64)
        self._counts = cat["rating_count"].to_numpy(np.int64)
        self._title_lc = pd.Series([search_form(t) for t in cat["title"].astype(str)])
        self._by_popularity = np.argsort(-self._counts, kind="stable")
        self._popularity_rank = np.empty(len(self._counts), np.int64)
        self._popularity_rank[self._by_popularity] = np.arange(1, len(self._counts) + 1)
        # trending first (the index stage's trending.json), then the most rated of all time: ordered once here
        recent = np.array([self.movie_idx[m] for m in self.bundle.trending.get("movie_ids", []) if m in self.movie_idx],
                          np.int64)  # fmt: skip
        self._n_trending = len(recent)
        # a trending movie's score is its ratings in the latest weeks (0 for the all-time ones after them), so
        # that the list reads in order; bundles made before the counts were kept give their rank instead
        known = [m in self.movie_idx for m in self.bundle.trending.get("movie_ids", [])]
        counts = self.bundle.trending.get("counts") or list(range(len(known), 0, -1))
        self._trend_score = np.zeros(len(self.movie_ids), np.float64)
        self._trend_score[recent] = [c for c, ok in zip(counts, known) if ok]
        self.trending_blend = float(self.bundle.trending.get("blend", 0.0))
        self._by_trend = np.concatenate([recent, self._by_popularity[~np.isin(self._by_popularity, recent)]])
        self.genres = sorted({g for gs in self._genres for g in gs})
        column = {g: j for j, g in enumerate(self.genres)}
        self._genre_hot = np.zeros((len(self._genres), max(len(self.genres), 1)), bool)  # movie x genre
        for m, gs in enumerate(self._genres):
            self._genre_hot[m, [column[g] for g in gs]] = True
        self.index = index or open_index(paths.index / "qdrant")
        self.exclude_max = OVERFETCH_MAX  # rated movies handed to the index at most (see ``_search``)
        self.profiles = {p["key"]: p for p in self.bundle.profiles}
        # the second stage; a missing or damaged ranker stops the start here, never a request
        self.ranker: TwoStage | None = load_two_stage(paths.ranker, movie_vectors) if paths.ranker else None
        self.ranker_version = f"ranker-{file_md5(paths.ranker / BOOSTER)[:12]}" if paths.ranker else "ranker-off"
        self._similar_weight = self.ranker.settings.similar_weight if self.ranker else 0.0
        self._itemitem = row_scaled(self.ranker.itemitem) if self.ranker else None
        self._warm_up()

    def _warm_up(self, n: int = 64) -> None:
        """Touch the index's pages (vectors, graph, payload indexes) before the first visitor does: the first
        searches otherwise fault them in from disk, tens of milliseconds each."""
        rng = np.random.default_rng(0)
        users = rng.choice(len(self.user_vectors), size=min(n, len(self.user_vectors)), replace=False)
        for i, u in enumerate(users):
            genres = (self.genres[i % len(self.genres)],) if self.genres and i % 2 else ()
            self.index.search(self.user_vectors[u], 10, Filters(genres, 1950 + i % 60 if i % 3 == 0 else None))

    # ----- lookups ------------------------------------------------------------------------------------
    def movie(self, i: int, score: float | None = None) -> dict:
        out = {"movie_id": int(self.movie_ids[i]), "title": self._titles[i], "genres": self._genres[i],
               "year": self._years[i]}  # fmt: skip
        if score is not None:
            out["score"] = round(score, 4)
        return out

    def _idx(self, movie_id: int) -> int:
        try:
            return self.movie_idx[int(movie_id)]
        except KeyError:
            raise NotFoundError(f"unknown movie_id {movie_id}: search by title to find a movie's id") from None

    def known_user(self, user_id: int) -> int:
        try:
            return self.user_idx[int(user_id)]
        except KeyError:
            raise NotFoundError(f"unknown user_id {user_id}: new visitors rate movies through /rate instead") from None

    def check_filters(self, genres=None, year_min: int | None = None, year_max: int | None = None) -> None:
        """Every recommendation path checks its filters here: known genres, a year range in order."""
        bad = sorted(set(genres or ()) - set(self.genres))
        if bad:
            raise MovieRecError(f"unknown genre(s) {bad}; known: {self.genres}")
        # year_min after year_max is no error: a range that holds no movie, answered with an empty list

    # ----- embedding ----------------------------------------------------------------------------------
    def embed(self, items: np.ndarray, ratings: np.ndarray) -> np.ndarray:
        """``(n,)`` movie_idx and stars -> ``(dim,)`` user vector from the user tower."""
        h = self.model.cfg.rank_history  # as the exported user vectors were made; 0: all
        if h:
            items, ratings = items[-h:], ratings[-h:]
        with torch.no_grad():
            v = self.model.user_vectors(torch.as_tensor(items[None], dtype=torch.long),
                                        torch.as_tensor(ratings[None], dtype=torch.float32),
                                        torch.ones(1, len(items), dtype=torch.bool), table=self._table)  # fmt: skip
        return v[0].numpy()

    # ----- recommendations ----------------------------------------------------------------------------
    def _search(self, vector: np.ndarray, k: int, genres, year_min, year_max, seen: np.ndarray) -> list[tuple[int, float]]:
        """Top ``k`` movies for ``vector`` within the filters, none of ``seen`` (movie_idx).

        A history of up to ``exclude_max`` rated movies goes to the index, which over-fetches and drops them. A
        longer one is answered by an exact scan of the movie vectors instead: the index would need its whole
        history as a filter inside the graph walk (its best-scored rated movies alone do not do: with k in the
        hundreds, as the ranker asks, a rated movie further down comes back nearly every time). One product
        over the catalogue and a partial sort cost less than that walk, and the answer is exact search's, as
        the offline evaluation ranks."""
        if empty_years(year_min, year_max):
            return []
        if len(seen) > self.exclude_max:
            return self._scan(vector, k, self._allowed(genres, year_min, year_max), seen)
        f = Filters(tuple(genres or ()), year_min, year_max, frozenset(self.movie_ids[seen].tolist()))
        return [(self.movie_idx[h.movie_id], h.score) for h in self.index.search(vector, k, f)]

    def _scan(self, vector: np.ndarray, k: int, allowed: np.ndarray | None, seen: np.ndarray) -> list[tuple[int, float]]:
        """Exact search: the top ``k`` of the ``allowed`` movies (None: all) by the index's score, none of
        ``seen``."""
        scores = self._index_scores(vector)
        if allowed is not None:
            scores[~allowed] = -np.inf
        return [(int(i), float(scores[i])) for i in best_of(scores, k, seen)]

    def liked(self, ratings: np.ndarray) -> np.ndarray:
        """Positions of the ratings an explanation may cite: at least ``LIKED`` stars and at or above the user's
        own mean (a harsh critic's 3.5 is praise, a generous rater's 4 may not be)."""
        return np.flatnonzero(ratings >= max(LIKED, float(ratings.mean())))

    def score_drops(self, found: np.ndarray, items: np.ndarray, ratings: np.ndarray, rows: np.ndarray) -> np.ndarray:
        """``(len(rows), len(found))``: how much the two-tower's score of each movie of ``found`` falls when the
        rating at position ``rows[j]`` of the profile is left out of the user vector (exact, one batch)."""
        h = self.model.cfg.rank_history  # the vector sees the latest h ratings only: older ones weigh nothing
        lo = len(items) - h if h and len(items) > h else 0
        inside = rows >= lo
        out = np.zeros((len(rows), len(found)), np.float32)
        if not inside.any():
            return out
        it, r = torch.as_tensor(items[lo:], dtype=torch.long), torch.as_tensor(ratings[lo:], dtype=torch.float32)
        with torch.no_grad():
            full = self.model.user_vectors(it[None], r[None], torch.ones(1, len(it), dtype=torch.bool), table=self._table)
            loo = self.model.leave_one_out(it, r, self._table, rows=torch.as_tensor(rows[inside] - lo))
        movies = self.movie_vectors[found]
        if self._inv_norm is not None:
            movies = movies * self._inv_norm[found, None]
        out[inside] = (full - loo).numpy() @ movies.T
        return out

    def contexts(self, found: list[int], items: np.ndarray, ratings: np.ndarray, trending: bool = False) -> list[Context]:
        """What the explanation of each movie of a list (movie_idx, best first) for the profile ``items`` /
        ``ratings`` may say. Each cites up to ``CITED`` liked ratings, those whose removal lowers its score the
        most, and no rating is cited for more than ``MAX_CITED`` movies of the list; where no liked rating raises
        the score, the reason says what does instead (``trending``: the list was fused with the trending movies)."""
        found_arr = np.asarray(found, np.int64)
        liked = self.liked(ratings)
        favourite = self._favourite_genres(items[liked])
        liked = self._nearest_liked(liked, items, found_arr)
        drops = self.score_drops(found_arr, items, ratings, liked) if len(liked) else np.zeros((0, len(found)))
        trend = set(self._by_trend[: self._n_trending].tolist()) if trending else set()
        # for each listed movie, the user's rated movies sharing a genre with it, and their mean rating
        near_all = (self._genre_hot[items] @ self._genre_hot[found_arr].T) > 0  # (n rated, n listed)
        near_count = near_all.sum(axis=0)
        near_mean = (ratings @ near_all) / np.maximum(near_count, 1)
        cited: dict[int, int] = {}
        out = []
        for k, i in enumerate(found_arr.tolist()):
            top = self._cite(drops[:, k], liked, cited)
            for t in top:
                cited[t] = cited.get(t, 0) + 1
            mine = tuple(g for g in favourite if g in self._genres[i])
            reason = "rated" if top else "trending" if i in trend else "genres" if mine else "taste"
            out.append(Context(
                title=self._titles[i], year=self._years[i], genres=tuple(self._genres[i]),
                anchors=tuple(Anchor(self._titles[items[t]], float(ratings[t])) for t in top),
                shared=tuple(g for g in self._genres[i] if any(g in self._genres[items[t]] for t in top)),
                user_mean=round(float(ratings.mean()), 2), user_count=len(items), genre_count=int(near_count[k]),
                genre_mean=round(float(near_mean[k]), 2) if near_count[k] else None,
                popularity_rank=int(self._popularity_rank[i]), list_rank=k + 1, tags=tuple(self._tags[i]),
                reason=reason, top_genres=mine if reason == "genres" else ()))  # fmt: skip
        return out

    def _nearest_liked(self, liked: np.ndarray, items: np.ndarray, found: np.ndarray) -> np.ndarray:
        """``liked`` (positions in the profile) cut to the ``WEIGHED`` whose movies are nearest (cosine of taste
        vectors) to any movie of ``found``, in profile order; all of them when there are no more."""
        if len(liked) <= WEIGHED or not len(found):
            return liked
        near = (self._unit[items[liked]] @ self._unit[found].T).max(axis=1)
        return np.sort(liked[np.argpartition(-near, WEIGHED - 1)[:WEIGHED]])

    @staticmethod
    def _cite(drop: np.ndarray, liked: np.ndarray, cited: dict[int, int]) -> list[int]:
        """Up to ``CITED`` positions of ``liked`` whose removal lowers the score (``drop`` > 0), the largest drop
        first, leaving out any already cited ``MAX_CITED`` times. Only the raising ratings are sorted, and the
        walk stops at ``CITED``: a long history's hundreds of liked ratings cost one small sort, not a loop."""
        raising = np.flatnonzero(drop > 0)
        top: list[int] = []
        for j in raising[np.argsort(-drop[raising], kind="stable")].tolist():
            t = int(liked[j])
            if cited.get(t, 0) < MAX_CITED:
                top.append(t)
                if len(top) == CITED:
                    break
        return top

    def _favourite_genres(self, liked_items: np.ndarray, n: int = 3, least: int = 3) -> list[str]:
        """The ``n`` genres of the most liked movies (at least ``least`` of them), most first; only genres a
        sentence can name (IMAX is no kind of film, and once made an empty list for the template to join)."""
        counts = self._genre_hot[liked_items].sum(axis=0)
        ranked = nameable(self.genres[g] for g in np.argsort(-counts, kind="stable") if counts[g] >= least)
        return list(ranked[:n])

    def _items(self, found, explain: bool, items: np.ndarray | None = None, ratings: np.ndarray | None = None,
               trending: bool = False) -> list[dict]:  # fmt: skip
        """The answer's items; explained ones carry the template's text and, under ``CONTEXT``, their context
        (taken out by the explainer before the answer is encoded)."""
        out = [self.movie(i, score) for i, score in found]
        if explain and items is not None and len(items):
            for m, ctx in zip(out, self.contexts([i for i, _ in found], items, ratings, trending)):
                m["explanation"] = template(ctx)
                m["explanation_source"] = "template"  # where the text came from
                m[CONTEXT] = ctx
        return out

    def for_user(self, user_id: int, k: int = 10, genres=None, year_min=None, year_max=None, explain=None) -> dict:
        """A known user's top ``k``; ``explain`` None: explanations for a rich profile (``RICH`` ratings) only."""
        self.check_filters(genres, year_min, year_max)
        u = self.known_user(user_id)
        items, ratings = self.bundle.history(u)
        explain = len(items) >= RICH if explain is None else explain
        found, source = self._ranked(self.user_vectors[u], items, ratings, k, genres, year_min, year_max)
        return {"user_id": int(user_id), "source": source, "journey": journey(len(items)), "explain": explain,
                "items": self._items(found, explain, items, ratings)}  # fmt: skip

    def _ranked(self, vector, items, ratings, k, genres, year_min, year_max) -> tuple[list[tuple[int, float]], str]:
        """The top ``k`` for a profile: the ranker's order of the two-tower's candidates (and the item-to-item
        model's) within the filters when it serves this profile's size, else the two-tower's own."""
        if self.ranker is None or len(items) < self.ranker.settings.min_ratings or empty_years(year_min, year_max):
            return self._search(vector, k, genres, year_min, year_max, items), "two_tower"
        tt = self._search(vector, self.ranker.settings.candidates, genres, year_min, year_max, items)
        cand = np.array([i for i, _ in tt], np.int64)
        return self.ranker.order(vector, items, ratings, cand, k, self._allowed(genres, year_min, year_max)), "two_tower+ranker"

    def _allowed(self, genres, year_min, year_max) -> np.ndarray | None:
        """Movies within the filters (None: no filter), for the item-to-item candidates."""
        if not genres and year_min is None and year_max is None:
            return None
        ok = np.ones(len(self.movie_ids), bool)
        if genres:
            ok &= self._genre_hot[:, [self.genres.index(g) for g in genres]].any(axis=1)
        if year_min is not None or year_max is not None:
            years = self._year_array
            ok &= ~np.isnan(years)
            with np.errstate(invalid="ignore"):
                if year_min is not None:
                    ok &= years >= year_min
                if year_max is not None:
                    ok &= years <= year_max
        return ok

    def for_ratings(self, rated: dict[int, float], k: int = 10, genres=None, year_min=None, year_max=None,
                    explain=False) -> dict:  # fmt: skip
        """Recommendations for a visitor from ``{movie_id: stars}`` alone; popular movies when empty."""
        self.check_filters(genres, year_min, year_max)
        if not rated:
            return self.trending(k, genres, year_min, year_max)
        items = np.array([self._idx(m) for m in rated], np.int64)
        ratings = np.array(list(rated.values()), np.float32)
        vector = self.embed(items, ratings)
        w = trend_weight(self.trending_blend, len(rated)) if self._n_trending else 0.0
        if w > 0:  # a thin profile: the model's ranking fused with what is trending (models/blend.py)
            model = self._search(vector, min(k + FUSE_EXTRA, DEPTH), genres, year_min, year_max, items)
            trend = self._trending_within(genres, year_min, year_max, items)
            order = fuse([i for i, _ in model], trend, w, k)
            scores = dict(model)
            found = [(i, scores[i] if i in scores else self._score(vector, i)) for i in order]
            source = "two_tower+trending"
        else:
            found, source = self._ranked(vector, items, ratings, k, genres, year_min, year_max)
        return {"source": source, "journey": journey(len(rated)), "explain": bool(explain),
                "items": self._items(found, explain, items, ratings, trending=source == "two_tower+trending")}

    def _index_scores(self, vector: np.ndarray, movies=slice(None)) -> np.ndarray:
        """The index's scores of ``movies`` (movie_idx; all by default) for a user vector: the dot product, or
        the cosine (the index normalises both sides)."""
        scores = self.movie_vectors[movies] @ np.asarray(vector, np.float32)
        if self._inv_norm is not None:
            scores = scores * self._inv_norm[movies] / max(float(np.linalg.norm(vector)), 1e-12)
        return scores

    def _score(self, vector: np.ndarray, i: int) -> float:
        """The model's score of movie ``i`` for a user vector, as the index computes it."""
        return float(self._index_scores(vector, [i])[0])

    def _trending_within(self, genres, year_min, year_max, rated: np.ndarray) -> list[int]:
        """The trending movies (movie_idx, best first) that pass the filters, none of ``rated``."""
        want, seen = set(genres or ()), set(rated.tolist())
        return [i for i in self._by_trend[: self._n_trending].tolist()
                if i not in seen and self._passes(i, want, year_min, year_max)]  # fmt: skip

    def _passes(self, i: int, want: set, year_min, year_max) -> bool:
        """Movie ``i`` is of one of the genres ``want`` (any, when empty) and within the years."""
        if want and not want & set(self._genres[i]):
            return False
        y = self._years[i]
        if year_min is None and year_max is None:
            return True
        return y is not None and (year_min is None or y >= year_min) and (year_max is None or y <= year_max)

    def trending(self, k: int = 10, genres=None, year_min=None, year_max=None) -> dict:
        """The most rated movies over the data's latest weeks (the index stage's ``trending.json``), then the most
        rated of all time where those run out: what a visitor with no ratings sees first."""
        t = self.bundle.trending
        out = self.popular(k, genres, year_min, year_max, order=self._by_trend, scores=self._trend_score)
        label = (f"Trending now: the most rated in the data's last {t['weeks']} weeks (to {t['until']})"
                 if self._n_trending else "Popular movies: rate a few to get personal picks")  # fmt: skip
        return {**out, "source": "trending" if self._n_trending else "popular", "label": label}

    def popular(self, k: int = 10, genres=None, year_min=None, year_max=None, exclude=(), order=None,
                scores=None) -> dict:  # fmt: skip
        """The most rated movies of all time (``order``: another order, ``scores`` what each is shown with)."""
        self.check_filters(genres, year_min, year_max)
        scores = self._counts if scores is None else scores
        if empty_years(year_min, year_max):
            order = []
        out = []
        want = set(genres or ())
        skip = set(exclude)
        for i in self._by_popularity if order is None else order:
            if i in skip or not self._passes(i, want, year_min, year_max):
                continue
            out.append(self.movie(int(i), float(scores[i])))
            if len(out) == k:
                break
        return {"source": "popular", "label": "Popular movies: rate a few to get personal picks", "journey": journey(0),
                "items": out}  # fmt: skip

    def similar(self, movie_id: int, k: int = 10) -> dict:
        """The ``k`` movies most like this one: the cosine of taste vectors plus, with the ranker loaded, its
        item-to-item weights (co-rating evidence: sequels, series) at the share the rank stage chose on
        validation (evaluation/similar.py). An exact scan, one product per movie."""
        i = self._idx(movie_id)
        found = most_similar(self._unit, i, k, self._itemitem, self._similar_weight)
        return {"movie": self.movie(i), "items": self._items(found, False)}

    def search(self, query: str, limit: int = 10) -> dict:
        q = search_form(query)
        if not q:
            raise MovieRecError("query is empty: type part of a title")
        hit = np.flatnonzero(self._title_lc.str.contains(q, regex=False).to_numpy())
        starts = self._title_lc.iloc[hit].str.startswith(q).to_numpy()
        order = np.lexsort((-self._counts[hit], ~starts))[:limit]
        return {"query": query, "items": [self.movie(int(hit[o])) for o in order]}

    def onboarding(self, n: int = 15) -> dict:
        ids = self.bundle.onboarding[:n]
        return {"items": [self.movie(self.movie_idx[m]) for m in ids if m in self.movie_idx],
                "advice": "Rate at least 5 movies; 10 to 15 give the best picks."}  # fmt: skip

    def demo(self, key: str, k: int = 10, explain: bool = True) -> dict:
        try:
            p = self.profiles[key]
        except KeyError:
            raise NotFoundError(f"unknown demo profile {key!r}; known: {sorted(self.profiles)}") from None
        out = self.for_user(p["user_id"], k, explain=explain)
        return {"profile": p, **out}
