"""The template's sentences: genres in words, tags worth quoting, a few phrasings, and a reason for every case."""

import re
from dataclasses import replace

import pytest

from movierec.explanations.context import (Anchor, Context, genre_words, nameable, template, usable_tags,
                                            with_article)

CTX = Context(title="Town, The (2010)", year=2010, genres=("Crime", "Drama", "Thriller"),
              anchors=(Anchor("Heat (1995)", 5.0), Anchor("Ronin (1998)", 4.5)), shared=("Crime", "Thriller"),
              user_mean=3.6, user_count=40, genre_count=12, genre_mean=3.9, popularity_rank=250, list_rank=1,
              tags=("heist", "boring", "bank robbery", "ben affleck"))  # fmt: skip
CODES = re.compile(r"Sci-Fi|Film-Noir|Children|\(no genres listed\)|\|")


@pytest.mark.parametrize("genres, words", [
    (("Animation", "Children", "Comedy"), "animated family comedy"),
    (("Comedy", "Romance"), "romantic comedy"),
    (("Crime", "Drama", "Thriller"), "crime thriller"),  # "dramatic" only when nothing else qualifies
    (("Drama", "War"), "dramatic war film"),
    (("Sci-Fi",), "science-fiction film"),
    (("Drama",), "drama"),
    (("IMAX",), "film"),
    ((), "film"),
])  # fmt: skip
def test_genres_are_said_in_words(genres, words):
    assert genre_words(genres) == words


def test_articles_and_tags():
    assert with_article("animated film") == "an animated film" and with_article("drama") == "a drama"
    assert usable_tags(("heist", "boring", "mindfuck", "bank robbery", "x" * 30)) == ["heist", "bank robbery"]
    assert usable_tags(("sci-fi", "adventure", "time travel"), genres=("Sci-Fi", "Adventure")) == ["time travel"]


def test_a_list_takes_turns_among_phrasings_that_name_the_cited_movies():
    texts = [template(replace(CTX, list_rank=r)) for r in (1, 2, 3)]
    assert len(set(texts)) == 3
    for t in texts:
        assert "Heat (1995)" in t and "Ronin (1998)" in t and "another crime thriller" in t
        assert "“heist” and “bank robbery”" in t and "boring" not in t and not CODES.search(t)
    assert "5 stars" in texts[1] and "4.5 stars" in texts[1]  # one phrasing gives the stars
    assert template(replace(CTX, list_rank=4)) == texts[0]
    # genres the cited movies do not share are not called "another"
    assert "a crime thriller" in template(replace(CTX, shared=()))


def test_without_a_cited_rating_the_reason_says_what_stands_instead():
    bare = replace(CTX, anchors=(), shared=(), tags=())
    assert template(replace(bare, reason="trending")).startswith("Trending now: The Town (2010) is among the most rated")
    genres = template(replace(bare, reason="genres", top_genres=("Crime", "Thriller", "Comedy", "Mystery")))
    assert genres == ("Many of the movies you liked are crime films, thrillers, comedies and mysteries, and The Town "
                      "(2010) is a crime thriller.")  # fmt: skip
    assert template(replace(bare, reason="taste")) == "Close to what people with ratings like yours enjoy: a crime thriller."
    assert not any(CODES.search(template(replace(bare, reason=r, genres=("Sci-Fi", "Children")))) for r in ("taste", "trending"))
    # a favourite genre that names no kind of film (IMAX) once gave an empty list to join: a 500 per request
    assert template(replace(bare, reason="genres", top_genres=("IMAX",))) == template(replace(bare, reason="taste"))
    assert nameable(("IMAX", "Crime", "(no genres listed)")) == ("Crime",)
