"""Onboarding suggestions and demo profiles on hand-made data whose answers are known."""

import numpy as np
import pandas as pd

from movierec.serving.profiles import demo_profiles, onboarding_movies


def _catalog():
    rows = [
        # movie_idx, movieId, genres, year, rating_count
        (0, 100, ["Action"], 1995, 90),
        (1, 101, ["Action", "Thriller"], 1996, 80),
        (2, 102, ["Romance", "Drama"], 1955, 70),
        (3, 103, ["Comedy"], 1985, 60),
        (4, 104, ["Action"], 1997, 85),
        (5, 105, ["Horror"], None, 5),
        (6, 106, ["Romance"], 2005, 50),
        (7, 107, ["Documentary"], 1972, 3),
    ]
    return pd.DataFrame(rows, columns=["movie_idx", "movieId", "genres", "year", "rating_count"])


def test_onboarding_covers_genres_and_decades_before_repeating():
    picks = onboarding_movies(_catalog(), n=5, pool=8)
    assert picks[0] == 101  # two genres and a decade at once, and nearly the most rated
    cat = _catalog().set_index("movieId")
    genres = {g for m in picks for g in cat.loc[m, "genres"]}
    assert {"Action", "Romance", "Comedy"} <= genres
    assert 104 not in picks  # a third Action movie of the 1990s adds nothing new
    assert onboarding_movies(_catalog(), n=5, pool=8) == picks  # deterministic
    assert onboarding_movies(_catalog().iloc[:0], n=5) == []


def test_demo_profiles_pick_the_clearest_examples():
    rows = []
    for m in range(8):  # users 0..3: the same middling taste over everything
        for u in range(4):
            rows.append((u, m, 3.0 + (u + m) % 3 * 0.5))
    for m in (0, 1, 4):  # user 4 loves action
        rows.append((4, m, 5.0))
    rows += [(4, 3, 2.0), (4, 2, 2.0)]
    for m in (2, 6):  # user 5 loves romance
        rows.append((5, m, 5.0))
    rows += [(5, 0, 2.0), (5, 3, 2.5), (5, 1, 1.0)]
    for m in range(5):  # user 6 hates everything
        rows.append((6, m, 0.5))
    ratings = pd.DataFrame(rows, columns=["user_idx", "movie_idx", "rating"])
    user_ids = pd.Series([1000 + u for u in range(7)])
    profiles = demo_profiles(ratings, _catalog(), user_ids, min_ratings=5, liked=4.0, min_liked=2)
    by_key = {p["key"]: p for p in profiles}
    assert set(by_key) == {"action_lover", "romance_fan", "film_buff", "harsh_critic"}
    assert by_key["action_lover"]["user_id"] == 1004 and "Action" in by_key["action_lover"]["description"]
    assert by_key["romance_fan"]["user_id"] == 1005
    assert by_key["harsh_critic"]["user_id"] == 1006 and "0.50" in by_key["harsh_critic"]["description"]
    assert by_key["film_buff"]["user_id"] in {1000, 1001, 1002, 1003}  # 8 movies of every genre each
    assert len({p["user_id"] for p in profiles}) == 4
    assert demo_profiles(ratings, _catalog(), user_ids, min_ratings=100) == []


def test_demo_profiles_skip_users_whose_movies_have_no_genre():
    cat = _catalog()
    cat.loc[cat["movie_idx"] == 7, "genres"] = pd.Series([[]], index=cat.index[cat["movie_idx"] == 7])
    rows = [(0, m, 4.0 + (m % 2) * 0.5) for m in range(7)]  # user 0 rates every movie with a genre
    rows += [(2, 7, 3.0)] * 6  # user 2 (user 1 never rated) only a movie with no genre
    ratings = pd.DataFrame(rows, columns=["user_idx", "movie_idx", "rating"])
    profiles = demo_profiles(ratings, cat, pd.Series([10, 11, 12]), min_ratings=5, min_liked=100)
    # nobody has 100 liked ratings, so there is no genre lover; user 2 has no genre mix to speak of
    assert {p["key"]: p["user_id"] for p in profiles} == {"film_buff": 10, "harsh_critic": 12}


def test_trending_counts_the_latest_weeks_only():
    from movierec.serving.profiles import trending_movies

    day = 86_400
    # movie 0 is the all-time favourite, but movie 3 was rated most in the last two weeks; movies 4 and 6 tie
    movie_idx = np.array([0] * 10 + [3, 3, 3, 4, 6, 0])
    stamps = np.array([1_000 * day] * 10 + [2_000 * day] * 6)
    out = trending_movies(movie_idx, stamps, _catalog(), weeks=2, n=3)
    assert out["movie_ids"] == [103, 100, 104]  # 0 and 4 tie on one recent rating: 0 is more rated overall
    assert out["weeks"] == 2 and out["until"] == "1975-06-24" and out["since"] == "1975-06-10"
    assert trending_movies(movie_idx[:0], stamps[:0], _catalog(), weeks=2)["movie_ids"] == []
