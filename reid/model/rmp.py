"""Residual Mask Prediction (paper §3.2.1, Eq. 5, Fig. 3b).

One module per transformer layer l, run on that layer's input tokens beside its
self-attention:

    r' = CrossAttn(LN(r), LN(F)) + r          queries: the P local tokens r [B, P, D]
                                              keys/values: the N patch tokens F [B, N, D]
    M_l = MLP(LN(r')) + M_{l-1}               MLP = Linear(D, N) → QuickGELU → Linear(N, N)

Three LayerNorms (local tokens, patch tokens, before the MLP): with q/k/v without bias and
an output projection with bias this gives 2,479,616 parameters at D=768, N=128, as the paper
reports; the authors' code has the same structure.  The head count does not change the size.
"""

from __future__ import annotations

from collections import OrderedDict

import torch
import torch.nn.functional as F
from open_clip.transformer import LayerNorm, QuickGELU
from torch import nn


class PartCrossAttention(nn.Module):
    """Multi-head cross-attention from local tokens to patch tokens (q/k/v bias-free, output with bias)."""

    def __init__(self, width: int, heads: int) -> None:
        super().__init__()
        self.heads = heads
        self.q = nn.Linear(width, width, bias=False)
        self.k = nn.Linear(width, width, bias=False)
        self.v = nn.Linear(width, width, bias=False)
        self.out = nn.Linear(width, width)

    def forward(self, queries: torch.Tensor, context: torch.Tensor) -> torch.Tensor:
        """queries [B, P, D], context [B, N, D] → [B, P, D]."""
        batch, n_queries, width = queries.shape

        def split(x: torch.Tensor) -> torch.Tensor:  # [B, T, D] → [B, heads, T, D/heads]
            return x.unflatten(-1, (self.heads, width // self.heads)).transpose(1, 2)

        q, k, v = split(self.q(queries)), split(self.k(context)), split(self.v(context))
        attended = F.scaled_dot_product_attention(q, k, v)  # [B, heads, P, D/heads]
        return self.out(attended.transpose(1, 2).reshape(batch, n_queries, width))


class ResidualMaskPredictor(nn.Module):
    """Predicts part-mask logits M_l [B, P, N] from the local and patch tokens of one layer."""

    def __init__(
        self, width: int, num_patches: int, heads: int, layer_norm: bool = True, inner_residual: bool = True
    ) -> None:
        super().__init__()
        norm = (lambda: LayerNorm(width)) if layer_norm else nn.Identity
        self.norm_parts = norm()
        self.norm_patches = norm()
        self.norm_mlp = norm()
        self.cross_attn = PartCrossAttention(width, heads)
        self.inner_residual = inner_residual
        self.mlp = nn.Sequential(
            OrderedDict(
                fc=nn.Linear(width, num_patches),
                act=QuickGELU(),
                proj=nn.Linear(num_patches, num_patches),
            )
        )
        for module in self.modules():  # as the authors' code: trunc-normal(0.02) weights, zero MLP biases,
            if isinstance(module, nn.Linear):  # the cross-attention's output bias keeps PyTorch's default
                nn.init.trunc_normal_(module.weight, std=0.02)
                if module.bias is not None and module is not self.cross_attn.out:
                    nn.init.zeros_(module.bias)

    def forward(self, local_tokens: torch.Tensor, patches: torch.Tensor, previous: torch.Tensor) -> torch.Tensor:
        """local_tokens [B, P, D], patches [B, N, D], previous M_{l-1} [B, P, N] → M_l [B, P, N] (float32)."""
        r = self.cross_attn(self.norm_parts(local_tokens), self.norm_patches(patches))
        if self.inner_residual:
            r = r + local_tokens
        return self.mlp(self.norm_mlp(r)).float() + previous
