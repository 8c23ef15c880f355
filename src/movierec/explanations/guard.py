"""The grounding guard: a generated explanation is used only if everything checkable in it is in its context.

Small models invent: towns, plots, other films, star figures, praise, people. The guard cannot judge prose, but
titles, years, star figures, genres and names can be checked, and so can the shape of the text: it must end a
sentence (not "...in a world of."), use only dictionary words (a word-frequency list, ``wordfreq``), and make no
claim of a kind the context does not give: reception, awards, fame, people, plot or source (a lexicon of such
words, each allowed only where the movie's own facts use it). :func:`check` answers the first reason to reject a
text, or None.
"""

from __future__ import annotations

import functools
import re

from movierec.explanations.context import Context, natural_title

MAX_CHARS = 300
MIN_WORDS = 4

_TITLE = re.compile(r"\(\d{4}\)")  # a year in brackets: what follows a title
_YEAR = re.compile(r"(?<!\d)(1[89]\d\d|20\d\d)(?!\d)")
_STARS = re.compile(r"(\d+(?:\.\d+)?)[ -]stars?\b", re.IGNORECASE)
_MARKUP = re.compile(r"[<>*#`_\[\]{}|\\]|https?://")
_WORD = re.compile(r"[A-Za-zÀ-ÿ'-]+")
REASONS = ("empty", "too_long", "unfinished", "markup", "invented_title", "invented_year", "wrong_stars", "invented_genre",
           "invented_name", "non_word", "unsupported_claim", "repetitive")  # fmt: skip
# a sentence does not end on these: the text was cut where the model ran out of room
_DANGLING = {"a", "an", "the", "of", "in", "on", "at", "to", "for", "with", "and", "or", "but", "as", "by", "from",
             "that", "which", "who", "its", "your", "their", "his", "her", "this", "these", "into", "about", "than",
             "so", "very", "more", "most", "is", "are", "was", "be", "will", "can", "if", "like"}  # fmt: skip
# claims the context never gives: how a film was received, its fame, the people in it, its plot and its source
_CLAIMS = re.compile(r"\b(" + "|".join([
    r"acclaim\w*", r"prais\w*", r"critic\w*", r"reviews?", r"awards?", r"award-winning", r"oscars?", r"academy",
    r"nominat\w*", r"masterpieces?", r"beloved", r"famous", r"fame", r"iconic", r"legendary", r"celebrated",
    r"renowned", r"blockbusters?", r"box office", r"hits?", r"best", r"greatest", r"finest", r"top", r"histor\w*",
    r"all-time", r"ever", r"record\w*", r"bestsell\w*", r"cult", r"classics?", r"timeless", r"watched",
    r"popular\w*", r"starring", r"actors?", r"actress\w*", r"cast",
    r"direct(?:ed|or|ors|s|ing)", r"filmmakers?", r"performances?", r"roles?", r"plays", r"played", r"portray\w*",
    r"written", r"screenplay", r"composer", r"soundtrack", r"songs?", r"music\w*", r"singers?", r"bands?",
    r"story", r"stories", r"tales?", r"follows", r"tells", r"plot", r"journey", r"quests?", r"set in",
    r"takes place", r"based on", r"true", r"real", r"realis\w*", r"gritty", r"inspired", r"novels?", r"books?",
    r"adapt\w*", r"sequels?", r"prequels?", r"remakes?", r"franchise", r"trilogy", r"series", r"characters?",
    r"heroe?s?", r"heroine", r"villains?", r"protagonist", r"world of", r"life of", r"city", r"town", r"village",
    r"planet", r"island", r"theaters?", r"cinemas?", r"favou?rites?", r"industry", r"decades?", r"era",
    r"voted", r"dubbed", r"phenomen\w*", r"superhero\w*", r"children", r"kids", r"families", r"audiences?",
    r"act(?:ing|ed|s)", r"gor[ey]", r"gory", r"violen\w*", r"blood\w*", r"sex\w*", r"nud\w*", r"topless",
    r"tone", r"about", r"war in", r"based", r"featur\w*", r"scenes?", r"ending", r"twists?",
]) + r")\b", re.IGNORECASE)  # fmt: skip
# words that say what kind of film it is: each needs one of these genres (or a tag that says it)
_GENRE_WORDS = [
    (re.compile(r"\b(funny|laugh\w*|humou?r\w*|hilarious|comic\w*|jokes?)\b", re.I), {"Comedy"}),
    (re.compile(r"\b(famil(?:y|ies)|all ages|kids?|children)\b", re.I), {"Children", "Animation"}),
    (re.compile(r"\b(heart race|suspense\w*|dread|scar(?:y|e|es)|stomach churn|tense|thrill\w*|creepy|chills?)\b", re.I),
     {"Thriller", "Horror", "Mystery"}),
    (re.compile(r"\b(romantic|romance|love story)\b", re.I), {"Romance"}),
    (re.compile(r"\b(space|aliens?|futur\w*|robots?)\b", re.I), {"Sci-Fi"}),
    (re.compile(r"\b(epic|battles?|fights?|explosions?|stunts?)\b", re.I), {"Action", "Adventure", "War"}),
]  # fmt: skip
MIN_ZIPF = 1.0  # wordfreq's scale: about once per 100 million words; invented words score 0


def check(text: str, ctx: Context, all_genres: set[str]) -> str | None:
    """The first reason (one of ``REASONS``) to reject ``text`` as an explanation with context ``ctx``, or None.
    ``all_genres``: every genre of the catalogue (a genre outside the context is an invented one)."""
    text = text.strip()
    words = _WORD.findall(text)
    if len(words) < MIN_WORDS:
        return "empty"
    if len(text) > MAX_CHARS:
        return "too_long"
    if text[-1] not in ".!?" or words[-1].casefold() in _DANGLING:  # cut off by the token limit
        return "unfinished"
    known = {}  # the titles the context holds, as written either way -> their stars (None: the movie itself)
    for title in ctx.titles():
        for form in {title, natural_title(title)}:
            known.setdefault(form.casefold(), None)
    for a in ctx.anchors:
        for form in {a.title, natural_title(a.title)}:
            known[form.casefold()] = a.stars
    cited: list[tuple[int, str]] = []  # (where, title) of each title found in the text
    lowered = text.casefold()
    for title in known:
        start = lowered.find(title)
        while start >= 0:
            cited.append((start, title))
            start = lowered.find(title, start + 1)
    scrubbed = text
    for start, title in sorted(cited, reverse=True):
        scrubbed = scrubbed[:start] + " " * len(title) + scrubbed[start + len(title):]
    if _MARKUP.search(scrubbed):  # after the titles are taken out: "M*A*S*H (1970)" is a title, not markup
        return "markup"
    if _TITLE.search(scrubbed):
        return "invented_title"
    years = {str(y) for y in [ctx.year] if y is not None}
    if any(y not in years for y in _YEAR.findall(scrubbed)):
        return "invented_year"
    for m in _STARS.finditer(text):
        before = [t for at, t in cited if at < m.start()]
        stars = known.get(before[-1]) if before else None  # the figure belongs to the last title before it
        if stars is None or float(m.group(1)) != stars:
            return "wrong_stars"
    allowed = {g.casefold() for g in ctx.genres} | {t.casefold() for t in ctx.tags}  # a tag may name a genre
    for genre in all_genres:
        g = genre.casefold()
        if g not in allowed and re.search(rf"(?<![a-z]){re.escape(g)}(?![a-z])", scrubbed.casefold()):
            return "invented_genre"
    vocabulary = {w.casefold() for t in [*known, *ctx.tags] for w in _WORD.findall(t)} | allowed
    for sentence in re.split(r"(?<=[.!?;:])\s+", scrubbed):  # a capital past a sentence's first word: a name
        for w in _WORD.findall(sentence)[1:]:
            if w[0].isupper() and w.casefold() not in vocabulary and w.casefold() not in _COMMON:
                return "invented_name"
    for w in _WORD.findall(scrubbed):
        plain = w.strip("'-").casefold()
        if plain and plain not in vocabulary and not _is_word(plain):
            return "non_word"
    for kind, genres in _GENRE_WORDS:
        m = kind.search(scrubbed)
        if m and not genres & set(ctx.genres) and not all(w.casefold() in vocabulary for w in _WORD.findall(m.group(0))):
            return "invented_genre"
    # a claim word is allowed only where the movie's own facts use it (a tag "classic sci-fi": "classic")
    facts = {w.casefold() for t in [*vocabulary, *ctx.genres, *ctx.tags] for w in _WORD.findall(t)}
    facts |= {"popular", "most", "rated"} if ctx.popularity_rank <= 100 else set()
    for m in _CLAIMS.finditer(scrubbed):
        if not all(w.casefold() in facts for w in _WORD.findall(m.group(0))):
            return "unsupported_claim"
    long_words = [w.casefold() for w in words if len(w) > 3]
    if long_words and max(long_words.count(w) for w in set(long_words)) > 2:
        return "repetitive"
    return None


_COMMON = {"i"}  # capitalised mid-sentence, and not a name


@functools.lru_cache(maxsize=65_536)
def _is_word(word: str) -> bool:
    """An English word (or a hyphenated pair of them) by ``wordfreq``'s frequency list."""
    from wordfreq import zipf_frequency  # the llm extra's: only texts written by a model are checked

    return all(zipf_frequency(part, "en") >= MIN_ZIPF for part in word.split("-") if part)


def warm() -> None:
    """Load the dictionary now (a second or so), rather than in the first text's time budget."""
    _is_word("movie")
