"""The [mllm] and [cogvlm] extras cannot share an environment, as the README says; the suite tests MLLM paths."""

import tomllib
from pathlib import Path

from packaging.requirements import Requirement

PYPROJECT = Path(__file__).resolve().parents[2] / "pyproject.toml"


def extras() -> dict[str, dict[str, Requirement]]:
    table = tomllib.loads(PYPROJECT.read_text())["project"]["optional-dependencies"]
    return {name: {Requirement(r).name: Requirement(r) for r in reqs} for name, reqs in table.items()}


def test_no_transformers_satisfies_both_mllm_and_cogvlm():
    mllm, cogvlm = extras()["mllm"]["transformers"].specifier, extras()["cogvlm"]["transformers"].specifier
    candidates = [f"4.{minor}.{patch}" for minor in range(30, 60) for patch in range(3)] + ["5.0.0", "5.25.0"]
    assert [v for v in candidates if mllm.contains(v) and cogvlm.contains(v)] == []
    assert mllm.contains("4.49.0") and cogvlm.contains("4.41.2")


def test_the_dev_extra_holds_the_mllm_extra_so_ci_runs_the_vlm_tests():
    dev, mllm = extras()["dev"], extras()["mllm"]
    assert {name: str(req.specifier) for name, req in mllm.items()} == \
        {name: str(dev[name].specifier) for name in mllm}
