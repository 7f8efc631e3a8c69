"""The `vlm` stage: the demo's stand-in VLM learnt from the captioned synthetic people (PEERS.md §5.2).

It trains only when `vlm.model` names this stage's folder and something uses a VLM (`muse.enabled`,
or `method: lvlm_reid`); otherwise it writes `SKIPPED.json` markers into its outputs in a second,
so the default `dvc repro` does not pay for it, and a real Qwen2-VL named by `vlm.model` is
loaded from there as is. Identities of the captioned pool are disjoint from the four domains,
as for the CLIP prior (SPEC §8): MUSE and LVLM-ReID then test a prior that never saw them.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import polars as pl
import torch
from torch.utils.data import DataLoader

from reid.config.checks import check_device
from reid.engine.distributed import Dist
from reid.engine.loop import fit
from reid.engine.state import fingerprint
from reid.errors import ArtifactError
from reid.synth.captioned import CAPTIONS
from reid.utils.device import autocast, resolve_device
from reid.utils.progress import progress
from reid.vlm.config import Vlm
from reid.vlm.inputs import IGNORE, Collate, ImageTuples, Question, model_inputs
from reid.vlm.load import SKIPPED, require_mllm
from reid.vlm.prompts import CAPTION_INSTRUCTION, image_messages, vocabulary_texts
from reid.vlm.train import AnswerTask, save_folder
from reid.wiring import StageIO, StageParams


def vlm_wanted(vlm: Vlm, folder: str | os.PathLike, muse_enabled: bool, method: str) -> bool:
    """Whether this stage must train the stand-in: `vlm.model` is its folder and MUSE or LVLM-ReID runs."""
    return Path(vlm.model) == Path(folder) and (muse_enabled or method == "lvlm_reid")


def skip_reason(vlm: Vlm, folder: str | os.PathLike) -> str:
    if Path(vlm.model) != Path(folder):
        return f"vlm.model is {vlm.model!r}, not {str(folder)!r}: the VLM is loaded from there"
    return "neither muse.enabled nor method lvlm_reid uses a VLM"


def mark_skipped(folders: list[Path], reason: str) -> None:
    """DVC wants every declared output: a marker that says why it is empty."""
    for folder in folders:
        folder.mkdir(parents=True, exist_ok=True)
        (folder / SKIPPED).write_text(json.dumps({"skipped": True, "reason": reason}) + "\n")


def read_captions(data_dir: Path) -> pl.DataFrame:
    """The pretrain stage's captioned pool with paths under `data_dir`; refused in one line when not drawn."""
    path = data_dir / CAPTIONS
    if not path.is_file():
        raise ArtifactError(path, "pretrain", "is missing (the captioned pool is drawn only for the demo CLIP prior, "
                                              "model.pretrained: models/pretrain/clip.pt)")
    frame = pl.read_parquet(path)
    return frame.with_columns(pl.concat_str(pl.lit(f"{data_dir}/"), pl.col("path")).alias("path"))


@torch.no_grad()
def caption_check(model: torch.nn.Module, data: ImageTuples, collate: Collate, device: torch.device,
                  batch_size: int, workers: int) -> dict[str, float]:
    """Held-out captions, teacher-forced: the answer loss and the share of caption tokens predicted exactly."""
    model.eval()
    loss_sum, right, count = 0.0, 0, 0
    loader = DataLoader(data, batch_size=batch_size, num_workers=workers, collate_fn=collate)
    for batch in progress(loader, "vlm held-out captions", total=len(loader), unit="batch"):
        inputs = model_inputs(batch, device, next(model.parameters()).dtype)
        with autocast(device):
            logits = model(**inputs).logits.float()
        labels = batch["labels"].to(device)[:, 1:]
        logits = logits[:, :-1]
        keep = labels != IGNORE
        loss_sum += torch.nn.functional.cross_entropy(logits[keep], labels[keep], reduction="sum").item()
        right += int((logits.argmax(-1)[keep] == labels[keep]).sum())
        count += int(keep.sum())
    return {"held_out/loss": loss_sum / count, "held_out/token_accuracy": right / count}


def train_vlm_prior(captions: pl.DataFrame, vlm: Vlm, instructions: tuple[str, ...], model_dir: str | os.PathLike,
                    state_dir: str | os.PathLike, live_dir: str | os.PathLike) -> dict[str, Any]:
    """Build the stand-in (its tokenizer from the captions and every prompt), train it to caption the "train"
    rows (the "test" rows are the held-out check), save it in Hugging Face format; returns the last record."""
    require_mllm("vlm.model")
    from reid.vlm.build import demo_model, demo_processor  # transformers: only where a VLM is trained

    demo, device = vlm.demo, resolve_device(vlm.device)
    train, test = (captions.filter(pl.col("split") == s) for s in ("train", "test"))
    processor = demo_processor([*captions["caption"].to_list(), *vocabulary_texts(instructions)], vlm.image_size)
    torch.manual_seed(demo.seed)
    model = demo_model(demo, processor).to(device)
    collate = Collate(processor, Question(image_messages(CAPTION_INSTRUCTION), train=True))
    train_set = ImageTuples([[p] for p in train["path"]], vlm.image_size, train["caption"].to_list())
    test_set = ImageTuples([[p] for p in test["path"]], vlm.image_size, test["caption"].to_list())
    expected = fingerprint({"vlm": vlm.model_dump(), "instructions": instructions, "paths": train_set.paths,
                            "captions": train["caption"].to_list()})
    task = AnswerTask("vlm", model, train_set, collate, demo, demo.warmup_epochs, device, torch.float32,
                      lambda: caption_check(model, test_set, collate, device, demo.batch_size, demo.workers))
    history = fit(task, expected, state_dir, live_dir, Dist(0, 1, device))

    def write(folder: Path) -> None:
        model.save_pretrained(folder)
        processor.save_pretrained(folder)

    save_folder(write, model_dir)
    seconds = sum(r["time/epoch_s"] for r in history)
    return {**history[-1], "parameters": sum(p.numel() for p in model.parameters()),
            "captions_per_s": task.steps_per_epoch * demo.batch_size * len(history) / seconds,
            "captions": {"train": train.height, "test": test.height}}


def vlm(params: StageParams, io: StageIO) -> None:
    """Stage `vlm`."""
    config, out = params.vlm, io.outputs
    check_device("vlm.device", config.device)
    folder = out["model"]
    if vlm_wanted(config, folder, params.muse.enabled, params.method):
        (folder / SKIPPED).unlink(missing_ok=True)
        last = train_vlm_prior(read_captions(io.inputs["captions"]), config, (params.lvlm_reid.instruction,),
                               folder, out["state"], out["live"])
        record: dict[str, Any] = {"skipped": False, "synthetic": True, **{k.replace("/", "_"): v for k, v in last.items()}}
    else:
        reason = skip_reason(config, folder)
        mark_skipped([folder, Path(out["live"])], reason)
        record = {"skipped": True, "reason": reason}
    metrics = Path(out["metrics"])
    metrics.parent.mkdir(parents=True, exist_ok=True)
    metrics.write_text(json.dumps(record, indent=2) + "\n")
