"""The web page in a real headless Chromium (the system's, driven by Playwright) against `bentoml serve`."""

import re

import pytest

from tests.serving.conftest import need

pytestmark = pytest.mark.slow

CHROMIUM_FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync"]  # fmt: skip


@pytest.fixture(scope="module")
def browser():
    chromium = need("chromium")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, headless=True, args=CHROMIUM_FLAGS)
        yield browser
        browser.close()


@pytest.fixture(scope="module")
def page(browser, server):
    pg = browser.new_page()
    errors: list[str] = []
    pg.on("pageerror", lambda e: errors.append(str(e)))
    pg.goto(server.base + "/ui/")
    pg.errors = errors
    yield pg
    pg.close()


def rate(control, stars: float) -> None:
    """Click the star control as a visitor would: the left half of a star for a half, its right half for a whole."""
    star = control.locator(".star").nth(int(-(-stars // 1)) - 1)
    box = star.bounding_box()
    star.click(position={"x": box["width"] * (0.25 if stars % 1 else 0.75), "y": box["height"] / 2})


def test_rate_suggested_movies_and_get_explained_recommendations(page):
    page.wait_for_selector("#suggestions li .stars")
    controls = page.locator("#suggestions li .stars")
    assert controls.count() == 15
    for i, stars in enumerate([5, 4.5, 4, 2, 5, 1]):
        rate(controls.nth(i), stars)
    assert [controls.nth(i).get_attribute("aria-valuenow") for i in range(6)] == ["5", "4.5", "4", "2", "5", "1"]
    assert page.locator("#status").inner_text() == "6 rated"
    controls.nth(6).focus()  # the keyboard: half a star per arrow, Delete clears
    for key in ["ArrowRight"] * 3 + ["ArrowLeft"]:
        controls.nth(6).press(key)
    assert controls.nth(6).locator(".value").inner_text() == "1 star" and page.locator("#status").inner_text() == "7 rated"
    controls.nth(6).press("Delete")
    assert controls.nth(6).locator(".value").inner_text() == "not seen" and page.locator("#status").inner_text() == "6 rated"
    page.click("#get-recs")
    page.wait_for_selector("#results li.rec")
    recs = page.locator("#results li.rec")
    assert recs.count() == 12
    assert re.match(r"(Because you liked|You gave|For a fan of|Trending now|Many of the movies|Close to what) ",
                    recs.first.locator(".why").inner_text())
    assert recs.first.locator(".why .source").inner_text() == "· from your ratings"  # the template's
    assert "6 ratings" in page.locator("#results-title").inner_text()
    assert "rate 4 more" in page.locator("#advice").inner_text()
    assert page.locator("#stage").inner_text() == "Learning your taste"  # 6 ratings: the journey's second stage
    assert page.locator("#strength").get_attribute("value") == "0.12"

    # title search adds a movie to rate; the session grows
    first_title = page.locator("#suggestions li .title").first.inner_text()
    page.fill("#search", first_title.split()[0])
    page.wait_for_selector("#search-results li .stars")
    rate(page.locator("#search-results li .stars").last, 3)
    n = int(page.locator("#status").inner_text().split()[0])
    assert n in (6, 7)  # 6 when the search found a movie already rated above: its rating is replaced
    page.click("#get-recs")
    page.wait_for_function(f"document.querySelector('#results-title').textContent.includes('({n} ratings)')"
                           " && document.querySelector('#status').textContent === 'done'")
    assert page.errors == []


def test_stars_search_and_scrolling_on_a_phone(browser, server):
    """On a phone the list started at y=1,922 of an 844-px screen and nothing scrolled to it; 4.5 and 5 stars
    read the same; a search that found nothing said nothing; no favicon."""
    pg = browser.new_page(viewport={"width": 390, "height": 844})
    pg.goto(server.base + "/ui/")
    pg.wait_for_selector("#suggestions li .stars")
    control = pg.locator("#suggestions li .stars").first
    fill = "[...document.querySelectorAll('#suggestions li .stars')[0].querySelectorAll('.star')].map(s => [s.style.getPropertyValue('--left'), s.style.getPropertyValue('--right')])"
    gold, grey = "#e8a200", "#ccc"
    rate(control, 4.5)  # a tap on a phone: 4.5 shows four stars and a half, 5 shows five
    assert control.locator(".value").inner_text() == "4.5 stars" and pg.evaluate(fill)[3:] == [[gold, gold], [gold, grey]]
    rate(control, 5)
    assert control.locator(".value").inner_text() == "5 stars" and pg.evaluate(fill)[4] == [gold, gold]
    rate(control, 0.5)
    assert pg.evaluate(fill)[:2] == [[gold, grey], [grey, grey]]
    assert pg.locator("link[rel=icon]").count() == 1
    pg.fill("#search", "zzzz no such title")
    pg.wait_for_selector("#search-results li.none")
    assert "No title contains" in pg.locator("#search-results").inner_text()
    rate(control, 5)
    pg.click("#get-recs")
    pg.wait_for_selector("#results li.rec")
    top = pg.evaluate("document.querySelector('#results-title').getBoundingClientRect().top")
    assert 0 <= top < 844  # the results are on screen
    pg.close()


def test_demo_profile_button_gives_instant_recommendations(page):
    page.wait_for_selector("#profiles button.demo")
    assert page.locator("#profiles button.demo").count() == 4
    page.click("button.demo[data-profile=film_buff]")
    page.wait_for_function("document.querySelector('#results-title').textContent.startsWith('Film buff')")
    assert page.locator("#results li.rec").count() == 12
    assert page.locator("#results li.rec .why").count() == 12
    assert page.errors == []
    assert page.locator("#results-title").inner_text() == "Film buff"  # the description is text below it
    assert page.locator("#results-about").is_visible() and len(page.locator("#results-about").inner_text()) > 10


@pytest.mark.parametrize("width, height", [(1280, 800), (390, 844)])
def test_first_view_says_what_the_site_does_and_keeps_the_action_in_view(browser, server, width, height):
    """The button that gets recommendations sat at y = 943 px on a 1280 x 800 screen and 1,906 px on a phone;
    stars were 23 x 24 px touch targets."""
    pg = browser.new_page(viewport={"width": width, "height": height})
    pg.goto(server.base + "/ui/")
    pg.wait_for_selector("#suggestions li .stars")
    for _ in range(2):  # on arrival, and scrolled to the bottom of the page: the bar stays at the top
        box = pg.locator("#get-recs").bounding_box()
        assert 0 <= box["y"] and box["y"] + box["height"] <= height and box["height"] >= 44
        assert pg.locator("#bar .what").is_visible() and "recommendations" in pg.locator("#bar .what").inner_text()
        pg.evaluate("window.scrollTo(0, document.body.scrollHeight)")
        pg.wait_for_timeout(100)
    if width < 600:  # a phone: every star and the clear button at least 44 x 44 px
        control = pg.locator("#suggestions li .stars").first
        for target in [*(control.locator(".star").nth(i) for i in range(5)), control.locator(".clear")]:
            b = target.bounding_box()
            assert b["width"] >= 44 and b["height"] >= 44, b
    pg.close()


def test_a_rating_taken_back_leaves_the_session_and_the_list(browser, server):
    pg = browser.new_page()
    pg.goto(server.base + "/ui/")
    pg.wait_for_selector("#suggestions li .stars")
    controls = pg.locator("#suggestions li .stars")
    for i in range(3):
        rate(controls.nth(i), 5)
    pg.click("#get-recs")
    pg.wait_for_function("document.querySelector('#results-title').textContent.includes('(3 ratings)')")
    controls.nth(0).locator(".clear").click()  # "not seen": the session forgets it and the list follows
    pg.wait_for_function("document.querySelector('#results-title').textContent.includes('(2 ratings)')")
    assert pg.locator("#status").inner_text() == "2 rated"
    # an expired session: the page starts a new one with the ratings it shows, and says nothing went wrong
    pg.evaluate("state.session = '0123456789abcdef'")
    rate(controls.nth(3), 4)
    pg.click("#get-recs")
    pg.wait_for_function("document.querySelector('#results-title').textContent.includes('(3 ratings)')"
                         " && document.querySelector('#status').textContent === 'done'")
    assert pg.evaluate("state.session") != "0123456789abcdef"
    pg.close()


def test_model_texts_appear_as_they_are_written(browser, project, tmp_path):
    """The list shows at once with the template's sentences; each model text replaces its item's when written."""
    from tests.explanations.test_explainer import echo_chat
    from tests.serving.conftest import start_server

    chat = echo_chat(delay=0.5)
    s = start_server(project, tmp_path / "serve.log", MOVIEREC_EXPLAINER="openai", MOVIEREC_OPENAI_MODEL="test",
                     OPENAI_BASE_URL=f"http://127.0.0.1:{chat.server_port}/v1")  # fmt: skip
    try:
        pg = browser.new_page()
        pg.goto(s.base + "/ui/")
        pg.wait_for_selector("#profiles button.demo")
        pg.click("button.demo[data-profile=film_buff]")
        pg.wait_for_selector("#results li.rec .why")
        first = pg.locator("#results li.rec .why").first
        assert first.locator(".source").inner_text() == "· from your ratings"  # the list did not wait
        pg.wait_for_function("[...document.querySelectorAll('#results li.rec .why')].some("
                             "w => w.textContent.includes('suit you well') && w.textContent.includes('language model'))",
                             timeout=30_000)  # fmt: skip
        pg.close()
    finally:
        chat.shutdown()
        s.proc.terminate()
        s.proc.wait(15)
