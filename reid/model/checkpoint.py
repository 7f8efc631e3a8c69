"""Self-describing checkpoints: the model config travels with the weights.

A checkpoint is one `torch.save`d dict (loadable with `weights_only=True`):
`{"format": CHECKPOINT_FORMAT, "config": MuvaConfig.to_dict(), "contents": "full" | "image",
"state_dict": {...}, "extra": {...}}`.  "image" checkpoints hold only the `image.*` weights
(image encoder + BNNeck), which is all `load_for_inference` reads: no text tower, no
params.yaml, no download.

Every write goes through `atomic_save`: a temporary file, then `os.replace`, so a kill or a
full disk never leaves half a file where the previous one was.  Readers given the `stage`
that makes a file report it missing or unreadable as an `ArtifactError` naming that stage.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch

from reid.errors import ArtifactError
from reid.model.configs import MuvaConfig
from reid.model.factory import FullModel, build_image_side, build_model
from reid.model.muva import ReidEncoder
from reid.utils.device import resolve_device
from reid.utils.files import atomic_save, reason_of

CHECKPOINT_FORMAT = "muva-checkpoint/2"  # 2: the config holds the resolved `model` section


def save_checkpoint(
    model: FullModel | ReidEncoder, path: str | os.PathLike, extra: dict[str, Any] | None = None
) -> None:
    """Write config + weights of `model` (full model, or the image side only) to `path`, atomically.

    `extra`: plain data to keep alongside (epoch, metrics, …): str/int/float/bool/None, lists, dicts.
    """
    if isinstance(model, FullModel):
        contents, state = "full", model.state_dict()
    else:
        contents, state = "image", {f"image.{k}": v for k, v in model.state_dict().items()}
    payload = {
        "format": CHECKPOINT_FORMAT,
        "config": model.config.to_dict(),
        "contents": contents,
        "state_dict": {k: v.detach().cpu() for k, v in state.items()},
        "extra": extra or {},
    }
    atomic_save(payload, path)


def read_checkpoint(path: str | os.PathLike, stage: str | None = None) -> dict[str, Any]:
    """The raw checkpoint dict (on CPU), after checking it is a MUVA checkpoint.

    `stage`: the pipeline stage that writes `path`; a missing or unreadable file (truncated,
    garbage, not a MUVA checkpoint) is then an `ArtifactError` saying to re-run it.
    """
    if stage is not None and not Path(path).is_file():
        raise ArtifactError(path, stage)
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        if stage is None:
            raise
        raise ArtifactError(path, stage, f"is unreadable ({reason_of(exc)})") from exc
    if not isinstance(payload, dict) or payload.get("format") != CHECKPOINT_FORMAT:
        if stage is not None:
            raise ArtifactError(path, stage, f"is unreadable (not a MUVA checkpoint of format '{CHECKPOINT_FORMAT}')")
        raise ValueError(f"{path} is not a MUVA checkpoint (expected format '{CHECKPOINT_FORMAT}')")
    return payload


def load_checkpoint(
    path: str | os.PathLike, device: torch.device | str = "cpu", stage: str | None = None
) -> tuple[FullModel, dict[str, Any]]:
    """Rebuild the full model (image and text sides) from a "full" checkpoint; returns (model, extra).

    `device`: a torch device or a name understood by `reid.utils.device.resolve_device` ("auto", …).
    `stage`: as for `read_checkpoint`.
    """
    payload = read_checkpoint(path, stage)
    if payload["contents"] != "full":
        if stage is not None:
            raise ArtifactError(path, stage, "holds only the image side, not the full model")
        raise ValueError(f"{path} holds only the image side; use load_for_inference")
    model = _restore(path, stage, lambda: build_model(MuvaConfig.from_dict(payload["config"])), payload["state_dict"])
    return model.to(resolve_device(str(device))), payload["extra"]


def load_for_inference(path: str | os.PathLike, device: torch.device | str = "cpu", stage: str | None = None) -> ReidEncoder:
    """The image side of any MUVA checkpoint, in eval mode on `device`.

    The returned module maps images [B, 3, H, W] (+ optional G [B, 3, Npatch]) to
    L2-normalised features [B, (1+P) * embed_dim]; its `config` gives the input size and the
    pixel mean/std the images must be prepared with.  `device` and `stage` as for `load_checkpoint`.
    """
    payload = read_checkpoint(path, stage)
    prefix = "image."
    weights = {k[len(prefix):]: v for k, v in payload["state_dict"].items() if k.startswith(prefix)}
    encoder = _restore(path, stage, lambda: build_image_side(MuvaConfig.from_dict(payload["config"])), weights)
    return encoder.to(resolve_device(str(device))).eval()


def _restore(path: str | os.PathLike, stage: str | None, build, weights: dict[str, torch.Tensor]) -> torch.nn.Module:
    """`build()` the module and load `weights`; with a `stage`, a config or weights that do not fit
    (a checkpoint of older code, a damaged file) are an `ArtifactError` naming it."""
    try:
        module = build()
        module.load_state_dict(weights)
    except (KeyError, TypeError, ValueError, RuntimeError) as exc:
        if stage is None:
            raise
        raise ArtifactError(path, stage, f"is unreadable ({reason_of(exc)})") from exc
    return module
