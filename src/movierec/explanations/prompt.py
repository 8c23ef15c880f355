"""The prompt a model is given for one explanation, and the llama.cpp grammar that holds its answer to the
context: the sentence opens with the user's own ratings, written out by the grammar, and the model writes the
rest in lowercase words, the recommended movie's title and its genres. No other capital letter, digit or title
can be sampled, so a name, a year, a star figure or another film cannot be invented; what the guard still
checks is the rest (a genre outside the context, repetition, length)."""

from __future__ import annotations

from movierec.explanations.context import Context, natural_title, stars_text

PROMPT_VERSION = "2"  # part of the cache key: a new prompt never serves an old prompt's texts
SYSTEM = ("You tell a movie fan, in one short friendly sentence, why a movie was recommended to them. "
          "Use only the facts given. Never mention any other movie, person or place.")  # fmt: skip


def opening(ctx: Context) -> str:
    """The sentence's first words: what the user rated, as the grammar writes them."""
    rated = " and ".join(f"{natural_title(a.title)} {stars_text(a.stars)}" for a in ctx.anchors)
    return f"Because you rated {rated}, "


def messages(ctx: Context) -> list[dict]:
    title = natural_title(ctx.title)
    facts = [f"They rated {' and '.join(f'{natural_title(a.title)} {stars_text(a.stars)}' for a in ctx.anchors)}"
             f" (their average: {ctx.user_mean:g} stars over {ctx.user_count} movies)."]  # fmt: skip
    facts.append(f"Recommended: {title}, a {', '.join(ctx.genres) or 'unclassified'} movie"
                 f"{f', number {ctx.popularity_rank} by how often it is rated' if ctx.popularity_rank <= 100 else ''}.")
    if ctx.shared:
        facts.append(f"It shares {', '.join(ctx.shared)} with the movies they rated.")
    if ctx.genre_mean is not None:
        facts.append(f"They rated {ctx.genre_count} movies of its genres, {ctx.genre_mean:g} stars on average.")
    ask = f'Write the sentence about {title}, starting with "{opening(ctx).strip()}".'
    return [{"role": "system", "content": SYSTEM}, *EXAMPLE, {"role": "user", "content": " ".join(facts) + " " + ask}]


def _example(rated: str, title: str, genres: str, shared: str, answer: str) -> list[dict]:
    ask = (f"They rated {rated} (their average: 3.5 stars over 60 movies). Recommended: {title}, a {genres} movie. "
           f'It shares {shared} with the movies they rated. Write the sentence about {title}, starting with '
           f'"Because you rated {rated},".')  # fmt: skip
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


def grammar(ctx: Context) -> str:
    """GBNF: the opening as written, then 4 to 18 pieces (a lowercase word, the title, a genre), a full stop."""
    genres = [g.lower() for g in ctx.genres] or ["movie"]
    piece = " | ".join(["word", _literal(natural_title(ctx.title)), *map(_literal, genres)])
    return "\n".join([
        f"root ::= {_literal(opening(ctx))} piece ((\" \" | \", \") piece){{{MIN_PIECES - 1},{MAX_PIECES - 1}}} \".\"",
        f"piece ::= {piece}",
        "word ::= [a-z]{1,14}",
    ])  # fmt: skip
