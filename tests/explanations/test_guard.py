"""The grounding guard, on hand-made texts whose verdict is known."""

import pytest

from movierec.explanations.context import Anchor, Context, natural_title, template
from movierec.explanations.guard import REASONS, check

GENRES = {"Action", "Comedy", "Crime", "Drama", "Romance", "Sci-Fi", "Thriller"}
CTX = Context(title="Town, The (2010)", year=2010, genres=("Crime", "Drama", "Thriller"),
              anchors=(Anchor("Heat (1995)", 5.0), Anchor("Ronin (1998)", 4.5)), shared=("Crime", "Thriller"),
              user_mean=3.6, user_count=40, genre_count=12, genre_mean=3.9, popularity_rank=250, list_rank=1)  # fmt: skip

ACCEPTED = [
    "Because you rated Heat (1995) 5 stars and Ronin (1998) 4.5 stars, the town is a tense crime thriller for you.",
    "Because you rated Heat (1995) 5 stars, The Town (2010) should suit you: more crime and drama.",
    "You gave Ronin (1998) 4.5 stars, so Town, The (2010) is a natural next pick.",
    "Fans of Heat (1995) tend to enjoy this tense thriller.",
    template(CTX),
]
MASH = Context(title="M*A*S*H (1970)", year=1970, genres=("Comedy", "Drama", "War"), anchors=(Anchor("Heat (1995)", 5.0),),
               shared=("Drama",), user_mean=3.6, user_count=40, genre_count=12, genre_mean=3.9, popularity_rank=250,
               list_rank=1)  # fmt: skip
REJECTED = [
    ("", "empty"),
    ("Great movie.", "empty"),
    ("Because you rated Heat (1995) 5 stars, " + "a tense pick " * 30, "too_long"),
    ("Because you rated Heat (1995) 5 stars, you will love the way it", "unfinished"),
    ("Because you rated **Heat (1995)** 5 stars, you will love it.", "markup"),
    ("Because you rated Heat (1995) 5 stars, see <b>this</b> one too.", "markup"),
    ("Because you rated Heat (1995) 5 stars, you will like it as much as Collateral (2004).", "invented_title"),
    ("Because you rated Heat (1995) 5 stars, this 2004 crime story fits.", "invented_year"),
    ("Because you rated Heat (1995) 4 stars, this crime story fits you well.", "wrong_stars"),
    ("Because you rated Ronin (1998) 5 stars, this crime story fits you well.", "wrong_stars"),
    ("This one earned 5 stars from critics, a crime story that fits you.", "wrong_stars"),
    ("Because you rated Heat (1995) 5 stars, this romance will sweep you away.", "invented_genre"),
    ("Because you rated Heat (1995) 5 stars, the town of Ashwood awaits you in this thriller.", "invented_name"),
    ("Because you rated Heat (1995) 5 stars, Ravenscroft is a fictional town in the UK.", "invented_name"),
    ("Because you rated Heat (1995) 5 stars, gritty gritty gritty crime at its best.", "repetitive"),
]


@pytest.mark.parametrize("text", ACCEPTED)
def test_grounded_texts_pass(text):
    assert check(text, CTX, GENRES) is None


@pytest.mark.parametrize("text, reason", REJECTED)
def test_each_kind_of_invention_is_rejected_with_its_reason(text, reason):
    assert reason in REASONS
    assert check(text, CTX, GENRES) == reason


def test_a_title_with_markup_characters_is_not_markup():
    assert check("Because you rated Heat (1995) 5 stars, M*A*S*H (1970) is a sharp war comedy.", MASH, GENRES) is None
    assert check("Because you rated Heat (1995) 5 stars, *this* is a sharp war comedy.", MASH, GENRES) == "markup"


def test_the_movies_tags_may_be_cited():
    tagged = Context(**{**CTX.__dict__, "genres": ("Crime", "Drama"), "tags": ("heist", "thriller", "ben affleck")})
    text = "Because you rated Heat (1995) 5 stars, this heist thriller with Ben Affleck is for you."
    assert check(text, tagged, GENRES) is None
    assert check(text, CTX, GENRES) == "invented_name"  # without the tag, the name is invented


def test_titles_read_both_ways():
    assert natural_title("Town, The (2010)") == "The Town (2010)"
    assert natural_title("Amelie (Fabuleux destin d'Amélie Poulain, Le) (2001)").startswith("Amelie")
    assert natural_title("Heat (1995)") == "Heat (1995)"
