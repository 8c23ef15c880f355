"""Read MovieLens CSVs robustly and account for every row that does not pass.

Reading is fast on good files (pyarrow, typed, multi-threaded). When a file does not parse as typed, it is
read again as text, one line at a time as pyarrow sees it, so each bad row can be named by its physical line
number. Every problem is recorded in a :class:`BadRows` ledger; with the ``error`` policy the ledger raises a
:class:`DataValidationError` that names file, lines and count; with ``skip`` the rows are dropped and counted.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv

from movierec.errors import DataValidationError

LINE = "_line"  # column holding each row's physical line number in its file (header is line 1)
_MAX_LINES_SHOWN = 10


@dataclass
class _Problem:
    count: int = 0
    lines: list[int] = field(default_factory=list)
    example: str = ""


class BadRows:
    """Ledger of rows that failed validation, by file and reason.

    ``policy`` is ``"error"`` (stop with a message) or ``"skip"`` (drop the rows, count them). ``origin``
    says where the files came from (the user's folder or archive), for the messages. A problem's example is
    the first flagged line as the file holds it, read back when the message is made.
    """

    def __init__(self, policy: str = "error", origin: str = ""):
        if policy not in ("error", "skip"):
            raise ValueError(f"bad-row policy must be 'error' or 'skip', not {policy!r}")
        self.policy = policy
        self.origin = origin
        self.paths: dict[str, Path] = {}  # file name -> the path it was read from
        self.problems: dict[tuple[str, str], _Problem] = {}

    def name(self, file: str) -> str:
        """``file`` as the user knows it: with where it came from."""
        return f"{file} (from {self.origin})" if self.origin else file

    def _quote(self, file: str, line: int) -> str:
        path = self.paths.get(file)
        if path is None or not path.is_file():
            return ""
        with open(path, encoding="utf-8", errors="replace", newline="") as f:
            for n, text in enumerate(f, start=1):
                if n == line:
                    return f"line {line}: {text.rstrip(chr(13) + chr(10))[:120]!r}"
        return ""

    def flag(self, file: str, reason: str, lines: np.ndarray, example: str = "") -> None:
        if len(lines) == 0:
            return
        p = self.problems.setdefault((file, reason), _Problem())
        p.count += len(lines)
        room = _MAX_LINES_SHOWN - len(p.lines)
        if room > 0:
            p.lines += [int(x) for x in np.sort(np.asarray(lines))[:room]]
        p.example = p.example or example

    def check(self, file: str) -> None:
        """Raise if the policy is ``error`` and ``file`` has problems."""
        found = [(r, p) for (f, r), p in self.problems.items() if f == file]
        if self.policy == "skip" or not found:
            return
        total = sum(p.count for _, p in found)
        parts = []
        for reason, p in found:
            more = ", ..." if p.count > len(p.lines) else ""
            lines = ", ".join(map(str, p.lines)) + more
            quoted = p.example or (self._quote(file, p.lines[0]) if p.lines else "")
            example = f"; e.g. {quoted}" if quoted else ""
            parts.append(f"  - {p.count:,} row(s): {reason} (line {lines}){example}")
        raise DataValidationError(
            f"{self.name(file)}: {total:,} bad row(s)\n" + "\n".join(parts) + "\n"
            "Fix the file, or set prepare.bad_rows: skip in params.yaml to drop such rows "
            "(they are then counted in metrics/statistics.json)."
        )

    def summary(self) -> dict:
        by_reason = {f"{f}: {r}": p.count for (f, r), p in sorted(self.problems.items())}
        return {"total": sum(by_reason.values()), "by_reason": by_reason}


@dataclass(frozen=True)
class TableSpec:
    """Expected columns of one CSV file: name -> ``"int"``, ``"float"`` or ``"str"``."""

    file: str
    columns: dict[str, str]


RATINGS = TableSpec("ratings.csv", {"userId": "int", "movieId": "int", "rating": "float", "timestamp": "int"})
MOVIES = TableSpec("movies.csv", {"movieId": "int", "title": "str", "genres": "str"})
TAGS = TableSpec("tags.csv", {"userId": "int", "movieId": "int", "tag": "str", "timestamp": "int"})
GENOME_SCORES = TableSpec("genome-scores.csv", {"movieId": "int", "tagId": "int", "relevance": "float"})
GENOME_TAGS = TableSpec("genome-tags.csv", {"tagId": "int", "tag": "str"})

_ARROW = {"int": pa.int64(), "float": pa.float64(), "str": pa.string()}


def read_header(path: Path) -> list[str]:
    with open(path, encoding="utf-8-sig", newline="") as f:
        first = f.readline()
    return [c.strip() for c in next(csv.reader([first]), [])]


def read_table(path: str | Path, spec: TableSpec, bad: BadRows) -> pd.DataFrame:
    """Read ``path`` as ``spec``; return the good rows with a ``_line`` column; record the bad ones.

    A missing or wrong header is always an error: without it no row can be trusted.
    """
    path = Path(path)
    if not path.is_file():
        raise DataValidationError(f"{bad.name(spec.file)}: file not found at {path}")
    bad.paths[spec.file] = path
    header = read_header(path)
    missing = [c for c in spec.columns if c not in header]
    if missing:
        want = ",".join(spec.columns)
        raise DataValidationError(
            f"{bad.name(spec.file)}: line 1: header is missing or wrong: expected columns {want}, "
            f"got {','.join(header)[:120]!r} (missing: {', '.join(missing)})"
        )
    try:
        df = _read_typed(path, spec)
    except pa.ArrowInvalid:
        df = _read_as_text(path, spec, header, bad)
    # an empty line reads as a row of nulls: harmless, not data
    blank = df[list(spec.columns)].isna().all(axis=1).to_numpy()
    if blank.any():
        df = df[~blank]
    for col, kind in spec.columns.items():
        nulls = df[col].isna().to_numpy()
        if kind == "str":
            continue
        if nulls.any():
            bad.flag(spec.file, f"{col} is empty", df[LINE].to_numpy()[nulls])
            df = df[~nulls]
        if kind == "int":
            df[col] = df[col].astype("int64")
    return df.reset_index(drop=True)


def _read_typed(path: Path, spec: TableSpec) -> pd.DataFrame:
    table = pacsv.read_csv(
        path,
        parse_options=pacsv.ParseOptions(ignore_empty_lines=False),
        convert_options=pacsv.ConvertOptions(
            column_types={c: _ARROW[k] for c, k in spec.columns.items()},
            include_columns=list(spec.columns),
            strings_can_be_null=False,
        ),
    )
    df = table.to_pandas()
    df[LINE] = np.arange(2, len(df) + 2, dtype=np.int64)
    return df


def _read_as_text(path: Path, spec: TableSpec, header: list[str], bad: BadRows) -> pd.DataFrame:
    """Slow path: read every field as text, find the rows that do not convert, and why."""
    ragged: list[tuple[int, str, int]] = []

    def on_invalid(row: pacsv.InvalidRow) -> str:
        ragged.append((row.number, row.text, row.actual_columns))
        return "skip"

    table = pacsv.read_csv(
        path,
        read_options=pacsv.ReadOptions(use_threads=False),  # so each invalid row knows its line number
        parse_options=pacsv.ParseOptions(ignore_empty_lines=False, invalid_row_handler=on_invalid),
        convert_options=pacsv.ConvertOptions(
            column_types={c: pa.string() for c in header}, include_columns=list(spec.columns)
        ),
    )
    df = table.to_pandas()
    skipped = np.array(sorted(r[0] for r in ragged), dtype=np.int64)
    lines = np.arange(2, len(df) + len(skipped) + 2, dtype=np.int64)
    df[LINE] = lines[~np.isin(lines, skipped)]
    if ragged:
        n, text, got = ragged[0]
        bad.flag(
            spec.file,
            f"wrong number of fields (expected {len(header)})",
            skipped,
            f"line {n} has {got}: {text[:80]!r}",
        )
    blank = df[list(spec.columns)].apply(lambda s: s.str.strip() == "").all(axis=1).to_numpy()
    df = df[~blank]
    for col, kind in spec.columns.items():
        if kind == "str":
            continue
        raw = df[col].str.strip()
        num = pd.to_numeric(raw, errors="coerce")
        not_num = num.isna().to_numpy() & (raw != "").to_numpy()
        if kind == "int":
            not_num |= (num.notna() & (num != np.floor(num))).to_numpy()
        if not_num.any():
            what = "an integer" if kind == "int" else "a number"
            bad.flag(spec.file, f"{col} is not {what}", df[LINE].to_numpy()[not_num])
            df = df[~not_num]
            num = num[~not_num]
        df[col] = num.astype("float64")  # read_table casts ints back once empty fields are gone
    return df


def source_name(dataset: str, local_path: str = "") -> str:
    """Where the raw files came from, as the user knows it: for the messages about them."""
    if dataset == "local":
        return str(Path(local_path).expanduser()) if local_path else "data.local_path"
    if dataset == "synthetic":
        return "the synthetic generator"
    return f"the {dataset} archive"
