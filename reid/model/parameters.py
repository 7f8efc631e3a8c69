"""Parameter counts under the paper's convention (Table 13; SPEC §4).

inference = image encoder (with the resized positional embedding) + local tokens + RMP +
BNNeck affine; training = inference + classifier + learnable prompts + text transformer +
text positional embedding + ln_final + text projection.  The token-embedding table (only
read when the prompts are built) and CLIP's logit scale are not part of `MuvaModel`, so
the convention is simply "all parameters of the image side" and "all parameters".
Frozen parameters (BNNeck bias, a frozen patch projection) count: the sizes are of the
model, not of the optimiser state.
"""

from __future__ import annotations

from reid.model.factory import FullModel


def count_parameters(model: FullModel) -> dict[str, int]:
    """{"training": n, "inference": n}: ViT-B-16, 751 ids → 161.7 M / 115.9 M (global only 126.2 M / 86.1 M);
    CLIP-FGDI 127.0 M / 86.2 M (129.5 M with 1,501 ids, Table 13's), CLIP-ReID 126.8 M / 86.1 M."""
    return {
        "training": sum(p.numel() for p in model.parameters()),
        "inference": sum(p.numel() for p in model.image.parameters()),
    }
