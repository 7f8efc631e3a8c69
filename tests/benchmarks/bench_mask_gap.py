"""What sharper part masks would be worth: a trained MUVA model evaluated with its own predicted
masks and with the ground-truth ones (synthetic data only).

    python -m tests.benchmarks.bench_mask_gap [--model models/muva.pt] [--manifests data/manifests]
                                              [--protocol data/protocol/protocol.json]

Per target: mAP and Rank-1 with 95 % bootstrap intervals over query identities (the evaluate
stage's draws and seeds), once with the RMP's predicted masks gating AM-MSA (what the stage
reports) and once with the synthetic benchmark's true part boxes voted onto the patch grid
(centre rule, SPEC §3) given to the encoder instead, as stage-1 gives it the pseudo-labels.
The difference is the headroom of mask prediction; the predicted masks' IoU is printed beside it.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import polars as pl
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader

from reid.config.load import load_config
from reid.data.loading import ImageSet, Preprocess
from reid.data.manifest import read_manifest
from reid.evaluation.bootstrap import average_draws
from reid.evaluation.config import Evaluation
from reid.evaluation.extract import extract, predicts_masks
from reid.evaluation.mask_iou import box_mask_iou
from reid.evaluation.metrics import evaluate_features
from reid.evaluation.record import CI_LEVEL
from reid.evaluation.run import load_model, load_protocol, split_test, target_draws
from reid.grounding.parts import PARTS
from reid.masks.report import truth_boxes
from reid.masks.voting import vote
from reid.model.muva import ReidEncoder
from reid.utils.device import resolve_device


def true_mask_features(encoder: ReidEncoder, paths: list[str], masks: torch.Tensor, device: torch.device,
                       batch_size: int = 128) -> torch.Tensor:
    """L2-normalised retrieval features [N, F] with `masks` [N, 3, Npatch] gating AM-MSA instead of the RMP."""
    loader = DataLoader(ImageSet(paths, Preprocess.for_model(encoder.config)), batch_size=batch_size)
    out = torch.empty(len(paths), encoder.config.feature_dim)
    with torch.inference_mode():
        for images, index in loader:
            feats = encoder.features(images.to(device), masks[index].to(device)).retrieval
            out[index] = F.normalize(feats.float(), dim=-1).cpu()
    return out


def score(q: torch.Tensor, g: torch.Tensor, query: pl.DataFrame, gallery: pl.DataFrame, target: str,
          config: Evaluation):
    """The evaluator's metrics and the stage's bootstrap draws of one target."""
    metrics = evaluate_features(q, g, query["pid"].to_numpy(), gallery["pid"].to_numpy(),
                                query["camid"].to_numpy(), gallery["camid"].to_numpy())
    return metrics, target_draws(metrics, query, target, config)


def shown(metrics_mAP: float, draws) -> str:
    ci = draws.intervals(CI_LEVEL)["mAP"]
    return f"{100 * metrics_mAP:5.1f} [{100 * ci.low:.1f}, {100 * ci.high:.1f}]"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", type=Path, default=Path("models/muva.pt"))
    parser.add_argument("--manifests", type=Path, default=Path("data/manifests"))
    parser.add_argument("--protocol", type=Path, default=Path("data/protocol/protocol.json"))
    parser.add_argument("--params", type=Path, default=Path("params.yaml"), help="its evaluation section")
    args = parser.parse_args()
    device = resolve_device("auto")
    encoder = load_model(args.model, device)
    if not predicts_masks(encoder.config):
        raise SystemExit(f"{args.model} predicts no part masks (parts {list(encoder.config.parts)}): nothing to compare")
    config: Evaluation = load_config(args.params).evaluation
    maps: dict[str, list[float]] = {"predicted": [], "true": []}
    draws: dict[str, list] = {"predicted": [], "true": []}
    print(f"{args.model}: mAP % [95 % interval] with predicted vs true part masks")
    for target in load_protocol(args.protocol)["targets"]:
        query, gallery = split_test(read_manifest(args.manifests, target), target)
        rows = pl.concat([query, gallery])
        boxes = truth_boxes(rows, PARTS)
        if boxes is None:
            raise SystemExit(f"{target} has no ground-truth part boxes (gt_boxes.parquet): synthetic data only")
        paths, n = rows["path"].to_list(), query.height
        out = extract(encoder, paths, device=device, desc=f"{target} predicted masks", with_masks=True)
        iou = box_mask_iou(out.part_masks.numpy(), boxes[:, [PARTS.index(p) for p in encoder.config.parts]],
                           encoder.config.grid, encoder.config.parts)
        masks = torch.from_numpy(vote(np.nan_to_num(boxes, nan=-1.0), encoder.config.grid, rule="centre"))
        truth = true_mask_features(encoder, paths, masks.float(), device)
        pm, pd = score(out.features[:n], out.features[n:], query, gallery, target, config)
        tm, td = score(truth[:n], truth[n:], query, gallery, target, config)
        for name, m, d in (("predicted", pm, pd), ("true", tm, td)):
            maps[name].append(m.mAP)
            draws[name].append(d)
        print(f"{target}: predicted {shown(pm.mAP, pd)}   true {shown(tm.mAP, td)}   gap {100 * (tm.mAP - pm.mAP):+.1f}   "
              f"IoU " + " / ".join(f"{p} {iou.get(p, float('nan')):.2f}" for p in encoder.config.parts)
              + f"   ({pm.num_valid} queries)")
    for name in maps:
        ci = average_draws(draws[name]).intervals(CI_LEVEL)["mAP"]
        print(f"average with {name} masks: {100 * float(np.mean(maps[name])):.1f} [{100 * ci.low:.1f}, {100 * ci.high:.1f}]")


if __name__ == "__main__":
    main()
