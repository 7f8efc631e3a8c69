"""What a person checks after calibration: counts, thresholds, Fig. 5 histograms, IoU with truth."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import polars as pl

from reid.masks.boxes import PartBoxes
from reid.masks.calibration import Calibrated, box_stats
from reid.synth.layouts import GT_BOXES, read_gt_boxes

HEIGHT_BINS = np.linspace(0.0, 1.0, 51)


def replacement_counts(calibrated: Calibrated, parts: tuple[str, ...]) -> dict[str, dict[str, int]]:
    """Per part: how many boxes were kept and how many replaced, by reason."""
    out = {}
    for j, part in enumerate(parts):
        reasons, counts = np.unique(calibrated.reason[:, j].astype(str), return_counts=True)
        out[part] = {("kept" if r == "" else r): int(c) for r, c in zip(reasons, counts)}
    return out


def height_histograms(raw: PartBoxes, calibrated: Calibrated) -> pl.DataFrame:
    """Counts of box heights per part before and after calibration (the paper's Fig. 5 data)."""
    before, after = box_stats(raw.boxes)["height"], box_stats(calibrated.boxes)["height"]
    data = {"height": (HEIGHT_BINS[:-1] + HEIGHT_BINS[1:]) / 2}
    for j, part in enumerate(raw.parts):
        for name, values in (("before", before[:, j]), ("after", after[:, j])):
            data[f"{part}_{name}"] = np.histogram(values[np.isfinite(values)], bins=HEIGHT_BINS)[0]
    return pl.DataFrame(data)


def plot_height_histograms(hist: pl.DataFrame, parts: tuple[str, ...], calibrated: Calibrated, path: Path) -> None:
    """One panel per part: heights before (grey) and after (colour) calibration, with thresholds."""
    fig, axes = plt.subplots(1, len(parts), figsize=(4.2 * len(parts), 3.2), squeeze=False)
    width = HEIGHT_BINS[1] - HEIGHT_BINS[0]
    for ax, part in zip(axes[0], parts):
        ax.bar(hist["height"], hist[f"{part}_before"], width=width, color="0.6", label="before")
        ax.bar(hist["height"], hist[f"{part}_after"], width=width * 0.5, color="tab:blue", label="after")
        for bound in calibrated.thresholds.get(part, {}).get("height", []):
            if np.isfinite(bound):
                ax.axvline(bound, color="tab:red", linestyle="--", linewidth=1)
        ax.set_title(f"{part}: box height")
        ax.set_xlabel("height / image height")
        ax.set_yscale("symlog")
    axes[0][0].set_ylabel("boxes")
    axes[0][0].legend()
    fig.tight_layout()
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU of boxes [..., 4]; 0 where either box is missing (NaN)."""
    iw = np.clip(np.minimum(a[..., 2], b[..., 2]) - np.maximum(a[..., 0], b[..., 0]), 0, None)
    ih = np.clip(np.minimum(a[..., 3], b[..., 3]) - np.maximum(a[..., 1], b[..., 1]), 0, None)
    inter = iw * ih
    union = box_stats(a)["area"] + box_stats(b)["area"] - inter
    return np.nan_to_num(inter / union, nan=0.0)


def mean_iou(boxes: np.ndarray, truth: np.ndarray, parts: tuple[str, ...]) -> dict[str, float]:
    """Mean IoU per part (and over parts) on the images that have a true box."""
    has_truth = np.isfinite(truth).all(axis=-1)
    scores = iou(boxes, truth)
    out = {part: float(scores[has_truth[:, j], j].mean()) for j, part in enumerate(parts) if has_truth[:, j].any()}
    if out:
        out["mean"] = float(np.mean(list(out.values())))
    return out


def truth_boxes(train: pl.DataFrame, parts: tuple[str, ...]) -> np.ndarray | None:
    """Normalised ground-truth boxes [N, P, 4] of the training images, if their datasets have them."""
    dirs = train.select(
        pl.col("path").str.slice(0, pl.col("path").str.len_chars() - pl.col("relpath").str.len_chars()).alias("dir")
    )["dir"].unique()
    if not all((Path(d) / GT_BOXES).is_file() for d in dirs):
        return None
    gt = pl.concat([read_gt_boxes(Path(d)) for d in dirs])
    index = {image_id: i for i, image_id in enumerate(train["image_id"])}
    part_index = {p: j for j, p in enumerate(parts)}
    gt = gt.filter(pl.col("image_id").is_in(list(index)) & pl.col("part").is_in(list(parts)))
    out = np.full((train.height, len(parts), 4), np.nan)
    i = np.array([index[x] for x in gt["image_id"]], dtype=np.int64)
    j = np.array([part_index[p] for p in gt["part"]], dtype=np.int64)
    out[i, j] = gt.select("x0", "y0", "x1", "y1").to_numpy()
    return out
