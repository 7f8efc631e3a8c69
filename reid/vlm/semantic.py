"""LVLM-ReID's semantic tokens: the frozen VLM reads each image with the instruction once (PEERS.md §4.3).

The token is the last layer's hidden state at the prompt's end (`reid.vlm.inputs.semantic_tokens`).
The VLM is frozen, so an image's token is computed once: stage `semantic` writes the training
images' table (the SGI is trained on it; our reading: the VLM sees the image un-augmented, as at
test time), and evaluation computes the test images' the same way. One VLM forward per image is
the cost, at training and at test time (93,820 passes on MSMT17's test split).
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from pathlib import Path

import polars as pl
import torch
from torch.utils.data import DataLoader

from reid.config.checks import check_device
from reid.errors import ArtifactError
from reid.model.checkpoint import read_checkpoint
from reid.utils.files import atomic_save, reason_of
from reid.utils.progress import progress
from reid.vlm.inputs import Collate, ImageTuples, Question, model_inputs, semantic_tokens
from reid.vlm.load import SKIPPED, VlmBundle, load_vlm, require_mllm
from reid.vlm.prompts import image_messages
from reid.vlm.run import mark_skipped
from reid.wiring import StageIO, StageParams

TOKENS_FILE = "train_tokens.pt"  # {"paths": [N], "tokens": [N, hidden], "vlm": digest, "instruction": str}


@torch.inference_mode()
def semantic_table(bundle: VlmBundle, paths: Sequence[str], instruction: str, image_size: tuple[int, int],
                   batch_size: int, workers: int, desc: str = "semantic tokens") -> torch.Tensor:
    """The semantic token [N, hidden] (float32, CPU) of each image of `paths`, in order."""
    collate = Collate(bundle.processor, Question(image_messages(instruction), train=False))
    loader = DataLoader(ImageTuples([[p] for p in paths], image_size), batch_size=batch_size, num_workers=workers,
                        collate_fn=collate)
    hidden = bundle.model.config.get_text_config().hidden_size
    out = torch.empty(len(paths), hidden)
    for batch in progress(loader, desc=desc, total=len(loader), unit="batch"):
        out[batch["index"]] = semantic_tokens(bundle.model, model_inputs(batch, bundle.device, bundle.dtype)).cpu()
    return out


class SemanticReader:
    """The evaluation's VLM pass (`reid.evaluation.run.SemanticTokens`): the same tokens as the training table's,
    from the VLM the model was trained with (its digest is checked), counting what they cost."""

    def __init__(self, bundle: VlmBundle, instruction: str, image_size: tuple[int, int], batch_size: int,
                 workers: int) -> None:
        self.bundle, self.instruction, self.image_size = bundle, instruction, tuple(image_size)
        self.batch_size, self.workers = batch_size, workers
        self.images, self.seconds = 0, 0.0

    @staticmethod
    def for_model(checkpoint: str | Path, vlm, batch_size: int, workers: int) -> SemanticReader | None:
        """The reader an LVLM-ReID checkpoint needs (None for any other method); a model trained on another
        VLM's tokens is refused in one line."""
        payload = read_checkpoint(checkpoint, stage="stage2")
        if payload["config"]["method"] != "lvlm_reid":
            return None
        require_mllm("method: lvlm_reid")
        bundle = load_vlm(vlm.model, vlm.dtype, vlm.device)
        if payload["extra"].get("vlm") != bundle.digest:
            raise ArtifactError(checkpoint, "stage2", f"was trained on the semantic tokens of another VLM than "
                                                      f"vlm.model {vlm.model!r} (re-run stages semantic onwards)")
        return SemanticReader(bundle, payload["extra"]["instruction"], vlm.image_size, batch_size, workers)

    def __call__(self, paths: list[str], desc: str) -> torch.Tensor:
        start = time.perf_counter()
        tokens = semantic_table(self.bundle, paths, self.instruction, self.image_size, self.batch_size, self.workers,
                                desc)
        seconds = time.perf_counter() - start
        self.images, self.seconds = self.images + len(paths), self.seconds + seconds
        print(f"{desc}: {len(paths)} images in {seconds:.1f} s ({len(paths) / seconds:.1f} images/s, one VLM "
              f"forward each)")
        return tokens

    def cost(self) -> dict:
        return {"vlm": self.bundle.digest, "images": self.images, "seconds": self.seconds,
                "images_per_s": self.images / self.seconds if self.seconds else None}


def read_tokens(folder: Path, paths: Sequence[str]) -> dict:
    """Stage `semantic`'s table, checked against the training manifest's `paths`; ArtifactErrors name it."""
    path = Path(folder) / TOKENS_FILE
    if (Path(folder) / SKIPPED).exists() or not path.is_file():
        raise ArtifactError(path, "semantic", "is missing (stage semantic computes it when method is lvlm_reid)")
    try:
        table = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise ArtifactError(path, "semantic", f"is unreadable ({reason_of(exc)})") from exc
    if list(table["paths"]) != list(paths):
        raise ArtifactError(path, "semantic", f"holds {len(table['paths'])} images that are not the training "
                                              f"manifest's {len(paths)}")
    return table


def semantic(params: StageParams, io: StageIO) -> None:
    """Stage `semantic`: the training images' semantic tokens when method is lvlm_reid, else a marker."""
    out, vlm = io.outputs, params.vlm
    if params.method != "lvlm_reid":
        reason = f"method is {params.method}: only lvlm_reid reads semantic tokens"
        mark_skipped([out["tokens"]], reason)
        record = {"skipped": True, "reason": reason}
    else:
        require_mllm("method: lvlm_reid")
        check_device("vlm.device", vlm.device)
        check_device("evaluation.device", params.evaluation.device)
        paths = pl.read_parquet(io.inputs["train"], columns=["path"])["path"].to_list()
        bundle = load_vlm(vlm.model, vlm.dtype, vlm.device)
        start = time.perf_counter()
        tokens = semantic_table(bundle, paths, params.lvlm_reid.instruction, tuple(vlm.image_size),
                                params.evaluation.batch_size, params.evaluation.workers, "semantic tokens (train)")
        seconds = time.perf_counter() - start
        folder = Path(out["tokens"])
        folder.mkdir(parents=True, exist_ok=True)
        (folder / SKIPPED).unlink(missing_ok=True)
        atomic_save({"paths": paths, "tokens": tokens, "vlm": bundle.digest,
                     "instruction": params.lvlm_reid.instruction}, folder / TOKENS_FILE)
        record = {"skipped": False, "images": len(paths), "hidden": tokens.shape[1], "seconds": seconds,
                  "images_per_s": len(paths) / seconds, "vlm": bundle.digest}
        print(f"semantic tokens: {len(paths)} training images in {seconds:.1f} s ({len(paths) / seconds:.1f} images/s, "
              f"one VLM forward each)")
    metrics = Path(out["metrics"])
    metrics.parent.mkdir(parents=True, exist_ok=True)
    metrics.write_text(json.dumps(record, indent=2) + "\n")
