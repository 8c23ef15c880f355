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


COMMANDS = {"tune": "movierec.tuning.command"}


def main(argv: list[str] | None = None) -> None:
    """The ``movierec`` command: ``movierec tune ...`` (see ``movierec tune --help``)."""
    import importlib

    argv = sys.argv[1:] if argv is None else argv
    if not argv or argv[0] not in COMMANDS:
        print(f"usage: movierec {{{','.join(COMMANDS)}}} [options]; movierec <command> --help for more", file=sys.stderr)
        sys.exit(2)
    command = importlib.import_module(COMMANDS[argv[0]])
    run_stage(lambda: command.main(argv[1:]))
