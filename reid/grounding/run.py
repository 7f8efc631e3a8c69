"""The grounding pass: pending training images → expert → store; resumable and sharded.

Under `torchrun` every rank builds the same sorted list of pending images (images with
all parts already in the store are skipped), takes `pending[rank::world]`, and appends its
own files to the store; after a barrier rank 0 merges the store into the stage output.
A run killed at any point resumes where it stopped; no image is ever grounded twice.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import polars as pl
import torch
import torch.distributed as dist

from reid.grounding.contact_sheet import contact_sheet
from reid.grounding.experts import Expert, GroundItem, build_expert
from reid.grounding.parts import PARTS, STATUSES, PartResult
from reid.grounding.store import SCHEMA, GroundingStore, sort_rows
from reid.utils.images import ImageError, read_image
from reid.utils.progress import progress

# ranks finish days apart on MSMT17 with CogVLM; the final barrier must outwait the slowest
BARRIER_TIMEOUT = timedelta(days=7)


@dataclass(frozen=True)
class GroundingConfig:
    expert: str = "stripes"
    batch_size: int = 8  # images per expert call (CogVLM: 3 sequences per image)
    expert_params: dict[str, Any] = field(default_factory=dict)
    sheet_images: int = 24

    def __post_init__(self) -> None:
        if self.batch_size < 1:
            raise ValueError(f"grounding.batch_size must be >= 1, got {self.batch_size}")


def with_dataset_dir(train: pl.DataFrame) -> pl.DataFrame:
    """Add `dataset_dir` = the image path with its dataset-relative part removed."""
    return train.with_columns(
        pl.col("path").str.slice(0, pl.col("path").str.len_chars() - pl.col("relpath").str.len_chars())
        .str.strip_chars_end("/\\").alias("dataset_dir")
    )


def pending_images(train: pl.DataFrame, store: GroundingStore) -> pl.DataFrame:
    """Training rows still to ground, sorted by image_id (identical on every rank)."""
    done = store.done_ids()
    return train.filter(~pl.col("image_id").is_in(list(done))).unique("image_id").sort("image_id")


def shard(frame: pl.DataFrame, rank: int, world: int) -> pl.DataFrame:
    """Rank `rank`'s deterministic share of the sorted pending rows."""
    return frame.gather_every(world, offset=rank)


def _error_results(message: str) -> dict[str, PartResult]:
    return {p: PartResult("error", [], "", message) for p in PARTS}


def _ground_batch(expert: Expert, rows: list[dict[str, Any]]) -> tuple[list[dict[str, PartResult]], list[float]]:
    """Results and seconds per image; an unreadable image or a failing call marks only its images."""
    results: list[dict[str, PartResult] | None] = [None] * len(rows)
    items: list[tuple[int, GroundItem]] = []
    for i, r in enumerate(rows):
        rgb = None
        if expert.needs_pixels:
            try:
                rgb = read_image(r["path"])
            except ImageError as exc:
                results[i] = _error_results(f"ImageError: {exc}")
                continue
        items.append((i, GroundItem(r["image_id"], r["dataset"], r["dataset_dir"], r["width"], r["height"], rgb)))
    seconds = [0.0] * len(rows)
    if items:
        start = time.perf_counter()
        try:
            answers = expert.ground([it for _, it in items])
        except Exception:  # one bad image must not sink its batch: retry one by one
            answers = []
            for _, it in items:
                try:
                    answers.extend(expert.ground([it]))
                except Exception as exc:
                    answers.append(_error_results(f"{type(exc).__name__}: {exc}"))
        per_image = (time.perf_counter() - start) / len(items)
        for (i, _), answer in zip(items, answers, strict=True):
            results[i], seconds[i] = answer, per_image
    return results, seconds  # type: ignore[return-value]


def _rows_frame(expert: Expert, rows: list[dict[str, Any]], results: list[dict[str, PartResult]],
                seconds: list[float]) -> pl.DataFrame:
    records = [
        {"image_id": r["image_id"], "dataset": r["dataset"], "part": part, "boxes": [list(b) for b in res[part].boxes],
         "raw": res[part].raw, "status": res[part].status, "message": res[part].message,
         "expert": expert.name, "version": expert.version, "seconds": sec}
        for r, res, sec in zip(rows, results, seconds, strict=True)
        for part in PARTS
    ]
    return pl.DataFrame(records, schema=SCHEMA)


def ground_images(rows: pl.DataFrame, expert: Expert, store: GroundingStore, batch_size: int, rank: int = 0) -> int:
    """Ground `rows` (with `dataset_dir`) batch by batch, one store file per batch; returns images done.

    Batches never mix datasets, since each dataset has its own store folder.
    """
    done = 0
    for (dataset,), group in rows.sort("image_id").partition_by("dataset", as_dict=True, maintain_order=True).items():
        batch: list[dict[str, Any]] = []
        bar = progress(group.iter_rows(named=True), f"ground {expert.name} {dataset} r{rank}", total=group.height)
        for row in bar:
            batch.append(row)
            if len(batch) == batch_size:
                store.append(_rows_frame(expert, batch, *_ground_batch(expert, batch)), dataset, rank)
                done, batch = done + len(batch), []
        if batch:
            store.append(_rows_frame(expert, batch, *_ground_batch(expert, batch)), dataset, rank)
            done += len(batch)
    return done


def failure_summary(boxes: pl.DataFrame) -> dict[str, dict[str, int]]:
    """Counts per status and part: {status: {part: n}}, every status and part listed."""
    counts = boxes.group_by("status", "part").len()
    table = {s: {p: 0 for p in PARTS} for s in STATUSES}
    for status, part, n in counts.iter_rows():
        table[status][part] = n
    return table


def print_summary(table: dict[str, dict[str, int]], expert: Expert) -> None:
    print(f"grounding summary ({expert.name} {expert.version}):")
    print(f"  {'status':<12}" + "".join(f"{p:>8}" for p in PARTS))
    for status, per_part in table.items():
        print(f"  {status:<12}" + "".join(f"{per_part[p]:>8}" for p in PARTS))


def merge_outputs(train: pl.DataFrame, store: GroundingStore, out_path: Path) -> pl.DataFrame:
    """The stage output: the store's rows for the current training images, with image sizes."""
    merged = store.read().join(train.select("image_id", "width", "height").unique("image_id"), on="image_id")
    merged = sort_rows(merged)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    tmp = out_path.with_name(f".{out_path.name}.tmp")
    merged.write_parquet(tmp)
    os.replace(tmp, out_path)
    return merged


def _dist_env() -> tuple[int, int, int]:
    """(rank, world size, local rank) as torchrun sets them; (0, 1, 0) otherwise."""
    return int(os.environ.get("RANK", 0)), int(os.environ.get("WORLD_SIZE", 1)), int(os.environ.get("LOCAL_RANK", 0))


def _init_dist(world: int, local_rank: int) -> bool:
    """Join torchrun's process group (nccl on GPUs, gloo on CPU); True if this call created it."""
    if world == 1 or dist.is_initialized():
        return False
    if torch.cuda.is_available():
        torch.cuda.set_device(local_rank)
        dist.init_process_group("nccl", timeout=BARRIER_TIMEOUT)
    else:
        dist.init_process_group("gloo", timeout=BARRIER_TIMEOUT)
    return True


def _barrier(world: int) -> None:
    if world > 1:
        dist.barrier()


def run_grounding(
    train_path: str | os.PathLike,
    store_root: str | os.PathLike,
    out_path: str | os.PathLike,
    sheet_path: str | os.PathLike,
    summary_path: str | os.PathLike,
    config: GroundingConfig,
    expert: Expert | None = None,
) -> dict[str, Any] | None:
    """Ground every pending training image on this rank's shard; rank 0 writes the outputs.

    Returns the summary on rank 0 (None on other ranks). `expert` overrides building one
    from `config` (tests pass fakes).
    """
    rank, world, local_rank = _dist_env()
    created = _init_dist(world, local_rank)
    try:
        expert = expert or build_expert(config.expert, config.expert_params, local_rank)
        train = with_dataset_dir(pl.read_parquet(train_path))
        store = GroundingStore(store_root, expert.identity())
        if rank == 0:
            store.write_identity()
        pending = pending_images(train, store)
        _barrier(world)  # every rank has listed the same pending images before anyone writes
        mine = shard(pending, rank, world)
        start = time.perf_counter()
        grounded = ground_images(mine, expert, store, config.batch_size, rank)
        elapsed = time.perf_counter() - start
        _barrier(world)
        if rank != 0:
            return None
        merged = merge_outputs(train, store, Path(out_path))
        paths = dict(zip(train["image_id"].to_list(), train["path"].to_list(), strict=True))
        contact_sheet(merged, paths, sheet_path, n=config.sheet_images)
        table = failure_summary(merged)
        print_summary(table, expert)
        missing = train["image_id"].n_unique() - merged["image_id"].n_unique()
        summary = {
            "expert": expert.name, "version": expert.version, "store": str(store.dir),
            "images": merged["image_id"].n_unique(), "missing_images": missing,
            "grounded_this_run_rank0": grounded, "images_per_s_rank0": grounded / elapsed if elapsed > 0 else 0.0,
            "world_size": world, "status": table,
        }
        if missing:
            print(f"warning: {missing} training images have no boxes yet (a rank stopped early?); rerun to finish")
        Path(summary_path).parent.mkdir(parents=True, exist_ok=True)
        Path(summary_path).write_text(json.dumps(summary, indent=2) + "\n")
        return summary
    finally:
        if created:
            dist.destroy_process_group()
