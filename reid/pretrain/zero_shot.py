"""Zero-shot check of a vision-language prior: text→image retrieval on held-out captioned people.

A caption describes a person's attributes, so every image of the same person is a correct
answer. Recall@k = fraction of captions whose k nearest images hold one of the person's
images; chance@k is the same for a random ranking (hypergeometric), so the numbers say how
far above guessing the prior's words and pixels agree.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F


@dataclass(frozen=True)
class RetrievalResult:
    recall: dict[int, float]  # k → Recall@k (fraction)
    chance: dict[int, float]  # k → expected Recall@k of a random ranking
    queries: int
    gallery: int

    def as_dict(self) -> dict[str, float | int]:
        out: dict[str, float | int] = {f"R@{k}": round(100 * v, 2) for k, v in self.recall.items()}
        out.update({f"chance@{k}": round(100 * v, 2) for k, v in self.chance.items()})
        out.update(queries=self.queries, gallery=self.gallery)
        return out


def _chance(positives: np.ndarray, gallery: int, k: int) -> float:
    """Mean over queries of P(at least one of n positives among k random picks of `gallery`)."""
    miss = np.ones(len(positives))
    for i in range(k):
        miss *= np.clip((gallery - positives - i) / (gallery - i), 0.0, 1.0)
    return float(np.mean(1.0 - miss))


def text_to_image_retrieval(
    text_features: torch.Tensor, image_features: torch.Tensor, text_ids: np.ndarray, image_ids: np.ndarray,
    ks: tuple[int, ...] = (1, 5),
) -> RetrievalResult:
    """Rank images [G, E] for each caption [Q, E] by cosine; a hit is an image of the caption's identity."""
    sims = F.normalize(text_features.float(), dim=1) @ F.normalize(image_features.float(), dim=1).t()
    order = sims.topk(max(ks), dim=1).indices.cpu().numpy()  # [Q, kmax]
    hits = image_ids[order] == text_ids[:, None]
    positives = (image_ids[None, :] == text_ids[:, None]).sum(axis=1)
    recall = {k: float(hits[:, :k].any(axis=1).mean()) for k in ks}
    chance = {k: _chance(positives, len(image_ids), k) for k in ks}
    return RetrievalResult(recall, chance, len(text_ids), len(image_ids))
