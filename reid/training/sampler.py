"""P x K identity sampling (P identities, K images each), reproducible and shardable.

Each epoch's batches are a pure function of (seed, epoch), the same on every rank; under
torchrun rank r takes identities r, r+W, ... of every batch, so the ranks see disjoint parts
of one global P x K batch and identities are never split across ranks.  This is the
RandomIdentitySampler of the re-ID literature: every identity's images are shuffled and cut
into groups of K (sampling with replacement when it has fewer than K), and batches draw P
identities at random among those with groups left.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import torch
from torch.utils.data import Sampler


class IdentityBatchSampler(Sampler[list[int]]):
    """Batches of dataset indices: this rank's share of every P x K batch."""

    def __init__(
        self, labels: torch.Tensor, ids_per_batch: int, images_per_id: int, seed: int = 0, rank: int = 0, world: int = 1
    ) -> None:
        if ids_per_batch % world:
            raise ValueError(f"ids_per_batch={ids_per_batch} must be a multiple of the number of processes ({world})")
        labels = np.asarray(labels)
        self.by_id = [np.flatnonzero(labels == c) for c in np.unique(labels)]
        if len(self.by_id) < ids_per_batch:
            raise ValueError(f"{len(self.by_id)} identities cannot fill batches of ids_per_batch={ids_per_batch}")
        self.p, self.k = ids_per_batch, images_per_id
        self.seed, self.rank, self.world = seed, rank, world
        self.set_epoch(0)

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch
        self._batches = self._global_batches(epoch)

    def _global_batches(self, epoch: int) -> list[np.ndarray]:
        rng = np.random.default_rng([self.seed, epoch, 7])
        groups: list[list[np.ndarray]] = []
        for idxs in self.by_id:
            chosen = rng.choice(idxs, size=self.k, replace=True) if len(idxs) < self.k else rng.permutation(idxs)
            groups.append([chosen[i : i + self.k] for i in range(0, len(chosen) - self.k + 1, self.k)])
        remaining = np.array([len(g) for g in groups])
        batches = []
        while (remaining > 0).sum() >= self.p:
            ids = rng.choice(np.flatnonzero(remaining > 0), size=self.p, replace=False)
            batch = []
            for c in ids:
                remaining[c] -= 1
                batch.append(groups[c][remaining[c]])
            batches.append(np.stack(batch))  # [P, K]
        return batches

    def __iter__(self) -> Iterator[list[int]]:
        for batch in self._batches:
            yield batch[self.rank :: self.world].reshape(-1).tolist()

    def __len__(self) -> int:
        return len(self._batches)
