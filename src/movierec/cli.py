"""Shared entry-point wrapper for ``stages/*.py``: clean errors instead of tracebacks."""

from __future__ import annotations

import sys
from typing import Callable

from movierec.errors import MovieRecError


def run_stage(main: Callable[[], None]) -> None:
    """Run ``main``; a :class:`MovieRecError` prints ``error: <message>`` and exits with status 1."""
    try:
        main()
    except MovieRecError as e:
        from tqdm import tqdm

        # on its own line, even when a progress bar was left half drawn on the terminal
        tqdm.write(f"error: {e}", file=sys.stderr)
        sys.exit(1)
