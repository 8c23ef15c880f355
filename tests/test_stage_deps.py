"""Every stage in dvc.yaml depends on all the code it runs: its script and each `movierec` module the script
imports, directly or through other modules (package ``__init__`` files included). A module missing from a
stage's deps would let `dvc repro` report that stage's old outputs as current after that module changed."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest
import yaml

from tests.conftest import REPO

SRC = REPO / "src"


def module_file(name: str) -> Path | None:
    """``movierec.a.b`` -> its source file (a module or a package's ``__init__.py``), if it is ours."""
    base = SRC.joinpath(*name.split("."))
    for path in (base.with_suffix(".py"), base / "__init__.py"):
        if path.is_file():
            return path
    return None


def imported(path: Path) -> set[Path]:
    """The `movierec` source files one file imports anywhere in it (lazy imports inside functions too), with
    the ``__init__.py`` of every package on the way."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names |= {f"{node.module}.{a.name}" for a in node.names}  # `from pkg import module`
    files: set[Path] = set()
    for name in names:
        if not name.startswith("movierec"):
            continue
        parts = name.split(".")
        for i in range(1, len(parts) + 1):
            found = module_file(".".join(parts[:i]))
            if found:
                files.add(found)
    return files


def closure(script: Path) -> set[Path]:
    seen: set[Path] = set()
    todo = [script]
    while todo:
        for f in imported(todo.pop()):
            if f not in seen:
                seen.add(f)
                todo.append(f)
    return seen


def stage_paths(stage: dict, key: str) -> list[str]:
    """A dvc.yaml stage's ``deps`` or ``outs`` as paths (an entry with options is a one-key mapping)."""
    return [d if isinstance(d, str) else next(iter(d)) for d in stage.get(key, [])]


def stage_scripts() -> dict[str, tuple[Path, list[str]]]:
    stages = yaml.safe_load((REPO / "dvc.yaml").read_text())["stages"]
    out = {}
    for name, stage in stages.items():
        script = re.search(r"\bstages/\w+\.py\b", stage["cmd"])
        assert script, f"stage {name}: no stages/*.py script in its cmd"
        out[name] = (REPO / script.group(0), stage_paths(stage, "deps"))
    return out


def missing(script: Path, deps: list[str]) -> list[str]:
    covered = [(REPO / d).resolve() for d in deps]
    need = {script} | closure(script)
    return sorted(str(f.relative_to(REPO)) for f in need
                  if not any(f == c or c in f.parents for c in covered))  # fmt: skip


@pytest.mark.parametrize("stage", sorted(stage_scripts()))
def test_stage_depends_on_every_module_it_imports(stage):
    script, deps = stage_scripts()[stage]
    assert missing(script, deps) == [], f"add these to the deps of stage {stage} in dvc.yaml"


def test_the_closure_follows_imports_through_modules(tmp_path):
    # stages/train.py imports movierec.training.loop, which imports movierec.models.losses
    train = closure(REPO / "stages" / "train.py")
    assert SRC / "movierec" / "models" / "losses.py" in train
    assert SRC / "movierec" / "__init__.py" in train and SRC / "movierec" / "training" / "__init__.py" in train
    assert SRC / "movierec" / "serving" / "service.py" not in train
    script = tmp_path / "s.py"
    script.write_text("def f():\n    from movierec.serving import bundle\n")  # a lazy import counts too
    assert SRC / "movierec" / "serving" / "bundle.py" in closure(script)
    index = REPO / "stages" / "index.py"
    assert "src/movierec/serving/profiles.py" in missing(index, ["stages/index.py"])
    assert missing(index, ["stages/index.py", "src/movierec"]) == []  # a folder covers what is under it


def stages_feeding(targets: set[str]) -> list[str]:
    """The stages whose outputs ``targets`` read, directly or through other stages, with the targets, in
    dvc.yaml's order."""
    stages = yaml.safe_load((REPO / "dvc.yaml").read_text())["stages"]
    owner = {out: name for name, stage in stages.items() for out in stage_paths(stage, "outs")}
    need, todo = set(targets), list(targets)
    while todo:
        for dep in stage_paths(stages[todo.pop()], "deps"):
            if dep in owner and owner[dep] not in need:
                need.add(owner[dep])
                todo.append(owner[dep])
    return [name for name in stages if name in need]


def test_the_served_project_builders_run_every_stage_the_service_reads():
    """The serving tests and bench_serve.py build a served project by running the stage scripts in turn (no DVC):
    a stage added upstream of the ranker or the index (as `ease` was) must be in their lists, in order."""
    from tests.serving.conftest import SERVING_STAGES

    served = stages_feeding({"rank", "index"})
    assert served[-1] == "index" and "train" in served and "eda" not in served
    assert SERVING_STAGES == served
    tree = ast.parse((REPO / "bench" / "bench_serve.py").read_text())
    bench = next(ast.literal_eval(n.value) for n in tree.body
                 if isinstance(n, ast.Assign) and getattr(n.targets[0], "id", "") == "STAGES")  # fmt: skip
    assert bench == served
