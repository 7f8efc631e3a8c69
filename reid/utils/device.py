"""The one device/dtype helper: CUDA with mixed precision where present, CPU float32 otherwise."""

from __future__ import annotations

import contextlib

import torch

from reid.config.autos import AUTO, auto_device


def resolve_device(name: str = "auto") -> torch.device:
    """Return the torch device for `name` ("auto", "cpu", "cuda", "cuda:1", "mps")."""
    if name == AUTO:
        return auto_device()
    device = torch.device(name)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise RuntimeError(f"device '{name}' requested but CUDA is not available; use device: auto or cpu")
    return device


def autocast_dtype(device: torch.device) -> torch.dtype | None:
    """bf16 on CUDA when supported, fp16 on older CUDA GPUs, None (float32) elsewhere."""
    if device.type != "cuda":
        return None
    return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16


def autocast(device: torch.device) -> contextlib.AbstractContextManager:
    """Mixed-precision context for `device`; a no-op on CPU/MPS (float32)."""
    dtype = autocast_dtype(device)
    if dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=dtype)
