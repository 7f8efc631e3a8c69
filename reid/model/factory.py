"""One factory for every method's model: the config's `method` picks the architecture (open_clip's way)."""

from __future__ import annotations

from torch import nn

from reid.model.backbone import create_vision_tower
from reid.model.clip_reid import PeerModel, build_peer, build_peer_encoder
from reid.model.configs import MuvaConfig
from reid.model.muva import MuvaModel, build_muva, build_reid_encoder

FullModel = MuvaModel | PeerModel


def build_model(config: MuvaConfig, pretrained: str | None = None) -> FullModel:
    """The full model (image and text sides) of `config.method`; CLIP weights from `pretrained`."""
    return build_muva(config, pretrained) if config.method == "muva" else build_peer(config, pretrained)


def build_image_side(config: MuvaConfig) -> nn.Module:
    """The image side alone (what inference loads), randomly initialised."""
    if config.method == "muva":
        return build_reid_encoder(config)
    return build_peer_encoder(config, create_vision_tower(config))
