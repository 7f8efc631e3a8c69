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
from reid.model.params import Model
from tests.kit.clip import IMAGE_SIZE, TINY_CLIP

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


def peer(num_classes: int, method: str = "clip_fgdi", sources: Sequence[str] = ("MA",), num_domains: int = 1,
         **model: Any) -> MuvaConfig:
    """The CLIP-ReID lineage's architecture (`method`'s section of the tiny params) on the `model` section."""
    recipe = section(method)
    return MuvaConfig.of_peer(section("model", **model), sources, num_classes, method, num_domains,
                              recipe.input_norm, recipe.test_feature)


def tiny_config(num_classes: int, **fields: Any) -> MuvaConfig:
    """The tiny model trained on one source (`fields`: keys of the `model` section)."""
    return muva(num_classes, clip=TINY_CLIP, image_size=list(IMAGE_SIZE), **fields)


def tiny_model_params(**fields: Any) -> Model:
    """The `model` section of the tiny model (random init unless `fields` say otherwise)."""
    return section("model", **{"clip": TINY_CLIP, "image_size": list(IMAGE_SIZE), "pretrained": None, **fields})


def tiny_train_configs(**stage2: Any) -> tuple[Any, Any, Any]:
    """The `train`, `stage1` and `stage2` sections that train the tiny model in a second or two."""
    train = section("train", ids_per_batch=4, images_per_id=2, memory_batch_size=16)
    stage1 = section("stage1", epochs=2, lr=1e-3, warmup_epochs=1)
    epochs = stage2.get("epochs", 3)  # the decay at epoch 2 (or none, within a shorter run)
    return train, stage1, section("stage2", **{"epochs": epochs, "lr": 1e-3, "milestones": [min(2, epochs)], **stage2})


def tiny_peer(method: str, **fields: Any) -> Any:
    """The `method` section (clip_reid | clip_fgdi) that trains the tiny model in a second: 2 prompt epochs,
    3 image epochs with the decay at scheduler epoch 3, and FGDI's prior (1 epoch) and domain prompts."""
    extra = {"prior_epochs": 1, "domain_prompts": {"epochs": 2, "warmup_epochs": 1},
             "image": {"epochs": 3, "milestones": [4]}} if method == "clip_fgdi" else {}
    return section(method, **{"prompts": {"epochs": 2, "warmup_epochs": 1, "lr": 1e-3},
                              "image": {"epochs": 3, "milestones": [3], "lr": 1e-3}, "prompt_batch_size": 8,
                              **extra, **fields})


def tiny_pretrain() -> Any:
    """The `pretrain` section that pre-trains the tiny CLIP (tests.kit.clip.PRETRAIN_CLIP) in seconds."""
    return section("pretrain", epochs=6, batch_size=32, lr=2e-3, min_lr=1e-4, warmup_epochs=1,
                   data={"seed": 0, "identities": 48, "images_per_id": 3, "test_identities": 8, "height": 64, "width": 64})


def pipeline_params() -> dict[str, Any]:
    """The whole demo pipeline in about a minute: tiny benchmark, tiny CLIP, one or two epochs a stage."""
    return params(**{
        "synth": {"train_ids": 16, "test_ids": 8, "images_per_id": 4, "queries_per_id": [1, 1],
                  "gallery_per_id": [2, 3], "distractors": 4, "junk": 2},
        "data.workers": 1,
        "pretrain": {"epochs": 1, "batch_size": 8,
                     "data": {"identities": 24, "images_per_id": 2, "test_identities": 4, "height": 64, "width": 32}},
        "model": {"image_size": [64, 32], "clip": TINY_CLIP},
        "train": {"ids_per_batch": 4, "images_per_id": 2, "memory_batch_size": 32},
        "stage1": {"epochs": 1, "warmup_epochs": 1},
        "stage2": {"epochs": 2, "milestones": [1]},
        "clip_reid": {"prompts": {"epochs": 1, "warmup_epochs": 1}, "image": {"epochs": 2, "milestones": [1]}},
        "clip_fgdi": {"prompts": {"epochs": 1, "warmup_epochs": 1}, "domain_prompts": {"epochs": 1, "warmup_epochs": 1},
                      "image": {"epochs": 2, "milestones": [2]}},
        "evaluation": {"sheet_queries": 2, "mask_images": 2, "max_rank": 10},
    })
