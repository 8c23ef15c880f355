"""The prompt a model is given for one explanation, and the llama.cpp grammar that holds its answer to the
context: the sentence opens with the user's own ratings, written out by the grammar, and the model writes the
rest in lowercase words, the recommended movie's title and its genres. No other capital letter, digit or title
can be sampled, so a name, a year, a star figure or another film cannot be invented; what the guard still
checks is the rest (a genre outside the context, repetition, length)."""

from __future__ import annotations

import re

from movierec.explanations.context import Context, natural_title, stars_text

PROMPT_VERSION = "4"  # part of the cache key: a new prompt never serves an old prompt's texts
SYSTEM = ("You tell a movie fan, in one short friendly sentence, why a movie was recommended to them. "
          "Use only the facts given. Never mention any other movie, person or place.")  # fmt: skip


def opening(ctx: Context) -> str:
    """The sentence's first words: what the user rated, as the grammar writes them."""
    rated = " and ".join(f"{natural_title(a.title)} {stars_text(a.stars)}" for a in ctx.anchors)
    return f"Because you rated {rated}, "


def facts(ctx: Context) -> str:
    """The context in few words: every word is prompt the model must read (about 4 ms a token here)."""
    rated = "; ".join(f"{natural_title(a.title)} {stars_text(a.stars)}" for a in ctx.anchors)
    text = f"Rated: {rated}. Recommended: {natural_title(ctx.title)} ({', '.join(ctx.genres) or 'no genre'})"
    text += f", sharing {', '.join(ctx.shared)}." if ctx.shared else "."
    if ctx.tags:
        text += f" Tagged: {', '.join(ctx.tags)}."
    if ctx.popularity_rank <= 100:
        text += f" It is among the {100 if ctx.popularity_rank > 10 else 10} most rated movies."
    return text


def messages(ctx: Context, prefill: bool = False) -> list[dict]:
    """The chat; ``prefill``: the answer's opening is given as the start of the assistant's turn (llama.cpp
    continues it, so the model only writes the rest; no need to ask for it)."""
    ask = "" if prefill else f' Write one sentence starting with "{opening(ctx).strip()}".'
    chat = [{"role": "system", "content": SYSTEM}, *EXAMPLE, {"role": "user", "content": facts(ctx) + ask}]
    return chat + [{"role": "assistant", "content": opening(ctx).rstrip()}] if prefill else chat


def answer(ctx: Context, reply: str, prefill: bool = False) -> str:
    """The explanation a reply makes: with ``prefill``, the opening and the model's continuation."""
    if not prefill:
        return reply.strip()
    start = opening(ctx).rstrip()
    rest = reply.strip()
    rest = rest[len(start):] if rest.startswith(start) else rest
    return f"{start} {rest.strip()}"


def _example(rated: str, title: str, genres: str, shared: str, answer: str) -> list[dict]:
    ask = f"Rated: {rated}. Recommended: {title} ({genres}), sharing {shared}."
    return [{"role": "user", "content": ask}, {"role": "assistant", "content": f"Because you rated {rated}, {answer}"}]


# worked examples of two kinds, so that the answer follows the movie's genres rather than copying one (their
# titles cannot leak: the grammar admits no other capitalised title)
EXAMPLE = [*_example("Alien (1979) 5 stars", "Aliens (1986)", "Action, Horror, Sci-Fi", "Horror, Sci-Fi",
                     "expect more horror and sci-fi with the same dread."),
           *_example("Airplane! (1980) 4 stars", "Hot Shots! (1991)", "Comedy", "Comedy",
                     "this silly comedy should make you laugh just as much.")]  # fmt: skip


def _literal(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


MIN_PIECES, MAX_PIECES = 4, 18  # after the opening: words, the title or a genre


def grammar(ctx: Context, prefill: bool = False) -> str:
    """GBNF: the opening as written (unless ``prefill`` gave it), then 4 to 18 pieces (a lowercase word, the
    title, a genre), a full stop."""
    genres = [g.lower() for g in ctx.genres] + [t for t in ctx.tags if t.isascii() and '"' not in t] or ["movie"]
    piece = " | ".join(["word", _literal(natural_title(ctx.title)), *map(_literal, genres)])
    start = '" "' if prefill else _literal(opening(ctx))
    return "\n".join([
        f'root ::= {start} piece ((" " | ", ") piece){{{MIN_PIECES - 1},{MAX_PIECES - 1}}} "."',
        f"piece ::= {piece}",
        "word ::= [a-z]{1,14}",
    ])  # fmt: skip


def cut_short(ctx: Context, text: str) -> bool:
    """Whether the model's part of ``text`` used all ``MAX_PIECES`` the grammar allows: it was then cut off
    mid-thought and given its full stop by the grammar ("...in a world of.")."""
    rest = text[len(opening(ctx)):] if text.startswith(opening(ctx)) else text
    for whole in sorted([natural_title(ctx.title), *ctx.genres, *ctx.tags], key=len, reverse=True):
        if whole:
            rest = re.sub(re.escape(whole), " piece ", rest, flags=re.IGNORECASE)
    return len(re.findall(r"[A-Za-z]+", rest)) >= MAX_PIECES
