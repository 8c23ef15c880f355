"""Small helpers shared by every stage: parameters, seeding, atomic writes, JSON output."""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import random
import shutil
import sys
import tempfile
import types
import typing
from pathlib import Path
from typing import Any, Iterator

import numpy as np
import yaml

from movierec.errors import MovieRecError


def load_params(path: str | Path = "params.yaml") -> dict[str, Any]:
    """Read ``params.yaml`` (the file ``dvc exp run -S`` edits) into a dict."""
    with open(path, encoding="utf-8") as f:
        return yaml.safe_load(f) or {}


def make_config(cls, section: str, values: dict, **extra: Any):
    """``cls(**values, **extra)`` for a section of params.yaml, with an error that names the section for an
    unknown setting (a typo would otherwise pass unnoticed or end in a traceback) or a value it refuses."""
    known = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(values) - known)
    if unknown:
        raise MovieRecError(f"params.yaml {section}: unknown setting(s) {', '.join(unknown)}; "
                            f"known: {', '.join(sorted(known - set(extra)))}")  # fmt: skip
    hints = typing.get_type_hints(cls)
    values = {k: _typed(section, k, v, hints[k]) for k, v in values.items()}
    try:
        return cls(**values, **extra)
    except (TypeError, ValueError) as e:
        raise MovieRecError(f"params.yaml {section}: {e}") from None


def _typed(section: str, name: str, value: Any, kind: Any) -> Any:
    """``value`` as the field's type (an integer is a valid float); a value of another type is refused, so that
    ``epochs: ten`` stops with a message rather than deep inside training."""
    words = {int: "an integer", float: "a number", bool: "true or false", str: "a string"}
    if isinstance(kind, types.UnionType):  # a setting that is a value or a word ("auto"): the class checks which
        return value
    if kind in words:
        ok = isinstance(value, kind) and not (kind is not bool and isinstance(value, bool))
        if kind is float and isinstance(value, int) and not isinstance(value, bool):
            return float(value)
        if not ok:
            raise MovieRecError(f"params.yaml {section}: {name} must be {words[kind]}, not {value!r}")
    elif typing.get_origin(kind) is tuple:
        if not isinstance(value, (list, tuple)) or not all(isinstance(v, int) and not isinstance(v, bool) for v in value):
            raise MovieRecError(f"params.yaml {section}: {name} must be a list of integers, not {value!r}")
    return value


def set_seed(seed: int) -> np.random.Generator:
    """Seed Python, NumPy and (when imported) PyTorch; return a NumPy generator for explicit use."""
    random.seed(seed)
    np.random.seed(seed)
    if "torch" in sys.modules:  # torch is heavy: seed it only where a stage already uses it
        sys.modules["torch"].manual_seed(seed)
    return np.random.default_rng(seed)


def use_threads(threads: int) -> None:
    """torch's CPU threads for this process; 0 leaves torch's default (one per core)."""
    if threads:
        import torch

        torch.set_num_threads(int(threads))


_UMASK = os.umask(0)
os.umask(_UMASK)


@contextlib.contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success it replaces ``path`` in one rename.

    On any exception the temporary file is removed, so a reader never sees half a file.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        os.chmod(tmp_path, 0o666 & ~_UMASK)  # mkstemp makes 0600 files; give the usual permissions
        os.replace(tmp_path, path)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


def _exchange(a: Path, b: Path) -> bool:
    """Swap two paths in one step (Linux ``renameat2(RENAME_EXCHANGE)``); False where the system cannot."""
    if not sys.platform.startswith("linux"):
        return False
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    if not hasattr(libc, "renameat2"):
        return False
    at_fdcwd, rename_exchange = -100, 2
    return libc.renameat2(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), rename_exchange) == 0


@contextlib.contextmanager
def atomic_dir(path: str | Path) -> Iterator[Path]:
    """Yield an empty folder beside ``path`` to fill; on success it takes ``path``'s place, on any exception it is
    removed and ``path`` stays as it was. The old folder is swapped out in one step where the system can (Linux);
    elsewhere it is renamed aside first and removed only once the new one is in place."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    build = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".building", dir=path.parent))
    try:
        yield build
        os.chmod(build, 0o777 & ~_UMASK)  # mkdtemp makes 0700 folders; give the usual permissions
        if not path.exists():
            build.rename(path)
        elif not _exchange(build, path):  # build now holds the old folder
            old = build.with_suffix(".old")
            path.rename(old)
            build.rename(path)
            build = old
    finally:
        shutil.rmtree(build, ignore_errors=True)


def write_json(path: str | Path, obj: Any) -> None:
    """Write ``obj`` as pretty, key-sorted JSON, atomically."""
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(obj, indent=2, sort_keys=True, default=_json_default) + "\n")


def _json_default(o: Any) -> Any:
    if isinstance(o, np.integer):
        return int(o)
    if isinstance(o, np.floating):
        return float(o)
    if isinstance(o, np.ndarray):
        return o.tolist()
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")
