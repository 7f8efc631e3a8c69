"""Expert registry: a name and its params sub-section → a ready expert."""

from __future__ import annotations

from typing import Any

import torch

from reid.grounding.experts.base import Expert, GroundItem
from reid.utils.device import resolve_device

EXPERTS = ("cogvlm", "pose", "stripes", "oracle")

__all__ = ["EXPERTS", "Expert", "GroundItem", "build_expert"]


def _device(name: str, local_rank: int) -> torch.device:
    """`auto` on a CUDA machine = this rank's GPU, so torchrun's ranks never share one."""
    device = resolve_device(name)
    if name == "auto" and device.type == "cuda":
        return torch.device("cuda", local_rank)
    return device


def build_expert(name: str, params: dict[str, Any] | None = None, local_rank: int = 0) -> Expert:
    """Build expert `name` from its parameter sub-section (`grounding.<name>` in params.yaml)."""
    params = dict(params or {})
    if name == "stripes":
        from reid.grounding.experts.stripes import StripesConfig, StripesExpert

        windows = params.get("windows")
        config = StripesConfig({p: tuple(w) for p, w in windows.items()}) if windows else StripesConfig()
        return StripesExpert(config)
    if name == "oracle":
        from reid.grounding.experts.oracle import OracleConfig, OracleExpert

        return OracleExpert(OracleConfig(**params))
    if name == "pose":
        from reid.grounding.experts.pose import PoseConfig, PoseExpert

        return PoseExpert(PoseConfig(**params))
    if name == "cogvlm":
        from reid.grounding.experts.cogvlm import (
            CogVLMConfig,
            CogVLMExpert,
            load_cogvlm,
        )

        config = CogVLMConfig(**params)
        device = _device(config.device, local_rank)
        model, tokenizer = load_cogvlm(config, device)
        return CogVLMExpert(model, tokenizer, config, device)
    raise ValueError(f"grounding.expert '{name}' is unknown; choose one of {', '.join(EXPERTS)}")
