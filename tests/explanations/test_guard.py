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
    ("Because you rated Heat (1995) 5 stars, tense tense tense crime for you.", "repetitive"),
    ("Because you rated Heat (1995) 5 stars, you will enjoy this thriller in a world of.", "unfinished"),
    ("Because you rated Heat (1995) 5 stars, this filledlymented thriller suits you.", "non_word"),
    ("Because you rated Heat (1995) 5 stars, this thriller was praised for its gritty realism.", "unsupported_claim"),
    ("Because you rated Heat (1995) 5 stars, it is among the most watched thrillers in history.", "unsupported_claim"),
    ("Because you rated Heat (1995) 5 stars, this crime thriller inspired a famous song.", "unsupported_claim"),
    ("Because you rated Heat (1995) 5 stars, this tense thriller follows a crew of thieves.", "unsupported_claim"),
    ("Because you rated Heat (1995) 5 stars, this is a very funny movie with lots of laughs.", "invented_genre"),
    ("Because you rated Heat (1995) 5 stars, this movie should be a must see for all ages.", "invented_genre"),
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


def test_a_claim_word_passes_where_the_movies_own_facts_use_it():
    text = "Because you rated Heat (1995) 5 stars, this classic heist thriller is for you."
    assert check(text, CTX, GENRES) == "unsupported_claim"
    assert check(text, Context(**{**CTX.__dict__, "tags": ("classic", "heist")}), GENRES) is None
    popular = "Because you rated Heat (1995) 5 stars, this popular thriller is for you."
    assert check(popular, CTX, GENRES) == "unsupported_claim"  # 250th most rated: not said to be popular
    assert check(popular, Context(**{**CTX.__dict__, "popularity_rank": 40}), GENRES) is None


def test_a_text_that_used_every_piece_the_grammar_allows_was_cut_off():
    from movierec.explanations import prompt

    opening = prompt.opening(CTX)
    assert prompt.cut_short(CTX, opening + " ".join(["word"] * prompt.MAX_PIECES) + ".")
    assert not prompt.cut_short(CTX, opening + "the town is a tense crime thriller for you.")
    # a title or genre is one piece however many words it has
    assert not prompt.cut_short(CTX, opening + "The Town (2010) " * 5 + "crime thriller crime drama fits.")
