"""Has the demo's prior learnt the attribute words? Zero-shot checks on held-out captioned people.

    python tests/benchmarks/bench_zero_shot.py [--checkpoint models/pretrain/clip.pt] [--pairs data/pretrain]
    python tests/benchmarks/bench_zero_shot.py --random     # the same checks on an untrained CLIP

Prints (1) text→image retrieval with the held-out captions (Recall@1/5/10 against chance: a
hit is any image of the caption's person) and (2) zero-shot attribute classification: every
held-out image is labelled with the value whose prompt ("a photo of a person with a
backpack", "… in a red top") its embedding is closest to, against the majority-class rate.
The held-out identities were never seen in pre-training (`pretrain.data.test_identities`).
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import numpy as np
import open_clip
import polars as pl
import torch
import torch.nn.functional as F

from reid.data.loading import Preprocess
from reid.pretrain.data import CaptionSet, tokenize
from reid.pretrain.train import PIXEL_MEAN, PIXEL_STD, clip_input_size, zero_shot

PROMPTS = {  # attribute field → prompt of a value
    "shirt_colour": "a photo of a person in a {} top",
    "legwear_colour": "a photo of a person in {} trousers",
    "shoes_colour": "a photo of a person with {} shoes",
    "hair_colour": "a photo of a person with {} hair",
    "legwear": "a photo of a person in {}",
    "sleeves": "a photo of a person in a {} top",
    "shirt_pattern": "a photo of a person in a {} top",
    "bag": "a photo of a person with a {}",
}


@torch.no_grad()
def attribute_accuracy(model: open_clip.CLIP, image_features: torch.Tensor, test: pl.DataFrame,
                       context: int) -> list[tuple[str, int, float, float]]:
    """(field, number of values, zero-shot accuracy, majority rate) per attribute field."""
    rows = []
    images = F.normalize(image_features, dim=1)
    for field, template in PROMPTS.items():
        values = sorted(v for v in test[field].unique().to_list() if v != "none" or field == "bag")
        texts = [template.format("bag" if v == "none" else v).replace("with a bag", "without a bag") for v in values]
        text = F.normalize(model.encode_text(tokenize(texts, context)).float(), dim=1)
        predicted = np.array(values)[(images @ text.t()).argmax(1).numpy()]
        truth = test[field].to_numpy()
        known = truth != "none" if field != "bag" else np.ones(len(truth), bool)
        majority = max(np.mean(truth[known] == v) for v in values)
        rows.append((field, len(values), float(np.mean(predicted[known] == truth[known])), float(majority)))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", type=Path, default=Path("models/pretrain/clip.pt"))
    parser.add_argument("--pairs", type=Path, default=Path("data/pretrain"), help="the pretrain stage's data folder")
    parser.add_argument("--random", action="store_true", help="an untrained CLIP of the same config (the floor)")
    args = parser.parse_args()
    os.environ.setdefault("REID_NO_PROGRESS", "1")
    payload = torch.load(args.checkpoint, map_location="cpu", weights_only=True)
    clip_config = payload["clip_config"]
    torch.manual_seed(0)
    model = open_clip.CLIP(**clip_config)
    if not args.random:
        model.load_state_dict(payload["state_dict"])
    model.eval()
    test = pl.read_parquet(args.pairs / "captions.parquet").filter(pl.col("split") == "test")
    paths = [str(args.pairs / p) for p in test["path"].to_list()]
    context = clip_config["text_cfg"]["context_length"]
    images = CaptionSet(paths, tokenize(test["caption"].to_list(), context),
                        Preprocess(clip_input_size(clip_config), PIXEL_MEAN, PIXEL_STD))
    result = zero_shot(model, images, test["identity"].to_numpy(), torch.device("cpu"), 128, 2)
    print(f"{'untrained' if args.random else args.checkpoint}: {test['identity'].n_unique()} held-out people, "
          f"{test.height} images")
    print("text→image retrieval (hit = any image of the caption's person):")
    for k in (1, 5):
        print(f"  Recall@{k}: {100 * result.recall[k]:5.1f} %   chance {100 * result.chance[k]:4.1f} %")
    with torch.no_grad():
        x = torch.stack([images[i][0] for i in range(len(images))])
        feats = torch.cat([model.encode_image(x[i:i + 128]).float() for i in range(0, len(x), 128)])
    print("zero-shot attribute classification (held-out images):")
    print(f"  {'attribute':<15} {'values':>6} {'accuracy':>9} {'majority':>9}")
    for field, n, acc, majority in attribute_accuracy(model, feats, test, context):
        print(f"  {field:<15} {n:>6} {100 * acc:>8.1f}% {100 * majority:>8.1f}%")


if __name__ == "__main__":
    main()
