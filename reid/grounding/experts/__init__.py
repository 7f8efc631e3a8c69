"""Expert registry: the `grounding` section → the chosen expert, built from its own block."""

from __future__ import annotations

import torch

from reid.grounding.config import Grounding
from reid.grounding.experts.base import Expert, GroundItem
from reid.utils.device import resolve_device

__all__ = ["Expert", "GroundItem", "build_expert"]


def _device(name: str, local_rank: int) -> torch.device:
    """`auto` on a CUDA machine = this rank's GPU, so torchrun's ranks never share one."""
    device = resolve_device(name)
    if name == "auto" and device.type == "cuda":
        return torch.device("cuda", local_rank)
    return device


def build_expert(config: Grounding, local_rank: int = 0) -> Expert:
    """Build the expert `config.expert` from its block (`grounding.<expert>` in params.yaml)."""
    if config.expert == "stripes":
        from reid.grounding.experts.stripes import StripesExpert

        return StripesExpert(config.stripes)
    if config.expert == "oracle":
        from reid.grounding.experts.oracle import OracleExpert

        return OracleExpert(config.oracle)
    if config.expert == "pose":
        from reid.grounding.experts.pose import PoseExpert

        return PoseExpert(config.pose)
    from reid.grounding.experts.cogvlm import CogVLMExpert, load_cogvlm

    device = _device(config.cogvlm.device, local_rank)
    model, tokenizer = load_cogvlm(config.cogvlm, device)
    return CogVLMExpert(model, tokenizer, config.cogvlm, device)
