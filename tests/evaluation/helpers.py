"""Helpers for the evaluation tests: small random demo models."""

from __future__ import annotations

from pathlib import Path

import torch

from reid.model.muva import ReidEncoder, build_reid_encoder
from tests.kit.params import muva


def demo_encoder(**fields) -> ReidEncoder:
    """The image side of a random demo model (3 layers, width 128), eval mode."""
    torch.manual_seed(0)
    return build_reid_encoder(muva(5, **{"backbone": "demo", "image_size": [256, 128], **fields})).eval()


def pictures(folder: Path) -> tuple[Path, Path, Path]:
    """run_evaluate's CMC folder, CMC picture and sheets folder under `folder`, named as the stage names them."""
    return folder / "cmc", folder / "cmc.png", folder / "sheets"
