"""Batched inference over image files: retrieval features and predicted part masks.

One forward pass gives both: the L2-normalised BNNeck feature (SPEC §4, what retrieval
ranks by) and, for AM-MSA models, the last layer's RMP prediction gated like the model
gates its own attention (sigmoid(M_L) > t, paper Eq. 6), i.e. the parts the model used.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader

from reid.data.loading import ImageSet, Preprocess
from reid.model.attention_mask import gate_predicted_masks
from reid.model.configs import MuvaConfig
from reid.model.muva import ReidEncoder
from reid.utils.device import autocast, resolve_device
from reid.utils.progress import progress


@dataclass(frozen=True)
class Extraction:
    features: torch.Tensor  # [N, F] float32, L2-normalised retrieval features, on CPU
    part_masks: torch.Tensor | None  # [N, P, Npatch] bool (parts in config.parts order), or None


def predicts_masks(config: MuvaConfig) -> bool:
    """Whether the model predicts part masks (AM-MSA); global-only and stripe models do not."""
    return len(config.parts) > 0 and config.part_attention == "am_msa"


def extract(
    encoder: ReidEncoder,
    paths: Sequence[str],
    preprocess: Preprocess | None = None,
    batch_size: int = 128,
    device: str | torch.device = "auto",
    workers: int = 0,
    desc: str = "features",
    with_masks: bool = False,
    semantic: torch.Tensor | None = None,
) -> Extraction:
    """Features (and, with `with_masks`, predicted part masks) of the images at `paths`, in order;
    `semantic` [N, hidden]: each image's semantic token, for LVLM-ReID models.

    Moves `encoder` to `device` in eval mode. Mixed precision on CUDA, float32 elsewhere;
    normalisation always runs in float32 so that rows are unit norm to float32 precision
    whatever the autocast dtype. `preprocess` defaults to the model's own.
    """
    config = encoder.config
    if with_masks and not predicts_masks(config):
        raise ValueError(
            f"this model predicts no part masks (parts={list(config.parts)}, part_attention="
            f"'{config.part_attention}'); only AM-MSA models with parts have them"
        )
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    device = resolve_device(device) if isinstance(device, str) else device
    encoder.to(device).eval()
    loader = DataLoader(
        ImageSet(paths, preprocess or Preprocess.for_model(config)),
        batch_size=batch_size,
        num_workers=workers,
        pin_memory=device.type == "cuda",
    )
    features = torch.empty(len(paths), config.feature_dim)
    masks = torch.empty(len(paths), len(config.parts), config.num_patches, dtype=torch.bool) if with_masks else None
    with torch.inference_mode():
        for images, index in progress(loader, desc=desc, total=len(loader), unit="batch"):
            tokens = None if semantic is None else semantic[index]
            batch = encode_batch(encoder, images, device, with_masks, tokens)
            features[index] = batch.features
            if masks is not None:
                masks[index] = batch.part_masks
    return Extraction(features, masks)


def encode_batch(encoder: ReidEncoder, images: torch.Tensor, device: torch.device, with_masks: bool,
                 semantic: torch.Tensor | None = None) -> Extraction:
    """One forward pass of preprocessed images [B, 3, H, W] (+ LVLM-ReID's semantic tokens; call under
    `torch.inference_mode`)."""
    images = images.to(device, non_blocking=True)
    with autocast(device):
        out = encoder.features(images) if semantic is None else encoder.features(images, semantic.to(device))
    features = F.normalize(out.retrieval.float(), dim=-1).cpu()
    masks = gate_predicted_masks(out.mask_logits[-1], encoder.config.rmp.threshold).cpu() if with_masks else None
    return Extraction(features, masks)


def extract_features(
    encoder: ReidEncoder,
    paths: Sequence[str],
    preprocess: Preprocess | None = None,
    batch_size: int = 128,
    device: str | torch.device = "auto",
    workers: int = 0,
    desc: str = "features",
) -> torch.Tensor:
    """L2-normalised BNNeck features [N, F] (float32, CPU) of the images at `paths`."""
    return extract(encoder, paths, preprocess, batch_size, device, workers, desc).features


def predict_part_masks(
    encoder: ReidEncoder,
    paths: Sequence[str],
    preprocess: Preprocess | None = None,
    batch_size: int = 128,
    device: str | torch.device = "auto",
    workers: int = 0,
    desc: str = "part masks",
) -> torch.Tensor:
    """Predicted part masks [N, P, Npatch] bool: last-layer RMP, sigmoid(M_L) > rmp.threshold.

    Raises ValueError for models without RMP (global-only `parts=()`, or stripes).
    """
    return extract(encoder, paths, preprocess, batch_size, device, workers, desc, with_masks=True).part_masks
