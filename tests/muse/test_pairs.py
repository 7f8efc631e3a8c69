"""MUSE's hard-pair mining: the least similar positives and most similar negatives, by hand."""

import polars as pl
import torch

from reid.muse.pairs import mine_pairs, pair_counts
from tests.kit.params import section


def frame(labels):
    return pl.DataFrame({"path": [f"img{i}.png" for i in range(len(labels))], "label": labels})


def unit(*angles):
    a = torch.tensor(angles, dtype=torch.float64)
    return torch.stack([a.cos(), a.sin()], dim=1).float()


def test_each_anchor_gets_its_least_similar_positives_and_most_similar_negatives():
    # identity 0 at angles 0, 0.1, 0.5; identity 1 at 0.3, 1.0; identity 2 at 2.0
    feats = unit(0.0, 0.1, 0.5, 0.3, 1.0, 2.0)
    config = section("muse", pairs={"k": 1, "val_id_ratio": 0.01, "truncate": 1.0, "seed": 0}).pairs
    pairs = mine_pairs(frame([0, 0, 0, 1, 1, 2]), feats, config)
    got = {(r["query_path"], r["answer"]): r["candidate_path"] for r in pairs.iter_rows(named=True)}
    # anchor 0: farthest positive is 0.5 (img2); nearest negative is 0.3 (img3)
    assert got[("img0.png", "Yes")] == "img2.png" and got[("img0.png", "No")] == "img3.png"
    # anchor 4 (1.0, identity 1): its only positive is img3; nearest other identity is 0.5 (img2)
    assert got[("img4.png", "Yes")] == "img3.png" and got[("img4.png", "No")] == "img2.png"
    # anchor 5 is alone: no positive, one negative (1.0, img4)
    assert ("img5.png", "Yes") not in got and got[("img5.png", "No")] == "img4.png"
    assert pairs.height == 5 + 6 and (pairs["split"] == "train").all()  # 5 anchors with a positive, 6 negatives


def test_identities_split_for_validation_and_training_pairs_truncated():
    labels = [i // 4 for i in range(40)]  # 10 identities x 4
    feats = torch.nn.functional.normalize(torch.randn(40, 8, generator=torch.Generator().manual_seed(0)), dim=1)
    config = section("muse", pairs={"k": 2, "val_id_ratio": 0.3, "truncate": 0.5, "seed": 1}).pairs
    pairs = mine_pairs(frame(labels), feats, config)
    val = pairs.filter(pl.col("split") == "val")
    assert val["query_label"].n_unique() == 3 and val.height == 3 * 4 * 4  # every val anchor: 2 Yes + 2 No
    train_ids = set(pairs.filter(pl.col("split") == "train")["query_label"].to_list())
    assert not train_ids & set(val["query_label"].to_list())
    assert pairs.filter(pl.col("split") == "train").height == round(0.5 * 7 * 4 * 4)
    counts = pair_counts(pairs)
    assert counts["val"] == {"Yes": 24, "No": 24}
    assert (pairs["answer"] == "Yes").to_list() == (pairs["query_label"] == pairs["candidate_label"]).to_list()
    assert mine_pairs(frame(labels), feats, config).equals(pairs)  # seeded
