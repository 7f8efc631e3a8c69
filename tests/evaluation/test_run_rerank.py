"""The evaluate step with `evaluation.rerank` on: the re-ranked numbers beside the plain ones,
equal to the re-ranker and evaluator called by hand; the stage builds the section."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import polars as pl
import pytest

from reid.config.load import load_config
from reid.evaluation.extract import extract
from reid.evaluation.metrics import evaluate_distances, evaluate_features
from reid.evaluation.rerank import KReciprocal
from reid.evaluation.run import run_evaluate
from reid.model.checkpoint import load_for_inference
import reid.evaluation.run
import reid.evaluation.stage
from reid.wiring import stage_io
from tests.evaluation.helpers import pictures
from tests.kit.params import section

REPO = Path(__file__).resolve().parents[2]

CONFIG = section("evaluation", batch_size=8, max_rank=12, sheet_queries=0, mask_images=0, bootstrap_draws=0,
                 rerank={"enabled": True, "k1": 6, "k2": 3, "lambda_value": 0.3})  # the tiny targets hold ~15 images


@pytest.fixture(scope="module")
def reranked(bench, tmp_path_factory) -> dict:
    out = tmp_path_factory.mktemp("reranked")
    return run_evaluate(bench.checkpoint, bench.manifests, bench.protocol, out / "metrics.json", *pictures(out / "plots"), CONFIG)


def test_rerank_record_equals_the_reranker_called_by_hand(reranked, bench, capsys) -> None:
    encoder = load_for_inference(bench.checkpoint)
    for target in ("C3", "MA"):
        frame = pl.read_parquet(bench.manifests / f"{target}.parquet")
        query, gallery = frame.filter(pl.col("split") == "query"), frame.filter(pl.col("split") == "gallery")
        feats = extract(encoder, query["path"].to_list() + gallery["path"].to_list(), batch_size=8, device="cpu").features
        n = query.height
        ids = query["pid"].to_numpy(), gallery["pid"].to_numpy(), query["camid"].to_numpy(), gallery["camid"].to_numpy()
        plain = evaluate_features(feats[:n], feats[n:], *ids, max_rank=12)
        kr = KReciprocal(feats[:n], feats[n:], CONFIG.rerank)
        m = evaluate_distances(kr, n, gallery.height, *ids, max_rank=12)
        assert reranked[target]["rerank"] == {
            "applied": True, "mAP": round(100 * m.mAP, 2), "rank1": round(100 * m.rank1, 2),
            "rank5": round(100 * m.rank5, 2), "rank10": round(100 * m.rank10, 2), "mINP": round(100 * m.mINP, 2),
        }
        assert reranked[target]["mAP"] == round(100 * plain.mAP, 2)  # the headline stays the plain ranking
    average = reranked["average"]["rerank"]
    assert average["applied"] is True
    for key in ("mAP", "rank1", "rank5", "rank10", "mINP"):
        both = (reranked["C3"]["rerank"][key] + reranked["MA"]["rerank"][key]) / 2
        assert average[key] == pytest.approx(both, abs=0.006)


def test_the_stage_builds_the_rerank_section(monkeypatch) -> None:
    seen = {}
    monkeypatch.setattr(reid.evaluation.stage, "run_evaluate", lambda **kw: seen.update(kw))
    config = load_config(REPO / "params.yaml")
    evaluation = config.evaluation
    section = evaluation.model_copy(update={"rerank": evaluation.rerank.model_copy(update={"enabled": True, "k2": 2})})
    reid.evaluation.stage.evaluate(SimpleNamespace(evaluation=section, muse=config.muse, vlm=config.vlm),
                                   stage_io("evaluate", SimpleNamespace(method="muva", data=SimpleNamespace(root="r"))))
    assert seen["extra"] is None  # muse.enabled is false: no MUSE rankings
    assert seen["config"].rerank.model_dump() == {"enabled": True, "k1": 20, "k2": 2, "lambda_value": 0.3}
    assert seen["config"].bootstrap_draws == section.bootstrap_draws
