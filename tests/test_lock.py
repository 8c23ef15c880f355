"""requirements.lock, what `make setup` installs, must agree with pyproject.toml's pins (`make lock` after a change)."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parent.parent


def _name(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _locked() -> dict[str, str]:
    pins = {}
    for line in (ROOT / "requirements.lock").read_text().splitlines():
        line = line.split("#")[0].strip()
        if line:
            name, _, version = line.partition("==")
            assert version, f"requirements.lock: {line!r} is not name==version"
            pins[_name(name)] = version
    return pins


def test_every_pin_of_pyproject_is_locked_at_its_version():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    wanted = [Requirement(r) for r in project["dependencies"]]
    wanted += [Requirement(r) for extra in ("dev", "llm") for r in project["optional-dependencies"][extra]]
    locked = _locked()
    missing = [str(r) for r in wanted if _name(r.name) not in locked]
    assert not missing, f"not in requirements.lock (run make lock): {missing}"
    off = [f"{r} (locked {locked[_name(r.name)]})" for r in wanted if not r.specifier.contains(locked[_name(r.name)])]
    assert not off, f"requirements.lock disagrees with pyproject.toml (run make lock): {off}"


def test_the_lock_names_torch_without_a_build_tag():
    # "+cpu" wheels are not on PyPI: a lock that named one would fail to install anywhere but a machine holding it
    assert _locked()["torch"] == "2.13.0"
