"""MUSE's stages: switched off they cost a second and mark their outputs; switched on, pairs → sft → mu → evaluate
on the tiny benchmark and a tiny VLM, with the record naming the judge."""

import json

import polars as pl
import pytest
import torch

from reid.evaluation.run import run_evaluate
from reid.muse.evaluate import MuseRankings, judging_rankings, muse_store
from reid.muse.run import OFF, run_mu, run_pairs
from reid.muse.sft import judge_digest, run_sft
from reid.utils.hashing import folder_digest
from reid.vlm.load import SKIPPED
from reid.wiring import run_stage
from tests.evaluation.helpers import pictures
from tests.kit.params import config, section
from tests.muse.kit import tiny_vlm, tiny_vlm_section


@pytest.mark.parametrize("stage", ["vlm", "pairs", "sft", "mu"])
def test_switched_off_stages_mark_their_outputs(stage, tmp_path):
    outputs = {"model": tmp_path / "m", "live": tmp_path / "l", "metrics": tmp_path / "x" / "metrics.json",
               "state": tmp_path / "s", "pairs": tmp_path / "p.parquet", "adapter": tmp_path / "a",
               "plots": tmp_path / "x" / "plots" / "metrics", "store": tmp_path / "mu"}
    run_stage(stage, config(**{"vlm.model": str(outputs["model"])}), outputs)
    record = json.loads(outputs["metrics"].read_text())
    assert record["skipped"] is True
    if stage == "vlm":
        assert "neither muse.enabled nor method lvlm_reid" in record["reason"]
        assert (tmp_path / "m" / SKIPPED).is_file()
    else:
        assert record["reason"] == OFF


def test_muse_end_to_end_on_the_tiny_benchmark(bench, tmp_path):
    muse = section("muse", enabled=True, pairs={"k": 1, "val_id_ratio": 0.5, "truncate": 1.0, "seed": 0},
                   sft={"epochs": 1, "batch_size": 2, "workers": 0, "check_pairs": 4}, topk=2, batch_size=4)
    train = pl.read_parquet(bench.protocol.parent / "train.parquet")
    record = run_pairs(bench.checkpoint, bench.protocol.parent / "train.parquet", muse, 8, "cpu", 0, tmp_path / "pairs.parquet")
    assert record["anchors"] == train.height and sum(record["pairs"]["train"].values()) > 0
    vlm = tiny_vlm_section(tiny_vlm(tmp_path / "vlm"))
    run_sft(pl.read_parquet(tmp_path / "pairs.parquet"), vlm, muse.sft, tmp_path / "adapter", tmp_path / "s", tmp_path / "l")
    mu = run_mu(bench.checkpoint, tmp_path / "adapter", bench.manifests, bench.protocol, tmp_path / "mu", muse, vlm, 8, "cpu", 0)
    queries = {t: pl.read_parquet(bench.manifests / f"{t}.parquet").filter(pl.col("split") == "query").height
               for t in ("C3", "MA")}
    assert {t: r["pairs"] for t, r in mu["targets"].items()} == {t: 2 * q for t, q in queries.items()}
    assert {t: r["judged"] for t, r in mu["targets"].items()} == {t: 2 * q for t, q in queries.items()}
    again = run_mu(bench.checkpoint, tmp_path / "adapter", bench.manifests, bench.protocol, tmp_path / "mu", muse, vlm, 8,
                   "cpu", 0)
    assert all(r["judged"] == 0 for r in again["targets"].values())  # nothing stored is asked again

    digest = judge_digest(folder_digest(vlm.model), tmp_path / "adapter")
    extra = MuseRankings(muse, vlm, muse_store(tmp_path / "mu", muse, vlm, digest))
    evaluation = section("evaluation", batch_size=8, max_rank=12, sheet_queries=0, mask_images=0, bootstrap_draws=50)
    out = run_evaluate(bench.checkpoint, bench.manifests, bench.protocol, tmp_path / "metrics.json",
                       *pictures(tmp_path / "plots"), evaluation, extra=extra)
    assert out["muse"] == {"applied": True, "judge": digest, "mode": "krnn", "topk": 2, "alpha": 0.2, "tau": 1.0,
                           "swap": False, "k1": 10, "k2": 5, "lambda_value": 0.3}
    for target in ("C3", "MA"):
        assert set(out[target]["muse"]) == {"krnn", "krnn_mu", "pairs", "coverage"}
        assert out[target]["muse"]["coverage"] == 1.0 and "mAP_ci95" in out[target]["muse"]["krnn_mu"]
    assert set(out["average"]["muse"]) == {"krnn", "krnn_mu"}
    # `reid evaluate --dataset` judges what the store lacks: a fresh store is filled on the way
    fresh = judging_rankings(muse, vlm, tmp_path / "adapter", tmp_path / "fresh")
    frame = pl.read_parquet(bench.manifests / "C3.parquet")
    query, gallery = frame.filter(pl.col("split") == "query"), frame.filter(pl.col("split") == "gallery")
    q, g = torch.nn.functional.normalize(torch.randn(query.height, 8), dim=1), torch.nn.functional.normalize(
        torch.randn(gallery.height, 8), dim=1)
    _, info = fresh("C3", q, g, query, gallery)
    assert info["coverage"] == 1.0 and fresh.store.pairs("C3").height == 2 * query.height


def test_evaluate_refuses_a_store_the_mu_stage_never_filled(tmp_path):
    muse, vlm = section("muse", enabled=True), tiny_vlm_section("models/vlm")
    with pytest.raises(Exception, match=r"holds no μ of judge abc.*dvc repro mu"):
        muse_store(tmp_path, muse, vlm, "abc")
