"""The zero-shot check of the VLM prior (and, with --adapter, of MUSE's judge), on held-out captioned people.

    python -m tests.benchmarks.bench_vlm [--model models/vlm] [--adapter models/muse] [--ids 50] [--pairs 400]

Two figures, both on identities of the captioned pool that the prior never trained on (split "test"):
- caption → image retrieval: each of `--ids` people's caption scored against one image of every one of
  them by the caption's log-likelihood given the image (teacher-forced); R@1 / R@5 against chance, and
  how much more likely a caption is under its own image than under another's (0 = the image is ignored);
- Yes/No accuracy on `--pairs` pairs (half same identity, half not): μ = p("No") < 0.5 answers Yes. The
  prior was never asked this question, so about chance is expected of it; the judge (--adapter) learnt
  it on the source domain's pairs, so this is its transfer to another look.
Prints seconds per pair / per scored caption, the cost of one VLM forward pass here.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import polars as pl
import torch
from torch.utils.data import DataLoader

from reid.muse.sft import load_judge, pair_mu, pair_set
from reid.synth.captioned import CAPTIONS
from reid.vlm.inputs import IGNORE, Collate, ImageTuples, Question, model_inputs
from reid.vlm.load import load_vlm
from reid.vlm.prompts import CAPTION_INSTRUCTION, NO, YES, image_messages
from reid.vlm.run import read_captions
from tests.kit.params import section


@torch.no_grad()
def caption_scores(bundle, images: list[str], captions: list[str], size: tuple[int, int], batch: int) -> np.ndarray:
    """[captions, images] summed log-likelihood of each caption given each image."""
    pairs = [(c, i) for c in range(len(captions)) for i in range(len(images))]
    data = ImageTuples([[images[i]] for _, i in pairs], size, [captions[c] for c, _ in pairs])
    collate = Collate(bundle.processor, Question(image_messages(CAPTION_INSTRUCTION), train=True))
    out = []
    for b in DataLoader(data, batch_size=batch, collate_fn=collate):
        logits = bundle.model(**model_inputs(b, bundle.device, bundle.dtype)).logits[:, :-1].float()
        labels = b["labels"][:, 1:].to(bundle.device)
        logp = torch.log_softmax(logits, -1).gather(-1, labels.clamp_min(0)[..., None])[..., 0]
        out.append((logp * (labels != IGNORE)).sum(1).cpu())
    return torch.cat(out).view(len(captions), len(images)).numpy()


def held_out_pairs(test: pl.DataFrame, n: int, seed: int) -> pl.DataFrame:
    """n pairs of held-out images, half of one identity, half of two."""
    rng = np.random.default_rng(seed)
    by_id = {k: g["path"].to_list() for k, g in test.group_by("identity")}
    keys = [k for k, v in by_id.items() if len(v) >= 2]
    rows = []
    for j in range(n):
        if j % 2 == 0:
            a, b = rng.choice(by_id[keys[rng.integers(len(keys))]], 2, replace=False)
            rows.append((a, b, YES))
        else:
            x, y = rng.choice(len(keys), 2, replace=False)
            rows.append((by_id[keys[x]][0], by_id[keys[y]][0], NO))
    return pl.DataFrame(rows, schema=["query_path", "candidate_path", "answer"], orient="row")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="models/vlm")
    parser.add_argument("--adapter", default=None)
    parser.add_argument("--data", default="data/pretrain")
    parser.add_argument("--ids", type=int, default=50)
    parser.add_argument("--pairs", type=int, default=400)
    parser.add_argument("--batch", type=int, default=50)
    args = parser.parse_args()
    vlm = section("vlm", model=args.model, device="cpu")
    size = tuple(vlm.image_size)
    test = read_captions(Path(args.data)).filter(pl.col("split") == "test")
    first = test.unique("identity", keep="first", maintain_order=True).head(args.ids)
    bundle = load_vlm(args.model, device="cpu")
    began = time.perf_counter()
    scores = caption_scores(bundle, first["path"].to_list(), first["caption"].to_list(), size, args.batch)
    per_caption = (time.perf_counter() - began) / scores.size
    rank = (scores > scores.diagonal()[:, None]).sum(1)  # images scored above the true one
    print(f"caption -> image retrieval over {len(first)} held-out people (from {CAPTIONS}): "
          f"R@1 {100 * (rank < 1).mean():.1f} %  R@5 {100 * (rank < 5).mean():.1f} %  "
          f"(chance {100 / len(first):.1f} % / {500 / len(first):.1f} %), {1000 * per_caption:.1f} ms per scored caption")
    others = (scores.sum(1) - scores.diagonal()) / (len(first) - 1)
    print(f"image use: a caption's log-likelihood given its own image minus given another person's, "
          f"{(scores.diagonal() - others).mean():+.3f} nats on average (0 = the prior ignores the image)")
    pairs = held_out_pairs(test, args.pairs, seed=0)
    for name, judge in (("prior", bundle), *((("judge", load_judge(vlm, args.adapter)),) if args.adapter else ())):
        began = time.perf_counter()
        mu = pair_mu(judge, pair_set(pairs, size, answers=False), args.batch, 0, tau=1.0, desc=f"{name} pairs")
        seconds = (time.perf_counter() - began) / pairs.height
        right = (mu < 0.5) == (pairs["answer"].to_numpy() == YES)
        low, high = np.quantile(np.random.default_rng(0).choice(right, (1000, len(right))).mean(1), [0.025, 0.975])
        print(f"{name}: Yes/No accuracy on {pairs.height} held-out pairs {100 * right.mean():.1f} % "
              f"[{100 * low:.1f}, {100 * high:.1f}] (chance 50 %), mean mu {mu.mean():.3f}, "
              f"{1000 * seconds:.1f} ms per pair")


if __name__ == "__main__":
    main()
