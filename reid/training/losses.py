"""The losses of both stages (paper Eq. 1-4, 8-9; SPEC §5)."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def prototype_loss(text: torch.Tensor, memory: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Stage-1 cross-modal prototypical loss: CE over cosine(text_c, M1[j]) for all j (temperature 1)."""
    logits = F.normalize(text.float(), dim=1) @ memory.t()
    return F.cross_entropy(logits, labels)


def id_loss(logits: torch.Tensor, labels: torch.Tensor, smoothing: float) -> torch.Tensor:
    """Label-smoothed identity cross-entropy on the classifier logits."""
    return F.cross_entropy(logits.float(), labels, label_smoothing=smoothing)


def imp_loss(features_bn: torch.Tensor, memory: torch.Tensor, labels: torch.Tensor, temperature: float) -> torch.Tensor:
    """Image-to-memory prototypical loss: CE over cosine(feature, M2[j]) / tau."""
    logits = F.normalize(features_bn.float(), dim=1) @ memory.t() / temperature
    return F.cross_entropy(logits, labels)


def i2t_loss(
    features: torch.Tensor,
    text_memory: torch.Tensor,
    labels: torch.Tensor,
    smoothing: float,
    similarity: str = "dot",
    temperature: float = 1.0,
) -> torch.Tensor:
    """Image-to-text CE against the fixed text memory M_T (Eq. 4).

    `dot`: raw dot product of the projected image feature and M_T, as the authors' code;
    `cosine`: the paper's sim(·,·), divided by `temperature`.
    """
    features, text_memory = features.float(), text_memory.float()
    if similarity == "cosine":
        logits = F.normalize(features, dim=1) @ F.normalize(text_memory, dim=1).t() / temperature
    else:
        logits = features @ text_memory.t()
    return F.cross_entropy(logits, labels, label_smoothing=smoothing)


def mask_loss(mask_logits: torch.Tensor, targets: torch.Tensor, smoothing: float = 1e-3) -> torch.Tensor:
    """Mask loss (Eq. 8-9): BCE on the logits M_l of every layer + soft Dice on sigmoid(M_l) per part mask.

    mask_logits [L, B, P, Npatch], targets G narrowed to the same parts [B, P, Npatch] in {0, 1};
    both terms are averaged over layers, images and parts.  Dice (Eq. 9) sums over the patches
    (counts, not fractions) with `smoothing` 1e-3, the reference code's effective value (SPEC §5):
    an empty target predicted empty costs ~0, and any predicted mass on an empty target costs
    nearly 1 (on fractions the smoothing would be Npatch times larger and forgive it).
    """
    targets = targets.to(mask_logits.dtype).expand_as(mask_logits)
    bce = F.binary_cross_entropy_with_logits(mask_logits, targets)
    probs = mask_logits.sigmoid()
    overlap = (probs * targets).sum(-1)
    dice = 1.0 - (2.0 * overlap + smoothing) / (probs.sum(-1) + targets.sum(-1) + smoothing)
    return bce + dice.mean()
