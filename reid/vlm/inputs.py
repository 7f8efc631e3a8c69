"""Images and questions → the processor's batches; the model's answer logits and semantic token.

One chat format for the three uses: captioning (pre-training), the query–candidate Yes/No
question (MUSE's SFT and μ) and the instruction whose last hidden state is LVLM-ReID's semantic
token. Batches are padded on the right, so a row's last real token is at attention_mask.sum − 1.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np
import torch
from torch.utils.data import Dataset

from reid.utils.images import read_image
from reid.vlm.prompts import END, NO, YES

IGNORE = -100  # the label of every position that is not the answer


@dataclass(frozen=True)
class Question:
    """What one batch asks: the user turn (`messages`) and whether answers are appended for training."""

    messages: list[dict]
    train: bool


class ImageTuples(Dataset):
    """Item i: the images of `paths[i]` (one for captions, two for pairs), resized to (height, width), with
    `answers[i]` (or "") and i. A path that cannot be read raises `ImageError` naming it."""

    def __init__(self, paths: Sequence[Sequence[str]], image_size: tuple[int, int],
                 answers: Sequence[str] | None = None) -> None:
        if answers is not None and len(answers) != len(paths):
            raise ValueError(f"{len(paths)} image tuples and {len(answers)} answers differ in number")
        self.paths, self.size, self.answers = [tuple(p) for p in paths], tuple(image_size), answers

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, index: int) -> tuple[tuple[np.ndarray, ...], str, int]:
        height, width = self.size
        images = tuple(cv2.resize(read_image(p), (width, height), interpolation=cv2.INTER_CUBIC) for p in self.paths[index])
        return images, self.answers[index] if self.answers is not None else "", index


class Collate:
    """A DataLoader's collate: items of `ImageTuples` → the processor's tensors (+ `labels` when training,
    + `index`). Labels keep only the answer and its end token: the loss is on the answer alone (MUSE)."""

    def __init__(self, processor, question: Question) -> None:
        self.processor, self.question = processor, question
        self.prompt = processor.apply_chat_template(question.messages, add_generation_prompt=True, tokenize=False)
        tokenizer = processor.tokenizer
        self.start_id = tokenizer.convert_tokens_to_ids("<|im_start|>")
        self.header = len(tokenizer.encode("<|im_start|>assistant\n", add_special_tokens=False))

    def __call__(self, items: list[tuple[tuple[np.ndarray, ...], str, int]]) -> dict[str, torch.Tensor]:
        texts = [self.prompt + (f"{answer}{END}" if self.question.train else "") for _, answer, _ in items]
        batch = dict(self.processor(text=texts, images=[list(images) for images, _, _ in items],
                                    return_tensors="pt", padding=True))
        batch["index"] = torch.tensor([index for _, _, index in items])
        if self.question.train:
            batch["labels"] = self.answer_labels(batch["input_ids"], batch["attention_mask"])
        return batch

    def answer_labels(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """input_ids after the last assistant header, IGNORE elsewhere (prompt, images, padding)."""
        positions = torch.arange(input_ids.shape[1]).expand_as(input_ids)
        last_start = torch.where(input_ids == self.start_id, positions, -1).max(dim=1).values
        keep = (positions >= (last_start + self.header)[:, None]) & attention_mask.bool()
        return torch.where(keep, input_ids, IGNORE)


def model_inputs(batch: dict[str, torch.Tensor], device: torch.device, dtype: torch.dtype) -> dict[str, torch.Tensor]:
    """The batch on `device` without its bookkeeping; pixels in the model's dtype."""
    inputs = {k: v.to(device) for k, v in batch.items() if k not in ("index", "labels")}
    inputs["pixel_values"] = inputs["pixel_values"].to(dtype)
    return inputs


def last_positions(attention_mask: torch.Tensor) -> torch.Tensor:
    """Each row's last real token (right padding)."""
    return attention_mask.sum(dim=1) - 1


def answer_ids(tokenizer) -> tuple[int, int]:
    """The first token ids of "No" and "Yes", in that order (μ = p(No))."""
    return tuple(tokenizer.encode(word, add_special_tokens=False)[0] for word in (NO, YES))


def no_probability(logits: torch.Tensor, no_yes: tuple[int, int], tau: float) -> torch.Tensor:
    """MUSE's μ: softmax([z_No, z_Yes] / τ)[0] from the logits [B, V] at the answer position."""
    return torch.softmax(logits[:, list(no_yes)].float() / tau, dim=1)[:, 0]


def answer_logits(model, inputs: dict[str, torch.Tensor]) -> torch.Tensor:
    """The next-token logits [B, V] after each row's prompt (the first answer token's distribution)."""
    out = model(**inputs)
    rows = torch.arange(out.logits.shape[0], device=out.logits.device)
    return out.logits[rows, last_positions(inputs["attention_mask"])]


def semantic_tokens(model, inputs: dict[str, torch.Tensor]) -> torch.Tensor:
    """The last layer's hidden state [B, hidden] at each row's last prompt token (LVLM-ReID's semantic token,
    read E5-V-style: our reading, PEERS.md §4.3)."""
    out = model(**inputs, output_hidden_states=True)
    hidden = out.hidden_states[-1]
    rows = torch.arange(hidden.shape[0], device=hidden.device)
    return hidden[rows, last_positions(inputs["attention_mask"])].float()
