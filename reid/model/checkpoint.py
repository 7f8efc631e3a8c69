"""Self-describing checkpoints: the model config travels with the weights.

A checkpoint is one `torch.save`d dict (loadable with `weights_only=True`):
`{"format": CHECKPOINT_FORMAT, "config": MuvaConfig.to_dict(), "contents": "full" | "image",
"state_dict": {...}, "extra": {...}}`.  "image" checkpoints hold only the `image.*` weights
(image encoder + BNNeck), which is all `load_for_inference` reads: no text tower, no
params.yaml, no download.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch

from reid.model.configs import MuvaConfig
from reid.model.muva import MuvaModel, ReidEncoder, build_muva, build_reid_encoder
from reid.utils.device import resolve_device

CHECKPOINT_FORMAT = "muva-checkpoint/1"


def save_checkpoint(
    model: MuvaModel | ReidEncoder, path: str | os.PathLike, extra: dict[str, Any] | None = None
) -> None:
    """Write config + weights of `model` (full model, or the image side only) to `path`, atomically.

    `extra`: plain data to keep alongside (epoch, metrics, …): str/int/float/bool/None, lists, dicts.
    """
    if isinstance(model, MuvaModel):
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
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    torch.save(payload, tmp)
    os.replace(tmp, path)


def read_checkpoint(path: str | os.PathLike) -> dict[str, Any]:
    """The raw checkpoint dict (on CPU), after checking it is a MUVA checkpoint."""
    payload = torch.load(path, map_location="cpu", weights_only=True)
    if not isinstance(payload, dict) or payload.get("format") != CHECKPOINT_FORMAT:
        raise ValueError(f"{path} is not a MUVA checkpoint (expected format '{CHECKPOINT_FORMAT}')")
    return payload


def load_checkpoint(path: str | os.PathLike, device: torch.device | str = "cpu") -> tuple[MuvaModel, dict[str, Any]]:
    """Rebuild the full model (image and text sides) from a "full" checkpoint; returns (model, extra).

    `device`: a torch device or a name understood by `reid.utils.device.resolve_device` ("auto", …).
    """
    payload = read_checkpoint(path)
    if payload["contents"] != "full":
        raise ValueError(f"{path} holds only the image side; use load_for_inference")
    model = build_muva(MuvaConfig.from_dict(payload["config"]))
    model.load_state_dict(payload["state_dict"])
    return model.to(resolve_device(str(device))), payload["extra"]


def load_for_inference(path: str | os.PathLike, device: torch.device | str = "cpu") -> ReidEncoder:
    """The image side of any MUVA checkpoint, in eval mode on `device`.

    The returned module maps images [B, 3, H, W] (+ optional G [B, 3, Npatch]) to
    L2-normalised features [B, (1+P) * embed_dim]; its `config` gives the input size and the
    pixel mean/std the images must be prepared with.  `device` as for `load_checkpoint`.
    """
    payload = read_checkpoint(path)
    encoder = build_reid_encoder(MuvaConfig.from_dict(payload["config"]))
    prefix = "image."
    encoder.load_state_dict({k[len(prefix):]: v for k, v in payload["state_dict"].items() if k.startswith(prefix)})
    return encoder.to(resolve_device(str(device))).eval()
