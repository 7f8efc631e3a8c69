"""The pretrain step end to end: captioned synthetic people → a CLIP checkpoint → zero-shot metrics.

It exists for the demo. With `model.pretrained` pointing at this step's checkpoint it draws the
captioned pool and trains; with anything else (`openai`, another file, null = random init) the
CLIP comes from there, so the step only writes `SKIPPED.json` markers into its outputs (DVC
wants every declared output to exist) and its metrics say why.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import polars as pl

from reid.config.checks import check_device
from reid.model.params import Model
from reid.pretrain.config import Pretrain
from reid.pretrain.train import run_pretrain
from reid.synth.captioned import generate_captioned
from reid.wiring import PRETRAINED_FILE, StageIO, StageParams

SKIPPED = "SKIPPED.json"


def pretrain_wanted(pretrained: str | None, checkpoint: str | os.PathLike) -> bool:
    """Whether the re-ID stages will load this step's checkpoint (so it must be trained)."""
    return pretrained is not None and Path(pretrained) == Path(checkpoint)


def run_pretrain_step(
    config: Pretrain,
    model: Model,
    checkpoint: str | os.PathLike,
    data_dir: str | os.PathLike,
    state_dir: str | os.PathLike,
    live_dir: str | os.PathLike,
    metrics_path: str | os.PathLike,
) -> dict[str, Any]:
    """Train the CLIP the re-ID stages build (`model`'s) if `model.pretrained` names `checkpoint`,
    else mark the outputs skipped; write metrics."""
    check_device("pretrain.device", config.device)
    pretrained, checkpoint, data_dir = model.pretrained, Path(checkpoint), Path(data_dir)
    if not pretrain_wanted(pretrained, checkpoint):
        reason = (f"model.pretrained is {pretrained!r}, not {str(checkpoint)!r}: the CLIP weights come from there"
                  if pretrained is not None else "model.pretrained is null: the re-ID stages start from random weights")
        for folder in (checkpoint.parent, data_dir, Path(state_dir), Path(live_dir)):
            folder.mkdir(parents=True, exist_ok=True)
            (folder / SKIPPED).write_text(json.dumps({"skipped": True, "reason": reason}) + "\n")
        record: dict[str, Any] = {"skipped": True, "reason": reason}
    else:
        (data_dir / SKIPPED).unlink(missing_ok=True)  # a skipped run's marker is not the generator's to refuse
        pairs = generate_captioned(data_dir, config.data, workers=config.workers)
        pairs = pairs.with_columns(pl.concat_str(pl.lit(f"{data_dir}/"), pl.col("path")).alias("path"))
        last = run_pretrain(pairs, model.clip_config, config, checkpoint, state_dir, live_dir)
        record = {
            "skipped": False,
            "pairs": {split: int((pairs["split"] == split).sum()) for split in ("train", "test")},
            "loss": round(last["loss/contrastive"], 4),
            "zero_shot": {k.split("/", 1)[1]: v for k, v in last.items() if k.startswith("zero_shot/")},
            "synthetic": True,
        }
    metrics_path = Path(metrics_path)
    metrics_path.parent.mkdir(parents=True, exist_ok=True)
    metrics_path.write_text(json.dumps(record, indent=2) + "\n")
    return record


def pretrain(params: StageParams, io: StageIO) -> None:
    """Stage `pretrain`."""
    out = io.outputs
    run_pretrain_step(checkpoint=out["model"] / PRETRAINED_FILE, data_dir=out["data"], state_dir=out["state"],
                      live_dir=out["live"], metrics_path=out["metrics"], config=params.pretrain, model=params.model)
