"""MUSE's hard query–candidate pairs, mined with the trained encoder on the source training split.

Per anchor image (MUSE's `create_top_k_similar_pairwise_dataset_enhanced`): the `k` *least*
similar images of its own identity (hard positives, "Yes") and the `k` *most* similar images of
other identities (hard negatives, "No"), by cosine of the L2-normalised features. Identities are
split for validation (`val_id_ratio` of them, seeded) and a seeded `truncate` share of the
training pairs is kept. Similarities are taken a block of anchors at a time: nothing N × N is held.
"""

from __future__ import annotations

import numpy as np
import polars as pl
import torch

from reid.muse.config import MusePairs
from reid.vlm.prompts import NO, YES

ANCHOR_BLOCK = 1024
PAIR_COLUMNS = ("query_path", "candidate_path", "query_label", "candidate_label", "similarity", "answer", "split")


def hardest(features: torch.Tensor, labels: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(anchor, candidate, similarity) [P] of every anchor's k least similar positives and k most similar negatives;
    an identity with fewer than k other images gives what it has."""
    anchors, candidates, sims = [], [], []
    n = len(features)
    for start in range(0, n, ANCHOR_BLOCK):
        rows = torch.arange(start, min(start + ANCHOR_BLOCK, n))
        sim = features[rows] @ features.T
        same = labels[rows, None] == labels[None, :]
        same_but_self = same.clone()
        same_but_self[torch.arange(len(rows)), rows] = False
        positive = torch.where(same_but_self, sim, torch.inf).topk(min(k, n), dim=1, largest=False)
        negative = torch.where(same, -torch.inf, sim).topk(min(k, n), dim=1, largest=True)
        for found in (positive, negative):
            keep = torch.isfinite(found.values)
            anchors.append(rows[:, None].expand_as(keep)[keep])
            candidates.append(found.indices[keep])
            sims.append(found.values[keep])
    return torch.cat(anchors), torch.cat(candidates), torch.cat(sims)


def mine_pairs(train: pl.DataFrame, features: torch.Tensor, config: MusePairs) -> pl.DataFrame:
    """The pairs of `train` (columns path, label; rows in the order of `features`), columns PAIR_COLUMNS,
    split "train" / "val" by the anchor's identity, the training pairs cut to `config.truncate`."""
    if train.height != len(features):
        raise ValueError(f"{train.height} training rows and {len(features)} features differ in number")
    labels = torch.tensor(train["label"].to_list())
    anchor, candidate, sim = hardest(features.float(), labels, config.k)
    rng = np.random.default_rng(config.seed)
    identities = np.unique(labels.numpy())
    val_ids = rng.choice(identities, size=int(round(config.val_id_ratio * len(identities))), replace=False)
    paths = np.asarray(train["path"].to_list(), dtype=object)
    a_label, c_label = labels[anchor].numpy(), labels[candidate].numpy()
    pairs = pl.DataFrame({
        "query_path": paths[anchor.numpy()].tolist(), "candidate_path": paths[candidate.numpy()].tolist(),
        "query_label": a_label, "candidate_label": c_label, "similarity": sim.numpy(),
        "answer": np.where(a_label == c_label, YES, NO),
        "split": np.where(np.isin(a_label, val_ids), "val", "train"),
    })
    train_rows = np.flatnonzero(pairs["split"].to_numpy() == "train")
    kept = rng.choice(train_rows, size=int(round(config.truncate * len(train_rows))), replace=False)
    keep = np.zeros(pairs.height, dtype=bool)
    keep[kept] = True
    keep |= pairs["split"].to_numpy() == "val"
    return pairs.filter(pl.Series(keep))


def pair_counts(pairs: pl.DataFrame) -> dict[str, dict[str, int]]:
    """Pairs per split and answer, for the metrics."""
    return {split: {answer: int(((pairs["split"] == split) & (pairs["answer"] == answer)).sum()) for answer in (YES, NO)}
            for split in ("train", "val")}
