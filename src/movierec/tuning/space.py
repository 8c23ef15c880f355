"""The search space of ``movierec tune``, declared in YAML over params.yaml's own keys.

::

    params:
      train.learning_rate: {low: 0.0005, high: 0.01, log: true}   # a float range, sampled on a log scale
      model.embedding_dim: {choices: [64, 128, 256]}              # a list of values
      train.patience: {low: 3, high: 8}                           # integers give an integer range
      train.logq_weight: {low: 0.5, high: 1.5, step: 0.1}        # a stepped range

Every key must name a setting of params.yaml (``section.name``); a range's ``low`` is below its ``high``, and
a log scale needs ``low`` > 0. A file that breaks a rule is refused with a message that names the entry.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from movierec.errors import MovieRecError

RANGE_KEYS = {"low", "high", "log", "step"}


@dataclass(frozen=True)
class Dimension:
    """One searched setting: ``name`` is ``section.key`` of params.yaml."""

    name: str
    low: float | int | None = None
    high: float | int | None = None
    log: bool = False
    step: float | int | None = None
    choices: tuple | None = None

    def suggest(self, trial) -> Any:
        """The trial's value for this setting (an ``optuna.Trial``)."""
        if self.choices is not None:
            return trial.suggest_categorical(self.name, list(self.choices))
        if isinstance(self.low, int) and isinstance(self.high, int) and not isinstance(self.step, float):
            return trial.suggest_int(self.name, self.low, self.high, step=self.step or 1, log=self.log)
        return trial.suggest_float(self.name, float(self.low), float(self.high), step=self.step, log=self.log)


def _number(x: Any) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool)


def _dimension(name: str, spec: Any, params: dict) -> Dimension:
    where = f"search space: {name}"
    section, _, key = name.partition(".")
    if not key or section not in params or not isinstance(params[section], dict) or key not in params[section]:
        raise MovieRecError(f"{where}: not a setting of params.yaml (expected section.key, e.g. train.learning_rate)")
    if not isinstance(spec, dict):
        raise MovieRecError(f"{where}: expected {{low: .., high: ..}} or {{choices: [..]}}, not {spec!r}")
    if "choices" in spec:
        extra = set(spec) - {"choices"}
        if extra:
            raise MovieRecError(f"{where}: choices takes no {', '.join(sorted(extra))}")
        choices = spec["choices"]
        if not isinstance(choices, list) or not choices:
            raise MovieRecError(f"{where}: choices must be a non-empty list")
        if any(isinstance(c, (dict, list)) for c in choices):
            raise MovieRecError(f"{where}: choices must be plain values (numbers, strings, booleans)")
        return Dimension(name, choices=tuple(choices))
    unknown = set(spec) - RANGE_KEYS
    if unknown:
        raise MovieRecError(f"{where}: unknown field(s) {', '.join(sorted(unknown))}; "
                            f"a range takes low, high, log, step; a list takes choices")  # fmt: skip
    low, high, log, step = spec.get("low"), spec.get("high"), spec.get("log", False), spec.get("step")
    if not (_number(low) and _number(high)):
        raise MovieRecError(f"{where}: low and high must both be numbers, not {low!r} and {high!r}")
    if low >= high:
        raise MovieRecError(f"{where}: low ({low}) must be below high ({high})")
    if not isinstance(log, bool):
        raise MovieRecError(f"{where}: log must be true or false, not {log!r}")
    if log and low <= 0:
        raise MovieRecError(f"{where}: a log scale needs low > 0, not {low}")
    if step is not None and (not _number(step) or step <= 0 or log):
        raise MovieRecError(f"{where}: step must be a positive number, and cannot go with log")
    return Dimension(name, low, high, log, step)


def parse_space(text: str, params: dict) -> list[Dimension]:
    """The dimensions declared in YAML ``text``, checked against ``params`` (params.yaml's content)."""
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as e:
        raise MovieRecError(f"search space: not valid YAML: {e}") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("params"), dict) or not doc["params"]:
        raise MovieRecError("search space: expected a mapping with a non-empty `params:` section")
    unknown = set(doc) - {"params"}
    if unknown:
        raise MovieRecError(f"search space: unknown top-level key(s) {', '.join(sorted(unknown))}; expected params")
    return [_dimension(str(name), spec, params) for name, spec in doc["params"].items()]


def load_space(path: str | Path, params: dict) -> list[Dimension]:
    path = Path(path)
    if not path.is_file():
        raise MovieRecError(f"search space: {path} not found")
    return parse_space(path.read_text(encoding="utf-8"), params)


def apply(params: dict, values: dict[str, Any]) -> dict:
    """A copy of ``params`` with each ``section.key`` of ``values`` set."""
    out = copy.deepcopy(params)
    for name, value in values.items():
        section, key = name.split(".", 1)
        out[section][key] = value
    return out


def current(dimensions: list[Dimension], params: dict) -> dict[str, Any]:
    """params.yaml's own values of the searched settings, for the ones a trial can take (so that today's
    defaults are one of the trials); a value outside the space is left out."""
    out = {}
    for d in dimensions:
        section, key = d.name.split(".", 1)
        value = params[section][key]
        inside = value in d.choices if d.choices is not None else _number(value) and d.low <= value <= d.high
        if inside:
            out[d.name] = value
    return out


def as_overrides(values: dict[str, Any]) -> str:
    """The ``-S key=value`` arguments that set ``values`` with ``dvc exp run``."""
    return " ".join(f"-S {k}={yaml.safe_dump(v, default_flow_style=True).strip().removesuffix('...').strip()}"
                    for k, v in values.items())  # fmt: skip
