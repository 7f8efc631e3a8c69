"""Load a Qwen2-VL in Hugging Face format (the demo's stand-in or a local copy of the real model)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import torch

from reid.errors import ArtifactError, ConfigError
from reid.utils.device import resolve_device
from reid.utils.hashing import folder_digest

MLLM_EXTRA = "pip install -e '.[mllm]' (transformers >= 4.49, peft, accelerate; not beside the [cogvlm] extra)"
SKIPPED = "SKIPPED.json"  # what a stage writes into an output it did not make


def require_mllm(key: str) -> None:
    """Refuse, in one line, a run that needs transformers ≥ 4.49 and peft when they are missing or too old."""
    try:
        import peft  # noqa: F401
        import transformers
    except ImportError as exc:
        raise ConfigError(key, ..., f"needs the [mllm] extra ({exc.name} is not installed)", fix=MLLM_EXTRA) from None
    major, minor = (int(p) for p in transformers.__version__.split(".")[:2])
    if (major, minor) < (4, 49):
        raise ConfigError(key, ..., f"needs transformers >= 4.49 for Qwen2-VL, found {transformers.__version__} "
                          f"(the [cogvlm] extra pins an older one)", fix=MLLM_EXTRA)


def resolve_dtype(name: str, device: torch.device) -> torch.dtype:
    """`auto` = bfloat16 on CUDA, float32 elsewhere."""
    if name == "auto":
        return torch.bfloat16 if device.type == "cuda" else torch.float32
    return {"float32": torch.float32, "bfloat16": torch.bfloat16}[name]


@dataclass
class VlmBundle:
    """A loaded VLM: model (eval mode) and processor, where and in what precision it runs, and its digest."""

    model: torch.nn.Module
    processor: object
    device: torch.device
    dtype: torch.dtype
    digest: str


def check_vlm_folder(path: str | os.PathLike, stage: str = "vlm") -> Path:
    """The model folder, refused in one line when it is missing, skipped or not a Hugging Face model."""
    path = Path(path)
    if (path / SKIPPED).exists():
        raise ArtifactError(path, stage, "holds no model (the stage was skipped: vlm.model is the demo stand-in "
                                         "only when muse.enabled or method lvlm_reid asks for it)")
    if not (path / "config.json").is_file():
        raise ArtifactError(path, stage, "is not a Hugging Face model folder (no config.json); for the real model "
                                         "place a local copy of Qwen/Qwen2-VL-2B-Instruct there, or")
    return path


def load_vlm(path: str | os.PathLike, dtype: str = "auto", device: str = "auto") -> VlmBundle:
    """The VLM of `path` on `device` in `dtype`, eval mode."""
    from transformers import AutoProcessor, Qwen2VLForConditionalGeneration

    path = check_vlm_folder(path)
    where = resolve_device(device)
    precision = resolve_dtype(dtype, where)
    model = Qwen2VLForConditionalGeneration.from_pretrained(path, dtype=precision).to(where).eval()
    processor = AutoProcessor.from_pretrained(path)
    processor.tokenizer.padding_side = "right"
    return VlmBundle(model, processor, where, precision, folder_digest(path))
