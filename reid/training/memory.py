"""Prototypical memories: per-identity means, and the hardest-sample momentum update (Eq. 3).

Both are vectorised on the features' device: no Python loop over samples or identities and
no host synchronisation, so the update costs a few kernel launches per step.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def class_means(features: torch.Tensor, labels: torch.Tensor, num_classes: int) -> torch.Tensor:
    """L2-normalised mean feature of every identity: [C, F] from features [N, F] and labels [N]."""
    sums = features.new_zeros(num_classes, features.shape[1]).index_add_(0, labels, features)
    counts = torch.bincount(labels, minlength=num_classes)
    if bool((counts == 0).any()):
        missing = int(torch.nonzero(counts == 0)[0])
        raise ValueError(f"identity {missing} has no feature: every label 0..{num_classes - 1} needs an image")
    return F.normalize(sums / counts[:, None].to(sums.dtype), dim=1)


def hardest_per_identity(memory: torch.Tensor, features: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(identities present [U], index of each one's hardest sample [U]): lowest cosine to its memory row.

    Ties go to the earliest sample.  Sorting by similarity, then stably by label, puts each
    identity's hardest sample first in its run.
    """
    similarity = (F.normalize(features, dim=1) * memory[labels]).sum(dim=1)
    by_similarity = torch.argsort(similarity, stable=True)
    order = by_similarity[torch.argsort(labels[by_similarity], stable=True)]
    identities, counts = torch.unique_consecutive(labels[order], return_counts=True)
    starts = torch.cumsum(counts, 0) - counts
    return identities, order[starts]


@torch.no_grad()
def momentum_update(memory: torch.Tensor, features: torch.Tensor, labels: torch.Tensor, momentum: float) -> None:
    """In place: M[y] <- normalise(momentum * M[y] + (1 - momentum) * v_hardest(y)) for the batch's identities."""
    features = features.detach().to(memory.dtype)
    identities, hardest = hardest_per_identity(memory, features, labels)
    updated = momentum * memory[identities] + (1.0 - momentum) * F.normalize(features[hardest], dim=1)
    memory[identities] = F.normalize(updated, dim=1)
