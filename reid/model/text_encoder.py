"""CLIP's text encoder applied to prompt embeddings instead of token ids (paper §3.1.1, E_T)."""

from __future__ import annotations

import open_clip
import torch
from torch import nn


class TextEncoder(nn.Module):
    """open_clip's causal text transformer + ln_final + text_projection, pooled at the EOT token.

    Holds CLIP's text modules (not its token-embedding table or logit scale: prompts arrive
    already embedded, see `prompts.PromptLearner`).
    """

    def __init__(self, clip: open_clip.CLIP) -> None:
        super().__init__()
        self.transformer = clip.transformer
        self.positional_embedding = clip.positional_embedding
        self.ln_final = clip.ln_final
        self.text_projection = clip.text_projection
        self.register_buffer("causal_mask", clip.attn_mask, persistent=False)

    def forward(self, embeddings: torch.Tensor, eot: torch.Tensor) -> torch.Tensor:
        """embeddings [n, S, W] (S <= context length), eot [n] → text features [n, embed_dim]."""
        length = embeddings.shape[1]
        x = embeddings + self.positional_embedding[:length].to(embeddings.dtype)
        x = self.transformer(x, attn_mask=self.causal_mask[:length, :length])
        x = x[torch.arange(x.shape[0], device=x.device), eot]  # LN is per token: pool first, then normalise
        return self.ln_final(x) @ self.text_projection
