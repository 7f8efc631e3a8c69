"""Per-sample attention masks for the token sequence [CLS, local_1..local_P, patch_1..patch_N].

Additive masks (0 = attend, -inf = block), built batched on the masks' device:

- CLS attends to every token and every token attends to CLS;
- local token i attends to itself (not to the other local tokens) and to the patches of part i;
- a patch attends to all patches and to the local tokens whose part covers it (the
  local↔patch blocks are transposes of each other).

Every row keeps at least CLS open, so no row is all -inf.  An empty part (no patch in it,
from G or from a prediction below threshold) leaves its local token attending to CLS and
itself only: it still yields a feature, a function of the global context.
"""

from __future__ import annotations

import torch

from reid.masks.grid import PatchGrid
from reid.masks.voting import equal_thirds_masks


def build_attention_mask(part_masks: torch.Tensor, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """Additive mask [B, 1+P+N, 1+P+N] from boolean part masks [B, P, N] (True = patch in part)."""
    batch, n_parts, n_patches = part_masks.shape
    length = 1 + n_parts + n_patches
    device = part_masks.device
    allowed = torch.ones(batch, length, length, dtype=torch.bool, device=device)
    locals_, patches = slice(1, 1 + n_parts), slice(1 + n_parts, length)
    allowed[:, locals_, locals_] = torch.eye(n_parts, dtype=torch.bool, device=device)
    allowed[:, locals_, patches] = part_masks
    allowed[:, patches, locals_] = part_masks.transpose(1, 2)
    mask = torch.zeros(batch, length, length, dtype=dtype, device=device)
    return mask.masked_fill_(~allowed, float("-inf"))


def gate_predicted_masks(mask_logits: torch.Tensor, threshold: float) -> torch.Tensor:
    """Mask gating (paper Eq. 6): part membership sigmoid(M_l) > t, [B, P, N] bool, no gradient."""
    with torch.no_grad():
        return torch.sigmoid(mask_logits.float()) > threshold


def stripe_part_masks(grid: tuple[int, int] | PatchGrid) -> torch.Tensor:
    """Fixed horizontal stripes [3, rows*cols] bool, rows head/upper/legs (Table 8's stripe-like baseline).

    The equal-thirds masks of `reid.masks.voting.equal_thirds_masks`, the same the `stripes`
    mask mode gives G: patch rows whose centre lies in a third, 5/6/5 rows for the 16-row grid
    of a 256x128 input. `grid`: (rows, cols) of non-overlapping patches, or a `PatchGrid`.
    """
    if not isinstance(grid, PatchGrid):
        rows, cols = grid
        grid = PatchGrid(height=rows, width=cols, patch=1, stride=1)  # normalised cells only depend on rows, cols
    return torch.from_numpy(equal_thirds_masks(grid).copy())  # row-major flattening, as G
