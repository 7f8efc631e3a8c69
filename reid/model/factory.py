"""One factory for every method's model: the config's `method` picks the architecture (open_clip's way)."""

from __future__ import annotations

from torch import nn

from reid.model.backbone import create_vision_tower
from reid.model.clip_reid import PeerModel, build_peer, build_peer_encoder
from reid.model.configs import MuvaConfig
from reid.model.lvlm_reid import LvlmModel, build_lvlm, build_lvlm_encoder
from reid.model.muva import MuvaModel, build_muva, build_reid_encoder

FullModel = MuvaModel | PeerModel | LvlmModel


def build_model(config: MuvaConfig, pretrained: str | None = None) -> FullModel:
    """The full model (for MUVA and the CLIP-ReID lineage: image and text sides) of `config.method`;
    CLIP weights from `pretrained`."""
    if config.method == "muva":
        return build_muva(config, pretrained)
    return build_lvlm(config, pretrained) if config.method == "lvlm_reid" else build_peer(config, pretrained)


def build_image_side(config: MuvaConfig) -> nn.Module:
    """The image side alone (what inference loads), randomly initialised."""
    if config.method == "muva":
        return build_reid_encoder(config)
    build = build_lvlm_encoder if config.method == "lvlm_reid" else build_peer_encoder
    return build(config, create_vision_tower(config))
