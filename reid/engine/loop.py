"""One epoch loop for every training stage, in the manner of torchreid's Engine.

A stage is a `Task`: what differs between stages (batches, forward and losses, memories,
schedule, epoch record, extra state); `fit` does the rest the same way for all of them:
resume from a state whose fingerprint matches, then per epoch and batch the scheduled lr,
the finite check, the weighted loss, a GradScaler step (scaling only under float16
autocast, so CPU and bfloat16 runs are plain steps), then the rank-summed epoch totals, the
record, the state (main rank), the DVCLive log and a barrier.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any, Protocol

import torch

from reid.engine.distributed import Dist, all_reduce_sum, barrier
from reid.engine.guards import check_finite
from reid.engine.logging import EpochLog
from reid.engine.state import load_state, save_state
from reid.utils.device import autocast_dtype
from reid.utils.progress import progress_bar


class Task(Protocol):
    """What one stage brings to `fit`."""

    name: str  # "stage-1": the progress bars' and error messages' prefix
    epochs: int
    optimizer: torch.optim.Optimizer  # every param group has a "base_lr"
    weights: dict[str, float]  # loss name → weight in the summed loss

    def start(self) -> None:
        """Prepare a run from scratch (nothing was resumed)."""

    def state_dict(self) -> dict[str, Any]:
        """What the task adds to the saved state (weights, memories): keys besides fit's own."""

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore from a saved state (`state_dict`'s keys and fit's)."""

    def lr(self, epoch: int, step: int) -> float:
        """The factor of every group's base_lr at (epoch, step): a pure function."""

    def begin_epoch(self, epoch: int) -> tuple[Iterable, int]:
        """The epoch's batches and their number."""

    def step(self, batch: Any) -> tuple[dict[str, torch.Tensor], Any]:
        """Forward one batch (the forward under `reid.utils.device.autocast`, the losses where the stage has
        them): its losses and whatever `after_step` needs (the outputs)."""

    def after_step(self, batch: Any, out: Any, losses: dict[str, torch.Tensor]) -> torch.Tensor:
        """Work after the optimiser step (memory update, clamp); the batch's share of the epoch sums."""

    def postfix(self, shown: dict[str, float]) -> dict[str, str]:
        """The progress bar's running values."""

    def end_epoch(self, epoch: int, sums: list[float]) -> dict[str, float]:
        """The epoch record (without "epoch" and the time) from the sums over batches and ranks."""


class ModelTask:
    """A task's defaults where its state is `self.model`'s weights and a fresh start needs nothing."""

    model: torch.nn.Module

    def start(self) -> None:
        pass

    def state_dict(self) -> dict[str, Any]:
        return {"model": self.model.state_dict()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.model.load_state_dict(state["model"])


def fit(task: Task, expected: str, state_dir: str | Path, live_dir: str | Path, ctx: Dist,
        before: list[dict[str, float]] = ()) -> list[dict[str, float]]:
    """Train `task` to its last epoch, resuming from `state_dir` when the state's fingerprint is `expected`.

    `before`: the records of the stage's earlier phases, replayed first into the same log (one stage,
    one DVCLive folder, its phases one after the other). Returns this phase's history (a record per epoch).
    """
    optimizer = task.optimizer
    scaler = torch.amp.GradScaler(enabled=autocast_dtype(ctx.device) == torch.float16)
    state = load_state(state_dir, expected)
    if state is None:
        task.start()
        start, step, history = 0, 0, []
    else:
        task.load_state_dict(state)
        optimizer.load_state_dict(state["optimizer"])
        scaler.load_state_dict(state["scaler"])
        start, step, history = state["epoch"], state["step"], state["history"]
    log = EpochLog(live_dir, [*before, *history], enabled=ctx.is_main)
    for epoch in range(start, task.epochs):
        began = time.perf_counter()
        batches, count = task.begin_epoch(epoch)
        totals = None
        bar = progress_bar(batches, f"{task.name} epoch {epoch + 1}/{task.epochs}", total=count, unit="batch")
        for batch in bar:
            set_lr(optimizer, task.lr(epoch, step))
            losses, out = task.step(batch)
            shown = check_finite(losses, ctx, f"{task.name} epoch {epoch + 1} step {step + 1}", state_dir, epoch)
            loss = sum(task.weights[name] * value for name, value in losses.items())
            optimizer.zero_grad(set_to_none=True)
            scaler.scale(loss).backward()
            scaler.step(optimizer)
            scaler.update()
            share = task.after_step(batch, out, losses)
            totals = share if totals is None else totals + share
            step += 1
            bar.set_postfix(task.postfix(shown))
        record = {"epoch": epoch, **task.end_epoch(epoch, all_reduce_sum(totals, ctx).tolist()),
                  "time/epoch_s": time.perf_counter() - began}
        history.append(record)
        if ctx.is_main:
            save_state(state_dir, {**task.state_dict(), "fingerprint": expected, "epoch": epoch + 1, "step": step,
                                   "history": history, "optimizer": optimizer.state_dict(),
                                   "scaler": scaler.state_dict()})
            log.log(record)
        barrier(ctx)
    log.close()
    return history


def set_lr(optimizer: torch.optim.Optimizer, factor: float) -> None:
    """Scale every parameter group's `base_lr` by `factor`."""
    for group in optimizer.param_groups:
        group["lr"] = group["base_lr"] * factor
