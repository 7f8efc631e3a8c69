"""The grounding pass: pending training images → expert → store; resumable and sharded.

Under `torchrun` every rank builds the same sorted list of pending images, takes
`pending[rank::world]`, and appends its own files to the store; after a barrier rank 0
compacts the store and merges it into the stage output. Pending = no answer for some part
yet, or an `error` answer (the expert call or the image read failed) with attempts left
(`max_attempts`); `ok`, `no_box` and `parse_error` are answers and are never asked again.
A run killed at any point resumes where it stopped; an answered image is never grounded
twice. Before anything is written rank 0 sets aside unreadable store files (their images
become pending). A run that ends with more than `max_error_fraction` of the images in
`error` fails with a `ReidError`, after the store and the outputs are written.
"""

from __future__ import annotations

import json
import os
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import polars as pl

from reid.config.checks import check_device
from reid.engine.distributed import barrier, init_distributed, shutdown
from reid.errors import ReidError
from reid.grounding.config import Grounding
from reid.grounding.contact_sheet import contact_sheet
from reid.grounding.experts import Expert, GroundItem, build_expert
from reid.grounding.parts import PARTS, STATUSES, PartResult
from reid.grounding.store import SCHEMA, GroundingStore, image_state, sort_rows
from reid.utils.files import check_writable, check_writable_tree
from reid.utils.images import ImageError, read_image
from reid.utils.progress import progress
from reid.wiring import StageIO, StageParams

# ranks finish days apart on MSMT17 with CogVLM; the final barrier must outwait the slowest
BARRIER_TIMEOUT = timedelta(days=7)
ERROR_SAMPLES = 3  # error messages quoted in warnings and in the threshold failure
# the status names in metrics/grounding.json: a key named `error` makes `dvc metrics show`
# report the file as failed to load (it looks for that key at any depth)
METRIC_STATUS = {"ok": "ok", "no_box": "no_box", "parse_error": "parse_error", "error": "failed"}


def with_dataset_dir(train: pl.DataFrame) -> pl.DataFrame:
    """Add `dataset_dir` = the image path with its dataset-relative part removed."""
    return train.with_columns(
        pl.col("path").str.slice(0, pl.col("path").str.len_chars() - pl.col("relpath").str.len_chars())
        .str.strip_chars_end("/\\").alias("dataset_dir")
    )


def check_expert_data(expert: Expert, train: pl.DataFrame) -> None:
    """Let the expert refuse data it cannot ground (the oracle needs ground truth) before any work."""
    check = getattr(expert, "check_data", None)
    if check is not None:
        check(sorted(train["dataset_dir"].unique().to_list()))


def pending_images(train: pl.DataFrame, answers: pl.DataFrame, max_attempts: int) -> pl.DataFrame:
    """Training rows still to ground with their `attempt` number, sorted by image_id (same on every rank).

    `answers` is the merged store; an image is pending when some part has no answer, or when
    an answer is `error` and the image has had fewer than `max_attempts` attempts.
    """
    state = image_state(answers)
    rows = train.unique("image_id").join(state, on="image_id", how="left")
    todo = (pl.col("parts").fill_null(0) < len(PARTS)) | (pl.col("failed") & (pl.col("attempt") < max_attempts))
    rows = rows.filter(todo).with_columns((pl.col("attempt").fill_null(0) + 1).cast(pl.Int32))
    return rows.drop("parts", "failed").sort("image_id")


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
         "expert": expert.name, "version": expert.version, "seconds": sec, "attempt": r.get("attempt", 1)}
        for r, res, sec in zip(rows, results, seconds, strict=True)
        for part in PARTS
    ]
    return pl.DataFrame(records, schema=SCHEMA)


def ground_images(rows: pl.DataFrame, expert: Expert, store: GroundingStore, batch_size: int, rank: int = 0) -> int:
    """Ground `rows` (with `dataset_dir`, and `attempt`: 1 if absent) batch by batch, one store file
    per batch; returns images done. Batches never mix datasets, since each dataset has its own store folder.
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


def failed_images(merged: pl.DataFrame, paths: dict[str, str], max_attempts: int) -> dict[str, Any]:
    """The images whose latest answer has an `error` part: count, how many used every attempt, samples."""
    rows = (merged.filter(pl.col("status") == "error").sort("image_id")
            .unique("image_id", keep="first", maintain_order=True))
    samples = [f"{paths.get(i, i)}: {' '.join(m.split())[:200]}"
               for i, m in rows.head(ERROR_SAMPLES).select("image_id", "message").iter_rows()]
    return {"images": rows.height, "out_of_attempts": rows.filter(pl.col("attempt") >= max_attempts).height,
            "samples": samples}


def print_summary(table: dict[str, dict[str, int]], expert: Expert) -> None:
    print(f"grounding summary ({expert.name} {expert.version}):")
    print(f"  {'status':<12}" + "".join(f"{p:>8}" for p in PARTS))
    for status, per_part in table.items():
        print(f"  {status:<12}" + "".join(f"{per_part[p]:>8}" for p in PARTS))


def merge_outputs(train: pl.DataFrame, store: GroundingStore, out_path: Path) -> pl.DataFrame:
    """The stage output: the store's latest rows for the current training images, with image sizes."""
    merged = store.read().join(train.select("image_id", "width", "height").unique("image_id"), on="image_id")
    merged = sort_rows(merged)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    tmp = out_path.with_name(f".{out_path.name}.tmp")
    merged.write_parquet(tmp)
    os.replace(tmp, out_path)
    return merged


def _failure_report(failed: dict[str, Any], total: int, fraction: float, config: Grounding) -> str:
    """One line: how many images are in `error` against the threshold, the first messages, what to do."""
    left = failed["images"] - failed["out_of_attempts"]
    line = (f"{failed['images']} of {total} images ({fraction:.1%}) have status error "
            f"(threshold grounding.max_error_fraction = {config.max_error_fraction:g}); "
            f"first: {'; '.join(failed['samples'])}; all answers so far are kept in the store")
    if left:
        line += f"; a rerun grounds only the {left} with attempts left (grounding.max_attempts = {config.max_attempts})"
    if failed["out_of_attempts"]:
        line += (f"; {failed['out_of_attempts']} used all grounding.max_attempts = {config.max_attempts} attempts: "
                 f"fix their cause, then raise grounding.max_attempts to retry them")
    return line


def run_grounding(
    train_path: str | os.PathLike,
    store_root: str | os.PathLike,
    out_path: str | os.PathLike,
    sheet_path: str | os.PathLike,
    summary_path: str | os.PathLike,
    config: Grounding,
    expert: Expert | None = None,
) -> dict[str, Any] | None:
    """Ground every pending training image on this rank's shard; rank 0 writes the outputs.

    Returns the summary on rank 0 (None on other ranks). `expert` overrides building one
    from `config` (tests pass fakes). Raises `ReidError` (on rank 0, after writing the store
    and the outputs) when more than `config.max_error_fraction` of the images end in `error`.
    """
    if expert is None and config.expert == "cogvlm":
        check_device("grounding.cogvlm.device", config.cogvlm.device)
    check_writable_tree(store_root, "the grounding store", "give reid ground --store another folder")
    check_writable(sorted({Path(p).parent for p in (out_path, sheet_path, summary_path)}), "the ground stage's output "
                   "folder", "write the outputs elsewhere (reid ground --boxes, --sheet, --metrics)")
    ctx = init_distributed("auto", timeout=BARRIER_TIMEOUT)
    rank, world = ctx.rank, ctx.world
    try:
        expert = expert or build_expert(config, ctx.local_rank)
        train = with_dataset_dir(pl.read_parquet(train_path))
        check_expert_data(expert, train)
        store = GroundingStore(store_root, expert.identity())
        if rank == 0:
            store.write_identity()
            answers = store.read(set_aside_corrupt=True)
        barrier(ctx)  # rank 0 has set unreadable files aside before anyone lists the store
        if rank != 0:
            answers = store.read()
        pending = pending_images(train, answers, config.max_attempts)
        barrier(ctx)  # every rank has listed the same pending images before anyone writes
        mine = shard(pending, rank, world)
        start = time.perf_counter()
        grounded = ground_images(mine, expert, store, config.batch_size, rank)
        retried = mine.filter(pl.col("attempt") > 1).height
        elapsed = time.perf_counter() - start
        barrier(ctx)
        if rank != 0:
            return None
        store.compact()
        merged = merge_outputs(train, store, Path(out_path))
        paths = dict(zip(train["image_id"].to_list(), train["path"].to_list(), strict=True))
        contact_sheet(merged, paths, sheet_path, n=config.sheet_images)
        table = failure_summary(merged)
        print_summary(table, expert)
        total = train["image_id"].n_unique()
        missing = total - merged["image_id"].n_unique()
        failed = failed_images(merged, paths, config.max_attempts)
        fraction = failed["images"] / total if total else 0.0
        by_attempt = merged.group_by("image_id").agg(pl.col("attempt").max())["attempt"].value_counts()
        by_attempt = dict(by_attempt.iter_rows())
        summary = {
            "expert": expert.name, "version": expert.version, "store": str(store.dir),
            "images": merged["image_id"].n_unique(), "missing_images": missing,
            "grounded_this_run_rank0": grounded, "retried_this_run_rank0": retried,
            "images_per_s_rank0": grounded / elapsed if elapsed > 0 else 0.0, "world_size": world,
            "answers": {METRIC_STATUS[s]: per_part for s, per_part in table.items()},
            "failed_images": failed["images"], "failed_fraction": fraction,
            "failed_out_of_attempts": failed["out_of_attempts"],
            "images_by_attempt": {str(a): by_attempt.get(a, 0)
                                  for a in range(1, max([config.max_attempts, *by_attempt]) + 1)},
        }
        if missing:
            print(f"warning: {missing} training images have no boxes yet (a rank stopped early?); rerun to finish")
        Path(summary_path).parent.mkdir(parents=True, exist_ok=True)
        Path(summary_path).write_text(json.dumps(summary, indent=2) + "\n")
        if failed["images"]:
            report = _failure_report(failed, total, fraction, config)
            if fraction > config.max_error_fraction:
                raise ReidError(f"grounding failed: {report}")
            retry = ("; to retry them now: dvc repro -s -f ground, then dvc repro (DVC sees the stage as up to date; "
                     "-s leaves the stages before it alone)")
            print(f"warning: {report}{retry if failed['images'] > failed['out_of_attempts'] else ''}")
        return summary
    finally:
        shutdown(ctx)


def ground(params: StageParams, io: StageIO) -> None:
    """Stage `ground` (under torchrun, every rank runs it)."""
    out = io.outputs
    run_grounding(io.inputs["train"], out["store"], out["boxes"], out["sheet"], out["metrics"],
                  params.grounding)
