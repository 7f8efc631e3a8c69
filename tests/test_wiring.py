"""dvc.yaml against the wiring (stages/wiring.py) and against the code each stage really imports."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
import yaml

from stages.wiring import STAGES

ROOT = Path(__file__).resolve().parents[1]
OUR_PACKAGES = ("reid", "stages")
DVC = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]


def module_file(name: str) -> Path | None:
    """The file of module `name` in this repository (a package's __init__.py), or None."""
    base = ROOT.joinpath(*name.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def imported_modules(path: Path) -> set[str]:
    """Every module an import statement of `path` names, at any depth (lazy imports in functions too)."""
    package = ".".join(path.relative_to(ROOT).with_suffix("").parts)
    if path.name != "__init__.py":
        package = package.rpartition(".")[0]
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*parent, *([base] if base else [])])
            names.add(base)
            names.update(f"{base}.{alias.name}" for alias in node.names)  # `from pkg import submodule`
    return names


def closure(module: str) -> set[Path]:
    """The files Python executes for `import module`, restricted to this repository (packages' __init__ too)."""
    seen: set[Path] = set()
    todo = [module]
    while todo:
        name = todo.pop()
        if not name.startswith(OUR_PACKAGES):
            continue
        parts = name.split(".")
        for depth in range(1, len(parts) + 1):  # importing a.b.c runs a/__init__ and a/b/__init__ first
            path = module_file(".".join(parts[:depth]))
            if path is not None and path not in seen:
                seen.add(path)
                todo.extend(imported_modules(path))
    return seen


def code_deps(name: str) -> list[str]:
    """Stage `name`'s import closure as dvc.yaml deps: a folder where every .py file under it is imported."""
    files = {p.relative_to(ROOT).as_posix() for p in closure(f"stages.{name}")}
    folders = sorted({f.rpartition("/")[0] for f in files} - set(OUR_PACKAGES), key=lambda d: (d.count("/"), d))
    whole: list[str] = []
    for folder in folders:
        inside = {p.relative_to(ROOT).as_posix() for p in (ROOT / folder).rglob("*.py")}
        if not any(folder.startswith(f"{w}/") for w in whole) and inside <= files:
            whole.append(folder)
    rest = [f for f in files if not any(f.startswith(f"{w}/") for w in whole)]
    return sorted([*whole, *rest], key=lambda d: (not d.startswith("stages/"), d))


def covered(path: Path, deps: list[str]) -> bool:
    rel = path.relative_to(ROOT).as_posix()
    return any(rel == dep.rstrip("/") or rel.startswith(dep.rstrip("/") + "/") for dep in deps)


def outputs(entry: dict) -> list[str]:
    paths = []
    for key in ("outs", "metrics", "plots"):
        for item in entry.get(key, []):
            paths.append(item if isinstance(item, str) else next(iter(item)))
    return paths


def is_code(dep: str) -> bool:
    return dep.startswith(tuple(f"{p}/" for p in OUR_PACKAGES)) or dep in OUR_PACKAGES


@pytest.mark.parametrize("name", sorted(STAGES))
def test_every_imported_file_is_a_dependency(name):
    deps = DVC[name]["deps"]
    missing = sorted(p.relative_to(ROOT).as_posix() for p in closure(f"stages.{name}") if not covered(p, deps))
    assert not missing, f"dvc.yaml stage {name} imports files its deps do not cover: {missing}"


@pytest.mark.parametrize("name", sorted(STAGES))
def test_dvc_yaml_agrees_with_the_wiring(name):
    entry, stage = DVC[name], STAGES[name]
    assert entry["cmd"].split("#")[0].split() == ["python", "-m", f"stages.{name}"]
    assert [d for d in entry["deps"] if not is_code(d)] == list(stage.inputs.values())
    assert entry.get("params", []) == list(stage.params)
    assert sorted(outputs(entry)) == sorted(stage.outputs.values())


def test_every_code_dependency_exists():
    for name, entry in DVC.items():
        for dep in filter(is_code, entry["deps"]):
            assert (ROOT / dep).exists(), f"dvc.yaml stage {name}: dependency {dep} does not exist"
            files = [ROOT / dep] if (ROOT / dep).is_file() else (ROOT / dep).rglob("*.py")
            empty = [f for f in files if f.stat().st_size == 0]
            assert not empty, f"DVC warns on every command about an empty dependency: {empty}"


def test_closure_sees_lazy_and_package_imports(tmp_path):
    """The analysis itself: a stage's closure holds what it imports inside functions, and package __init__s."""
    files = {p.relative_to(ROOT).as_posix() for p in closure("stages.ground")}
    assert {"stages/ground.py", "stages/common.py", "stages/wiring.py", "reid/__init__.py",
            "reid/grounding/__init__.py", "reid/grounding/run.py", "reid/config/schema.py"} <= files
    assert "reid/grounding/experts/oracle.py" in files  # imported inside build_expert
    training = {f for f in files if f.startswith("reid/training/")}  # grounding does not train: the schema's
    assert training == {"reid/training/__init__.py", "reid/training/config.py"}  # section only, no torch code


if __name__ == "__main__":  # print each stage's deps as dvc.yaml wants them: python -m tests.test_wiring
    for stage_name, stage in STAGES.items():
        print(f"{stage_name}:\n    deps:")
        print("\n".join(f"      - {dep}" for dep in [*code_deps(stage_name), *stage.inputs.values()]))
