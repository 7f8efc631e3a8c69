"""torchrun support: one process per device, gloo on CPU, NCCL on CUDA.

`torchrun --nproc_per_node N -m stages.stage2` sets RANK / WORLD_SIZE / LOCAL_RANK; the same
command without torchrun runs a single process and everything here is a no-op.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import timedelta

import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel

from reid.utils.device import resolve_device


@dataclass(frozen=True)
class Dist:
    rank: int = 0
    world: int = 1
    device: torch.device = torch.device("cpu")
    local_rank: int = 0  # the rank's index on its node (its GPU)
    created: bool = False  # this process made the group, so it is the one to destroy it

    @property
    def enabled(self) -> bool:
        return self.world > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def init_distributed(device: str = "auto", timeout: timedelta | None = None) -> Dist:
    """Join the process group torchrun prepared (if any) and pick this rank's device.

    `timeout` bounds every collective (a barrier included): grounding's ranks may finish days apart.
    """
    world = int(os.environ.get("WORLD_SIZE", "1"))
    chosen = resolve_device(device)
    if world == 1:
        return Dist(0, 1, chosen)
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    if chosen.type == "cuda":
        chosen = torch.device("cuda", local_rank)
        torch.cuda.set_device(chosen)
    created = not dist.is_initialized()
    if created:
        dist.init_process_group("nccl" if chosen.type == "cuda" else "gloo", timeout=timeout)
    return Dist(dist.get_rank(), dist.get_world_size(), chosen, local_rank, created)


def all_gather(tensor: torch.Tensor, ctx: Dist) -> torch.Tensor:
    """Concatenate `tensor` [n, ...] from every rank along dim 0 (rank order); equal n on all ranks.

    No gradient flows back: used for memory updates and feature extraction only.
    """
    if not ctx.enabled:
        return tensor
    parts = [torch.empty_like(tensor) for _ in range(ctx.world)]
    dist.all_gather(parts, tensor.contiguous())
    return torch.cat(parts)


def all_gather_uneven(tensor: torch.Tensor, ctx: Dist) -> torch.Tensor:
    """`all_gather` for shards of different lengths (padding to the longest)."""
    if not ctx.enabled:
        return tensor
    n = torch.tensor([tensor.shape[0]], device=tensor.device)
    sizes = all_gather(n, ctx).tolist()
    padded = tensor.new_zeros((max(sizes), *tensor.shape[1:]))
    padded[: tensor.shape[0]] = tensor
    gathered = all_gather(padded, ctx).split(max(sizes))
    return torch.cat([part[:size] for part, size in zip(gathered, sizes)])


def all_reduce_sum(tensor: torch.Tensor, ctx: Dist) -> torch.Tensor:
    """Sum of `tensor` over ranks (a copy; the input is left alone)."""
    if not ctx.enabled:
        return tensor
    total = tensor.clone()
    dist.all_reduce(total)
    return total


def any_rank(flag: bool, ctx: Dist, device: torch.device) -> bool:
    """True if `flag` holds on any rank (so that all ranks stop together)."""
    if not ctx.enabled:
        return flag
    value = torch.tensor([1.0 if flag else 0.0], device=device)
    dist.all_reduce(value, op=dist.ReduceOp.MAX)
    return bool(value.item())


def broadcast_buffers(module: torch.nn.Module, ctx: Dist, src: int = 0) -> None:
    """Copy `module`'s buffers (BatchNorm running statistics) from rank `src` to every rank, in place.

    DDP syncs buffers only at the start of each forward, so after an epoch's last step every
    rank holds statistics updated with its own part of the batch.
    """
    if not ctx.enabled:
        return
    for buffer in module.buffers():
        dist.broadcast(buffer.data, src)


def ddp(module: torch.nn.Module, ctx: Dist) -> torch.nn.Module:
    """`module` itself on one process; under torchrun wrapped in DDP (on this rank's GPU where it has one)."""
    if not ctx.enabled:
        return module
    return DistributedDataParallel(module, device_ids=[ctx.device.index] if ctx.device.type == "cuda" else None)


def barrier(ctx: Dist) -> None:
    if ctx.enabled:
        dist.barrier()


def shutdown(ctx: Dist) -> None:
    """Destroy the process group if this process made it (a caller's own group is left alone)."""
    if ctx.created and dist.is_initialized():
        dist.destroy_process_group()
