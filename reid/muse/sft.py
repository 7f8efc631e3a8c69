"""MUSE's supervised fine-tuning: LoRA adapters on the VLM, trained on the hard pairs' Yes/No answer.

As MUSE's `train_reranking.py` (PEERS.md §3.2): LoRA on the language model's q/k/v/o/gate/up/
down projections and (with `vision_lora`) the vision tower's mlp.fc1/fc2; cross-entropy on the
answer alone; AdamW, cosine to `min_lr`; only the adapters are trained and saved. After each
epoch the Yes/No accuracy of the held-out identities' pairs, read from the answer logits.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import torch
from torch.utils.data import DataLoader

from reid.engine.distributed import Dist
from reid.engine.loop import fit
from reid.engine.state import fingerprint
from reid.muse.config import MuseSft
from reid.utils.device import autocast
from reid.utils.hashing import folder_digest
from reid.utils.progress import progress
from reid.vlm.config import Vlm
from reid.vlm.inputs import Collate, ImageTuples, Question, answer_ids, answer_logits, model_inputs, no_probability
from reid.vlm.load import VlmBundle, load_vlm
from reid.vlm.prompts import YES, pair_messages
from reid.vlm.train import AnswerTask, save_folder

LLM_TARGETS = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")
VISION_TARGETS = ("mlp.fc1", "mlp.fc2")
BASE_FILE = "base.json"  # beside the adapter: which VLM it was trained on


def with_lora(model: torch.nn.Module, sft: MuseSft) -> torch.nn.Module:
    """`model` wrapped by peft with MUSE's LoRA targets; only the adapters (and with `train_head` the head) train."""
    from peft import LoraConfig, get_peft_model

    targets = [*LLM_TARGETS, *(VISION_TARGETS if sft.vision_lora else ())]
    config = LoraConfig(r=sft.lora_r, lora_alpha=sft.lora_alpha, lora_dropout=sft.lora_dropout,
                        target_modules=targets, bias="none", modules_to_save=["lm_head"] if sft.train_head else None)
    return get_peft_model(model, config)


def pair_set(pairs: pl.DataFrame, image_size: tuple[int, int], answers: bool = True) -> ImageTuples:
    """The pairs as (query, candidate) image tuples, with their Yes/No answers."""
    paths = list(zip(pairs["query_path"].to_list(), pairs["candidate_path"].to_list(), strict=True))
    return ImageTuples(paths, image_size, pairs["answer"].to_list() if answers else None)


class PairCollate:
    """Collate of the Yes/No question: the batch as shown (query first) and, with `swap`, candidate first."""

    def __init__(self, processor, swap: bool) -> None:
        self.collate, self.swap = Collate(processor, Question(pair_messages(), train=False)), swap

    def __call__(self, items: list) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor] | None]:
        swapped = [(images[::-1], answer, index) for images, answer, index in items] if self.swap else None
        return self.collate(items), self.collate(swapped) if swapped else None


@torch.no_grad()
def mu_batches(bundle: VlmBundle, data: ImageTuples, batch_size: int, workers: int, tau: float, swap: bool = False,
               desc: str = "mu") -> Iterator[tuple[np.ndarray, np.ndarray, float]]:
    """(item indices, μ = p("No"), seconds) per batch of `data`'s pairs: one forward pass per pair (two with
    `swap`, averaged)."""
    no_yes = answer_ids(bundle.processor.tokenizer)
    loader = DataLoader(data, batch_size=batch_size, num_workers=workers, collate_fn=PairCollate(bundle.processor, swap))
    bundle.model.eval()
    for forward, backward in progress(loader, desc, total=len(loader), unit="batch"):
        began = time.perf_counter()
        mu = [no_probability(_logits(bundle, batch), no_yes, tau) for batch in (forward, backward) if batch]
        yield forward["index"].numpy(), torch.stack(mu).mean(0).cpu().numpy(), time.perf_counter() - began


def _logits(bundle: VlmBundle, batch: dict[str, torch.Tensor]) -> torch.Tensor:
    with autocast(bundle.device):
        return answer_logits(bundle.model, model_inputs(batch, bundle.device, bundle.dtype))


def pair_mu(bundle: VlmBundle, data: ImageTuples, batch_size: int, workers: int, tau: float,
            desc: str = "mu") -> np.ndarray:
    """μ of every pair of `data`, in order."""
    out = [mu for _, mu, _ in mu_batches(bundle, data, batch_size, workers, tau, desc=desc)]
    return np.concatenate(out) if out else np.zeros(0, dtype=np.float32)


def yes_no_check(bundle: VlmBundle, val: pl.DataFrame, image_size: tuple[int, int], batch_size: int,
                 workers: int) -> dict[str, float]:
    """Accuracy of answering Yes when p(No) < 0.5, on the validation pairs, and on each answer."""
    mu = pair_mu(bundle, pair_set(val, image_size, answers=False), batch_size, workers, tau=1.0, desc="sft check")
    yes = val["answer"].to_numpy() == YES
    right = (mu < 0.5) == yes
    return {"val/accuracy": float(right.mean()), "val/accuracy_yes": float(right[yes].mean()) if yes.any() else 0.0,
            "val/accuracy_no": float(right[~yes].mean()) if (~yes).any() else 0.0}


def check_sample(pairs: pl.DataFrame, sft: MuseSft) -> pl.DataFrame:
    """The validation pairs scored after each epoch: all, or a fixed seeded sample of `check_pairs`."""
    val = pairs.filter(pl.col("split") == "val")
    if sft.check_pairs is None or val.height <= sft.check_pairs:
        return val
    return val.sample(sft.check_pairs, seed=sft.seed)


def run_sft(pairs: pl.DataFrame, vlm: Vlm, sft: MuseSft, adapter_dir: str | os.PathLike, state_dir: str | os.PathLike,
            live_dir: str | os.PathLike) -> dict[str, Any]:
    """Fine-tune LoRA adapters of `vlm.model` on the "train" pairs; write the adapter; the last epoch's record."""
    base = load_vlm(vlm.model, vlm.dtype, vlm.device)
    torch.manual_seed(sft.seed)
    model = with_lora(base.model, sft)
    bundle = VlmBundle(model, base.processor, base.device, base.dtype, base.digest)
    train = pairs.filter(pl.col("split") == "train")
    val = check_sample(pairs, sft)
    train_set = pair_set(train, vlm.image_size)
    collate = Collate(base.processor, Question(pair_messages(), train=True))
    expected = fingerprint({"vlm": vlm.model_dump(), "sft": sft.model_dump(), "base": base.digest,
                            "pairs": train_set.paths, "answers": train["answer"].to_list()})
    task = AnswerTask("sft", model, train_set, collate, sft, 0.0, base.device, base.dtype,
                      lambda: yes_no_check(bundle, val, vlm.image_size, sft.batch_size, sft.workers))
    history = fit(task, expected, state_dir, live_dir, Dist(0, 1, base.device))

    def write(folder: Path) -> None:
        model.save_pretrained(folder)
        (folder / BASE_FILE).write_text(json.dumps({"model": str(vlm.model), "digest": base.digest}) + "\n")

    save_folder(write, adapter_dir)
    seconds = sum(r["time/epoch_s"] for r in history)
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    return {**history[-1], "trainable_parameters": trainable, "pairs_per_s": task.steps_per_epoch * sft.batch_size *
            len(history) / seconds, "pairs": {"train": train.height, "checked": val.height}, "base_digest": base.digest}


def load_judge(vlm: Vlm, adapter_dir: str | os.PathLike) -> VlmBundle:
    """The fine-tuned VLM for μ: the base with the adapter merged in (MUSE merges for inference); its digest
    is the base's and the adapter's together."""
    from peft import PeftModel

    base = load_vlm(vlm.model, vlm.dtype, vlm.device)
    merged = PeftModel.from_pretrained(base.model, str(adapter_dir)).merge_and_unload().eval()
    return VlmBundle(merged, base.processor, base.device, base.dtype, judge_digest(base.digest, adapter_dir))


def judge_digest(base_digest: str, adapter_dir: str | os.PathLike) -> str:
    """Which judge: the base VLM's digest and the adapter's."""
    return f"{base_digest}+{folder_digest(adapter_dir)}"
