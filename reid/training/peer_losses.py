"""The CLIP-ReID lineage's losses (PEERS.md §1, §2.2, §2.5), as their code computes them."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def supcon(anchors: torch.Tensor, contrast: torch.Tensor, anchor_labels: torch.Tensor,
           contrast_labels: torch.Tensor) -> torch.Tensor:
    """SupCon(a→b) at temperature 1: −mean_i of the mean log softmax_j(a_i · b_j) over the j with i's label."""
    logits = anchors.float() @ contrast.float().t()
    log_prob = logits - torch.logsumexp(logits, dim=1, keepdim=True)
    positive = (anchor_labels[:, None] == contrast_labels[None, :]).float()
    return -((positive * log_prob).sum(1) / positive.sum(1)).mean()


def batch_hard_triplet(features: torch.Tensor, labels: torch.Tensor, margin: float | None) -> torch.Tensor:
    """Batch-hard triplet on Euclidean distances: the farthest positive and the nearest negative of each anchor;
    `margin` None = the soft margin log(1 + exp(d_ap − d_an)) (CLIP-FGDI's), else max(0, d_ap − d_an + margin)."""
    x = features.float()
    squared = (x * x).sum(1)
    dist = (squared[:, None] + squared[None, :] - 2.0 * x @ x.t()).clamp(min=1e-12).sqrt()
    same = labels[:, None] == labels[None, :]
    hardest_positive = dist.masked_fill(~same, float("-inf")).max(1).values
    hardest_negative = dist.masked_fill(same, float("inf")).min(1).values
    gap = hardest_positive - hardest_negative
    return F.softplus(gap).mean() if margin is None else F.relu(gap + margin).mean()


def apn_loss(image: torch.Tensor, invariant: torch.Tensor, relevant: torch.Tensor, direction: str) -> torch.Tensor:
    """CLIP-FGDI's push/pull term. `code`: soft_margin(cos(f, t_rel) − cos(f, t_inv), 1), the released loss,
    which *lowers* cos(f, t_inv); `paper`: the direction its paper states, towards the invariant prompt."""
    pos = F.cosine_similarity(image.float(), invariant.float(), dim=1)
    neg = F.cosine_similarity(image.float(), relevant.float(), dim=1)
    gap = pos - neg if direction == "code" else neg - pos
    return F.softplus(gap).mean()


def domain_loss(log_probs: torch.Tensor, domains: torch.Tensor) -> torch.Tensor:
    """CE of a domain classifier's log-probabilities (0 with one domain: the single-source case)."""
    return F.nll_loss(log_probs.float(), domains)
