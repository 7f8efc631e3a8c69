"""The CLIP-ReID lineage's model (CLIP-ReID, and CLIP-FGDI on top of it; PEERS.md §1-2), rebuilt from a `MuvaConfig`.

Image side: CLIP's ViT on the (optionally InstanceNorm-ed) image; three features of the CLS
token, as their modified ViT returns them: `last` (the input of the last block), `cls` (after
ln_post, the width of the ViT) and `proj` (its projection); a BNNeck on each of `cls` and `proj`.
The retrieval feature is cat(cls, proj) before (their ViT config) or after the BNNecks.

Text side: per-identity tokens in "A photo of a X X X X person." and, for CLIP-FGDI, one token
per domain in "A photo of a X X X X person from X dataset." (the identity tokens detached there,
as in its code), through CLIP's text encoder; CLIP-FGDI's two domain classifiers, one behind a
gradient reversal.  The embedding code is MUVA's (`reid.model.prompts`, `reid.model.text_encoder`).
"""

from __future__ import annotations

from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

from reid.model.backbone import create_clip, fit_positional_embedding
from reid.model.configs import MuvaConfig
from reid.model.domain import DomainClassifier
from reid.model.image_encoder import ImageEncoder
from reid.model.muva import BNNeck, ReidFeatures
from reid.model.prompts import PLACEHOLDER, PROMPT_PREFIX, embed_templates
from reid.model.text_encoder import TextEncoder

N_TOKENS = 4  # identity tokens per prompt (both codes)
TOKEN_STD = 0.02  # their init of the identity and domain tokens
DOMAIN_HIDDEN = 128  # CLIP-FGDI's domain classifier: 512 -> 128 (BN, ReLU) -> D


class ClsTokens(NamedTuple):
    last: torch.Tensor  # [B, width] CLS at the input of the last block (a triplet feature)
    cls: torch.Tensor  # [B, width] CLS after ln_post
    proj: torch.Tensor  # [B, embed] its projection


class PeerOutput(NamedTuple):
    tokens: ClsTokens
    logits: tuple[torch.Tensor, torch.Tensor]  # [B, C] of the classifiers on bnneck(cls) and bnneck(proj)


class PeerEncoder(nn.Module):
    """The image side: all that inference needs, with MUVA's encoder interface (`features`, `forward`)."""

    def __init__(self, config: MuvaConfig, encoder: ImageEncoder) -> None:
        super().__init__()
        self.config = config
        self.encoder = encoder  # MUVA's, global only: its embedding (grid check, positions) is the one rule
        self.input_norm = nn.InstanceNorm2d(3) if config.input_norm == "instance" else nn.Identity()
        visual = encoder.visual
        self.bnneck = BNNeck(visual.conv1.out_channels)
        self.bnneck_proj = BNNeck(config.clip["embed_dim"])

    def tokens(self, images: torch.Tensor) -> ClsTokens:
        """images [B, 3, H, W] → the CLS token's three features."""
        visual = self.encoder.visual
        x = self.encoder.embed(self.input_norm(images))
        *blocks, final = visual.transformer.resblocks
        for block in blocks:
            x = block(x)
        last = x[:, 0]
        cls = visual.ln_post(final(x)[:, 0])
        return ClsTokens(last, cls, cls @ visual.proj)

    def necks(self, tokens: ClsTokens) -> tuple[torch.Tensor, torch.Tensor]:
        return self.bnneck(tokens.cls), self.bnneck_proj(tokens.proj)

    def features(self, images: torch.Tensor, part_masks: torch.Tensor | None = None) -> ReidFeatures:
        """Pre/post-BNNeck cat(cls, proj) and the retrieval feature (`part_masks`: ignored, there are no parts)."""
        tokens = self.tokens(images)
        features = torch.cat([tokens.cls, tokens.proj], dim=1)
        features_bn = torch.cat(self.necks(tokens), dim=1)
        retrieval = features if self.config.test_feature == "before_bn" else features_bn
        return ReidFeatures(features, features_bn, None, retrieval)

    def forward(self, images: torch.Tensor, part_masks: torch.Tensor | None = None) -> torch.Tensor:
        """Retrieval feature, L2-normalised [B, width + embed]."""
        return F.normalize(self.features(images).retrieval, dim=-1)


class PeerPrompts(nn.Module):
    """Per-identity tokens [C, 4, W] and, with domains, per-domain tokens [D, 1, W] in the embedded templates."""

    def __init__(self, config: MuvaConfig, token_embedding: nn.Embedding) -> None:
        super().__init__()
        words = " ".join([PLACEHOLDER] * N_TOKENS)
        context_length = config.clip["text_cfg"]["context_length"]
        plain = embed_templates([f"{PROMPT_PREFIX} {words} person."], token_embedding, context_length, N_TOKENS)
        self._keep("plain", plain)
        width = plain.embeddings.shape[-1]
        self.identity = nn.Parameter(torch.empty(config.num_classes, N_TOKENS, width))
        nn.init.normal_(self.identity, std=TOKEN_STD)
        self.domain: nn.Parameter | None = None
        if config.method == "clip_fgdi":
            domain = embed_templates([f"{PROMPT_PREFIX} {words} person from {PLACEHOLDER} dataset."], token_embedding,
                                     context_length, N_TOKENS + 1)
            self._keep("domain", domain)
            self.domain = nn.Parameter(torch.empty(config.num_domains, 1, width))
            nn.init.normal_(self.domain, std=TOKEN_STD)

    def _keep(self, name: str, templates) -> None:
        self.register_buffer(f"{name}_embeddings", templates.embeddings)
        self.register_buffer(f"{name}_placeholders", templates.placeholders)
        self.register_buffer(f"{name}_eot", templates.eot)

    def forward(self, labels: torch.Tensor, domains: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """labels [n] (and domains [n] for the domain template) → (embeddings [n, S, W], eot [n])."""
        identity = self.identity[labels]
        if domains is None:
            name, learned = "plain", identity
        else:
            name = "domain"
            learned = torch.cat([identity.detach(), self.domain[domains]], dim=1)  # FGDI detaches the identity tokens
        base = getattr(self, f"{name}_embeddings").expand(len(labels), -1, -1)
        learned = learned.to(base.dtype)
        index = getattr(self, f"{name}_placeholders")[..., None].expand_as(learned)
        return base.scatter(1, index, learned), getattr(self, f"{name}_eot").expand(len(labels))


class PeerModel(nn.Module):
    """Image side + two ID classifiers + prompts + text encoder (+ CLIP-FGDI's domain classifiers)."""

    def __init__(self, config: MuvaConfig, image: PeerEncoder, prompts: PeerPrompts, text: TextEncoder) -> None:
        super().__init__()
        self.config = config
        self.image = image
        width, embed = image.bnneck.num_features, image.bnneck_proj.num_features
        self.classifier = nn.Linear(width, config.num_classes, bias=False)
        self.classifier_proj = nn.Linear(embed, config.num_classes, bias=False)
        for layer in (self.classifier, self.classifier_proj):
            nn.init.normal_(layer.weight, std=config.classifier_std)
        self.prompts = prompts
        self.text = text
        fgdi = config.method == "clip_fgdi"
        self.domain_grl = DomainClassifier(embed, DOMAIN_HIDDEN, config.num_domains) if fgdi else None
        self.domain_head = DomainClassifier(embed, DOMAIN_HIDDEN, config.num_domains) if fgdi else None

    def forward(self, images: torch.Tensor) -> PeerOutput:
        tokens = self.image.tokens(images)
        cls_bn, proj_bn = self.image.necks(tokens)
        return PeerOutput(tokens, (self.classifier(cls_bn), self.classifier_proj(proj_bn)))

    def encode_text(self, labels: torch.Tensor, domains: torch.Tensor | None = None) -> torch.Tensor:
        """labels [n] (+ domains [n]: the domain-relevant prompt) → text features [n, embed] (not normalised)."""
        return self.text(*self.prompts(labels, domains))


def build_peer_encoder(config: MuvaConfig, visual) -> PeerEncoder:
    fit_positional_embedding(visual, config)
    return PeerEncoder(config, ImageEncoder(visual, config))


def build_peer(config: MuvaConfig, pretrained: str | None = None) -> PeerModel:
    """The full model from `config`; CLIP weights from `pretrained` (tag, file or None = random)."""
    clip = create_clip(config, pretrained)
    image = build_peer_encoder(config, clip.visual)
    return PeerModel(config, image, PeerPrompts(config, clip.token_embedding), TextEncoder(clip))
