"""Stopping a diverged run loudly, with the last good checkpoint left in place."""

from __future__ import annotations

import math
from pathlib import Path

import torch

from reid.engine.distributed import Dist, any_rank
from reid.errors import ReidError


class TrainingDiverged(ReidError, RuntimeError):
    """A loss became NaN or infinite."""


def check_finite(
    losses: dict[str, torch.Tensor], ctx: Dist, where: str, state_dir: str | Path, epoch: int
) -> dict[str, float]:
    """Raise TrainingDiverged (on every rank) if any loss is not finite; name the loss and the checkpoint kept.

    Returns the losses as floats (for the progress bar): one host synchronisation per step.
    """
    values = dict(zip(losses, torch.stack([v.detach().float() for v in losses.values()]).tolist()))
    bad = [name for name, value in values.items() if not math.isfinite(value)]
    if any_rank(bool(bad), ctx, next(iter(losses.values())).device):
        kept = Path(state_dir) / "last.pt"
        resume = f"the last good checkpoint {kept} (after epoch {epoch}) is kept" if epoch > 0 and kept.exists() else (
            "no epoch had completed, so there is no checkpoint"
        )
        raise TrainingDiverged(
            f"{where}: loss {', '.join(bad) or '(on another rank)'} is NaN or infinite; {resume}. "
            f"Lower the learning rate or check the inputs, then re-run the stage (it resumes from the checkpoint)."
        )
    return values
