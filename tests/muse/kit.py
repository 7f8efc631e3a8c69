"""Tiny MUSE fixtures: colour-coded people on disk and a tiny VLM folder, built in seconds."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl
import torch

from reid.utils.images import write_image
from reid.vlm.build import demo_model, demo_processor
from reid.vlm.prompts import vocabulary_texts
from tests.kit.params import section

IMAGE_SIZE = (56, 28)
COLOURS = [(220, 30, 30), (30, 200, 40), (40, 60, 230), (230, 220, 40), (200, 40, 210), (40, 210, 220)]


def tiny_vlm_section(model: str | Path, **demo) -> object:
    return section("vlm", model=str(model), image_size=list(IMAGE_SIZE), device="cpu",
                   demo={"hidden": 64, "layers": 1, "heads": 4, "kv_heads": 2, "intermediate": 128, "vision_depth": 1,
                         "vision_dim": 32, "vision_heads": 2, "workers": 0, **demo})


def people(root: Path, ids: int = 6, per_id: int = 4, seed: int = 0) -> pl.DataFrame:
    """`ids` identities (a shirt colour each, trousers by id parity) × `per_id` noisy images; columns
    image_id, path, label."""
    rng = np.random.default_rng(seed)
    rows = []
    for pid in range(ids):
        for k in range(per_id):
            image = rng.integers(0, 60, (*IMAGE_SIZE, 3)).astype(np.uint8)
            image[8:30, 6:22] = COLOURS[pid % len(COLOURS)]
            image[30:52, 8:20] = (250, 250, 250) if pid % 2 else (10, 10, 10)
            path = root / f"{pid:02d}_{k}.png"
            write_image(path, image)
            rows.append({"image_id": f"{pid:02d}_{k}", "path": str(path), "label": pid})
    return pl.DataFrame(rows)


def tiny_vlm(folder: Path, seed: int = 0) -> Path:
    """A random tiny Qwen2-VL in Hugging Face format (what stage `vlm` writes), its vocabulary the prompts'."""
    vlm = tiny_vlm_section(folder)
    processor = demo_processor(vocabulary_texts(), vlm.image_size)
    torch.manual_seed(seed)
    model = demo_model(vlm.demo, processor)
    model.save_pretrained(folder)
    processor.save_pretrained(folder)
    return folder
