"""What an explanation may say about one recommended movie, all of it from the data, and the sentence that says
it without a language model (the template: the default, and the fallback)."""

from __future__ import annotations

import hashlib
import re
from dataclasses import asdict, dataclass

import orjson

from movierec.data.titles import natural_title

CONTEXT = "_context"  # an explained item's context in an answer, until the explainer takes it out

def stars_text(stars: float) -> str:
    """4.5 -> "4.5 stars", 5.0 -> "5 stars", 1.0 -> "1 star"."""
    figure = f"{stars:g}"
    return f"{figure} star" if figure == "1" else f"{figure} stars"


@dataclass(frozen=True)
class Anchor:
    """One of the user's own ratings that the explanation rests on."""

    title: str  # as the catalogue has it
    stars: float


# why a movie is on the list, when it is not (only) the visitor's own ratings: the template says which
REASONS = ("rated", "trending", "genres", "taste")


@dataclass(frozen=True)
class Context:
    """Everything an explanation of ``title`` for one profile may say. Titles are as the catalogue has them."""

    title: str
    year: int | None
    genres: tuple[str, ...]
    anchors: tuple[Anchor, ...]  # liked ratings whose removal lowers the movie's score the most, largest first
    shared: tuple[str, ...]  # genres the movie shares with the anchors
    user_mean: float  # the user's mean rating (stars)
    user_count: int  # how many movies the user rated
    genre_count: int  # of those, how many share a genre with the movie
    genre_mean: float | None  # the user's mean rating over those
    popularity_rank: int  # 1: the most rated movie of the catalogue
    list_rank: int  # 1: the top recommendation
    tags: tuple[str, ...] = ()  # the movie's most used tags (lower-case), where the data has tags
    reason: str = "rated"  # one of REASONS: "rated" when there are anchors
    top_genres: tuple[str, ...] = ()  # "genres": genres of many of the user's liked movies that the movie is in

    def digest(self) -> str:
        """A hash of everything the explanation may say (the cache key's part that changes with the profile)."""
        return hashlib.sha1(orjson.dumps(asdict(self))).hexdigest()[:16]

    def titles(self) -> list[str]:
        return [self.title, *(a.title for a in self.anchors)]


# genres in words: the noun a movie of that genre is called, and the word that qualifies another genre's noun
_NOUN = {"Action": "action film", "Adventure": "adventure", "Animation": "animated film", "Children": "family film",
         "Comedy": "comedy", "Crime": "crime film", "Documentary": "documentary", "Drama": "drama",
         "Fantasy": "fantasy", "Film-Noir": "film noir", "Horror": "horror film", "Musical": "musical",
         "Mystery": "mystery", "Romance": "romance", "Sci-Fi": "science-fiction film", "Thriller": "thriller",
         "War": "war film", "Western": "western"}  # fmt: skip
_ADJECTIVE = {"Action": "action", "Adventure": "adventure", "Animation": "animated", "Children": "family",
              "Comedy": "comic", "Crime": "crime", "Documentary": "documentary", "Drama": "dramatic",
              "Fantasy": "fantasy", "Film-Noir": "noir", "Horror": "horror", "Musical": "musical",
              "Mystery": "mystery", "Romance": "romantic", "Sci-Fi": "science-fiction", "Thriller": "suspense",
              "War": "war", "Western": "western"}  # fmt: skip
# which genre names the thing (a "romantic comedy", not a "comic romance"): the first of these the movie has
_NOUN_FIRST = ("Documentary", "Western", "Musical", "Film-Noir", "Horror", "Thriller", "Mystery", "Comedy", "Romance",
               "War", "Crime", "Sci-Fi", "Fantasy", "Adventure", "Action", "Animation", "Children", "Drama")  # fmt: skip
_ADJECTIVE_FIRST = ("Animation", "Children", "Romance", "Sci-Fi", "Fantasy", "Crime", "Action", "Adventure", "War",
                    "Comedy", "Mystery", "Horror", "Thriller", "Drama", "Musical", "Western", "Documentary",
                    "Film-Noir")  # fmt: skip
_RUDE = re.compile(r"fuck|shit|crap|bad|boring|moldy|overrated|stupid|sucks|worst|awful", re.IGNORECASE)


def genre_words(genres) -> str:
    """A movie's genres as a person says them: ``("Animation", "Children", "Comedy")`` -> "animated family
    comedy"; no genre (or only IMAX) -> "film"."""
    known = [g for g in genres if g in _NOUN]
    if not known:
        return "film"
    noun = next(g for g in _NOUN_FIRST if g in known)
    others = [g for g in _ADJECTIVE_FIRST if g in known and g != noun]
    if len(others) > 1 and "Drama" in others:  # nearly every film is "dramatic": say it only when nothing else
        others.remove("Drama")
    adjectives = [_ADJECTIVE[g] for g in others][:2]
    return " ".join([*adjectives, _NOUN[noun]])


def nameable(genres) -> tuple[str, ...]:
    """The genres a sentence can name ("IMAX" and "(no genres listed)" are not kinds of film)."""
    return tuple(g for g in genres if g in _NOUN)


def with_article(phrase: str) -> str:
    return ("an " if phrase[0] in "aeiou" else "a ") + phrase


def _and(parts: list[str]) -> str:
    return parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]


def usable_tags(tags, n: int = 2, genres=()) -> list[str]:
    """Up to ``n`` of a movie's most used tags worth quoting: short, plain, not a verdict or a curse, and not
    one of its ``genres`` said again ("sci-fi" for a Sci-Fi film)."""
    said = {g.casefold() for g in genres} | {_NOUN.get(g, g).split()[0].casefold() for g in genres}
    return [t for t in tags if t.isascii() and len(t) <= 24 and not _RUDE.search(t) and '"' not in t
            and t.casefold() not in said][:n]  # fmt: skip


def template(ctx: Context) -> str:
    """The sentence without a model, from the context's facts alone, in words a person would use; the list's
    items take turns among a few phrasings, so that ten reasons do not read as one form filled in ten times."""
    what = genre_words(ctx.genres)
    tags = usable_tags(ctx.tags, genres=ctx.genres)
    tagged = f", tagged {_and([f'“{t}”' for t in tags])}" if tags else ""
    title = natural_title(ctx.title)
    if ctx.reason == "trending":
        return f"Trending now: {title} is among the most rated movies of the latest weeks, {with_article(what)}{tagged}."
    named = nameable(ctx.top_genres)
    if ctx.reason == "genres" and named:
        favourites = _and([_NOUN[g] + "s" if not _NOUN[g].endswith("y") else _NOUN[g][:-1] + "ies" for g in named])
        return f"Many of the movies you liked are {favourites}, and {title} is {with_article(what)}{tagged}."
    if not ctx.anchors:
        return f"Close to what people with ratings like yours enjoy: {with_article(what)}{tagged}."
    names = [natural_title(a.title) for a in ctx.anchors]
    rated = _and([f"{n} {stars_text(a.stars)}" for n, a in zip(names, ctx.anchors)])
    # "another" names only what the cited movies are too
    kind = ("another " + genre_words(ctx.shared)) if ctx.shared else with_article(what)
    phrasings = (f"Because you liked {_and(names)}: {kind}{tagged}.",
                 f"You gave {rated}; {title} is {kind}{tagged}.",
                 f"For a fan of {_and(names)}, {kind}{tagged}.")  # fmt: skip
    return phrasings[(ctx.list_rank - 1) % len(phrasings)]
