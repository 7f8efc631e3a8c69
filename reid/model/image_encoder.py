"""The multi-grained image encoder: open_clip's ViT with local part tokens and AM-MSA (paper §3.2).

Token sequence: [CLS, local_1..local_P, patch_1..patch_N]; the P local tokens (P = 3 for
head, upper body, legs) are learned vectors that share CLS's positional embedding.  Each of
open_clip's own residual blocks runs with a per-sample attention mask
(`attention_mask.build_attention_mask`) whose part membership comes from, in this order:

1. the pseudo-label masks G given to `forward` (stage-1, memory building);
2. fixed stripes (the `part_attention="stripes"` ablation; G is ignored there);
3. the layer's RMP prediction (AM-MSA, the default at stage-2 and inference).

Which prediction gates which layer: the RMP of layer l reads layer l's *input* tokens (the
output of layer l-1) and M_{l-1}, predicts M_l, and M̃_l = sigmoid(M_l) > t masks layer l's
own self-attention.  This is the paper's Eq. 5-7 read literally (RMP "in a bypass branch
paralleled to the multi-head self-attention"; A_l from M̃_l is added to layer l's MSA scores),
it is causal, and it is what the authors' code does.  M_0 = 0, so layer 1 is already gated
by a prediction made from the embedded tokens.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import NamedTuple

import torch
from open_clip.transformer import VisionTransformer
from torch import nn

from reid.model.attention_mask import (
    build_attention_mask,
    gate_predicted_masks,
    stripe_part_masks,
)
from reid.model.configs import PART_NAMES, MuvaConfig
from reid.model.rmp import ResidualMaskPredictor


class ImageEncoding(NamedTuple):
    tokens: torch.Tensor  # [B, 1+P, embed_dim]: projected CLS and local tokens
    mask_logits: torch.Tensor | None  # [L, B, P, Npatch] RMP logits M_l, None unless predicted


class ImageEncoder(nn.Module):
    """CLIP ViT + local tokens + (optionally) RMP, mapping images to projected global/part tokens."""

    def __init__(self, visual: VisionTransformer, config: MuvaConfig) -> None:
        super().__init__()
        self.visual = visual
        self.grid = tuple(config.patch_grid)
        if tuple(visual.grid_size) != self.grid:
            raise ValueError(f"vision tower grid {visual.grid_size} differs from the input grid {self.grid}")
        width = visual.conv1.out_channels
        n_parts, n_patches = len(config.parts), config.num_patches
        self.num_parts = n_parts
        self.threshold = config.rmp.threshold
        self.register_buffer(
            "part_index", torch.tensor([PART_NAMES.index(p) for p in config.parts], dtype=torch.long), persistent=False
        )
        if n_parts:
            self.local_tokens = nn.Parameter(torch.empty(n_parts, width))
            nn.init.trunc_normal_(self.local_tokens, std=config.local_token_std)
        else:
            self.register_parameter("local_tokens", None)
        predicts = n_parts > 0 and config.part_attention == "am_msa"
        self.rmp = nn.ModuleList(
            ResidualMaskPredictor(
                width, n_patches, config.rmp.heads, config.rmp.layer_norm, config.rmp.inner_residual
            )
            for _ in (visual.transformer.resblocks if predicts else ())
        )
        stripes = self.part_rows(stripe_part_masks(self.grid)) if config.part_attention == "stripes" else None
        self.register_buffer("stripes", stripes, persistent=False)

    def part_rows(self, masks: torch.Tensor) -> torch.Tensor:
        """The configured parts' rows, in `config.parts` order, of masks in G's layout:
        [..., 3, Npatch] (rows head/upper/legs) → [..., P, Npatch]."""
        return masks.index_select(-2, self.part_index)

    @property
    def num_layers(self) -> int:
        return len(self.visual.transformer.resblocks)

    def embed(self, images: torch.Tensor) -> torch.Tensor:
        """images [B, 3, H, W] → tokens [B, 1+P+N, D] after ln_pre."""
        visual = self.visual
        x = visual.conv1(images)  # [B, D, rows, cols]
        if tuple(x.shape[-2:]) != self.grid:
            raise ValueError(
                f"images of size {tuple(images.shape[-2:])} give a {tuple(x.shape[-2:])} patch grid; "
                f"this model expects {self.grid} (resize the images to the configured image_size)"
            )
        x = x.flatten(2).transpose(1, 2)  # [B, N, D]
        batch, _, width = x.shape
        pos = visual.positional_embedding.to(x.dtype)
        prefix = visual.class_embedding.to(x.dtype)[None]  # [1, D]
        if self.local_tokens is not None:
            prefix = torch.cat([prefix, self.local_tokens.to(x.dtype)])  # [1+P, D]
        prefix = (prefix + pos[:1]).expand(batch, -1, width)  # local tokens share CLS's position
        return visual.ln_pre(torch.cat([prefix, x + pos[1:]], dim=1))

    def _fixed_part_masks(self, part_masks: torch.Tensor | None, batch: int) -> torch.Tensor | None:
        """Part membership [B, P, N] bool used by every layer, or None when the RMP predicts it."""
        if self.stripes is not None:
            return self.stripes.expand(batch, -1, -1)
        if part_masks is None:
            return None
        expected = (batch, len(PART_NAMES), self.grid[0] * self.grid[1])
        if tuple(part_masks.shape) != expected:
            raise ValueError(
                f"part_masks must have shape [B, 3, Npatch] = {list(expected)}, got {list(part_masks.shape)}"
            )
        return self.part_rows(part_masks) != 0

    def _per_head(self, mask: torch.Tensor, block: nn.Module) -> torch.Tensor:
        """[B, L, L] → [B*heads, L, L] (batch-major), the per-sample layout nn.MultiheadAttention takes."""
        return mask.repeat_interleave(block.attn.num_heads, dim=0)

    def forward(self, images: torch.Tensor, part_masks: torch.Tensor | None = None) -> ImageEncoding:
        """images [B, 3, H, W]; part_masks: pseudo-label masks G [B, 3, Npatch] ({0,1}, rows
        head/upper/legs) to gate attention with instead of the RMP predictions (the rows of the
        configured parts are used; stripe and global-only models need no masks and ignore them)."""
        x = self.embed(images)
        batch, n_parts = x.shape[0], self.num_parts
        blocks = self.visual.transformer.resblocks
        fixed = self._fixed_part_masks(part_masks, batch) if n_parts else None
        predicting = n_parts > 0 and fixed is None
        attn_mask = None
        if fixed is not None:
            attn_mask = self._per_head(build_attention_mask(fixed, x.dtype), blocks[0])
        logits = []
        if predicting:
            mask_logits = x.new_zeros(batch, n_parts, self.grid[0] * self.grid[1], dtype=torch.float32)  # M_0
        for layer, block in enumerate(blocks):
            if predicting:
                mask_logits = self.rmp[layer](x[:, 1 : 1 + n_parts], x[:, 1 + n_parts :], mask_logits)
                logits.append(mask_logits)
                gated = gate_predicted_masks(mask_logits, self.threshold)
                attn_mask = self._per_head(build_attention_mask(gated, x.dtype), block)
            x = block(x, attn_mask=attn_mask)
        tokens = self.visual.ln_post(x[:, : 1 + n_parts]) @ self.visual.proj
        return ImageEncoding(tokens, torch.stack(logits) if logits else None)


@contextlib.contextmanager
def record_attention(encoder: ImageEncoder) -> Iterator[list[torch.Tensor]]:
    """Collect every layer's attention weights [B, heads, L, L] while the context is open.

    For tests and visualisation: hooks ask open_clip's nn.MultiheadAttention for per-head
    weights; outside the context the normal (weight-free, fused) path runs untouched.
    """
    weights: list[torch.Tensor] = []

    def want_weights(module: nn.Module, args: tuple, kwargs: dict) -> tuple[tuple, dict]:
        return args, {**kwargs, "need_weights": True, "average_attn_weights": False}

    def keep(module: nn.Module, args: tuple, output: tuple[torch.Tensor, torch.Tensor]) -> None:
        weights.append(output[1].detach())

    handles = []
    for block in encoder.visual.transformer.resblocks:
        handles.append(block.attn.register_forward_pre_hook(want_weights, with_kwargs=True))
        handles.append(block.attn.register_forward_hook(keep))
    try:
        yield weights
    finally:
        for handle in handles:
            handle.remove()
