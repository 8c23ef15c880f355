"""The recommender core in this process, on the small served project."""

import shutil

import numpy as np
import pandas as pd
import pytest

from movierec.explanations.context import CONTEXT, natural_title
from movierec.errors import MovieRecError
from movierec.serving.bundle import load_bundle
from movierec.serving.recommender import NotFoundError, Paths, Recommender, journey, search_form


@pytest.fixture(scope="module")
def rec(project):
    return Recommender(Paths.under(project))


@pytest.fixture(scope="module")
def rec_off(project):
    """The two-tower's ordering alone (MOVIEREC_RANKER=off)."""
    return Recommender(Paths.under(project, ranker=False))


def _known_user(rec, n_min=5):
    counts = np.diff(rec.bundle.indptr)
    u = int(np.flatnonzero(counts >= n_min)[0])
    user_id = next(uid for uid, idx in rec.user_idx.items() if idx == u)
    return user_id, u


def test_known_user_never_gets_a_movie_they_rated(rec):
    for user_id, u in list(rec.user_idx.items())[:20]:
        seen = set(rec.movie_ids[rec.bundle.history(u)[0]].tolist())
        got = rec.for_user(user_id, k=20)["items"]
        assert len(got) == 20 and not seen & {m["movie_id"] for m in got}
        scores = [m["score"] for m in got]
        assert scores == sorted(scores, reverse=True)


def test_known_user_ranking_matches_exact_search(rec_off):
    rec = rec_off
    user_id, u = _known_user(rec)
    seen = set(rec.bundle.history(u)[0].tolist())
    scores = rec.movie_vectors @ rec.user_vectors[u]
    exact = [int(rec.movie_ids[i]) for i in np.argsort(-scores, kind="stable") if i not in seen][:10]
    out = rec.for_user(user_id, k=10)
    assert out["source"] == "two_tower" and [m["movie_id"] for m in out["items"]] == exact


def test_served_two_stage_order_is_the_offline_order(rec):
    """Train/serve skew: the service (candidates from the index, filters, bundle history) and the offline path
    (exact candidates, TwoStage.order, as the evaluate stage ranks) give one user the same list."""
    stage = rec.ranker
    assert stage is not None and stage.booster is not None
    checked = 0
    for user_id, u in rec.user_idx.items():
        items, ratings = rec.bundle.history(u)
        if len(items) < stage.settings.min_ratings:
            continue
        v = rec.user_vectors[u]
        offline = [int(rec.movie_ids[i]) for i, _ in stage.order(v, items, ratings, stage.exact_candidates(v, items), 10)]
        out = rec.for_user(user_id, k=10)
        assert out["source"] == "two_tower+ranker" and [m["movie_id"] for m in out["items"]] == offline
        checked += 1
        if checked == 20:
            break
    assert checked == 20
    # and it is not the two-tower's list: the ranker moved something for some of these users
    tt = [int(rec.movie_ids[i]) for i in stage.exact_candidates(rec.user_vectors[u], items)[:10]]
    ranked = [m["movie_id"] for m in rec.for_user(user_id, k=10)["items"]]
    assert sorted(tt) != sorted(ranked) or tt != ranked


def test_a_missing_or_damaged_ranker_stops_the_start_with_what_to_do(project, tmp_path, monkeypatch):
    root = tmp_path / "served"
    (root / "models").mkdir(parents=True)
    shutil.copy(project / "models" / "two_tower.pt", root / "models")
    (root / "data").symlink_to(project / "data")
    with pytest.raises(MovieRecError, match=r"no ranker in .*dvc repro rank.*MOVIEREC_RANKER=off"):
        Recommender(Paths.under(root))
    shutil.copytree(project / "models" / "ranker", root / "models" / "ranker")
    (root / "models" / "ranker" / "booster.txt").write_text("not a booster\n")
    with pytest.raises(MovieRecError, match=r"cannot be read .*dvc repro rank"):
        Recommender(Paths.under(root))
    monkeypatch.setenv("MOVIEREC_RANKER", "off")  # and the service runs without it
    assert Recommender(Paths.under(root)).ranker is None
    monkeypatch.setenv("MOVIEREC_RANKER", "maybe")
    with pytest.raises(MovieRecError, match="MOVIEREC_RANKER='maybe': use on"):
        Paths.under(root)


def test_genre_and_year_filters(rec):
    user_id, _ = _known_user(rec)
    genre = rec.genres[0]
    got = rec.for_user(user_id, k=10, genres=[genre], year_min=1980, year_max=1999)["items"]
    assert got, "the synthetic catalogue has movies of every genre in the 1980s-90s"
    assert all(genre in m["genres"] and 1980 <= m["year"] <= 1999 for m in got)
    with pytest.raises(MovieRecError, match="unknown genre"):
        rec.for_user(user_id, genres=["Nope"])
    # a year range with no year in it is a valid question with an empty answer (as the published schema says)
    assert rec.popular(5, year_min=2000, year_max=1990)["items"] == []
    assert rec.for_user(user_id, year_min=2000, year_max=1990)["items"] == []
    assert rec.for_ratings({int(rec.movie_ids[0]): 4.0}, year_min=2000, year_max=1990)["items"] == []
    assert rec.for_ratings({int(m): 4.0 for m in rec.movie_ids[:20]}, year_min=2000, year_max=1990)["items"] == []


def test_trending_scores_are_the_latest_weeks_ratings_in_order(rec):
    out = rec.trending(k=len(rec.bundle.trending["movie_ids"]) + 5)
    scores = [m["score"] for m in out["items"]]
    assert scores == sorted(scores, reverse=True) and scores[0] > 0 and scores[-1] == 0  # then the all-time ones
    counts = dict(zip(rec.bundle.trending["movie_ids"], rec.bundle.trending["counts"]))
    assert all(m["score"] == counts[m["movie_id"]] for m in out["items"] if m["movie_id"] in counts)


def test_visitor_ratings_embed_like_the_user_tower_and_exclude_rated(rec):
    liked = [int(m) for m in rec.movie_ids[:12]]  # 10 or more: the model alone (fewer: see the next test)
    out = rec.for_ratings({m: 5.0 for m in liked}, k=10, explain=True)
    # 12 ratings: the ranker orders when they reach its profile size, else the model alone
    assert out["source"] == ("two_tower+ranker" if 12 >= rec.ranker.settings.min_ratings else "two_tower")
    assert len(out["items"]) == 10
    assert not set(liked) & {m["movie_id"] for m in out["items"]}
    for m in out["items"]:
        # grounded: every title named is one the visitor rated, and cited
        titles = [natural_title(rec.movie(rec.movie_idx[x])["title"]) for x in liked]
        assert {t for t in titles if t in m["explanation"]} == {natural_title(a.title) for a in m["_context"].anchors}
    assert sum(m["_context"].reason == "rated" for m in out["items"]) >= 5
    # same ratings, same answer; different ratings, different answer
    assert rec.for_ratings({m: 5.0 for m in liked}, k=10)["items"] == [
        {k: v for k, v in m.items() if k not in ("explanation", "explanation_source", "_context")} for m in out["items"]]
    other = rec.for_ratings({m: 1.0 for m in liked}, k=10)
    assert [m["movie_id"] for m in other["items"]] != [m["movie_id"] for m in out["items"]]


def test_a_thin_profile_is_fused_with_trending_and_a_fuller_one_is_not(rec, monkeypatch):
    first = int(rec.movie_ids[0])
    trending = [m for m in rec.bundle.trending["movie_ids"] if m != first]
    assert rec.trending_blend == 0.2 and len(trending) >= 10  # params.yaml's share, through the bundle
    one = rec.for_ratings({first: 4.0}, k=10)
    assert one["source"] == "two_tower+trending" and first not in [m["movie_id"] for m in one["items"]]
    vector = rec.embed(np.array([0]), np.array([4.0], np.float32))  # movie_idx 0 is `first`
    model_only = [int(rec.movie_ids[i]) for i, _ in rec._search(vector, 10, None, None, None, np.array([0]))]
    monkeypatch.setattr(rec, "trending_blend", 1.0)  # all of it: the trending list itself, the rated movie left out
    assert [m["movie_id"] for m in rec.for_ratings({first: 4.0}, k=10)["items"]] == trending[:10]
    monkeypatch.setattr(rec, "trending_blend", 0.0)  # none: the model's own top 10
    assert [m["movie_id"] for m in rec.for_ratings({first: 4.0}, k=10)["items"]] == model_only
    monkeypatch.setattr(rec, "trending_blend", 0.2)
    many = {int(m): 4.0 for m in rec.movie_ids[:10]}
    assert rec.for_ratings(many, k=10)["source"] != "two_tower+trending"  # 10 ratings: no trending


def test_no_ratings_means_trending_then_popular_movies_labelled_as_such(rec):
    out = rec.for_ratings({}, k=5)
    assert out["source"] == "trending" and "Trending now" in out["label"]
    assert [m["movie_id"] for m in out["items"]] == rec.bundle.trending["movie_ids"][:5]
    out = rec.popular(5)
    assert out["source"] == "popular" and "Popular" in out["label"]
    counts = [m["score"] for m in out["items"]]
    assert counts == sorted(counts, reverse=True) and counts[0] == rec.bundle.catalog["rating_count"].max()
    g = rec.genres[1]
    assert all(g in m["genres"] for m in rec.popular(5, genres=[g])["items"])
    assert all(m["year"] is not None and m["year"] >= 1990 for m in rec.popular(5, year_min=1990)["items"])


def test_similar_movies_exclude_the_movie_itself(rec, rec_off):
    m = int(rec.movie_ids[0])
    # without the ranker: the cosine of taste vectors; the movies' bias column (item_bias, on in the default
    # params) and the vectors' lengths play no part
    assert rec.model.cfg.item_bias
    taste = rec.movie_vectors[:, :-1].astype(np.float64)
    cosine = taste @ taste[0] / (np.linalg.norm(taste, axis=1) * np.linalg.norm(taste[0]))
    # with it: plus the rank stage's item-to-item weights of the movie, its largest scaled to 1
    row = rec.ranker.itemitem[0].toarray()[0].astype(np.float64)
    blend = cosine + rec.ranker.settings.similar_weight * row / np.abs(row).max()
    for r, scores in ((rec_off, cosine), (rec, blend)):
        out = r.similar(m, k=5)
        assert out["movie"]["movie_id"] == m and len(out["items"]) == 5
        exact = [j for j in np.argsort(-scores, kind="stable") if j != 0][:5]
        assert [x["movie_id"] for x in out["items"]] == [int(rec.movie_ids[j]) for j in exact]
        assert [x["score"] for x in out["items"]] == pytest.approx(scores[exact], abs=1e-4)  # answers round to 4 places


def test_title_search_prefers_titles_that_start_with_the_query(rec):
    title = rec.bundle.catalog["title"].iloc[0]
    word = title.split()[0]
    out = rec.search(word.lower(), limit=50)["items"]
    assert out and all(word.casefold() in m["title"].casefold() for m in out)
    starts = [m["title"].casefold().startswith(word.casefold()) for m in out]
    assert starts == sorted(starts, reverse=True)
    with pytest.raises(MovieRecError):
        rec.search("   ")


def test_search_puts_articles_back_and_ignores_accents(rec, monkeypatch):
    """"the matrix" found nothing: MovieLens stores "Matrix, The (1999)"."""
    assert search_form("Matrix, The (1999)") == "the matrix (1999)"
    assert search_form("Amélie (Fabuleux destin d'Amélie Poulain, Le) (2001)").startswith("amelie (fabuleux")
    assert search_form("Dîner de cons, Le (Dinner Game, The) (1998)") == "le diner de cons (dinner game, the) (1998)"
    assert search_form("Enfants, L' (2005)") == "l'enfants (2005)"
    assert search_form("Heat (1995)") == "heat (1995)" and search_form("Along Came a Spider") == "along came a spider"
    catalog = pd.DataFrame({"title": ["Matrix, The (1999)", "Matrix Reloaded, The (2003)", "Amélie (2001)", "Heat (1995)"]})
    monkeypatch.setattr(rec, "_title_lc", pd.Series([search_form(t) for t in catalog["title"]]))
    monkeypatch.setattr(rec, "_counts", np.array([10, 5, 7, 9]))
    monkeypatch.setattr(rec, "movie", lambda i: {"title": catalog["title"][i]})
    assert [m["title"] for m in rec.search("the matrix")["items"]] == ["Matrix, The (1999)", "Matrix Reloaded, The (2003)"]
    assert [m["title"] for m in rec.search("AMELIE")["items"]] == ["Amélie (2001)"]
    assert [m["title"] for m in rec.search("matrix")["items"]] == ["Matrix, The (1999)", "Matrix Reloaded, The (2003)"]


def test_explanations_cite_the_liked_ratings_a_score_rests_on(rec):
    """Reasons used to cite a harsh critic's 2-star ratings and the same two movies all along a list: now each
    cites the liked ratings whose removal lowers its score the most, none more than twice per list."""
    from movierec.serving.recommender import CITED, MAX_CITED

    counts = np.diff(rec.bundle.indptr)
    by_idx = {u: uid for uid, u in rec.user_idx.items()}
    for u in np.flatnonzero(counts >= 20)[:5]:
        items, ratings = rec.bundle.history(int(u))
        found = [rec.movie_idx[m["movie_id"]] for m in rec.for_user(by_idx[int(u)], k=10)["items"]]
        contexts = rec.contexts(found, items, ratings)
        liked = rec.liked(ratings)
        drops = rec.score_drops(np.array(found), items, ratings, liked)
        title = {rec._titles[items[p]]: p for p in liked}
        uses: dict[int, int] = {}
        for k, ctx in enumerate(contexts):
            column = dict(zip(liked.tolist(), drops[:, k]))
            free = [p for p in liked.tolist() if uses.get(p, 0) < MAX_CITED]
            if ctx.reason != "rated":  # no liked rating free to cite raises this score
                assert not ctx.anchors and max(column[p] for p in free) <= 0
                continue
            assert 1 <= len(ctx.anchors) <= CITED
            cited = [title[a.title] for a in ctx.anchors]
            assert all(a.stars >= max(3.5, ratings.mean()) for a in ctx.anchors)
            # the first cited rating lowers the score most among those still free to cite
            assert column[cited[0]] == max(column[p] for p in free) > 0
            for p in cited:
                uses[p] = uses.get(p, 0) + 1
        assert uses and max(uses.values()) <= MAX_CITED


def test_a_heavy_raters_reasons_weigh_the_liked_movies_nearest_the_list(rec, monkeypatch):
    """Thousands of liked ratings would cost a leave-one-out vector each: past ``WEIGHED`` only those nearest
    (taste cosine) to some listed movie are weighed, and every cited movie is one of them."""
    import movierec.serving.recommender as module

    counts = np.diff(rec.bundle.indptr)
    u = int(np.argmax(counts))
    items, ratings = rec.bundle.history(u)
    liked = rec.liked(ratings)
    assert len(liked) > 4
    found = np.array([i for i in range(len(rec.movie_ids)) if i not in set(items.tolist())][:10])
    assert np.array_equal(rec._nearest_liked(liked, items, found), liked)  # not more than WEIGHED: all of them
    monkeypatch.setattr(module, "WEIGHED", 4)
    kept = rec._nearest_liked(liked, items, found)
    near = (rec._unit[items[liked]] @ rec._unit[found].T).max(axis=1)
    assert len(kept) == 4 and np.all(np.diff(kept) > 0)
    assert np.isclose(np.sort(near)[-4:].sum(), near[np.isin(liked, kept)].sum())  # the 4 nearest
    titles = {rec._titles[items[p]] for p in kept}
    contexts = rec.contexts(found.tolist(), items, ratings)
    assert all(a.title in titles for ctx in contexts for a in ctx.anchors)
    # what each reason says of the user's own genres is counted over the whole profile
    for ctx, i in zip(contexts, found):
        share = rec._genre_hot[items] @ rec._genre_hot[i] > 0
        assert ctx.genre_count == share.sum()
        assert ctx.genre_mean == (round(float(ratings[share].mean()), 2) if share.any() else None)


def test_score_drops_are_the_score_without_each_rating(rec):
    items, ratings = rec.bundle.history(0)
    found = np.array([5, 17])
    rows = np.array([0, len(items) - 1])
    drops = rec.score_drops(found, items, ratings, rows)
    for j, p in enumerate(rows):
        keep = np.arange(len(items)) != p
        without = rec.embed(items[keep], ratings[keep])
        full = rec.embed(items, ratings)
        assert np.allclose(drops[j], [rec._score(full, i) - rec._score(without, i) for i in found], atol=1e-4)


def test_disliked_ratings_are_never_cited(rec):
    one = rec.for_ratings({int(rec.movie_ids[0]): 0.5}, k=5, explain=True)["items"]
    assert all(m[CONTEXT].anchors == () and "0.5" not in m["explanation"] for m in one)
    critic = {int(m): s for m, s in zip(rec.movie_ids[:12], [2.0, 2.5, 3.0, 3.0, 2.0, 1.5, 3.5, 2.5, 2.0, 3.0, 4.0, 2.0])}
    out = rec.for_ratings(critic, k=10, explain=True)["items"]
    stars = [a.stars for m in out for a in m[CONTEXT].anchors]
    assert stars and min(stars) >= 3.5
    assert all(m[CONTEXT].reason in {"rated", "trending", "genres", "taste"} for m in out)


def test_the_journey_from_no_ratings_to_a_rich_profile(rec):
    assert [journey(n)["stage"] for n in (0, 1, 9, 10, 49, 50, 500)] == [
        "new", "learning", "learning", "personal", "personal", "rich", "rich"]  # fmt: skip
    assert journey(25)["strength"] == 0.5 and journey(500)["strength"] == 1.0 and journey(0)["strength"] == 0.0
    counts = np.diff(rec.bundle.indptr)
    by_idx = {u: uid for uid, u in rec.user_idx.items()}
    heavy, light = by_idx[int(np.argmax(counts))], by_idx[int(np.argmin(np.where(counts > 0, counts, 10**9)))]
    rich, small = rec.for_user(heavy, k=3), rec.for_user(light, k=3)
    assert rich["journey"]["stage"] == "rich" and all("explanation" in m for m in rich["items"])  # on by default
    assert rich["explain"] is True and {m["explanation_source"] for m in rich["items"]} == {"template"}
    assert small["explain"] is False
    assert small["journey"]["n_ratings"] < 50 and not any("explanation" in m for m in small["items"])
    assert rec.for_ratings({}, k=3)["journey"]["stage"] == "new"


def test_onboarding_and_demo_profiles_come_from_the_data(rec):
    onb = rec.onboarding(15)["items"]
    assert len(onb) == 15 and len({m["movie_id"] for m in onb}) == 15
    assert len({g for m in onb for g in m["genres"]}) >= 5
    assert set(rec.profiles) == {"action_lover", "romance_fan", "film_buff", "harsh_critic"}
    for key, p in rec.profiles.items():
        out = rec.demo(key, k=5)
        assert out["profile"]["user_id"] == p["user_id"] and len(out["items"]) == 5
        assert all("explanation" in m for m in out["items"])


def test_unknown_ids_are_not_found(rec):
    with pytest.raises(NotFoundError):
        rec.for_user(10**9)
    with pytest.raises(NotFoundError):
        rec.similar(10**9)
    with pytest.raises(NotFoundError):
        rec.for_ratings({10**9: 4.0})
    with pytest.raises(NotFoundError):
        rec.demo("nobody")


def test_missing_artifacts_say_what_to_run(tmp_path):
    with pytest.raises(MovieRecError, match="dvc repro"):
        Recommender(Paths.under(tmp_path))


def test_bundle_ratings_cover_every_split(project, rec, tmp_path):
    parts = [pd.read_parquet(project / "data" / "prepared" / f"{s}.parquet") for s in ("train", "val", "test")]
    every = pd.concat(parts)
    assert rec.bundle.indptr[-1] == len(every)
    assert isinstance(rec.bundle.items, np.memmap)  # mapped, not copied into each worker
    for u in (0, 7, len(rec.user_vectors) - 1):
        mine = every[every["user_idx"] == u].sort_values("movie_idx")
        items, stars = rec.bundle.history(u)
        assert items.tolist() == mine["movie_idx"].tolist() and stars.tolist() == mine["rating"].tolist()
    shutil.copytree(project / "data" / "index", tmp_path / "index")
    (tmp_path / "index" / "history_items.npy").unlink()
    with pytest.raises(MovieRecError, match="missing history_items.npy.*dvc repro index"):
        load_bundle(tmp_path / "index", len(rec.user_vectors))


def test_a_long_history_is_answered_by_an_exact_scan(rec_off, monkeypatch):
    """Up to ``exclude_max`` rated movies go to the index; a longer history is scanned exactly instead, filters
    and all. Either way: exact search's answer, no rated movie."""
    rec = rec_off  # the first stage's search, which the ranker's candidates come from too
    calls = []
    search = rec.index.search
    monkeypatch.setattr(rec.index, "search", lambda *a, **kw: calls.append(1) or search(*a, **kw))
    monkeypatch.setattr(rec, "exclude_max", 20)
    paths = set()
    for user_id, u in list(rec.user_idx.items())[:40]:
        seen = rec.bundle.history(u)[0]
        rated = set(seen.tolist())
        scores = rec.movie_vectors @ rec.user_vectors[u]
        for flt in ({}, {"genres": ["Comedy"], "year_min": 1990}):
            calls.clear()
            got = [m["movie_id"] for m in rec.for_user(user_id, k=10, **flt)["items"]]
            allowed = rec._allowed(flt.get("genres"), flt.get("year_min"), None)
            exact = [int(rec.movie_ids[i]) for i in np.argsort(-scores, kind="stable")
                     if i not in rated and (allowed is None or allowed[i])][:10]  # fmt: skip
            assert got == exact
            assert len(calls) == (0 if len(seen) > 20 else 1)
            paths.add(len(calls))
    assert paths == {0, 1}, "both paths ran"


def test_the_catalogue_carries_each_movies_most_used_tags():
    from movierec.serving.bundle import TAGS_PER_MOVIE, catalog_table

    mf = pd.DataFrame({"movie_idx": [1, 0], "movieId": [20, 10], "title": ["B (2001)", "A (2000)"], "year": [2001, 2000],
                       "genres": [["Drama"], ["(no genres listed)"]], "rating_count": [3, 5], "rating_mean": [3.0, 4.0],
                       "tag_ids": [[2, 0, 1, 3], []]})  # fmt: skip
    vocab = pd.DataFrame({"tag_id": [0, 1, 2, 3], "tag": ["heist", "slow", "classic", "long"], "count": [9, 5, 4, 1]})
    cat = catalog_table(mf, vocab)
    assert cat["movieId"].tolist() == [10, 20] and cat["genres"].tolist() == [[], ["Drama"]]
    assert cat["tags"].tolist() == [[], ["classic", "heist", "slow"][:TAGS_PER_MOVIE]]
    assert catalog_table(mf.drop(columns="tag_ids"))["tags"].tolist() == [[], []]  # a release without tags


def test_a_visitor_session_is_ranked_as_the_evaluation_ranks_it(rec):
    """The evaluate stage's scorer (user tower over a RatingLists history, exact candidates) and the service's
    session path (rec.embed, candidates from the index) order the same ratings alike."""
    from movierec.ranking.scorer import TwoStageScorer
    from movierec.training.data import RatingLists

    stage = rec.ranker
    u = int(np.flatnonzero(np.diff(rec.bundle.indptr) >= max(stage.settings.min_ratings, 10))[0])
    items, ratings = rec.bundle.history(u)
    rated = {int(rec.movie_ids[i]): float(r) for i, r in zip(items, ratings)}
    served = rec.for_ratings(rated, k=10)
    assert served["source"] == "two_tower+ranker"
    frame = pd.DataFrame({"user_idx": 0, "movie_idx": items, "rating": ratings, "timestamp": np.arange(len(items))})
    scores = TwoStageScorer(rec.model, stage)(np.array([0]), RatingLists.from_frame(frame, 1))[0].numpy()
    offline = [int(rec.movie_ids[i]) for i in np.argsort(-scores, kind="stable")[:10]]
    assert [m["movie_id"] for m in served["items"]] == offline


def test_the_filter_mask_is_the_filter_rule(rec):
    """The item-to-item candidates' mask (one array operation) agrees with the rule the other lists use."""
    for genres, lo, hi in [(None, None, None), ([rec.genres[0]], None, None), (None, 1990, None),
                           (rec.genres[:2], 1985, 1999), (None, None, 1970)]:  # fmt: skip
        mask = rec._allowed(genres, lo, hi)
        rule = [rec._passes(i, set(genres or ()), lo, hi) for i in range(len(rec.movie_ids))]
        assert (mask is None and all(rule)) or mask.tolist() == rule


@pytest.mark.parametrize("similarity", ["dot", "cosine"])
def test_the_exact_scan_scores_as_the_index_does(tmp_path, similarity):
    """A long history's exact scan and a thin profile's fused trending movies carry the index's own scores:
    for a cosine model, the cosine (the index normalises the query too), not the dot product over one norm."""
    from movierec.retrieval.index import EdgeMovieIndex, build_edge_index

    rng = np.random.default_rng(0)
    vectors = rng.normal(size=(300, 8)).astype(np.float32)
    payloads = [{"movie_id": i, "title": f"m{i}", "genres": [], "year": 2000, "popularity": 1} for i in range(300)]
    build_edge_index(tmp_path / "q", vectors, payloads, similarity, 100)
    index = EdgeMovieIndex(tmp_path / "q")
    rec = Recommender.__new__(Recommender)  # only what the scan reads
    rec.movie_vectors = vectors
    rec._inv_norm = 1.0 / np.linalg.norm(vectors, axis=1) if similarity == "cosine" else None
    query = rng.normal(size=8).astype(np.float32) * 5  # far from unit length
    hits = index.search(query, 10)
    index.close()
    got = rec._scan(query, 10, None, np.zeros(0, np.int64))
    assert [i for i, _ in got] == [h.movie_id for h in hits]
    np.testing.assert_allclose([s for _, s in got], [h.score for h in hits], rtol=1e-4)
    assert rec._score(query, hits[3].movie_id) == pytest.approx(hits[3].score, rel=1e-4)
