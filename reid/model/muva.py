"""The MUVA model: multi-grained image encoder + BNNeck + ID classifier, and the text side
(learnable prompts + CLIP text encoder) used by the two training stages (paper §3.1-3.2).

Feature layout: [B, (1+P) * embed_dim], the projected CLS token first, then one block per
part in `config.parts` order; `features.view(B, 1+P, embed_dim)` splits the granularities,
and `encode_text` returns the same layout for identities.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

from reid.model.backbone import (
    create_clip,
    create_vision_tower,
    fit_positional_embedding,
)
from reid.model.configs import MuvaConfig
from reid.model.image_encoder import ImageEncoder
from reid.model.prompts import PromptLearner
from reid.model.text_encoder import TextEncoder


class BNNeck(nn.BatchNorm1d):
    """BatchNorm1d with its bias frozen at 0 (BNNeck, as in the authors' CLIP-ReID lineage)."""

    def __init__(self, dim: int) -> None:
        super().__init__(dim)
        self.bias.requires_grad_(False)


class ReidFeatures(NamedTuple):
    features: torch.Tensor  # [B, F] multi-grained feature before the BNNeck
    features_bn: torch.Tensor  # [B, F] after the BNNeck
    mask_logits: torch.Tensor | None  # [L, B, P, Npatch], None when masks were given or fixed
    retrieval: torch.Tensor  # [B, F] what is L2-normalised and ranked (MUVA: the BNNeck feature)


class MuvaOutput(NamedTuple):
    features: torch.Tensor  # [B, F] pre-BNNeck (stage-1 memory, i2tce)
    features_bn: torch.Tensor  # [B, F] post-BNNeck (stage-2 memory, imp)
    logits: torch.Tensor  # [B, C] ID classifier on the BNNeck feature
    mask_logits: torch.Tensor | None  # [L, B, P, Npatch] RMP logits M_l (mask loss targets: G)


class ReidEncoder(nn.Module):
    """The image side (image encoder + BNNeck): all that inference needs."""

    def __init__(self, config: MuvaConfig, encoder: ImageEncoder) -> None:
        super().__init__()
        self.config = config
        self.encoder = encoder
        self.bnneck = BNNeck(config.feature_dim)

    def features(self, images: torch.Tensor, part_masks: torch.Tensor | None = None) -> ReidFeatures:
        """images [B, 3, H, W] (+ optional G [B, 3, Npatch]) → pre/post-BNNeck features and mask logits."""
        tokens, mask_logits = self.encoder(images, part_masks)
        features = tokens.flatten(1)
        features_bn = self.bnneck(features)
        return ReidFeatures(features, features_bn, mask_logits, features_bn)

    def forward(self, images: torch.Tensor, part_masks: torch.Tensor | None = None) -> torch.Tensor:
        """Retrieval feature: the L2-normalised BNNeck feature [B, F]."""
        return F.normalize(self.features(images, part_masks).retrieval, dim=-1)


class MuvaModel(nn.Module):
    """Image side + ID classifier + prompt learner + text encoder."""

    def __init__(self, config: MuvaConfig, image: ReidEncoder, prompts: PromptLearner, text: TextEncoder) -> None:
        super().__init__()
        self.config = config
        self.image = image
        self.classifier = nn.Linear(config.feature_dim, config.num_classes, bias=False)
        nn.init.normal_(self.classifier.weight, std=config.classifier_std)
        self.prompts = prompts
        self.text = text

    def forward(self, images: torch.Tensor, part_masks: torch.Tensor | None = None) -> MuvaOutput:
        """images [B, 3, H, W]; part_masks G [B, 3, Npatch] gate attention instead of the RMP if given."""
        features, features_bn, mask_logits, _ = self.image.features(images, part_masks)
        return MuvaOutput(features, features_bn, self.classifier(features_bn), mask_logits)

    def encode_text(self, labels: torch.Tensor) -> torch.Tensor:
        """labels [n] → multi-grained text features [n, (1+P) * embed_dim] (not normalised)."""
        embeddings, eot = self.prompts(labels)  # [n, T, S, W], [n, T]
        n, templates = eot.shape
        encoded = self.text(embeddings.flatten(0, 1), eot.flatten())  # [n*T, E]
        return encoded.view(n, templates * encoded.shape[-1])


def build_reid_encoder(config: MuvaConfig) -> ReidEncoder:
    """The image side alone, randomly initialised (weights come from a checkpoint)."""
    visual = create_vision_tower(config)
    fit_positional_embedding(visual, config)
    return ReidEncoder(config, ImageEncoder(visual, config))


def build_muva(config: MuvaConfig, pretrained: str | None = None) -> MuvaModel:
    """The full model from `config`; CLIP weights from `pretrained` (tag, file or None = random)."""
    clip = create_clip(config, pretrained)
    fit_positional_embedding(clip.visual, config)
    image = ReidEncoder(config, ImageEncoder(clip.visual, config))
    return MuvaModel(config, image, PromptLearner(config, clip.token_embedding), TextEncoder(clip))


def freeze_patch_projection(model: MuvaModel | ReidEncoder) -> None:
    """Freeze the ViT patch projection (conv1), as the paper does in both stages for stability."""
    image = model.image if isinstance(model, MuvaModel) else model
    image.encoder.visual.conv1.requires_grad_(False)
