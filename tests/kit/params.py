"""The one params file of the tests: the repository's params.yaml, on the CPU in one process, with overrides.

Tests build every section from here (`config`, `section`) instead of leaning on library
defaults, so a test names each value it depends on and every section is validated as a stage
would validate it, cross-section checks included.  Keys are dotted (`"train.device"`), or joined
with `__` where a keyword argument is handier (`train__device`); a mapping given for a block
updates it key by key (`rmp={"heads": 8}` keeps the other rmp keys).
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from functools import cache
from pathlib import Path
from typing import Any

import yaml

from reid.config.schema import PipelineConfig
from reid.model.configs import MuvaConfig

PARAMS = Path(__file__).resolve().parents[2] / "params.yaml"
TINY = {  # what every test runs under: no CUDA assumed, no loader processes
    "grounding.cogvlm.device": "cpu", "pretrain.device": "cpu", "pretrain.workers": 0,
    "train.device": "cpu", "train.workers": 0, "evaluation.device": "cpu", "evaluation.workers": 0,
}


@cache
def _base() -> dict[str, Any]:
    return yaml.safe_load(PARAMS.read_text())


def params(**overrides: Any) -> dict[str, Any]:
    """The tiny params as plain data, with `overrides` (dotted keys) applied."""
    data = copy.deepcopy(_base())
    for key, value in {**TINY, **overrides}.items():
        *parents, leaf = key.replace("__", ".").split(".")
        node = data
        for part in parents:
            node = node[part]
        if leaf not in node:
            raise KeyError(f"{key}: no such params key")
        node[leaf] = _merged(node[leaf], value)
    return data


def _merged(old: Any, new: Any) -> Any:
    if isinstance(old, dict) and isinstance(new, dict):
        return {**old, **{k: _merged(old.get(k), v) for k, v in new.items()}}
    return new


def config(**overrides: Any) -> PipelineConfig:
    """The validated tree of the tiny params with `overrides`."""
    return PipelineConfig.model_validate(params(**overrides))


def section(name: str, **overrides: Any) -> Any:
    """Section `name` (dotted, e.g. "evaluation.rerank") of the tiny params, `overrides` relative to it."""
    prefix = name.replace("__", ".") + "."
    node: Any = config(**{prefix + key.replace("__", "."): value for key, value in overrides.items()})
    for part in prefix.rstrip(".").split("."):
        node = getattr(node, part)
    return node


def muva(num_classes: int, sources: Sequence[str] = ("MA",), class_domains: Sequence[int] | None = None,
         **model: Any) -> MuvaConfig:
    """The architecture of the tiny params' `model` section with `model` overrides, trained on `sources`."""
    return MuvaConfig.of(section("model", **model), sources, num_classes, class_domains)
