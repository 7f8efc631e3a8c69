"""Stopping a diverged run loudly, with the last good checkpoint left in place."""

from __future__ import annotations

from pathlib import Path

import torch

from reid.training.distributed import Dist, any_rank


class TrainingDiverged(RuntimeError):
    """A loss became NaN or infinite."""


def check_finite(losses: dict[str, torch.Tensor], ctx: Dist, where: str, state_dir: str | Path, epoch: int) -> None:
    """Raise TrainingDiverged (on every rank) if any loss is not finite; name the loss and the checkpoint kept."""
    bad = [name for name, value in losses.items() if not bool(torch.isfinite(value.detach()).all())]
    if any_rank(bool(bad), ctx, next(iter(losses.values())).device):
        kept = Path(state_dir) / "last.pt"
        resume = f"the last good checkpoint {kept} (after epoch {epoch}) is kept" if epoch > 0 and kept.exists() else (
            "no epoch had completed, so there is no checkpoint"
        )
        raise TrainingDiverged(
            f"{where}: loss {', '.join(bad) or '(on another rank)'} is NaN or infinite; {resume}. "
            f"Lower the learning rate or check the inputs, then re-run the stage (it resumes from the checkpoint)."
        )
