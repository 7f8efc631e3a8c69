"""dvc.yaml against the wiring table (reid/wiring.py) and the code each stage really imports."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from reid.wiring import STAGES, StageParams, resolve, stage_io
from stages.wiring import DVC_YAML, ROOT, code_deps, dvc_yaml, stage_closure

DVC = yaml.safe_load(DVC_YAML.read_text())["stages"]


def test_dvc_yaml_is_generated_from_the_table_and_the_closures():
    assert DVC_YAML.read_text() == dvc_yaml(), "dvc.yaml is out of date: run `python -m stages.wiring --write`"


def test_the_generator_checks_the_file():
    check = subprocess.run([sys.executable, "-m", "stages.wiring", "--check"], cwd=ROOT)
    assert check.returncode == 0


@pytest.mark.parametrize("name", sorted(STAGES))
def test_every_stage_runs_its_entry_and_is_in_dvc_yaml(name):
    stage, entry = STAGES[name], DVC[name]
    assert entry["cmd"] == f"python -m stages.{name}"
    assert callable(stage.function())
    assert entry["params"] == list(stage.params)
    scratch = [o.path for o in stage.outputs.values() if o.kind == "scratch"]
    assert not any(p in str(entry) for p in scratch), "scratch state is the stage's own, never DVC's"


@pytest.mark.parametrize("name", sorted(STAGES))
def test_every_imported_file_is_a_dependency(name):
    deps = code_deps(name)
    for path in stage_closure(name):
        rel = path.relative_to(ROOT).as_posix()
        assert any(rel == d or rel.startswith(f"{d}/") for d in deps), f"stage {name} imports {rel}, not a dep"
    for dep in deps:
        assert (ROOT / dep).exists()
        files = [ROOT / dep] if (ROOT / dep).is_file() else (ROOT / dep).rglob("*.py")
        assert not [f for f in files if f.stat().st_size == 0], "DVC warns on every command about an empty dependency"


def test_closure_sees_lazy_and_package_imports_and_the_named_entry():
    """The analysis itself: a stage's closure holds what it imports inside functions, package __init__s,
    and the library module the table names (which the entry point imports only by name)."""
    files = {p.relative_to(ROOT).as_posix() for p in stage_closure("ground")}
    assert {"stages/ground.py", "stages/common.py", "reid/wiring.py", "reid/__init__.py",
            "reid/grounding/__init__.py", "reid/grounding/run.py", "reid/config/schema.py"} <= files
    assert "reid/grounding/experts/oracle.py" in files  # imported inside build_expert
    sections = {"reid/training/__init__.py", "reid/training/config.py", "reid/pretrain/__init__.py", "reid/pretrain/config.py"}
    assert {f for f in files if f.startswith(("reid/training/", "reid/pretrain/"))} == sections  # grounding does not
    # train: of those packages it runs only the sections every stage validates; stage 1 takes the prior's path
    # from the table, so pretrain's code is not among its deps either
    stage1 = {p.relative_to(ROOT).as_posix() for p in stage_closure("stage1")}
    assert {f for f in stage1 if f.startswith("reid/pretrain/")} == {"reid/pretrain/__init__.py", "reid/pretrain/config.py"}


def test_package_data_beside_a_stage_module_is_a_dependency():
    """The backbone JSON configs are read, not imported: every stage that names a backbone depends on them."""
    assert "reid/model/model_configs" in code_deps("synth")  # the config schema checks backbone names
    assert "reid/model/model_configs" in code_deps("stage2")  # the prior's path is the table's


def test_paths_resolve_params_and_take_overrides():
    config = type("C", (), {"synth": type("S", (), {"out": "data/x"})()})()
    assert resolve("${synth.out}/a", config) == "data/x/a"
    io = stage_io("synth", config)
    assert io.outputs == {"benchmark": Path("data/x")}
    assert stage_io("synth", config, {"benchmark": "elsewhere", "unused": None}).outputs["benchmark"] == Path("elsewhere")


def test_a_stage_reads_only_its_declared_sections():
    config = type("C", (), {"grounding": 1, "train": 2})()
    params = StageParams("ground", config)
    assert params.grounding == 1
    with pytest.raises(AttributeError, match="stage ground reads params section 'train', which reid/wiring.py does not declare"):
        params.train
