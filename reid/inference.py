"""A trained model from Python: `reid.load_model("models/muva.pt").embed(images)`.

The checkpoint alone rebuilds the encoder (its config holds the architecture, input size and
pixel mean/std); images go through the evaluate stage's own preprocessing (`Preprocess`)
and forward pass (`encode_batch`), so `embed` returns exactly the features evaluation ranks.
An open_clip checkpoint loads the same way as a CLIP prior (`reid.prior`), so that what Re-ID
training adds over the prior is measured by one code path.

Images may be file paths, numpy arrays (H×W×3 uint8, RGB order) or PIL images, one or a
list of them (or a 4-D uint8 array [N, H, W, 3]); they may have any size.
"""

from __future__ import annotations

import os
import pickle
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image
from torch.utils.data import DataLoader, Dataset

from reid.config.autos import AUTO
from reid.data.loading import Preprocess
from reid.errors import InputError
from reid.evaluation.extract import Extraction, encode_batch, predicts_masks
from reid.model.checkpoint import load_for_inference
from reid.utils.files import reason_of
from reid.model.configs import MuvaConfig
from reid.model.muva import ReidEncoder
from reid.prior import ClipPrior, PriorConfig, load_prior
from reid.utils.device import resolve_device
from reid.utils.images import ImageError, read_image
from reid.utils.progress import progress

ImageLike = str | os.PathLike | np.ndarray | Image.Image
Images = ImageLike | Sequence[ImageLike]


def load_model(path: str | os.PathLike, device: str | torch.device | None = None) -> Encoder:
    """The encoder in the checkpoint `path` (nothing else is read), on `device`: a Re-ID model (MUVA or a
    peer, `models/muva.pt`) or a CLIP prior (an open_clip checkpoint such as `models/pretrain/clip.pt`,
    embedding by its image embedding: `reid.prior`).

    `device`: "cpu", "cuda", "cuda:1", a torch device, or None for the pipeline's `auto` (CUDA when available).
    A missing or unreadable file is an `InputError` (a `ReidError`: one line, fixable).
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: no such model file (a checkpoint such as models/muva.pt)")
    try:
        device = torch.device(device) if isinstance(device, torch.device) else resolve_device(device or AUTO)
    except RuntimeError as exc:  # an unknown name, or CUDA asked for where there is none
        raise InputError(f"device {device!r}: {exc}") from None
    try:
        module = load_for_inference(path, device)
    except (OSError, ValueError, RuntimeError, KeyError, TypeError, pickle.UnpicklingError) as exc:
        payload = _contents(path)
        if isinstance(payload, dict) and "format" in payload:  # a Re-ID checkpoint, damaged or of other code
            raise InputError(f"{path}: not a readable MUVA checkpoint ({reason_of(exc)})") from None
        return Encoder(load_prior(path, payload), device)
    if module.config.method == "lvlm_reid":
        raise InputError(f"{path}: an LVLM-ReID model needs a VLM pass per image beside the encoder; evaluate it "
                         f"with the evaluate stage (dvc repro evaluate), which runs the VLM")
    return Encoder(module, device)


def _contents(path: Path) -> Any:
    """What `torch.load` reads from `path` (weights only), or None where it reads nothing."""
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception:
        return None


def as_rgb(image: ImageLike) -> np.ndarray:
    """One image as the RGB uint8 array [H, W, 3] that `Preprocess` takes; `InputError` if it is not one."""
    if isinstance(image, (str, os.PathLike)):
        try:
            return read_image(image)
        except ImageError as exc:
            raise InputError(f"{exc}: not an image") from None
    if isinstance(image, Image.Image):
        return np.asarray(image.convert("RGB"))
    if isinstance(image, np.ndarray):
        if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
            raise InputError(f"an image array must be H×W×3 uint8 RGB, got shape {image.shape} of {image.dtype}")
        return image
    raise InputError(f"cannot read an image from a {type(image).__name__}: give a path, a numpy array or a PIL image")


def as_list(images: Images) -> list[ImageLike]:
    """A list of single images from one image, a sequence of them or a 4-D array [N, H, W, 3]."""
    if isinstance(images, (str, os.PathLike, Image.Image)):
        return [images]
    if isinstance(images, np.ndarray):
        return list(images) if images.ndim == 4 else [images]
    return list(images)


class _ImageInputs(Dataset):
    """Mixed inputs, preprocessed: (image [3, H, W], index)."""

    def __init__(self, images: list[ImageLike], preprocess: Preprocess) -> None:
        self.images, self.preprocess = images, preprocess

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        return self.preprocess(as_rgb(self.images[index])), index


class Encoder:
    """An image encoder (a trained Re-ID model or a CLIP prior): retrieval features and (AM-MSA models)
    predicted part masks."""

    def __init__(self, module: ReidEncoder | ClipPrior, device: torch.device) -> None:
        self.module, self.device = module.to(device).eval(), device
        self.preprocess = Preprocess.for_model(module.config)

    @property
    def config(self) -> MuvaConfig | PriorConfig:
        return self.module.config

    @property
    def feature_dim(self) -> int:
        """D of `embed`: MUVA's (1 + parts) × embed_dim, a prior's embed_dim."""
        return self.config.feature_dim

    @property
    def predicts_masks(self) -> bool:
        return predicts_masks(self.config)

    def embed(self, images: Images, batch_size: int = 64, workers: int = 0) -> np.ndarray:
        """L2-normalised retrieval features [N, D] float32, in input order (MUVA: BNNeck; a prior: its image
        embedding)."""
        items = as_list(images)
        out = np.empty((len(items), self.feature_dim), np.float32)
        for index, batch in self.batches(items, batch_size, workers):
            out[index] = batch.features.numpy()
        return out

    def part_masks(self, images: Images, batch_size: int = 64, workers: int = 0) -> np.ndarray:
        """Predicted part masks [N, P, rows, cols] bool on the patch grid (parts in `config.parts`
        order, rows top to bottom): the last layer's RMP, sigmoid(M_L) > rmp.threshold."""
        if not self.predicts_masks:
            raise InputError(f"this model predicts no part masks (parts={list(self.config.parts)}, "
                             f"part_attention='{self.config.part_attention}')")
        items = as_list(images)
        rows, cols = self.config.patch_grid
        out = np.empty((len(items), len(self.config.parts), rows, cols), bool)
        for index, batch in self.batches(items, batch_size, workers, with_masks=True):
            out[index] = batch.part_masks.view(len(index), -1, rows, cols).numpy()
        return out

    def batches(
        self, items: list[ImageLike], batch_size: int, workers: int = 0, with_masks: bool = False,
        desc: str = "embedding",
    ) -> Iterator[tuple[np.ndarray, Extraction]]:
        """(input indices, their features and masks) per batch of `batch_size`, in input order."""
        if batch_size < 1:
            raise InputError(f"batch_size must be >= 1, got {batch_size}")
        loader = DataLoader(_ImageInputs(items, self.preprocess), batch_size=batch_size, num_workers=workers,
                            pin_memory=self.device.type == "cuda")
        for images, index in progress(loader, desc=desc, total=len(loader), unit="batch"):
            with torch.inference_mode():
                batch = encode_batch(self.module, images, self.device, with_masks)
            yield index.numpy(), batch
