"""LVLM-ReID's model (Wang et al., arXiv 2411.18111), from its abstract: our reading, PEERS.md §4.3.

A frozen VLM reads an instruction beside the image; its last hidden state at the prompt's end is
the pedestrian's semantic token (`reid.vlm.inputs.semantic_tokens`, computed outside this module:
it is a VLM pass per image). Here: that token, projected to the ViT's width, and the ViT's patch
tokens refine each other in `sgi_blocks` Semantic-Guided Interaction blocks (pre-LN, residual
cross-attention token ← patches, then patches ← token, then an MLP on the token); the refined
token, through the ViT's ln_post and projection, is the identity feature, with a BNNeck and an
ID classifier. The retrieval feature is after the BNNeck.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

from reid.model.backbone import create_clip, fit_positional_embedding
from reid.model.configs import MuvaConfig
from reid.model.image_encoder import ImageEncoder
from reid.model.muva import BNNeck, ReidFeatures


class SgiBlock(nn.Module):
    """One reciprocal interaction: the token attends to the patches, the patches to the token, an MLP on the token."""

    def __init__(self, width: int, heads: int) -> None:
        super().__init__()
        self.ln_token, self.ln_patches = nn.LayerNorm(width), nn.LayerNorm(width)
        self.token_from_patches = nn.MultiheadAttention(width, heads, batch_first=True)
        self.ln_token2, self.ln_patches2 = nn.LayerNorm(width), nn.LayerNorm(width)
        self.patches_from_token = nn.MultiheadAttention(width, heads, batch_first=True)
        self.ln_mlp = nn.LayerNorm(width)
        self.mlp = nn.Sequential(nn.Linear(width, 4 * width), nn.GELU(), nn.Linear(4 * width, width))

    def forward(self, token: torch.Tensor, patches: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """token [B, 1, W], patches [B, N, W] → both refined."""
        p = self.ln_patches(patches)
        token = token + self.token_from_patches(self.ln_token(token), p, p, need_weights=False)[0]
        t = self.ln_token2(token)
        patches = patches + self.patches_from_token(self.ln_patches2(patches), t, t, need_weights=False)[0]
        return token + self.mlp(self.ln_mlp(token)), patches


class LvlmEncoder(nn.Module):
    """The image side: ViT patch tokens + the semantic token → SGI → the identity feature (MUVA's encoder
    interface, with the semantic tokens [B, semantic_dim] as the second argument)."""

    def __init__(self, config: MuvaConfig, encoder: ImageEncoder) -> None:
        super().__init__()
        self.config = config
        self.encoder = encoder  # MUVA's, global only: its embedding (grid check, positions) is the one rule
        width = encoder.visual.conv1.out_channels
        self.semantic_proj = nn.Linear(config.semantic_dim, width)
        self.sgi = nn.ModuleList(SgiBlock(width, config.sgi_heads) for _ in range(config.sgi_blocks))
        self.bnneck = BNNeck(config.clip["embed_dim"])

    def backbone(self) -> nn.Module:
        """The ViT: what stage 1 keeps frozen."""
        return self.encoder

    def identity(self, images: torch.Tensor, semantic: torch.Tensor) -> torch.Tensor:
        """images [B, 3, H, W], semantic tokens [B, semantic_dim] → the refined token's feature [B, embed]."""
        visual = self.encoder.visual
        x = self.encoder.embed(images)
        for block in visual.transformer.resblocks:
            x = block(x)
        token = self.semantic_proj(semantic.to(x.dtype))[:, None]
        patches = x[:, 1:]
        for block in self.sgi:
            token, patches = block(token, patches)
        return visual.ln_post(token[:, 0]) @ visual.proj

    def features(self, images: torch.Tensor, semantic: torch.Tensor | None = None) -> ReidFeatures:
        if semantic is None:
            raise ValueError("LVLM-ReID needs each image's semantic token from the VLM (a VLM pass per image)")
        features = self.identity(images, semantic)
        features_bn = self.bnneck(features)
        return ReidFeatures(features, features_bn, None, features_bn)

    def forward(self, images: torch.Tensor, semantic: torch.Tensor | None = None) -> torch.Tensor:
        """Retrieval feature, L2-normalised [B, embed]."""
        return F.normalize(self.features(images, semantic).retrieval, dim=-1)


class LvlmOutput(NamedTuple):
    features: torch.Tensor  # [B, embed] before the BNNeck (the triplet's)
    logits: torch.Tensor  # [B, C]


class LvlmModel(nn.Module):
    """Image side + ID classifier: what training trains."""

    def __init__(self, config: MuvaConfig, image: LvlmEncoder) -> None:
        super().__init__()
        self.config = config
        self.image = image
        self.classifier = nn.Linear(config.clip["embed_dim"], config.num_classes, bias=False)
        nn.init.normal_(self.classifier.weight, std=config.classifier_std)

    def forward(self, images: torch.Tensor, semantic: torch.Tensor) -> LvlmOutput:
        out = self.image.features(images, semantic)
        return LvlmOutput(out.features, self.classifier(out.features_bn))


def build_lvlm_encoder(config: MuvaConfig, visual) -> LvlmEncoder:
    fit_positional_embedding(visual, config)
    return LvlmEncoder(config, ImageEncoder(visual, config))


def build_lvlm(config: MuvaConfig, pretrained: str | None = None) -> LvlmModel:
    """The model from `config`; the ViT's weights from `pretrained` (tag, file or None = random)."""
    return LvlmModel(config, build_lvlm_encoder(config, create_clip(config, pretrained).visual))
