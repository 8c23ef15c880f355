"""What an explanation may say about one recommended movie, all of it from the data, and the sentence that says
it without a language model (the template: the default, and the fallback)."""

from __future__ import annotations

import hashlib
import re
from dataclasses import asdict, dataclass

import orjson

CONTEXT = "_context"  # an explained item's context in an answer, until the explainer takes it out

# MovieLens moves a leading article to the end of a title ("Town, The (2010)"); people say "The Town (2010)"
_ARTICLE_LAST = re.compile(r"^(?P<name>.+?), (?P<article>the|a|an|le|la|les|l'|il|der|die|das|el|los|las|un|une)"
                           r"(?P<rest>( \(.*)?)$", re.IGNORECASE)  # fmt: skip


def natural_title(title: str) -> str:
    """``"Town, The (2010)"`` -> ``"The Town (2010)"``; other titles unchanged."""
    m = _ARTICLE_LAST.match(title)
    if not m:
        return title
    gap = "" if m["article"].endswith("'") else " "
    return f"{m['article']}{gap}{m['name']}{m['rest']}"


def stars_text(stars: float) -> str:
    """4.5 -> "4.5 stars", 5.0 -> "5 stars", 1.0 -> "1 star"."""
    figure = f"{stars:g}"
    return f"{figure} star" if figure == "1" else f"{figure} stars"


@dataclass(frozen=True)
class Anchor:
    """One of the user's own ratings that the explanation rests on."""

    title: str  # as the catalogue has it
    stars: float


@dataclass(frozen=True)
class Context:
    """Everything an explanation of ``title`` for one profile may say. Titles are as the catalogue has them."""

    title: str
    year: int | None
    genres: tuple[str, ...]
    anchors: tuple[Anchor, ...]  # liked by the user's own standard, closest in taste first
    shared: tuple[str, ...]  # genres the movie shares with the anchors
    user_mean: float  # the user's mean rating (stars)
    user_count: int  # how many movies the user rated
    genre_count: int  # of those, how many share a genre with the movie
    genre_mean: float | None  # the user's mean rating over those
    popularity_rank: int  # 1: the most rated movie of the catalogue
    list_rank: int  # 1: the top recommendation
    tags: tuple[str, ...] = ()  # the movie's most used tags (lower-case), where the data has tags

    def digest(self) -> str:
        """A hash of everything the explanation may say (the cache key's part that changes with the profile)."""
        return hashlib.sha1(orjson.dumps(asdict(self))).hexdigest()[:16]

    def titles(self) -> list[str]:
        return [self.title, *(a.title for a in self.anchors)]


def template(ctx: Context) -> str:
    """The sentence without a model: the anchors with their stars, and the genres they share."""
    if not ctx.anchors:
        return f"Popular with people whose ratings resemble yours; it is {', '.join(ctx.genres) or 'unclassified'}."
    parts = [f"{a.title} {stars_text(a.stars)}" for a in ctx.anchors]
    text = "Because you rated " + " and ".join(parts)
    return text + (f"; it shares {', '.join(ctx.shared)}." if ctx.shared else ".")
