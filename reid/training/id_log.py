"""Losses and ID accuracy of an image task, summed per step and reported per epoch (the engine's hooks).

The peers' image phases and LVLM-ReID log the same figures the same way; MUVA's stage-2 logs its own.
"""

from __future__ import annotations

from typing import Any

import torch

from reid.engine.distributed import Dist


class IdAccuracyLog:
    """Mixin for an engine task whose `step` returns `(losses, (out, labels))`: `after_step` sums each loss
    of `weights`, the correct ID predictions of `id_logits(out)`, the images and the batches; `end_epoch`
    reports `<name>/loss/<n>`, `<name>/acc/id` and `<name>/lr`."""

    name: str
    weights: dict[str, float]
    optimizer: torch.optim.Optimizer
    ctx: Dist

    def id_logits(self, out: Any) -> torch.Tensor:
        """The ID classifier's logits in `out` (a task with several heads names its own)."""
        return out.logits

    def after_step(self, batch: Any, out: tuple[Any, torch.Tensor], losses: dict[str, torch.Tensor]) -> torch.Tensor:
        out, labels = out
        with torch.no_grad():
            correct = self.id_logits(out).argmax(1).eq(labels).sum().float()
            return torch.stack([*(losses[n].detach() for n in self.weights), correct,
                                torch.tensor(float(len(labels)), device=self.ctx.device),
                                torch.ones((), device=self.ctx.device)])

    def postfix(self, shown: dict[str, float]) -> dict[str, str]:
        return {n: f"{v:.3f}" for n, v in shown.items()}

    def end_epoch(self, epoch: int, sums: list[float]) -> dict[str, float]:
        *loss_sums, correct, count, batches = sums
        record = {f"{self.name}/loss/{n}": s / batches for n, s in zip(self.weights, loss_sums)}
        record[f"{self.name}/acc/id"] = correct / count
        record[f"{self.name}/lr"] = self.optimizer.param_groups[0]["lr"]
        return record
