"""Titles as people write them."""

from __future__ import annotations

import re

# MovieLens moves a leading article to the end of a title ("Town, The (2010)"); people say "The Town (2010)"
_ARTICLE_LAST = re.compile(r"^(?P<name>.+?), (?P<article>the|a|an|le|la|les|l'|il|der|die|das|el|los|las|un|une)"
                           r"(?P<rest>( \(.*)?)$", re.IGNORECASE)  # fmt: skip


def natural_title(title: str) -> str:
    """``"Town, The (2010)"`` -> ``"The Town (2010)"``; other titles unchanged."""
    m = _ARTICLE_LAST.match(title)
    if not m:
        return title
    gap = "" if m["article"].endswith("'") else " "
    return f"{m['article']}{gap}{m['name']}{m['rest']}"
