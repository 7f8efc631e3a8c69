"""Answer-only next-token training of a VLM as an engine task: the demo prior's captioning and MUSE's SFT.

Both train the same way (PEERS.md §3.2): the chat prompt with its images, the answer appended,
cross-entropy on the answer tokens alone, AdamW with a warm-up then cosine schedule per step,
a seeded permutation of full batches per epoch. They differ in what is trainable (every weight,
or LoRA's) and in the check after each epoch, which the caller gives.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

import torch
from torch.utils.data import DataLoader, Subset

from reid.engine.schedule import warmup_cosine
from reid.utils.device import autocast
from reid.vlm.inputs import Collate, ImageTuples, model_inputs


class Recipe(Protocol):
    """The keys of a training section this task reads (`vlm.demo`, `muse.sft`)."""

    epochs: int
    batch_size: int
    lr: float
    min_lr: float
    weight_decay: float
    seed: int
    workers: int


class AnswerTask:
    """`fit`'s task: the answer's cross-entropy over `train_set`; `check()` → the epoch's held-out figures."""

    weights = {"answer": 1.0}

    def __init__(self, name: str, model: torch.nn.Module, train_set: ImageTuples, collate: Collate, recipe: Recipe,
                 warmup_epochs: float, device: torch.device, dtype: torch.dtype,
                 check: Callable[[], dict[str, float]]) -> None:
        self.name, self.model, self.train_set, self.collate, self.recipe = name, model, train_set, collate, recipe
        self.device, self.dtype, self.check = device, dtype, check
        self.epochs = recipe.epochs
        self.steps_per_epoch = len(train_set) // recipe.batch_size
        if self.steps_per_epoch == 0:
            raise ValueError(f"{len(train_set)} training items are fewer than one batch of {recipe.batch_size}")
        self.total = self.steps_per_epoch * recipe.epochs
        self.warmup = int(round(warmup_epochs * self.steps_per_epoch))
        trainable = [p for p in model.parameters() if p.requires_grad]
        decay = [p for p in trainable if p.ndim >= 2]
        rest = [p for p in trainable if p.ndim < 2]
        # the schedule is the rate itself: a base_lr of 1 applies it unchanged
        self.optimizer = torch.optim.AdamW([{"params": decay, "weight_decay": recipe.weight_decay, "base_lr": 1.0},
                                            {"params": rest, "weight_decay": 0.0, "base_lr": 1.0}], lr=recipe.lr)

    def trainable_state(self) -> dict[str, torch.Tensor]:
        """Only what training changes (all weights of the prior, the adapters of SFT): MUSE checkpoints so."""
        return {n: p.detach().cpu().clone() for n, p in self.model.named_parameters() if p.requires_grad}

    def start(self) -> None:
        pass

    def state_dict(self) -> dict[str, Any]:
        return {"trainable": self.trainable_state()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        missing = set(state["trainable"]) - {n for n, _ in self.model.named_parameters()}
        if missing:
            raise ValueError(f"the saved state names parameters this model lacks, e.g. {sorted(missing)[0]}")
        self.model.load_state_dict(state["trainable"], strict=False)

    def lr(self, epoch: int, step: int) -> float:
        return warmup_cosine(step, self.total, self.warmup, self.recipe.lr, self.recipe.min_lr)

    def begin_epoch(self, epoch: int) -> tuple[DataLoader, int]:
        recipe = self.recipe
        order = torch.randperm(len(self.train_set), generator=torch.Generator().manual_seed(recipe.seed * 1000 + epoch))
        loader = DataLoader(Subset(self.train_set, order[: self.steps_per_epoch * recipe.batch_size].tolist()),
                            batch_size=recipe.batch_size, num_workers=recipe.workers, collate_fn=self.collate,
                            pin_memory=self.device.type == "cuda")
        self.model.train()
        return loader, self.steps_per_epoch

    def step(self, batch: dict[str, torch.Tensor]) -> tuple[dict[str, torch.Tensor], None]:
        inputs = model_inputs(batch, self.device, self.dtype)
        with autocast(self.device):
            out = self.model(**inputs, labels=batch["labels"].to(self.device))
        return {"answer": out.loss.float()}, None

    def after_step(self, batch: dict[str, torch.Tensor], out: None, losses: dict[str, torch.Tensor]) -> torch.Tensor:
        return torch.tensor([losses["answer"].item()], dtype=torch.float64)

    def postfix(self, shown: dict[str, float]) -> dict[str, str]:
        return {"loss": f"{shown['answer']:.3f}"}

    def end_epoch(self, epoch: int, sums: list[float]) -> dict[str, float]:
        self.model.eval()
        record = {"loss/answer": sums[0] / self.steps_per_epoch, "lr": self.optimizer.param_groups[0]["lr"],
                  **self.check()}
        shown = ", ".join(f"{k} {v:.3f}" for k, v in record.items() if k != "lr")
        print(f"{self.name} epoch {epoch + 1}: {shown}")
        return record


def save_folder(write: Callable[[Path], None], folder: str | Path) -> Path:
    """Write a model folder (`write(tmp)`) beside `folder`, then put it in place: a kill leaves the old one whole."""
    folder = Path(folder)
    tmp = folder.with_name(f".{folder.name}.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    write(tmp)
    shutil.rmtree(folder, ignore_errors=True)
    tmp.rename(folder)
    return folder
