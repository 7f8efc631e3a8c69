"""The synthetic multi-domain Re-ID benchmark: configuration and top-level generation.

No real Re-ID dataset can be downloaded in every environment, yet the pipeline must run
end to end and a domain-generalisation method needs domains with a real gap between
them. `generate_benchmark` writes four look-alikes (MA, D, MS, C3) in the exact on-disk
layouts of the real datasets, plus ground-truth part boxes and marker files that tell
ingestion the data is synthetic and how many ids / images / cameras to expect.

Same seed → byte-identical files: every image draws from its own random stream, keyed by
(seed, domain, split, index), so the worker count and process order do not matter.
"""

from __future__ import annotations

import json
import multiprocessing
import shutil
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TypeVar

import cv2
import polars as pl

from reid.synth.config import Synth
from reid.synth.layouts import (
    DATASETS,
    GT_BOXES,
    MARKER,
    MSMT_LISTS,
    SPLITS,
    msmt_lists,
)
from reid.synth.person import PARTS, Box
from reid.synth.plan import Shot, plan_domain
from reid.synth.render import render_shot
from reid.synth.styles import DOMAIN_STYLES
from reid.utils.images import write_image
from reid.utils.progress import progress
from reid.wiring import StageIO, StageParams

GENERATOR = "reid.synth"
J = TypeVar("J")
R = TypeVar("R")


def _render_job(job: tuple[Shot, int, int, int, str]) -> tuple[str, dict[str, Box] | None, int, int]:
    """Render one image and write it; returns (image_id, boxes, width, height)."""
    shot, seed, height, width, dataset_dir = job
    img, boxes = render_shot(shot, seed, height, width)
    write_image(Path(dataset_dir) / shot.relpath, img, shot.camera.jpeg_quality)
    return f"{shot.domain}/{shot.relpath}", boxes, img.shape[1], img.shape[0]


def _init_worker() -> None:
    cv2.setNumThreads(1)


def render_parallel(fn: Callable[[J], R], jobs: list[J], desc: str, workers: int) -> list[R]:
    """`[fn(job) for job in jobs]` in `workers` processes (1 = in this process), with a progress bar.

    The result never depends on `workers`: each job carries its own random stream key.
    """
    if workers <= 1:
        return [fn(job) for job in progress(jobs, desc, total=len(jobs))]
    # forkserver: forking a process whose torch/OpenMP threads are running can deadlock the child
    with multiprocessing.get_context("forkserver").Pool(workers, initializer=_init_worker) as pool:
        return list(progress(pool.imap(fn, jobs, chunksize=32), desc, total=len(jobs)))


def _counts(shots: list[Shot]) -> dict[str, dict[str, int]]:
    """Counting convention of the ingestion summary: junk excluded, distractors one id."""
    out = {}
    for split in SPLITS:
        kept = [s for s in shots if s.split == split and s.kind != "junk"]
        out[split] = {"ids": len({s.pid for s in kept}), "images": len(kept), "cams": len({s.camera.cam for s in kept})}
    return out


def _clear(out_root: Path, domains: tuple[str, ...]) -> None:
    """Remove earlier synthetic output; refuse (before deleting anything) to overwrite a
    folder that holds real data."""
    folders = {key: out_root / files.folder for key, files in DATASETS.items()}
    for key, folder in folders.items():
        if folder.exists() and not (folder / MARKER).is_file() and key in domains:
            raise FileExistsError(
                f"{folder} exists and has no {MARKER}: it looks like a real dataset, which the generator "
                f"will not overwrite. Choose another output folder (synth.out in params.yaml) or move it away."
            )
    for folder in folders.values():
        if (folder / MARKER).is_file():
            shutil.rmtree(folder)


def _gt_frame(results: list[tuple[str, dict[str, Box] | None, int, int]]) -> pl.DataFrame:
    rows = [
        (image_id, part, *boxes[part], w, h)
        for image_id, boxes, w, h in results
        if boxes is not None
        for part in PARTS
    ]
    columns = ["image_id", "part", "x0", "y0", "x1", "y1", "width", "height"]
    schema = dict(zip(columns, [pl.String, pl.String] + [pl.Float64] * 4 + [pl.Int64] * 2, strict=True))
    rank = {p: i for i, p in enumerate(PARTS)}
    frame = pl.DataFrame(rows, schema=schema, orient="row")
    return frame.sort([pl.col("image_id"), pl.col("part").replace_strict(rank, return_dtype=pl.Int8)])


def _write_json(path: Path, payload: dict) -> None:
    path.write_text(json.dumps(payload, indent=2) + "\n")


def generate_benchmark(out_root: Path, config: Synth, domains: Sequence[str] = tuple(DOMAIN_STYLES),
                       workers: int = 2) -> dict[str, dict[str, dict[str, int]]]:
    """Write the look-alikes of `domains` under `out_root`; return {dataset: {split: {ids, images, cams}}}.

    Earlier synthetic output in `out_root` is replaced. `workers` processes render in
    parallel (1 = in this process); the files do not depend on it.
    """
    unknown = [d for d in domains if d not in DOMAIN_STYLES]
    if unknown or not domains or len(set(domains)) != len(domains):
        raise ValueError(f"domains must be distinct keys from {list(DOMAIN_STYLES)} (got {list(domains)})")
    out_root = Path(out_root)
    _clear(out_root, domains)
    plans = {key: plan_domain(key, config) for key in domains}
    counts = {key: _counts(shots) for key, shots in plans.items()}
    for key in plans:  # markers first: an interrupted run is still recognised as synthetic output
        dataset_dir = out_root / DATASETS[key].folder
        dataset_dir.mkdir(parents=True)
        _write_json(dataset_dir / MARKER, {
            "synthetic": True, "generator": GENERATOR, "seed": config.seed, "dataset": key, "counts": counts[key],
        })
    jobs = [
        (shot, config.seed, config.height, config.width, str(out_root / DATASETS[key].folder))
        for key, shots in plans.items()
        for shot in shots
    ]
    results = render_parallel(_render_job, jobs, "synth", workers)

    start = 0
    for key, shots in plans.items():
        dataset_dir = out_root / DATASETS[key].folder
        _gt_frame(results[start:start + len(shots)]).write_parquet(dataset_dir / GT_BOXES)
        start += len(shots)
        if key == "MS":
            lists = msmt_lists([(s.split, s.relpath, s.pid) for s in shots], config.val_per_id)
            for name, lines in lists.items():
                (dataset_dir / MSMT_LISTS[name]).write_text("".join(f"{line}\n" for line in lines))
    _write_json(out_root / MARKER, {
        "synthetic": True, "generator": GENERATOR, "seed": config.seed, "config": {**config.model_dump(exclude={"out"}), "domains": list(domains)},
        "datasets": {key: {"folder": DATASETS[key].folder, "counts": c} for key, c in counts.items()},
    })
    return counts


def synth(params: StageParams, io: StageIO) -> None:
    """Stage `synth`: the benchmark into its declared folder."""
    out = io.outputs["benchmark"]
    counts = generate_benchmark(out, params.synth)
    print(f"wrote synthetic {', '.join(counts)} to {out}")
