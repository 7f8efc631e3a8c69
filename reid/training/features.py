"""Features of every training image with the pseudo-label masks G: what the memories are built from.

Run in eval mode (BNNeck running statistics, no augmentation); under torchrun each rank
extracts a shard and the shards are gathered back into dataset order on every rank.
"""

from __future__ import annotations

import torch
from torch.utils.data import DataLoader, Subset

from reid.data.loading import TrainingSet
from reid.engine.distributed import Dist, all_gather_uneven
from reid.model.muva import ReidEncoder
from reid.utils.device import autocast
from reid.utils.progress import progress


@torch.no_grad()
def extract_training_features(
    encoder: ReidEncoder, dataset: TrainingSet, batch_size: int, workers: int, ctx: Dist, after_bnneck: bool, desc: str
) -> torch.Tensor:
    """[N, F] float32 features on `ctx.device`, row i = dataset item i (G masks gate attention)."""
    was_training = encoder.training
    encoder.eval()
    shard = Subset(dataset, range(ctx.rank, len(dataset), ctx.world))
    loader = DataLoader(shard, batch_size=batch_size, shuffle=False, num_workers=workers)
    feats, indices = [], []
    for images, masks, _, index in progress(loader, desc, total=len(loader), unit="batch"):
        with autocast(ctx.device):
            out = encoder.features(images.to(ctx.device, non_blocking=True), masks.to(ctx.device, non_blocking=True))
        feats.append((out.features_bn if after_bnneck else out.features).float())
        indices.append(index.to(ctx.device))
    encoder.train(was_training)
    features = all_gather_uneven(torch.cat(feats), ctx)
    order = all_gather_uneven(torch.cat(indices), ctx)
    result = torch.empty_like(features)
    result[order] = features
    return result
