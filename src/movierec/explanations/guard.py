"""The grounding guard: a generated explanation is used only if everything checkable in it is in its context.

Small models invent: towns, plots, other films, star figures. The guard cannot judge prose, but titles, years,
star figures, genres and names can be checked, and so can the shape of the text. :func:`check` answers the
first reason to reject a text, or None.
"""

from __future__ import annotations

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
           "invented_name", "repetitive")  # fmt: skip


def check(text: str, ctx: Context, all_genres: set[str]) -> str | None:
    """The first reason (one of ``REASONS``) to reject ``text`` as an explanation with context ``ctx``, or None.
    ``all_genres``: every genre of the catalogue (a genre outside the context is an invented one)."""
    text = text.strip()
    words = _WORD.findall(text)
    if len(words) < MIN_WORDS:
        return "empty"
    if len(text) > MAX_CHARS:
        return "too_long"
    if text[-1] not in ".!?":  # cut off by the token limit
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
    long_words = [w.casefold() for w in words if len(w) > 3]
    if long_words and max(long_words.count(w) for w in set(long_words)) > 2:
        return "repetitive"
    return None


_COMMON = {"i"}  # capitalised mid-sentence, and not a name
