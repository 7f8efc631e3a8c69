"""MUSE end to end on tiny stand-ins: SFT of LoRA adapters, the judge, the μ store (resume, kill -9), fusion."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from safetensors import safe_open
import torch

from reid.evaluation.metrics import evaluate_distances
from reid.muse.evaluate import MuseRankings
from reid.muse.mu import candidate_pairs, fill_store, judge_into, lookup, missing_pairs, shard, top_candidates
from reid.muse.pairs import mine_pairs
from reid.muse.sft import load_judge, pair_mu, pair_set, run_sft
from reid.muse.store import MuStore, mu_identity
from tests.kit.params import section
from tests.muse.kit import people, tiny_vlm, tiny_vlm_section

ROOT = Path(__file__).resolve().parents[2]


def muse_section(**overrides):
    return section("muse", **{"enabled": True, "pairs": {"k": 2, "val_id_ratio": 0.25, "truncate": 1.0, "seed": 0},
                              "sft": {"epochs": 2, "batch_size": 8, "lr": 2e-3, "workers": 0, "check_pairs": None},
                              "topk": 3, "batch_size": 4, **overrides})


def noisy_features(frame: pl.DataFrame, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    labels = torch.tensor(frame["label"].to_list())
    return torch.nn.functional.normalize(torch.randn(frame.height, 16, generator=g) +
                                         1.5 * torch.nn.functional.one_hot(labels, 16), dim=1)


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    root = tmp_path_factory.mktemp("muse")
    train = people(root / "img", ids=8, per_id=4)
    muse = muse_section()
    pairs = mine_pairs(train, noisy_features(train), muse.pairs)
    vlm = tiny_vlm_section(tiny_vlm(root / "vlm"))
    record = run_sft(pairs, vlm, muse.sft, root / "adapter", root / "state", root / "live")
    return root, train, pairs, vlm, muse, record


def test_sft_trains_only_the_adapters_and_saves_them(world):
    root, _, pairs, vlm, muse, record = world
    assert record["pairs"] == {"train": int((pairs["split"] == "train").sum()), "checked": 32}
    assert 0 < record["trainable_parameters"] < 30_000  # LoRA r 16 on a 64-wide model; the base has ~300 k
    assert (root / "adapter" / "adapter_config.json").is_file() and (root / "adapter" / "base.json").is_file()
    with safe_open(root / "adapter" / "adapter_model.safetensors", "pt") as saved:  # train_head: the head goes too
        assert muse.sft.train_head and any("lm_head" in k for k in saved.keys())
    judge = load_judge(vlm, root / "adapter")
    mu = pair_mu(judge, pair_set(pairs.head(6), vlm.image_size, answers=False), 4, 0, tau=1.0)
    assert mu.shape == (6,) and ((mu > 0) & (mu < 1)).all()
    assert judge.digest.startswith(record["base_digest"] + "+")


def targets(root: Path):
    query = people(root / "q", ids=5, per_id=1, seed=1).with_columns(pl.concat_str(pl.lit("q"), "image_id").alias("image_id"))
    gallery = people(root / "g", ids=5, per_id=3, seed=2)
    return query, gallery


def test_the_store_is_resumed_and_never_asks_a_stored_pair_again(world, tmp_path):
    root, _, _, vlm, muse, _ = world
    judge = load_judge(vlm, root / "adapter")
    query, gallery = targets(tmp_path)
    q_idx, g_idx = top_candidates(noisy_features(query), noisy_features(gallery, 1), muse.topk)
    wanted = candidate_pairs(query, gallery, q_idx, g_idx)
    assert wanted.height == 5 * 3
    store = MuStore(tmp_path / "store", mu_identity(judge.digest, muse.tau, muse.swap, vlm.image_size))
    assert fill_store(store, "T", wanted.head(7), judge, vlm.image_size, 1.0, False, 4, 0) == 7
    assert fill_store(store, "T", wanted, judge, vlm.image_size, 1.0, False, 4, 0) == 8  # only the missing
    assert fill_store(store, "T", wanted, judge, vlm.image_size, 1.0, False, 4, 0) == 0
    mu = lookup(store.pairs("T"), wanted)
    direct = pair_mu(judge, pair_set(wanted.rename({"gallery_path": "candidate_path"}).with_columns(
        pl.lit("No").alias("answer")), vlm.image_size, answers=False), 4, 0, tau=1.0)
    np.testing.assert_allclose(mu, direct, atol=1e-6)  # batch composition does not change a pair's μ
    # two ranks share the pairs without overlap
    other = MuStore(tmp_path / "ranks", store.identity)
    missing = missing_pairs(other, "T", wanted)
    assert [judge_into(other, "T", shard(missing, rank, 2), judge, vlm.image_size, 1.0, False, 4, 0, rank)
            for rank in (0, 1)] == [8, 7]
    assert other.pairs("T").height == 15


def test_swap_averages_both_orders(world, tmp_path):
    root, _, _, vlm, muse, _ = world
    judge = load_judge(vlm, root / "adapter")
    query, gallery = targets(tmp_path)
    wanted = candidate_pairs(query, gallery, torch.tensor([0, 1]), torch.tensor([2, 3]))
    store = MuStore(tmp_path / "swap", mu_identity(judge.digest, 1.0, True, vlm.image_size))
    fill_store(store, "T", wanted, judge, vlm.image_size, 1.0, True, 4, 0)
    swapped = wanted.with_columns(pl.col("gallery_path").alias("query_path"), pl.col("query_path").alias("gallery_path"))
    forward = MuStore(tmp_path / "f", mu_identity(judge.digest, 1.0, False, vlm.image_size))
    backward = MuStore(tmp_path / "b", mu_identity(judge.digest, 1.0, False, vlm.image_size))
    fill_store(forward, "T", wanted, judge, vlm.image_size, 1.0, False, 4, 0)
    fill_store(backward, "T", swapped, judge, vlm.image_size, 1.0, False, 4, 0)
    expected = 0.5 * (lookup(forward.pairs("T"), wanted) + lookup(backward.pairs("T"), wanted))
    np.testing.assert_allclose(lookup(store.pairs("T"), wanted), expected, atol=1e-6)


CHILD = """
import sys, time, torch, polars as pl
import reid.muse.mu as mu_module
from reid.muse.sft import load_judge
from reid.muse.store import MuStore, mu_identity
from tests.muse.kit import tiny_vlm_section
root, store_dir, pairs_file, slow = sys.argv[1:5]
vlm = tiny_vlm_section(root + "/vlm")
judge = load_judge(vlm, root + "/adapter")
batches = mu_module.mu_batches
def slowed(*args, **kwargs):
    for item in batches(*args, **kwargs):
        yield item
        time.sleep(float(slow))
mu_module.mu_batches = slowed
store = MuStore(store_dir, mu_identity(judge.digest, 1.0, False, vlm.image_size))
mu_module.fill_store(store, "T", pl.read_parquet(pairs_file), judge, vlm.image_size, 1.0, False, 2, 0)
"""


def test_kill_9_loses_at_most_the_batch_in_flight(world, tmp_path):
    root, _, _, vlm, _, _ = world
    query, gallery = targets(tmp_path)
    q_idx, g_idx = top_candidates(noisy_features(query), noisy_features(gallery, 1), 3)
    wanted = candidate_pairs(query, gallery, q_idx, g_idx)
    wanted.write_parquet(tmp_path / "pairs.parquet")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    args = [sys.executable, "-c", CHILD, str(root), str(tmp_path / "store"), str(tmp_path / "pairs.parquet")]
    child = subprocess.Popen([*args, "2.0"], env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    judge = load_judge(vlm, root / "adapter")
    store = MuStore(tmp_path / "store", mu_identity(judge.digest, 1.0, False, vlm.image_size))
    deadline = time.monotonic() + 120
    while len(store.files()) < 2 and child.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    child.send_signal(signal.SIGKILL)
    assert child.wait(timeout=30) == -signal.SIGKILL
    kept = store.read()
    assert kept.height == 4  # two batches of 2 pairs were written before the kill; the one in flight is lost
    assert fill_store(store, "T", wanted, judge, vlm.image_size, 1.0, False, 2, 0) == wanted.height - 4
    after = store.read()
    assert after.height == wanted.height
    assert after.join(kept, on=["query_id", "gallery_id"]).filter(pl.col("mu") != pl.col("mu_right")).height == 0


def test_oracle_mu_lifts_the_fused_ranking_and_the_record_says_which_judge(tmp_path):
    """With μ = 0 for the true match and 1 otherwise, fusion can only help; the krnn row is μ-free."""
    g = torch.Generator().manual_seed(3)
    ids = 40
    centres = torch.randn(ids, 32, generator=g)
    q_lab, g_lab = torch.arange(ids), torch.arange(ids).repeat_interleave(3)
    q = torch.nn.functional.normalize(centres[q_lab] + 1.1 * torch.randn(ids, 32, generator=g), dim=1)
    gf = torch.nn.functional.normalize(centres[g_lab] + 1.1 * torch.randn(3 * ids, 32, generator=g), dim=1)
    query = pl.DataFrame({"image_id": [f"q{i}" for i in range(ids)], "path": [""] * ids, "pid": q_lab.numpy()})
    gallery = pl.DataFrame({"image_id": [f"g{i}" for i in range(3 * ids)], "path": [""] * (3 * ids), "pid": g_lab.numpy()})
    muse = muse_section(topk=10)
    q_idx, g_idx = top_candidates(q, gf, muse.topk)
    pairs = candidate_pairs(query, gallery, q_idx, g_idx)
    store = MuStore(tmp_path, mu_identity("judge+adapter", muse.tau, muse.swap, (56, 28)))
    oracle = (q_lab[q_idx] != g_lab[g_idx]).float().numpy()
    store.append(pairs.select("query_id", "gallery_id").with_columns(pl.Series("mu", oracle), pl.lit(0.0).alias("seconds"),
                                                                      pl.lit(1).alias("attempt")), "T", 0)
    rankings, info = MuseRankings(muse, tiny_vlm_section("x"), store)("T", q, gf, query, gallery)
    assert info == {"pairs": ids * 10, "coverage": 1.0}
    assert set(rankings) == {"krnn", "krnn_mu"}
    cams = np.zeros(ids, dtype=int), np.ones(3 * ids, dtype=int)
    m = {name: evaluate_distances(d, ids, 3 * ids, q_lab.numpy(), g_lab.numpy(), *cams).mAP for name, d in rankings.items()}
    plain = evaluate_distances(lambda a, b: 2 - 2 * q[a:b] @ gf.T, ids, 3 * ids, q_lab.numpy(), g_lab.numpy(), *cams).mAP
    assert m["krnn_mu"] > m["krnn"] and m["krnn_mu"] > plain, (plain, m)
    simple = MuseRankings(muse_section(topk=10, rerank={"mode": "simple", "k1": 10, "k2": 5, "lambda_value": 0.3}),
                          tiny_vlm_section("x"), store)("T", q, gf, query, gallery)[0]
    assert set(simple) == {"krnn", "simple_mu"}
    assert evaluate_distances(simple["simple_mu"], ids, 3 * ids, q_lab.numpy(), g_lab.numpy(), *cams).mAP > plain
